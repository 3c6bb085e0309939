"""The price guard: which of a seller's prices are far enough from the market to need their explicit confirmation.

Pure: the caller brings the prices, the chip's price index (listed on-demand prices per accelerator-hour) and the
operator's thresholds. Amounts are integer fen; comparisons are exact (integer arithmetic, no rounding)."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.core.price_stats import PriceSummary


@dataclass(frozen=True)
class GuardThresholds:
    low_pct: int  # below this % of the index median (per accelerator-hour): unusual
    high_pct: int  # above this % of the median: unusual
    min_reserved_hours: int  # a reserved month cheaper than this many on-demand hours: unusual


@dataclass(frozen=True)
class GuardedPrices:
    accelerators: int
    on_demand_fen: int
    reserved_month_fen: int | None
    spot_floor_fen: int | None


# The checks, in the order they are reported; each names the price it is about.
ON_DEMAND_BELOW_INDEX = "on_demand_below_index"
ON_DEMAND_ABOVE_INDEX = "on_demand_above_index"
SPOT_BELOW_INDEX = "spot_below_index"
RESERVED_BELOW_ON_DEMAND_HOURS = "reserved_below_on_demand_hours"
CHECK_FIELDS = {ON_DEMAND_BELOW_INDEX: "price_on_demand_fen", ON_DEMAND_ABOVE_INDEX: "price_on_demand_fen",
                SPOT_BELOW_INDEX: "price_spot_floor_fen",
                RESERVED_BELOW_ON_DEMAND_HOURS: "price_reserved_month_fen"}


def unusual_price_checks(prices: GuardedPrices, index: PriceSummary | None,
                         thresholds: GuardThresholds) -> list[str]:
    """The checks ``prices`` fail. Against the index only for an accelerator product whose chip has one; the
    reserved month against the product's own on-demand price always. An index whose median rounds to 0 fen is no
    reference (every price would be "above" it)."""
    failed: list[str] = []
    if index is not None and index.median > 0 and prices.accelerators > 0:
        # per accelerator-hour: price / accelerators compared with median × pct / 100, in integers
        def below(fen: int) -> bool:
            return fen * 100 < index.median * thresholds.low_pct * prices.accelerators

        if below(prices.on_demand_fen):
            failed.append(ON_DEMAND_BELOW_INDEX)
        if prices.on_demand_fen * 100 > index.median * thresholds.high_pct * prices.accelerators:
            failed.append(ON_DEMAND_ABOVE_INDEX)
        if prices.spot_floor_fen is not None and below(prices.spot_floor_fen):
            failed.append(SPOT_BELOW_INDEX)
    if (prices.reserved_month_fen is not None
            and prices.reserved_month_fen < prices.on_demand_fen * thresholds.min_reserved_hours):
        failed.append(RESERVED_BELOW_ON_DEMAND_HOURS)
    return failed
