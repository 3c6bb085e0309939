"""Held capacity: jobs run on capacity their buyer already holds, before the market is asked.

A buyer organization *holds*:

- ``lease``: its active reserved leases (包年包月) of products that do not deliver machines (batch capacity; a lease
  of containers, VMs or bare metal is its machines, ``suanli.instances``): every unit, less the units it lent to an
  emergency;
- ``loan``: when it pays for an emergency, the units reserved holders lent it (accepted offers), while the lease and
  the emergency last;
- ``emergency``: when it pays for an emergency, the emergency's own on-demand orders (its free and spot capacity),
  while they are active and the emergency lasts.

A job on held capacity places no order and pays nothing more: the lease was paid for its term, the emergency's
orders are metered by the second whether work runs on them or not, the lent units were paid by the compensation.
Its ``order_id`` is the held order and ``held_kind`` says which kind; ending the job leaves that order as it is.
A holder's jobs never use the units it lent (they are the payer's while lent), and the payer's jobs lose their
place when the loan ends (the emergency ended, or the lease's term ran out): the scheduler's watch cancels them
(``lost_reason``).

The scheduler (``jobs.placing``) runs the platform's policy over each organization's queued jobs against offers
made from what it holds (one offer per product: the largest free share of one order, price 0) before the market
round; the same engine, its usual constraints (chip, memory, places, products, price limit), and no gangs across
held orders. ``HeldCapacity`` on the job: ``prefer`` (default), ``only`` (wait for held units), ``never``.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.core.emergency import Stage
from suanli.core.messages import Message, msg
from suanli.emergency.models import EmergencyPart, EmergencyRequest, EmergencyStatus, OfferStatus
from suanli.jobs.models import ACTIVE_STATES, Job
from suanli.scheduling.model import Offer, Placement
from suanli.trading.models import Order, OrderMode, OrderStatus

__all__ = ["HeldKind", "Holding", "busy_units", "choose", "holdings", "lost_reason", "offers", "on_held", "on_order"]


class HeldKind(enum.StrEnum):
    LEASE = "lease"
    LOAN = "loan"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class Holding:
    """Units of one order an organization may run its jobs on, and how many its jobs use now."""

    order_id: uuid.UUID
    product_id: uuid.UUID
    org_id: uuid.UUID
    kind: HeldKind
    units: int
    busy: int
    emergency_title: str = ""

    @property
    def free(self) -> int:
        return max(0, self.units - self.busy)


def holdings(session: Session, org_ids: Iterable[uuid.UUID] | None = None) -> list[Holding]:
    """What the organizations (every one when None) hold now, with the units their jobs use on each order."""
    orgs = None if org_ids is None else set(org_ids)
    if orgs is not None and not orgs:
        return []
    leases = select(Order).where(Order.status == OrderStatus.ACTIVE, Order.mode == OrderMode.RESERVED,
                                 Order.delivers_instances.is_(False))
    if orgs is not None:
        leases = leases.where(Order.buyer_org_id.in_(orgs))
    lease_rows = list(session.scalars(leases.order_by(Order.id)))
    # Accepted loans of emergencies still going, on leases still active: lent by the holder, used by the payer.
    loans = (select(EmergencyPart.order_id, EmergencyPart.product_id, EmergencyRequest.payer_org_id,
                    EmergencyRequest.title, func.sum(EmergencyPart.units))
             .join(EmergencyRequest, EmergencyRequest.id == EmergencyPart.emergency_id)
             .join(Order, Order.id == EmergencyPart.order_id)
             .where(EmergencyPart.stage == Stage.RESERVED, EmergencyPart.offer_status == OfferStatus.ACCEPTED,
                    EmergencyRequest.status == EmergencyStatus.ASSEMBLING, Order.status == OrderStatus.ACTIVE)
             .group_by(EmergencyPart.order_id, EmergencyPart.product_id, EmergencyRequest.payer_org_id,
                       EmergencyRequest.title))
    loan_rows = session.execute(loans).all()
    lent: dict[uuid.UUID, int] = {}
    for order_id, _p, _payer, _t, units in loan_rows:
        lent[order_id] = lent.get(order_id, 0) + int(units)
    emergency_orders = (select(Order.id, Order.product_id, Order.buyer_org_id, Order.units, EmergencyRequest.title)
                        .join(EmergencyPart, EmergencyPart.order_id == Order.id)
                        .join(EmergencyRequest, EmergencyRequest.id == EmergencyPart.emergency_id)
                        .where(EmergencyPart.stage.in_([Stage.FREE, Stage.SPOT]), Order.status == OrderStatus.ACTIVE,
                               Order.delivers_instances.is_(False),
                               EmergencyRequest.status == EmergencyStatus.ASSEMBLING))
    if orgs is not None:
        emergency_orders = emergency_orders.where(Order.buyer_org_id.in_(orgs))
    held: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, HeldKind, int, str]] = []
    for o in lease_rows:
        if o.units - lent.get(o.id, 0) > 0:
            held.append((o.id, o.product_id, o.buyer_org_id, HeldKind.LEASE, o.units - lent.get(o.id, 0), ""))
    for order_id, product_id, payer, title, units in loan_rows:
        if orgs is None or payer in orgs:
            held.append((order_id, product_id, payer, HeldKind.LOAN, int(units), title))
    for order_id, product_id, org_id, units, title in session.execute(emergency_orders).all():
        held.append((order_id, product_id, org_id, HeldKind.EMERGENCY, int(units), title))
    if not held:
        return []
    busy = busy_units(session, {h[0] for h in held})
    return [Holding(order_id, product_id, org_id, kind, units, busy.get((order_id, org_id), 0), title)
            for order_id, product_id, org_id, kind, units, title in held]


def busy_units(session: Session, order_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Units of these held orders that scheduled or running jobs use now, per (order, the jobs' organization): a
    lease's holder and an emergency's payer on the same lease are counted apart."""
    ids = set(order_ids)
    if not ids:
        return {}
    return {(order_id, org_id): int(units) for order_id, org_id, units in session.execute(
        select(Job.order_id, Job.buyer_org_id, func.sum(func.coalesce(Job.units, 0)))
        .where(Job.order_id.in_(ids), Job.state.in_(ACTIVE_STATES), Job.held_kind.is_not(None))
        .group_by(Job.order_id, Job.buyer_org_id)).all()}


