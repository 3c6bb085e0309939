"""Trace replay: the platform's scheduling round on a simulated clock. Hand-computed metrics on tiny traces, the
policies as rules of the one engine, gangs, dropped jobs, fair share, trace input and converters, and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from suanli.scheduling.model import JobRequest, Offer
from suanli.scheduling.policy import schedule_round
from suanli.scheduling.replay import ReplayOptions, node_offers, percentile, replay
from suanli.scheduling.rules import POLICIES, PRODUCTION, Rules
from suanli.scheduling.traces import TraceError, TraceJob, read_jobs, read_nodes

JOBS = """id,submit_time_s,duration_s,accelerators,chip
a,0,100,1,
b,0,50,1,
c,10,100,2,T4
d,20,60,1,
"""
NODES = """id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny
n1,dc1,北京,t4,2,16,64,3.60
n2,dc1,北京,v100,1,8,32,7.20
"""


def test_tiny_trace_gives_the_hand_computed_metrics():
    # Production: a and b take the cheap T4 node at 0; c (2 T4s, submitted at 10) waits for a (ends 100) and
    # holds the EASY reservation; d (any chip) starts at 20 on the V100 node, which c cannot use.
    r = replay(read_jobs(JOBS), read_nodes(NODES), ReplayOptions(policy="suanli"))
    starts = {o.id: o.start_s for o in r.outcomes}
    assert starts == {"a": 0, "b": 0, "c": 100, "d": 20}
    assert (r.placed, r.dropped, r.gang_jobs, r.accelerators) == (4, (), 0, 3)
    # delays 0, 0, 90, 0 (nearest rank); JCTs 100, 50, 190, 60
    assert (r.delay_mean_s, r.delay_p50_s, r.delay_p95_s, r.delay_p99_s, r.delay_max_s) == (22.5, 0, 90, 90, 90)
    assert (r.jct_mean_s, r.jct_p95_s) == (100, 190)
    assert r.slowdown_mean == pytest.approx((1 + 1 + 1.9 + 1) / 4)
    assert r.makespan_s == 200
    # allocated accelerators: 2 on [0,20), 3 on [20,50), 2 on [50,80), 1 on [80,100), 2 on [100,200): 410 of 600
    assert r.utilisation_pct == pytest.approx(100 * 410 / 600)
    # c waits on [10,100): 20 + 90 + 60 + 20 = 190 accelerator-seconds of 3 x 90
    assert r.allocation_at_saturation_pct == pytest.approx(100 * 190 / 270) and r.saturated_s == 90
    # ¥1.80 per T4-hour, ¥7.20 per V100-hour, half-up per job: a 5, b 2.5 -> 3, c 10, d 12 fen
    assert r.cost_fen == 30
    assert json.loads(json.dumps(r.to_dict()))["delay_max_s"] == 90


def test_strict_fifo_makes_the_small_job_wait_behind_the_head():
    r = replay(read_jobs(JOBS), read_nodes(NODES), ReplayOptions(policy="fifo"))
    starts = {o.id: o.start_s for o in r.outcomes}
    assert starts == {"a": 0, "b": 0, "c": 100, "d": 100}  # d waits behind c although the V100 is idle
    assert r.delay_max_s == 90 and r.delay_mean_s == pytest.approx((90 + 80) / 4)


def test_the_replay_places_exactly_what_schedule_round_decides():
    # One engine: with every job arriving at once, the replay's first round is schedule_round on the nodes.
    jobs = [TraceJob(f"j{k}", 0, 100, acc, None) for k, acc in enumerate([1, 2, 1, 3, 1, 1])]
    nodes = read_nodes(NODES.replace("t4,2,16", "t4,4,16") + "n3,dc2,上海,a800,2,32,128,30\n")
    offers, _prices = node_offers(nodes)
    for name, rules in POLICIES.items():
        direct = schedule_round([JobRequest(j.id, accelerators=j.accelerators, max_runtime_minutes=2, submit_seq=k)
                                 for k, j in enumerate(jobs)], offers, rules=rules)
        expected = {p.job_id: p.offer_id for p in direct.placements}
        r = replay(jobs, nodes, ReplayOptions(policy=name))
        got = {o.id: o.nodes[0] for o in r.outcomes if o.start_s == 0}
        assert got == expected, name


def a800_nodes(*datacenters: str) -> list[Offer]:
    return [Offer(product_id=f"{dc}-{k}", datacenter_id=dc, cluster_id=dc, province="安徽", chip_key="a800",
                  ecosystem="cuda", accel_memory_gib=80, fp16_tflops=312, accelerators_per_unit=1, vcpus_per_unit=8,
                  memory_gib_per_unit=64, free_units=8, price_per_unit_hour_fen=1000 + k)
            for k, dc in enumerate(datacenters)]


def test_a_job_larger_than_one_server_runs_as_a_gang_in_one_datacenter_all_or_nothing():
    offers = a800_nodes("dc1", "dc1", "dc2")
    gang_rules = Rules(gang=True)
    r = schedule_round([JobRequest("big", accelerators=16, chip="a800")], offers, rules=gang_rules)
    (p,) = r.placements
    assert p.parts == (("dc1-0", 8), ("dc1-1", 8)) and p.units == 16 and p.datacenter_id == "dc1"
    assert "gang of 2 servers in dc1" in p.reason and "no single server" in p.reason
    # dc1 has only 12 free now: nothing is placed (not 8 here and 8 there, and not in two data centers)
    busy = [Offer(**{**o.__dict__, "free_units": 4 if o.product_id == "dc1-0" else o.free_units}) for o in offers]
    r = schedule_round([JobRequest("big", accelerators=16, chip="a800")], busy, rules=gang_rules)
    assert not r.placements and r.unplaceable[0].job_id == "big"
    # the platform's rules (no gangs): never split
    assert not schedule_round([JobRequest("big", accelerators=16, chip="a800")], offers).placements
    # a job that fits one server is never split, even when no single server has room now
    r = schedule_round([JobRequest("eight", accelerators=8, chip="a800")], busy[:2], rules=gang_rules)
    assert r.placements[0].parts == () and r.placements[0].offer_id == "dc1-1"


def test_replay_runs_gangs_and_drops_only_jobs_that_can_never_run_with_the_reason():
    nodes = read_nodes("id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny\n"
                       "x1,dc1,r,a800,8,64,512,80\nx2,dc1,r,a800,8,64,512,80\ny1,dc2,r,a800,8,64,512,80\n")
    jobs = read_jobs("id,submit_time_s,duration_s,accelerators,chip\n"
                     "g,0,100,16,a800\nhuge,0,100,32,a800\nh100,0,10,1,h100\nsmall,5,10,4,\n")
    r = replay(jobs, nodes, ReplayOptions(policy="suanli"))
    assert r.gang_jobs == 1 and r.placed == 2
    outcome = {o.id: o for o in r.outcomes}
    assert set(outcome["g"].nodes) == {"x1", "x2"} and outcome["g"].allocated_accelerators == 16
    assert outcome["small"].nodes == ("y1",) and outcome["small"].start_s == 5
    dropped = dict(r.dropped)
    assert set(dropped) == {"huge", "h100"}
    assert "chip" in dropped["h100"] and "h100" in dropped["h100"]
    assert dropped["huge"]  # the engine's explanation, not an empty string


def test_fit_rules_choose_different_servers():
    offers = [Offer(product_id=pid, datacenter_id="d", cluster_id="d", province="p", chip_key="t4", ecosystem="cuda",
                    accel_memory_gib=16, fp16_tflops=65, accelerators_per_unit=1, vcpus_per_unit=4,
                    memory_gib_per_unit=16, free_units=free, total_units=8, price_per_unit_hour_fen=price)
              for pid, free, price in (("idle-cheap", 8, 100), ("half", 4, 300), ("one-left", 1, 200))]
    job = [JobRequest("j", accelerators=1)]
    chosen = {name: schedule_round(job, offers, rules=rules).placements[0].offer_id for name, rules in POLICIES.items()}
    assert chosen["suanli"] == chosen["cheapest-first"] == "idle-cheap"
    assert chosen["first-fit"] == chosen["fifo"] == chosen["easy-backfill"] == "idle-cheap"
    assert chosen["best-fit"] == "one-left"
    # FGD against a queue of 4-GPU jobs: taking the last GPU of "one-left" removes a fragment nobody could use
    queue = [JobRequest("j", accelerators=1), *(JobRequest(f"q{k}", accelerators=4, submit_seq=k + 1)
                                               for k in range(3))]
    r = schedule_round(queue, offers, rules=POLICIES["fgd"])
    assert {p.job_id: p.offer_id for p in r.placements}["j"] == "one-left"


def test_backfill_rules_easy_any_none():
    offers = a800_nodes("dc1")
    head = JobRequest("head", accelerators=8, chip="a800", max_runtime_minutes=60, submit_seq=1)
    short = JobRequest("short", accelerators=2, chip="a800", max_runtime_minutes=10, submit_seq=2)
    long = JobRequest("long", accelerators=2, chip="a800", max_runtime_minutes=600, submit_seq=3)
    busy = [Offer(**{**offers[0].__dict__, "free_units": 4, "total_units": 8, "releases": ((30, 4),)})]
    placed = {name: {p.job_id for p in schedule_round([head, short, long], busy, rules=Rules(backfill=name,
                                                                                             improve=False)).placements}
              for name in ("easy", "any", "none")}
    assert placed == {"easy": {"short"}, "any": {"short", "long"}, "none": set()}


def test_fair_share_lets_a_small_org_through_first():
    nodes = read_nodes("id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny\n"
                       "n,d,r,t4,1,8,32,1\n")
    text = "id,submit_time_s,duration_s,accelerators,chip,org\n" + "".join(
        f"a{k},0,100,1,,big\n" for k in range(4)) + "b0,1,100,1,,small\n"
    fifo = replay(read_jobs(text), nodes, ReplayOptions(policy="suanli"))
    fair = replay(read_jobs(text), nodes, ReplayOptions(policy="suanli", fair_share=True))
    assert {o.id: o.start_s for o in fifo.outcomes}["b0"] == 400
    assert {o.id: o.start_s for o in fair.outcomes}["b0"] == 100
    assert fair.orgs[1].org == "small" and fair.orgs[1].delay_mean_s == 99
    assert fair.fairness_jain > fifo.fairness_jain


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5], 95) == 5
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 95) == 4
    assert percentile(list(range(1, 101)), 99) == 99


# ---------------------------------------------------------------- trace input

def test_trace_input_needs_only_the_required_columns_and_resolves_chip_aliases():
    jobs = read_jobs("chip,id,accelerators,duration_s,submit_time_s,extra\nA800,x,8,3600.5,0.25,ignored\n"
                     "910B,y,1,10,1,\n,z,2,10,2,\n")
    assert [(j.id, j.chip, j.submit_time_s, j.duration_s, j.vcpus, j.org) for j in jobs] == [
        ("x", "a800", 0.25, 3600.5, 0, "-"), ("y", "ascend-910b", 1.0, 10.0, 0, "-"), ("z", None, 2.0, 10.0, 0, "-")]


@pytest.mark.parametrize(("text", "fragment"), [
    ("id,submit_time_s,duration_s,accelerators\n", "missing column 'chip'"),
    ("id,submit_time_s,duration_s,accelerators,chip\na,0,10,x,\n", ":2: column 'accelerators'"),
    ("id,submit_time_s,duration_s,accelerators,chip\na,0,10,0.5,\n", "round a GPU share up to 1"),
    ("id,submit_time_s,duration_s,accelerators,chip\na,0,10,1,\na,0,10,1,\n", "duplicate job id"),
    ("id,submit_time_s,duration_s,accelerators,chip\na,-1,10,1,\n", ":2: column 'submit_time_s'"),
    ("id,submit_time_s,duration_s,accelerators,chip\na,0,10,0,\n", "asks for nothing"),
])
def test_bad_job_csv_names_line_and_column(text, fragment):
    with pytest.raises(TraceError) as info:
        read_jobs(text)
    assert fragment in str(info.value)


def test_bad_node_csv_and_unknown_policy():
    with pytest.raises(TraceError, match=r"<nodes>:2: column 'hourly_price_cny'"):
        read_nodes("id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny\nn,d,r,t4,1,1,1,cheap\n")
    with pytest.raises(ValueError, match="valid policies: suanli, fifo"):
        ReplayOptions(policy="magic")
    assert PRODUCTION is POLICIES["suanli"]


def test_helios_log_converts_with_dates_orgs_and_skipped_rows(tmp_path: Path):
    from suanli.scheduling.helios import convert_helios

    (tmp_path / "log.csv").write_text(
        "job_id,user,vc,jobname,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue\n"
        "j1,u1,vcA,x,8,16,1,COMPLETED,2020-04-01 00:00:07,,,3600,0\n"
        "j2,u2,vcB,x,16,32,2,COMPLETED,2020-04-01 00:01:07,,,120,5\n"
        "j3,u2,vcB,x,1,4,1,FAILED,2020-04-01 00:02:07,,,10,0\n"
        "j4,u3,vcB,x,1,4,1,PENDING,2020-04-01 00:03:07,,,,\n", encoding="utf-8")
    summary = convert_helios(tmp_path / "log.csv", tmp_path / "jobs.csv", chip="V100", nodes_out=tmp_path / "n.csv",
                             nodes=3)
    assert (summary.jobs, summary.skipped_no_duration, summary.multi_gpu_jobs, summary.orgs) == (3, 1, 2, 2)
    jobs = read_jobs(tmp_path / "jobs.csv")
    assert [(j.id, j.submit_time_s, j.accelerators, j.chip, j.org) for j in jobs] == [
        ("j1", 0, 8, "v100", "vcA"), ("j2", 60, 16, "v100", "vcB"), ("j3", 120, 1, "v100", "vcB")]
    r = replay(jobs, read_nodes(tmp_path / "n.csv"))
    assert r.placed == 3 and r.gang_jobs == 1
    only_done = convert_helios(tmp_path / "log.csv", tmp_path / "jobs2.csv", states=["completed"])
    assert (only_done.jobs, only_done.skipped_state) == (2, 2)


# ---------------------------------------------------------------- CLI

def cli() -> typer.Typer:
    from suanli.cli import app  # the real CLI, so the commands are registered as users call them

    return app


def test_cli_replay_all_policies_per_job_json_and_errors(tmp_path: Path):
    (tmp_path / "j.csv").write_text(JOBS, encoding="utf-8")
    (tmp_path / "n.csv").write_text(NODES, encoding="utf-8")
    base = ["replay", "--jobs", str(tmp_path / "j.csv"), "--nodes", str(tmp_path / "n.csv")]
    runner = CliRunner()
    ok = runner.invoke(cli(), [*base, "--policy", "all", "--per-job", str(tmp_path / "per.csv"), "--orgs"])
    assert ok.exit_code == 0, ok.output
    flat = " ".join(ok.output.split())  # Rich wraps a wide table
    assert all(word in flat for word in ("p99", "production", "fgd", "per organization (easy-backfill)"))
    rows = list(csv.DictReader((tmp_path / "per.csv").open(encoding="utf-8")))
    assert len(rows) == 4 * len(POLICIES)
    assert {(r["policy"], r["id"]): r["delay_s"] for r in rows}[("fifo", "d")] == "80.0"
    as_json = runner.invoke(cli(), [*base, "--policy", "suanli,fifo", "--json"])
    data = json.loads(as_json.stdout)
    assert [d["policy"] for d in data] == ["suanli", "fifo"] and data[0]["cost_fen"] == 30
    bad = runner.invoke(cli(), [*base, "--policy", "magic"])
    assert bad.exit_code == 1 and "valid policies" in bad.output
    (tmp_path / "bad.csv").write_text("id,submit_time_s,duration_s,accelerators,chip\na,0,1,lots,\n")
    bad = runner.invoke(cli(), ["replay", "--jobs", str(tmp_path / "bad.csv"), "--nodes", str(tmp_path / "n.csv")])
    flat = " ".join(bad.output.split())  # Rich wraps long lines
    assert bad.exit_code == 1 and "bad.csv:2:" in flat and "column 'accelerators'" in flat


# ---------------------------------------------------------------- the real trace

TRACE = Path(__file__).resolve().parents[3] / "shared" / "data" / "traces" / "alibaba-gpu-2023"
if not TRACE.exists():
    TRACE = Path("/work/shared/data/traces/alibaba-gpu-2023")


@pytest.mark.skipif(not (TRACE / "openb_pod_list_default.csv").exists(), reason="the Alibaba trace is not here")
def test_converter_on_the_real_trace_gives_the_documented_counts(tmp_path: Path):
    from suanli.scheduling.alibaba import convert

    s = convert(TRACE / "openb_pod_list_default.csv", TRACE / "openb_node_list_all_node.csv",
                tmp_path / "jobs.csv", tmp_path / "nodes.csv")
    assert (s.jobs, s.cpu_only_jobs, s.shared_gpu_jobs, s.multi_gpu_jobs, s.constrained_jobs) == (8152, 1088, 3078, 75, 0)
    assert (s.nodes, s.gpu_nodes, s.gpus, s.gpu_demand) == (1523, 1213, 6212, 7433)
    assert s.models == {"a10": 2, "g2": 549, "g3": 39, "p100": 134, "t4": 404, "v100m16": 55, "v100m32": 30}
    jobs = read_jobs(tmp_path / "jobs.csv")
    nodes = read_nodes(tmp_path / "nodes.csv")
    assert len(jobs) == 8152 and sum(j.accelerators for j in jobs) == 7433
    assert sum(n.accelerators for n in nodes) == 6212
    assert str(next(n for n in nodes if n.chip == "g2").hourly_price_cny) == "28.00"
    s33 = convert(TRACE / "openb_pod_list_gpuspec33.csv", TRACE / "openb_node_list_gpu_node.csv",
                  tmp_path / "jobs33.csv", tmp_path / "nodes33.csv")
    assert (s33.constrained_jobs, s33.relaxed_chip_jobs, s33.nodes, s33.gpus) == (2010, 378, 1213, 6212)


def _contended_trace(seed: int) -> tuple[list[TraceJob], list]:
    """A random trace that keeps a queue: 400 jobs of 1-8 GPUs (a third tied to a chip, some needing more vCPUs
    per GPU than the cheap nodes give) on 9 nodes of three chips, arriving faster than they finish."""
    import random

    rng = random.Random(seed)
    nodes = read_nodes("id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny\n" + "".join(
        f"n{k},dc{k % 2},北京,{chip},{acc},{acc * vpg},{acc * 16},{price}\n"
        for k, (chip, acc, vpg, price) in enumerate(
            [("t4", 4, 4, 6), ("t4", 8, 4, 12), ("t4", 2, 4, 3), ("v100", 8, 8, 16), ("v100", 4, 8, 8),
             ("v100", 8, 8, 16), ("a800", 8, 16, 240), ("a800", 4, 16, 120), ("a800", 8, 16, 240)])))
    jobs = [TraceJob(f"j{k}", round(k * 0.7 + rng.random(), 2), rng.choice([30, 60, 200, 900, 3000]),
                     rng.choice([1, 1, 1, 2, 2, 4, 8]), rng.choice([None, None, "t4", "v100", "a800"]),
                     vcpus=rng.choice([0, 0, 4, 16]), memory_gib=0)
            for k in range(400)]
    return jobs, nodes


@pytest.mark.parametrize("policy", ["fifo", "first-fit", "best-fit", "cheapest-first", "fgd", "easy-backfill"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_rounds_decide_exactly_what_whole_queue_rounds_decide(policy, seed):
    # The replay gives each round only the jobs that may start (scheduling/waiting.py); for the baselines
    # (no moves, no search), every job must start at the same time on the same node as when every
    # round is given the whole queue.
    jobs, nodes = _contended_trace(seed)
    fast = replay(jobs, nodes, ReplayOptions(policy=policy))
    whole = replay(jobs, nodes, ReplayOptions(policy=policy, whole_queue=True))
    assert fast.placed == len(jobs) and fast.delay_max_s > 600  # every job runs, and the queue is real
    assert [(o.id, o.start_s, o.nodes) for o in fast.outcomes] == [(o.id, o.start_s, o.nodes) for o in whole.outcomes]


def test_incremental_rounds_of_the_production_policy_run_every_job_no_later_on_the_whole():
    # Its search may run on rounds it skipped when they carried the whole queue (see waiting.py): the same jobs
    # run, and the queue delays are not worse than with whole-queue rounds.
    jobs, nodes = _contended_trace(4)
    fast = replay(jobs, nodes, ReplayOptions(policy="suanli"))
    whole = replay(jobs, nodes, ReplayOptions(policy="suanli", whole_queue=True))
    assert fast.placed == whole.placed == len(jobs)
    assert fast.delay_max_s <= whole.delay_max_s and fast.delay_mean_s <= whole.delay_mean_s
