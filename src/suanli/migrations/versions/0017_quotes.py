"""quotes: requests for quotes (询价), sellers' quotes (pre-sale with a delivery date and a penalty) and the
contracts an award makes (suanli.quotes)

Revision ID: 0017_quotes
Revises: 0016_gang_jobs
Create Date: 2026-12-07 15:26:36.008025
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0017_quotes'
down_revision = '0016_gang_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quote_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('buyer_org_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_user_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('chip_key', sa.String(length=40), nullable=True),
    sa.Column('min_fp16_tflops', sa.Float(), nullable=True),
    sa.Column('min_memory_gib', sa.Integer(), nullable=True),
    sa.Column('accelerators', sa.Integer(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('billing_mode', sa.Enum('reserved', 'on_demand', name='billing_mode', native_enum=False, length=16), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=True),
    sa.Column('term_hours', sa.Integer(), nullable=True),
    sa.Column('earliest_start', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('latest_start', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('province', sa.String(length=40), nullable=True),
    sa.Column('max_unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('auction_closes_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('open', 'awarded', 'cancelled', 'expired', name='request_status', native_enum=False, length=16), nullable=False),
    sa.Column('awarded_quote_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('earliest_start <= latest_start', name=op.f('ck_quote_requests_window_ordered')),
    sa.CheckConstraint('max_unit_price_fen > 0 AND budget_fen > 0', name=op.f('ck_quote_requests_money_positive')),
    sa.CheckConstraint('units > 0 AND accelerators > 0', name=op.f('ck_quote_requests_amounts_positive')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_quote_requests_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'], name=op.f('fk_quote_requests_buyer_user_id_users')),
    sa.ForeignKeyConstraint(['chip_key'], ['chip_models.key'], name=op.f('fk_quote_requests_chip_key_chip_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quote_requests'))
    )
    with op.batch_alter_table('quote_requests', schema=None) as batch_op:
        batch_op.create_index('ix_quote_requests_buyer_created', ['buyer_org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_quote_requests_status_created', ['status', 'created_at'], unique=False)

    op.create_table('quotes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('seller_org_id', sa.Uuid(), nullable=False),
    sa.Column('datacenter_id', sa.Uuid(), nullable=False),
    sa.Column('chip_key', sa.String(length=40), nullable=False),
    sa.Column('accelerators', sa.Integer(), nullable=False),
    sa.Column('presale', sa.Boolean(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('start_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deliver_by', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('penalty_fen', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('standing', 'won', 'lost', 'withdrawn', name='quote_status', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('deliver_by <= start_at', name=op.f('ck_quotes_delivered_before_start')),
    sa.CheckConstraint('unit_price_fen > 0 AND penalty_fen >= 0', name=op.f('ck_quotes_money_valid')),
    sa.ForeignKeyConstraint(['chip_key'], ['chip_models.key'], name=op.f('fk_quotes_chip_key_chip_models')),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_quotes_datacenter_id_datacenters')),
    sa.ForeignKeyConstraint(['request_id'], ['quote_requests.id'], name=op.f('fk_quotes_request_id_quote_requests')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organizations.id'], name=op.f('fk_quotes_seller_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes'))
    )
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.create_index('ix_quotes_request_status', ['request_id', 'status'], unique=False)
        batch_op.create_index('ix_quotes_seller_created', ['seller_org_id', 'created_at'], unique=False)

    op.create_table('quote_contracts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('quote_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_org_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_user_id', sa.Uuid(), nullable=False),
    sa.Column('seller_org_id', sa.Uuid(), nullable=False),
    sa.Column('datacenter_id', sa.Uuid(), nullable=False),
    sa.Column('billing_mode', sa.Enum('reserved', 'on_demand', name='billing_mode', native_enum=False, length=16), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=True),
    sa.Column('term_hours', sa.Integer(), nullable=True),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('deposit_fen', sa.BigInteger(), nullable=False),
    sa.Column('penalty_fen', sa.BigInteger(), nullable=False),
    sa.Column('start_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deliver_by', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('awaiting_delivery', 'delivered', 'started', 'failed', name='contract_status', native_enum=False, length=20), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('delivered_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failure_reason', sa.String(length=40), nullable=True),
    sa.Column('penalty_paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('penalty_unpaid_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('deposit_fen > 0 AND penalty_fen >= 0', name=op.f('ck_quote_contracts_money_valid')),
    sa.CheckConstraint('penalty_paid_fen >= 0 AND penalty_unpaid_fen >= 0 AND penalty_paid_fen + penalty_unpaid_fen <= penalty_fen', name=op.f('ck_quote_contracts_penalty_within')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_quote_contracts_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'], name=op.f('fk_quote_contracts_buyer_user_id_users')),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_quote_contracts_datacenter_id_datacenters')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_quote_contracts_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_quote_contracts_product_id_products')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_quote_contracts_quote_id_quotes')),
    sa.ForeignKeyConstraint(['request_id'], ['quote_requests.id'], name=op.f('fk_quote_contracts_request_id_quote_requests')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organizations.id'], name=op.f('fk_quote_contracts_seller_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quote_contracts')),
    sa.UniqueConstraint('quote_id', name=op.f('uq_quote_contracts_quote_id')),
    sa.UniqueConstraint('request_id', name=op.f('uq_quote_contracts_request_id'))
    )
    with op.batch_alter_table('quote_contracts', schema=None) as batch_op:
        batch_op.create_index('ix_quote_contracts_buyer', ['buyer_org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_quote_contracts_seller', ['seller_org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_quote_contracts_status_deliver', ['status', 'deliver_by'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quote_contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_quote_contracts_status_deliver')
        batch_op.drop_index('ix_quote_contracts_seller')
        batch_op.drop_index('ix_quote_contracts_buyer')

    op.drop_table('quote_contracts')
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.drop_index('ix_quotes_seller_created')
        batch_op.drop_index('ix_quotes_request_status')

    op.drop_table('quotes')
    with op.batch_alter_table('quote_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_quote_requests_status_created')
        batch_op.drop_index('ix_quote_requests_buyer_created')

    op.drop_table('quote_requests')
