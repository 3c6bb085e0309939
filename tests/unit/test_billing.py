from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.core.billing import (
    MINIMUM_PREPAY_SECONDS,
    RESERVED_TERMS_MONTHS,
    SECONDS_PER_HOUR,
    FixedClock,
    ManualClock,
    SystemClock,
    add_months,
    burn_per_hour_fen,
    can_start_on_demand,
    charge_for_seconds,
    charge_increment,
    check_spot_bid,
    elapsed_seconds,
    low_balance,
    minimum_prepay_fen,
    read_on_demand,
    reserved_end,
    reserved_price,
    seconds_affordable,
    spot_charge_seconds,
)
from suanli.core.ledger import split_commission
from suanli.core.money import round_fen

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
prices = st.integers(1, 10**7)  # fen per unit-hour
units = st.integers(1, 64)
seconds = st.integers(0, 400 * 24 * SECONDS_PER_HOUR)


def half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


# --- clocks ----------------------------------------------------------------------------------------------

def test_fixed_clock_stands_still():
    clock = FixedClock(T0)
    assert clock.now() == clock.now() == T0


def test_manual_clock_moves_when_told():
    clock = ManualClock(T0)
    assert clock.now() == T0
    assert clock.advance(90) == T0 + timedelta(seconds=90)
    assert clock.advance(0.5) == clock.now() == T0 + timedelta(seconds=90.5)
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)


def test_system_clock_is_aware_utc():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_elapsed_seconds_floors():
    assert elapsed_seconds(T0, T0 + timedelta(seconds=59, microseconds=999_999)) == 59
    assert elapsed_seconds(T0, T0) == 0
    with pytest.raises(ValueError, match="before"):
        elapsed_seconds(T0, T0 - timedelta(microseconds=1))


# --- per-second charges ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "units_", "secs", "fen"), [
    (8000, 1, 3600, 8000),
    (8000, 2, 3600, 16_000),
    (8000, 1, 1, 2),  # 2.22…
    (1800, 1, 1, 1),  # exactly 0.5 → 1
    (1799, 1, 1, 0),  # 0.4997 → 0
    (8000, 1, 45, 100),
    (8000, 1, 46, 102),  # 102.2
    (0, 4, 3600, 0),
    (8000, 8, 0, 0),
])
def test_charge_for_seconds(price, units_, secs, fen):
    assert charge_for_seconds(price, units_, secs) == fen


@pytest.mark.parametrize(("args", "error"), [
    ((-1, 1, 1), ValueError), ((1, 0, 1), ValueError), ((1, 1, -1), ValueError),
    ((1.0, 1, 1), TypeError), ((1, 1, 1.5), TypeError), ((Decimal(1), 1, 1), TypeError),
])
def test_charge_for_seconds_refuses_bad_input(args, error):
    with pytest.raises(error):
        charge_for_seconds(*args)


def test_charge_increment_is_a_difference_of_cumulative_charges():
    assert charge_increment(1800, 1, 0, 1) == 1  # 0.5 → 1
    assert charge_increment(1800, 1, 1, 2) == 0  # 1.0 − 1
    assert charge_increment(1800, 1, 2, 3) == 1  # 1.5 → 2, − 1
    with pytest.raises(ValueError, match="before"):
        charge_increment(1800, 1, 3, 2)


@pytest.mark.parametrize(("balance", "price", "units_", "secs"), [
    (100, 8000, 1, 45),  # 45 s → 100 fen, 46 s → 102
    (8000, 8000, 1, 3600),
    (0, 8000, 1, 0),
    (0, 1, 1, 1799),  # 1799 s of a 1 fen/h product round to 0 fen
    (1, 1, 1, 5399),  # 5399 s → 1.4997 → 1 fen
])
def test_seconds_affordable(balance, price, units_, secs):
    assert seconds_affordable(balance, price, units_) == secs


def test_seconds_affordable_needs_a_price_and_a_balance():
    with pytest.raises(ValueError):
        seconds_affordable(100, 0, 1)
    with pytest.raises(ValueError):
        seconds_affordable(-1, 100, 1)
    with pytest.raises(ValueError):
        seconds_affordable(100, 100, 0)


def test_one_hour_prepay_burn_and_start():
    assert MINIMUM_PREPAY_SECONDS == SECONDS_PER_HOUR
    assert minimum_prepay_fen(8000, 3) == burn_per_hour_fen(8000, 3) == 24_000
    assert can_start_on_demand(24_000, 8000, 3)
    assert not can_start_on_demand(23_999, 8000, 3)
    assert not can_start_on_demand(-5, 8000, 3)


def test_low_balance():
    assert low_balance(7999, 8000)
    assert not low_balance(8000, 8000)
    assert low_balance(15_999, 8000, warn_hours=2)
    assert low_balance(-1, 0, warn_hours=0)
    assert not low_balance(0, 8000, warn_hours=0)
    with pytest.raises(ValueError):
        low_balance(1, 8000, warn_hours=-1)


