"""instances: what a lease of a container, vm or bare-metal product delivers

* ``ssh_keys`` (user → OpenSSH public key line, SHA256 fingerprint; unique per user and fingerprint).
* ``datacenter_images`` (data center, image key → the reference its clusters pull).
* ``instances``: one per unit of a buyer's lease of such a product: its image, exposed ports, the buyer's keys as
  of the order, encrypted secrets (the JupyterLab token), state, access details, delivery deadline and times.
* ``orders.delivers_instances`` (false for every existing order) and the operator's
  ``platform_settings.delivery_deadline_minutes`` (60; 1 minute to 7 days).

Revision ID: 0010_instances
Revises: 0009_product_stock_history
Create Date: 2026-12-07 05:24:04.315756
"""

from alembic import op
import sqlalchemy as sa
import suanli.db
import suanli.jobs.credentials


revision = '0010_instances'
down_revision = '0009_product_stock_history'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('datacenter_images',
    sa.Column('datacenter_id', sa.Uuid(), nullable=False),
    sa.Column('image_key', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=300), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_datacenter_images_datacenter_id_datacenters')),
    sa.PrimaryKeyConstraint('datacenter_id', 'image_key', name=op.f('pk_datacenter_images'))
    )
    op.create_table('ssh_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('key_type', sa.String(length=40), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=60), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ssh_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ssh_keys')),
    sa.UniqueConstraint('user_id', 'fingerprint', name=op.f('uq_ssh_keys_user_id_fingerprint'))
    )
    with op.batch_alter_table('ssh_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ssh_keys_user_id'), ['user_id'], unique=False)

    op.create_table('instances',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('unit_index', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_user_id', sa.Uuid(), nullable=False),
    sa.Column('seller_org_id', sa.Uuid(), nullable=False),
    sa.Column('datacenter_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('cluster_id', sa.Uuid(), nullable=True),
    sa.Column('delivery', sa.Enum('automated', 'manual', name='delivery_method', native_enum=False, length=16), nullable=False),
    sa.Column('image_key', sa.String(length=64), nullable=False),
    sa.Column('image_reference', sa.String(length=300), nullable=False),
    sa.Column('ports', sa.JSON(), nullable=False),
    sa.Column('authorized_keys', sa.JSON(), nullable=False),
    sa.Column('secrets', suanli.jobs.credentials.EncryptedJSON(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'provisioning', 'running', 'stopping', 'stopped', 'failed', name='instance_state', native_enum=False, length=16), nullable=False),
    sa.Column('state_detail', sa.String(length=500), nullable=False),
    sa.Column('state_detail_message', sa.JSON(), nullable=True),
    sa.Column('backend_run_id', sa.String(length=200), nullable=True),
    sa.Column('start_claimed_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('access', sa.JSON(), nullable=True),
    sa.Column('delivery_deadline', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('provisioning_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organizations.id'], name=op.f('fk_instances_buyer_org_id_organizations')),
    sa.ForeignKeyConstraint(['buyer_user_id'], ['users.id'], name=op.f('fk_instances_buyer_user_id_users')),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], name=op.f('fk_instances_cluster_id_clusters')),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_instances_datacenter_id_datacenters')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_instances_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_instances_product_id_products')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organizations.id'], name=op.f('fk_instances_seller_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instances')),
    sa.UniqueConstraint('order_id', 'unit_index', name=op.f('uq_instances_order_id_unit_index'))
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_buyer_created', ['buyer_org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_instances_seller_state', ['seller_org_id', 'state'], unique=False)
        batch_op.create_index('ix_instances_state', ['state'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivers_instances', sa.Boolean(), server_default=sa.text('false'), nullable=False))

    with op.batch_alter_table('platform_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_deadline_minutes', sa.Integer(), server_default='60', nullable=False))
        batch_op.create_check_constraint('delivery_deadline_range', 'delivery_deadline_minutes BETWEEN 1 AND 10080')



def downgrade() -> None:
    with op.batch_alter_table('platform_settings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_platform_settings_delivery_deadline_range'), type_='check')
        batch_op.drop_column('delivery_deadline_minutes')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('delivers_instances')

    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_state')
        batch_op.drop_index('ix_instances_seller_state')
        batch_op.drop_index('ix_instances_buyer_created')

    op.drop_table('instances')
    with op.batch_alter_table('ssh_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ssh_keys_user_id'))

    op.drop_table('ssh_keys')
    op.drop_table('datacenter_images')
