"""Orders that deliver instances: billed from delivery, refunded in full when not delivered. No HTTP here; callers
commit.

A buyer's lease of a container, vm or bare-metal product (``orders.delivers_instances``) is placed
``provisioning``: its units are taken and its money held (an hour at the price for on-demand and spot; the whole
term, not yet settled, for reserved), but nothing is charged and no term runs. When every instance of the order
runs, ``start_delivered`` makes it ``active`` from that moment: the meter bills per-second orders from then, and a
reserved term is settled to the seller and runs from then. When an instance fails or the delivery deadline passes
first, ``refund_undelivered`` cancels the order (``not_delivered``), returns the units and releases the whole hold.
Ledger refs: ``order:<id>`` for the hold and the reserved settle (as for other orders), ``order:<id>:undelivered``
for the release.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session

from suanli.core import billing
from suanli.core.ledger import plan_release, plan_settle
from suanli.trading.inventory import release_units
from suanli.trading.ledger_store import ledger_store
from suanli.trading.locks import lock_order
from suanli.trading.models import EndReason, NotificationKind, Order, OrderMode, OrderStatus, UsageEvent
from suanli.trading.service import audit_order_ended, close_order, notify, order_ref, record_usage

__all__ = ["locked_order", "refund_undelivered", "start_delivered"]


def locked_order(session: Session, order_id: uuid.UUID) -> Order | None:
    """The order, re-read under its row lock, its product's row locked first (``trading.locks``)."""
    return lock_order(session, order_id)


def start_delivered(session: Session, order_id: uuid.UUID, delivered_at: dt.datetime) -> bool:
    """A ``provisioning`` order whose instances all run: ``active`` from ``delivered_at`` (billing starts; a
    reserved term is settled and runs from then). False when it is no longer provisioning (cancelled meanwhile)."""
    order = locked_order(session, order_id)
    if order is None or order.status is not OrderStatus.PROVISIONING:
        return False
    values: dict = {"status": OrderStatus.ACTIVE, "started_at": delivered_at}
    charged = 0
    if order.mode is OrderMode.RESERVED:
        assert order.term_months is not None
        ledger_store.apply(session, plan_settle(str(order.buyer_org_id), str(order.seller_org_id), order.held_fen,
                                                order.held_fen, order.commission_bp, order_ref(order.id)),
                           at=delivered_at)
        charged = order.held_fen
        values |= {"ends_at": billing.reserved_end(delivered_at, order.term_months), "held_fen": 0,
                   "charged_fen": charged}
    else:
        values |= {"metered_at": delivered_at}
    session.execute(update(Order).where(Order.id == order.id, Order.status == OrderStatus.PROVISIONING)
                    .values(**values).execution_options(synchronize_session=False))
    record_usage(session, order.id, UsageEvent.START, delivered_at, 0, charged, note="delivered")
    return True


def refund_undelivered(session: Session, order_id: uuid.UUID, now: dt.datetime, reason_en: str,
                       reason_zh: str) -> bool:
    """Cancel an order whose instances were not delivered (``provisioning``, or ``pending`` for units): the units
    go back, the whole hold is released, nothing is charged, and the buyer is told why. False when the order is
    no longer waiting for delivery (it started, or ended, meanwhile)."""
    order = locked_order(session, order_id)
    if order is None or order.status not in (OrderStatus.PROVISIONING, OrderStatus.PENDING):
        return False
    had_units = order.status is OrderStatus.PROVISIONING
    close_order(session, order, OrderStatus.CANCELLED, now, EndReason.NOT_DELIVERED, from_status=order.status)
    if had_units:
        release_units(session, order.product_id, order.units)  # product row before ledger rows, as everywhere
    if order.held_fen:
        ledger_store.apply(session, plan_release(str(order.buyer_org_id), order.held_fen,
                                                 f"{order_ref(order.id)}:undelivered"), at=now)
    session.execute(update(Order).where(Order.id == order.id).values(held_fen=0)
                    .execution_options(synchronize_session=False))
    session.refresh(order)
    record_usage(session, order.id, UsageEvent.STOP, now, 0, 0, note="not_delivered")
    audit_order_ended(session, order)
    notify(session, order.buyer_org_id, NotificationKind.DELIVERY_FAILED, order.id,
           f"订单 {order.id} 的实例未能交付（{reason_zh}），已全额退款，未产生任何费用。",
           f"Order {order.id} could not be delivered ({reason_en}); it was refunded in full and nothing was "
           "charged.", now)
    return True
