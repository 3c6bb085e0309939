"""The procurement planner's arithmetic: a seller's proposed capacity as trace nodes, and what a replay with it
placed on it. Pure; ``suanli.demand.planner`` reads the jobs and the market and runs the replays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from suanli.scheduling.replay import ReplayResult
from suanli.scheduling.traces import TraceNode

PROPOSED_PREFIX = "proposed-"
PROPOSED_DATACENTER = "proposed"


@dataclass(frozen=True)
class Proposal:
    """``servers`` servers of ``accelerators_per_server`` × ``chip`` in ``province`` at ``price_per_accel_hour_fen``
    on demand, each with ``vcpus_per_server`` vCPUs and ``memory_gib_per_server`` GiB."""

    chip: str
    province: str
    servers: int
    accelerators_per_server: int
    price_per_accel_hour_fen: int
    vcpus_per_server: int
    memory_gib_per_server: int

    @property
    def accelerators(self) -> int:
        return self.servers * self.accelerators_per_server

    def nodes(self) -> list[TraceNode]:
        hourly = Decimal(self.price_per_accel_hour_fen * self.accelerators_per_server) / 100
        return [TraceNode(id=f"{PROPOSED_PREFIX}{n}", datacenter=PROPOSED_DATACENTER, region=self.province,
                          chip=self.chip, accelerators=self.accelerators_per_server, vcpus=self.vcpus_per_server,
                          memory_gib=self.memory_gib_per_server, hourly_price_cny=hourly)
                for n in range(1, self.servers + 1)]


@dataclass(frozen=True)
class PlanOutcome:
    """Recent demand replayed on the market without and with the proposal."""

    jobs: int
    placed_without: int
    placed_with: int
    jobs_on_proposed: int
    accelerator_hours_on_proposed: Decimal
    revenue_fen: int
    utilisation_pct: Decimal | None  # accelerator-hours on the proposal over its accelerators × the replayed span
    dropped_without: dict[str, int]  # reason → jobs that no offer of the market could ever take


def _reason_word(reason: str) -> str:
    """A dropped job's reason (the engine's English sentence) in one word: the first constraint it names."""
    for word in ("chip", "ecosystem", "count", "memory", "compute", "price", "region"):
        if word in reason:
            return word
    return "other"


def outcome(proposal: Proposal, without: ReplayResult, with_: ReplayResult) -> PlanOutcome:
    """What ``with_`` placed on the proposal's servers. A job spread over several servers (a gang) counts the
    share of its accelerators on proposed ones; revenue is that share × the proposal's price × the job's
    duration, rounded half-up to the fen once per job."""
    accel_seconds = Decimal(0)
    revenue = 0
    jobs_on = 0
    span = Decimal(0)
    for o in with_.outcomes:
        if o.start_s is None or not o.nodes:
            continue
        span = max(span, Decimal(repr(o.start_s + o.duration_s)))
        on = sum(1 for n in o.nodes if n.startswith(PROPOSED_PREFIX))
        if not on:
            continue
        jobs_on += 1
        seconds = Decimal(o.allocated_accelerators * on) / len(o.nodes) * Decimal(repr(o.duration_s))
        accel_seconds += seconds
        revenue += int((seconds * proposal.price_per_accel_hour_fen / 3600).to_integral_value(ROUND_HALF_UP))
    first = min((Decimal(repr(o.submit_s)) for o in with_.outcomes), default=Decimal(0))
    window = (span - first) * proposal.accelerators
    hours = (accel_seconds / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    dropped: dict[str, int] = {}
    for _job, reason in without.dropped:
        word = _reason_word(reason)
        dropped[word] = dropped.get(word, 0) + 1
    return PlanOutcome(
        jobs=with_.jobs, placed_without=without.placed, placed_with=with_.placed, jobs_on_proposed=jobs_on,
        accelerator_hours_on_proposed=hours, revenue_fen=revenue,
        utilisation_pct=(100 * accel_seconds / window).quantize(Decimal("0.1"), ROUND_HALF_UP) if window > 0 else None,
        dropped_without=dict(sorted(dropped.items(), key=lambda kv: -kv[1])))


def market_nodes(products: Sequence[tuple[str, str, str, str | None, int, int, int, int, int]],
                 max_per_product: int) -> list[TraceNode]:
    """Trace nodes of listed products: ``(id, datacenter, province, chip, accelerators, vcpus, memory_gib,
    free units, price on demand per unit-hour in fen)``, one node per free unit (at most ``max_per_product``)."""
    nodes = []
    for pid, dc, province, chip, accelerators, vcpus, memory, free, price_fen in products:
        for n in range(min(free, max_per_product)):
            nodes.append(TraceNode(id=f"{pid}/{n}", datacenter=dc, region=province, chip=chip,
                                   accelerators=accelerators, vcpus=vcpus, memory_gib=memory,
                                   hourly_price_cny=Decimal(price_fen) / 100))
    return nodes
