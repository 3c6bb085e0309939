"""demand: price index snapshots per day and chip, the operator's guidance prices, searches that found nothing

Revision ID: 0018_demand
Revises: 0017_quotes
Create Date: 2026-12-07 15:45:00
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0018_demand'
down_revision = '0017_quotes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('price_index_snapshots',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('chip_key', sa.String(length=40), nullable=False),
    sa.Column('offers', sa.Integer(), nullable=False),
    sa.Column('min_fen', sa.BigInteger(), nullable=False),
    sa.Column('q1_fen', sa.BigInteger(), nullable=False),
    sa.Column('median_fen', sa.BigInteger(), nullable=False),
    sa.Column('q3_fen', sa.BigInteger(), nullable=False),
    sa.Column('max_fen', sa.BigInteger(), nullable=False),
    sa.Column('taken_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('offers > 0', name=op.f('ck_price_index_snapshots_offers_positive')),
    sa.ForeignKeyConstraint(['chip_key'], ['chip_models.key'],
                            name=op.f('fk_price_index_snapshots_chip_key_chip_models')),
    sa.PrimaryKeyConstraint('day', 'chip_key', name=op.f('pk_price_index_snapshots'))
    )
    op.create_table('guidance_prices',
    sa.Column('chip_key', sa.String(length=40), nullable=False),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('band_pct', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('published_at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint('price_fen > 0', name=op.f('ck_guidance_prices_price_positive')),
    sa.CheckConstraint('band_pct >= 1 AND band_pct <= 95', name=op.f('ck_guidance_prices_band_range')),
    sa.ForeignKeyConstraint(['chip_key'], ['chip_models.key'], name=op.f('fk_guidance_prices_chip_key_chip_models')),
    sa.ForeignKeyConstraint(['published_by'], ['users.id'], name=op.f('fk_guidance_prices_published_by_users')),
    sa.PrimaryKeyConstraint('chip_key', name=op.f('pk_guidance_prices'))
    )
    op.create_table('search_misses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('filters', sa.String(length=1000), nullable=False),
    sa.Column('chip_key', sa.String(length=40), nullable=True),
    sa.Column('province', sa.String(length=40), nullable=True),
    sa.Column('accelerators', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_misses'))
    )
    with op.batch_alter_table('search_misses', schema=None) as batch_op:
        batch_op.create_index('ix_search_misses_day', ['day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('search_misses', schema=None) as batch_op:
        batch_op.drop_index('ix_search_misses_day')
    op.drop_table('search_misses')
    op.drop_table('guidance_prices')
    op.drop_table('price_index_snapshots')
