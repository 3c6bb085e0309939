"""job text messages: the placement reason and the state detail of jobs, stored translatable

* ``jobs.placement_reason_message`` and ``jobs.state_detail_message`` (JSON, nullable) hold the structured form
  (``suanli.core.messages.to_json``: an English template with its values, or a list of them) of
  ``placement_reason`` and ``state_detail``, which keep the English text. The web pages translate the structured
  form; rows written before (NULL) show the English text. Each attempt in ``jobs.attempts`` gains a
  ``reason_message`` key the same way (no schema change: attempts are a JSON list).

Revision ID: 0007_job_text_messages
Revises: 0006_cluster_secrets_stray_runs
Create Date: 2026-11-28 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007_job_text_messages'
down_revision = '0006_cluster_secrets_stray_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement_reason_message', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('state_detail_message', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('state_detail_message')
        batch_op.drop_column('placement_reason_message')
