"""Value types of the scheduler: what can be placed where, what a job asks for, what was decided.

Units
    * money: integer fen (1 CNY = 100 fen); ``*_hour_fen`` is fen per hour;
    * ``accel_memory_gib``: accelerator memory per accelerator, GiB; ``memory_gib``: host memory, GiB;
    * ``fp16_tflops``: dense FP16/BF16 throughput per accelerator, 10^12 FLOP/s (as in the chip table);
    * time: ``max_runtime_minutes`` and ``Offer.releases`` are minutes from the start of the round.

A *unit* is what a product rents: ``accelerators_per_unit`` accelerators plus ``vcpus_per_unit`` vCPUs
and ``memory_gib_per_unit`` GiB. A job takes whole units of one offer; a job larger than any one server
may take units of several offers of one class in one data center, all or nothing (a *gang*,
``Placement.parts``; only when ``Rules.gang`` is on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from suanli.core.messages import Text, render

__all__ = [
    "CONSTRAINTS",
    "Attempt",
    "JobRequest",
    "Mode",
    "Objective",
    "Offer",
    "Placement",
    "Preemption",
    "Reservation",
    "RoundResult",
    "RunningSpot",
    "Unplaceable",
]

# The constraints an offer can fail, in the order ``Unplaceable.eliminated`` lists them.
CONSTRAINTS: tuple[str, ...] = (
    "chip",           # wrong chip model, or no accelerators at all
    "ecosystem",      # chip outside the job's software ecosystems
    "count",          # the pool is too small for the job, even empty (accelerators, vCPUs or memory)
    "memory",         # accelerator memory below the job's minimum
    "compute",        # FP16 TFLOPS per accelerator below the job's minimum
    "region",         # province not allowed
    "datacenter",     # data center not allowed
    "product",        # not one of the products the job is pinned to
    "price",          # hourly price above the job's limit (or bid); spot: the offer sells no spot
    "capacity_busy",  # would fit, but not enough free units now (or held for a higher-priority job)
    "blocked",        # the job already failed there (failover blocklist)
    "unhealthy",      # the offer's cluster is marked unhealthy
)


class Objective(StrEnum):
    """What "best" means for a job: the cheapest total hourly price, or the fastest accelerators."""

    COST = "cost"
    TIME = "time"


class Mode(StrEnum):
    """On-demand jobs keep their capacity; spot jobs run on what is left and can be preempted."""

    ON_DEMAND = "on_demand"
    SPOT = "spot"


def _frozen(value: Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(value)


@dataclass(frozen=True)
class Offer:
    """A placeable capacity pool: one product's free units in one cluster of one data center.

    ``free_units`` is what can be placed now; ``total_units`` (default: ``free_units``) is the pool
    size, which tells "never fits here" (count) from "busy now" (capacity_busy). ``releases`` lists
    ``(minutes_from_now, units)`` that running jobs will free by their maximum runtime; it lets the
    scheduler compute when a reserved job can start (EASY backfill). ``spot_floor_fen`` is the
    lowest spot price per unit-hour, ``None`` when the product is not sold as spot. ``unit_is_server``: each
    unit is a machine of its own (the platform's products: a job on several units runs one rank per unit);
    False: the offer is one machine and its units are parts of it (the replay's nodes, whose units are GPUs).
    """

    product_id: str
    datacenter_id: str
    cluster_id: str
    province: str
    chip_key: str
    ecosystem: str
    accel_memory_gib: int  # per accelerator
    fp16_tflops: float  # per accelerator, dense FP16/BF16
    accelerators_per_unit: int
    vcpus_per_unit: int
    memory_gib_per_unit: int
    free_units: int
    price_per_unit_hour_fen: int  # on-demand
    spot_floor_fen: int | None = None  # per unit-hour
    healthy: bool = True
    total_units: int | None = None
    releases: tuple[tuple[int, int], ...] = ()
    # What the reasons call the data center and the product (their ids when not given).
    datacenter_name: str = ""
    product_name: str = ""
    unit_is_server: bool = False

    def __post_init__(self) -> None:
        for name in ("accel_memory_gib", "accelerators_per_unit", "vcpus_per_unit", "memory_gib_per_unit",
                     "free_units", "price_per_unit_hour_fen"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        if self.fp16_tflops < 0:
            raise ValueError(f"fp16_tflops: must not be negative, got {self.fp16_tflops}")
        if self.spot_floor_fen is not None and self.spot_floor_fen < 0:
            raise ValueError(f"spot_floor_fen: must not be negative, got {self.spot_floor_fen}")
        if self.total_units is None:
            object.__setattr__(self, "total_units", self.free_units)
        elif self.total_units < self.free_units:
            raise ValueError(f"total_units: {self.total_units} is less than free_units {self.free_units}")
        releases = tuple(sorted((int(t), int(u)) for t, u in self.releases))
        if any(t < 0 or u <= 0 for t, u in releases):
            raise ValueError("releases: each (minutes_from_now, units) needs minutes >= 0 and units > 0")
        object.__setattr__(self, "releases", releases)

    @property
    def offer_id(self) -> str:
        """An offer is identified by its product."""
        return self.product_id


@dataclass(frozen=True)
class JobRequest:
    """A queued job: what it needs, where it may run, what it may pay, and what "best" means for it.

    Accelerators are asked for by chip model (``chip``), by ecosystem (``ecosystems``), or by
    capability ("any chip with at least ``min_accel_memory_gib`` GiB and ``min_fp16_tflops`` TFLOPS");
    the three combine. ``accelerators == 0`` is a CPU-only job. Empty ``provinces`` /
    ``datacenters`` / ``products`` / ``ecosystems`` mean "any"; ``products`` pins the job to those
    offers (product ids), e.g. the one a buyer launched from the advisor. ``max_hourly_price_fen``
    caps the whole job's hourly price; a spot job must bid (``bid_hourly_fen``, whole job, per hour).
    Higher ``priority`` goes first; among equals, lower ``submit_seq`` (earlier submission).
    ``blocked_offers`` and ``blocked_clusters`` are where the job already failed. ``submitted_s`` is when the
    job was submitted (seconds, on the clock of the round's ``now_s``): a job waiting longer than
    ``Rules.reserve_after_s`` gets a reservation of its own.
    """

    id: str
    accelerators: int = 0
    chip: str | None = None
    ecosystems: frozenset[str] = frozenset()
    min_accel_memory_gib: int = 0
    min_fp16_tflops: float = 0.0
    vcpus: int = 0
    memory_gib: int = 0
    provinces: frozenset[str] = frozenset()
    datacenters: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    max_hourly_price_fen: int | None = None
    objective: Objective = Objective.COST
    mode: Mode = Mode.ON_DEMAND
    bid_hourly_fen: int | None = None
    max_runtime_minutes: int | None = None
    priority: int = 0
    submit_seq: int = 0
    blocked_offers: frozenset[str] = frozenset()
    blocked_clusters: frozenset[str] = frozenset()
    submitted_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("ecosystems", "provinces", "datacenters", "products", "blocked_offers", "blocked_clusters"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        try:
            object.__setattr__(self, "objective", Objective(self.objective))
        except ValueError:
            raise ValueError(f"objective: must be one of {[o.value for o in Objective]}, "
                             f"got {self.objective!r}") from None
        try:
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError:
            raise ValueError(f"mode: must be one of {[m.value for m in Mode]}, got {self.mode!r}") from None
        for name in ("accelerators", "min_accel_memory_gib", "vcpus", "memory_gib"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")
        if self.min_fp16_tflops < 0:
            raise ValueError(f"min_fp16_tflops: must not be negative, got {self.min_fp16_tflops}")
        if self.accelerators == 0 and self.vcpus == 0 and self.memory_gib == 0:
            raise ValueError("accelerators: a job must ask for accelerators, vCPUs or memory")
        if self.max_hourly_price_fen is not None and self.max_hourly_price_fen < 0:
            raise ValueError(f"max_hourly_price_fen: must not be negative, got {self.max_hourly_price_fen}")
        if self.mode is Mode.SPOT and self.bid_hourly_fen is None:
            raise ValueError("bid_hourly_fen: a spot job must bid a price per hour")
        if self.bid_hourly_fen is not None and self.bid_hourly_fen < 0:
            raise ValueError(f"bid_hourly_fen: must not be negative, got {self.bid_hourly_fen}")
        if self.max_runtime_minutes is not None and self.max_runtime_minutes <= 0:
            raise ValueError(f"max_runtime_minutes: must be positive, got {self.max_runtime_minutes}")

    @property
    def price_limit_fen(self) -> int | None:
        """The most the job pays per hour in its mode: the cap, and for spot also the bid."""
        limits = [x for x in (self.max_hourly_price_fen,
                              self.bid_hourly_fen if self.mode is Mode.SPOT else None) if x is not None]
        return min(limits) if limits else None


@dataclass(frozen=True)
class RunningSpot:
    """A spot job running now: the victims on-demand work may preempt."""

    job_id: str
    offer_id: str
    units: int
    bid_hourly_fen: int


@dataclass(frozen=True)
class Preemption:
    """Spot job ``job_id`` loses ``units`` of ``offer_id`` to on-demand job ``for_job_id``; requeue it."""

    job_id: str
    offer_id: str
    units: int
    for_job_id: str


@dataclass(frozen=True)
class Placement:
    """Run ``job_id`` on ``units`` units of offer ``offer_id`` at ``hourly_price_fen`` (whole job).

    ``reason_message`` says why this offer (objective, price, place, the runner-up), as translatable clauses
    (:mod:`suanli.core.messages`); ``reason`` is the same in English, one sentence. ``preempted`` lists spot
    jobs evicted to make room; ``backfilled`` is True when the job started ahead of a higher-priority job that
    holds a reservation. ``parts`` is set for a gang (a job larger than one server): ``(offer id, units)`` per
    server, all in one data center; ``offer_id`` is then the first part and ``units`` the total.
    """

    job_id: str
    offer_id: str
    datacenter_id: str
    cluster_id: str
    units: int
    accelerators: int  # units x accelerators per unit
    hourly_price_fen: int
    mode: Mode
    reason_message: Text
    preempted: tuple[str, ...] = ()
    backfilled: bool = False
    parts: tuple[tuple[str, int], ...] = ()

    @property
    def reason(self) -> str:
        """Why this offer, in English (what the API and the CLI show)."""
        return render(self.reason_message)


@dataclass(frozen=True)
class Reservation:
    """A waiting job's hold (EASY backfill: the head job's; with ``Rules.reserve_after_s`` also every job that
    waited past the bound): ``units`` of ``offer_id`` from ``start_minute`` on.

    ``start_minute`` is when enough units will be free (from ``Offer.releases``); ``None`` when the
    offer gave no release times, in which case nothing may be backfilled onto that offer.
    """

    job_id: str
    offer_id: str
    units: int
    start_minute: int | None


@dataclass(frozen=True)
class Unplaceable:
    """Why ``job_id`` could not be placed: offers eliminated per constraint, and a sentence (``reason_message``,
    translatable clauses; ``message`` is the same in English).

    Every offer is counted once, under the first constraint it fails, checking static constraints
    first and ``capacity_busy`` last (so ``capacity_busy`` counts offers that would take the job if
    they were not busy). The counts add up to the number of offers.
    """

    job_id: str
    eliminated: Mapping[str, int]
    reason_message: Text
    offers_considered: int = 0
    reserved: Reservation | None = None

    @property
    def message(self) -> str:
        """Why not, in English."""
        return render(self.reason_message)

    @property
    def binding(self) -> tuple[str, ...]:
        """The constraints that eliminated at least one offer, in ``CONSTRAINTS`` order."""
        return tuple(k for k in CONSTRAINTS if self.eliminated.get(k, 0))


@dataclass(frozen=True)
class RoundResult:
    """One scheduling round: placements, jobs that could not be placed, spot jobs to requeue, the head job's
    reservation and every reservation (the head's first, then those of jobs that waited past the bound)."""

    placements: tuple[Placement, ...]
    unplaceable: tuple[Unplaceable, ...]
    preemptions: tuple[Preemption, ...] = ()
    reservation: Reservation | None = None
    reservations: tuple[Reservation, ...] = ()


@dataclass(frozen=True)
class Attempt:
    """One failed try: the job was placed on ``offer_id`` (in ``cluster_id``) and it did not work.

    ``cluster_failed`` blocks the whole cluster for the job (the cluster itself failed, not just the
    placement). ``at`` is when the failure was seen. ``reason`` is plain text or a translatable message.
    """

    offer_id: str
    cluster_id: str
    reason: Text
    at: datetime
    cluster_failed: bool = False
