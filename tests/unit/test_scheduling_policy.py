"""The scheduling policy: feasibility and its explanations, objectives, capacity, backfill, spot, failover."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.scheduling.explain import eliminations
from suanli.scheduling.failover import blocked_for, failure_message, next_placement
from suanli.scheduling.model import CONSTRAINTS, Attempt, JobRequest, Offer, Placement, RunningSpot, Unplaceable
from suanli.scheduling.policy import _Round, schedule_round, units_needed

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def offer(pid: str, **kw) -> Offer:
    base = dict(product_id=pid, datacenter_id="dc-bj", cluster_id=f"{pid}-c", province="北京", chip_key="h100",
                ecosystem="cuda", accel_memory_gib=80, fp16_tflops=989.4, accelerators_per_unit=8,
                vcpus_per_unit=128, memory_gib_per_unit=1024, free_units=2, price_per_unit_hour_fen=10_000)
    base.update(kw)
    return Offer(**base)


# ---------------------------------------------------------------- feasibility and explanations

STRICT = dict(accelerators=8, chip="h100", ecosystems={"cuda"}, min_accel_memory_gib=80, min_fp16_tflops=900,
              provinces={"北京"}, datacenters={"dc-bj"}, max_hourly_price_fen=20_000)


def one_offer_per_constraint() -> list[Offer]:
    return [
        offer("o-chip", chip_key="a800", fp16_tflops=312),
        offer("o-eco", ecosystem="cann"),
        offer("o-count", accelerators_per_unit=4, free_units=1),  # needs 2 units, the pool has 1
        offer("o-memory", accel_memory_gib=64),
        offer("o-compute", fp16_tflops=500),
        offer("o-region", province="上海"),
        offer("o-dc", datacenter_id="dc-other"),
        offer("o-product"),  # the job is pinned to every other product
        offer("o-price", price_per_unit_hour_fen=30_000),
        offer("o-busy", free_units=0, total_units=4),
        offer("o-blocked"),
        offer("o-unhealthy", healthy=False),
    ]


def test_each_constraint_eliminates_its_offer_and_is_counted_once():
    offers = one_offer_per_constraint()
    pinned = {o.product_id for o in offers} - {"o-product"}
    job = JobRequest("j", blocked_offers={"o-blocked"}, products=pinned, **STRICT)
    result = schedule_round([job], offers)
    assert result.placements == ()
    (u,) = result.unplaceable
    assert list(u.eliminated) == list(CONSTRAINTS)
    assert u.eliminated == dict.fromkeys(CONSTRAINTS, 1)
    assert sum(u.eliminated.values()) == u.offers_considered == 12
    assert "chip 1" in u.message and "capacity_busy 1" in u.message and "would fit once capacity frees" in u.message


def test_fast_and_exact_explanations_agree_without_a_blocklist():
    offers = [o for o in one_offer_per_constraint() if o.product_id not in ("o-blocked", "o-product")]
    job = JobRequest("j", **STRICT)
    (u,) = schedule_round([job], offers).unplaceable
    expected = dict.fromkeys(CONSTRAINTS, 1)
    expected["blocked"] = expected["product"] = 0
    assert u.eliminated == expected
    st_ = _Round(offers, ())
    assert eliminations(st_, job) == eliminations(st_, job, exact=True)


def test_static_constraints_are_reported_before_busy_capacity():
    # Busy *and* in the wrong province: counted as region, not as capacity_busy.
    job = JobRequest("j", accelerators=8, provinces={"北京"})
    (u,) = schedule_round([job], [offer("o", province="上海", free_units=0, total_units=2)]).unplaceable
    assert u.eliminated["region"] == 1 and u.eliminated["capacity_busy"] == 0


def test_a_job_pinned_to_products_runs_only_there_even_when_another_offer_is_cheaper():
    offers = [offer("o-cheap", price_per_unit_hour_fen=5_000), offer("o-pinned", price_per_unit_hour_fen=9_000),
              offer("o-other", price_per_unit_hour_fen=7_000)]
    pinned = JobRequest("j1", accelerators=8, products={"o-pinned"})
    free = JobRequest("j2", accelerators=8, submit_seq=1)
    placed = {p.job_id: p for p in schedule_round([pinned, free], offers).placements}
    assert placed["j1"].offer_id == "o-pinned" and placed["j1"].hourly_price_fen == 9_000
    assert placed["j2"].offer_id == "o-cheap"
    # The whole-round search and the local repairs never move a pinned job to a cheaper product.
    for search_limit in (0, 25_000):
        result = schedule_round([pinned, dataclasses.replace(free, id="j3", submit_seq=2)],
                                [dataclasses.replace(o, free_units=1, total_units=1) for o in offers],
                                search_limit=search_limit)
        assert {p.job_id: p.offer_id for p in result.placements}["j1"] == "o-pinned"
    # Among several pinned products the objective chooses as usual.
    two = JobRequest("j4", accelerators=8, products={"o-pinned", "o-other"})
    assert schedule_round([two], offers).placements[0].offer_id == "o-other"


def test_a_job_pinned_to_a_busy_or_unfit_product_waits_and_says_why():
    offers = [offer("o-cheap", price_per_unit_hour_fen=5_000), offer("o-busy", free_units=0, total_units=2),
              offer("o-a800", chip_key="a800", fp16_tflops=312)]
    job = JobRequest("j1", accelerators=8, chip="h100", products={"o-busy", "o-a800"}, max_runtime_minutes=60)
    result = schedule_round([job], offers)
    assert result.placements == ()
    (u,) = result.unplaceable
    assert u.eliminated["product"] == 1 and u.eliminated["chip"] == 1 and u.eliminated["capacity_busy"] == 1
    assert sum(u.eliminated.values()) == 3 and u.binding == ("chip", "product", "capacity_busy")
    assert "on product o-a800/o-busy" in u.message and "product 1" in u.message
    assert result.reservation is not None and result.reservation.offer_id == "o-busy"
    st_ = _Round(offers, ())
    assert eliminations(st_, job) == eliminations(st_, job, exact=True)
    # Pinned to a product that is not on the market at all: every offer is eliminated by "product".
    (u,) = schedule_round([JobRequest("j2", accelerators=8, chip="h100", products={"gone"})], offers).unplaceable
    assert u.eliminated["product"] == 2 and u.eliminated["chip"] == 1
    assert "most often: not one of the chosen products" in u.message


def test_spot_job_on_offer_without_spot_price_is_a_price_elimination():
    job = JobRequest("s", accelerators=8, mode="spot", bid_hourly_fen=50_000)
    (u,) = schedule_round([job], [offer("o")]).unplaceable
    assert u.eliminated["price"] == 1


def test_capability_request_any_chip_with_memory_and_tflops():
    offers = [offer("small", chip_key="rtx4090", accel_memory_gib=24, fp16_tflops=165.2, price_per_unit_hour_fen=1000),
              offer("slow", chip_key="a800", accel_memory_gib=80, fp16_tflops=312, price_per_unit_hour_fen=2000),
              offer("ok", chip_key="h20", accel_memory_gib=96, fp16_tflops=148, price_per_unit_hour_fen=3000)]
    job = JobRequest("j", accelerators=8, min_accel_memory_gib=80, min_fp16_tflops=140)
    (p,) = schedule_round([job], offers).placements
    assert p.offer_id == "slow"  # cheapest with >= 80 GiB and >= 140 TFLOPS
    job2 = dataclasses.replace(job, min_fp16_tflops=400)
    (u,) = schedule_round([job2], offers).unplaceable
    assert u.eliminated["memory"] == 1 and u.eliminated["compute"] == 2


# ---------------------------------------------------------------- objectives

def test_cost_objective_compares_whole_job_prices_across_unit_sizes():
    offers = [offer("eight", accelerators_per_unit=8, price_per_unit_hour_fen=8_000),
              offer("single", accelerators_per_unit=1, vcpus_per_unit=16, memory_gib_per_unit=128, free_units=8,
                    price_per_unit_hour_fen=900)]
    (p,) = schedule_round([JobRequest("j", accelerators=4)], offers).placements
    assert (p.offer_id, p.units, p.hourly_price_fen) == ("single", 4, 3_600)
    assert p.reason.startswith("cheapest feasible: ¥36.00/h for 4×h100 in 北京")
    assert "next best ¥80.00/h" in p.reason
    (p,) = schedule_round([JobRequest("j", accelerators=8)], offers).placements
    assert (p.offer_id, p.hourly_price_fen) == ("single", 7_200)


def test_time_objective_prefers_faster_chips_then_cheaper():
    offers = [offer("a800", chip_key="a800", fp16_tflops=312, price_per_unit_hour_fen=5_000),
              offer("h100-dear", price_per_unit_hour_fen=15_000),
              offer("h100-cheap", price_per_unit_hour_fen=12_000)]
    (p,) = schedule_round([JobRequest("j", accelerators=8, objective="time")], offers).placements
    assert p.offer_id == "h100-cheap"
    assert p.reason.startswith("fastest feasible: 8×h100")
    (p,) = schedule_round([JobRequest("j", accelerators=8, objective="cost")], offers).placements
    assert p.offer_id == "a800"


def test_priority_then_submission_order_and_capacity_is_decremented():
    offers = [offer("o", free_units=1, price_per_unit_hour_fen=1_000),
              offer("p", free_units=1, price_per_unit_hour_fen=2_000)]
    jobs = [JobRequest("late", accelerators=8, submit_seq=2), JobRequest("early", accelerators=8, submit_seq=1),
            JobRequest("urgent", accelerators=8, submit_seq=3, priority=5)]
    result = schedule_round(jobs, offers)
    assert [(p.job_id, p.offer_id) for p in result.placements] == [("urgent", "o"), ("early", "p")]
    assert [u.job_id for u in result.unplaceable] == ["late"]
    assert result.unplaceable[0].eliminated["capacity_busy"] == 2


def test_spot_jobs_only_take_capacity_left_by_on_demand_jobs():
    offers = [offer("o", free_units=1, spot_floor_fen=3_000)]
    jobs = [JobRequest("spot", accelerators=8, mode="spot", bid_hourly_fen=5_000, priority=9, submit_seq=0),
            JobRequest("od", accelerators=8, submit_seq=1)]
    result = schedule_round(jobs, offers)
    assert [p.job_id for p in result.placements] == ["od"]
    assert result.unplaceable[0].job_id == "spot"
    (p,) = schedule_round(jobs[:1], offers).placements
    assert p.hourly_price_fen == 3_000 and p.mode == "spot"


def test_units_cover_vcpus_and_memory_too():
    assert units_needed(JobRequest("j", accelerators=2, vcpus=40), 1, 16, 128) == 3
    assert units_needed(JobRequest("j", vcpus=4), 0, 0, 64) is None
    assert units_needed(JobRequest("j", memory_gib=100), 0, 8, 64) == 2


# ---------------------------------------------------------------- backfill and reservation

def backfill_offers() -> list[Offer]:
    # "big": 8 units, 4 busy until minute 60. "other": a different chip, free.
    return [offer("big", chip_key="a800", fp16_tflops=312, accelerators_per_unit=1, vcpus_per_unit=16,
                  memory_gib_per_unit=128, free_units=4, total_units=8, releases=((60, 4),)),
            offer("other", chip_key="l20", fp16_tflops=119.5, accelerators_per_unit=1, vcpus_per_unit=16,
                  memory_gib_per_unit=128, free_units=2)]


def test_backfill_places_small_jobs_around_a_head_job_that_does_not_fit():
    head = JobRequest("head", accelerators=8, chip="a800", submit_seq=0, max_runtime_minutes=600)
    short = JobRequest("short", accelerators=1, chip="a800", submit_seq=1, max_runtime_minutes=30)
    long = JobRequest("long", accelerators=1, chip="a800", submit_seq=2, max_runtime_minutes=600)
    elsewhere = JobRequest("elsewhere", accelerators=1, chip="l20", submit_seq=3)
    result = schedule_round([head, short, long, elsewhere], backfill_offers())
    placed = {p.job_id: p for p in result.placements}
    assert set(placed) == {"short", "elsewhere"}
    assert placed["short"].offer_id == "big" and placed["short"].backfilled
    assert "backfilled around job head" in placed["short"].reason
    assert result.reservation is not None
    assert (result.reservation.job_id, result.reservation.offer_id, result.reservation.start_minute) == ("head", "big", 60)
    unplaced = {u.job_id: u for u in result.unplaceable}
    assert unplaced["head"].reserved == result.reservation
    # The long job would delay the head: the free units are held, not given away.
    assert unplaced["long"].eliminated["capacity_busy"] == 1
    assert "held for job head" in unplaced["long"].message


def test_long_job_may_backfill_when_it_leaves_enough_for_the_head():
    offers = [offer("big", chip_key="a800", fp16_tflops=312, accelerators_per_unit=1, vcpus_per_unit=16,
                    memory_gib_per_unit=128, free_units=4, total_units=10, releases=((60, 6),))]
    head = JobRequest("head", accelerators=8, chip="a800", submit_seq=0)
    long1 = JobRequest("long1", accelerators=2, chip="a800", submit_seq=1)
    long2 = JobRequest("long2", accelerators=1, chip="a800", submit_seq=2)
    result = schedule_round([head, long1, long2], offers)
    # At minute 60: 4 + 6 = 10 free; the head needs 8, so 2 units may be used by long jobs.
    assert [p.job_id for p in result.placements] == ["long1"]


def test_head_job_is_not_starved_once_capacity_frees():
    head = JobRequest("head", accelerators=8, chip="a800", submit_seq=0)
    smalls = [JobRequest(f"s{k}", accelerators=1, chip="a800", submit_seq=k + 1) for k in range(6)]
    offers = backfill_offers()
    first = schedule_round([head, *smalls], offers)
    assert not any(p.offer_id == "big" for p in first.placements)  # nothing runs past the reservation
    # Minute 60: the four busy units are released; the head goes first and gets the whole pool.
    freed = [dataclasses.replace(offers[0], free_units=8, releases=()), offers[1]]
    second = schedule_round([head, *smalls], freed)
    assert second.placements[0].job_id == "head" and second.placements[0].offer_id == "big"
    assert [u.job_id for u in second.unplaceable] == [s.id for s in smalls]


# ---------------------------------------------------------------- spot preemption

def test_on_demand_job_preempts_the_fewest_spot_jobs_and_only_spot_jobs():
    offers = [offer("o", accelerators_per_unit=1, vcpus_per_unit=16, memory_gib_per_unit=128, free_units=1,
                    total_units=8, spot_floor_fen=500)]
    running = [RunningSpot("s-small-a", "o", 2, 900), RunningSpot("s-small-b", "o", 2, 800),
               RunningSpot("s-big", "o", 3, 1_000)]
    job = JobRequest("od", accelerators=4)
    result = schedule_round([job], offers, running)
    (p,) = result.placements
    assert p.offer_id == "o" and p.preempted == ("s-big",)
    assert [(x.job_id, x.units, x.for_job_id) for x in result.preemptions] == [("s-big", 3, "od")]
    assert "preempted spot job s-big" in p.reason


def test_preemption_picks_the_cheapest_victims_among_equally_few():
    offers = [offer("o", accelerators_per_unit=1, vcpus_per_unit=16, memory_gib_per_unit=128, free_units=0,
                    total_units=8, spot_floor_fen=500)]
    running = [RunningSpot("dear", "o", 4, 2_000), RunningSpot("cheap", "o", 4, 600)]
    result = schedule_round([JobRequest("od", accelerators=3)], offers, running)
    assert [x.job_id for x in result.preemptions] == ["cheap"]


def test_spot_jobs_never_preempt_and_on_demand_work_is_never_preempted():
    offers = [offer("o", free_units=0, total_units=2, spot_floor_fen=500)]
    spot = JobRequest("spot", accelerators=8, mode="spot", bid_hourly_fen=10_000)
    result = schedule_round([spot], offers, [RunningSpot("s", "o", 1, 100)])
    assert result.preemptions == () and result.placements == ()
    # Without running spot jobs the busy units belong to on-demand work: no preemption.
    result = schedule_round([JobRequest("od", accelerators=8)], offers)
    assert result.preemptions == () and result.unplaceable[0].eliminated["capacity_busy"] == 1


# ---------------------------------------------------------------- failover

def test_failover_blocks_the_failed_offer_then_the_failed_cluster():
    offers = [offer("a", cluster_id="c1", price_per_unit_hour_fen=1_000),
              offer("b", cluster_id="c1", price_per_unit_hour_fen=2_000),
              offer("c", cluster_id="c2", price_per_unit_hour_fen=3_000)]
    job = JobRequest("j", accelerators=8)
    first = next_placement(job, offers)
    assert isinstance(first, Placement) and first.offer_id == "a"
    attempts = [Attempt("a", "c1", "image pull failed", T0)]
    second = next_placement(job, offers, attempts)
    assert isinstance(second, Placement) and second.offer_id == "b"
    attempts.append(Attempt("b", "c1", "cluster c1 unreachable", T0, cluster_failed=True))
    third = next_placement(job, offers, attempts)
    assert isinstance(third, Placement) and third.offer_id == "c"
    attempts.append(Attempt("c", "c2", "node lost", T0))
    last = next_placement(job, offers, attempts)
    assert isinstance(last, Unplaceable) and last.eliminated["blocked"] == 3
    assert blocked_for(job, attempts).blocked_clusters == {"c1"}
    message = failure_message("j", attempts, last)
    for text in ("3 attempts", "image pull failed", "cluster c1 unreachable", "node lost", "blocked 3",
                 "2026-03-01T08:00:00"):
        assert text in message


# ---------------------------------------------------------------- properties

@st.composite
def markets(draw):
    chips = [("h100", "cuda", 80, 989.4), ("a800", "cuda", 80, 312.0), ("ascend-910b", "cann", 64, 376.0),
             ("rtx4090", "cuda", 24, 165.2)]
    offers = []
    for k in range(draw(st.integers(1, 10))):
        chip, eco, mem, tflops = draw(st.sampled_from(chips))
        apu = draw(st.sampled_from((1, 2, 4, 8)))
        total = draw(st.integers(0, 6))
        offers.append(Offer(
            product_id=f"o{k}", datacenter_id=draw(st.sampled_from(("d1", "d2", "d3"))),
            cluster_id=draw(st.sampled_from(("c1", "c2"))), province=draw(st.sampled_from(("北京", "安徽", "贵州"))),
            chip_key=chip, ecosystem=eco, accel_memory_gib=mem, fp16_tflops=tflops, accelerators_per_unit=apu,
            vcpus_per_unit=apu * 8, memory_gib_per_unit=apu * 64, free_units=draw(st.integers(0, total)),
            total_units=total, price_per_unit_hour_fen=draw(st.integers(100, 5_000)) * apu,
            spot_floor_fen=draw(st.one_of(st.none(), st.integers(50, 1_000))), healthy=draw(st.sampled_from((True, True, True, False))),
            releases=tuple(draw(st.lists(st.tuples(st.integers(0, 100), st.integers(1, 3)), max_size=2))),
        ))
    jobs = []
    for k in range(draw(st.integers(1, 14))):
        spot = draw(st.booleans())
        jobs.append(JobRequest(
            id=f"j{k}", accelerators=draw(st.integers(0, 16)) or 0, vcpus=draw(st.integers(1, 64)),
            memory_gib=draw(st.integers(0, 512)),
            chip=draw(st.one_of(st.none(), st.sampled_from([c[0] for c in chips]))),
            ecosystems=draw(st.sampled_from((frozenset(), frozenset({"cuda"}), frozenset({"cann"})))),
            min_accel_memory_gib=draw(st.sampled_from((0, 32, 80))),
            min_fp16_tflops=draw(st.sampled_from((0.0, 200.0))),
            provinces=draw(st.sampled_from((frozenset(), frozenset({"北京"}), frozenset({"安徽", "贵州"})))),
            datacenters=draw(st.sampled_from((frozenset(), frozenset({"d1"})))),
            products=draw(st.sampled_from((frozenset(), frozenset(), frozenset({"o0", "o1"})))),
            max_hourly_price_fen=draw(st.one_of(st.none(), st.integers(100, 40_000))),
            objective=draw(st.sampled_from(("cost", "time"))), mode="spot" if spot else "on_demand",
            bid_hourly_fen=draw(st.integers(100, 40_000)) if spot else None,
            max_runtime_minutes=draw(st.one_of(st.none(), st.integers(1, 200))),
            priority=draw(st.integers(0, 2)), submit_seq=k,
            blocked_offers=draw(st.sampled_from((frozenset(), frozenset({"o0"})))),
        ))
    running = []
    for o in offers:
        busy = o.total_units - o.free_units
        if busy and draw(st.booleans()):
            running.append(RunningSpot(f"r-{o.product_id}", o.product_id, draw(st.integers(1, busy)),
                                       draw(st.integers(1, 5_000))))
    return offers, jobs, running


def satisfies(job: JobRequest, o: Offer, p: Placement) -> bool:
    units = units_needed(job, o.accelerators_per_unit, o.vcpus_per_unit, o.memory_gib_per_unit)
    per_unit = o.spot_floor_fen if job.mode == "spot" else o.price_per_unit_hour_fen
    limit = job.price_limit_fen
    return (units == p.units and o.healthy and (job.chip is None or job.accelerators == 0 or o.chip_key == job.chip)
            and (not job.ecosystems or o.ecosystem in job.ecosystems)
            and o.accel_memory_gib >= job.min_accel_memory_gib and o.fp16_tflops >= job.min_fp16_tflops
            and (not job.provinces or o.province in job.provinces)
            and (not job.datacenters or o.datacenter_id in job.datacenters)
            and (not job.products or o.product_id in job.products)
            and per_unit is not None and p.hourly_price_fen == per_unit * units
            and (limit is None or p.hourly_price_fen <= limit)
            and o.product_id not in job.blocked_offers and o.cluster_id not in job.blocked_clusters)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_random_rounds_never_over_allocate_and_respect_every_constraint(market):
    offers, jobs, running = market
    result = schedule_round(jobs, offers, running)
    by_id = {o.product_id: o for o in offers}
    jobs_by_id = {j.id: j for j in jobs}
    used: dict[str, int] = defaultdict(int)
    for p in result.placements:
        used[p.offer_id] += p.units
        assert satisfies(jobs_by_id[p.job_id], by_id[p.offer_id], p), p
    freed: dict[str, int] = defaultdict(int)
    running_ids = {r.job_id: r for r in running}
    for x in result.preemptions:
        assert x.job_id in running_ids  # only running spot jobs are ever preempted
        assert jobs_by_id[x.for_job_id].mode == "on_demand"
        freed[x.offer_id] += running_ids[x.job_id].units
    for oid, units in used.items():
        assert units <= by_id[oid].free_units + freed[oid]
    assert {p.job_id for p in result.placements} | {u.job_id for u in result.unplaceable} == set(jobs_by_id)
    for u in result.unplaceable:
        assert sum(u.eliminated.values()) == len(offers)
        assert list(u.eliminated) == list(CONSTRAINTS)


@settings(max_examples=60, deadline=None)
@given(markets())
def test_fast_explanations_match_offer_by_offer_counting(market):
    offers, jobs, _running = market
    for job in jobs:
        job = dataclasses.replace(job, blocked_offers=frozenset())
        st_ = _Round(offers, ())
        if st_.best_two(job):
            continue
        assert eliminations(st_, job) == eliminations(st_, job, exact=True)


def test_bad_requests_name_the_field():
    with pytest.raises(ValueError, match="^bid_hourly_fen"):
        JobRequest("s", accelerators=1, mode="spot")
    with pytest.raises(ValueError, match="^objective"):
        JobRequest("j", accelerators=1, objective="fast")
    with pytest.raises(ValueError, match="^accelerators"):
        JobRequest("j")
    with pytest.raises(ValueError, match="^total_units"):
        offer("o", free_units=3, total_units=2)
    with pytest.raises(ValueError, match="unique"):
        schedule_round([JobRequest("j", accelerators=1)] * 2, [offer("o")])


# ---------------------------------------------------------------- repair and local search

def test_relocation_makes_room_by_moving_an_earlier_job_and_can_be_turned_off():
    offers = [offer("bj", province="北京", free_units=1, price_per_unit_hour_fen=1_000),
              offer("sh", province="上海", free_units=1, price_per_unit_hour_fen=2_000)]
    anywhere = JobRequest("anywhere", accelerators=8, submit_seq=0)
    beijing = JobRequest("beijing", accelerators=8, provinces={"北京"}, submit_seq=1)
    result = schedule_round([anywhere, beijing], offers)
    placed = {p.job_id: p for p in result.placements}
    assert (placed["anywhere"].offer_id, placed["beijing"].offer_id) == ("sh", "bj")
    assert "to make room for job beijing" in placed["anywhere"].reason
    assert "made room by moving job anywhere" in placed["beijing"].reason
    plain = schedule_round([anywhere, beijing], offers, repair_budget=0)
    assert [u.job_id for u in plain.unplaceable] == ["beijing"]


def test_exchange_lowers_the_round_total_when_one_job_saves_more_than_the_other_pays():
    offers = [offer("a", province="北京", free_units=1, price_per_unit_hour_fen=1_000),
              offer("b", province="上海", free_units=1, price_per_unit_hour_fen=1_500),
              offer("c", province="北京", free_units=1, price_per_unit_hour_fen=5_000)]
    flexible = JobRequest("flexible", accelerators=8, submit_seq=0)
    picky = JobRequest("picky", accelerators=8, provinces={"北京"}, submit_seq=1)
    # the bounded local search of large rounds (the whole-round search turned off)
    result = schedule_round([flexible, picky], offers, search_limit=0)
    placed = {p.job_id: p for p in result.placements}
    assert (placed["flexible"].offer_id, placed["picky"].offer_id) == ("b", "a")
    assert sum(p.hourly_price_fen for p in result.placements) == 2_500  # instead of 1,000 + 5,000
    assert "exchanged with job flexible" in placed["picky"].reason
    assert "moved for job picky" in placed["flexible"].reason
    # the whole-round search of small rounds finds the same
    searched = {p.job_id: p for p in schedule_round([flexible, picky], offers).placements}
    assert (searched["flexible"].offer_id, searched["picky"].offer_id) == ("b", "a")
    assert "whole-round search" in searched["picky"].reason


def random_market(seed: int) -> tuple[list[Offer], list[JobRequest]]:
    """A tight market like bench/scheduler_quality.py's: whole units of 1, 2, 4 or 8 accelerators."""
    import random

    rng = random.Random(seed)
    chips = (("h100", 989.4, 2200), ("a800", 312.0, 950), ("l20", 119.5, 450))
    offers = []
    for k in range(12):
        chip, tflops, base = rng.choice(chips)
        apu = rng.choice((1, 2, 4, 8))
        offers.append(offer(f"o{k:02d}", chip_key=chip, fp16_tflops=tflops, accelerators_per_unit=apu,
                            vcpus_per_unit=apu * 16, memory_gib_per_unit=apu * 128, free_units=rng.randint(1, 4),
                            province=rng.choice(("北京", "上海", "广东")), datacenter_id=f"dc{k}",
                            price_per_unit_hour_fen=int(base * apu * rng.uniform(0.75, 1.3))))
    jobs = []
    for k in range(30):
        kw = {"chip": rng.choice(chips)[0]} if rng.random() < 0.4 else {}
        if rng.random() < 0.25:
            kw["provinces"] = frozenset(rng.sample(("北京", "上海", "广东"), 2))
        jobs.append(JobRequest(f"j{k:02d}", accelerators=rng.choice((1, 2, 4, 8)), submit_seq=k, **kw))
    return offers, jobs


