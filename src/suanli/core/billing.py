"""Billing arithmetic for the three modes, in integer fen and whole seconds. Never float.

On-demand (按需)
    N units of a product at ``price_per_hour_fen`` per unit-hour, billed per second from start until
    release. Before start the wallet must cover one hour (``minimum_prepay_fen``), which is held. While
    the lease runs, a meter reads it periodically (``read_on_demand``): the buyer is warned when the money
    left covers less than ``warn_hours``, and the lease is stopped while the money left still covers the
    stop margin, so the balance never goes negative.

Reserved (包月/包年)
    N units for 1, 3, 6 or 12 months, paid upfront: ``reserved_price`` with the seller's per-term discount
    in basis points. The lease ends ``reserved_end(start, term)``.

Spot (闲时/竞价)
    A bid per unit-hour at or above the seller's floor (``check_spot_bid``), billed per second at the bid
    like on-demand. When on-demand or reserved demand needs the capacity the lease is preempted with a
    notice; the buyer pays until it actually stops, but never past the end of the notice period
    (``spot_charge_seconds``).

Rounding (all half-up to a whole fen, in exact integer arithmetic, equal to ``money.round_fen``)
    - Per-second charges: ``charge_for_seconds(price, units, s) = round_half_up(price × units × s / 3600)``.
      A lease's charge is always computed on its CUMULATIVE elapsed seconds,
      ``charge_so_far = charge_for_seconds(price, units, total_seconds)``, and what is billed at a meter
      reading is the difference from the previous reading (``charge_increment``). The increments of any
      partition of a lease telescope to the charge on the total, so rounding never drifts.
    - Elapsed time is floored to whole seconds (a started second is not billed until it has passed).
    - Reserved prices are rounded once, on the whole order.
    - The commission split is in ``suanli.core.ledger`` (``commission_fen``, ``split_commission``).

Prices are fixed for the life of a lease (snapshotted when ordered). Time-dependent logic takes a
``Clock``; use timezone-aware UTC datetimes.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from suanli.core.ledger import BP_PER_ONE

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
RESERVED_TERMS_MONTHS = (1, 3, 6, 12)
MINIMUM_PREPAY_SECONDS = SECONDS_PER_HOUR  # an on-demand lease starts only if the wallet covers one hour


# --- clocks ----------------------------------------------------------------------------------------------

class Clock(Protocol):
    """Source of the current time. Production uses ``SystemClock``; tests use ``FixedClock``/``ManualClock``."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """Always ``at``."""

    at: datetime

    def now(self) -> datetime:
        return self.at


class ManualClock:
    """Starts at ``start`` and moves only when told to (``advance``)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: int | float) -> datetime:
        """Move forward ``seconds`` (≥ 0; time does not go back) and return the new now."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        self._now += timedelta(seconds=seconds)
        return self._now


# --- validation and exact rounding -----------------------------------------------------------------------

def _int(name: str, value: int, minimum: int | None = 0) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _div_half_up(numerator: int, denominator: int) -> int:
    """round_half_up(numerator / denominator) for numerator ≥ 0, denominator > 0, exactly."""
    return (2 * numerator + denominator) // (2 * denominator)


def elapsed_seconds(started: datetime, now: datetime) -> int:
    """Whole seconds from ``started`` to ``now``, floored; ValueError if ``now`` is before ``started``."""
    delta = now - started
    if delta < timedelta(0):
        raise ValueError(f"{now.isoformat()} is before {started.isoformat()}")
    return delta // timedelta(seconds=1)


# --- per-second charges (on-demand and spot) -------------------------------------------------------------

def charge_for_seconds(price_per_hour_fen: int, units: int, seconds: int) -> int:
    """Charge in fen for ``units`` units at ``price_per_hour_fen`` per unit-hour over ``seconds`` seconds:
    round_half_up(price × units × seconds / 3600).

    Call it with a lease's CUMULATIVE elapsed seconds; bill differences (``charge_increment``).
    """
    _int("price_per_hour_fen", price_per_hour_fen)
    _int("units", units, 1)
    _int("seconds", seconds)
    return _div_half_up(price_per_hour_fen * units * seconds, SECONDS_PER_HOUR)


def charge_increment(price_per_hour_fen: int, units: int, from_seconds: int, to_seconds: int) -> int:
    """Fen to bill for a lease's elapsed time moving from ``from_seconds`` to ``to_seconds`` (cumulative):
    ``charge_for_seconds(to) − charge_for_seconds(from)``, ≥ 0."""
    if to_seconds < from_seconds:
        raise ValueError(f"to_seconds {to_seconds} is before from_seconds {from_seconds}")
    return (charge_for_seconds(price_per_hour_fen, units, to_seconds)
            - charge_for_seconds(price_per_hour_fen, units, from_seconds))


def seconds_affordable(balance_fen: int, price_per_hour_fen: int, units: int) -> int:
    """The longest whole number of seconds whose charge is ≤ ``balance_fen`` (fen ≥ 0, price > 0).

    charge(s) ≤ B  ⇔  price × units × s / 3600 < B + ½  ⇔  s < 3600 (2B + 1) / (2 × price × units).
    """
    _int("balance_fen", balance_fen)
    _int("price_per_hour_fen", price_per_hour_fen, 1)
    _int("units", units, 1)
    return (SECONDS_PER_HOUR * (2 * balance_fen + 1) - 1) // (2 * price_per_hour_fen * units)


def burn_per_hour_fen(price_per_hour_fen: int, units: int) -> int:
    """What a running lease costs per hour, fen."""
    return charge_for_seconds(price_per_hour_fen, units, SECONDS_PER_HOUR)


def minimum_prepay_fen(price_per_hour_fen: int, units: int) -> int:
    """What the wallet must cover (and what is held) before an on-demand lease starts: one hour, fen."""
    return charge_for_seconds(price_per_hour_fen, units, MINIMUM_PREPAY_SECONDS)


def can_start_on_demand(available_fen: int, price_per_hour_fen: int, units: int) -> bool:
    """True when ``available_fen`` covers the minimum prepayment."""
    return _int("available_fen", available_fen, None) >= minimum_prepay_fen(price_per_hour_fen, units)


def low_balance(balance_fen: int, burn_per_hour_fen: int, warn_hours: int = 1) -> bool:
    """True when ``balance_fen`` covers less than ``warn_hours`` hours at ``burn_per_hour_fen`` fen/hour."""
    _int("balance_fen", balance_fen, None)
    _int("burn_per_hour_fen", burn_per_hour_fen)
    _int("warn_hours", warn_hours)
    return balance_fen < burn_per_hour_fen * warn_hours


@dataclass(frozen=True)
class OnDemandReading:
    """One meter reading of a running per-second lease (on-demand, or spot at its bid)."""

    elapsed_seconds: int  # whole seconds since start
    charge_fen: int  # cumulative charge for elapsed_seconds
    increment_fen: int  # to bill now: charge_fen − what was charged before
    remaining_fen: int  # spendable money left after billing the increment (negative: overrun)
    seconds_left: int  # further seconds the remaining money covers (0 when overrun)
    low_balance: bool  # warn the buyer: remaining covers less than warn_hours
    must_stop: bool  # stop the lease now: seconds_left ≤ stop_margin_seconds


def read_on_demand(*, price_per_hour_fen: int, units: int, started: datetime, clock: Clock, charged_fen: int,
                   spendable_fen: int, warn_hours: int = 1, stop_margin_seconds: int = SECONDS_PER_MINUTE
                   ) -> OnDemandReading:
    """Read a per-second lease's meter at ``clock.now()``.

    ``charged_fen``: what was billed to this lease so far (the cumulative charge at the previous reading).
    ``spendable_fen``: what the buyer can still pay right now, before this reading's increment (normally the
    lease's open hold plus the wallet's available balance), fen.
    The lease can run until ``seconds_affordable(charged + spendable)`` elapsed seconds; it must stop when
    no more than ``stop_margin_seconds`` of that is left. Choose a margin of at least the metering interval
    plus the time it takes to stop, and the balance never goes negative.
    """
    _int("charged_fen", charged_fen)
    _int("spendable_fen", spendable_fen)
    _int("stop_margin_seconds", stop_margin_seconds)
    elapsed = elapsed_seconds(started, clock.now())
    charge = charge_for_seconds(price_per_hour_fen, units, elapsed)
    if charge < charged_fen:
        raise ValueError(f"already charged {charged_fen} fen, more than the {charge} fen for {elapsed} s")
    increment = charge - charged_fen
    remaining = spendable_fen - increment
    seconds_left = max(0, seconds_affordable(charged_fen + spendable_fen, price_per_hour_fen, units) - elapsed)
    return OnDemandReading(
        elapsed_seconds=elapsed, charge_fen=charge, increment_fen=increment, remaining_fen=remaining,
        seconds_left=seconds_left,
        low_balance=low_balance(remaining, burn_per_hour_fen(price_per_hour_fen, units), warn_hours),
        must_stop=seconds_left <= stop_margin_seconds,
    )


# --- reserved --------------------------------------------------------------------------------------------

def _term(term_months: int) -> int:
    if type(term_months) is not int or term_months not in RESERVED_TERMS_MONTHS:
        raise ValueError(f"a reserved term is 1, 3, 6 or 12 months, not {term_months!r}")
    return term_months


def reserved_price(monthly_fen_per_unit: int, units: int, term_months: int, discounts_bp: Mapping[int, int]) -> int:
    """Upfront price in fen of ``units`` units for ``term_months`` months at ``monthly_fen_per_unit``:
    round_half_up(monthly × units × term × (10000 − discount_bp) / 10000).

    ``discounts_bp`` maps a term (1, 3, 6 or 12) to the seller's discount for it in basis points
    (0 ≤ bp < 10000); a term not in it has no discount.
    """
    _int("monthly_fen_per_unit", monthly_fen_per_unit)
    _int("units", units, 1)
    _term(term_months)
    for term, bp in discounts_bp.items():
        _term(term)
        if type(bp) is not int or not 0 <= bp < BP_PER_ONE:
            raise ValueError(f"the discount for {term} months must be 0 to {BP_PER_ONE - 1} basis points, "
                             f"not {bp!r}")
    discount = discounts_bp.get(term_months, 0)
    return _div_half_up(monthly_fen_per_unit * units * term_months * (BP_PER_ONE - discount), BP_PER_ONE)


def add_months(start: datetime, months: int) -> datetime:
    """``start`` plus calendar months, the day clamped to the month's length (Jan 31 + 1 → Feb 28/29)."""
    _int("months", months)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def reserved_end(start: datetime, term_months: int) -> datetime:
    """When a reserved lease starting at ``start`` ends: ``term_months`` calendar months later."""
    return add_months(start, _term(term_months))


