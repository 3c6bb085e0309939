"""usage records, notifications, reserved term discounts, low-balance episodes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:25:00
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('usage_records',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('event', sa.Enum('start', 'stop', 'preempt_notice', 'preempted', 'meter', 'release', 'term_end', name='usage_event', native_enum=False, length=20), nullable=False),
    sa.Column('at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seconds_total', sa.BigInteger(), nullable=False),
    sa.Column('charged_fen_total', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.String(length=40), nullable=True),
    sa.CheckConstraint('seconds_total >= 0 AND charged_fen_total >= 0', name=op.f('ck_usage_records_totals_nonneg')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_usage_records_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_records'))
    )
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.create_index('ix_usage_records_order_at', ['order_id', 'at'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('low_balance', 'lease_stopped', 'preempted', name='notification_kind', native_enum=False, length=20), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('message_zh', sa.String(length=500), nullable=False),
    sa.Column('message_en', sa.String(length=500), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_notifications_order_id_orders')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_notifications_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_org_created', ['org_id', 'created_at'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_balance_since', suanli.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reserved_discount_3m_bp', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reserved_discount_6m_bp', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reserved_discount_12m_bp', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(
            'reserved_discounts_range',
            'reserved_discount_3m_bp BETWEEN 0 AND 5000 AND reserved_discount_6m_bp BETWEEN 0 AND 5000 '
            'AND reserved_discount_12m_bp BETWEEN 0 AND 5000')


def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_reserved_discounts_range'), type_='check')
        batch_op.drop_column('reserved_discount_12m_bp')
        batch_op.drop_column('reserved_discount_6m_bp')
        batch_op.drop_column('reserved_discount_3m_bp')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('low_balance_since')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_org_created')
    op.drop_table('notifications')
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_records_order_at')
    op.drop_table('usage_records')