def test_on_demand_meter_warns_then_stops_before_the_money_runs_out():
    clock = ManualClock(T0)
    price, n = 3600, 1  # 1 fen per second
    funds = minimum_prepay_fen(price, n) + 1800  # 1.5 hours
    assert can_start_on_demand(funds, price, n)
    charged, spendable = 0, funds
    readings = []
    while True:
        clock.advance(60)
        reading = read_on_demand(price_per_hour_fen=price, units=n, started=T0, clock=clock, charged_fen=charged,
                                 spendable_fen=spendable, warn_hours=1, stop_margin_seconds=60)
        charged, spendable = charged + reading.increment_fen, spendable - reading.increment_fen
        readings.append(reading)
        if reading.must_stop:
            break
    first_warning = next(r for r in readings if r.low_balance)
    assert first_warning.elapsed_seconds == 1860  # 3540 fen left < 3600 fen/hour
    last = readings[-1]
    assert last.elapsed_seconds == 5340 and last.seconds_left == 60 and last.remaining_fen == 60
    assert charged == last.charge_fen == 5340 and spendable >= 0


def test_on_demand_meter_reports_an_overrun():
    reading = read_on_demand(price_per_hour_fen=3600, units=1, started=T0, clock=FixedClock(T0 + timedelta(hours=1)),
                             charged_fen=0, spendable_fen=100)
    assert reading.increment_fen == 3600 and reading.remaining_fen == -3500
    assert reading.seconds_left == 0 and reading.must_stop and reading.low_balance


def test_on_demand_meter_refuses_a_charge_ahead_of_the_clock():
    with pytest.raises(ValueError, match="already charged"):
        read_on_demand(price_per_hour_fen=3600, units=1, started=T0, clock=FixedClock(T0 + timedelta(seconds=10)),
                       charged_fen=11, spendable_fen=100)
    with pytest.raises(ValueError, match="before"):
        read_on_demand(price_per_hour_fen=3600, units=1, started=T0, clock=FixedClock(T0 - timedelta(seconds=1)),
                       charged_fen=0, spendable_fen=100)


@given(price=prices, n=units, data=st.data())
def test_charges_on_any_partition_add_up_to_the_charge_on_the_total(price, n, data):
    cuts = sorted(data.draw(st.lists(seconds, max_size=20)))
    total = data.draw(st.integers(cuts[-1] if cuts else 0, 500 * 24 * SECONDS_PER_HOUR))
    points = [0, *cuts, total]
    increments = [charge_increment(price, n, a, b) for a, b in zip(points, points[1:])]
    assert all(increment >= 0 for increment in increments)
    assert sum(increments) == charge_for_seconds(price, n, total)


@given(price=st.integers(0, 10**7), n=units, secs=seconds, more=seconds)
def test_charge_is_monotone_in_seconds(price, n, secs, more):
    assert charge_for_seconds(price, n, secs) <= charge_for_seconds(price, n, secs + more)


@given(price=st.integers(0, 10**9), n=units, secs=seconds)
def test_charge_is_exact_half_up(price, n, secs):
    expected = half_up(Fraction(price * n * secs, SECONDS_PER_HOUR))
    assert charge_for_seconds(price, n, secs) == expected
    assert expected == round_fen(Decimal(price * n * secs) / SECONDS_PER_HOUR)


@given(balance=st.integers(0, 10**10), price=prices, n=units)
def test_seconds_affordable_is_the_longest_affordable_time(balance, price, n):
    s = seconds_affordable(balance, price, n)
    assert charge_for_seconds(price, n, s) <= balance
    assert charge_for_seconds(price, n, s + 1) > balance


@given(amount=st.integers(0, 10**12), bp=st.integers(0, 10_000))
def test_commission_split_always_adds_up(amount, bp):
    seller, platform = split_commission(amount, bp)
    assert seller + platform == amount and seller >= 0 and platform >= 0


@given(price=st.integers(1, 10**6), n=st.integers(1, 16), extra=st.integers(0, 10**6),
       margin=st.integers(1, 600), data=st.data())
def test_metered_lease_stops_before_the_balance_goes_negative(price, n, extra, margin, data):
    """Reading at least every ``margin`` seconds and stopping on must_stop never overdraws the wallet."""
    funds = minimum_prepay_fen(price, n) + extra
    clock = ManualClock(T0)
    charged, spendable = 0, funds
    for _ in range(200):
        reading = read_on_demand(price_per_hour_fen=price, units=n, started=T0, clock=clock, charged_fen=charged,
                                 spendable_fen=spendable, stop_margin_seconds=margin)
        assert reading.remaining_fen >= 0
        assert reading.charge_fen == charge_for_seconds(price, n, reading.elapsed_seconds)
        charged, spendable = charged + reading.increment_fen, spendable - reading.increment_fen
        if reading.must_stop:
            break
        clock.advance(data.draw(st.integers(1, margin)))
    assert charged + spendable == funds and spendable >= 0


