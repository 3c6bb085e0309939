"""The price guard: which of a seller's prices are far enough from the market to need their explicit confirmation.

Pure: the caller brings the prices, the chip's price index (listed on-demand prices per accelerator-hour) and the
operator's thresholds. Amounts are integer fen; comparisons are exact (integer arithmetic, no rounding)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

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


BELOW = "below"
ABOVE = "above"


def side_of_band(price_fen: int, accelerators: int, reference_fen: int, low_pct: int, high_pct: int) -> str | None:
    """Where a price for ``accelerators`` accelerators per hour stands against a reference per accelerator-hour:
    ``BELOW`` under ``low_pct`` % of it, ``ABOVE`` over ``high_pct`` %, None within (the bounds included).
    Exact: price / accelerators is compared with reference × pct / 100 in integers. The rule of the price guard
    (against the index median) and of the guidance price (against the operator's price and band)."""
    if price_fen * 100 < reference_fen * low_pct * accelerators:
        return BELOW
    if price_fen * 100 > reference_fen * high_pct * accelerators:
        return ABOVE
    return None


@dataclass(frozen=True)
class Guidance:
    """The operator's guidance price per accelerator-hour (fen) and the band around it (± ``band_pct`` %)."""

    price_fen: int
    band_pct: int

    def side(self, price_fen: int, accelerators: int) -> str | None:
        """``BELOW``/``ABOVE`` when ``price_fen`` (for ``accelerators``, per hour) is outside the band, else None."""
        if accelerators < 1:
            return None
        return side_of_band(price_fen, accelerators, self.price_fen, 100 - self.band_pct, 100 + self.band_pct)

    def deviation_pct(self, price_fen: int, accelerators: int) -> Decimal:
        """How far the price per accelerator-hour is from the guidance price, in % of it (one decimal, half-up)."""
        ratio = Decimal(price_fen * 100) / Decimal(self.price_fen * accelerators) - 100
        return ratio.quantize(Decimal("0.1"), ROUND_HALF_UP)


def unusual_price_checks(prices: GuardedPrices, index: PriceSummary | None,
                         thresholds: GuardThresholds) -> list[str]:
    """The checks ``prices`` fail. Against the index only for an accelerator product whose chip has one; the
    reserved month against the product's own on-demand price always. An index whose median rounds to 0 fen is no
    reference (every price would be "above" it)."""
    failed: list[str] = []
    if index is not None and index.median > 0 and prices.accelerators > 0:
        def side(fen: int) -> str | None:
            return side_of_band(fen, prices.accelerators, index.median, thresholds.low_pct, thresholds.high_pct)

        on_demand = side(prices.on_demand_fen)
        if on_demand == BELOW:
            failed.append(ON_DEMAND_BELOW_INDEX)
        if on_demand == ABOVE:
            failed.append(ON_DEMAND_ABOVE_INDEX)
        if prices.spot_floor_fen is not None and side(prices.spot_floor_fen) == BELOW:
            failed.append(SPOT_BELOW_INDEX)
    if (prices.reserved_month_fen is not None
            and prices.reserved_month_fen < prices.on_demand_fen * thresholds.min_reserved_hours):
        failed.append(RESERVED_BELOW_ON_DEMAND_HOURS)
    return failed
