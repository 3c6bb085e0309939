"""The demo's market history: 30 days of trading by a handful of demo buyer organizations, so that the consoles'
charts, invoices and the platform's figures have something to show when the demo opens.

Pure orchestration over the trading services, driven by a ``ManualClock`` moved forward through the past 30 days:
top-ups through the operator top-up service, orders placed, metered and released through ``place_order``,
``meter`` and ``release_order``, seller payouts through ``payout``. No ledger row is written by hand, so every
invariant the services keep holds (balanced trial balance, stock never oversold, holds matching open orders), and
every timestamp the reports read (orders' ``created_at``, ledger transfers' ``created_at``, usage records' ``at``,
``started_at``/``ended_at``) is the clock's time on the day it happened.

Deterministic: the schedule comes from a seeded ``random.Random`` and is laid out relative to ``now``, so loading
twice at the same ``now`` gives the same orders, charges and balances (fewer leases on weekend days: the pattern
follows the calendar). All leases end before ``now``
except a few left running on purpose (reserved terms, two on-demand leases and one spot lease). Two anchor tenants
hold a fifth to a half of the reservable stock of five data centers on one-month terms, so
utilization "now" looks like a working market's, while most data centers stay free for the real demo buyer.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import Datacenter, Product
from suanli.catalog.service import backdate_initial_stock
from suanli.core.billing import ManualClock
from suanli.core.ledger import seller_receivable
from suanli.errors import DomainError
from suanli.core.china_time import CHINA_TZ
from suanli.trading.ledger_store import ledger_store
from suanli.trading.metering import MeterRun, meter
from suanli.trading.models import Order, OrderMode, OrderStatus
from suanli.trading.schemas import OrderIn, PayoutIn, TopupIn
from suanli.trading.service import payout, place_order, platform_settings, release_order, topup

HISTORY_DAYS = 30
HISTORY_SEED = 20261128
HOUR = 3600
DAY = 24 * HOUR
MAX_HOURLY_FEN = 10_000  # leases are of products at most ¥100 per unit-hour on demand
MAX_RESERVED_MONTH_FEN = 300_000  # reserved terms of products at most ¥3,000 per unit-month
NO_LOGIN_PASSWORD_HASH = "!demo-history: no password, cannot log in"
"""Not an argon2 hash: ``verify_password`` refuses every password, so the history buyers never log in."""


@dataclass(frozen=True)
class HistoryBuyer:
    organization: str
    email: str
    display_name: str
    topups_fen: tuple[int, ...]  # the first on day 0, the next ones mid-month


HISTORY_BUYERS = (
    HistoryBuyer("中国科学技术大学类脑智能实验室", "brain-lab@demo.suanli.cn", "类脑智能实验室", (3_000_000, 2_000_000)),
    HistoryBuyer("合肥工业大学视觉计算实验室", "vision-lab@demo.suanli.cn", "视觉计算实验室", (2_000_000,)),
    HistoryBuyer("安徽大学自然语言处理课题组", "nlp-group@demo.suanli.cn", "自然语言处理课题组", (1_500_000, 1_000_000)),
    HistoryBuyer("合肥智语科技有限公司", "zhiyu@demo.suanli.cn", "智语科技", (5_000_000,)),
    HistoryBuyer("芜湖星图智能科技有限公司", "xingtu@demo.suanli.cn", "星图智能", (3_000_000, 3_000_000)),
    HistoryBuyer("蚌埠云帆数据科技有限公司", "yunfan@demo.suanli.cn", "云帆数据", (2_000_000,)),
    HistoryBuyer("安庆深思医疗影像科技有限公司", "shensi@demo.suanli.cn", "深思医疗影像", (2_500_000, 1_500_000)),
    HistoryBuyer("马鞍山灵犀机器人有限公司", "lingxi@demo.suanli.cn", "灵犀机器人", (2_000_000,)),
)
# Anchor tenants: companies that reserve a large share of some data centers for a term (what keeps a real
# platform's utilization up). Each tops up what its terms cost, right before placing them.
ANCHOR_BUYERS = (
    HistoryBuyer("安徽讯飞星海大模型科技有限公司", "xinghai@demo.suanli.cn", "星海大模型", ()),
    HistoryBuyer("长三角自动驾驶数据平台有限公司", "autodrive@demo.suanli.cn", "自动驾驶数据平台", ()),
)
ANCHOR_DATACENTERS = 5  # data centers with an anchor tenant
ANCHOR_SHARE_PERCENT = (20, 50)  # of each reservable product's stock there, on a one-month term (包月)


@dataclass
class HistoryReport:
    buyers: int = 0
    topups: int = 0
    orders: int = 0  # placed
    active_orders: int = 0  # still running now
    preempted: int = 0
    gmv_fen: int = 0  # charged − refunded over the history's orders
    payouts: int = 0
    skipped: int = 0  # leases the schedule wanted but the services refused (no stock, no money)


@dataclass(frozen=True)
class _Product:
    id: uuid.UUID
    seller_org_id: uuid.UUID
    stock_units: int
    on_demand_fen: int
    spot_floor_fen: int | None
    reserved_month_fen: int | None


@dataclass
class _Lease:
    buyer: User
    product: _Product
    mode: OrderMode
    units: int
    seconds: int | None  # None: still running now
    bid_fen: int | None = None
    term_months: int | None = None
    may_wait: bool = False  # placed even without free units: waits for preempted spot capacity
    order_id: uuid.UUID | None = None


@dataclass
class _Simulation:
    session: Session
    clock: ManualClock
    now: dt.datetime
    report: HistoryReport
    queue: list = field(default_factory=list)
    seq: int = 0
    order_ids: list[uuid.UUID] = field(default_factory=list)

    def at(self, when: dt.datetime, action: Callable[[], None]) -> None:
        if when < self.now:
            self.seq += 1
            heapq.heappush(self.queue, (when, self.seq, action))

    def run(self, progress: Callable[[int, int], None] | None) -> None:
        done = 0
        while self.queue:
            when, _seq, action = heapq.heappop(self.queue)
            self.clock.advance((when - self.clock.now()).total_seconds())
            action()
            done += 1
            if progress is not None and done % 100 == 0:
                progress(done, done + len(self.queue))
        if progress is not None:
            progress(done, done)

    # ---------------------------------------------------------------- leases

    def lease(self, lease: _Lease, when: dt.datetime) -> None:
        self.at(when, lambda: self._place(lease))

    def _place(self, lease: _Lease) -> None:
        free = self.session.execute(select(Product.stock_units - Product.allocated_units)
                                    .where(Product.id == lease.product.id)).scalar_one()
        if free < lease.units and not lease.may_wait:
            self.report.skipped += 1
            return
        body = OrderIn(product_id=lease.product.id, mode=lease.mode, units=lease.units,
                       term_months=lease.term_months, bid_hourly_fen=lease.bid_fen)
        try:
            # The history's leases are played as rented units (the charts need their money and stock), not as
            # machines: its buyers cannot log in, so no instance is started for them.
            order, _created = place_order(self.session, self.clock, lease.buyer, body, deliver_instances=False)
        except DomainError:
            self.report.skipped += 1
            return
        lease.order_id = order.id
        self.order_ids.append(order.id)
        self.report.orders += 1
        if order.status is OrderStatus.ACTIVE and lease.mode is not OrderMode.RESERVED:
            self._run_lease(lease, self.clock.now())

    def _run_lease(self, lease: _Lease, started: dt.datetime) -> None:
        """Meter a started per-second lease every hour, and release it after its seconds."""
        end = started + dt.timedelta(seconds=lease.seconds) if lease.seconds is not None else self.now
        tick = started + dt.timedelta(seconds=HOUR)
        while tick < end:
            self.at(tick, lambda: self.meter(lease.order_id))
            tick += dt.timedelta(seconds=HOUR)
        if lease.seconds is not None:
            self.at(end, lambda: self._release(lease))

    def meter(self, order_id: uuid.UUID | None) -> None:
        if order_id is not None:
            meter(self.session, order_id, self.clock.now(), MeterRun())

    def _release(self, lease: _Lease) -> None:
        status = self.session.scalar(select(Order.status).where(Order.id == lease.order_id))
        if status is OrderStatus.ACTIVE:  # not stopped by the meter (out of funds, preempted) before
            release_order(self.session, self.clock, lease.buyer, lease.order_id)

    # ---------------------------------------------------------------- a preemption

    def preemption(self, spot: _Lease, on_demand: _Lease, when: dt.datetime, notice_seconds: int) -> None:
        """A spot lease takes a product's whole stock; two hours later an on-demand order for it preempts it: the
        on-demand order waits (pending) until the notice runs out, then the meter ends the spot lease and starts
        the on-demand one."""
        self.lease(spot, when)
        demand_at = when + dt.timedelta(hours=2)
        self.lease(on_demand, demand_at)
        handover = demand_at + dt.timedelta(seconds=notice_seconds)

        def hand_over() -> None:
            self.meter(spot.order_id)  # preempted: billed to the end of its notice
            self.meter(on_demand.order_id)  # started now
            if self.session.scalar(select(Order.status).where(Order.id == on_demand.order_id)) is \
                    OrderStatus.ACTIVE:
                self._run_lease(on_demand, self.clock.now())
            if self.session.scalar(select(Order.status).where(Order.id == spot.order_id)) is OrderStatus.PREEMPTED:
                self.report.preempted += 1

        self.at(handover, hand_over)


def _history_buyers(session: Session, at: dt.datetime,
                    which: tuple[HistoryBuyer, ...] = HISTORY_BUYERS) -> list[User]:
    """The history's buyer organizations, each with one member who cannot log in (no password)."""
    users = []
    for buyer in which:
        user = session.scalar(select(User).where(User.email == buyer.email))
        if user is None:
            org = Organization(name=buyer.organization, kind=Role.BUYER, created_at=at)
            session.add(org)
            session.flush()
            user = User(email=buyer.email, display_name=buyer.display_name, password_hash=NO_LOGIN_PASSWORD_HASH,
                        role=Role.BUYER, organization_id=org.id, created_at=at)
            session.add(user)
            session.flush()
        users.append(user)
    return users


