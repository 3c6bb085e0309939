"""Invoices and seller revenue, computed on the fly from the ledger (so they always agree with it).

Nothing is stored: an invoice is a view of one organization's ledger transfers in one calendar month. The
ledger is insert-only and every transfer has a fixed ``created_at``, so a past month's invoice never changes
(a refund or payout made later shows on the later month's invoice). The invoice id is ``<org id>:<YYYY-MM>``.

Periods are calendar months in China Standard Time (Asia/Shanghai, UTC+8, no daylight saving): ``2026-11`` is
``[2026-10-31T16:00:00Z, 2026-11-30T16:00:00Z)``. A transfer belongs to the month its ``created_at`` falls in.

Buyer invoice
    One line per order charged in the month: the order's CAPTURE + COMMISSION transfers out of the buyer's held
    account whose ``created_at`` is in the month (meter readings, releases, reserved payments). So the lines add
    up exactly to the buyer's ledger debits for captures and commission in the month. Top-ups and refunds are
    separate sections; ``net_spent`` = charges − refunds.
Seller invoice
    One line per order: ``net`` = the CAPTURE credits to the seller's receivable in the month, ``commission`` =
    the COMMISSION legs of the same ledger events (same ``ref``), ``gross`` = net + commission. Refunds (the
    seller's part, out of the receivable) and payouts are separate sections.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import Datacenter, Product
from suanli.core.china_time import CHINA_TZ
from suanli.core.ledger import AccountKind, TransferKind
from suanli.errors import InvalidInput, NotFound
from suanli.trading.models import LedgerAccount, LedgerTransfer, Order, OrderMode, UsageRecord


_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(period: str) -> tuple[dt.datetime, dt.datetime]:
    """``YYYY-MM`` → its [start, end) in UTC (month boundaries at midnight China Standard Time)."""
    match = _PERIOD.match(period or "")
    if match is None:
        raise InvalidInput(f"A period is a month written YYYY-MM, e.g. 2026-11 (got {period!r}).",
                           code="invalid_period", details={"field": "period"})
    year, month = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2999:
        raise InvalidInput(f"The period {period!r} is out of range.", code="invalid_period",
                           details={"field": "period"})
    start = dt.datetime(year, month, 1, tzinfo=CHINA_TZ)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=CHINA_TZ)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def period_of(at: dt.datetime) -> str:
    """The month (China Standard Time) ``at`` falls in, ``YYYY-MM``."""
    local = at.astimezone(CHINA_TZ)
    return f"{local.year:04d}-{local.month:02d}"


def _next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def _order_id(ref: str) -> uuid.UUID | None:
    parts = ref.split(":")
    if len(parts) >= 2 and parts[0] == "order":
        try:
            return uuid.UUID(parts[1])
        except ValueError:
            return None
    return None


def _reference(ref: str) -> str:
    return ref.split(":", 1)[1] if ":" in ref else ref


@dataclass
class InvoiceLine:
    order_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    datacenter_id: uuid.UUID
    datacenter_name: str
    mode: OrderMode
    units: int
    term_months: int | None
    unit_price_fen: int
    unit_price_per: str  # hour | month
    seconds: int | None  # per-second orders: seconds of use charged in this period
    amount_fen: int  # buyer: charged in the period; seller: gross (net + commission)
    commission_fen: int = 0  # seller invoices
    net_fen: int = 0  # seller invoices


@dataclass
class MoneyEntry:
    reference: str
    amount_fen: int
    at: dt.datetime


@dataclass
class Invoice:
    organization_id: uuid.UUID
    organization_name: str
    role: Role
    period: str
    period_start: dt.datetime
    period_end: dt.datetime
    lines: list[InvoiceLine] = field(default_factory=list)
    topups: list[MoneyEntry] = field(default_factory=list)
    refunds: list[MoneyEntry] = field(default_factory=list)
    payouts: list[MoneyEntry] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.organization_id}:{self.period}"

    @property
    def has_activity(self) -> bool:
        return bool(self.lines or self.topups or self.refunds or self.payouts)

    def totals(self) -> dict[str, int]:
        refunds = sum(r.amount_fen for r in self.refunds)
        if self.role is Role.SELLER:
            gross = sum(line.amount_fen for line in self.lines)
            commission = sum(line.commission_fen for line in self.lines)
            net = sum(line.net_fen for line in self.lines)
            return {"gross_fen": gross, "commission_fen": commission, "net_fen": net, "refunds_fen": refunds,
                    "net_after_refunds_fen": net - refunds, "payouts_fen": sum(p.amount_fen for p in self.payouts)}
        charges = sum(line.amount_fen for line in self.lines)
        return {"charges_fen": charges, "refunds_fen": refunds, "net_spent_fen": charges - refunds,
                "topups_fen": sum(t.amount_fen for t in self.topups)}


def _account_id(session: Session, kind: AccountKind, org_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(select(LedgerAccount.id).where(LedgerAccount.kind == kind,
                                                         LedgerAccount.owner_org_id == org_id))


def _in(start: dt.datetime, end: dt.datetime):
    return (LedgerTransfer.created_at >= start) & (LedgerTransfer.created_at < end)


def _entries(session: Session, condition, start: dt.datetime, end: dt.datetime) -> list[MoneyEntry]:
    """Transfers matching ``condition`` in the period, summed per ref (a refund has up to two legs)."""
    sums: dict[str, MoneyEntry] = {}
    for ref, amount, at in session.execute(select(LedgerTransfer.ref, LedgerTransfer.amount_fen,
                                                  LedgerTransfer.created_at)
                                           .where(condition, _in(start, end)).order_by(LedgerTransfer.seq)):
        entry = sums.setdefault(ref, MoneyEntry(_reference(ref), 0, at))
        entry.amount_fen += int(amount)
    return list(sums.values())


def _period_seconds(session: Session, order_ids: list[uuid.UUID], start: dt.datetime,
                    end: dt.datetime) -> dict[uuid.UUID, int]:
    """Per order, the seconds of use billed in [start, end): cumulative seconds at the end − at the start."""
    before: dict[uuid.UUID, int] = defaultdict(int)
    until: dict[uuid.UUID, int] = defaultdict(int)
    if not order_ids:
        return {}
    for order_id, at, seconds in session.execute(select(UsageRecord.order_id, UsageRecord.at,
                                                        UsageRecord.seconds_total)
                                                 .where(UsageRecord.order_id.in_(order_ids), UsageRecord.at < end)):
        until[order_id] = max(until[order_id], int(seconds))
        if at < start:
            before[order_id] = max(before[order_id], int(seconds))
    return {o: until[o] - before[o] for o in order_ids}


def _lines(session: Session, amounts: dict[uuid.UUID, tuple[int, int, int]], start: dt.datetime,
           end: dt.datetime) -> list[InvoiceLine]:
    """Invoice lines for ``amounts``: order id → (amount, commission, net)."""
    if not amounts:
        return []
    rows = session.execute(select(Order, Product.name, Datacenter.name)
                           .join(Product, Product.id == Order.product_id)
                           .join(Datacenter, Datacenter.id == Order.datacenter_id)
                           .where(Order.id.in_(list(amounts)))
                           .order_by(Order.created_at, Order.id)).all()
    seconds = _period_seconds(session, [o.id for o, _, _ in rows if o.mode is not OrderMode.RESERVED], start, end)
    lines = []
    for order, product_name, datacenter_name in rows:
        amount, commission, net = amounts[order.id]
        reserved = order.mode is OrderMode.RESERVED
        lines.append(InvoiceLine(order_id=order.id, product_id=order.product_id, product_name=product_name,
                                 datacenter_id=order.datacenter_id, datacenter_name=datacenter_name, mode=order.mode,
                                 units=order.units, term_months=order.term_months,
                                 unit_price_fen=order.unit_price_fen, unit_price_per="month" if reserved else "hour",
                                 seconds=None if reserved else seconds.get(order.id, 0), amount_fen=amount,
                                 commission_fen=commission, net_fen=net))
    return lines


def build_invoice(session: Session, org: Organization, period: str) -> Invoice:
    start, end = parse_period(period)
    invoice = Invoice(org.id, org.name, org.kind, period, start, end)
    if org.kind is Role.BUYER:
        held = _account_id(session, AccountKind.BUYER_HELD, org.id)
        available = _account_id(session, AccountKind.BUYER_AVAILABLE, org.id)
        amounts: dict[uuid.UUID, tuple[int, int, int]] = {}
        if held is not None:
            charged: dict[uuid.UUID, int] = defaultdict(int)
            for ref, amount in session.execute(select(LedgerTransfer.ref, LedgerTransfer.amount_fen).where(
                    LedgerTransfer.debit_account_id == held, _in(start, end),
                    LedgerTransfer.kind.in_([TransferKind.CAPTURE, TransferKind.COMMISSION]))):
                order_id = _order_id(ref)
                if order_id is not None:
                    charged[order_id] += int(amount)
            amounts = {o: (a, 0, 0) for o, a in charged.items()}
        invoice.lines = _lines(session, amounts, start, end)
        if available is not None:
            invoice.topups = _entries(session, (LedgerTransfer.credit_account_id == available)
                                      & (LedgerTransfer.kind == TransferKind.TOPUP), start, end)
            invoice.refunds = _entries(session, (LedgerTransfer.credit_account_id == available)
                                       & (LedgerTransfer.kind == TransferKind.REFUND), start, end)
    elif org.kind is Role.SELLER:
        receivable = _account_id(session, AccountKind.SELLER_RECEIVABLE, org.id)
        if receivable is not None:
            net: dict[uuid.UUID, int] = defaultdict(int)
            for ref, amount in session.execute(select(LedgerTransfer.ref, LedgerTransfer.amount_fen).where(
                    LedgerTransfer.credit_account_id == receivable, LedgerTransfer.kind == TransferKind.CAPTURE,
                    _in(start, end))):
                order_id = _order_id(ref)
                if order_id is not None:
                    net[order_id] += int(amount)
            commission = _seller_commission(session, org.id, start, end)
            invoice.lines = _lines(session, {o: (net.get(o, 0) + commission.get(o, 0), commission.get(o, 0),
                                                 net.get(o, 0)) for o in net.keys() | commission.keys()},
                                   start, end)
            invoice.refunds = _entries(session, (LedgerTransfer.debit_account_id == receivable)
                                       & (LedgerTransfer.kind == TransferKind.REFUND), start, end)
            invoice.payouts = _entries(session, (LedgerTransfer.debit_account_id == receivable)
                                       & (LedgerTransfer.kind == TransferKind.PAYOUT), start, end)
    return invoice


@dataclass(frozen=True)
class CommissionLeg:
    order_id: uuid.UUID
    at: dt.datetime
    amount_fen: int


def seller_commission_legs(session: Session, seller_org_id: uuid.UUID, start: dt.datetime,
                           end: dt.datetime) -> list[CommissionLeg]:
    """The COMMISSION legs of the seller's orders in [start, end). Found through the held accounts of the seller's
    buyers (the legs' debit side, indexed with the time), not through the refs of the period's captures: a meter
    reading or a release may split its increment so that the seller's part is 0 fen and the platform's 1 fen, a
    ledger event with a commission leg and no capture. Invoices sum them per order, the seller's charts per day."""
    buyers = select(Order.buyer_org_id).where(Order.seller_org_id == seller_org_id).distinct()
    held = list(session.scalars(select(LedgerAccount.id).where(LedgerAccount.kind == AccountKind.BUYER_HELD,
                                                               LedgerAccount.owner_org_id.in_(buyers))))
    legs: list[CommissionLeg] = []
    for i in range(0, len(held), 500):
        for ref, amount, at in session.execute(
                select(LedgerTransfer.ref, LedgerTransfer.amount_fen, LedgerTransfer.created_at).where(
                    LedgerTransfer.debit_account_id.in_(held[i:i + 500]),
                    LedgerTransfer.kind == TransferKind.COMMISSION, _in(start, end))):
            order_id = _order_id(ref)
            if order_id is not None:
                legs.append(CommissionLeg(order_id, at, int(amount)))
    ids = sorted({leg.order_id for leg in legs})
    mine: set[uuid.UUID] = set()
    for i in range(0, len(ids), 500):
        mine |= set(session.scalars(select(Order.id).where(Order.id.in_(ids[i:i + 500]),
                                                           Order.seller_org_id == seller_org_id)))
    return [leg for leg in legs if leg.order_id in mine]


def _seller_commission(session: Session, seller_org_id: uuid.UUID, start: dt.datetime,
                       end: dt.datetime) -> dict[uuid.UUID, int]:
    """The seller's commission in the period, per order."""
    out: dict[uuid.UUID, int] = defaultdict(int)
    for leg in seller_commission_legs(session, seller_org_id, start, end):
        out[leg.order_id] += leg.amount_fen
    return dict(out)


def _organization(session: Session, user: User, org_id: uuid.UUID) -> Organization:
    org = session.get(Organization, org_id)
    if org is None or (user.role is not Role.OPERATOR and org_id != user.organization_id):
        raise NotFound(f"You have no invoices of organization {org_id}.", code="invoice_not_found")
    return org


def get_invoice(session: Session, user: User, invoice_id: str) -> Invoice:
    """``<org id>:<YYYY-MM>``: your own organization's, or any organization's for operators."""
    org_part, _, period = invoice_id.partition(":")
    try:
        org_id = uuid.UUID(org_part)
    except ValueError:
        raise NotFound(f"There is no invoice {invoice_id!r}; invoice ids are <organization id>:<YYYY-MM>.",
                       code="invoice_not_found") from None
    return build_invoice(session, _organization(session, user, org_id), period)


def list_invoices(session: Session, user: User, *, period: str | None = None,
                  organization_id: uuid.UUID | None = None) -> list[Invoice]:
    """The organization's invoices, one per month with activity in its ledger accounts, newest first."""
    org = _organization(session, user, organization_id or user.organization_id)
    if period is not None:
        invoice = build_invoice(session, org, period)
        return [invoice] if invoice.has_activity else []
    own = select(LedgerAccount.id).where(LedgerAccount.owner_org_id == org.id)
    first, last = session.execute(select(func.min(LedgerTransfer.created_at), func.max(LedgerTransfer.created_at))
                                  .where(or_(LedgerTransfer.debit_account_id.in_(own),
                                             LedgerTransfer.credit_account_id.in_(own)))).one()
    if first is None:
        return []
    invoices, month, stop = [], period_of(first), period_of(last)
    while True:
        invoice = build_invoice(session, org, month)
        if invoice.has_activity:
            invoices.append(invoice)
        if month == stop:
            break
        month = _next_period(month)
    return invoices[::-1]


# ---------------------------------------------------------------- seller revenue

@dataclass
class RevenueRow:
    key: uuid.UUID
    name: str
    orders: int = 0
    gross_fen: int = 0
    commission_fen: int = 0
    net_fen: int = 0


def revenue_by(lines: list[InvoiceLine], by: str) -> list[RevenueRow]:
    rows: dict[uuid.UUID, RevenueRow] = {}
    for line in lines:
        key, name = ((line.datacenter_id, line.datacenter_name) if by == "datacenter"
                     else (line.product_id, line.product_name))
        row = rows.setdefault(key, RevenueRow(key, name))
        row.orders += 1
        row.gross_fen += line.amount_fen
        row.commission_fen += line.commission_fen
        row.net_fen += line.net_fen
    return sorted(rows.values(), key=lambda r: (-r.gross_fen, r.name))


def seller_payouts(session: Session, org_id: uuid.UUID) -> list[MoneyEntry]:
    receivable = _account_id(session, AccountKind.SELLER_RECEIVABLE, org_id)
    if receivable is None:
        return []
    rows = session.execute(select(LedgerTransfer.ref, LedgerTransfer.amount_fen, LedgerTransfer.created_at)
                           .where(LedgerTransfer.debit_account_id == receivable,
                                  LedgerTransfer.kind == TransferKind.PAYOUT)
                           .order_by(LedgerTransfer.seq.desc()))
    return [MoneyEntry(_reference(ref), int(amount), at) for ref, amount, at in rows]
