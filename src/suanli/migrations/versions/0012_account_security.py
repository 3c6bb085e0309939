"""account security: login throttling and operator password resets

* ``auth_throttles``: failed logins per (account, address), per account and per address, and registrations per
  address, with the time a key is blocked until (``accounts/throttle.py``).
* ``users.must_change_password`` (false for every existing user): set by an operator's password reset.

Revision ID: 0012_account_security
Revises: 0011_cluster_lifecycle
Create Date: 2026-12-07 09:20:00
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0012_account_security'
down_revision = '0011_cluster_lifecycle'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_throttles',
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('failures', sa.BigInteger(), nullable=False),
    sa.Column('window_started_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_auth_throttles'))
    )
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('must_change_password')
    op.drop_table('auth_throttles')