def _products(session: Session) -> list[_Product]:
    """Visible products (approved data centers) cheap enough to lease, in a stable order."""
    rows = session.execute(
        select(Product.id, Datacenter.owner_org_id, Product.stock_units, Product.price_on_demand_fen,
               Product.price_spot_floor_fen, Product.price_reserved_month_fen)
        .join(Datacenter, Datacenter.id == Product.datacenter_id)
        .where(Product.is_visible.is_(True), Product.stock_units >= 2,
               Product.price_on_demand_fen <= MAX_HOURLY_FEN)
        .order_by(Datacenter.name, Product.name, Product.id)).all()
    return [_Product(*row) for row in rows]


def _anchor_products(session: Session) -> dict[uuid.UUID, list[_Product]]:
    """Visible products sold as reserved terms, by data center (both in a stable order)."""
    rows = session.execute(
        select(Product.datacenter_id, Product.id, Datacenter.owner_org_id, Product.stock_units,
               Product.price_on_demand_fen, Product.price_spot_floor_fen, Product.price_reserved_month_fen)
        .join(Datacenter, Datacenter.id == Product.datacenter_id)
        .where(Product.is_visible.is_(True), Product.stock_units >= 4, Product.price_reserved_month_fen.is_not(None))
        .order_by(Datacenter.name, Product.name, Product.id)).all()
    by_datacenter: dict[uuid.UUID, list[_Product]] = {}
    for datacenter_id, *product in rows:
        by_datacenter.setdefault(datacenter_id, []).append(_Product(*product))
    return by_datacenter


