"""The demo's price history and unmet demand: 30 days of daily price-index snapshots, guidance prices for the
most offered chips, and a month of searches that found nothing (scarce chips the demo network does not offer), so
the price index page and the seller's demand page have something to show when the demo opens.

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
from suanli.demand.service import record_search_miss
from suanli.trading.reports import china_day

SEED = 17
DAYS = 30
SCARCE = ("h200", "h100", "h800", "h20", "ascend-910b3")
GUIDED_CHIPS = 3


@dataclass
class DemandHistoryReport:
    snapshots: int = 0
    guidance_prices: int = 0
    searches: int = 0


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
    return report
