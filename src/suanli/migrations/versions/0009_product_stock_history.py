"""product stock history: each product's stock over time

* ``product_stock_changes`` (id, product_id → products, at, stock_units; index on (product_id, at)): a product's
  stock from ``at`` on. Written when a product is created (by the catalog service and by bulk seeding) and each
  time its stock is changed; utilization per day (``trading.reports``) reads it, so a past day is measured
  against that day's stock and not today's.
* Backfill: one row per existing product, at its ``created_at``, with its current stock (what was changed
  before is not known).

Revision ID: 0009_product_stock_history
Revises: 0008_job_product_constraint
Create Date: 2026-11-28 19:00:00
"""

import sqlalchemy as sa
from alembic import op

import suanli.db
from suanli.ids import new_id

revision = '0009_product_stock_history'
down_revision = '0008_job_product_constraint'
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    changes = op.create_table('product_stock_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stock_units', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('stock_units >= 0', name=op.f('ck_product_stock_changes_stock_nonneg')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'],
                            name=op.f('fk_product_stock_changes_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_stock_changes'))
    )
    with op.batch_alter_table('product_stock_changes', schema=None) as batch_op:
        batch_op.create_index('ix_product_stock_changes_product_at', ['product_id', 'at'], unique=False)

    products = sa.table('products', sa.column('id', sa.Uuid()),
                        sa.column('created_at', suanli.db.UTCDateTime(timezone=True)),
                        sa.column('stock_units', sa.BigInteger()))
    connection = op.get_bind()
    existing = connection.execute(sa.select(products.c.id, products.c.created_at, products.c.stock_units)
                                  .order_by(products.c.id)).all()
    for i in range(0, len(existing), BATCH):
        connection.execute(changes.insert(), [
            {'id': new_id(), 'product_id': product_id, 'at': created_at, 'stock_units': stock}
            for product_id, created_at, stock in existing[i:i + BATCH]])


def downgrade() -> None:
    with op.batch_alter_table('product_stock_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_product_stock_changes_product_at')
    op.drop_table('product_stock_changes')
