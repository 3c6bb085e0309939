"""Trace replay: the platform's own scheduling round on a simulated clock (it never sleeps).

The engine is :func:`suanli.scheduling.policy.schedule_round`, exactly as the platform calls it each round; a
policy is a :class:`~suanli.scheduling.rules.Rules` of it (``POLICIES``: the production policy and the
baselines), so a comparison is like for like. The replay only adds the clock and the bookkeeping.

The cluster
    Every node of the trace (:mod:`suanli.scheduling.traces`) is one offer, as a server is on the platform: its
    unit is one accelerator with the node's vCPUs and memory per accelerator (rounded down), priced at the
    node's hourly price per accelerator (a CPU-only node: one vCPU, priced per vCPU). A job takes whole units of
    one node, enough for its accelerators, vCPUs and memory; a job larger than any node runs on several nodes
    of one data center, all or nothing (a gang, :mod:`suanli.scheduling.gang`). The data center is the offer's
    cluster and the region its province.
The clock
    Events are arrivals (``submit_time_s``) and completions (start + ``duration_s``). At each instant,
    completions free their units first, then arrivals join the queue, then, if the queue is not empty and
    something changed, one round runs (in submission order; with ``fair_share``, the jobs of the organization
    allocated the fewest accelerator-seconds so far first, then in submission order). The round is given only
    the jobs that may start (:mod:`suanli.scheduling.waiting`; for the baselines the same decisions as a round
    over the whole queue, which ``ReplayOptions.whole_queue`` and the fair-share order still give it). A
    job's ``max_runtime_minutes`` is its duration rounded up to the minute (a perfect runtime estimate), and a
    running job's release time is its end, so EASY backfilling knows when the head job can start.
Jobs that can never run
    A job that could not be placed even on the idle cluster is dropped on arrival, with the engine's own reason
    (which constraint eliminated which nodes); every other job eventually runs.

Metrics (:class:`ReplayResult`; the same definitions for every policy and in the bench)
    * queue delay = start - submit: mean, p50, p95, p99, max; job completion time (JCT) = end - submit: mean,
      p95; percentiles are nearest-rank (the smallest value with at least p % of jobs at or below it);
    * bounded slowdown: mean over jobs of max(1, JCT / max(duration, 10 s));
    * makespan: last end - first submit; utilisation: time-average of allocated / total accelerators over the
      makespan, %; allocation at saturation: the same average over the time while at least one job waits (the
      share of the cluster a policy keeps busy when there is work it could run), % (None if nothing ever waits);
    * cost: each placed job pays its units' exact hourly price for its duration, rounded half-up to the fen once
      per job;
    * per organization: jobs, mean and p95 queue delay, accelerator-hours, mean bounded slowdown; Jain's
      fairness index of the organizations' mean bounded slowdowns (1 = equal).
"""

from __future__ import annotations

import heapq
import math
import time
from itertools import islice, takewhile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from suanli.scheduling.market import Market
from suanli.scheduling.model import JobRequest, Offer
from suanli.scheduling.policy import schedule_round
from suanli.scheduling.rules import POLICIES, PRODUCTION, Rules
from suanli.scheduling.traces import TraceJob, TraceNode
from suanli.scheduling.waiting import WaitingJobs

__all__ = ["SLOWDOWN_BOUND_S", "JobOutcome", "OrgStats", "ReplayOptions", "ReplayResult", "node_offers",
           "percentile", "replay"]

