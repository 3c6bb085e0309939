"""search indexes: a random sample slot per product (search estimates large totals from it instead of counting),
ways in for the filters that had none (accelerators and kind, vCPUs, sold-out products), so that a search
matching few products never scans the table, and one chip walked by price or price per PFLOPS

Revision ID: 0019_search_indexes
Revises: 0018_demand
Create Date: 2026-12-07 15:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0019_search_indexes'
down_revision = '0018_demand'
branch_labels = None
depends_on = None

# The search columns as they stood when this revision was written (suanli.catalog.models._SEARCH_COLUMNS).
SEARCH_COLUMNS = ("chip_key", "vendor", "ecosystem", "kind", "province", "city", "is_visible", "delivery",
                  "accelerators", "accel_memory_gib", "vcpus", "memory_gib", "stock_units", "allocated_units",
                  "price_reserved_month_fen", "price_spot_floor_fen", "price_on_demand_fen",
                  "price_per_accel_hour_fen", "price_per_pflops_hour_fen", "fp16_tflops", "id")
SOLD_OUT = sa.column("stock_units") <= sa.column("allocated_units")


def _covering(*leading: str) -> list[str]:
    return [*leading, *(c for c in SEARCH_COLUMNS if c not in leading)]


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sample_slot', sa.SmallInteger(), server_default='0', nullable=False))
    # Existing products get a random slot, as new ones do (suanli.catalog.models.new_sample_slot).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE products SET sample_slot = floor(random() * 100)::smallint")
    else:
        op.execute("UPDATE products SET sample_slot = abs(random()) % 100")
    op.create_index('ix_products_shape_search', 'products', _covering("accelerators", "is_visible", "kind"))
    op.create_index('ix_products_vcpus_search', 'products', _covering("vcpus", "is_visible"))
    op.create_index('ix_products_sold_out', 'products', ['is_visible', 'id'], sqlite_where=SOLD_OUT,
                    postgresql_where=SOLD_OUT)
    op.create_index('ix_products_sample', 'products', _covering("sample_slot", "is_visible"))
    op.create_index('ix_products_chip_price', 'products',
                    _covering("chip_key", "is_visible", "price_on_demand_fen", "id"))
    op.create_index('ix_products_chip_ppp', 'products',
                    _covering("chip_key", "is_visible", "price_per_pflops_hour_fen", "id"))


def downgrade() -> None:
    for name in ('ix_products_chip_ppp', 'ix_products_chip_price', 'ix_products_sample', 'ix_products_sold_out',
                 'ix_products_vcpus_search', 'ix_products_shape_search'):
        op.drop_index(name, table_name='products')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('sample_slot')