# --- reserved --------------------------------------------------------------------------------------------

def test_reserved_price_applies_the_term_discount():
    discounts = {3: 300, 6: 800, 12: 1500}
    assert reserved_price(3_500_000, 2, 1, discounts) == 7_000_000
    assert reserved_price(3_500_000, 2, 3, discounts) == 20_370_000  # 21 000 000 × 0.97
    assert reserved_price(3_500_000, 2, 12, discounts) == 71_400_000
    assert reserved_price(3_500_000, 2, 12, {}) == 84_000_000
    assert reserved_price(3, 1, 1, {1: 5000}) == 2  # 1.5 → 2, rounded once on the whole order


@pytest.mark.parametrize("term", [0, 2, 24, -1, "12", 12.0, None])
def test_reserved_terms_are_1_3_6_or_12_months(term):
    with pytest.raises(ValueError, match="1, 3, 6 or 12 months"):
        reserved_price(100, 1, term, {})


@pytest.mark.parametrize("discounts", [{2: 100}, {12: -1}, {12: 10_000}, {12: 10.0}])
def test_reserved_discounts_must_be_for_real_terms_and_below_100_percent(discounts):
    with pytest.raises(ValueError):
        reserved_price(100, 1, 12, discounts)


def test_reserved_price_refuses_bad_amounts():
    with pytest.raises(ValueError):
        reserved_price(-1, 1, 1, {})
    with pytest.raises(ValueError):
        reserved_price(100, 0, 1, {})


@given(monthly=st.integers(0, 10**8), n=units, term=st.sampled_from(RESERVED_TERMS_MONTHS),
       low=st.integers(0, 9999), high=st.integers(0, 9999))
def test_reserved_price_is_exact_and_a_bigger_discount_never_costs_more(monthly, n, term, low, high):
    low, high = sorted((low, high))
    assert reserved_price(monthly, n, term, {term: low}) >= reserved_price(monthly, n, term, {term: high})
    assert reserved_price(monthly, n, term, {term: low}) == half_up(Fraction(monthly * n * term * (10_000 - low),
                                                                             10_000))
    assert reserved_price(monthly, n, term, {}) == monthly * n * term


def test_reserved_end_adds_calendar_months():
    assert reserved_end(T0, 1) == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert reserved_end(datetime(2026, 11, 15, tzinfo=UTC), 3) == datetime(2027, 2, 15, tzinfo=UTC)
    assert reserved_end(datetime(2027, 1, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert reserved_end(datetime(2027, 8, 31, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)
    assert reserved_end(T0, 12) == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    assert add_months(T0, 0) == T0
    with pytest.raises(ValueError):
        reserved_end(T0, 2)


# --- spot ------------------------------------------------------------------------------------------------

def test_spot_bid_must_reach_the_floor():
    check_spot_bid(3000, 3000)
    check_spot_bid(3500, 3000)
    with pytest.raises(ValueError, match="below the seller's floor"):
        check_spot_bid(2999, 3000)
    with pytest.raises(ValueError):
        check_spot_bid(-1, 0)


def at(secs: float) -> datetime:
    return T0 + timedelta(seconds=secs)


@pytest.mark.parametrize(("notice", "stopped", "charged"), [
    (None, 7200, 7200),  # not preempted
    (3600, 3700, 3700),  # stopped within the notice period: pays until the stop
    (3600, 3900, 3900),  # stopped exactly at the end of the notice
    (3600, 5000, 3900),  # stopped late: nothing past the notice period
    (3600, 3600, 3600),  # stopped at the notice itself
    (None, 10.9, 10),  # floored to whole seconds
])
def test_spot_charge_seconds(notice, stopped, charged):
    notice_at = None if notice is None else at(notice)
    assert spot_charge_seconds(T0, notice_at, at(stopped), notice_seconds=300) == charged


@pytest.mark.parametrize(("notice", "stopped"), [(-1, 100), (200, 100), (None, -1)])
def test_spot_charge_seconds_refuses_times_out_of_order(notice, stopped):
    with pytest.raises(ValueError):
        spot_charge_seconds(T0, None if notice is None else at(notice), at(stopped), notice_seconds=300)


@given(notice=st.integers(0, 10**6), after=st.integers(0, 10**6), notice_seconds=st.integers(0, 3600))
def test_preempted_spot_is_never_charged_past_the_notice(notice, after, notice_seconds):
    charged = spot_charge_seconds(T0, at(notice), at(notice + after), notice_seconds)
    assert charged == min(notice + after, notice + notice_seconds)
    assert notice <= charged <= notice + notice_seconds
