"""The operator's audit trail page: whether the hash chain is intact, and the newest entries (who, from where,
what, when), filtered by action, older pages by sequence number. Reads only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Request
from sqlalchemy import select

from suanli.accounts.models import Organization, User
from suanli.audit import service as audit
from suanli.http import DbSession
from suanli.web.render import render, web_router
from suanli.web.security import OperatorUser

router = web_router(prefix="/operator")
PAGE_SIZE = 100


@router.get("/audit")
def audit_page(request: Request, session: DbSession, _operator: OperatorUser,
               action: Annotated[str | None, Query(max_length=80)] = None,
               before: Annotated[int | None, Query(ge=1)] = None):
    with request.app.state.database.unit_of_work(write=False) as snapshot:  # a fresh transaction: one snapshot
        report = audit.verify(snapshot)
    entries, total = audit.list_entries(session, limit=PAGE_SIZE, before_seq=before, action=action or None)
    user_ids = {uuid.UUID(e.actor_user_id) for e in entries if e.actor_user_id}
    org_ids = {uuid.UUID(e.actor_org_id) for e in entries if e.actor_org_id}
    emails = {str(i): email for i, email in session.execute(
        select(User.id, User.email).where(User.id.in_(user_ids)))} if user_ids else {}
    orgs = {str(i): name for i, name in session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(org_ids)))} if org_ids else {}
    older = entries[-1].seq if len(entries) == PAGE_SIZE and entries[-1].seq > 1 else None
    return render(request, "operator/audit.html", {
        "verification": report.verification, "head_seq": report.head.seq if report.head else 0,
        "entries": entries, "total": total, "emails": emails, "orgs": orgs, "action": action or "",
        "older": older})
