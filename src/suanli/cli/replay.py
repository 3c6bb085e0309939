"""``suanli replay`` and the trace converters: replay a job trace through the platform's scheduler.

Register with ``app.command("replay")(replay)``, ``app.command("replay-convert-alibaba")(replay_convert_alibaba)``
and ``app.command("replay-convert-helios")(replay_convert_helios)``.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.core.money import format_cny
from suanli.scheduling.replay import ReplayOptions, ReplayResult
from suanli.scheduling.replay import replay as run_replay
from suanli.scheduling.rules import policy_names
from suanli.scheduling.traces import TraceError, read_jobs, read_nodes

__all__ = ["replay", "replay_convert_alibaba", "replay_convert_helios"]

console = Console()
err = Console(stderr=True)

PER_JOB_COLUMNS = ("policy", "id", "org", "submit_s", "start_s", "end_s", "delay_s", "jct_s", "duration_s",
                   "accelerators", "allocated_accelerators", "datacenter", "nodes", "cost_fen", "dropped")


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def _policies(text: str) -> list[str]:
    names = list(policy_names()) if text.strip() == "all" else [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in policy_names()]
    if unknown or not names:
        _fail(f"unknown policy {', '.join(map(repr, unknown)) or repr(text)}; valid policies: "
              f"{', '.join(policy_names())}, or all")
    return names


def _table(results: list[ReplayResult]) -> Table:
    r0 = results[0]
    table = Table(title=f"replay: {r0.jobs:,} jobs on {r0.nodes:,} nodes / {r0.accelerators:,} accelerators"
                        + (" (fair share)" if r0.fair_share else ""))
    table.add_column("metric", min_width=24)
    for r in results:
        table.add_column(r.policy + (" (production)" if r.policy == "suanli" else ""), justify="right")
    rows = [
        ("placed / dropped / gangs", lambda r: f"{r.placed:,} / {len(r.dropped):,} / {r.gang_jobs:,}"),
        ("queue delay mean", lambda r: _s(r.delay_mean_s)),
        ("queue delay p50 / p95", lambda r: f"{_s(r.delay_p50_s)} / {_s(r.delay_p95_s)}"),
        ("queue delay p99 / max", lambda r: f"{_s(r.delay_p99_s)} / {_s(r.delay_max_s)}"),
        ("JCT mean / p95", lambda r: f"{_s(r.jct_mean_s)} / {_s(r.jct_p95_s)}"),
        ("bounded slowdown (mean)", lambda r: "—" if r.slowdown_mean is None else f"{r.slowdown_mean:,.2f}"),
        ("makespan", lambda r: _s(r.makespan_s)),
        ("utilisation over the makespan", lambda r: f"{r.utilisation_pct:.2f} %"),
        ("allocation at saturation", lambda r: "—" if r.allocation_at_saturation_pct is None
         else f"{r.allocation_at_saturation_pct:.2f} % ({r.saturated_s:,.0f} s)"),
        ("cost", lambda r: format_cny(r.cost_fen)),
        ("fairness between orgs (Jain)", lambda r: "—" if r.fairness_jain is None else f"{r.fairness_jain:.3f}"),
        ("rounds / seconds", lambda r: f"{r.rounds:,} / {r.seconds:.2f}"),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(r) for r in results))
    return table


def _org_table(result: ReplayResult) -> Table:
    table = Table(title=f"per organization ({result.policy})")
    for column in ("org", "jobs", "dropped", "delay mean", "delay p95", "accelerator-hours", "slowdown"):
        table.add_column(column, justify="left" if column == "org" else "right")
    for o in result.orgs:
        table.add_row(o.org, f"{o.jobs:,}", f"{o.dropped:,}", _s(o.delay_mean_s), _s(o.delay_p95_s),
                      f"{o.accelerator_hours:,.1f}", "—" if o.slowdown_mean is None else f"{o.slowdown_mean:.2f}")
    return table


def _write_per_job(path: Path, results: list[ReplayResult]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(PER_JOB_COLUMNS)
        for r in results:
            for o in r.outcomes:
                end = None if o.start_s is None else o.start_s + o.duration_s
                w.writerow([r.policy, o.id, o.org, o.submit_s, o.start_s, end, o.delay_s, o.jct_s, o.duration_s,
                            o.accelerators, o.allocated_accelerators, o.datacenter, "|".join(o.nodes), o.cost_fen,
                            o.dropped])


def replay(
    jobs: Annotated[Path, typer.Option("--jobs", help="Jobs CSV: id, submit_time_s, duration_s, accelerators, chip"
                                              "[, vcpus, memory_gib, org]")],
    nodes: Annotated[Path, typer.Option("--nodes", help="Nodes CSV: id, datacenter, region, chip, accelerators, vcpus, "
                                               "memory_gib, hourly_price_cny")],
    policy: Annotated[str, typer.Option("--policy", help=f"One of {', '.join(policy_names())}; several separated "
                                                         f"by commas; or all")] = "suanli",
    fair_share: Annotated[bool, typer.Option("--fair-share", help="Order the queue by organization: the one "
                                                                  "allocated the fewest accelerator-seconds so far "
                                                                  "first.")] = False,
    per_job: Annotated[Path | None, typer.Option("--per-job", help="Write one CSV row per job and policy here.")]
    = None,
    orgs: Annotated[bool, typer.Option("--orgs", help="Also show the per-organization table.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Replay a job trace through the platform's scheduler on a simulated clock, under one or more policies."""
    names = _policies(policy)
    try:
        trace = read_jobs(jobs)
        cluster = read_nodes(nodes)
    except TraceError as exc:
        _fail(str(exc))
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=json_out and not err.is_terminal) as progress:
        for name in names:
            task = progress.add_task(f"replaying {len(trace):,} jobs ({name})", total=len(trace))
            results.append(run_replay(trace, cluster, ReplayOptions(policy=name, fair_share=fair_share),
                                      progress=lambda done, total, task=task: progress.update(task, completed=done)))
    if per_job is not None:
        _write_per_job(per_job, results)
    if json_out:
        console.print_json(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return
    per_table = max(1, (console.width - 32) // 22)  # policies side by side that fit the terminal
    for start in range(0, len(results), per_table):
        console.print(_table(results[start:start + per_table]))
    dropped = results[0].dropped
    if dropped:
        table = Table(title=f"{len(dropped):,} jobs dropped: they cannot run on this cluster even when it is idle")
        table.add_column("job")
        table.add_column("why")
        for job_id, reason in dropped[:20]:
            table.add_row(job_id, reason)
        if len(dropped) > 20:
            table.add_row("…", f"{len(dropped) - 20:,} more: see --json or --per-job")
        console.print(table)
    if orgs:
        for r in results:
            console.print(_org_table(r))
    if per_job is not None:
        console.print(f"per-job rows written to {per_job}")


def _show_summary(title: str, data: dict, json_out: bool) -> None:
    """A converter's counts, as a table or JSON."""
    if json_out:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=title)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), ", ".join(f"{k} {v}" for k, v in value.items())
                      if isinstance(value, dict) else f"{value}")
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
    _show_summary(f"converted {pods} + {node_list} → {out_dir}", summary.__dict__, json_out)