def offers(market: Iterable[Offer], held: Iterable[Holding]) -> list[Offer]:
    """One organization's held capacity as offers for the policy: per product, the largest free share of one of
    its held orders (a job runs on one order), at price 0. ``market`` gives each product's offer (its cluster
    must be active to take work; a product no longer listed is still found, see ``placing.load_offers``)."""
    by_product: dict[str, list[Holding]] = {}
    for h in held:
        by_product.setdefault(str(h.product_id), []).append(h)
    out = []
    for offer in market:
        mine = by_product.get(offer.product_id)
        if not mine:
            continue
        free = max(h.free for h in mine)
        out.append(dataclasses.replace(offer, free_units=free, total_units=max(max(h.units for h in mine), free),
                                       price_per_unit_hour_fen=0, spot_floor_fen=0, releases=()))
    return out


def choose(held: Iterable[Holding], org_id: uuid.UUID, product_id: str, units: int) -> Holding | None:
    """The held order a placement of ``units`` units of the product goes on: the one with the fewest free units
    that has room (leases before loans before the emergency's orders when equal), or None."""
    fits = [h for h in held if h.org_id == org_id and str(h.product_id) == product_id and h.free >= units]
    order = {HeldKind.LEASE: 0, HeldKind.LOAN: 1, HeldKind.EMERGENCY: 2}
    return min(fits, key=lambda h: (h.free, order[h.kind], str(h.order_id)), default=None)


def on_held(p: Placement, h: Holding) -> Placement:
    """The policy's placement on a held offer, with the reason saying where it runs and that it costs nothing."""
    if h.kind is HeldKind.LEASE:
        reason = msg("on your reserved lease %(order)s (%(units)s of its units; no further charge)",
                     order=str(h.order_id), units=p.units)
    elif h.kind is HeldKind.LOAN:
        reason = msg("on %(units)s unit(s) lent to the emergency %(title)s (reserved lease %(order)s; no further "
                     "charge)", units=p.units, title=h.emergency_title, order=str(h.order_id))
    else:
        reason = msg("on the emergency %(title)s's order %(order)s (%(units)s of its units; no further charge)",
                     title=h.emergency_title, order=str(h.order_id), units=p.units)
    return dataclasses.replace(p, hourly_price_fen=0, reason_message=reason)


def lost_reason(session: Session, job: Job) -> Message | None:
    """Why a job on held capacity may no longer run there (None: it still holds its units)."""
    if job.held_kind is None or job.order_id is None:
        return None
    for h in holdings(session, [job.buyer_org_id]):
        if h.order_id == job.order_id and h.busy <= h.units:
            return None
    kind = HeldKind(job.held_kind)
    if kind is HeldKind.LEASE:
        return msg("stopped: the reserved lease it ran on has ended")
    if kind is HeldKind.LOAN:
        return msg("stopped: the units lent to the emergency went back to their holder (the emergency or the "
                   "lease ended)")
    return msg("stopped: the emergency's order it ran on has ended")


@dataclass(frozen=True)
class OrderUse:
    """How an organization's held order is used now (its console's order page): the units its jobs may use,
    those in use, those lent to emergencies, and its jobs there."""

    units: int
    busy: int
    lent: int
    jobs: list[Job]


def on_order(session: Session, org_id: uuid.UUID, order: Order) -> OrderUse | None:
    """The organization's use of one of its orders as held capacity, or None when it is not held capacity."""
    mine = [h for h in holdings(session, [org_id]) if h.order_id == order.id]
    lent = 0
    if (order.mode is OrderMode.RESERVED and order.buyer_org_id == org_id and order.status is OrderStatus.ACTIVE
            and not order.delivers_instances):  # its lease holding is what the loans left (none when all is lent)
        lent = order.units - sum(h.units for h in mine if h.kind is HeldKind.LEASE)
    if not mine and not lent:
        return None
    jobs = list(session.scalars(select(Job).where(Job.order_id == order.id, Job.buyer_org_id == org_id,
                                                  Job.state.in_(ACTIVE_STATES), Job.held_kind.is_not(None))
                                .order_by(Job.seq)))
    return OrderUse(units=sum(h.units for h in mine), busy=sum(h.busy for h in mine), lent=lent, jobs=jobs)
