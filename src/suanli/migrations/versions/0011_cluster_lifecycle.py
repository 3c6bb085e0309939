"""cluster lifecycle: sellers disable, enable and delete their clusters

* ``clusters.state`` (``active`` | ``disabled`` | ``draining`` | ``deleted``, not null, default ``active``): a
  disabled or draining cluster takes no new jobs or instances; a draining one is deleted by the scheduler once
  its work has ended; a deleted one keeps its row (jobs that ran there name it) without credentials or products.
* ``clusters.deleted_at``: when it was deleted.

Revision ID: 0011_cluster_lifecycle
Revises: 0010_instances
Create Date: 2026-12-07 09:00:00
"""

import sqlalchemy as sa
import suanli.db
from alembic import op

revision = '0011_cluster_lifecycle'
down_revision = '0010_instances'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.Enum('active', 'disabled', 'draining', 'deleted',
                                                       name='cluster_state', native_enum=False, length=16),
                                      server_default='active', nullable=False))
        batch_op.add_column(sa.Column('deleted_at', suanli.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('state')
