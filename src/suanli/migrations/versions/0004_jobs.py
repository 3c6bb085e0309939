"""jobs and clusters: clusters behind products (products.cluster_id), jobs placed on them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:29:40.416033
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clusters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('datacenter_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.Enum('local', 'slurm', 'ray', name='cluster_kind', native_enum=False, length=16), nullable=False),
    sa.Column('endpoint', sa.String(length=500), nullable=False),
    sa.Column('credentials', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('healthy', sa.Boolean(), nullable=False),
    sa.Column('health_detail', sa.String(length=500), nullable=False),
    sa.Column('checked_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_clusters_datacenter_id_datacenters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clusters')),
    sa.UniqueConstraint('datacenter_id', 'name', name=op.f('uq_clusters_datacenter_id_name'))
    )
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clusters_datacenter_id'), ['datacenter_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('buyer_org_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('command', sa.Text(), nullable=True),
    sa.Column('script', sa.Text(), nullable=True),
    sa.Column('env', sa.JSON(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('accelerators', sa.Integer(), nullable=False),
    sa.Column('chip_key', sa.String(length=40), nullable=True),
    sa.Column('ecosystems', sa.JSON(), nullable=False),
    sa.Column('min_accel_memory_gib', sa.Integer(), nullable=False),
    sa.Column('min_fp16_tflops', sa.Float(), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_gib', sa.Integer(), nullable=False),
    sa.Column('provinces', sa.JSON(), nullable=False),
    sa.Column('datacenter_ids', sa.JSON(), nullable=False),
    sa.Column('max_hourly_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('objective', sa.Enum('cost', 'time', name='job_objective', native_enum=False, length=16), nullable=False),
    sa.Column('mode', sa.Enum('on_demand', 'spot', name='job_mode', native_enum=False, length=16), nullable=False),
    sa.Column('bid_hourly_fen', sa.BigInteger(), nullable=True),
    sa.Column('max_runtime_minutes', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('queued', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled', 'preempted', name='job_state', native_enum=False, length=16), nullable=False),
    sa.Column('state_detail', sa.String(length=2000), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.JSON(), nullable=False),
    sa.Column('unplaceable', sa.JSON(), nullable=True),
    sa.Column('datacenter_id', sa.Uuid(), nullable=True),
    sa.Column('product_id', sa.Uuid(), nullable=True),
    sa.Column('cluster_id', sa.Uuid(), nullable=True),
    sa.Column('units', sa.BigInteger(), nullable=True),
    sa.Column('hourly_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('placement_reason', sa.String(length=2000), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('order_ids', sa.JSON(), nullable=False),
    sa.Column('backend_job_id', sa.String(length=200), nullable=True),
    sa.Column('exit_code', sa.BigInteger(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('submitted_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('scheduled_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('max_runtime_minutes > 0', name=op.f('ck_jobs_runtime_positive')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_jobs_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'], name=op.f('fk_jobs_buyer_user_id_users')),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], name=op.f('fk_jobs_cluster_id_clusters')),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_jobs_datacenter_id_datacenters')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_jobs_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_jobs_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_org_submitted', ['buyer_org_id', 'submitted_at'], unique=False)
        batch_op.create_index('ix_jobs_state_submitted', ['state', 'submitted_at'], unique=False)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cluster_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_products_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_products_cluster_id_clusters'), 'clusters', ['cluster_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_products_cluster_id_clusters'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_products_cluster_id'))
        batch_op.drop_column('cluster_id')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_state_submitted')
        batch_op.drop_index('ix_jobs_org_submitted')

    op.drop_table('jobs')
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clusters_datacenter_id'))

    op.drop_table('clusters')
