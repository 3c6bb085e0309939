"""cluster secrets and stray runs: clusters.credentials encrypted in place; table stray_runs

* ``clusters.credentials`` (still a JSON column) now holds ``{"fernet": TOKEN}``, the Fernet token of the
  credentials. The key is SUANLI_SECRET_KEY or $SUANLI_HOME/secret.key (see suanli.jobs.credentials); existing rows
  are encrypted in place, and downgrading decrypts them back (it needs the same key).
* ``stray_runs``: a job's earlier run that may still be going on a cluster after the job moved on; the scheduler
  stops it there when the cluster is healthy again (suanli.jobs.strays).

Revision ID: 0006_cluster_secrets_stray_runs
Revises: 0005
Create Date: 2026-11-28 14:20:00
"""

import json

import sqlalchemy as sa
from alembic import op

import suanli.db

revision = '0006_cluster_secrets_stray_runs'
down_revision = '0005'
branch_labels = None
depends_on = None


def _rewrite(convert) -> None:
    connection = op.get_bind()
    for row_id, stored in connection.execute(sa.text("SELECT id, credentials FROM clusters")).all():
        if isinstance(stored, str):
            stored = json.loads(stored) if stored else {}
        connection.execute(sa.text("UPDATE clusters SET credentials = :c WHERE id = :id"),
                           {"c": json.dumps(convert(row_id, stored or {})), "id": row_id})


def upgrade() -> None:
    from suanli.jobs.credentials import seal, unseal

    _rewrite(lambda _id, stored: seal(unseal(stored)))  # unseal: a row already sealed is left as it was

    op.create_table('stray_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('cluster_id', sa.Uuid(), nullable=False),
    sa.Column('backend_job_id', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('recorded_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], name=op.f('fk_stray_runs_cluster_id_clusters')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_stray_runs_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stray_runs'))
    )
    with op.batch_alter_table('stray_runs', schema=None) as batch_op:
        batch_op.create_index('ix_stray_runs_open', ['resolved_at', 'cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stray_runs_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    from suanli.jobs.credentials import UnreadableCredentials, unseal

    with op.batch_alter_table('stray_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stray_runs_job_id'))
        batch_op.drop_index('ix_stray_runs_open')
    op.drop_table('stray_runs')

    def plain(row_id, stored):
        value = unseal(stored)
        if isinstance(value, UnreadableCredentials):
            raise RuntimeError(f"cluster {row_id}: credentials cannot be decrypted with this key; set "
                               "SUANLI_SECRET_KEY to the key they were stored with before downgrading")
        return value

    _rewrite(plain)
