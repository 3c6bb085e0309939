"""HTTP endpoints of the readable ledger (buyers and sellers) and of the payouts and refunds lists."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query as Q

from suanli.accounts.models import Role
from suanli.catalog.schemas import Money
from suanli.core.ledger import TransferKind
from suanli.errors import Forbidden, NotFound
from suanli.http import CurrentUser, DbSession
from suanli.trading.ledger_schemas import LedgerRowOut, LedgerRowPage, MoneyEventOut, MoneyEventPage
from suanli.trading.ledger_view import DescribedRow, MoneyEvent, money_events, organization_ledger, parse_day

router = APIRouter(prefix="/api/v1", tags=["trading"])
Limit = Annotated[int, Q(ge=1, le=500)]
Offset = Annotated[int, Q(ge=0, le=1_000_000)]


def ledger_row_out(d: DescribedRow) -> LedgerRowOut:
    r = d.row
    return LedgerRowOut(kind=r.kind, order_id=d.order_id, product_name=d.product_name, period_start=d.period_start,
                        period_end=d.period_end, reference=d.reference, ref=r.ref, at=r.last_at, day=r.day,
                        readings=r.count, change=Money.of(r.change_fen), held_change=Money.of(r.held_change_fen),
                        balance=Money.of(r.balance_fen), held=Money.of(r.held_fen))


@router.get("/ledger/rows", response_model=LedgerRowPage)
def ledger_rows(user: CurrentUser, session: DbSession, limit: Limit = 50, offset: Offset = 0,
                order_id: uuid.UUID | None = None,
                day: Annotated[str | None, Q(description="YYYY-MM-DD, a Beijing day; with order_id")] = None
                ) -> LedgerRowPage:
    """Your organization's ledger as rows people read, newest first: one row per event (a release is one charge,
    not its legs), the meter's readings summed per order and Beijing day, each with its product, order and period,
    and the running balance after it (its last row's is your wallet). With `order_id` and `day`: that order's
    readings of that day one by one."""
    rows = organization_ledger(session, user.organization_id, order_id=order_id, day=parse_day(day))
    return LedgerRowPage(items=[ledger_row_out(r) for r in rows[offset:offset + limit]], total=len(rows),
                         limit=limit, offset=offset)


def money_event_out(e: MoneyEvent) -> MoneyEventOut:
    return MoneyEventOut(reference=e.reference, at=e.at, amount=Money.of(e.amount_fen),
                         organization_id=e.organization_id, organization_name=e.organization_name,
                         seller_org_id=e.seller_org_id, order_id=e.order_id, product_name=e.product_name)


def money_event_page(user, session, kind: TransferKind, organization_id: uuid.UUID | None, since: str | None,
                     until: str | None, limit: int, offset: int) -> MoneyEventPage:
    """Operators: every organization's (or ``organization_id``'s); sellers: their own; buyers: their refunds. A
    seller or buyer naming another organization is refused, not answered with its own list as if it were that one."""
    if user.role is not Role.OPERATOR and organization_id not in (None, user.organization_id):
        raise NotFound(f"You have no {kind.value}s of organization {organization_id}: only operators may name "
                       "another organization; leave organization_id out for your own.", code="organization_not_found")
    if user.role is Role.OPERATOR:
        scope = {"organization_id": organization_id}
    elif user.role is Role.SELLER:
        scope = {"seller_org_id": user.organization_id}
    elif kind is TransferKind.REFUND:
        scope = {"organization_id": user.organization_id}
    else:
        raise Forbidden("Payouts are paid to sellers; a buyer organization has none.", code="not_a_seller")
    items, total = money_events(session, kind, since=parse_day(since), until=parse_day(until), limit=limit,
                                offset=offset, **scope)
    return MoneyEventPage(items=[money_event_out(e) for e in items], total=total, limit=limit, offset=offset)


Day = Annotated[str | None, Q(description="YYYY-MM-DD, a Beijing day (inclusive)")]


@router.get("/payouts", response_model=MoneyEventPage)
def list_payouts(user: CurrentUser, session: DbSession, organization_id: uuid.UUID | None = None,
                 since: Day = None, until: Day = None, limit: Limit = 50, offset: Offset = 0) -> MoneyEventPage:
    """Payouts, newest first. Sellers: theirs. Operators: everyone's, or `organization_id`'s."""
    return money_event_page(user, session, TransferKind.PAYOUT, organization_id, since, until, limit, offset)


@router.get("/refunds", response_model=MoneyEventPage)
def list_refunds(user: CurrentUser, session: DbSession, organization_id: uuid.UUID | None = None,
                 since: Day = None, until: Day = None, limit: Limit = 50, offset: Offset = 0) -> MoneyEventPage:
    """Refunds, newest first, with their order. Buyers: the refunds they got; sellers: the ones they gave (the
    amount is the seller's part); operators: all, or `organization_id`'s."""
    return money_event_page(user, session, TransferKind.REFUND, organization_id, since, until, limit, offset)
