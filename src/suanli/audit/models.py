"""Audit tables: the entries (append-only) and the chain head (one row, locked by every append).

``details`` is kept as the canonical JSON text that was hashed, so verification reads back exactly what was
sealed on both databases."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from suanli.db import Base


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_entries_action_seq", "action", "seq"),
        Index("ix_audit_entries_actor_org_id_seq", "actor_org_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    address: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last entry's sequence number and hash: one row (id 1), the lock every append takes."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
