"""held capacity: jobs run on capacity their buyer already holds (reserved leases, an emergency's orders and the
units reserved holders lent it) (suanli.jobs.held)

* ``jobs.held_capacity``: prefer (default: held capacity first, else the market), only, never;
* ``jobs.held_kind``: what the current placement runs on when it is held capacity (lease, loan, emergency), null
  when the job placed an order of its own.

Revision ID: 0021_held_capacity
Revises: 0020_emergency
Create Date: 2026-12-07 23:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0021_held_capacity'
down_revision = '0020_emergency'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_capacity', sa.String(length=10), server_default='prefer',
                                      nullable=False))
        batch_op.add_column(sa.Column('held_kind', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('held_kind')
        batch_op.drop_column('held_capacity')
