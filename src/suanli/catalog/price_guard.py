"""Sellers guarded from price mistakes: a price far from its chip's price index, or a reserved month cheaper than a
few hundred on-demand hours, is refused (422 ``price_needs_confirmation``, with the reference figures and the checks
that failed) unless the seller confirms it; a confirmed one is flagged on the product for operators."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import Datacenter, Product
from suanli.catalog.price_index import price_index
from suanli.core.money import fen_to_cny
from suanli.core.price_guard import CHECK_FIELDS, GuardedPrices, GuardThresholds, unusual_price_checks
from suanli.core.price_stats import PriceSummary
from suanli.errors import InvalidInput
from suanli.trading.models import (DEFAULT_PRICE_GUARD_HIGH_PCT, DEFAULT_PRICE_GUARD_LOW_PCT,
                                   DEFAULT_PRICE_GUARD_MIN_RESERVED_HOURS, PlatformSettings)

_CHECK_WORDS = {
    "on_demand_below_index": "the on-demand price per accelerator-hour is below {low}% of the median",
    "on_demand_above_index": "the on-demand price per accelerator-hour is above {high}% of the median",
    "spot_below_index": "the spot floor per accelerator-hour is below {low}% of the median",
    "reserved_below_on_demand_hours": "the reserved month costs less than {hours} hours at the on-demand price",
}


def guard_thresholds(session: Session) -> GuardThresholds:
    """The operator's thresholds (the defaults before the settings row exists)."""
    row = session.get(PlatformSettings, 1)
    if row is None:
        return GuardThresholds(DEFAULT_PRICE_GUARD_LOW_PCT, DEFAULT_PRICE_GUARD_HIGH_PCT,
                               DEFAULT_PRICE_GUARD_MIN_RESERVED_HOURS)
    return GuardThresholds(row.price_guard_low_pct, row.price_guard_high_pct, row.price_guard_min_reserved_hours)


def chip_reference(session: Session, chip_key: str | None, excluding: uuid.UUID | None = None) -> PriceSummary | None:
    """The chip's price index (listed on-demand prices per accelerator-hour), without the product ``excluding``."""
    if chip_key is None:
        return None
    rows = price_index(session, chip=chip_key, excluding=excluding)
    return rows[0][2] if rows else None


def _money(fen: int) -> dict[str, Any]:
    return {"fen": fen, "cny": str(fen_to_cny(fen))}


def confirmation_details(checks: list[str], reference: PriceSummary | None, thresholds: GuardThresholds,
                         prices: GuardedPrices) -> dict[str, Any]:
    """What a 422 ``price_needs_confirmation`` carries: the checks failed, the prices they are about, the
    reference (per accelerator-hour) and the thresholds."""
    return {
        "checks": checks, "fields": sorted({CHECK_FIELDS[c] for c in checks}),
        "reference": None if reference is None else {
            "unit": "on-demand CNY per accelerator-hour", "count": reference.count, "q1": _money(reference.q1),
            "median": _money(reference.median), "q3": _money(reference.q3)},
        "thresholds": {"low_pct": thresholds.low_pct, "high_pct": thresholds.high_pct,
                       "min_reserved_hours": thresholds.min_reserved_hours},
        "accelerators": prices.accelerators,
        "confirm_with": {"confirm_unusual_price": True}}


def guard_prices(session: Session, product: Product, *, confirmed: bool, now: dt.datetime) -> None:
    """Check ``product``'s prices (as about to be saved); raise 422 ``price_needs_confirmation`` when some are
    unusual and not ``confirmed``; else flag the product with the checks confirmed past (or clear the flag)."""
    thresholds = guard_thresholds(session)
    reference = chip_reference(session, product.chip_key, excluding=product.id)
    prices = GuardedPrices(accelerators=product.accelerators, on_demand_fen=product.price_on_demand_fen,
                           reserved_month_fen=product.price_reserved_month_fen,
                           spot_floor_fen=product.price_spot_floor_fen)
    checks = unusual_price_checks(prices, reference, thresholds)
    if checks and not confirmed:
        words = "; ".join(_CHECK_WORDS[c].format(low=thresholds.low_pct, high=thresholds.high_pct,
                                                 hours=thresholds.min_reserved_hours) for c in checks)
        median = f" (median ¥{fen_to_cny(reference.median)} per accelerator-hour)" if reference else ""
        raise InvalidInput(f"These prices are far from the market{median}: {words}. Check them (a monthly price is "
                           "per unit and month, an hourly one per unit and hour); if they are right, send the "
                           "request again with confirm_unusual_price: true.", code="price_needs_confirmation",
                           details=confirmation_details(checks, reference, thresholds, prices))
    product.unusual_price_checks = ",".join(checks) if checks else None
    product.unusual_price_at = now if checks else None


@dataclass(frozen=True)
class FlaggedProduct:
    product: Product
    datacenter: Datacenter
    checks: list[str]


def flagged_products(session: Session, limit: int = 200) -> list[FlaggedProduct]:
    """Products whose seller confirmed an unusual price, most recent first (for operators)."""
    rows = session.execute(select(Product, Datacenter).join(Datacenter, Datacenter.id == Product.datacenter_id)
                           .where(Product.unusual_price_checks.is_not(None))
                           .order_by(Product.unusual_price_at.desc(), Product.id).limit(limit))
    return [FlaggedProduct(p, d, (p.unusual_price_checks or "").split(",")) for p, d in rows]
