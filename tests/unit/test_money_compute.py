from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.core.compute import price_per_accelerator_hour_fen, price_per_pflops_hour_fen, unit_compute
from suanli.core.money import cny_to_fen, fen_to_cny, format_cny, round_fen, scale_fen
from suanli.core.price_stats import quantile_fen, summarize


def test_fen_and_cny_round_trip():
    assert fen_to_cny(12345) == Decimal("123.45")
    assert format_cny(1234567) == "¥12,345.67"
    assert cny_to_fen("60") == 6000
    assert cny_to_fen(Decimal("0.01")) == 1


@pytest.mark.parametrize("bad", ["0.001", "abc", "NaN", "Infinity"])
def test_cny_to_fen_refuses_what_is_not_whole_fen(bad):
    with pytest.raises(ValueError):
        cny_to_fen(bad)


@pytest.mark.parametrize(("value", "fen"), [("2.5", 3), ("3.5", 4), ("2.49", 2), ("-0.5", -1)])
def test_round_fen_is_half_up(value, fen):
    assert round_fen(Decimal(value)) == fen


def test_eight_a800_unit():
    compute = unit_compute(8, 312.0, 19.5, 80)
    assert compute.fp16_pflops == pytest.approx(2.496)
    assert compute.fp32_tflops == pytest.approx(156.0)
    assert price_per_accelerator_hour_fen(8000, 8) == 1000
    # 8000 fen / 2.496 PFLOPS = 3205.128... fen per PFLOPS-hour
    assert price_per_pflops_hour_fen(8000, compute.fp16_tflops) == 3205


def test_units_without_accelerators_have_no_per_accelerator_prices():
    compute = unit_compute(0, None, None, None)
    assert compute.fp16_tflops == 0
    assert price_per_accelerator_hour_fen(500, 0) is None
    assert price_per_pflops_hour_fen(500, 0.0) is None


def test_quartiles_interpolate_linearly():
    prices = [1000, 1100, 1300, 1600]
    summary = summarize(prices)
    assert (summary.min, summary.max, summary.count) == (1000, 1600, 4)
    assert summary.q1 == 1075  # 1000 + 0.75*100
    assert summary.median == 1200
    assert summary.q3 == 1375  # 1300 + 0.25*300


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=60))
def test_summary_is_ordered_and_within_range(prices):
    s = summarize(prices)
    assert s.min <= s.q1 <= s.median <= s.q3 <= s.max
    assert s.min == min(prices) and s.max == max(prices)


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30),
       st.fractions(min_value=0, max_value=1))
def test_quantile_lies_between_its_neighbours(prices, q):
    data = sorted(prices)
    value = quantile_fen(data, Fraction(q))
    assert data[0] <= value <= data[-1]


@pytest.mark.parametrize(("fen", "percent", "expected"), [
    (8000, Decimal("10"), 8800), (8010, Decimal("10"), 8811), (6400, Decimal("7.5"), 6880),
    (5, Decimal("10"), 6),  # 5.5 fen rounds half-up
    (5, Decimal("-10"), 5),  # 4.5 fen rounds half-up to 5
    (100, Decimal("-90"), 10), (1, Decimal("-90"), 1),  # never below 1 fen
    (1_000_000, Decimal("500"), 6_000_000),
])
def test_a_price_changed_by_a_percentage_rounds_half_up_to_the_fen(fen, percent, expected):
    assert scale_fen(fen, percent) == expected


@given(st.integers(1, 10**10), st.decimals(min_value=-90, max_value=500, places=2))
def test_a_percentage_change_keeps_the_order_of_prices(fen, percent):
    """Scaling two prices by one percentage never swaps them (a spot floor stays under its on-demand price)."""
    assert scale_fen(fen, percent) <= scale_fen(fen + 1, percent)
    assert scale_fen(fen, percent) >= 1