def load_demo_history(session: Session, now: dt.datetime, *, seller_org_id: uuid.UUID | None = None,
                      progress: Callable[[int, int], None] | None = None) -> HistoryReport:
    """Play 30 days of trading up to ``now`` (see the module's docstring). ``seller_org_id``: the demo seller's
    organization, whose products get a larger share of the orders so its console has something to show.
    Meant for a database holding the demo network and nothing traded yet; the caller commits."""
    rng = random.Random(HISTORY_SEED)
    start = now - dt.timedelta(days=HISTORY_DAYS)
    backdate_initial_stock(session, start)  # the network was loaded just now; its stock counts for the whole month
    clock = ManualClock(start)
    report = HistoryReport()
    sim = _Simulation(session, clock, now, report)
    buyers = _history_buyers(session, start)
    report.buyers = len(buyers)
    products = _products(session)
    if not products:
        return report

    # Money in: every buyer tops up on day 0; some again mid-month (references demo-history-topup-N).
    topups = [(i, n, amount) for i, b in enumerate(HISTORY_BUYERS) for n, amount in enumerate(b.topups_fen)]
    for number, (i, n, amount) in enumerate(topups, start=1):
        when = start + dt.timedelta(minutes=5 * i) + dt.timedelta(days=13 * n, hours=9 * n)
        body = TopupIn(organization_id=buyers[i].organization_id, amount_fen=amount,
                       reference=f"demo-history-topup-{number}")
        sim.at(when, lambda body=body: topup(session, body, clock.now()))
    report.topups = len(topups)

    # The preemption: a spot lease holding a whole small product, taken back for on-demand demand on day 12.
    preempted_product = min((p for p in products if p.spot_floor_fen is not None), key=lambda p: p.stock_units,
                            default=None)
    leasable = [p for p in products if p is not preempted_product]
    own = [p for p in leasable if p.seller_org_id == seller_org_id]
    if preempted_product is not None:
        p = preempted_product
        spot = _Lease(buyers[3], p, OrderMode.SPOT, p.stock_units, 10 * HOUR, bid_fen=p.spot_floor_fen)
        demand = _Lease(buyers[0], p, OrderMode.ON_DEMAND, min(2, p.stock_units), 3 * HOUR, may_wait=True)
        sim.preemption(spot, demand, start + dt.timedelta(days=12, hours=2),
                       platform_settings(session).spot_notice_seconds)

    def pick_product() -> _Product:
        return rng.choice(own) if own and rng.random() < 0.3 else rng.choice(leasable)

    def per_second_lease(buyer: User, product: _Product, seconds: int | None) -> _Lease:
        units = min(rng.choice((1, 1, 1, 2, 2, 4)), max(1, product.stock_units // 3))
        if product.spot_floor_fen is not None and rng.random() < 0.3:
            spread = max(0, product.on_demand_fen - product.spot_floor_fen)
            bid = product.spot_floor_fen + rng.randint(0, spread // 2)
            return _Lease(buyer, product, OrderMode.SPOT, units, seconds, bid_fen=bid)
        return _Lease(buyer, product, OrderMode.ON_DEMAND, units, seconds)

    # Leases of a few hours, every day; more on weekdays. Each ends before now.
    for day in range(HISTORY_DAYS):
        weekday = (start + dt.timedelta(days=day)).astimezone(CHINA_TZ).weekday()
        for _ in range(rng.randint(7, 12) if weekday < 5 else rng.randint(3, 6)):
            buyer = rng.choice(buyers)
            offset = day * DAY + rng.randint(0, DAY - 1)
            seconds = rng.choice((1800, HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 8 * HOUR)) + rng.randint(0, 1800)
            lease = per_second_lease(buyer, pick_product(), seconds)
            if offset + seconds < HISTORY_DAYS * DAY - 600:  # ended ten minutes before now at the latest
                sim.lease(lease, start + dt.timedelta(seconds=offset))

    # Reserved terms, paid upfront, still running now (a 1-month term from day 3 on ends after now).
    reservable = [p for p in leasable if p.reserved_month_fen is not None
                  and p.reserved_month_fen <= MAX_RESERVED_MONTH_FEN]
    for day, term, buyer in ((3, 1, buyers[4]), (6, 1, buyers[3]), (16, 3, buyers[6])):
        if reservable:
            product = rng.choice(reservable)
            sim.lease(_Lease(buyer, product, OrderMode.RESERVED, 1, None, term_months=term),
                      start + dt.timedelta(days=day, hours=10))

    # Anchor tenants: in a few data centers, a fifth to a half of every reservable product's stock reserved for a
    # month, placed during the month (all still running now), each term topped up first.
    # Their own random stream: how many leases the daily loop above drew depends on the calendar (weekdays), and the
    # anchors (the month's largest orders) must not change with it, or the demo's figures move from day to day.
    anchor_rng = random.Random(HISTORY_SEED + 1)
    anchors = _history_buyers(session, start, ANCHOR_BUYERS)
    report.buyers += len(anchors)
    by_datacenter = _anchor_products(session)
    anchor_dcs = anchor_rng.sample(sorted(by_datacenter, key=str), min(ANCHOR_DATACENTERS, len(by_datacenter)))
    anchor_topups = [0]
    for n, datacenter_id in enumerate(anchor_dcs):
        tenant, day, term = anchors[n % len(anchors)], 2 + 5 * n, 1
        for product in by_datacenter[datacenter_id]:
            units = product.stock_units * anchor_rng.randint(*ANCHOR_SHARE_PERCENT) // 100
            if units < 1:
                continue
            anchor_topups[0] += 1
            body = TopupIn(organization_id=tenant.organization_id, amount_fen=units * product.reserved_month_fen * term,
                           reference=f"demo-history-anchor-topup-{anchor_topups[0]}")
            when = start + dt.timedelta(days=day, hours=9)
            sim.at(when, lambda body=body: topup(session, body, clock.now()))
            sim.lease(_Lease(tenant, product, OrderMode.RESERVED, units, None, term_months=term),
                      when + dt.timedelta(minutes=30))
    report.topups += anchor_topups[0]

    # A few leases still running now: two on demand, one spot.
    for hours_ago, buyer in ((3, buyers[0]), (2, buyers[4])):
        product = rng.choice(leasable)
        sim.lease(_Lease(buyer, product, OrderMode.ON_DEMAND, 1, None), now - dt.timedelta(hours=hours_ago))
    spot_ok = [p for p in leasable if p.spot_floor_fen is not None]
    if spot_ok:
        product = rng.choice(spot_ok)
        sim.lease(_Lease(buyers[3], product, OrderMode.SPOT, 1, None, bid_fen=product.spot_floor_fen),
                  now - dt.timedelta(hours=1, minutes=30))

    # Seller payouts on days 14 and 28: 80 % of the receivable (whole ¥100) of the demo seller and of the seller
    # owed most then.
    payout_number = [0]

    def pay_sellers() -> None:
        org_ids = dict.fromkeys(p.seller_org_id for p in products)  # in the products' stable order
        owed = {org_id: ledger_store.balance(session, seller_receivable(str(org_id))) for org_id in org_ids}
        chosen = [seller_org_id] if seller_org_id in owed else []
        chosen += [o for o in [max((o for o in owed if o not in chosen), key=owed.__getitem__, default=None)] if o]
        for org_id in chosen:
            amount = owed[org_id] * 8 // 10 // 10_000 * 10_000  # 80 %, in whole ¥100
            if amount > 0:
                payout_number[0] += 1
                payout(session, PayoutIn(organization_id=org_id, amount_fen=amount,
                                         reference=f"demo-history-payout-{payout_number[0]}"), clock.now())
                report.payouts += 1

    for day in (14, 28):
        sim.at(start + dt.timedelta(days=day, hours=11), pay_sellers)

    sim.run(progress)
    if sim.order_ids:
        active, gmv = session.execute(
            select(func.count().filter(Order.status == OrderStatus.ACTIVE),
                   func.coalesce(func.sum(Order.charged_fen - Order.refunded_fen), 0))
            .where(Order.buyer_org_id.in_([b.organization_id for b in [*buyers, *anchors]]))).one()
        report.active_orders, report.gmv_fen = int(active), int(gmv)
    return report
