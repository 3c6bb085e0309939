"""Convert a Helios-style GPU cluster job log (SenseTime Helios, Hu et al., SC'21; Shanghai AI Lab AcmeTrace,
Hu et al., NSDI'24) to the replay's jobs CSV.

Both publish one CSV row per job with (among others) ``job_id``, ``user``, ``gpu_num``, ``cpu_num``, ``state``,
``submit_time`` and ``duration`` (seconds); Helios also has ``vc`` (the virtual cluster, a team). This reads:

    required  ``job_id``, ``gpu_num``, ``submit_time`` (seconds, or a date-time ``2020-04-01 00:00:07``: then
              seconds from the earliest), ``duration`` (seconds)
    optional  ``cpu_num`` (vCPUs), the organization column (``--org-column``, default ``vc`` if there, else
              ``user``), ``state`` (``--states`` keeps only those, e.g. ``COMPLETED``)

Rows without a duration (jobs still pending when the log was cut) are skipped and counted. The logs have no GPU
model or node list: the jobs ask for ``chip`` (default any), and :func:`uniform_nodes` builds a cluster of
identical servers to replay them on.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from suanli.scheduling.traces import TraceError, TraceJob, TraceNode, chip_key, write_jobs, write_nodes

__all__ = ["HeliosSummary", "convert_helios", "read_helios", "uniform_nodes"]

REQUIRED = ("job_id", "gpu_num", "submit_time", "duration")


@dataclass(frozen=True)
class HeliosSummary:
    jobs: int
    skipped_no_duration: int
    skipped_state: int
    gpu_jobs: int
    multi_gpu_jobs: int
    orgs: int


def _time(text: str, where: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise TraceError(f"{where}: column 'submit_time': {text!r} is neither seconds nor a date-time "
                         f"like 2020-04-01 00:00:07") from None


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{where}: column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise TraceError(f"{where}: column {column!r}: {text!r} must be a finite number >= 0")
    return value


def read_helios(path: Path, *, chip: str = "", org_column: str | None = None,
                states: Sequence[str] = ()) -> tuple[list[TraceJob], HeliosSummary]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TraceError(f"{path}:1: missing columns {', '.join(missing)}; a Helios-style log needs "
                         f"{', '.join(REQUIRED)}")
    if org_column is None:
        org_column = "vc" if "vc" in header else "user" if "user" in header else ""
    elif org_column not in header:
        raise TraceError(f"{path}:1: no column {org_column!r} for the organization; columns: {', '.join(header)}")
    keep = {s.upper() for s in states}
    rows, no_duration, other_state = [], 0, 0
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if keep and (row.get("state") or "").strip().upper() not in keep:
            other_state += 1
            continue
        duration = (row["duration"] or "").strip()
        if duration in ("", "nan", "NaN"):
            no_duration += 1
            continue
        gpus = _number(row["gpu_num"], where, "gpu_num")
        if gpus != int(gpus):
            raise TraceError(f"{where}: column 'gpu_num': {row['gpu_num']!r} must be a whole number")
        cpus = math.ceil(_number(row.get("cpu_num") or "0", where, "cpu_num"))
        if not gpus and not cpus:
            cpus = 1  # a job with no resources listed still occupies a slot
        rows.append((row["job_id"].strip(), _time(row["submit_time"], where),
                     _number(duration, where, "duration"), int(gpus), cpus,
                     (row.get(org_column) or "").strip() if org_column else ""))
    origin = min((r[1] for r in rows), default=0.0)
    key = chip_key(chip)
    jobs = [TraceJob(id=i, submit_time_s=t - origin, duration_s=d, accelerators=g, chip=key if g else None,
                     vcpus=c, org=o or "-") for i, t, d, g, c, o in rows]
    summary = HeliosSummary(jobs=len(jobs), skipped_no_duration=no_duration, skipped_state=other_state,
                            gpu_jobs=sum(1 for j in jobs if j.accelerators),
                            multi_gpu_jobs=sum(1 for j in jobs if j.accelerators > 1),
                            orgs=len({j.org for j in jobs}))
    return jobs, summary


def uniform_nodes(count: int, *, chip: str, accelerators: int = 8, vcpus: int = 64, memory_gib: int = 512,
                  hourly_price_cny: Decimal = Decimal("20"), per_datacenter: int = 100) -> list[TraceNode]:
    """``count`` identical servers, ``per_datacenter`` per data center (``dc-00`` ...)."""
    return [TraceNode(id=f"node-{k:05d}", datacenter=f"dc-{k // per_datacenter:02d}", region="-", chip=chip_key(chip),
                      accelerators=accelerators, vcpus=vcpus, memory_gib=memory_gib,
                      hourly_price_cny=hourly_price_cny) for k in range(count)]


def convert_helios(log_csv: Path, jobs_out: Path, *, chip: str = "", org_column: str | None = None,
                   states: Sequence[str] = (), nodes_out: Path | None = None, nodes: int = 0,
                   gpus_per_node: int = 8, vcpus_per_node: int = 64, node_price_cny: Decimal = Decimal("20"),
                   ) -> HeliosSummary:
    """Write the jobs CSV (and, with ``nodes_out`` and ``nodes``, a uniform node list)."""
    jobs, summary = read_helios(log_csv, chip=chip, org_column=org_column, states=states)
    with jobs_out.open("w", encoding="utf-8", newline="") as f:
        write_jobs(jobs, f)
    if nodes_out is not None and nodes > 0:
        with nodes_out.open("w", encoding="utf-8", newline="") as f:
            write_nodes(uniform_nodes(nodes, chip=chip or "v100", accelerators=gpus_per_node, vcpus=vcpus_per_node,
                                      hourly_price_cny=node_price_cny), f)
    return summary