def test_whole_round_search_places_as_many_and_costs_less_than_the_local_search():
    better = 0
    for seed in range(1, 11):
        offers, jobs = random_market(seed)
        local = schedule_round(jobs, offers, search_limit=0)
        searched = schedule_round(jobs, offers)
        key_local = (-len(local.placements), sum(p.hourly_price_fen for p in local.placements))
        key_searched = (-len(searched.placements), sum(p.hourly_price_fen for p in searched.placements))
        assert key_searched <= key_local
        better += key_searched < key_local
        used: dict[str, int] = defaultdict(int)
        for p in searched.placements:
            used[p.offer_id] += p.units
        assert all(used[o.product_id] <= o.free_units for o in offers)
    assert better >= 3


def test_whole_round_search_places_the_reservation_head_and_drops_the_reservation():
    # j1 takes the only offer j2 can use, j2 gets the reservation; moving j1 to "b" places both
    offers = [offer("a", free_units=1, price_per_unit_hour_fen=1_000, releases=((60, 1),), total_units=1),
              offer("b", province="上海", free_units=1, price_per_unit_hour_fen=3_000)]
    jobs = [JobRequest("j1", accelerators=8, submit_seq=1, max_runtime_minutes=60),
            JobRequest("j2", accelerators=8, provinces={"北京"}, submit_seq=2)]
    plain = schedule_round(jobs, offers, repair_budget=0)
    assert plain.reservation is not None and plain.reservation.job_id == "j2"
    result = schedule_round(jobs, offers)
    assert {p.job_id: p.offer_id for p in result.placements} == {"j1": "b", "j2": "a"}
    assert result.reservation is None and result.unplaceable == ()


def test_whole_round_search_leaves_spot_time_and_preempting_jobs_where_the_pass_put_them():
    offers = [offer("a", free_units=1, price_per_unit_hour_fen=1_000, spot_floor_fen=500),
              offer("b", province="上海", free_units=1, price_per_unit_hour_fen=2_000, spot_floor_fen=500)]
    spot = JobRequest("spot", accelerators=8, mode="spot", bid_hourly_fen=5_000, submit_seq=1)
    fast = JobRequest("fast", accelerators=8, objective="time", submit_seq=2)
    result = schedule_round([spot, fast], offers)
    placed = {p.job_id: p for p in result.placements}
    assert "whole-round search" not in placed["fast"].reason + placed["spot"].reason
