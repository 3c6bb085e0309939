"""Gang jobs in the platform: a job larger than one server runs on several servers of one cluster of one data
center, all or nothing.

A product's unit is a server of its own (``Offer.unit_is_server``): a job asking more accelerators than one unit
holds runs as one rank per unit (``JobSpec.nodes``), on one product's units or, when no single product is big
enough, on units of several products of the same class on one cluster (the engine's gang,
:mod:`suanli.scheduling.gang`; ``Placement.parts``).

Billing: one trading order per part (per product), all placed in the transaction that claims the job, so either
every part holds its units and its money or none does. One order per product, not one order with several products:
an order is one product's stock, price snapshot and seller (the ledger's accounts, the seller's earnings, the
stock history and the metering all read it so); a gang's parts may even be two sellers' products. The orders end
together: when the gang ends, fails, is cancelled or requeued, every part's order is released (charged for the
seconds it ran, the rest of the hold given back) or cancelled (nothing charged when it never ran), and the units
return to stock.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from suanli.core.billing import Clock
from suanli.core.messages import Message
from suanli.jobs.models import Job
from suanli.scheduling.gang import gang_reason
from suanli.scheduling.model import Offer, Placement
from suanli.scheduling.rules import PRODUCTION, Rules

__all__ = ["PLATFORM_RULES", "current_order_ids", "launch_shape", "part_list", "place_part_orders",
           "with_gang_reason"]

PLATFORM_RULES: Rules = dataclasses.replace(PRODUCTION, gang=True)
"""The platform's policy with gangs on (a job larger than any one product is placed across products)."""


def part_list(p: Placement) -> list[tuple[str, int]]:
    """(product id, units) of every part of a placement: one for a job on one product."""
    return list(p.parts) if p.parts else [(p.offer_id, p.units)]


def launch_shape(accelerators: int, units: int, accelerators_per_unit: int, gang: bool) -> tuple[int, int]:
    """(ranks, accelerators per rank) of a job placed on ``units`` units: one rank per unit when the job asks more
    accelerators than one unit holds (or is a gang across products), else one run with all of them."""
    if accelerators_per_unit > 0 and units > 1 and (gang or accelerators > accelerators_per_unit):
        return units, accelerators_per_unit
    return 1, units * accelerators_per_unit if accelerators else 0


def with_gang_reason(p: Placement, offers: dict[str, Offer], accelerators: int) -> Placement:
    """A placement on one product's units that runs as several ranks says so first, as the engine's gangs do."""
    offer = offers.get(p.offer_id)
    if p.parts or offer is None:
        return p
    ranks, _per_rank = launch_shape(accelerators, p.units, offer.accelerators_per_unit, False)
    if ranks == 1:
        return p
    clauses: Sequence[Message] = (p.reason_message,) if isinstance(p.reason_message, Message) else \
        tuple(p.reason_message)  # type: ignore[arg-type]
    head = gang_reason(ranks, offer, p.accelerators, offer.chip_key, p.hourly_price_fen)
    return dataclasses.replace(p, reason_message=(head, *clauses))


def place_part_orders(session: Session, clock: Clock, buyer: Any, job: Job, p: Placement,
                      attempt: int) -> list[tuple[str, int, Any]]:
    """Place one order per part (inside the caller's transaction: all or none): ``[(product id, units, order)]``.
    Raises ``DomainError`` when one cannot be placed or would wait (the caller rolls every part back)."""
    from suanli.catalog.models import Product
    from suanli.errors import DomainError
    from suanli.trading.models import OrderMode, OrderStatus
    from suanli.trading.schemas import OrderIn
    from suanli.trading.service import cancel_order, place_order

    spot = p.mode.value == "spot"
    placed = []
    for k, (product_id, units) in enumerate(part_list(p)):
        bid = None
        if spot:  # the spot price the engine placed at: the product's floor per unit
            floor = session.get_one(Product, uuid.UUID(product_id)).price_spot_floor_fen if p.parts else None
            bid = max(1, floor if floor is not None else p.hourly_price_fen // p.units)
        body = OrderIn(product_id=uuid.UUID(product_id), mode=OrderMode.SPOT if spot else OrderMode.ON_DEMAND,
                       units=units, bid_hourly_fen=bid)
        key = f"job:{job.id}:{attempt}" if k == 0 else f"job:{job.id}:{attempt}:{k}"
        order, _ = place_order(session, clock, buyer, body, idempotency_key=key,
                               hold_seconds=job.max_runtime_minutes * 60, deliver_instances=False)
        if order.status is not OrderStatus.ACTIVE:  # would wait for spot notices: not now
            cancel_order(session, clock, buyer, order.id)
            raise DomainError("the product's free units are held for other orders", code="not_free")
        placed.append((product_id, units, order))
    return placed


def parts_column(placed: Iterable[tuple[str, int, Any]]) -> list[dict[str, Any]]:
    """``jobs.placement_parts`` of a gang across products (empty for one product: ``order_id`` says it all)."""
    rows = [{"product_id": pid, "units": units, "order_id": str(order.id)} for pid, units, order in placed]
    return rows if len(rows) > 1 else []


def current_order_ids(job: Job) -> list[uuid.UUID]:
    """The orders of the job's current placement: its order, and every part's for a gang across products."""
    ids = [job.order_id] if job.order_id is not None else []
    for part in job.placement_parts or []:
        order_id = uuid.UUID(part["order_id"])
        if order_id not in ids:
            ids.append(order_id)
    return ids