def replay_convert_helios(
    log: Annotated[Path, typer.Argument(help="A Helios-style job log (cluster_log.csv; AcmeTrace trace_*.csv)")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write jobs.csv (and nodes.csv with --servers)")],
    chip: Annotated[str, typer.Option(help="The GPU model the jobs ask for (the logs do not say); empty: any")] = "",
    org_column: Annotated[str | None, typer.Option(help="Column naming the organization (default vc, else user)")]
    = None,
    state: Annotated[list[str] | None, typer.Option("--state", help="Keep only jobs in this state (repeatable)")]
    = None,
    servers: Annotated[int, typer.Option(help="Also write nodes.csv with this many identical servers")] = 0,
    gpus_per_server: Annotated[int, typer.Option(help="GPUs per server (with --servers)")] = 8,
    vcpus_per_server: Annotated[int, typer.Option(help="vCPUs per server (with --servers)")] = 64,
    server_price: Annotated[str, typer.Option(help="CNY per server-hour (with --servers)")] = "20",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Convert a Helios / AcmeTrace GPU cluster job log to replay CSVs."""
    from suanli.scheduling.helios import convert_helios

    try:
        price = Decimal(server_price)
    except InvalidOperation:
        _fail(f"--server-price: {server_price!r} is not a number of CNY, e.g. 20 or 19.5")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = convert_helios(log, out_dir / "jobs.csv", chip=chip, org_column=org_column, states=state or (),
                                 nodes_out=out_dir / "nodes.csv", nodes=servers, gpus_per_node=gpus_per_server,
                                 vcpus_per_node=vcpus_per_server, node_price_cny=price)
    except TraceError as exc:
        _fail(str(exc))
    _show_summary(f"converted {log} → {out_dir}", summary.__dict__, json_out)
