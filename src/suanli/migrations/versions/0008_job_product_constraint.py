"""job product constraint: a job may be pinned to exact products

* ``jobs.product_ids`` (JSON list of product ids, not null, default ``[]``): the products the job may run on;
  empty means any (every job submitted before). ``POST /api/v1/jobs`` takes them as ``constraints.products``;
  launching an advisor recommendation pins the chosen product.

Revision ID: 0008_job_product_constraint
Revises: 0007_job_text_messages
Create Date: 2026-11-28 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_job_product_constraint'
down_revision = '0007_job_text_messages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_ids', sa.JSON(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('product_ids')
