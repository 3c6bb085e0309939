"""Trace replay: a discrete-event simulator with a controlled clock (it never sleeps).

Input (CSV with a header; extra columns are ignored)
    jobs   ``id, submit_time_s, duration_s, accelerators, vcpus, memory_gib[, chip]``
           ``accelerators`` may be a fraction below 1 (a share of ONE GPU, to 0.001) or a whole number;
           ``chip`` optionally restricts the GPU model, several separated by ``|``.
    nodes  ``id, datacenter, region, chip, accelerators, vcpus, memory_gib, hourly_price_cny``
           ``hourly_price_cny`` is a decimal string per node-hour.

The clock
    Events are job arrivals (``submit_time_s``) and completions (start + ``duration_s``). At each
    instant, completions free their resources first, then arrivals join the queue, then the queue is
    scheduled in arrival order with backfilling: every queued job that fits starts now, whether or
    not an earlier job is still waiting (a pass re-tries only jobs whose shape did not already fail
    in it). A job that could not run even on an idle cluster is *unschedulable* and leaves at once.

Protocols
    ``ReplayOptions(departures=True, queue=True)`` (default) is the timed replay above.
    ``departures=False, queue=False`` is the protocol of Weng et al. (ATC 2023): jobs arrive in order
    and never finish, a job that does not fit on arrival *fails*, and the result is the GPU
    allocation ratio as the arrived demand grows.

Metrics (``ReplayResult``)
    * ``allocation_at``: the GPU allocation ratio (allocated / total GPUs, %) at the first arrival
      where the cumulative GPU demand of arrived jobs reaches 50, 60, ... 100 % of the cluster's GPUs
      (``None`` if it never does); ``fragmentation_at``: the cluster's fragmentation (the paper's
      measure, in GPUs) at the same points;
    * queueing delay (start - submit) and job completion time (finish - submit), p50 and p95 in
      seconds, nearest-rank percentiles (the smallest value with at least p % of jobs at or below it);
    * ``utilization``: the time-average of allocated / total GPUs from the first arrival to the last
      job start, the period the workload is admitted in (timed replay; a trace's long-running tail
      would otherwise dominate), or the final allocation ratio (no departures);
    * ``cost_fen``: what the placed jobs pay: each job its share of its node's hourly price (GPUs used /
      node GPUs; vCPUs for CPU-only jobs) for its duration, computed exactly and rounded half-up to the
      fen once per job.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

from suanli.scheduling.policies import MILLI, POLICIES, Cluster, SimJob, TargetWorkload, choose_node

__all__ = [
    "JOB_COLUMNS",
    "NODE_COLUMNS",
    "ReplayOptions",
    "ReplayResult",
    "TraceError",
    "TraceJob",
    "TraceNode",
    "paper_workload",
    "percentile",
    "read_jobs",
    "read_nodes",
    "replay",
    "write_jobs",
    "write_nodes",
]

JOB_COLUMNS = ("id", "submit_time_s", "duration_s", "accelerators", "vcpus", "memory_gib", "chip")
NODE_COLUMNS = ("id", "datacenter", "region", "chip", "accelerators", "vcpus", "memory_gib", "hourly_price_cny")
THRESHOLDS = (50, 60, 70, 80, 90, 100)


class TraceError(ValueError):
    """A bad trace file: the message names the file, the line and the column."""


@dataclass(frozen=True)
class TraceJob:
    """One job of a trace. ``gpu_milli``: thousandths of a GPU (460 = 0.46 of one GPU, 2000 = two
    GPUs); ``cpu_milli``: thousandths of a vCPU; ``memory_mib``: MiB; times in seconds."""

    id: str
    submit_time_s: int
    duration_s: int
    gpu_milli: int
    cpu_milli: int
    memory_mib: int
    chips: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TraceNode:
    """One node: ``accelerators`` GPUs of model ``chip``, CPU in milli-vCPUs, memory in MiB, and the
    price of the whole node per hour in CNY (exact decimal)."""

    id: str
    datacenter: str
    region: str
    chip: str
    accelerators: int
    cpu_milli: int
    memory_mib: int
    hourly_price_cny: Decimal


# ---------------------------------------------------------------- CSV

def _decimal(text: str, where: str, column: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise TraceError(f"{where}: column {column!r}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise TraceError(f"{where}: column {column!r}: {text!r} must be a finite number >= 0")
    return value


def _int(text: str, where: str, column: str) -> int:
    value = _decimal(text, where, column)
    if value != value.to_integral_value():
        raise TraceError(f"{where}: column {column!r}: {text!r} must be a whole number")
    return int(value)


def _milli(text: str, where: str, column: str) -> int:
    value = _decimal(text, where, column) * MILLI
    if value != value.to_integral_value():
        raise TraceError(f"{where}: column {column!r}: {text!r} is finer than 0.001")
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
                         f"{', '.join(repr(c) for c in missing)}; expected {', '.join(required)}")
    reader.fieldnames = header
    for row in reader:
        where = f"{name}:{reader.line_num}"
        if None in row:
            raise TraceError(f"{where}: more fields than the header has columns")
        for c in required:
            if row.get(c) is None:
                raise TraceError(f"{where}: column {c!r} is missing (fewer fields than the header)")
        yield where, row


def read_jobs(source: str | Path) -> list[TraceJob]:
    """Jobs from a CSV file (``Path``) or CSV text (``str``); ``TraceError`` names line and column."""
    jobs = []
    seen: set[str] = set()
    for where, row in _rows(source, JOB_COLUMNS[:-1], "jobs"):
        job_id = row["id"].strip()
        if not job_id:
            raise TraceError(f"{where}: column 'id' is empty")
        if job_id in seen:
            raise TraceError(f"{where}: column 'id': duplicate job id {job_id!r}")
        seen.add(job_id)
        gpu = _milli(row["accelerators"], where, "accelerators")
        if gpu > MILLI and gpu % MILLI:
            raise TraceError(f"{where}: column 'accelerators': {row['accelerators']!r}: above 1 it must be a "
                             f"whole number of GPUs (a fraction shares ONE GPU)")
        chips = frozenset(c.strip() for c in (row.get("chip") or "").split("|") if c.strip())
        memory = _decimal(row["memory_gib"], where, "memory_gib") * 1024
        jobs.append(TraceJob(
            id=job_id, submit_time_s=_int(row["submit_time_s"], where, "submit_time_s"),
            duration_s=_int(row["duration_s"], where, "duration_s"), gpu_milli=gpu,
            cpu_milli=_milli(row["vcpus"], where, "vcpus"), memory_mib=math.ceil(memory), chips=chips,
        ))
    return jobs


def read_nodes(source: str | Path) -> list[TraceNode]:
    """Nodes from a CSV file (``Path``) or CSV text (``str``); ``TraceError`` names line and column."""
    nodes = []
    seen: set[str] = set()
    for where, row in _rows(source, NODE_COLUMNS, "nodes"):
        node_id = row["id"].strip()
        if not node_id:
            raise TraceError(f"{where}: column 'id' is empty")
        if node_id in seen:
            raise TraceError(f"{where}: column 'id': duplicate node id {node_id!r}")
        seen.add(node_id)
        nodes.append(TraceNode(
            id=node_id, datacenter=row["datacenter"].strip(), region=row["region"].strip(),
            chip=row["chip"].strip(), accelerators=_int(row["accelerators"], where, "accelerators"),
            cpu_milli=_milli(row["vcpus"], where, "vcpus"),
            memory_mib=math.ceil(_decimal(row["memory_gib"], where, "memory_gib") * 1024),
            hourly_price_cny=_decimal(row["hourly_price_cny"], where, "hourly_price_cny"),
        ))
    if not nodes:
        raise TraceError(f"{source if isinstance(source, Path) else '<nodes>'}: no nodes")
    return nodes


def _fmt(value: Decimal | Fraction) -> str:
    text = format(Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def write_jobs(jobs: Iterable[TraceJob], out: io.TextIOBase) -> None:
    """Write jobs in the CSV format :func:`read_jobs` reads (exact decimals)."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(JOB_COLUMNS)
    for j in jobs:
        w.writerow([j.id, j.submit_time_s, j.duration_s, _fmt(Fraction(j.gpu_milli, MILLI)),
                    _fmt(Fraction(j.cpu_milli, MILLI)), _fmt(Fraction(j.memory_mib, 1024)), "|".join(sorted(j.chips))])


