"""federation: platform identity (province, base URL), peers with scopes, Ed25519 keys, the nonce store, shared
products, the published change feed and the offers pulled from peers (suanli.federation)

Revision ID: 0015_federation
Revises: 0014_price_guard
Create Date: 2026-12-07 12:01:11.738817
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0015_federation'
down_revision = '0014_price_guard'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_nonces',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', 'nonce', name=op.f('pk_federation_nonces'))
    )
    with op.batch_alter_table('federation_nonces', schema=None) as batch_op:
        batch_op.create_index('ix_federation_nonces_expires_at', ['expires_at'], unique=False)

    op.create_table('federation_published',
    sa.Column('cid', sa.String(length=200), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('offer', sa.JSON(), nullable=True),
    sa.Column('changed_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cid', name=op.f('pk_federation_published')),
    sa.UniqueConstraint('seq', name=op.f('uq_federation_published_seq'))
    )
    op.create_table('federation_identity',
    sa.Column('platform_id', sa.Uuid(), nullable=False),
    sa.Column('price_disclosure', sa.String(length=16), nullable=False),
    sa.Column('aggregation', sa.String(length=16), nullable=False),
    sa.Column('feed_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_federation_identity_platform_id_platforms')),
    sa.PrimaryKeyConstraint('platform_id', name=op.f('pk_federation_identity'))
    )
    op.create_table('federation_keys',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('platform_id', sa.Uuid(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('endorsed_by', sa.String(length=32), nullable=True),
    sa.Column('endorsement', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_federation_keys_platform_id_platforms')),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_federation_keys'))
    )
    with op.batch_alter_table('federation_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_keys_platform_id'), ['platform_id'], unique=False)

    op.create_table('federation_peers',
    sa.Column('platform_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.String(length=100), nullable=False),
    sa.Column('feed_cursor', sa.BigInteger(), nullable=False),
    sa.Column('last_synced_at', suanli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('added_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_federation_peers_platform_id_platforms')),
    sa.PrimaryKeyConstraint('platform_id', name=op.f('pk_federation_peers'))
    )
    op.create_table('federation_remote_offers',
    sa.Column('cid', sa.String(length=200), nullable=False),
    sa.Column('platform_id', sa.Uuid(), nullable=False),
    sa.Column('province', sa.String(length=40), nullable=False),
    sa.Column('chip', sa.String(length=40), nullable=True),
    sa.Column('accelerators', sa.BigInteger(), nullable=False),
    sa.Column('price_low_fen', sa.BigInteger(), nullable=False),
    sa.Column('available_units', sa.BigInteger(), nullable=False),
    sa.Column('offer', sa.JSON(), nullable=False),
    sa.Column('source_seq', sa.BigInteger(), nullable=False),
    sa.Column('changed_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('synced_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_federation_remote_offers_platform_id_platforms')),
    sa.PrimaryKeyConstraint('cid', name=op.f('pk_federation_remote_offers'))
    )
    with op.batch_alter_table('federation_remote_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federation_remote_offers_platform_id'), ['platform_id'], unique=False)

    op.create_table('federation_shares',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('shared_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_federation_shares_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_federation_shares'))
    )
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('province', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('base_url', sa.String(length=300), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('platforms', schema=None) as batch_op:
        batch_op.drop_column('base_url')
        batch_op.drop_column('province')

    op.drop_table('federation_shares')
    with op.batch_alter_table('federation_remote_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_remote_offers_platform_id'))

    op.drop_table('federation_remote_offers')
    op.drop_table('federation_peers')
    with op.batch_alter_table('federation_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federation_keys_platform_id'))

    op.drop_table('federation_keys')
    op.drop_table('federation_identity')
    op.drop_table('federation_published')
    with op.batch_alter_table('federation_nonces', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_nonces_expires_at')

    op.drop_table('federation_nonces')
