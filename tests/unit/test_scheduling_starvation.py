"""No starvation (issue 15 point 3): holds for jobs that waited past a bound, and flexible jobs that spare the
chips constrained jobs wait for. Each test is a small trace where the old production policy (EASY for the head
job only, price-greedy fill) starves a job and the new rules do not."""

from __future__ import annotations

import pytest

from suanli.scheduling.model import JobRequest, Offer
from suanli.scheduling.policy import schedule_round
from suanli.scheduling.replay import ReplayOptions, replay
from suanli.scheduling.rules import POLICIES, Rules
from suanli.scheduling.traces import read_jobs, read_nodes

OLD = Rules()  # EASY for the head job only, no spare: the production policy before issue 15 point 3

NODES = """id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny
a10,dc1,北京,a10,1,8,32,3.00
t4,dc1,北京,t4,2,16,64,2.00
v100,dc1,北京,v100,4,32,128,4.80
"""


def _trace(stream_chip: str, stream_gap_s: int, stream_duration_s: int, *, big: str) -> str:
    """``a0`` holds the only A10 for 10,000 s, so ``x`` (an A10 job) is the head job and holds the A10 reservation
    for that long; ``big`` waits behind it; a stream of 1-GPU jobs follows until about 1,000 s."""
    rows = ["id,submit_time_s,duration_s,accelerators,chip",
            "a0,0,10000,1,a10", "f0,0,100,1,", "f1,0,150,1,", "x,1,10,1,a10", big]
    rows += [f"s{k},{3 + stream_gap_s * k},{stream_duration_s},1,{stream_chip}" for k in range(1000 // stream_gap_s)]
    return "\n".join(rows) + "\n"


def _starts(monkeypatch: pytest.MonkeyPatch, text: str, rules: Rules) -> dict[str, float]:
    monkeypatch.setitem(POLICIES, "under-test", rules)
    result = replay(read_jobs(text), read_nodes(NODES), ReplayOptions(policy="under-test"))
    assert not result.dropped
    return {o.id: o.start_s for o in result.outcomes}


def test_a_job_that_waited_past_the_bound_holds_a_server_and_starts_by_its_hold(monkeypatch):
    # The V100 server runs 4 stream jobs from the start (v0-v3, ending 50 .. 200); "big" needs the whole server.
    # Under the old policy it is never the head (x is), so the stream, one job every 20 s, takes every V100 unit
    # as it frees and "big" waits until the stream is over.
    text = _trace("v100", 20, 100, big="big,2,100,4,v100").replace(
        "f0,0,100,1,\nf1,0,150,1,\n", "".join(f"v{k},0,{50 * (k + 1)},1,v100\n" for k in range(4)))
    old = _starts(monkeypatch, text, OLD)
    assert old["big"] > 900
    # Held after 30 s of waiting: at 32 s the server's four units are released by 200 s, so it starts by then
    # (the replay's release times are whole minutes from the round: at most 60 s later).
    new = _starts(monkeypatch, text, Rules(reserve_after_s=30))
    assert 32 <= new["big"] <= 200 + 60
    # Conservative backfilling: the stream jobs that started before "big" (backfilled on the held server) all
    # ended by its start; the others started after it.
    before = [k for k in range(50) if new[f"s{k}"] < new["big"]]
    assert before and all(new[f"s{k}"] + 100 <= new["big"] for k in before)
    # Without the bound (EASY for the head only) the result is the old one.
    assert _starts(monkeypatch, text, Rules(reserve_after_s=None)) == old


def test_a_constrained_job_is_not_starved_by_flexible_jobs_on_its_chip(monkeypatch):
    # "c" needs both T4s; x (the head) holds the A10. Flexible jobs (any chip) arrive every 10 s for 35 s each:
    # price-greedy, each takes a T4 as soon as one frees (T4 ¥1.00 per GPU-hour, V100 ¥1.20), so one T4 is
    # always busy and "c" waits for the whole stream while V100s sit idle.
    text = _trace("", 10, 35, big="c,2,100,2,t4")
    old = _starts(monkeypatch, text, OLD)
    assert old["c"] > 900
    # Sparing the T4 while "c" waits (a 20 % dearer V100 is within a 50 % penalty): c starts when f1 ends.
    new = _starts(monkeypatch, text, Rules(spare_constrained=0.5))
    assert new["c"] == 150
    # A penalty smaller than the price difference changes nothing: the stream still takes the cheaper T4.
    assert _starts(monkeypatch, text, Rules(spare_constrained=0.1))["c"] == old["c"]
    # A hold does it too: c waited past 30 s, holds the T4 server, and the stream may not delay it.
    assert _starts(monkeypatch, text, Rules(reserve_after_s=30))["c"] == 150
    # Every flexible job still starts on arrival (the V100s hold the stream).
    assert all(new[f"s{k}"] == 3 + 10 * k for k in range(100))


def _a800(name: str, free: int, releases: tuple = ()) -> Offer:
    return Offer(product_id=name, datacenter_id="dc", cluster_id="dc", province="北京", chip_key="a800",
                 ecosystem="cuda", accel_memory_gib=80, fp16_tflops=312.0, accelerators_per_unit=1, vcpus_per_unit=8,
                 memory_gib_per_unit=64, free_units=free, total_units=8, price_per_unit_hour_fen=1_000,
                 releases=releases)


def test_a_round_holds_an_offer_for_every_job_that_waited_past_the_bound_and_backfills_around_each():
    offers = [_a800("n1", 2, ((30, 6),)), _a800("n2", 4, ((60, 4),))]
    head = JobRequest("head", accelerators=8, chip="a800", max_runtime_minutes=60, submit_seq=1, submitted_s=990)
    old = JobRequest("old", accelerators=8, chip="a800", max_runtime_minutes=60, submit_seq=2, submitted_s=0)
    fresh = JobRequest("fresh", accelerators=8, chip="a800", max_runtime_minutes=60, submit_seq=3, submitted_s=995)
    short = JobRequest("short", accelerators=2, chip="a800", max_runtime_minutes=45, submit_seq=4)
    long = JobRequest("long", accelerators=2, chip="a800", max_runtime_minutes=600, submit_seq=5)
    rules = Rules(reserve_after_s=600, improve=False, explain=False)
    result = schedule_round([head, old, fresh, short, long], offers, rules=rules, now_s=1000)
    # head: n1 from minute 30 (EASY); old (waited 1,000 s >= 600): n2 from minute 60; fresh waited 5 s: no hold
    assert [(r.job_id, r.offer_id, r.start_minute) for r in result.reservations] == [("head", "n1", 30),
                                                                                    ("old", "n2", 60)]
    assert result.reservation == result.reservations[0]
    # short (45 min) ends before old's hold on n2 but not before head's on n1; long fits under neither hold
    placed = {p.job_id: p.offer_id for p in result.placements}
    assert placed == {"short": "n2"}
    # without the bound only the head holds, and both small jobs run on n2
    plain = schedule_round([head, old, fresh, short, long], offers, rules=Rules(improve=False, explain=False),
                           now_s=1000)
    assert [r.job_id for r in plain.reservations] == ["head"]
    assert {p.job_id for p in plain.placements} == {"short", "long"}


def test_the_platform_rules_explain_each_hold_and_validate_the_options():
    offers = [_a800("n1", 2, ((30, 6),)), _a800("n2", 4, ((60, 4),))]
    jobs = [JobRequest("head", accelerators=8, chip="a800", max_runtime_minutes=60, submit_seq=1, submitted_s=990),
            JobRequest("old", accelerators=8, chip="a800", max_runtime_minutes=60, submit_seq=2, submitted_s=0),
            JobRequest("short", accelerators=2, chip="a800", max_runtime_minutes=45, submit_seq=4)]
    result = schedule_round(jobs, offers, rules=Rules(reserve_after_s=600), now_s=1000)  # explain, improve on
    reserved = {u.job_id: (u.reserved.offer_id, u.reserved.start_minute) for u in result.unplaceable}
    assert reserved == {"head": ("n1", 30), "old": ("n2", 60)}
    assert "reserved 8 units of n2 in 60 min" in next(u.message for u in result.unplaceable if u.job_id == "old")
    long = JobRequest("long", accelerators=2, chip="a800", max_runtime_minutes=600, submit_seq=5)
    with_long = schedule_round([*jobs, long], offers, rules=Rules(reserve_after_s=600), now_s=1000)
    assert with_long.unplaceable[-1].message.endswith("(2 held for waiting jobs)")  # not "held for job head"
    assert [(p.job_id, p.offer_id) for p in result.placements] == [("short", "n2")]
    # without the round's time no job counts as waiting: the head only
    assert [r.job_id for r in schedule_round(jobs, offers, rules=Rules(reserve_after_s=600)).reservations] == ["head"]
    for bad in ({"reserve_after_s": -1}, {"max_reservations": 0}, {"spare_constrained": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Rules(**bad)
