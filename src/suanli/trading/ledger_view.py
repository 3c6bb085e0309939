"""An organization's ledger as people read it: described rows (product, order, period) with a running balance,
and the platform's payouts and refunds lists. Reads only; grouping and balances are ``core/ledger_rows.py``.

Refunds carry no order in their ledger ref (``refund:<bank reference>``); the order is in the audit trail's
``money.refund`` entry written in the same transaction, which is where it is read from.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization
from suanli.audit.models import AuditEntryRow
from suanli.catalog.models import Product
from suanli.core.ledger import Transfer, TransferKind
from suanli.core.china_time import china_day, day_start
from suanli.core.ledger_rows import LedgerRow, RowKind, ledger_rows, movement_of
from suanli.errors import InvalidInput
from suanli.trading.ledger_store import account_ref
from suanli.trading.models import LedgerAccount, LedgerTransfer, Order


@dataclass(frozen=True)
class DescribedRow:
    """A ledger row with what it was about: the order's product and the period it covers."""

    row: LedgerRow
    order_id: uuid.UUID | None
    product_name: str | None
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    reference: str | None  # a top-up's, payout's or refund's bank reference

    @property
    def kind(self) -> RowKind:
        return self.row.kind


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def parse_day(day: str | None) -> dt.date | None:
    """``YYYY-MM-DD`` (a Beijing day) or None; 400 ``invalid_day`` otherwise."""
    if not day:
        return None
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"A day is written YYYY-MM-DD, e.g. 2026-12-07 (got {day!r}).", code="invalid_day",
                           details={"field": "day"}) from None


def refund_orders(session: Session, references: set[str]) -> dict[str, uuid.UUID]:
    """Bank reference of a refund → the order it gave money back for (from the audit trail)."""
    if not references:
        return {}
    out: dict[str, uuid.UUID] = {}
    for target, details in session.execute(select(AuditEntryRow.target, AuditEntryRow.details)
                                           .where(AuditEntryRow.action == "money.refund")):
        reference = json.loads(details).get("reference")
        order_id = _uuid(target.removeprefix("order:"))
        if reference in references and order_id is not None:
            out[reference] = order_id
    return out


def _bank_reference(row: LedgerRow) -> str | None:
    if row.kind in (RowKind.TOPUP, RowKind.PAYOUT, RowKind.REFUND) and ":" in row.ref:
        return row.ref.split(":", 1)[1]
    return None


def _period(row: LedgerRow, order: Order | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    if row.kind is RowKind.METER:
        return row.first_at, row.last_at
    if order is None:
        return None, None
    return order.started_at or order.created_at, order.ended_at or order.ends_at


def _movements(session: Session, org_id: uuid.UUID):
    own = {a.id: a for a in session.scalars(select(LedgerAccount).where(LedgerAccount.owner_org_id == org_id))}
    if not own:
        return []
    condition = or_(LedgerTransfer.debit_account_id.in_(own), LedgerTransfer.credit_account_id.in_(own))
    rows = session.execute(select(LedgerTransfer.seq, LedgerTransfer.id, LedgerTransfer.debit_account_id,
                                  LedgerTransfer.credit_account_id, LedgerTransfer.amount_fen, LedgerTransfer.kind,
                                  LedgerTransfer.ref, LedgerTransfer.created_at)
                           .where(condition).order_by(LedgerTransfer.seq)).all()
    others = {r.debit_account_id for r in rows} | {r.credit_account_id for r in rows}
    accounts = {a.id: account_ref(a) for a in session.scalars(select(LedgerAccount).where(
        LedgerAccount.id.in_(others - own.keys())))} | {i: account_ref(a) for i, a in own.items()}
    owner = str(org_id)
    out = []
    for r in rows:
        at = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=dt.UTC)
        transfer = Transfer(r.id, accounts[r.debit_account_id], accounts[r.credit_account_id], int(r.amount_fen),
                            r.kind, r.ref)
        moved = movement_of(transfer, owner, seq=int(r.seq), at=at)
        if moved is not None:
            out.append(moved)
    return out


