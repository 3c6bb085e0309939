"""Money pages people can read: the ledger rows of a buyer's wallet and a seller's receivable (described, with the
running balance, the meter's readings summed per order and Beijing day with a drill-down), and the payouts and
refunds lists of sellers and operators (50 per page, filtered by organization and Beijing days)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization, Role
from suanli.core.ledger import TransferKind
from suanli.errors import InvalidInput
from suanli.http import DbSession
from suanli.trading.ledger_view import money_events, organization_ledger, parse_day
from suanli.web.forms import Form, translator
from suanli.web.i18n import N_
from suanli.web.presenters import labeler
from suanli.web.render import PageOffset, render, web_router
from suanli.web.security import OperatorUser, SellerUser

router = web_router()
LEDGER_PAGE = 20
EVENTS_PAGE = 50


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def ledger_context(request: Request, session: Session, org_id: uuid.UUID, offset: int, *,
                   order_url: str | None) -> dict[str, Any]:
    """What ``_ledger.html`` needs: a page of described rows, newest first; ``?order=&day=`` narrows them to one
    order's readings of one Beijing day (the drill-down of a meter row)."""
    order_id = _uuid(request.query_params.get("order"))
    try:
        day = parse_day(request.query_params.get("day")) if order_id else None
    except InvalidInput:
        day = None
    rows = organization_ledger(session, org_id, order_id=order_id, day=day)
    offset = max(0, offset)
    return {"ledger_rows": rows[offset:offset + LEDGER_PAGE], "ledger_total": len(rows), "offset": offset,
            "limit": LEDGER_PAGE, "drill": {"order": order_id, "day": day} if order_id else None,
            "order_url": order_url, "label": labeler(request)}


@router.get("/seller/ledger")
def seller_ledger(request: Request, session: DbSession, user: SellerUser, offset: PageOffset = 0):
    """The seller's receivable, row by row: earnings per order (readings per day), refunds given, payouts."""
    return render(request, "seller/ledger.html", ledger_context(request, session, user.organization_id, offset,
                                                                order_url=None))


def _days(request: Request) -> tuple[dt.date | None, dt.date | None, dict[str, str]]:
    """``since``/``until`` from the query (Beijing days); a malformed one is ignored and reported."""
    _ = translator(request)
    values, errors = [], {}
    for name in ("since", "until"):
        try:
            values.append(parse_day(request.query_params.get(name)))
        except InvalidInput:
            values.append(None)
            errors[name] = _(N_("Enter a day as YYYY-MM-DD, such as 2026-12-07."))
    return values[0], values[1], errors


def events_context(request: Request, session: Session, kind: TransferKind, offset: int,
                   **scope: uuid.UUID | None) -> dict[str, Any]:
    since, until, errors = _days(request)
    offset = max(0, offset)
    items, total = money_events(session, kind, since=since, until=until, limit=EVENTS_PAGE, offset=offset, **scope)
    values = {k: request.query_params.get(k) or "" for k in ("org", "since", "until")}
    return {"events": items, "events_total": total, "offset": offset, "limit": EVENTS_PAGE,
            "filter_form": Form(values=values, errors=errors)}


@router.get("/seller/payouts")
def seller_payouts(request: Request, session: DbSession, user: SellerUser, offset: PageOffset = 0):
    """Payouts to the seller, newest first."""
    return render(request, "seller/money_events.html", {
        "kind": "payout", **events_context(request, session, TransferKind.PAYOUT, offset,
                                           seller_org_id=user.organization_id)})


@router.get("/seller/refunds")
def seller_refunds(request: Request, session: DbSession, user: SellerUser, offset: PageOffset = 0):
    """Refunds the seller gave (its part of each), with their orders."""
    return render(request, "seller/money_events.html", {
        "kind": "refund", **events_context(request, session, TransferKind.REFUND, offset,
                                           seller_org_id=user.organization_id)})


def organization_options(session: Session, request: Request, roles: tuple[Role, ...]) -> list[tuple[str, str]]:
    _ = translator(request)
    orgs = session.execute(select(Organization.id, Organization.name).where(Organization.kind.in_(roles))
                           .order_by(Organization.name, Organization.id)).all()
    return [("", _(N_("All organizations")))] + [(str(i), name) for i, name in orgs]


def operator_events_context(request: Request, session: Session, kind: TransferKind, offset: int) -> dict[str, Any]:
    """All payouts or refunds for the operator, filtered by ``?org=&since=&until=`` (``org``: not
    ``organization_id``, the payout form's field on the same page)."""
    roles = (Role.SELLER,) if kind is TransferKind.PAYOUT else (Role.BUYER, Role.SELLER)
    return {**events_context(request, session, kind, offset,
                             organization_id=_uuid(request.query_params.get("org"))),
            "filter_org_options": organization_options(session, request, roles)}


@router.get("/operator/refunds")
def operator_refunds(request: Request, session: DbSession, _operator: OperatorUser, offset: PageOffset = 0):
    return render(request, "operator/refunds.html", {
        "kind": "refund", **operator_events_context(request, session, TransferKind.REFUND, offset)})
