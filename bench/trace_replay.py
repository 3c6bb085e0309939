"""Trace replay: every policy of the one scheduling engine on the Alibaba GPU trace, with the same metrics.

What it measures
    The replay (``suanli.scheduling.replay``) runs the platform's ``schedule_round`` on a simulated clock; each
    policy is a ``Rules`` setting of it (``suanli.scheduling.rules.POLICIES``: ``suanli`` is the production
    policy, the others are baselines). The trace is ``shared/data/traces/alibaba-gpu-2023`` (8,152 tasks, 1,523
    nodes / 6,212 GPUs), converted with ``suanli.scheduling.alibaba`` (a GPU share becomes one whole GPU).

    Workloads: the tasks sorted by creation time and cut in two halves: **A** (first half) and **B** (second
    half, held out: no other public GPU-cluster trace is available offline, so B stands in for "another trace";
    it is the same cluster, later in time). Each arrives ``--rate`` tasks per second (default 100; at the
    trace's own pace over 149 days nothing ever queues) with its real durations.
    Clusters: every ``k``-th node of the trace's node list (``--sizes 2,4``: half and a quarter of the nodes,
    keeping the GPU model mix), so contention is real.

    For every workload x cluster x policy: queue delay mean / p50 / p95 / p99 / max, JCT mean / p95, bounded
    slowdown, makespan, utilisation over the makespan, allocation at saturation, cost, dropped jobs, gangs, and
    the replay's wall time.

    Speed: a *reference loop* written here (FIFO with first-fit backfilling over the same units, plain Python,
    no engine) replays each workload in the same run; the table gives each policy's seconds per 10,000 jobs
    and its ratio to the reference loop. The engine's ``first-fit`` policy makes the same decisions as the
    reference loop, and the script checks that it does (same start time for every job).

Usage
    .venv/bin/python bench/trace_replay.py [--trace DIR] [--rate 100] [--sizes 2,4] [--policies all] [--limit N]
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_speed import machine  # noqa: E402

from suanli.core.money import format_cny  # noqa: E402
from suanli.scheduling.alibaba import convert  # noqa: E402
from suanli.scheduling.policy import units_needed  # noqa: E402
from suanli.scheduling.replay import ReplayOptions, node_offers, replay  # noqa: E402
from suanli.scheduling.rules import policy_names  # noqa: E402
from suanli.scheduling.traces import TraceJob, TraceNode, read_jobs, read_nodes  # noqa: E402

DEFAULT_TRACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces" / "alibaba-gpu-2023"
if not DEFAULT_TRACE.exists():
    DEFAULT_TRACE = Path("/work/shared/data/traces/alibaba-gpu-2023")


def reference_loop(jobs: list[TraceJob], nodes: list[TraceNode]) -> tuple[dict[str, float], float]:
    """FIFO with first-fit backfilling, a plain event loop: at each event every queued job, in order, takes the
    first node with room (a job whose needs already found none in this pass is skipped). Start times by job id,
    and the seconds taken."""
    t0 = time.perf_counter()
    offers, _prices = node_offers(nodes)
    free = [o.free_units for o in offers]
    order = sorted(range(len(jobs)), key=lambda k: (jobs[k].submit_time_s, k))
    queue: list[int] = []
    heap: list[tuple[float, int, int, int]] = []
    starts: dict[str, float] = {}
    pos = 0
    while pos < len(order) or heap:
        now = min(jobs[order[pos]].submit_time_s if pos < len(order) else math.inf, heap[0][0] if heap else math.inf)
        while heap and heap[0][0] <= now:
            _end, _k, i, units = heapq.heappop(heap)
            free[i] += units
        while pos < len(order) and jobs[order[pos]].submit_time_s <= now:
            queue.append(order[pos])
            pos += 1
        waiting = []
        failed: set[tuple] = set()  # needs that found no node in this pass (capacity only shrinks within it)
        for k in queue:
            j = jobs[k]
            need = (j.accelerators, j.chip, j.vcpus, j.memory_gib)
            if need in failed:
                waiting.append(k)
                continue
            for i, o in enumerate(offers):
                if j.accelerators and (o.accelerators_per_unit == 0 or (j.chip and o.chip_key != j.chip)):
                    continue
                units = units_needed_cached(j, o)
                if units is not None and free[i] >= units:
                    free[i] -= units
                    starts[j.id] = now
                    heapq.heappush(heap, (now + j.duration_s, k, i, units))
                    break
            else:
                waiting.append(k)
                failed.add(need)
        queue = waiting
    return starts, time.perf_counter() - t0


_UNITS: dict[tuple, int | None] = {}


def units_needed_cached(j: TraceJob, o) -> int | None:
    key = (j.accelerators, j.vcpus, j.memory_gib, o.accelerators_per_unit, o.vcpus_per_unit, o.memory_gib_per_unit)
    if key not in _UNITS:
        from suanli.scheduling.model import JobRequest

        request = JobRequest("x", accelerators=j.accelerators, vcpus=j.vcpus, memory_gib=j.memory_gib)
        _UNITS[key] = units_needed(request, o.accelerators_per_unit, o.vcpus_per_unit, o.memory_gib_per_unit)
    return _UNITS[key]


def workloads(jobs: list[TraceJob], rate: float, limit: int | None) -> dict[str, list[TraceJob]]:
    ordered = sorted(jobs, key=lambda j: (j.submit_time_s, j.id))
    half = len(ordered) // 2
    out = {}
    for name, part in (("A (first half)", ordered[:half]), ("B (second half, held out)", ordered[half:])):
        part = part[:limit] if limit else part
        out[name] = [TraceJob(j.id, k / rate, j.duration_s, j.accelerators, j.chip, j.vcpus, j.memory_gib, j.org)
                     for k, j in enumerate(part)]
    return out


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


TABLE_HEAD = ("| policy | delay mean s | p50 | p95 | p99 | max | JCT mean s | JCT p95 | slowdown | makespan s | "
              "util % | alloc @sat % | cost | dropped | gangs | s | s / 10k jobs | × ref |\n|---|" + "---:|" * 17)


def table_row(policy: str, r, ref_s: float) -> str:
    """One row of the table (``TABLE_HEAD``): a replay's metrics, its time and the ratio to the reference loop."""
    return (f"| {policy} | {fmt(r.delay_mean_s, 1)} | {fmt(r.delay_p50_s)} | {fmt(r.delay_p95_s)} | "
            f"{fmt(r.delay_p99_s)} | {fmt(r.delay_max_s)} | {fmt(r.jct_mean_s)} | {fmt(r.jct_p95_s)} | "
            f"{fmt(r.slowdown_mean, 2)} | {fmt(r.makespan_s)} | {r.utilisation_pct:.2f} | "
            f"{fmt(r.allocation_at_saturation_pct, 2)} | {format_cny(r.cost_fen)} | {len(r.dropped)} | "
            f"{r.gang_jobs} | {r.seconds:.1f} | {r.seconds * 10_000 / r.jobs:.1f} | {r.seconds / ref_s:.2f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    ap.add_argument("--rate", type=float, default=100, help="arrivals per second")
    ap.add_argument("--sizes", default="2,4", help="cluster = every k-th node, for each k")
    ap.add_argument("--policies", default="all")
    ap.add_argument("--limit", type=int, default=None, help="at most this many jobs per workload")
    args = ap.parse_args(argv)
    policies = list(policy_names()) if args.policies == "all" else args.policies.split(",")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        summary = convert(args.trace / "openb_pod_list_default.csv", args.trace / "openb_node_list_all_node.csv",
                          Path(tmp) / "jobs.csv", Path(tmp) / "nodes.csv")
        jobs = read_jobs(Path(tmp) / "jobs.csv")
        all_nodes = read_nodes(Path(tmp) / "nodes.csv")
    print(f"trace: {summary.jobs} tasks ({summary.shared_gpu_jobs} GPU shares rounded up to one GPU), "
          f"{summary.nodes} nodes, {summary.gpus} GPUs; arrivals {args.rate:g}/s, real durations")
    for name, work in workloads(jobs, args.rate, args.limit).items():
        for k in (int(s) for s in args.sizes.split(",")):
            nodes = all_nodes[::k]
            gpus = sum(n.accelerators for n in nodes)
            ref_starts, ref_s = reference_loop(work, nodes)
            print(f"\n### Workload {name}: {len(work):,} jobs ({sum(j.accelerators for j in work):,} GPUs asked), "
                  f"cluster 1/{k}: {len(nodes)} nodes, {gpus:,} GPUs\n")
            print(f"Reference loop (FIFO + first-fit backfill, plain Python): {ref_s:.2f} s "
                  f"({ref_s * 10_000 / len(work):.2f} s per 10,000 jobs)\n")
            print(TABLE_HEAD)
            for policy in policies:
                r = replay(work, nodes, ReplayOptions(policy=policy))
                if policy == "first-fit":
                    same = all(o.start_s == ref_starts.get(o.id) for o in r.outcomes)
                    assert same, "the engine's first-fit and the reference loop disagree"
                print(table_row(policy, r, ref_s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
