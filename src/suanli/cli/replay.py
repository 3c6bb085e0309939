"""``suanli replay`` and ``suanli replay-convert-alibaba``: trace replay from the command line.

Register with ``app.command("replay")(replay)`` and
``app.command("replay-convert-alibaba")(replay_convert_alibaba)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.core.money import format_cny
from suanli.scheduling.policies import policy_names
from suanli.scheduling.replay import ReplayOptions, TraceError, read_jobs, read_nodes
from suanli.scheduling.replay import replay as run_replay

__all__ = ["replay", "replay_convert_alibaba"]

console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} s"


def replay(
    jobs: Annotated[Path, typer.Option("--jobs", help="Jobs CSV: id, submit_time_s, duration_s, accelerators, vcpus, "
                                              "memory_gib[, chip]")],
    nodes: Annotated[Path, typer.Option("--nodes", help="Nodes CSV: id, datacenter, region, chip, accelerators, vcpus, "
                                               "memory_gib, hourly_price_cny")],
    policy: Annotated[str, typer.Option("--policy", help=f"One of: {', '.join(policy_names())}")] = "suanli",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    no_departures: Annotated[bool, typer.Option("--no-departures",
                                                help="Jobs never finish (the ATC'23 paper's protocol).")] = False,
    no_queue: Annotated[bool, typer.Option("--no-queue",
                                           help="A job that does not fit on arrival fails instead of waiting.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for random-fit.")] = 0,
) -> None:
    """Replay a job trace over nodes with a placement policy, on a simulated clock."""
    if policy not in policy_names():
        _fail(f"unknown policy {policy!r}; valid policies: {', '.join(policy_names())}")
    try:
        trace = read_jobs(jobs)
        cluster = read_nodes(nodes)
    except TraceError as exc:
        _fail(str(exc))
    options = ReplayOptions(policy=policy, departures=not no_departures, queue=not no_queue, seed=seed)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=json_out and not err.is_terminal) as progress:
        task = progress.add_task(f"replaying {len(trace):,} jobs ({policy})", total=len(trace))
        result = run_replay(trace, cluster, options,
                            progress=lambda done, total: progress.update(task, completed=done))
    if json_out:
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    table = Table(title=f"replay: {policy} ({result.protocol}), {result.jobs:,} jobs on {result.nodes:,} nodes / "
                        f"{result.total_gpus:,} GPUs")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("placed / failed / unschedulable", f"{result.placed:,} / {result.failed:,} / {result.unschedulable:,}")
    for t, v in result.allocation_at.items():
        frag = result.fragmentation_at[t]
        table.add_row(f"GPU allocation when demand reaches {t} %",
                      "—" if v is None else f"{v:.2f} % (fragmentation {frag:,.1f} GPUs)")
    table.add_row("queueing delay p50 / p95",
                  f"{_seconds(result.queueing_delay_p50_s)} / {_seconds(result.queueing_delay_p95_s)}")
    table.add_row("job completion time p50 / p95", f"{_seconds(result.jct_p50_s)} / {_seconds(result.jct_p95_s)}")
    table.add_row("GPU utilisation", f"{result.utilization:.2f} %")
    table.add_row("final allocation / fragmentation",
                  f"{result.final_allocation:.2f} % / {result.final_fragmentation_gpus:,.1f} GPUs")
    table.add_row("cost of placed jobs", f"{format_cny(result.cost_fen)} ({result.placed_gpu_hours:,.1f} GPU-hours)")
    for note in result.notes:
        table.add_row("note", note)
    console.print(table)


def replay_convert_alibaba(
    trace_dir: Annotated[Path, typer.Argument(help="Folder with the Alibaba openb_*.csv files")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write jobs.csv and nodes.csv")],
    pods: Annotated[str, typer.Option(help="Task list file in the trace folder")] = "openb_pod_list_default.csv",
    node_list: Annotated[str, typer.Option("--nodes", help="Node list file in the trace folder")]
    = "openb_node_list_all_node.csv",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Convert the Alibaba GPU-sharing trace (cluster-trace-gpu-v2023) to replay CSVs."""
    from suanli.scheduling.alibaba import convert

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = convert(trace_dir / pods, trace_dir / node_list, out_dir / "jobs.csv", out_dir / "nodes.csv")
    except TraceError as exc:
        _fail(str(exc))
    data = {k: (str(v) if not isinstance(v, (int, dict)) else v) for k, v in summary.__dict__.items()}
    if json_out:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"converted {pods} + {node_list} → {out_dir}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), ", ".join(f"{k} {v}" for k, v in value.items())
                      if isinstance(value, dict) else f"{value}")
    console.print(table)
