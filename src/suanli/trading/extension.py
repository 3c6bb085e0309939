"""Extending a reserved lease (``service.extend_order``). No HTTP here; callers commit.

A reserved order is extended by ``term_months`` (1, 3, 6 or 12) more months, at the product's *current* reserved
price per unit-month and its current term discount, paid upfront like a new reservation: one ledger batch holds
the price and settles it at once (the seller's net to its receivable, the platform's commission split off). The
commission rate is the order's (fixed when it was placed), so a later refund reverses the split exactly
(``plan_refund`` takes one rate per order). The units stay allocated; ``ends_at`` moves to start + the new total
term. The order's ``unit_price_fen`` stays the snapshot of its first term: the extension's price is in its
ledger transfers and its usage record.

On-demand and spot leases run until they are released: they cannot be extended (409 ``not_extendable``).

Idempotency: with an ``Idempotency-Key`` the ledger ref is ``order:<id>:extend:<key digest>`` and the usage
record's note is ``+<months>m <key digest>``. The order row is locked first, so a retry (even a concurrent one)
finds the earlier extension and returns the order unchanged; the same key with another term is a 409
``idempotency_key_reused``.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import User
from suanli.catalog.models import Product
from suanli.core import billing
from suanli.core.ledger import InsufficientFunds, plan_hold, plan_settle
from suanli.errors import Conflict, InvalidInput
from suanli.ids import new_id
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import Order, OrderMode, OrderStatus, UsageEvent, UsageRecord
from suanli.trading.schemas import ExtendIn


def key_digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def _note(months: int, digest: str) -> str:
    return f"+{months}m {digest}"


def _months_of(note: str) -> int:
    return int(note.split("m", 1)[0].removeprefix("+"))


def extended_months(session: Session, order_id: uuid.UUID) -> int:
    """Months added to ``order_id``'s first term by extensions."""
    notes = session.scalars(select(UsageRecord.note).where(UsageRecord.order_id == order_id,
                                                            UsageRecord.event == UsageEvent.EXTEND))
    return sum(_months_of(note) for note in notes if note)


def extend_reserved(session: Session, clock: billing.Clock, user: User, order_id: uuid.UUID, body: ExtendIn,
                    idempotency_key: str | None = None) -> Order:
    from suanli.trading.placement import insufficient_funds
    from suanli.trading.service import _buyers_order, order_ref, record_order_usage, reserved_discounts_bp

    order = _buyers_order(session, user, order_id)
    if order.mode is not OrderMode.RESERVED:
        raise Conflict(f"Only reserved orders have a term to extend; this {order.mode.value} lease runs until you "
                       "release it (POST /api/v1/orders/{id}/release), billed per second.", code="not_extendable",
                       details={"mode": order.mode.value})
    if body.term_months not in billing.RESERVED_TERMS_MONTHS:
        raise InvalidInput(f"An extension is 1, 3, 6 or 12 months (got {body.term_months}).", code="invalid_term",
                           details={"field": "term_months", "valid_values": list(billing.RESERVED_TERMS_MONTHS)})
    # The order row's lock serialises extensions (and retries) of one order and the meter's term end.
    order = session.scalar(select(Order).where(Order.id == order.id).with_for_update()
                           .execution_options(populate_existing=True))
    assert order is not None
    digest = key_digest(idempotency_key) if idempotency_key is not None else new_id().hex[:16]
    if idempotency_key is not None:
        earlier = session.scalar(select(UsageRecord.note).where(
            UsageRecord.order_id == order.id, UsageRecord.event == UsageEvent.EXTEND,
            UsageRecord.note == _note(body.term_months, digest)))
        if earlier is not None:
            return order
        if session.scalar(select(UsageRecord.id).where(UsageRecord.order_id == order.id,
                                                       UsageRecord.event == UsageEvent.EXTEND,
                                                       UsageRecord.note.like(f"% {digest}"))) is not None:
            raise Conflict(f"The Idempotency-Key {idempotency_key!r} was used for another extension of this order; "
                           "use a new key for a new extension.", code="idempotency_key_reused",
                           details={"order_id": str(order.id), "idempotency_key": idempotency_key})
    now = clock.now()
    if order.status is not OrderStatus.ACTIVE or order.ends_at is None or order.ends_at <= now:
        state = ("its term ended" if order.status is OrderStatus.ACTIVE and order.ends_at is not None
                 else f"it is {order.status.value}")
        raise Conflict(f"Only a running reserved term can be extended; {state}. Place a new reserved order instead.",
                       code="order_not_active", details={"status": order.status.value})
    product = session.get(Product, order.product_id)
    if product is None or not product.is_visible:
        raise Conflict("This product was taken out of the catalog; its terms cannot be extended.",
                       code="product_unavailable", details={"product_id": str(order.product_id)})
    if product.price_reserved_month_fen is None:
        raise Conflict("The seller no longer offers this product reserved; it cannot be extended.",
                       code="mode_not_offered", details={"mode": OrderMode.RESERVED.value})
    price = billing.reserved_price(product.price_reserved_month_fen, order.units, body.term_months,
                                   reserved_discounts_bp(product))
    buyer_id, seller_id = str(order.buyer_org_id), str(order.seller_org_id)
    what = f"Extending by {body.term_months} month(s)"
    ref = f"{order_ref(order.id)}:extend:{digest}"
    plan = plan_hold(buyer_id, price, ref) + plan_settle(buyer_id, seller_id, price, price, order.commission_bp, ref,
                                                         already_captured_fen=order.charged_fen)
    try:
        ledger_store.apply(session, plan, at=now)
    except InsufficientFunds as exc:
        raise insufficient_funds(price, exc.balance, what) from None
    months = (order.term_months or 0) + body.term_months
    session.execute(update(Order).where(Order.id == order.id)
                    .values(term_months=months, ends_at=billing.add_months(order.started_at, months),
                            charged_fen=order.charged_fen + price)
                    .execution_options(synchronize_session=False))
    session.refresh(order)
    record_order_usage(session, order, UsageEvent.EXTEND, now, note=_note(body.term_months, digest))
    audit.record(session, user, "order.extended", order_ref(order.id),
                 {"term_months": body.term_months, "price_fen": price, "ends_at": order.ends_at})
    return order


__all__ = ["extend_reserved", "extended_months", "key_digest"]