def write_nodes(nodes: Iterable[TraceNode], out: io.TextIOBase) -> None:
    """Write nodes in the CSV format :func:`read_nodes` reads."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(NODE_COLUMNS)
    for n in nodes:
        w.writerow([n.id, n.datacenter, n.region, n.chip, n.accelerators, _fmt(Fraction(n.cpu_milli, MILLI)),
                    _fmt(Fraction(n.memory_mib, 1024)), _fmt(n.hourly_price_cny)])


# ---------------------------------------------------------------- results

def percentile(values: Sequence[int | float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay: the policy, the protocol, the seed of ``random-fit``, the FGD target threshold."""

    policy: str = "suanli"
    departures: bool = True
    queue: bool = True
    seed: int = 0
    typical_threshold: float = 0.95

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy: unknown {self.policy!r}; valid policies: {', '.join(POLICIES)}")


@dataclass(frozen=True)
class ReplayResult:
    """What a replay measured (see the module docstring for the definitions)."""

    policy: str
    protocol: str
    jobs: int
    nodes: int
    total_gpus: int
    placed: int
    failed: int  # did not fit on arrival (no-queue protocol)
    unschedulable: int  # could not run even on an idle cluster
    allocation_at: dict[int, float | None]
    fragmentation_at: dict[int, float | None]
    unallocated_gpus_at_100: float | None
    final_allocation: float
    final_fragmentation_gpus: float
    queueing_delay_p50_s: float | None
    queueing_delay_p95_s: float | None
    jct_p50_s: float | None
    jct_p95_s: float | None
    utilization: float
    makespan_s: int
    cost_fen: int
    placed_gpu_hours: float
    simulated_events: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """A JSON-ready dict (threshold keys as strings)."""
        out = asdict(self)
        out["allocation_at"] = {str(k): v for k, v in self.allocation_at.items()}
        out["fragmentation_at"] = {str(k): v for k, v in self.fragmentation_at.items()}
        out["notes"] = list(self.notes)
        return out


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


