"""Summary statistics of prices in fen, computed exactly (no float) and rounded half-up to a fen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from suanli.core.money import round_fen
from decimal import Decimal


@dataclass(frozen=True)
class PriceSummary:
    count: int
    min: int
    q1: int
    median: int
    q3: int
    max: int


def quantile_fen(sorted_prices: Sequence[int], q: Fraction) -> int:
    """The q-quantile with linear interpolation between order statistics (like numpy's default, 'linear')."""
    if not sorted_prices:
        raise ValueError("no prices")
    position = q * (len(sorted_prices) - 1)
    low = int(position)
    frac = position - low
    if frac == 0:
        return sorted_prices[low]
    value = sorted_prices[low] + (sorted_prices[low + 1] - sorted_prices[low]) * frac
    return round_fen(Decimal(value.numerator) / Decimal(value.denominator))


def summarize(prices: Sequence[int]) -> PriceSummary:
    data = sorted(prices)
    return PriceSummary(
        count=len(data), min=data[0], q1=quantile_fen(data, Fraction(1, 4)), median=quantile_fen(data, Fraction(1, 2)),
        q3=quantile_fen(data, Fraction(3, 4)), max=data[-1],
    )
