"""Trace replay: the simulator's metrics on hand-made traces, the policies, FGD's measure, CSV errors,
the Alibaba converter and the CLI commands."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from suanli.scheduling.policies import POLICIES, Cluster, SimJob, TargetWorkload, choose_node
from suanli.scheduling.replay import (
    ReplayOptions,
    TraceError,
    paper_workload,
    percentile,
    read_jobs,
    read_nodes,
    replay,
)

JOBS = """id,submit_time_s,duration_s,accelerators,vcpus,memory_gib,chip
a,0,100,1,4,16,
b,0,50,0.5,2,8,
c,10,100,2,4,16,t4
d,20,60,0.5,2,8,
"""
NODES = """id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny
n1,dc1,北京,t4,2,16,64,3.60
n2,dc1,北京,v100,1,8,32,7.20
"""


def test_tiny_trace_gives_the_hand_computed_metrics():
    # suanli = cheapest first: a (1 GPU) and b (half a GPU) go to the cheap T4 node at t=0; c (2 T4s)
    # waits until a ends at 100; d shares b's GPU at 20. b ends 50, d 80, a 100, c 200.
    r = replay(read_jobs(JOBS), read_nodes(NODES), ReplayOptions(policy="suanli"))
    assert (r.placed, r.failed, r.unschedulable, r.total_gpus) == (4, 0, 0, 3)
    # Demand reaches 50 % with b (1.5 of 3 GPUs) and 100 %+ with c, while 1.5 GPUs are allocated.
    assert r.allocation_at == dict.fromkeys((50, 60, 70, 80, 90, 100), 50.0)
    assert r.unallocated_gpus_at_100 == 1.5
    # Delays 0, 0, 90, 0; completion times 100, 50, 190, 60 (nearest rank).
    assert (r.queueing_delay_p50_s, r.queueing_delay_p95_s) == (0, 90)
    assert (r.jct_p50_s, r.jct_p95_s) == (60, 190)
    # Allocated milli-GPUs: 1500 for 20 s, 2000 for 30 s, 1500 for 30 s, 1000 for 20 s -> 155,000 over
    # 3 GPUs x 100 s (first arrival to last start).
    assert r.utilization == pytest.approx(51.667, abs=1e-3)
    assert r.makespan_s == 200
    # Node share x node price x hours, rounded half-up per job: a 5, b 1.25 -> 1, c 10, d 1.5 -> 2 fen.
    assert r.cost_fen == 18
    assert r.placed_gpu_hours == pytest.approx((100 + 25 + 200 + 30) / 3600, abs=1e-3)
    data = json.loads(json.dumps(r.to_dict()))
    assert data["allocation_at"]["100"] == 50.0 and data["policy"] == "suanli"


def test_paper_protocol_fails_jobs_that_do_not_fit_and_never_frees():
    jobs = read_jobs("""id,submit_time_s,duration_s,accelerators,vcpus,memory_gib
x,0,10,2,1,1
y,1,10,1,1,1
z,2,10,0.5,1,1
""")
    nodes = read_nodes("""id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny
n,d,r,t4,2,8,8,2
""")
    r = replay(jobs, nodes, ReplayOptions(policy="first-fit", departures=False, queue=False))
    assert (r.placed, r.failed) == (1, 2)
    assert r.allocation_at[100] == 100.0 and r.final_allocation == 100.0 and r.utilization == 100.0
    assert r.jct_p50_s is None


def test_unschedulable_jobs_leave_instead_of_blocking_the_queue():
    jobs = read_jobs("""id,submit_time_s,duration_s,accelerators,vcpus,memory_gib,chip
