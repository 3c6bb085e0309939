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


@dataclass(frozen=True)
class PriceReview:
    """A product's prices (as about to be saved) against its chip's index and the operator's thresholds."""

    prices: GuardedPrices
    reference: PriceSummary | None
    thresholds: GuardThresholds
    checks: list[str]  # those failed; empty: nothing unusual

    def words(self) -> str:
        t = self.thresholds
        return "; ".join(_CHECK_WORDS[c].format(low=t.low_pct, high=t.high_pct, hours=t.min_reserved_hours)
                         for c in self.checks)

    def details(self) -> dict[str, Any]:
        return confirmation_details(self.checks, self.reference, self.thresholds, self.prices)


def review_prices(session: Session, product: Product, prices: GuardedPrices | None = None,
                  thresholds: GuardThresholds | None = None) -> PriceReview:
    """Review ``prices`` (default: the product's own) for ``product``; its own listing is not part of the index."""
    thresholds = thresholds or guard_thresholds(session)
    reference = chip_reference(session, product.chip_key, excluding=product.id)
    prices = prices or GuardedPrices(accelerators=product.accelerators, on_demand_fen=product.price_on_demand_fen,
                                     reserved_month_fen=product.price_reserved_month_fen,
                                     spot_floor_fen=product.price_spot_floor_fen)
    return PriceReview(prices, reference, thresholds, unusual_price_checks(prices, reference, thresholds))


def flag_prices(product: Product, checks: list[str], now: dt.datetime) -> None:
    """Flag the product for operators with the checks its seller confirmed past (or clear the flag)."""
    product.unusual_price_checks = ",".join(checks) if checks else None
    product.unusual_price_at = now if checks else None


def guard_prices(session: Session, product: Product, *, confirmed: bool, now: dt.datetime) -> None:
    """Check ``product``'s prices (as about to be saved); raise 422 ``price_needs_confirmation`` when some are
    unusual and not ``confirmed``; else flag the product with the checks confirmed past (or clear the flag)."""
    review = review_prices(session, product)
    if review.checks and not confirmed:
        reference = review.reference
        median = f" (median ¥{fen_to_cny(reference.median)} per accelerator-hour)" if reference else ""
        raise InvalidInput(f"These prices are far from the market{median}: {review.words()}. Check them (a monthly "
                           "price is per unit and month, an hourly one per unit and hour); if they are right, send "
                           "the request again with confirm_unusual_price: true.", code="price_needs_confirmation",
                           details=review.details())
    flag_prices(product, review.checks, now)


def guard_bulk_prices(reviews: list[tuple[Product, PriceReview]], *, confirmed: bool) -> None:
    """The price guard of a change to many products: the same checks and the same confirmation as one product's,
    all of them answered at once. Raises 422 ``price_needs_confirmation`` naming each unusual product (its checks,
    reference and thresholds as for one product) unless ``confirmed``."""
    unusual = [(product, review) for product, review in reviews if review.checks]
    if not unusual or confirmed:
        return
    checks = [c for c in CHECK_FIELDS if any(c in review.checks for _p, review in unusual)]
    names = "; ".join(f"{product.name}: {review.words()}" for product, review in unusual[:5])
    more = f" and {len(unusual) - 5} more" if len(unusual) > 5 else ""
    raise InvalidInput(f"{len(unusual)} of the {len(reviews)} products would have prices far from the market "
                       f"({names}{more}). Check them; if they are right, send the request again with "
                       "confirm_unusual_price: true.", code="price_needs_confirmation",
                       details={"checks": checks, "fields": sorted({CHECK_FIELDS[c] for c in checks}),
                                "products": [{"product_id": str(product.id), "name": product.name, **review.details()}
                                             for product, review in unusual],
                                "confirm_with": {"confirm_unusual_price": True}})


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
