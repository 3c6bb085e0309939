"""Emergency compute (应急算力): the plan that assembles an emergency request from the network's capacity. No I/O.

The order of the stages is the policy (issue 17, point 5):

1. ``free``: free units of matching products, cheapest per accelerator-hour first (ties: the most free units,
   so the capacity spreads over fewer data centers; then the product id, so the plan is deterministic).
2. ``spot``: running spot orders, lowest bids per accelerator-hour first (ties: the newest, as
   ``trading.placement.preempt_spot_for`` notices them). A spot order is preempted whole, after its notice.
3. ``reserved``: idle units of reserved leases (units no running job uses), the most idle accelerators first,
   so fewer holders are asked (ties: the order id). Their holders are asked and compensated at the request's
   rate; only accepted units are lent.

On-demand leases are never candidates: the planner has no input for them, and ``plan`` refuses a candidate of
any other mode. Whole units only: the plan never goes over the accelerators asked (a unit that would go over is
skipped, a smaller one may still fit), and says how many are still missing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stage(enum.StrEnum):
    FREE = "free"
    SPOT = "spot"
    RESERVED = "reserved"


STAGE_ORDER = (Stage.FREE, Stage.SPOT, Stage.RESERVED)


@dataclass(frozen=True)
class FreeCapacity:
    """Free units of one product (stock less allocated less what pending orders wait for)."""

    product_id: str
    accelerators_per_unit: int
    free_units: int
    price_per_accel_hour_fen: int


@dataclass(frozen=True)
class SpotLease:
    """A running spot order not under notice yet: preempted whole."""

    order_id: str
    product_id: str
    accelerators_per_unit: int
    units: int
    bid_per_accel_hour_fen: int
    created_seq: float = 0.0  # larger: newer (noticed first among equal bids)


@dataclass(frozen=True)
class ReservedLease:
    """A reserved order's idle units (its units less those running jobs use)."""

    order_id: str
    product_id: str
    holder_org_id: str
    accelerators_per_unit: int
    idle_units: int
    mode: str = "reserved"


@dataclass(frozen=True)
class Take:
    stage: Stage
    product_id: str
    units: int
    accelerators: int
    order_id: str | None = None  # the spot order preempted, or the reserved order asked
    holder_org_id: str | None = None


@dataclass(frozen=True)
class Plan:
    asked: int
    takes: tuple[Take, ...]

    @property
    def planned(self) -> int:
        return sum(t.accelerators for t in self.takes)

    @property
    def missing(self) -> int:
        return self.asked - self.planned

    def by_stage(self) -> dict[Stage, int]:
        totals = {s: 0 for s in STAGE_ORDER}
        for take in self.takes:
            totals[take.stage] += take.accelerators
        return totals


def compensation_fen(rate_per_accel_hour_fen: int, accelerators: int, hours: int) -> int:
    """What a reserved holder is paid for lending ``accelerators`` for ``hours``: integer fen, exact."""
    for name, value in (("rate", rate_per_accel_hour_fen), ("accelerators", accelerators), ("hours", hours)):
        if type(value) is not int or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return rate_per_accel_hour_fen * accelerators * hours


def plan(asked: int, free: list[FreeCapacity], spot: list[SpotLease], reserved: list[ReservedLease]) -> Plan:
    """The ordered plan for ``asked`` accelerators: free, then spot, then reserved idle units."""
    if asked <= 0:
        raise ValueError("asked must be positive")
    for lease in reserved:
        if lease.mode != "reserved":
            raise ValueError(f"only reserved leases lend idle units; {lease.order_id} is {lease.mode}")
    takes: list[Take] = []
    left = asked
    for cap in sorted(free, key=lambda c: (c.price_per_accel_hour_fen, -c.free_units, c.product_id)):
        per = cap.accelerators_per_unit
        if left <= 0:
            break
        if per <= 0 or cap.free_units <= 0:
            continue
        units = min(cap.free_units, left // per)
        if units:
            takes.append(Take(Stage.FREE, cap.product_id, units, units * per))
            left -= units * per
    for lease in sorted(spot, key=lambda s: (s.bid_per_accel_hour_fen, -s.created_seq, s.order_id)):
        per = lease.accelerators_per_unit
        if left <= 0:
            break
        if per <= 0 or lease.units <= 0 or lease.units * per > left:
            continue
        takes.append(Take(Stage.SPOT, lease.product_id, lease.units, lease.units * per, order_id=lease.order_id))
        left -= lease.units * per
    for lease in sorted(reserved, key=lambda r: (-r.idle_units * r.accelerators_per_unit, r.order_id)):
        per = lease.accelerators_per_unit
        if left <= 0:
            break
        if per <= 0 or lease.idle_units <= 0:
            continue
        units = min(lease.idle_units, left // per)
        if units:
            takes.append(Take(Stage.RESERVED, lease.product_id, units, units * per, order_id=lease.order_id,
                              holder_org_id=lease.holder_org_id))
            left -= units * per
    return Plan(asked, tuple(takes))


__all__ = ["FreeCapacity", "Plan", "ReservedLease", "STAGE_ORDER", "SpotLease", "Stage", "Take",
           "compensation_fen", "plan"]
