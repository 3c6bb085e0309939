"""emergency: an operator's emergency compute request (应急算力) and the parts it is assembled from (free and
spot capacity as the payer's orders, idle reserved units as offers to their holders) (suanli.emergency)

Revision ID: 0020_emergency
Revises: 0019_search_indexes
Create Date: 2026-12-07 20:06:02.891165
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0020_emergency'
down_revision = '0019_search_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('emergency_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('declared_by_user_id', sa.Uuid(), nullable=False),
    sa.Column('payer_org_id', sa.Uuid(), nullable=False),
    sa.Column('payer_user_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('accelerators', sa.Integer(), nullable=False),
    sa.Column('chips', sa.JSON(), nullable=False),
    sa.Column('ecosystems', sa.JSON(), nullable=False),
    sa.Column('provinces', sa.JSON(), nullable=False),
    sa.Column('duration_hours', sa.Integer(), nullable=False),
    sa.Column('compensation_fen_per_accel_hour', sa.BigInteger(), nullable=False),
    sa.Column('planned_accelerators', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('assembling', 'ended', name='emergency_status', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('accelerators > 0 AND duration_hours > 0', name=op.f('ck_emergency_requests_amounts_positive')),
    sa.CheckConstraint('compensation_fen_per_accel_hour >= 0', name=op.f('ck_emergency_requests_rate_nonneg')),
    sa.ForeignKeyConstraint(['declared_by_user_id'], ['users.id'], name=op.f('fk_emergency_requests_declared_by_user_id_users')),
    sa.ForeignKeyConstraint(['payer_org_id'], ['organizations.id'], name=op.f('fk_emergency_requests_payer_org_id_organizations')),
    sa.ForeignKeyConstraint(['payer_user_id'], ['users.id'], name=op.f('fk_emergency_requests_payer_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_requests'))
    )
    with op.batch_alter_table('emergency_requests', schema=None) as batch_op:
        batch_op.create_index('ix_emergency_requests_created', ['created_at'], unique=False)

    op.create_table('emergency_parts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('emergency_id', sa.Uuid(), nullable=False),
    sa.Column('stage', sa.Enum('free', 'spot', 'reserved', name='emergency_stage', native_enum=False, length=16), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('seller_org_id', sa.Uuid(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('accelerators', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('holder_org_id', sa.Uuid(), nullable=True),
    sa.Column('offer_status', sa.Enum('offered', 'accepted', 'declined', 'withdrawn', 'returned', name='offer_status', native_enum=False, length=16), nullable=True),
    sa.Column('compensation_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('returned_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('compensation_fen >= 0', name=op.f('ck_emergency_parts_compensation_nonneg')),
    sa.CheckConstraint('units > 0 AND accelerators > 0', name=op.f('ck_emergency_parts_amounts_positive')),
    sa.ForeignKeyConstraint(['emergency_id'], ['emergency_requests.id'], name=op.f('fk_emergency_parts_emergency_id_emergency_requests')),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organizations.id'], name=op.f('fk_emergency_parts_holder_org_id_organizations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_emergency_parts_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_emergency_parts_product_id_products')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organizations.id'], name=op.f('fk_emergency_parts_seller_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_parts'))
    )
    with op.batch_alter_table('emergency_parts', schema=None) as batch_op:
        batch_op.create_index('ix_emergency_parts_emergency', ['emergency_id', 'stage'], unique=False)
        batch_op.create_index('ix_emergency_parts_holder', ['holder_org_id', 'offer_status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('emergency_parts', schema=None) as batch_op:
        batch_op.drop_index('ix_emergency_parts_holder')
        batch_op.drop_index('ix_emergency_parts_emergency')

    op.drop_table('emergency_parts')
    with op.batch_alter_table('emergency_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_emergency_requests_created')

    op.drop_table('emergency_requests')