SLOWDOWN_BOUND_S = 10.0
"""The bound of bounded slowdown: jobs shorter than this count as this long."""


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class ReplayOptions:
    """The policy (a name of ``POLICIES``) and whether the queue is ordered by fair share between organizations."""

    policy: str = "suanli"
    fair_share: bool = False
    whole_queue: bool = False
    """Give every round the whole queue instead of the jobs that may start (:mod:`.waiting`); slower, the same
    decisions for the baselines (the tests compare the two)."""

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy: unknown {self.policy!r}; valid policies: {', '.join(POLICIES)}")

    def rules(self) -> Rules:
        """The engine's rules for the replay: the policy's, with gangs on and explanations off (only what is
        placed matters; a dropped job gets its explanation separately)."""
        return replace(POLICIES[self.policy], gang=True, explain=False)


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job (``--per-job``): placed (start, end, nodes, cost) or dropped (the reason)."""

    id: str
    org: str
    submit_s: float
    duration_s: float
    accelerators: int
    start_s: float | None = None
    nodes: tuple[str, ...] = ()
    datacenter: str = ""
    allocated_accelerators: int = 0
    cost_fen: int = 0
    dropped: str = ""

    @property
    def delay_s(self) -> float | None:
        return None if self.start_s is None else self.start_s - self.submit_s

    @property
    def jct_s(self) -> float | None:
        return None if self.start_s is None else self.start_s + self.duration_s - self.submit_s

    @property
    def slowdown(self) -> float | None:
        jct = self.jct_s
        return None if jct is None else max(1.0, jct / max(self.duration_s, SLOWDOWN_BOUND_S))


@dataclass(frozen=True)
class OrgStats:
    org: str
    jobs: int
    dropped: int
    delay_mean_s: float | None
    delay_p95_s: float | None
    accelerator_hours: float
    slowdown_mean: float | None


@dataclass(frozen=True)
class ReplayResult:
    """What a replay measured (see the module docstring for the definitions)."""

    policy: str
    fair_share: bool
    jobs: int
    nodes: int
    accelerators: int
    placed: int
    gang_jobs: int
    dropped: tuple[tuple[str, str], ...]  # (job id, reason)
    delay_mean_s: float | None
    delay_p50_s: float | None
    delay_p95_s: float | None
    delay_p99_s: float | None
    delay_max_s: float | None
    jct_mean_s: float | None
    jct_p95_s: float | None
    slowdown_mean: float | None
    makespan_s: float
    utilisation_pct: float
    allocation_at_saturation_pct: float | None
    saturated_s: float
    cost_fen: int
    orgs: tuple[OrgStats, ...]
    fairness_jain: float | None
    rounds: int
    seconds: float
    outcomes: tuple[JobOutcome, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict:
        """A JSON-ready dict (without the per-job outcomes)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "outcomes"}
        data["dropped"] = [{"id": i, "reason": r} for i, r in self.dropped]
        data["orgs"] = [o.__dict__ for o in self.orgs]
        return data


def node_offers(nodes: Sequence[TraceNode]) -> tuple[list[Offer], list[Decimal]]:
    """One offer per node (see the module docstring) and each offer's exact price per unit-hour in fen."""
    offers, unit_fen = [], []
    for n in nodes:
        if n.accelerators:
            units, apu, vpu, mpu = n.accelerators, 1, n.vcpus // n.accelerators, n.memory_gib // n.accelerators
        else:
            units, apu, vpu, mpu = n.vcpus, 0, 1, n.memory_gib // n.vcpus
        exact = n.hourly_price_cny * 100 / units
        unit_fen.append(exact)
        offers.append(Offer(
            product_id=n.id, datacenter_id=n.datacenter, cluster_id=n.datacenter, province=n.region,
            chip_key=n.chip or "cpu", ecosystem="", accel_memory_gib=0, fp16_tflops=0.0, accelerators_per_unit=apu,
            vcpus_per_unit=vpu, memory_gib_per_unit=mpu, free_units=units,
            price_per_unit_hour_fen=int(exact.to_integral_value(ROUND_HALF_UP)), datacenter_name=n.datacenter,
            product_name=n.id))
    return offers, unit_fen


def _request(job: TraceJob, seq: int, priority: int = 0) -> JobRequest:
    return JobRequest(id=job.id, accelerators=job.accelerators, chip=job.chip, vcpus=job.vcpus,
                      memory_gib=job.memory_gib, max_runtime_minutes=max(1, math.ceil(job.duration_s / 60)),
                      submit_seq=seq, priority=priority, submitted_s=job.submit_time_s)


