"""catalog and accounts

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 11:14:42.303664
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chip_models',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('vendor', sa.String(length=40), nullable=False),
    sa.Column('vendor_zh', sa.String(length=40), nullable=False),
    sa.Column('ecosystem', sa.String(length=20), nullable=False),
    sa.Column('domestic', sa.Boolean(), nullable=False),
    sa.Column('fp16_tflops', sa.Float(), nullable=False),
    sa.Column('fp32_tflops', sa.Float(), nullable=False),
    sa.Column('memory_gib', sa.BigInteger(), nullable=False),
    sa.Column('memory_bandwidth_gbs', sa.Float(), nullable=False),
    sa.Column('tdp_w', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_chip_models'))
    )
    with op.batch_alter_table('chip_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chip_models_ecosystem'), ['ecosystem'], unique=False)
        batch_op.create_index(batch_op.f('ix_chip_models_vendor'), ['vendor'], unique=False)

    op.create_table('organizations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('buyer', 'seller', 'operator', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name'))
    )
    op.create_table('platforms',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('is_local', sa.Boolean(), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platforms'))
    )
    op.create_table('regions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('province', sa.String(length=40), nullable=False),
    sa.Column('city', sa.String(length=40), nullable=False),
    sa.Column('hub', sa.String(length=40), nullable=False),
    sa.Column('cluster', sa.String(length=60), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regions')),
    sa.UniqueConstraint('province', 'city', name=op.f('uq_regions_province_city'))
    )
    op.create_table('datacenters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('platform_id', sa.Uuid(), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=False),
    sa.Column('region_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tier', sa.BigInteger(), nullable=False),
    sa.Column('pue', sa.Numeric(precision=4, scale=2), nullable=False),
    sa.Column('green_power_pct', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'suspended', name='datacenter_status', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('green_power_pct BETWEEN 0 AND 100', name=op.f('ck_datacenters_green_range')),
    sa.CheckConstraint('tier BETWEEN 1 AND 4', name=op.f('ck_datacenters_tier_range')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organizations.id'], name=op.f('fk_datacenters_owner_org_id_organizations')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_datacenters_platform_id_platforms')),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_datacenters_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datacenters')),
    sa.UniqueConstraint('owner_org_id', 'name', name=op.f('uq_datacenters_owner_org_id_name'))
    )
    with op.batch_alter_table('datacenters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_datacenters_owner_org_id'), ['owner_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_datacenters_region_id'), ['region_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_datacenters_status'), ['status'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('buyer', 'seller', 'operator', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_users_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_organization_id'), ['organization_id'], unique=False)

    op.create_table('access_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('login', 'api_key', name='token_kind', native_enum=False, length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_access_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_access_tokens_token_hash'))
    )
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('products',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('platform_id', sa.Uuid(), nullable=False),
    sa.Column('datacenter_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('accelerator', 'cpu', 'storage', name='product_kind', native_enum=False, length=16), nullable=False),
    sa.Column('chip_key', sa.String(length=40), nullable=True),
    sa.Column('accelerators', sa.BigInteger(), nullable=False),
    sa.Column('vcpus', sa.BigInteger(), nullable=False),
    sa.Column('memory_gib', sa.BigInteger(), nullable=False),
    sa.Column('disk_gib', sa.BigInteger(), nullable=False),
    sa.Column('network_gbps', sa.BigInteger(), nullable=False),
    sa.Column('delivery', sa.Enum('container', 'vm', 'bare_metal', 'batch', name='delivery_form', native_enum=False, length=16), nullable=False),
    sa.Column('stock_units', sa.BigInteger(), nullable=False),
    sa.Column('allocated_units', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('listed', 'unlisted', name='product_status', native_enum=False, length=16), nullable=False),
    sa.Column('price_on_demand_fen', sa.BigInteger(), nullable=False),
    sa.Column('price_reserved_month_fen', sa.BigInteger(), nullable=True),
    sa.Column('price_spot_floor_fen', sa.BigInteger(), nullable=True),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_visible', sa.Boolean(), nullable=False),
    sa.Column('vendor', sa.String(length=40), nullable=True),
    sa.Column('ecosystem', sa.String(length=20), nullable=True),
    sa.Column('accel_memory_gib', sa.BigInteger(), nullable=False),
    sa.Column('fp16_tflops', sa.Float(), nullable=False),
    sa.Column('fp32_tflops', sa.Float(), nullable=False),
    sa.Column('price_per_accel_hour_fen', sa.BigInteger(), nullable=True),
    sa.Column('price_per_pflops_hour_fen', sa.BigInteger(), nullable=True),
    sa.Column('province', sa.String(length=40), nullable=False),
    sa.Column('city', sa.String(length=40), nullable=False),
    sa.CheckConstraint('allocated_units >= 0 AND allocated_units <= stock_units', name=op.f('ck_products_allocation_within_stock')),
    sa.CheckConstraint('price_on_demand_fen > 0', name=op.f('ck_products_on_demand_positive')),
    sa.CheckConstraint('stock_units >= 0', name=op.f('ck_products_stock_nonneg')),
    sa.ForeignKeyConstraint(['chip_key'], ['chip_models.key'], name=op.f('fk_products_chip_key_chip_models')),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_products_datacenter_id_datacenters')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_products_platform_id_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index('ix_products_chip_search', ['chip_key', 'is_visible', 'accelerators', 'accel_memory_gib', 'vendor', 'ecosystem', 'kind', 'province', 'city', 'delivery', 'vcpus', 'memory_gib', 'stock_units', 'allocated_units', 'price_reserved_month_fen', 'price_spot_floor_fen', 'price_on_demand_fen', 'price_per_accel_hour_fen', 'price_per_pflops_hour_fen', 'fp16_tflops', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_city'), ['city'], unique=False)
        batch_op.create_index('ix_products_datacenter', ['datacenter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_ecosystem'), ['ecosystem'], unique=False)
        batch_op.create_index('ix_products_ecosystem_search', ['ecosystem', 'is_visible', 'accel_memory_gib', 'accelerators', 'chip_key', 'vendor', 'kind', 'province', 'city', 'delivery', 'vcpus', 'memory_gib', 'stock_units', 'allocated_units', 'price_reserved_month_fen', 'price_spot_floor_fen', 'price_on_demand_fen', 'price_per_accel_hour_fen', 'price_per_pflops_hour_fen', 'fp16_tflops', 'id'], unique=False)
        batch_op.create_index('ix_products_place_search', ['province', 'city', 'is_visible', 'delivery', 'accelerators', 'accel_memory_gib', 'chip_key', 'vendor', 'ecosystem', 'kind', 'vcpus', 'memory_gib', 'stock_units', 'allocated_units', 'price_reserved_month_fen', 'price_spot_floor_fen', 'price_on_demand_fen', 'price_per_accel_hour_fen', 'price_per_pflops_hour_fen', 'fp16_tflops', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_vendor'), ['vendor'], unique=False)
        batch_op.create_index('ix_products_vendor_search', ['vendor', 'is_visible', 'accel_memory_gib', 'accelerators', 'chip_key', 'ecosystem', 'kind', 'province', 'city', 'delivery', 'vcpus', 'memory_gib', 'stock_units', 'allocated_units', 'price_reserved_month_fen', 'price_spot_floor_fen', 'price_on_demand_fen', 'price_per_accel_hour_fen', 'price_per_pflops_hour_fen', 'fp16_tflops', 'id'], unique=False)
        batch_op.create_index('ix_products_visible_accel_mem', ['is_visible', 'accel_memory_gib', 'id'], unique=False)
        batch_op.create_index('ix_products_visible_memory', ['is_visible', 'memory_gib', 'id'], unique=False)
        batch_op.create_index('ix_products_visible_pflops', ['is_visible', 'fp16_tflops', 'id'], unique=False)
        batch_op.create_index('ix_products_visible_ppa', ['is_visible', 'price_per_accel_hour_fen', 'id'], unique=False)
        batch_op.create_index('ix_products_visible_ppp', ['is_visible', 'price_per_pflops_hour_fen', 'id'], unique=False)
        batch_op.create_index('ix_products_visible_price', ['is_visible', 'price_on_demand_fen', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_visible_price')
        batch_op.drop_index('ix_products_visible_ppp')
        batch_op.drop_index('ix_products_visible_ppa')
        batch_op.drop_index('ix_products_visible_pflops')
        batch_op.drop_index('ix_products_visible_memory')
        batch_op.drop_index('ix_products_visible_accel_mem')
        batch_op.drop_index('ix_products_vendor_search')
        batch_op.drop_index(batch_op.f('ix_products_vendor'))
        batch_op.drop_index('ix_products_place_search')
        batch_op.drop_index('ix_products_ecosystem_search')
        batch_op.drop_index(batch_op.f('ix_products_ecosystem'))
        batch_op.drop_index('ix_products_datacenter')
        batch_op.drop_index(batch_op.f('ix_products_city'))
        batch_op.drop_index('ix_products_chip_search')

    op.drop_table('products')
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_tokens_user_id'))

    op.drop_table('access_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_organization_id'))

    op.drop_table('users')
    with op.batch_alter_table('datacenters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_datacenters_status'))
        batch_op.drop_index(batch_op.f('ix_datacenters_region_id'))
        batch_op.drop_index(batch_op.f('ix_datacenters_owner_org_id'))

    op.drop_table('datacenters')
    op.drop_table('regions')
    op.drop_table('platforms')
    op.drop_table('organizations')
    with op.batch_alter_table('chip_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chip_models_vendor'))
        batch_op.drop_index(batch_op.f('ix_chip_models_ecosystem'))

    op.drop_table('chip_models')
