"""Figures over time for the consoles' charts: transaction volume per day and utilization per data center per day.

Days are calendar days in China Standard Time (as invoices' months are, see ``trading.invoices``).

Transaction volume comes from the ledger, so it always agrees with invoices: a day's *gross* is what buyers were
charged that day (CAPTURE + COMMISSION transfers out of their held money: meter readings, releases, reserved
payments), *commission* the platform's part, *net* the sellers' part, *refunds* what was given back that day.
For one seller, the same figures restricted to its receivable, and the commission legs of its orders (as its
invoice finds them, ``invoices.seller_commission_legs``).

Utilization over time comes from the orders: an order occupies its units from ``started_at`` until it ended (or
until now, or its reserved term's end). A day's ratio is the unit-seconds occupied that day over the unit-seconds
in stock that day (up to now): Σ over the data center's products of stock × seconds, from the stock history
(``product_stock_changes``: a product's stock at an instant is its last change at or before it, none before its
first row, written when it was created). A seller changing a product's stock today leaves past days' ratios as
they were; a product added mid-period counts from its creation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization
from suanli.catalog.models import Datacenter, DatacenterStatus, Product, ProductStockChange
from suanli.core.ledger import AccountKind, TransferKind
from suanli.errors import InvalidInput
from suanli.core.china_time import china_day, day_start
from suanli.trading.invoices import seller_commission_legs
from suanli.trading.models import LedgerAccount, LedgerTransfer, Order, OrderMode

MAX_DAYS = 366


def last_days(now: dt.datetime, days: int) -> list[dt.date]:
    """The ``days`` calendar days (China Standard Time) up to and including today, oldest first."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"Ask for 1 to {MAX_DAYS} days (got {days}).", code="invalid_days",
                           details={"field": "days"})
    today = china_day(now)
    return [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


def _day_of(column, dialect: str):
    """SQL for the China-Standard-Time day of a UTC timestamp column, as text ``YYYY-MM-DD``."""
    if dialect == "postgresql":
        # Literals, not bound parameters: PostgreSQL matches the GROUP BY expression to the selected one.
        return func.to_char(func.timezone(literal_column("'Asia/Shanghai'"), column), literal_column("'YYYY-MM-DD'"))
    return func.date(column, literal_column("'+8 hours'"))  # SQLite stores UTC as naive text


# ---------------------------------------------------------------- transaction volume

@dataclass(frozen=True)
class DayVolume:
    day: dt.date
    orders: int  # orders placed that day
    gross_fen: int  # charged to buyers that day (net + commission)
    commission_fen: int
    net_fen: int  # the sellers' part
    refunds_fen: int

    @property
    def gmv_fen(self) -> int:
        """Gross merchandise value: what buyers were charged, less what was refunded."""
        return self.gross_fen - self.refunds_fen


def daily_volume(session: Session, days: list[dt.date], *, seller_org_id: uuid.UUID | None = None
                 ) -> list[DayVolume]:
    """Transaction volume on each of ``days`` (consecutive, oldest first): the platform's, or one seller's."""
    if not days:
        return []
    start, end = day_start(days[0]), day_start(days[-1] + dt.timedelta(days=1))
    dialect = session.get_bind().dialect.name
    day = _day_of(LedgerTransfer.created_at, dialect)
    in_range = and_(LedgerTransfer.created_at >= start, LedgerTransfer.created_at < end)
    sums: dict[tuple[str, TransferKind], int] = defaultdict(int)

    def add(query) -> None:
        for day_text, kind, amount in session.execute(query.group_by(day, LedgerTransfer.kind)):
            sums[(day_text, TransferKind(kind))] += int(amount)

    totals = select(day, LedgerTransfer.kind, func.sum(LedgerTransfer.amount_fen)).where(in_range)
    orders_query = select(_day_of(Order.created_at, dialect), func.count()).where(Order.created_at >= start,
                                                                                  Order.created_at < end)
    if seller_org_id is None:
        add(totals.where(LedgerTransfer.kind.in_([TransferKind.CAPTURE, TransferKind.COMMISSION,
                                                  TransferKind.REFUND])))
    else:
        receivable = select(LedgerAccount.id).where(LedgerAccount.kind == AccountKind.SELLER_RECEIVABLE,
                                                    LedgerAccount.owner_org_id == seller_org_id).scalar_subquery()
        add(totals.where(or_(
            and_(LedgerTransfer.kind == TransferKind.CAPTURE, LedgerTransfer.credit_account_id == receivable),
            and_(LedgerTransfer.kind == TransferKind.REFUND, LedgerTransfer.debit_account_id == receivable))))
        # Commission legs as the seller's invoice finds them (including ledger events with no capture leg).
        for leg in seller_commission_legs(session, seller_org_id, start, end):
            sums[(china_day(leg.at).isoformat(), TransferKind.COMMISSION)] += leg.amount_fen
        orders_query = orders_query.where(Order.seller_org_id == seller_org_id)
    order_day = _day_of(Order.created_at, dialect)
    placed = {day_text: int(n) for day_text, n in session.execute(orders_query.group_by(order_day))}
    out = []
    for d in days:
        key = d.isoformat()
        net, commission = sums[(key, TransferKind.CAPTURE)], sums[(key, TransferKind.COMMISSION)]
        out.append(DayVolume(d, placed.get(key, 0), net + commission, commission, net,
                             sums[(key, TransferKind.REFUND)]))
    return out


# ---------------------------------------------------------------- utilization over time

@dataclass(frozen=True)
class UtilizationHistory:
    datacenter_id: uuid.UUID
    name: str
    stock_units: int  # now
    unit_seconds: list[int]  # per day: unit-seconds occupied by orders
    capacity_unit_seconds: list[int]  # per day: Σ stock units × seconds in stock, over the part of the day passed

    @property
    def ratios(self) -> list[float | None]:
        return [used / capacity if capacity else None
                for used, capacity in zip(self.unit_seconds, self.capacity_unit_seconds, strict=True)]


def occupied_seconds_per_day(intervals: list[tuple[int, dt.datetime, dt.datetime]], days: list[dt.date]
                             ) -> list[int]:
    """Σ units × seconds of overlap of each ``(units, start, end)`` interval with each of ``days`` (consecutive,
    oldest first), each day's sum rounded up to a whole unit-second (a product in stock for half a second today
    gives today some capacity). Pure; visits only the days an interval overlaps."""
    if not days:
        return []
    starts = [day_start(d) for d in days]
    bounds = list(zip(starts, [*starts[1:], day_start(days[-1] + dt.timedelta(days=1))], strict=True))
    microseconds = [0] * len(days)
    for units, start, end in intervals:
        for i in range(max(0, bisect_right(starts, start) - 1), len(days)):
            lo, hi = bounds[i]
            if lo >= end:
                break
            overlap = min(end, hi) - max(start, lo)
            if overlap > dt.timedelta(0):
                microseconds[i] += units * (overlap // dt.timedelta(microseconds=1))
    return [-(-total // 1_000_000) for total in microseconds]


def stock_intervals(changes: list[tuple[dt.datetime, int]], end: dt.datetime
                    ) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """The stock of a group of products over time, as ``(units, start, end)`` intervals up to ``end``, from the
    changes of their total ``(at, units added, negative if removed)`` (any order). None before the first. Pure."""
    deltas: dict[dt.datetime, int] = defaultdict(int)
    for at, delta in changes:
        deltas[at] += delta
    out = []
    total = 0
    times = sorted(deltas)
    for i, at in enumerate(times):
        total += deltas[at]
        stop = min(times[i + 1], end) if i + 1 < len(times) else end
        if total and stop > at:
            out.append((total, at, stop))
    return out


def utilization_history(session: Session, days: list[dt.date], now: dt.datetime, *,
                        owner_org_id: uuid.UUID | None = None, status: DatacenterStatus | None = None
                        ) -> list[UtilizationHistory]:
    """Per data center (of one owner, in one status, if asked) the share of its units occupied on each day."""
    if not days:
        return []
    start, end = day_start(days[0]), min(now, day_start(days[-1] + dt.timedelta(days=1)))
    dc_query = (select(Datacenter.id, Datacenter.name, func.coalesce(func.sum(Product.stock_units), 0))
                .outerjoin(Product, Product.datacenter_id == Datacenter.id)
                .group_by(Datacenter.id, Datacenter.name).order_by(Datacenter.name, Datacenter.id))
    if owner_org_id is not None:
        dc_query = dc_query.where(Datacenter.owner_org_id == owner_org_id)
    if status is not None:
        dc_query = dc_query.where(Datacenter.status == status)
    datacenters = session.execute(dc_query).all()
    intervals: dict[uuid.UUID, list[tuple[int, dt.datetime, dt.datetime]]] = defaultdict(list)
    ids = [dc_id for dc_id, _, _ in datacenters]
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(Order.datacenter_id, Order.units, Order.mode, Order.started_at, Order.ended_at, Order.ends_at)
            .where(Order.datacenter_id.in_(ids[i:i + 500]), Order.started_at.is_not(None), Order.started_at < end,
                   or_(Order.ended_at.is_(None), Order.ended_at > start)))
        for dc_id, units, mode, started_at, ended_at, ends_at in rows:
            stop = ended_at or now
            if mode is OrderMode.RESERVED and ends_at is not None:
                stop = min(stop, ends_at)
            intervals[dc_id].append((int(units), started_at, min(stop, end)))
    # Each stock change as a change of its data center's total (the product's new stock less its previous one).
    previous = func.lag(ProductStockChange.stock_units).over(partition_by=ProductStockChange.product_id,
                                                             order_by=(ProductStockChange.at, ProductStockChange.id))
    changes: dict[uuid.UUID, list[tuple[dt.datetime, int]]] = defaultdict(list)
    for i in range(0, len(ids), 500):
        each = (select(Product.datacenter_id.label("datacenter_id"), ProductStockChange.at.label("at"),
                       (ProductStockChange.stock_units - func.coalesce(previous, 0)).label("delta"))
                .join(Product, Product.id == ProductStockChange.product_id)
                .where(Product.datacenter_id.in_(ids[i:i + 500]), ProductStockChange.at < end).subquery())
        rows = session.execute(select(each.c.datacenter_id, each.c.at, func.sum(each.c.delta))
                               .group_by(each.c.datacenter_id, each.c.at))
        for dc_id, at, delta in rows:
            changes[dc_id].append((at, int(delta)))
    return [UtilizationHistory(dc_id, name, int(stock), occupied_seconds_per_day(intervals[dc_id], days),
                               occupied_seconds_per_day(stock_intervals(changes[dc_id], end), days))
            for dc_id, name, stock in datacenters]


# ---------------------------------------------------------------- money paid in

@dataclass(frozen=True)
class TopupEntry:
    reference: str
    amount_fen: int
    at: dt.datetime
    organization_name: str


def recent_topups(session: Session, limit: int = 20) -> list[TopupEntry]:
    """The latest top-ups of every buyer organization, newest first."""
    rows = session.execute(
        select(LedgerTransfer.ref, LedgerTransfer.amount_fen, LedgerTransfer.created_at, Organization.name)
        .join(LedgerAccount, LedgerAccount.id == LedgerTransfer.credit_account_id)
        .join(Organization, Organization.id == LedgerAccount.owner_org_id)
        .where(LedgerTransfer.kind == TransferKind.TOPUP)
        .order_by(LedgerTransfer.seq.desc()).limit(limit))
    return [TopupEntry(ref.split(":", 1)[-1], int(amount), at, name) for ref, amount, at, name in rows]