class _Releases:
    """Each offer's releases at the round's ``now``: (minutes from now, units) of each job running on it, made
    when the round asks (EASY backfilling looks at few offers). ``start_minute`` answers the reservation's
    question without the list: the end time at which the offer's releases cover a deficit does not depend on
    ``now``, so it is kept per (offer, deficit) until a job starts or ends there (:meth:`changed`)."""

    def __init__(self, running_on: list[dict[int, tuple[float, int]]]) -> None:
        self.running_on = running_on
        self.now = 0.0
        self._ends: dict[int, dict[int, float | None]] = {}  # offer -> deficit -> end time covering it

    def __getitem__(self, i: int) -> list[tuple[int, int]]:
        return [(max(0, math.ceil((end - self.now) / 60)), units) for end, units in self.running_on[i].values()]

    def changed(self, i: int) -> None:
        self._ends.pop(i, None)

    def start_minute(self, i: int, deficit: int) -> int | None:
        by_deficit = self._ends.setdefault(i, {})
        if deficit not in by_deficit:
            end, released = None, 0
            for t, units in sorted(self.running_on[i].values()):
                released += units
                if released >= deficit:
                    end = t
                    break
            by_deficit[deficit] = end
        end = by_deficit[deficit]
        return None if end is None else max(0, math.ceil((end - self.now) / 60))


class _NeverFits:
    """Why a job could not run even on the idle cluster (None if it could), per job shape."""

    def __init__(self, market: Market, totals: list[int]) -> None:
        self.market, self.totals = market, totals
        self.cache: dict[tuple, str | None] = {}
        self.rules = replace(PRODUCTION, gang=True)

    def __call__(self, request: JobRequest) -> str | None:
        key = (request.accelerators, request.chip, request.vcpus, request.memory_gib)
        if key not in self.cache:
            result = schedule_round([request], self.market, rules=self.rules, free=self.totals, repair_budget=0)
            self.cache[key] = None if result.placements else result.unplaceable[0].message
        return self.cache[key]