# --- spot ------------------------------------------------------------------------------------------------

def check_spot_bid(bid_fen: int, floor_fen: int) -> None:
    """ValueError unless the bid per unit-hour is at or above the seller's floor (both fen)."""
    _int("bid_fen", bid_fen)
    _int("floor_fen", floor_fen)
    if bid_fen < floor_fen:
        raise ValueError(f"a bid of {bid_fen} fen/hour is below the seller's floor of {floor_fen} fen/hour")


def spot_charge_seconds(started: datetime, notice_at: datetime | None, stopped: datetime,
                        notice_seconds: int) -> int:
    """Seconds a spot lease is billed for, at its bid (``charge_for_seconds(bid, units, s)``).

    Not preempted (``notice_at`` None): stopped − started. Preempted: the buyer pays until the lease
    actually stopped, but never beyond the end of the notice period:
    ``min(stopped, notice_at + notice_seconds) − started``. Floored to whole seconds.
    """
    _int("notice_seconds", notice_seconds)
    elapsed_seconds(started, stopped)  # validates the order
    if notice_at is None:
        end = stopped
    else:
        elapsed_seconds(started, notice_at)
        if notice_at > stopped:
            raise ValueError(f"notice at {notice_at.isoformat()} is after the stop at {stopped.isoformat()}")
        end = min(stopped, notice_at + timedelta(seconds=notice_seconds))
    return elapsed_seconds(started, end)
