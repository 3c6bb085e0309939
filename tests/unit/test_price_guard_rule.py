"""The price guard's checks against a plain Decimal reading of the rule, on any prices and thresholds."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, strategies as st

from suanli.core.price_guard import GuardedPrices, GuardThresholds, unusual_price_checks
from suanli.core.price_stats import summarize

fen = st.integers(min_value=1, max_value=100_000_000)


@given(prices=st.builds(GuardedPrices, accelerators=st.integers(0, 16), on_demand_fen=fen,
                        reserved_month_fen=st.none() | st.integers(1, 10_000_000_000), spot_floor_fen=st.none() | fen),
       index=st.none() | st.lists(st.integers(0, 1_000_000), min_size=1, max_size=9).map(summarize),
       thresholds=st.builds(GuardThresholds, low_pct=st.integers(0, 100), high_pct=st.integers(100, 100_000),
                            min_reserved_hours=st.integers(0, 744)))
def test_checks_match_the_rule_read_in_decimals(prices, index, thresholds):
    expected = []
    if index is not None and index.median > 0 and prices.accelerators:
        median = Decimal(index.median)
        per_accelerator = Decimal(prices.on_demand_fen) / prices.accelerators
        if per_accelerator < median * thresholds.low_pct / 100:
            expected.append("on_demand_below_index")
        if per_accelerator > median * thresholds.high_pct / 100:
            expected.append("on_demand_above_index")
        if (prices.spot_floor_fen is not None
                and Decimal(prices.spot_floor_fen) / prices.accelerators < median * thresholds.low_pct / 100):
            expected.append("spot_below_index")
    if (prices.reserved_month_fen is not None
            and prices.reserved_month_fen < prices.on_demand_fen * thresholds.min_reserved_hours):
        expected.append("reserved_below_on_demand_hours")
    assert unusual_price_checks(prices, index, thresholds) == expected


def test_the_testers_case():
    """¥10 a month for an 8×910B server at ¥80/h, in a market at ¥10 per accelerator-hour."""
    checks = unusual_price_checks(GuardedPrices(8, 8000, 1000, None), summarize([900, 1000, 1100]),
                                  GuardThresholds(20, 500, 200))
    assert checks == ["reserved_below_on_demand_hours"]
