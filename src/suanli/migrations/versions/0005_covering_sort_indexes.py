"""covering sort indexes: the six sort indexes of products carry every search column

A search with more matches than it sorts in memory walks a sort index until its page is full. When the
filter goes against the sort (``vendor=huawei,hygon sort=-price``: the dearest products are NVIDIA nodes)
the walk passes thousands of rows; with only (is_visible, sort column, id) in the index each of them cost a
table read. With every search column in the index the walk never leaves it (18 ms -> 2 ms for that search
on 100k products, SQLite).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 14:30:00
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The search columns as they stood when this revision was written (suanli.catalog.models._SEARCH_COLUMNS).
SEARCH_COLUMNS = ("chip_key", "vendor", "ecosystem", "kind", "province", "city", "is_visible", "delivery",
                  "accelerators", "accel_memory_gib", "vcpus", "memory_gib", "stock_units", "allocated_units",
                  "price_reserved_month_fen", "price_spot_floor_fen", "price_on_demand_fen",
                  "price_per_accel_hour_fen", "price_per_pflops_hour_fen", "fp16_tflops", "id")
SORT_INDEXES = {
    "ix_products_visible_price": "price_on_demand_fen",
    "ix_products_visible_ppp": "price_per_pflops_hour_fen",
    "ix_products_visible_ppa": "price_per_accel_hour_fen",
    "ix_products_visible_pflops": "fp16_tflops",
    "ix_products_visible_accel_mem": "accel_memory_gib",
    "ix_products_visible_memory": "memory_gib",
}


def _covering(sort_column: str) -> list[str]:
    leading = ["is_visible", sort_column, "id"]
    return leading + [c for c in SEARCH_COLUMNS if c not in leading]


def upgrade() -> None:
    for name, column in SORT_INDEXES.items():
        op.drop_index(name, table_name="products")
        op.create_index(name, "products", _covering(column), unique=False)


def downgrade() -> None:
    for name, column in SORT_INDEXES.items():
        op.drop_index(name, table_name="products")
        op.create_index(name, "products", ["is_visible", column, "id"], unique=False)
