"""Chip-constrained work under price-greedy fill: the Alibaba trace's ``gpuspec33`` variant through the rules that
keep constrained jobs from starving (issue 15 point 3).

What it measures
    ``openb_pod_list_gpuspec33.csv`` is the same trace with a GPU model asked for by about a third of the tasks
    (1,291 of them T4, the second-cheapest chip; a task allowing several models runs on any). Price-greedy fill
    (the production policy) puts flexible tasks on the cheapest chips, where the constrained tasks wait. Each row
    is the platform's ``schedule_round`` with the production rules and one option changed:
    ``spare_constrained`` (flexible jobs pay this fraction more on chips waiting jobs ask for) or
    ``reserve_after_s`` (a job waiting longer holds a server); the baselines run as in ``trace_replay.py``.
    Workloads, clusters and metrics are those of ``bench/trace_replay.py``; the reference loop is timed once per
    setting for the ratio.

Usage
    .venv/bin/python bench/constrained_fill.py [--settings B4] [--variants production,spare-0.5,...] [--limit N]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_speed import machine  # noqa: E402
from trace_replay import DEFAULT_TRACE, TABLE_HEAD, reference_loop, table_row, workloads  # noqa: E402

from suanli.scheduling.alibaba import convert  # noqa: E402
from suanli.scheduling.replay import ReplayOptions, replay  # noqa: E402
from suanli.scheduling.rules import POLICIES, PRODUCTION  # noqa: E402
from suanli.scheduling.traces import read_jobs, read_nodes  # noqa: E402

VARIANTS = {
    "production": PRODUCTION,
    "spare-0.25": replace(PRODUCTION, spare_constrained=0.25),
    "spare-0.5": replace(PRODUCTION, spare_constrained=0.5),
    "spare-1": replace(PRODUCTION, spare_constrained=1.0),
    "hold-300": replace(PRODUCTION, reserve_after_s=300, max_reservations=4),
    **{name: rules for name, rules in POLICIES.items() if name != "suanli"},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    ap.add_argument("--rate", type=float, default=100, help="arrivals per second")
    ap.add_argument("--settings", default="A2,A4,B2,B4", help="workload (A/B) and cluster divisor, e.g. B4")
    ap.add_argument("--variants", default="production,spare-0.5,easy-backfill,best-fit")
    ap.add_argument("--limit", type=int, default=None, help="at most this many jobs per workload")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference loop (no ratio column)")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        summary = convert(args.trace / "openb_pod_list_gpuspec33.csv", args.trace / "openb_node_list_all_node.csv",
                          Path(tmp) / "jobs.csv", Path(tmp) / "nodes.csv")
        jobs = read_jobs(Path(tmp) / "jobs.csv")
        all_nodes = read_nodes(Path(tmp) / "nodes.csv")
    print(f"trace: {summary.jobs} tasks, {summary.constrained_jobs} asking for one GPU model "
          f"({summary.relaxed_chip_jobs} allowing several run on any); {summary.nodes} nodes")
    by_letter = dict(zip("AB", workloads(jobs, args.rate, args.limit).items(), strict=True))
    for setting in args.settings.split(","):
        name, work = by_letter[setting[0]]
        nodes = all_nodes[::int(setting[1:])]
        ref_s = math.nan if args.no_reference else reference_loop(work, nodes)[1]
        print(f"\n### Workload {name}, gpuspec33: {len(work):,} jobs ({sum(1 for j in work if j.chip):,} constrained), "
              f"cluster 1/{setting[1:]}: {len(nodes)} nodes, {sum(n.accelerators for n in nodes):,} GPUs\n")
        print(f"Reference loop: {ref_s:.2f} s\n\n{TABLE_HEAD}")
        for variant in args.variants.split(","):
            POLICIES["_variant"] = VARIANTS[variant]
            try:
                r = replay(work, nodes, ReplayOptions(policy="_variant"))
            finally:
                del POLICIES["_variant"]
            print(table_row(variant, r, ref_s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