def replay(jobs: Sequence[TraceJob], nodes: Sequence[TraceNode], options: ReplayOptions = ReplayOptions(),
           progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Replay ``jobs`` on ``nodes`` under ``options``; ``progress(arrived, total)`` is called as jobs arrive."""
    ids = [j.id for j in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("jobs: ids must be unique")
    t0 = time.perf_counter()
    rules = options.rules()
    offers, unit_fen = node_offers(nodes)
    market = Market(offers)
    totals = [o.total_units for o in offers]
    apu = [o.accelerators_per_unit for o in offers]
    total_acc = sum(t * a for t, a in zip(totals, apu, strict=True))
    never = _NeverFits(market, totals)
    free = list(totals)
    running_on: list[dict[int, tuple[float, int]]] = [{} for _ in offers]  # job -> (end, units)
    releases = _Releases(running_on)
    index = {j.id: k for k, j in enumerate(jobs)}
    order = sorted(range(len(jobs)), key=lambda k: (jobs[k].submit_time_s, k))
    seq_of = {k: s for s, k in enumerate(order)}
    waiting = WaitingJobs(market)
    queue = waiting.requests
    first_waiting = 0  # position in ``order`` of the first job still waiting (or not yet arrived)
    held: list[tuple[int, int]] = []  # the last round's reservations: (job, offer), the head's first (EASY)
    bound = rules.reserve_after_s if rules.backfill == "easy" else None
    outcomes: list[JobOutcome | None] = [None] * len(jobs)
    parts_of: dict[int, list[tuple[int, int]]] = {}
    org_usage: dict[str, float] = defaultdict(float)  # accelerator-seconds allocated so far (fair share)
    heap: list[tuple[float, int]] = []
    n_jobs = len(jobs)
    pos = rounds = gangs = allocated = 0
    area = sat_area = sat_time = 0.0
    first = prev = jobs[order[0]].submit_time_s if jobs else 0.0
    step = max(1, n_jobs // 100)
    while pos < n_jobs or heap:
        now = min(jobs[order[pos]].submit_time_s if pos < n_jobs else math.inf, heap[0][0] if heap else math.inf)
        dt = now - prev
        area += allocated * dt
        if queue:
            sat_area += allocated * dt
            sat_time += dt
        prev = now
        while heap and heap[0][0] <= now:
            _end, k = heapq.heappop(heap)
            for i, units in parts_of.pop(k):
                free[i] += units
                del running_on[i][k]
                releases.changed(i)
                allocated -= units * apu[i]
                waiting.freed(i)
        while pos < n_jobs and jobs[order[pos]].submit_time_s <= now:
            k = order[pos]
            pos += 1
            request = _request(jobs[k], seq_of[k])
            reason = never(request)
            if reason is not None:
                j = jobs[k]
                outcomes[k] = JobOutcome(j.id, j.org, j.submit_time_s, j.duration_s, j.accelerators, dropped=reason)
            else:
                waiting.add(k, request)
            if progress is not None and (pos % step == 0 or pos == n_jobs):
                progress(pos, n_jobs)
        if not (queue and waiting.changed()):
            continue
        for _k, i in held:
            waiting.freed(i)  # the reservations are recomputed: the units they held may be taken
        if options.fair_share:
            for k, request in queue.items():
                priority = -round(org_usage[jobs[k].org])
                if request.priority != priority:
                    queue[k] = replace(request, priority=priority)
        prefix = 16  # strict FIFO: rounds over the queue's first jobs, longer while every job given starts
        while queue:
            while first_waiting < pos and order[first_waiting] not in queue:
                first_waiting += 1
            in_order = (order[p] for p in range(first_waiting, pos))
            if options.fair_share or options.whole_queue:
                given = list(queue.values())
            elif rules.backfill == "none":  # nothing starts behind the first job that waits: a prefix is exact
                given = [queue[k] for k in islice((k for k in in_order if k in queue), prefix)]
            else:
                heads = [k for k, _i in held]
                if bound is not None:  # the jobs that waited past the bound, oldest first, may hold an offer
                    heads += islice((k for k in takewhile(lambda k: jobs[k].submit_time_s <= now - bound,
                                                          (order[p] for p in range(first_waiting, pos)))
                                     if k in queue), rules.max_reservations)
                given = waiting.may_start(free, in_order, heads)
            waiting.may_start_reset()
            releases.now = now
            round_args = dict(rules=rules, free=free, releases=releases if rules.backfill == "easy" else None,
                              fragmentation=waiting.fragmentation() if rules.fit == "fgd" else None, now_s=now,
                              constrained=waiting.chips() if rules.spare_constrained is not None else None)
            result = schedule_round(given, market, **round_args)
            if result.reservations and len(given) < len(queue):
                # Jobs short enough to end before a hold starts may use the held offer: give the round those it
                # was not given (the holds stay the same: every job before the head was given, and the
                # long waiters were), and run it again.
                given_keys = {index[g.id] for g in given}
                extra = [r for res in result.reservations if res.start_minute is not None
                         for r in waiting.short_enough(market.index_of[res.offer_id],
                                                       free[market.index_of[res.offer_id]], res.start_minute,
                                                       given_keys)]
                if extra:
                    given = given + list({r.id: r for r in extra}.values())
                    result = schedule_round(given, market, **round_args)
            rounds += 1
            held = [(index[r.job_id], market.index_of[r.offer_id]) for r in result.reservations]
            for p in result.placements:
                k = index[p.job_id]
                waiting.remove(k)
                j = jobs[k]
                parts = [(market.index_of[pid], units) for pid, units in (p.parts or ((p.offer_id, p.units),))]
                end = now + j.duration_s
                acc = 0
                price = Decimal(0)
                for i, units in parts:
                    free[i] -= units
                    running_on[i][k] = (end, units)
                    releases.changed(i)
                    acc += units * apu[i]
                    price += unit_fen[i] * units
                allocated += acc
                org_usage[j.org] += acc * j.duration_s
                gangs += bool(p.parts)
                parts_of[k] = parts
                heapq.heappush(heap, (end, k))
                cost = int((price * Decimal(repr(j.duration_s)) / 3600).to_integral_value(ROUND_HALF_UP))
                outcomes[k] = JobOutcome(j.id, j.org, j.submit_time_s, j.duration_s, j.accelerators, start_s=now,
                                         nodes=tuple(offers[i].product_id for i, _u in parts),
                                         datacenter=offers[parts[0][0]].datacenter_id,
                                         allocated_accelerators=acc, cost_fen=cost)
            if rules.backfill != "none" or len(result.placements) < len(given) or len(given) < prefix:
                break
            prefix *= 2
    if queue:  # pragma: no cover - every job left fits the idle cluster
        raise AssertionError(f"jobs {sorted(jobs[k].id for k in queue)[:5]} fit the idle cluster but were not placed")
    return _result(options, jobs, nodes, outcomes, total_acc, first, area, sat_area, sat_time, rounds, gangs,
                   time.perf_counter() - t0)


def _result(options: ReplayOptions, jobs: Sequence[TraceJob], nodes: Sequence[TraceNode],
            outcomes: list[JobOutcome | None], total_acc: int, first: float, area: float, sat_area: float,
            sat_time: float, rounds: int, gangs: int, seconds: float) -> ReplayResult:
    done = [o for o in outcomes if o is not None]
    placed = [o for o in done if o.start_s is not None]
    delays = [o.delay_s for o in placed]
    jcts = [o.jct_s for o in placed]
    slowdowns = [o.slowdown for o in placed]
    last = max((o.start_s + o.duration_s for o in placed), default=first)
    makespan = last - first
    by_org: dict[str, list[JobOutcome]] = defaultdict(list)
    for o in done:
        by_org[o.org].append(o)
    orgs = []
    for org in sorted(by_org):
        mine = [o for o in by_org[org] if o.start_s is not None]
        orgs.append(OrgStats(org=org, jobs=len(by_org[org]), dropped=len(by_org[org]) - len(mine),
                             delay_mean_s=_mean([o.delay_s for o in mine]),
                             delay_p95_s=percentile([o.delay_s for o in mine], 95),
                             accelerator_hours=sum(o.allocated_accelerators * o.duration_s for o in mine) / 3600,
                             slowdown_mean=_mean([o.slowdown for o in mine])))
    means = [o.slowdown_mean for o in orgs if o.slowdown_mean is not None]
    jain = (sum(means) ** 2 / (len(means) * sum(m * m for m in means))) if means else None
    return ReplayResult(
        policy=options.policy, fair_share=options.fair_share, jobs=len(jobs), nodes=len(nodes),
        accelerators=total_acc, placed=len(placed), gang_jobs=gangs,
        dropped=tuple((o.id, o.dropped) for o in done if o.start_s is None),
        delay_mean_s=_mean(delays), delay_p50_s=percentile(delays, 50), delay_p95_s=percentile(delays, 95),
        delay_p99_s=percentile(delays, 99), delay_max_s=max(delays, default=None), jct_mean_s=_mean(jcts),
        jct_p95_s=percentile(jcts, 95), slowdown_mean=_mean(slowdowns), makespan_s=makespan,
        utilisation_pct=100 * area / (total_acc * makespan) if total_acc and makespan > 0 else 0.0,
        allocation_at_saturation_pct=100 * sat_area / (total_acc * sat_time) if total_acc and sat_time > 0 else None,
        saturated_s=sat_time, cost_fen=sum(o.cost_fen for o in placed), orgs=tuple(orgs), fairness_jain=jain,
        rounds=rounds, seconds=seconds, outcomes=tuple(done),
    )
