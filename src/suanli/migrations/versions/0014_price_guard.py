"""price guard: operator thresholds for unusual seller prices, and the flag on products whose seller confirmed one

* ``platform_settings.price_guard_low_pct`` (20), ``price_guard_high_pct`` (500),
  ``price_guard_min_reserved_hours`` (200): beyond these a seller must confirm a price (``catalog/price_guard.py``).
* ``products.unusual_price_checks`` / ``unusual_price_at``: the checks a seller confirmed past, and when (null for
  every existing product).

Revision ID: 0014_price_guard
Revises: 0013_audit_log
Create Date: 2026-12-07 10:30:00
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0014_price_guard'
down_revision = '0013_audit_log'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('platform_settings') as batch_op:
        batch_op.add_column(sa.Column('price_guard_low_pct', sa.Integer(), server_default='20', nullable=False))
        batch_op.add_column(sa.Column('price_guard_high_pct', sa.Integer(), server_default='500', nullable=False))
        batch_op.add_column(sa.Column('price_guard_min_reserved_hours', sa.Integer(), server_default='200',
                                      nullable=False))
        batch_op.create_check_constraint('price_guard_low_range', 'price_guard_low_pct BETWEEN 0 AND 100')
        batch_op.create_check_constraint('price_guard_high_range', 'price_guard_high_pct BETWEEN 100 AND 100000')
        batch_op.create_check_constraint('price_guard_reserved_range',
                                         'price_guard_min_reserved_hours BETWEEN 0 AND 744')
    with op.batch_alter_table('products') as batch_op:
        batch_op.add_column(sa.Column('unusual_price_checks', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('unusual_price_at', suanli.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products') as batch_op:
        batch_op.drop_column('unusual_price_at')
        batch_op.drop_column('unusual_price_checks')
    with op.batch_alter_table('platform_settings') as batch_op:
        batch_op.drop_constraint(op.f('ck_platform_settings_price_guard_reserved_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_platform_settings_price_guard_high_range'), type_='check')
        batch_op.drop_constraint(op.f('ck_platform_settings_price_guard_low_range'), type_='check')
        batch_op.drop_column('price_guard_min_reserved_hours')
        batch_op.drop_column('price_guard_high_pct')
        batch_op.drop_column('price_guard_low_pct')
