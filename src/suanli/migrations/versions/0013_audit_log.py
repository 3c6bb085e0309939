"""audit trail: hash-chained entries and their chain head

* ``audit_entries``: append-only; each row's hash covers its fields and the previous row's hash (``core/audit.py``).
* ``audit_chain_head``: one row (id 1, seq 0, the genesis hash) locked by every append, so two transactions
  never fork the chain.

Revision ID: 0013_audit_log
Revises: 0012_account_security
Create Date: 2026-12-07 10:30:00
"""

from alembic import op
import sqlalchemy as sa
import suanli.db


revision = '0013_audit_log'
down_revision = '0012_account_security'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', suanli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Uuid(), nullable=True),
    sa.Column('actor_org_id', sa.Uuid(), nullable=True),
    sa.Column('address', sa.String(length=100), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_audit_entries_seq_positive')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries'))
    )
    op.create_index('ix_audit_entries_action_seq', 'audit_entries', ['action', 'seq'], unique=False)
    op.create_index('ix_audit_entries_actor_org_id_seq', 'audit_entries', ['actor_org_id', 'seq'], unique=False)
    head = op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.bulk_insert(head, [{'id': 1, 'seq': 0, 'hash': '0' * 64}])


def downgrade() -> None:
    op.drop_table('audit_chain_head')
    op.drop_index('ix_audit_entries_actor_org_id_seq', table_name='audit_entries')
    op.drop_index('ix_audit_entries_action_seq', table_name='audit_entries')
    op.drop_table('audit_entries')
