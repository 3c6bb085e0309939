"""The emergency planner (suanli.core.emergency): free first, then spot, then reserved idle units; never on demand,
never more than asked; counts add up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from suanli.core.emergency import (STAGE_ORDER, FreeCapacity, ReservedLease, SpotLease, Stage, compensation_fen,
                                   plan)

PER = st.sampled_from([1, 2, 4, 8])
free_caps = st.lists(st.builds(FreeCapacity, product_id=st.uuids().map(str), accelerators_per_unit=PER,
                               free_units=st.integers(0, 20), price_per_accel_hour_fen=st.integers(1, 5000)),
                     max_size=6)
spot_leases = st.lists(st.builds(SpotLease, order_id=st.uuids().map(str), product_id=st.uuids().map(str),
                                 accelerators_per_unit=PER, units=st.integers(1, 8),
                                 bid_per_accel_hour_fen=st.integers(1, 5000),
                                 created_seq=st.floats(0, 1e6, allow_nan=False)), max_size=6)
reserved_leases = st.lists(st.builds(ReservedLease, order_id=st.uuids().map(str), product_id=st.uuids().map(str),
                                     holder_org_id=st.uuids().map(str), accelerators_per_unit=PER,
                                     idle_units=st.integers(0, 16)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(asked=st.integers(1, 600), free=free_caps, spot=spot_leases, reserved=reserved_leases)
def test_plan_properties(asked, free, spot, reserved):
    result = plan(asked, free, spot, reserved)
    assert result.planned <= asked and result.missing == asked - result.planned >= 0
    assert sum(result.by_stage().values()) == result.planned
    # Stages come in order, and each take is whole units of its product.
    ranks = [STAGE_ORDER.index(t.stage) for t in result.takes]
    assert ranks == sorted(ranks)
    per = {c.product_id: c.accelerators_per_unit for c in free}
    per |= {s.product_id: s.accelerators_per_unit for s in spot}
    per |= {r.product_id: r.accelerators_per_unit for r in reserved}
    for take in result.takes:
        assert take.units > 0 and take.accelerators == take.units * per[take.product_id]
    # Never more than there is: free units per product, a spot order whole, a reserved order's idle units.
    free_left = {c.product_id: c.free_units for c in free}
    for take in result.takes:
        if take.stage is Stage.FREE:
            assert take.order_id is None and take.units <= free_left[take.product_id]
        elif take.stage is Stage.SPOT:
            assert take.units == next(s.units for s in spot if s.order_id == take.order_id)
        else:
            lease = next(r for r in reserved if r.order_id == take.order_id)
            assert take.units <= lease.idle_units and take.holder_org_id == lease.holder_org_id
    # A later stage is used only when the earlier ones could not give another whole unit within the ask.
    used_spot_or_reserved = any(t.stage is not Stage.FREE for t in result.takes)
    if used_spot_or_reserved:
        taken = {t.product_id: t.units for t in result.takes if t.stage is Stage.FREE}
        first_later = next(i for i, t in enumerate(result.takes) if t.stage is not Stage.FREE)
        before = sum(t.accelerators for t in result.takes[:first_later])
        for cap in free:
            if cap.free_units > taken.get(cap.product_id, 0):
                assert before + cap.accelerators_per_unit > asked


def test_free_spot_reserved_in_that_order_cheapest_and_lowest_bids_first():
    free = [FreeCapacity("p-dear", 8, 1, 900), FreeCapacity("p-cheap", 8, 2, 500)]
    spot = [SpotLease("s-high", "p-s", 8, 1, 400), SpotLease("s-low", "p-s", 8, 1, 300)]
    reserved = [ReservedLease("r-small", "p-r", "h1", 8, 1), ReservedLease("r-big", "p-r", "h2", 8, 3)]
    result = plan(8 * 8, free, spot, reserved)
    assert [(t.stage, t.product_id, t.order_id, t.units) for t in result.takes] == [
        (Stage.FREE, "p-cheap", None, 2), (Stage.FREE, "p-dear", None, 1),
        (Stage.SPOT, "p-s", "s-low", 1), (Stage.SPOT, "p-s", "s-high", 1),
        (Stage.RESERVED, "p-r", "r-big", 3)]
    assert result.missing == 0 and result.by_stage() == {Stage.FREE: 24, Stage.SPOT: 16, Stage.RESERVED: 24}


def test_a_spot_order_larger_than_what_is_left_is_skipped_and_the_shortfall_told():
    result = plan(12, [FreeCapacity("p", 8, 1, 100)], [SpotLease("s", "q", 8, 1, 10)], [])
    assert [t.stage for t in result.takes] == [Stage.FREE] and result.missing == 4


def test_on_demand_leases_are_refused_as_candidates():
    with pytest.raises(ValueError, match="only reserved"):
        plan(8, [], [], [ReservedLease("o", "p", "h", 8, 1, mode="on_demand")])


def test_compensation_is_exact_integer_fen():
    assert compensation_fen(1234, 512, 72) == 1234 * 512 * 72
    with pytest.raises(ValueError):
        compensation_fen(10, 8, 1.5)  # type: ignore[arg-type]
