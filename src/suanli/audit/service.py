"""Recording, listing and verifying the audit trail. No HTTP here; callers commit.

``record`` appends one entry in the caller's transaction, so the entry and the change it records are committed
(or rolled back) together. It locks the chain head row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write
transactions are serialized by ``BEGIN IMMEDIATE``) and must be the last lock a transaction takes (after
products, orders and ledger accounts: docs/trading.md "Locks"), so services call it at their end: the head is
then held only from the append to the commit.

Who and from where: ``actor`` is the user acting (None: the caller of the request, which the HTTP layer puts in
``session.info``); the client address is taken from ``session.info`` too when not given.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from suanli.accounts.models import User
from suanli.audit.models import AuditChainHead, AuditEntryRow
from suanli.core.audit import (GENESIS_HASH, AuditEntry, ChainHead, Verification, canonical_json, check_details,
                               sealed, verify_chain)
from suanli.db import utcnow
from suanli.errors import Conflict

ACTOR_KEY = "audit_actor"
ADDRESS_KEY = "client_address"


def set_request_context(session: Session, *, actor: User | None = None, address: str | None = None) -> None:
    """What the HTTP layer knows of a request, for the entries its unit of work records."""
    if actor is not None:
        session.info[ACTOR_KEY] = actor
    if address is not None:
        session.info[ADDRESS_KEY] = address


def _plain(value: Any) -> Any:
    """JSON-ready: ids, enums, Decimals and datetimes as text; money stays integer fen."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


_entries_table, _head_table = AuditEntryRow.__table__, AuditChainHead.__table__
# Built once, executed as Core statements (no ORM bulk path, no statement building per call): the order path
# appends an entry per order (docs/benchmarks.md, "Audit trail").
_LOCK_HEAD = select(_head_table.c.seq, _head_table.c.hash).where(_head_table.c.id == 1).with_for_update()
_INSERT_ENTRY = insert(_entries_table)
_MOVE_HEAD = update(_head_table).where(_head_table.c.id == 1).values(seq=bindparam("new_seq"),
                                                                    hash=bindparam("new_hash"))


def _locked_head(session: Session) -> tuple[int, str]:
    head = session.execute(_LOCK_HEAD).one_or_none()
    if head is None:  # the migration makes the row; without it and without entries (an emptied database) start again
        if session.execute(select(_entries_table.c.seq).limit(1)).first() is not None:
            # Removed by hand while entries exist: refuse rather than fork the chain or heal the tampering.
            raise Conflict("The audit trail's chain head is missing, so nothing can be recorded. An operator runs "
                           "`suanli audit verify` and restores the audit tables from a backup.",
                           code="audit_head_missing")
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        session.execute(dialect_insert(AuditChainHead).values(id=1, seq=0, hash=GENESIS_HASH)
                        .on_conflict_do_nothing())
        head = session.execute(_LOCK_HEAD).one()
    return int(head.seq), str(head.hash)


def record(session: Session, actor: User | None, action: str, target: str, details: dict[str, Any] | None = None,
           address: str | None = None) -> int:
    """Append an entry (``action`` e.g. ``order.placed``, ``target`` e.g. ``order:<id>``, ``details`` a small
    JSON object: ids and amounts, never secrets); its sequence number."""
    actor = actor if actor is not None else session.info.get(ACTOR_KEY)
    address = address if address is not None else session.info.get(ADDRESS_KEY)
    plain = _plain(details or {})
    check_details(plain)
    details_text = canonical_json(plain)
    at = utcnow()
    user_id, org_id = (actor.id, actor.organization_id) if actor is not None else (None, None)
    seq, prev_hash = _locked_head(session)
    entry = sealed(AuditEntry(seq=seq + 1, at=at, actor_user_id=str(user_id) if user_id else None,
                              actor_org_id=str(org_id) if org_id else None,
                              address=address[:100] if address else None, action=action, target=target[:200],
                              details=plain, prev_hash=prev_hash))
    session.execute(_INSERT_ENTRY, {
        "seq": entry.seq, "at": at, "actor_user_id": user_id, "actor_org_id": org_id, "address": entry.address,
        "action": action, "target": entry.target, "details": details_text, "prev_hash": prev_hash,
        "hash": entry.hash})
    session.execute(_MOVE_HEAD, {"new_seq": entry.seq, "new_hash": entry.hash})
    return entry.seq


def entry_of(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(seq=row.seq, at=row.at, actor_user_id=str(row.actor_user_id) if row.actor_user_id else None,
                      actor_org_id=str(row.actor_org_id) if row.actor_org_id else None, address=row.address,
                      action=row.action, target=row.target, details=json.loads(row.details),
                      prev_hash=row.prev_hash, hash=row.hash)


def list_entries(session: Session, *, limit: int = 50, before_seq: int | None = None, action: str | None = None,
                 organization_id: uuid.UUID | None = None) -> tuple[list[AuditEntry], int]:
    """The newest entries first (``before_seq``: the page after one ending there), and how many match."""
    query = select(AuditEntryRow)
    if action is not None:
        query = query.where(AuditEntryRow.action == action)
    if organization_id is not None:
        query = query.where(AuditEntryRow.actor_org_id == organization_id)
    if action is None and organization_id is None:  # every entry: the head knows how many without a scan
        total = session.scalar(select(AuditChainHead.seq).where(AuditChainHead.id == 1)) or 0
    else:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if before_seq is not None:
        query = query.where(AuditEntryRow.seq < before_seq)
    rows = session.scalars(query.order_by(AuditEntryRow.seq.desc()).limit(limit))
    return [entry_of(r) for r in rows], int(total)


def _entries(session: Session) -> Iterator[AuditEntry]:
    for row in session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)
                               .execution_options(yield_per=1000)):
        yield entry_of(row)


@dataclass(frozen=True)
class ChainReport:
    verification: Verification
    head: ChainHead | None


def verify(session: Session) -> ChainReport:
    """Walk the whole chain. Give it a session that has not begun yet: on PostgreSQL it then reads one snapshot
    (REPEATABLE READ), so appends committed meanwhile are not half seen (SQLite's read transaction is one already)."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head_row = session.execute(select(AuditChainHead.seq, AuditChainHead.hash)
                               .where(AuditChainHead.id == 1)).one_or_none()
    head = ChainHead(int(head_row.seq), str(head_row.hash)) if head_row is not None else None
    return ChainReport(verify_chain(_entries(session), head), head)
