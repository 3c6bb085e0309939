"""The pure side of demand analytics and guidance prices: counting signals per chip, province and day; the
band rule shared with the price guard; what a planner's replay placed on proposed capacity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from suanli.core.demand import (ANY, DemandSignal, cells, main_reason, per_day, totals)
from suanli.core.price_guard import ABOVE, BELOW, Guidance, side_of_band
from suanli.scheduling.procurement import Proposal, market_nodes, outcome
from suanli.scheduling.replay import replay
from suanli.scheduling.traces import TraceJob

D1, D2 = dt.date(2026, 12, 1), dt.date(2026, 12, 2)


def test_signals_are_counted_per_day_chip_and_province_and_a_job_counts_in_each_allowed_province():
    signals = [DemandSignal("jobs", D1, "a800", ("安徽", "浙江"), 8, "capacity_busy"),
               DemandSignal("searches", D1, "a800", ("安徽",), 0),
               DemandSignal("searches", D2, ANY, (), 16),
               DemandSignal("jobs", D2, "ascend-910b", (), 4, "chip")]
    grid = cells(signals)
    assert [(c.day, c.chip, c.province, dict(c.signals), c.accelerators) for c in grid] == [
        (D1, "a800", "安徽", {"jobs": 1, "searches": 1}, 8), (D1, "a800", "浙江", {"jobs": 1}, 8),
        (D2, "*", "*", {"searches": 1}, 16), (D2, "ascend-910b", "*", {"jobs": 1}, 4)]
    chips = totals(grid, "chip")
    assert [(t.key, t.total, t.signals, t.reasons) for t in chips] == [
        ("a800", 3, {"jobs": 2, "searches": 1}, {"capacity_busy": 2}), ("*", 1, {"searches": 1}, {}),
        ("ascend-910b", 1, {"jobs": 1}, {"chip": 1})]
    assert per_day(grid, [D1, D2, D2 + dt.timedelta(days=1)]) == {
        "jobs": [2, 1, 0], "searches": [1, 1, 0], "requests": [0, 0, 0]}
    with pytest.raises(ValueError, match="source"):
        cells([DemandSignal("rumours", D1, ANY, (), 1)])
    with pytest.raises(ValueError):
        totals(grid, "day")


@pytest.mark.parametrize(("eliminated", "reason"), [
    ({"chip": 3, "capacity_busy": 1}, "capacity_busy"), ({"chip": 3, "region": 5}, "region"),
    ({"price": 2, "chip": 2}, "chip"), ({}, "no_offers"), ({"chip": 0}, "no_offers")])
def test_a_jobs_main_reason(eliminated, reason):
    assert main_reason(eliminated) == reason


@given(price=st.integers(1, 10**7), accelerators=st.integers(1, 16), reference=st.integers(1, 10**5),
       band=st.integers(1, 95))
def test_the_band_rule_is_exact_against_decimal_division(price, accelerators, reference, band):
    per_accel = Decimal(price) / accelerators
    side = Guidance(reference, band).side(price, accelerators)
    assert side == (BELOW if per_accel < Decimal(reference * (100 - band)) / 100 else
                    ABOVE if per_accel > Decimal(reference * (100 + band)) / 100 else None)
    assert side_of_band(price, accelerators, reference, 100 - band, 100 + band) == side


def test_guidance_deviation_is_in_percent_of_the_guidance_price():
    assert Guidance(1000, 20).deviation_pct(6400, 8) == Decimal("-20.0")
    assert Guidance(1000, 20).deviation_pct(8100, 8) == Decimal("1.3")  # 1.25 rounds half-up


def test_the_planner_counts_only_what_ran_on_the_proposal():
    market = market_nodes([("p1", "dc1", "安徽", "a800", 8, 128, 1024, 1, 8000)], max_per_product=64)
    jobs = [TraceJob("a", 0, 3600, 8, "a800"), TraceJob("b", 0, 1800, 8, "a800"),
            TraceJob("c", 10, 7200, 16, "ascend-910b"), TraceJob("d", 20, 3600, 4, "h100")]
    proposal = Proposal("ascend-910b", "安徽", servers=2, accelerators_per_server=8, price_per_accel_hour_fen=1200,
                        vcpus_per_server=128, memory_gib_per_server=1024)
    without, with_ = replay(jobs, market), replay(jobs, market + proposal.nodes())
    o = outcome(proposal, without, with_)
    assert (o.jobs, o.placed_without, o.placed_with, o.jobs_on_proposed) == (4, 2, 3, 1)
    # c: 16 accelerators × 2 h on both proposed servers (a gang) at ¥12
    assert o.accelerator_hours_on_proposed == Decimal("32.00") and o.revenue_fen == 38_400
    assert o.dropped_without == {"chip": 2}
    assert o.utilisation_pct is not None and Decimal(0) < o.utilisation_pct <= 100
