"""Operator API of the audit trail: list entries (newest first, keyset pages) and verify the chain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query as Q
from pydantic import BaseModel

from suanli.audit import service
from suanli.core.audit import AuditEntry
from suanli.http import DbSession, OperatorUser, ReadSession

router = APIRouter(prefix="/api/v1/operator/audit", tags=["audit"])


class AuditEntryOut(BaseModel):
    seq: int
    at: dt.datetime
    actor_user_id: uuid.UUID | None
    actor_org_id: uuid.UUID | None
    address: str | None
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    next_before_seq: int | None
    """Pass as ``before_seq`` for the next (older) page; None on the last page."""


class AuditVerificationOut(BaseModel):
    intact: bool
    checked: int
    first_broken_seq: int | None
    reason: str | None
    head_seq: int


def _out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(seq=entry.seq, at=entry.at, actor_user_id=entry.actor_user_id,
                         actor_org_id=entry.actor_org_id, address=entry.address, action=entry.action,
                         target=entry.target, details=entry.details, prev_hash=entry.prev_hash, hash=entry.hash)


@router.get("", response_model=AuditPage)
def list_audit(_operator: OperatorUser, session: DbSession,
               limit: Annotated[int, Q(ge=1, le=500)] = 50,
               before_seq: Annotated[int | None, Q(ge=1, description="The page older than this entry.")] = None,
               action: Annotated[str | None, Q(max_length=80, description="e.g. order.placed, money.topup")] = None,
               organization_id: Annotated[uuid.UUID | None, Q(description="Entries by this organization's "
                                                                       "users.")] = None) -> AuditPage:
    """Operator: the audit trail, newest first: who (user, organization), from where (address), what (action,
    target, details) and when; each entry with its sequence number and hashes."""
    entries, total = service.list_entries(session, limit=limit, before_seq=before_seq, action=action,
                                          organization_id=organization_id)
    more = len(entries) == limit and entries[-1].seq > 1
    return AuditPage(items=[_out(e) for e in entries], total=total,
                     next_before_seq=entries[-1].seq if more else None)


def _verify(session) -> AuditVerificationOut:
    report = service.verify(session)
    v = report.verification
    return AuditVerificationOut(intact=v.intact, checked=v.checked, first_broken_seq=v.first_broken_seq,
                                reason=v.reason, head_seq=report.head.seq if report.head else 0)


@router.get("/verify", response_model=AuditVerificationOut)
def verify_audit(_operator: OperatorUser, session: ReadSession) -> AuditVerificationOut:
    """Operator: walk the whole chain; `intact` false with the first broken sequence number and why when an entry
    was edited, inserted or removed."""
    return _verify(session)


@router.post("/verify", response_model=AuditVerificationOut)
def verify_audit_post(_operator: OperatorUser, session: ReadSession) -> AuditVerificationOut:
    """The same as GET, for clients that send a check as a POST."""
    return _verify(session)