def organization_ledger(session: Session, org_id: uuid.UUID, *, order_id: uuid.UUID | None = None,
                        day: dt.date | None = None) -> list[DescribedRow]:
    """The organization's ledger rows, newest first, each described. With ``order_id``: that order's rows alone;
    with ``day`` too (a Beijing day), that order's meter readings of that day one by one (the drill-down of a
    grouped row). Narrowed, the balances are the running sum of the rows shown, from 0."""
    movements = _movements(session, org_id)
    if order_id is not None:
        prefix = f"order:{order_id}"
        movements = [m for m in movements if (m.ref == prefix or m.ref.startswith(prefix + ":")) and (
            day is None or m.ref.startswith(prefix + ":tick:") and china_day(m.at) == day)]
        rows = ledger_rows(movements, group_ticks=day is None)
    else:
        rows = ledger_rows(movements)
    order_ids = {i for i in (_uuid(r.order_id) for r in rows) if i is not None}
    references = {ref for r in rows if r.kind is RowKind.REFUND and (ref := _bank_reference(r))}
    by_reference = refund_orders(session, references)
    order_ids |= set(by_reference.values())
    orders = _orders(session, order_ids)
    names = _product_names(session, {o.product_id for o in orders.values()})
    described = []
    for row in reversed(rows):
        reference = _bank_reference(row)
        oid = _uuid(row.order_id) or (by_reference.get(reference) if reference else None)
        order = orders.get(oid) if oid else None
        start, end = _period(row, order)
        described.append(DescribedRow(row, oid, names.get(order.product_id) if order else None, start, end,
                                      reference))
    return described


def _orders(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Order]:
    out: dict[uuid.UUID, Order] = {}
    listed = sorted(ids)
    for i in range(0, len(listed), 500):
        out |= {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(listed[i:i + 500])))}
    return out


def _product_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Product.id, Product.name).where(Product.id.in_(ids))).all())


# ---------------------------------------------------------------- payouts and refunds, for sellers and operators

@dataclass(frozen=True)
class MoneyEvent:
    """A payout or a refund: one event (its legs summed), the organization it concerns, and for a refund its
    order."""

    reference: str
    at: dt.datetime
    amount_fen: int
    organization_id: uuid.UUID  # payout: the seller; refund: the buyer
    organization_name: str
    seller_org_id: uuid.UUID | None
    order_id: uuid.UUID | None
    product_name: str | None


def money_events(session: Session, kind: TransferKind, *, organization_id: uuid.UUID | None = None,
                 seller_org_id: uuid.UUID | None = None, since: dt.date | None = None,
                 until: dt.date | None = None, limit: int = 50, offset: int = 0) -> tuple[list[MoneyEvent], int]:
    """Payouts (``kind`` PAYOUT) or refunds (REFUND), newest first, a page and the total count.

    ``organization_id``: the payouts of that seller, or the refunds to that buyer or given by that seller.
    ``seller_org_id``: a seller's own (payouts to it, refunds it gave). ``since``/``until``: Beijing days,
    inclusive."""
    if kind not in (TransferKind.PAYOUT, TransferKind.REFUND):
        raise ValueError(kind)
    side = LedgerTransfer.debit_account_id if kind is TransferKind.PAYOUT else LedgerTransfer.credit_account_id
    condition = [LedgerTransfer.kind == kind]
    if since is not None:
        condition.append(LedgerTransfer.created_at >= day_start(since))
    if until is not None:
        condition.append(LedgerTransfer.created_at < day_start(until + dt.timedelta(days=1)))
    for org in (organization_id, seller_org_id):
        if org is not None:
            mine = select(LedgerAccount.id).where(LedgerAccount.owner_org_id == org)
            condition.append(or_(LedgerTransfer.debit_account_id.in_(mine), LedgerTransfer.credit_account_id.in_(mine)))
    events = (select(LedgerTransfer.ref, func.min(LedgerTransfer.seq).label("seq"),
                     func.min(LedgerTransfer.created_at).label("at"), func.sum(LedgerTransfer.amount_fen).label("fen"),
                     LedgerAccount.owner_org_id.label("org"))
              .join(LedgerAccount, LedgerAccount.id == side)
              .where(*condition).group_by(LedgerTransfer.ref, LedgerAccount.owner_org_id))
    total = session.scalar(select(func.count()).select_from(events.subquery())) or 0
    page = session.execute(events.order_by(func.min(LedgerTransfer.seq).desc()).limit(limit).offset(offset)).all()
    references = {ref.split(":", 1)[1] for ref, *_ in page}
    orders_by_reference = refund_orders(session, references) if kind is TransferKind.REFUND else {}
    orders = _orders(session, set(orders_by_reference.values()))
    names = _product_names(session, {o.product_id for o in orders.values()})
    org_ids = {r.org for r in page} | {o.seller_org_id for o in orders.values()}
    org_names = dict(session.execute(select(Organization.id, Organization.name)
                                     .where(Organization.id.in_(org_ids))).all()) if org_ids else {}
    out = []
    for ref, _seq, at, fen, org in page:
        reference = ref.split(":", 1)[1]
        order = orders.get(orders_by_reference.get(reference)) if reference in orders_by_reference else None
        organization = order.buyer_org_id if order is not None else org
        out.append(MoneyEvent(reference, at, int(fen), organization, org_names.get(organization, ""),
                              order.seller_org_id if order is not None else org,
                              order.id if order is not None else None,
                              names.get(order.product_id) if order is not None else None))
    return out, int(total)



