"""gang jobs: ``jobs.placement_parts`` (JSON list, not null, default ``[]``): the parts of the job's current
placement when it runs on several servers of one data center, one ``{product_id, units, order_id}`` per product
(one trading order each); empty for a job on one product's units, whose order is ``jobs.order_id``.

Revision ID: 0016_gang_jobs
Revises: 0015_federation
Create Date: 2026-12-07 15:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0016_gang_jobs'
down_revision = '0015_federation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement_parts', sa.JSON(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('placement_parts')
