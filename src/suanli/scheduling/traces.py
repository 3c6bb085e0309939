"""Trace files for the replay: jobs and nodes as CSV, in one neutral format every converter writes.

Jobs (a header, then one row a job; columns in any order, unknown columns ignored)
    required  ``id``; ``submit_time_s`` (seconds from any origin, fractions allowed); ``duration_s`` (seconds,
              fractions allowed); ``accelerators`` (a whole number, 0 for a CPU-only job); ``chip`` (the column
              must be there; an empty value means any chip; a name is resolved through the chip table's aliases,
              case-insensitively: ``A800``, ``910B``; a name the table does not know is kept, lower-cased)
    optional  ``vcpus`` and ``memory_gib`` (whole numbers, default 0: the job asks for accelerators only);
              ``org`` (who submitted it: per-organization fairness and fair-share use it; default ``-``)
Nodes
    ``id, datacenter, region, chip, accelerators, vcpus, memory_gib, hourly_price_cny`` (the whole node per hour,
    a decimal); ``chip`` is resolved as for jobs (``cpu`` or empty for a CPU-only node).

Every error is a :class:`TraceError` naming the file, the line and the column, and saying what to write instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from suanli.core.chips import resolve_chip

__all__ = ["JOB_COLUMNS", "NODE_COLUMNS", "OPTIONAL_JOB_COLUMNS", "TraceError", "TraceJob", "TraceNode",
           "chip_key", "read_jobs", "read_nodes", "write_jobs", "write_nodes"]

JOB_COLUMNS = ("id", "submit_time_s", "duration_s", "accelerators", "chip")
OPTIONAL_JOB_COLUMNS = ("vcpus", "memory_gib", "org")
NODE_COLUMNS = ("id", "datacenter", "region", "chip", "accelerators", "vcpus", "memory_gib", "hourly_price_cny")


class TraceError(ValueError):
    """A bad trace file: the message names the file, the line and the column."""


@dataclass(frozen=True)
class TraceJob:
    """One job of a trace; times in seconds, ``chip`` a chip key or None (any)."""

    id: str
    submit_time_s: float
    duration_s: float
    accelerators: int
    chip: str | None = None
    vcpus: int = 0
    memory_gib: int = 0
    org: str = "-"


@dataclass(frozen=True)
class TraceNode:
    """One server: ``accelerators`` of model ``chip`` (None: CPU only), vCPUs, memory, and the price of the whole
    node per hour in CNY (exact decimal)."""

    id: str
    datacenter: str
    region: str
    chip: str | None
    accelerators: int
    vcpus: int
    memory_gib: int
    hourly_price_cny: Decimal


def chip_key(name: str) -> str | None:
    """A chip name as the trace gives it → the chip table's key (aliases resolved), else the name lower-cased;
    None for an empty name or ``cpu``."""
    name = name.strip()
    if not name or name.lower() == "cpu":
        return None
    spec = resolve_chip(name)
    return spec.key if spec is not None else name.lower()


def _decimal(text: str, where: str, column: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise TraceError(f"{where}: column {column!r}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise TraceError(f"{where}: column {column!r}: {text!r} must be a finite number >= 0")
    return value


def _whole(text: str, where: str, column: str, hint: str = "") -> int:
    value = _decimal(text, where, column)
    if value != value.to_integral_value():
        raise TraceError(f"{where}: column {column!r}: {text!r} must be a whole number{hint}")
    return int(value)


def _rows(source: str | Path, required: Sequence[str], what: str) -> Iterable[tuple[str, dict[str, str]]]:
    if isinstance(source, Path):
        name = str(source)
        try:
            text = source.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise TraceError(f"{name}: cannot read the {what} file: {exc.strerror or exc}") from None
    else:
        name, text = f"<{what}>", source
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(f"{name}:1: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)}; the {what} file needs {', '.join(required)}")
    reader.fieldnames = header
    for row in reader:
        where = f"{name}:{reader.line_num}"
        if None in row:
            raise TraceError(f"{where}: more fields than the header has columns")
        for c in required:
            if row.get(c) is None:
                raise TraceError(f"{where}: column {c!r} is missing (fewer fields than the header)")
        yield where, row


def _id(row: dict[str, str], where: str, seen: set[str], what: str) -> str:
    value = row["id"].strip()
    if not value:
        raise TraceError(f"{where}: column 'id' is empty")
    if value in seen:
        raise TraceError(f"{where}: column 'id': duplicate {what} id {value!r}")
    seen.add(value)
    return value


def read_jobs(source: str | Path) -> list[TraceJob]:
    """Jobs from a CSV file (``Path``) or CSV text (``str``); ``TraceError`` names line and column."""
    jobs = []
    seen: set[str] = set()
    for where, row in _rows(source, JOB_COLUMNS, "jobs"):
        job_id = _id(row, where, seen, "job")
        accelerators = _whole(row["accelerators"], where, "accelerators",
                              " of accelerators (the platform rents whole accelerators: round a GPU share up to 1)")
        vcpus = _whole(row.get("vcpus") or "0", where, "vcpus")
        memory = _whole(row.get("memory_gib") or "0", where, "memory_gib")
        if accelerators == 0 and vcpus == 0 and memory == 0:
            raise TraceError(f"{where}: the job asks for nothing: give 'accelerators', or 'vcpus' / 'memory_gib' "
                             f"for a CPU-only job")
        jobs.append(TraceJob(
            id=job_id, submit_time_s=float(_decimal(row["submit_time_s"], where, "submit_time_s")),
            duration_s=float(_decimal(row["duration_s"], where, "duration_s")), accelerators=accelerators,
            chip=chip_key(row["chip"]), vcpus=vcpus, memory_gib=memory, org=(row.get("org") or "").strip() or "-",
        ))
    return jobs


def read_nodes(source: str | Path) -> list[TraceNode]:
    """Nodes from a CSV file (``Path``) or CSV text (``str``); ``TraceError`` names line and column."""
    nodes = []
    seen: set[str] = set()
    for where, row in _rows(source, NODE_COLUMNS, "nodes"):
        node_id = _id(row, where, seen, "node")
        accelerators = _whole(row["accelerators"], where, "accelerators")
        vcpus = _whole(row["vcpus"], where, "vcpus")
        chip = chip_key(row["chip"])
        if accelerators and chip is None:
            raise TraceError(f"{where}: column 'chip': a node with accelerators needs their chip model")
        if not accelerators and not vcpus:
            raise TraceError(f"{where}: the node has neither accelerators nor vCPUs")
        nodes.append(TraceNode(
            id=node_id, datacenter=row["datacenter"].strip() or "-", region=row["region"].strip() or "-",
            chip=chip if accelerators else None, accelerators=accelerators, vcpus=vcpus,
            memory_gib=_whole(row["memory_gib"], where, "memory_gib"),
            hourly_price_cny=_decimal(row["hourly_price_cny"], where, "hourly_price_cny"),
        ))
    if not nodes:
        raise TraceError(f"{source if isinstance(source, Path) else '<nodes>'}: no nodes")
    return nodes


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_jobs(jobs: Iterable[TraceJob], out: io.TextIOBase) -> None:
    """Write jobs in the format :func:`read_jobs` reads."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(JOB_COLUMNS + OPTIONAL_JOB_COLUMNS)
    for j in jobs:
        w.writerow([j.id, _number(j.submit_time_s), _number(j.duration_s), j.accelerators, j.chip or "", j.vcpus,
                    j.memory_gib, j.org])


def write_nodes(nodes: Iterable[TraceNode], out: io.TextIOBase) -> None:
    """Write nodes in the format :func:`read_nodes` reads."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(NODE_COLUMNS)
    for n in nodes:
        w.writerow([n.id, n.datacenter, n.region, n.chip or "cpu", n.accelerators, n.vcpus, n.memory_gib,
                    n.hourly_price_cny])