big,0,10,4,1,1,
wrongchip,0,10,1,1,1,h100
ok,0,10,1,1,1,
""")
    r = replay(jobs, read_nodes(NODES), ReplayOptions(policy="fgd"))
    assert (r.placed, r.unschedulable) == (1, 2)


def test_cost_is_exact_in_fen():
    jobs = read_jobs("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\nj,0,7200,1,1,1\n")
    nodes = read_nodes("id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny\n"
                       "n,d,r,a800,3,96,512,10.01\n")
    # one third of ¥10.01/h for two hours = ¥6.67333... -> 667 fen
    assert replay(jobs, nodes).cost_fen == 667


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5], 95) == 5
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 95) == 4
    assert percentile(list(range(1, 101)), 95) == 95


# ---------------------------------------------------------------- FGD's fragmentation measure

def test_fragmentation_measure_matches_the_paper_definition():
    # Target workload: 3/4 of tasks want half a GPU and 2 vCPUs, 1/4 want one whole GPU and 4 vCPUs.
    shapes = [(2000, 500, 1, frozenset())] * 3 + [(4000, 1000, 1, frozenset())]
    m = TargetWorkload(shapes, threshold=1.0)
    # GPUs with 300 and 1000 milli free, plenty of CPU: the half-GPU tasks strand the 300; the
    # whole-GPU task strands the 300 too (it cannot use a partly used GPU).
    assert m.node_frag("t4", 10_000, (300, 1000)) == pytest.approx(0.75 * 300 + 0.25 * 300)
    # Only 3 vCPUs free: the whole-GPU task cannot run at all, so all 1300 free are stranded for it.
    assert m.node_frag("t4", 3_000, (300, 1000)) == pytest.approx(0.75 * 300 + 0.25 * 1300)
    # Nothing free, nothing fragmented; a task constrained to another model sees everything as fragment.
    assert m.node_frag("t4", 10_000, (0, 0)) == 0
    other = TargetWorkload([(1000, 500, 1, frozenset({"v100"}))], threshold=1.0)
    assert other.node_frag("t4", 10_000, (1000,)) == pytest.approx(1000)


def test_target_workload_keeps_the_popular_shapes_covering_the_threshold():
    shapes = [(1, 500, 1, frozenset())] * 90 + [(2, 1000, 1, frozenset())] * 6 + [(3, 250, 1, frozenset())] * 4
    m = TargetWorkload(shapes, threshold=0.95)
    assert [s for s, _p in m.shapes] == [(1, 500, 1, frozenset()), (2, 1000, 1, frozenset())]
    assert sum(p for _s, p in m.shapes) == pytest.approx(1.0)


def cluster_of(gpu_free: list[list[int]], target: TargetWorkload) -> Cluster:
    c = Cluster(["t4"] * len(gpu_free), [len(g) for g in gpu_free], [32_000] * len(gpu_free),
                [65_536] * len(gpu_free), [1.0] * len(gpu_free), target)
    for i, free in enumerate(gpu_free):
        for g, f in enumerate(free):
            if f < 1000:
                c.allocate(i, SimJob(-1, 1000 - f, 0, 0, frozenset()), (g,))
    return c


def test_fgd_fills_the_gpu_share_that_would_otherwise_be_stranded():
    target = TargetWorkload([(1000, 500, 1, frozenset())] * 5 + [(1000, 1000, 1, frozenset())] * 5, threshold=1.0)
    # Node 0: idle 2-GPU node; node 1: one GPU with exactly half free.
    c = cluster_of([[1000, 1000], [1000, 500]], target)
    job = SimJob(0, 500, 1000, 1024, frozenset())
    assert choose_node("fgd", c, job, random.Random(0)) == (1, (1,))
    assert choose_node("first-fit", c, job, random.Random(0)) == (0, (0,))
    # Whole-GPU job: FGD keeps node 1's idle GPU free only if that adds no fragment; both are 0 -> first.
    whole = SimJob(1, 1000, 1000, 1024, frozenset())
    node, _gpus = choose_node("fgd", c, whole, random.Random(0))
    assert node == 0


def test_every_policy_places_on_a_feasible_node_and_respects_the_chip():
    target = TargetWorkload([(1000, 500, 1, frozenset())], threshold=1.0)
    c = Cluster(["t4", "v100", "t4"], [2, 1, 4], [8_000, 8_000, 8_000], [16_384] * 3, [1.5, 2.0, 1.5], target)
    job = SimJob(0, 2000, 1000, 1024, frozenset({"t4"}))
    for name in POLICIES:
        node, gpus = choose_node(name, c, job, random.Random(1))
        assert c.chip[node] == "t4" and len(gpus) == 2 and all(c.gpu_free[node][g] == 1000 for g in gpus)
    assert choose_node("fgd", c, SimJob(1, 8000, 1, 1, frozenset()), random.Random(1)) is None


# ---------------------------------------------------------------- CSV errors

@pytest.mark.parametrize(("text", "fragment"), [
    ("id,submit_time_s,duration_s,accelerators,vcpus\n", "missing column 'memory_gib'"),
    ("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,10,x,1,1\n", ":2: column 'accelerators'"),
    ("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,10,1,1,1\nb,0,1.5,1,1,1\n",
     ":3: column 'duration_s'"),
    ("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,10,0.0005,1,1\n", "finer than 0.001"),
    ("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,10,2.5,1,1\n", "whole number of GPUs"),
    ("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,10,1,1,1\na,0,10,1,1,1\n", "duplicate job id"),
    ("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,10,1,-1,1\n", ":2: column 'vcpus'"),
])
def test_bad_job_csv_names_line_and_column(text, fragment):
    with pytest.raises(TraceError, match=None) as info:
        read_jobs(text)
    assert fragment in str(info.value)


def test_bad_node_csv_and_unknown_policy():
    with pytest.raises(TraceError, match=r"<nodes>:2: column 'hourly_price_cny'"):
        read_nodes("id,datacenter,region,chip,accelerators,vcpus,memory_gib,hourly_price_cny\nn,d,r,t4,1,1,1,cheap\n")
    with pytest.raises(ValueError, match="valid policies: suanli, first-fit"):
        ReplayOptions(policy="magic")


def test_paper_workload_inflates_to_the_ratio_and_shuffles():
    jobs = read_jobs(JOBS)
    w = paper_workload(jobs, total_gpus=3, ratio=2.0, seed=1)
    assert sum(j.gpu_milli for j in w) <= 6000 < sum(j.gpu_milli for j in w) + 2000
    assert [j.submit_time_s for j in w] == list(range(len(w)))
    assert {j.id for j in jobs} <= {j.id for j in w}


# ---------------------------------------------------------------- CLI

def cli() -> typer.Typer:
    from suanli.cli import app  # the real CLI, so the commands are registered as users call them

    return app


def test_cli_replay_table_json_and_errors(tmp_path: Path):
    (tmp_path / "j.csv").write_text(JOBS, encoding="utf-8")
    (tmp_path / "n.csv").write_text(NODES, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli(), ["replay", "--jobs", str(tmp_path / "j.csv"), "--nodes", str(tmp_path / "n.csv"), "--policy", "fgd"])
    assert ok.exit_code == 0, ok.output
    assert "queueing delay p50 / p95" in ok.output
    as_json = runner.invoke(cli(), ["replay", "--jobs", str(tmp_path / "j.csv"), "--nodes", str(tmp_path / "n.csv"), "--json"])
    assert json.loads(as_json.stdout)["cost_fen"] == 18
    bad = runner.invoke(cli(), ["replay", "--jobs", str(tmp_path / "j.csv"), "--nodes", str(tmp_path / "n.csv"), "--policy", "magic"])
    assert bad.exit_code == 1 and "valid policies" in bad.output
    (tmp_path / "bad.csv").write_text("id,submit_time_s,duration_s,accelerators,vcpus,memory_gib\na,0,1,1,1,lots\n")
    bad = runner.invoke(cli(), ["replay", "--jobs", str(tmp_path / "bad.csv"), "--nodes", str(tmp_path / "n.csv")])
    flat = " ".join(bad.output.split())  # Rich wraps long lines
    assert bad.exit_code == 1 and "bad.csv:2:" in flat and "column 'memory_gib'" in flat


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
    assert (s.nodes, s.gpu_nodes, s.gpus, s.gpu_demand) == (1523, 1213, 6212, Decimal("6086.8"))
    assert s.models == {"a10": 2, "g2": 549, "g3": 39, "p100": 134, "t4": 404, "v100m16": 55, "v100m32": 30}
    jobs = read_jobs(tmp_path / "jobs.csv")
    nodes = read_nodes(tmp_path / "nodes.csv")
    assert len(jobs) == 8152 and sum(j.gpu_milli for j in jobs) == 6_086_800
    assert sum(n.accelerators for n in nodes) == 6212
    assert next(n for n in nodes if n.chip == "g2").hourly_price_cny == Decimal("28.00")
    s33 = convert(TRACE / "openb_pod_list_gpuspec33.csv", TRACE / "openb_node_list_gpu_node.csv",
                  tmp_path / "jobs33.csv", tmp_path / "nodes33.csv")
    assert (s33.constrained_jobs, s33.nodes, s33.gpus) == (2388, 1213, 6212)
    assert read_jobs(tmp_path / "jobs33.csv")[9].chips == {"v100m16", "v100m32"}
