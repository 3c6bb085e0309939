"""Trace replay: every node-level policy on the Alibaba GPU-sharing trace, through one simulator.

What it measures
    The trace (``shared/data/traces/alibaba-gpu-2023``: 8,152 tasks, 1,523 nodes with 6,212 GPUs) is
    converted with ``suanli.scheduling.alibaba`` and replayed under every policy of
    ``suanli.scheduling.policies`` in two protocols:

    1. **The paper's protocol** (Weng et al., ATC 2023, Fig. 9): the task list plus random copies up
       to 130 % of the cluster's GPUs, shuffled (seeds 42, 43, 44 by default); tasks never finish; a
       task that does not fit on arrival fails. Reported: the GPU allocation ratio when the arrived
       GPU demand reaches 50 ... 100 % of capacity (mean over seeds), the unallocated GPUs and the
       fragmentation (the paper's measure, in GPUs) at 100 %, and what the placed tasks would pay.
    2. **Timed replay**: the same 130 % workload (first seed) arriving ``--rate`` tasks per second
       (default 100; at the trace's own pace the cluster never queues: its GPU demand is 98 % of
       capacity spread over 149 days), real durations, FIFO queue with backfill. Reported: queueing
       delay and job completion time p50 / p95, GPU utilisation while the workload is admitted
       (time-average from the first arrival to the last start), cost in fen.

    The same simulator, trace, seeds and prices run every policy, so the differences are the policies'.

Usage
    .venv/bin/python bench/trace_replay.py [--trace DIR] [--seeds 42,43,44] [--rate 100]
                                           [--policies suanli,fgd,...] [--spec33]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_speed import machine  # noqa: E402

from suanli.core.money import format_cny  # noqa: E402
from suanli.scheduling.alibaba import convert  # noqa: E402
from suanli.scheduling.policies import policy_names  # noqa: E402
from suanli.scheduling.replay import (  # noqa: E402
    THRESHOLDS,
    ReplayOptions,
    TraceJob,
    paper_workload,
    read_jobs,
    read_nodes,
    replay,
)

DEFAULT_TRACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces" / "alibaba-gpu-2023"
if not DEFAULT_TRACE.exists():
    DEFAULT_TRACE = Path("/work/shared/data/traces/alibaba-gpu-2023")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    ap.add_argument("--seeds", default="42,43,44")
    ap.add_argument("--rate", type=int, default=100, help="arrivals per second in the timed replay")
    ap.add_argument("--policies", default=",".join(policy_names()))
    ap.add_argument("--spec33", action="store_true", help="use the task list with GPU-model constraints")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    pods = args.trace / ("openb_pod_list_gpuspec33.csv" if args.spec33 else "openb_pod_list_default.csv")
    with tempfile.TemporaryDirectory() as tmp:
        summary = convert(pods, args.trace / "openb_node_list_all_node.csv", Path(tmp) / "jobs.csv",
                          Path(tmp) / "nodes.csv")
        jobs = read_jobs(Path(tmp) / "jobs.csv")
        nodes = read_nodes(Path(tmp) / "nodes.csv")
    print(f"trace: {pods.name}: {summary.jobs} tasks ({summary.shared_gpu_jobs} sharing a GPU, "
          f"{summary.multi_gpu_jobs} multi-GPU, {summary.cpu_only_jobs} CPU-only, {summary.constrained_jobs} with a "
          f"GPU-model constraint), {summary.nodes} nodes, {summary.gpus} GPUs, GPU demand {summary.gpu_demand}")
    policies = args.policies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    total_gpus = summary.gpus

    print("\n### The paper's protocol (no departures, 130 % workload, mean over seeds "
          f"{', '.join(map(str, seeds))})\n")
    print("| policy | " + " | ".join(f"alloc @{t} %" for t in THRESHOLDS)
          + " | unallocated GPUs @100 % | frag GPUs @100 % | failed tasks | cost of placed tasks | s per run |")
    print("|---|" + "---:|" * (len(THRESHOLDS) + 5))
    workloads = {s: paper_workload(jobs, total_gpus, 1.3, s) for s in seeds}
    for policy in policies:
        runs = []
        t0 = time.perf_counter()
        for s in seeds:
            runs.append(replay(workloads[s], nodes, ReplayOptions(policy=policy, departures=False, queue=False,
                                                                  seed=s)))
        secs = (time.perf_counter() - t0) / len(seeds)

        def mean(values):
            values = [v for v in values if v is not None]
            return statistics.mean(values) if values else None

        cells = [mean(r.allocation_at[t] for r in runs) for t in THRESHOLDS]
        print(f"| {policy} | " + " | ".join("—" if c is None else f"{c:.2f}" for c in cells)
              + f" | {mean(r.unallocated_gpus_at_100 for r in runs):.0f}"
              + f" | {mean(r.fragmentation_at[100] for r in runs):.0f}"
              + f" | {mean(r.failed for r in runs):.0f}"
              + f" | {format_cny(round(mean(r.cost_fen for r in runs)))}"
              + f" | {secs:.1f} |")

    print(f"\n### Timed replay (130 % workload, seed {seeds[0]}, {args.rate} arrivals/s, real durations, "
          "FIFO + backfill)\n")
    timed = [TraceJob(j.id, j.submit_time_s // args.rate, j.duration_s, j.gpu_milli, j.cpu_milli, j.memory_mib,
                      j.chips) for j in workloads[seeds[0]]]
    print("| policy | queueing p50 s | queueing p95 s | JCT p50 s | JCT p95 s | GPU utilisation % | "
          "alloc @100 % | cost | s per run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for policy in policies:
        t0 = time.perf_counter()
        r = replay(timed, nodes, ReplayOptions(policy=policy, seed=seeds[0]))
        secs = time.perf_counter() - t0
        alloc = r.allocation_at[100]
        print(f"| {policy} | {r.queueing_delay_p50_s:.0f} | {r.queueing_delay_p95_s:.0f} | {r.jct_p50_s:.0f} | "
              f"{r.jct_p95_s:.0f} | {r.utilization:.2f} | {'—' if alloc is None else f'{alloc:.2f}'} | "
              f"{format_cny(r.cost_fen)} | {secs:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