# ---------------------------------------------------------------- the simulator

def replay(jobs: Sequence[TraceJob], nodes: Sequence[TraceNode], options: ReplayOptions = ReplayOptions(),
           progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Replay ``jobs`` on ``nodes`` under ``options``; ``progress(done, total)`` is called as jobs
    arrive (about every 1 % of them)."""
    chips = [n.chip for n in nodes]
    share_price = [float(n.hourly_price_cny) / (n.accelerators or (n.cpu_milli / MILLI) or 1) for n in nodes]
    sim_jobs = [SimJob(k, j.gpu_milli, j.cpu_milli, j.memory_mib, j.chips) for k, j in enumerate(jobs)]
    target = TargetWorkload((j.shape for j in sim_jobs), options.typical_threshold)
    cluster = Cluster(chips, [n.accelerators for n in nodes], [n.cpu_milli for n in nodes],
                      [n.memory_mib for n in nodes], share_price, target)
    rng = random.Random(options.seed)
    capacity = sum(n.accelerators for n in nodes) * MILLI
    order = sorted(range(len(jobs)), key=lambda k: (jobs[k].submit_time_s, k))
    thresholds = list(THRESHOLDS)
    allocation_at: dict[int, float | None] = dict.fromkeys(THRESHOLDS)
    fragmentation_at: dict[int, float | None] = dict.fromkeys(THRESHOLDS)
    arrived_demand = 0
    placed = failed = unschedulable = 0
    delays: list[int] = []
    jcts: list[int] = []
    cost = 0
    gpu_ms = 0  # placed milli-GPU seconds
    running: list[tuple[int, int, int, int, tuple[int, ...]]] = []  # (end, seq, job, node, gpus)
    queue: list[int] = []
    new_arrivals: list[int] = []
    freed = False
    first_t = jobs[order[0]].submit_time_s if jobs else 0
    last_t = first_t
    area = 0  # integral of allocated milli-GPUs over seconds
    admit_area = 0  # ... up to the last job start
    admit_end = first_t
    events = 0
    step = max(1, len(jobs) // 100)
    done = 0
    seq = 0
    pos = 0
    n_jobs = len(jobs)

    def start(k: int, now: int) -> bool:
        nonlocal placed, cost, gpu_ms, seq, admit_area, admit_end
        choice = choose_node(options.policy, cluster, sim_jobs[k], rng)
        if choice is None:
            return False
        i, gpus = choice
        cluster.allocate(i, sim_jobs[k], gpus)
        job, node = jobs[k], nodes[i]
        placed += 1
        delays.append(now - job.submit_time_s)
        if node.accelerators and job.gpu_milli:
            share = Fraction(job.gpu_milli, node.accelerators * MILLI)
        else:
            share = Fraction(job.cpu_milli, node.cpu_milli) if node.cpu_milli else Fraction(0)
        cost += _half_up(Fraction(node.hourly_price_cny) * 100 * share * job.duration_s / 3600)
        gpu_ms += job.gpu_milli * job.duration_s
        admit_area, admit_end = area, now
        if options.departures:
            seq += 1
            heapq.heappush(running, (now + job.duration_s, seq, k, i, gpus))
        return True

    def schedule(now: int) -> None:
        # After a completion every queued job may fit; otherwise only the new arrivals can (the
        # jobs already waiting did not fit before, and nothing has been freed since).
        nonlocal freed
        candidates = list(queue) if freed else list(new_arrivals)
        freed = False
        new_arrivals.clear()
        failed_shapes: set[tuple] = set()
        started: set[int] = set()
        for k in candidates:
            shape = (*sim_jobs[k].shape, sim_jobs[k].memory_mib)
            if shape in failed_shapes:
                continue
            if start(k, now):
                started.add(k)
            else:
                failed_shapes.add(shape)
        if started:
            queue[:] = [k for k in queue if k not in started]

    while pos < n_jobs or running:
        next_arrival = jobs[order[pos]].submit_time_s if pos < n_jobs else None
        next_end = running[0][0] if running else None
        now = min(t for t in (next_arrival, next_end) if t is not None)
        area += cluster.allocated_gpu_milli * (now - last_t)
        last_t = now
        while running and running[0][0] <= now:
            end, _s, k, i, gpus = heapq.heappop(running)
            cluster.release(i, sim_jobs[k], gpus)
            jcts.append(end - jobs[k].submit_time_s)
            freed = True
            events += 1
        while pos < n_jobs and jobs[order[pos]].submit_time_s == now:
            k = order[pos]
            pos += 1
            events += 1
            arrived_demand += jobs[k].gpu_milli
            if not cluster.fits_empty(sim_jobs[k]):
                unschedulable += 1
            elif options.queue:
                queue.append(k)
                new_arrivals.append(k)
            elif not start(k, now):
                failed += 1
            if options.queue:
                schedule(now)
            while thresholds and capacity and arrived_demand * 100 >= thresholds[0] * capacity:
                p = thresholds.pop(0)
                allocation_at[p] = round(100 * cluster.allocated_gpu_milli / capacity, 3)
                fragmentation_at[p] = round(sum(cluster.frag) / MILLI, 3)
            done += 1
            if progress is not None and (done % step == 0 or done == n_jobs):
                progress(done, n_jobs)
        if options.queue:
            schedule(now)
    makespan = last_t - first_t
    final_allocation = 100 * cluster.allocated_gpu_milli / capacity if capacity else 0.0
    if options.departures:
        window = admit_end - first_t
        utilization = 100 * admit_area / (capacity * window) if capacity and window else final_allocation
    else:
        utilization = final_allocation
    notes = []
    if options.queue and queue:
        notes.append(f"{len(queue)} jobs still queued at the end")
    unalloc = None if allocation_at[100] is None else round((100 - allocation_at[100]) * capacity / MILLI / 100, 3)
    return ReplayResult(
        policy=options.policy,
        protocol=("timed" if options.departures else "no departures") + (", queue" if options.queue else ", no queue"),
        jobs=n_jobs, nodes=len(nodes), total_gpus=capacity // MILLI, placed=placed, failed=failed,
        unschedulable=unschedulable, allocation_at=allocation_at, fragmentation_at=fragmentation_at,
        unallocated_gpus_at_100=unalloc, final_allocation=round(final_allocation, 3),
        final_fragmentation_gpus=round(sum(cluster.frag) / MILLI, 3),
        queueing_delay_p50_s=percentile(delays, 50), queueing_delay_p95_s=percentile(delays, 95),
        jct_p50_s=percentile(jcts, 50), jct_p95_s=percentile(jcts, 95),
        utilization=round(utilization, 3), makespan_s=makespan, cost_fen=cost,
        placed_gpu_hours=round(gpu_ms / MILLI / 3600, 3), simulated_events=events, notes=tuple(notes),
    )


def paper_workload(jobs: Sequence[TraceJob], total_gpus: int, ratio: float = 1.3, seed: int = 42) -> list[TraceJob]:
    """The workload of the paper's experiments (its simulator's "tune" and "shuffle" steps): random
    copies of the trace's jobs (drawn with replacement, ids ``<id>-tuned-<n>``) are appended while
    the total GPU request stays within ``ratio`` x the cluster's GPUs, then the whole list is
    shuffled (seeded) and each job arrives one second after the previous (without departures only
    the order matters)."""
    rng = random.Random(seed)
    pool = list(jobs)
    out = list(jobs)
    demand = sum(j.gpu_milli for j in out)
    target = ratio * total_gpus * MILLI
    n = 0
    while pool:
        j = rng.choice(pool)
        if demand + j.gpu_milli > target:
            break
        out.append(TraceJob(f"{j.id}-tuned-{n}", 0, j.duration_s, j.gpu_milli, j.cpu_milli, j.memory_mib, j.chips))
        demand += j.gpu_milli
        n += 1
    rng.shuffle(out)
    return [TraceJob(j.id, t, j.duration_s, j.gpu_milli, j.cpu_milli, j.memory_mib, j.chips)
            for t, j in enumerate(out)]
