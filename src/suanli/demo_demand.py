"""The demo's price history and unmet demand: 30 days of daily price-index snapshots, guidance prices for the
most offered chips, a month of searches that found nothing (scarce chips the demo network does not offer), and
three open requests for quotes (询价) from history buyers, two of them for chips nobody lists, so the price index
page, the seller's demand page and the open requests a seller can quote on (pre-sale) have something to show when
the demo opens.

Deterministic (a seeded ``random.Random``, laid out relative to ``now``). Snapshots of past days are today's index
scaled per chip along a trend (imported chips a few per cent cheaper a month ago, domestic ones dearer: the
direction the market moved in 2025-26) with a little daily noise; quartiles keep their order. Today's snapshot
is the real one (``take_snapshot``). Searches are recorded through ``record_search_miss``, as real ones are.
Guidance prices are published through the service as the demo operator (so they are in the audit trail).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.accounts.models import Role, User
from suanli.catalog.models import ChipModel, Product
from suanli.catalog.price_history import DEFAULT_BAND_PCT, publish_guidance, snapshot_row, take_snapshot
from suanli.catalog.price_index import price_index
from suanli.core.money import round_fen
from suanli.core.price_stats import PriceSummary
from suanli.core.query import Condition
from suanli.core.rfq import BillingMode, contract_value_fen
from suanli.demand.service import record_search_miss
from suanli.quotes.schemas import RequestIn
from suanli.quotes.service import post_request
from suanli.trading.reports import china_day
from suanli.trading.schemas import TopupIn
from suanli.trading.service import topup

SEED = 17
DAYS = 30
SCARCE = ("h200", "h100", "h800", "h20", "ascend-910b3")
GUIDED_CHIPS = 3


@dataclass
class DemandHistoryReport:
    snapshots: int = 0
    guidance_prices: int = 0
    searches: int = 0
    requests: int = 0


@dataclass(frozen=True)
class DemoRequest:
    buyer_email: str  # a history buyer (suanli.demo_history.HISTORY_BUYERS)
    title: str
    chip: str | None
    min_fp16_tflops: float | None
    min_memory_gib: int | None
    units: int
    billing_mode: BillingMode
    term_months: int | None
    term_hours: int | None
    start_in_days: tuple[int, int]  # earliest and latest start, days from now
    max_unit_price_fen: int
    auction_days: int | None  # a reverse auction closing this many days from now


DEMO_REQUESTS = (
    DemoRequest("brain-lab@demo.suanli.cn", "类脑模型预训练：8卡 H100 服务器 2 台包月，接受预售", "h100", None, None,
                2, BillingMode.RESERVED, 1, None, (14, 40), 10_500_000, None),
    DemoRequest("zhiyu@demo.suanli.cn", "推理服务扩容：昇腾 910B 8卡服务器 1 台包 3 个月，反向竞价", "ascend-910b3",
                None, None, 1, BillingMode.RESERVED, 3, None, (10, 30), 4_800_000, 5),
    DemoRequest("shensi@demo.suanli.cn", "医学影像分割训练：每卡 ≥300 TFLOPS、≥64 GiB，8 卡 240 小时", None, 300.0, 64,
                1, BillingMode.ON_DEMAND, None, 240, (3, 21), 9_000, None),
)
"""Open requests for quotes in the demo (every price in fen: per unit-month reserved, per unit-hour on demand).
Each buyer tops up its budget first, as a buyer does before posting."""


def _scaled(s: PriceSummary, factor: Decimal, offers: int) -> PriceSummary:
    def f(fen: int) -> int:
        return max(1, round_fen(fen * factor))

    return PriceSummary(offers, f(s.min), f(s.q1), f(s.median), f(s.q3), f(s.max))


def load_demand_history(session: Session, now: dt.datetime) -> DemandHistoryReport:
    rng = random.Random(SEED)
    report = DemandHistoryReport()
    index = [(chip, s) for chip, _p, s in price_index(session)]
    for days_ago in range(DAYS - 1, 0, -1):
        when = now - dt.timedelta(days=days_ago)
        for chip, s in index:
            trend = Decimal("0.08") if chip.domestic else Decimal("-0.06")  # a month ago, relative to today
            factor = 1 + trend * days_ago / DAYS + Decimal(rng.randint(-15, 15)) / 1000
            offers = max(1, s.count - rng.randint(0, 2) * days_ago // 10)
            session.add(snapshot_row(china_day(when), chip.key,
                                     _scaled(s, factor, offers), when))
            report.snapshots += 1
    _day, today = take_snapshot(session, now)
    report.snapshots += today

    operator = session.scalar(select(User).where(User.role == Role.OPERATOR).order_by(User.created_at))
    if operator is not None:
        for chip, s in sorted(index, key=lambda r: -r[1].count)[:GUIDED_CHIPS]:
            guidance = max(50, round_fen(Decimal(s.median) / 50) * 50)  # the median to the nearest ¥0.50
            publish_guidance(session, operator, chip.key, guidance, DEFAULT_BAND_PCT,
                             "演示：按近30日挂牌中位数", now)
            report.guidance_prices += 1

    listed = set(session.scalars(select(Product.chip_key).where(Product.is_visible.is_(True)).distinct()))
    known = set(session.scalars(select(ChipModel.key)))
    scarce = [k for k in SCARCE if k in known and k not in listed]
    provinces = ["安徽"]
    for days_ago in range(DAYS - 1, -1, -1):
        when = now - dt.timedelta(days=days_ago, hours=rng.randint(0, 8))
        for _n in range(rng.choice((0, 1, 1, 2, 3, 4))):
            chip = rng.choice(scarce) if scarce else None
            if chip is None:
                break
            conditions = [Condition("chip", "=", (chip,)),
                          Condition("accelerators", ">=", (rng.choice((1, 8, 8, 16)),))]
            if rng.random() < 0.5:
                conditions.append(Condition("province", "=", (rng.choice(provinces),)))
            record_search_miss(session, conditions, when)
            report.searches += 1
    session.flush()
    report.requests = post_demo_requests(session, now)
    return report


def post_demo_requests(session: Session, now: dt.datetime) -> int:
    """Post :data:`DEMO_REQUESTS` through the service, as their buyers would (each tops up the budget it freezes,
    reference ``demo-rfq-<n>``). Buyers who are not in the database are skipped. Returns how many were posted."""
    posted = 0
    for n, r in enumerate(DEMO_REQUESTS, start=1):
        buyer = session.scalar(select(User).where(User.email == r.buyer_email))
        if buyer is None:
            continue
        earliest, latest = (now + dt.timedelta(days=d) for d in r.start_in_days)
        # what post_request freezes (rfq.budget_fen): the term at the maximum unit price
        budget = contract_value_fen(r.billing_mode, r.max_unit_price_fen, r.units, r.term_months, r.term_hours)
        body = RequestIn(title=r.title, chip=r.chip, min_fp16_tflops=r.min_fp16_tflops, min_memory_gib=r.min_memory_gib,
                         accelerators=8, units=r.units, billing_mode=r.billing_mode, term_months=r.term_months,
                         term_hours=r.term_hours, earliest_start=earliest, latest_start=latest, province="安徽",
                         max_unit_price_fen=r.max_unit_price_fen,
                         auction_closes_at=now + dt.timedelta(days=r.auction_days) if r.auction_days else None)
        topup(session, TopupIn(organization_id=buyer.organization_id, amount_fen=budget,
                               reference=f"demo-rfq-{n}"), now)
        post_request(session, now, buyer, body)
        posted += 1
    return posted
