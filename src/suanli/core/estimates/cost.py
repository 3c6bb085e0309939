"""Cost of an estimate in integer fen.

Cost
    :func:`cost_fen` multiplies hours by an integer fen-per-hour price in ``Decimal`` and rounds half
    up to a whole fen once (:func:`suanli.core.money.round_fen`); money never passes through float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from suanli.core.estimates.result import Estimate
from suanli.core.money import round_fen

@dataclass(frozen=True)
class CostRange:
    """Integer fen for the low, central and high hour estimates."""

    low: int
    central: int
    high: int


def cost_fen(hours: float, price_per_hour_fen: int) -> int:
    """``hours x price_per_hour_fen`` in whole fen, rounded half up once.

    ``price_per_hour_fen`` is the price of the whole allocation per hour (integer fen). ``hours`` is
    converted with ``Decimal(repr(hours))`` (its shortest exact decimal form), so no float money.
    """
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not (
            math.isfinite(hours) and hours >= 0):
        raise ValueError(f"hours: must be a finite number >= 0, got {hours!r}")
    price = price_per_hour_fen
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise ValueError(f"price_per_hour_fen: must be a whole number of fen >= 0, got {price!r}")
    return round_fen(Decimal(repr(hours)) * price_per_hour_fen)


def cost_range_fen(est: Estimate, price_per_hour_fen: int) -> CostRange:
    """Cost of an estimate's low / central / high hours at ``price_per_hour_fen``."""
    if est.hours is None or est.hours_low is None or est.hours_high is None:
        raise ValueError("hours: this estimate has no duration (inference is priced per hour of serving)")
    return CostRange(
        low=cost_fen(est.hours_low, price_per_hour_fen),
        central=cost_fen(est.hours, price_per_hour_fen),
        high=cost_fen(est.hours_high, price_per_hour_fen),
    )
