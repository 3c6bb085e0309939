"""The meter: what happens to orders as time passes. No HTTP here; callers commit (``trading.jobs`` runs each
order in its own unit of work).

- Active on-demand and spot orders are charged for the seconds used since the last reading (captured from the
  hold, commission split on the cumulative charge), and the hold is topped up from the wallet to cover the next
  hour; an order is stopped (``out_of_funds``) while the money left still covers ``METER_STOP_MARGIN_SECONDS``.
- Spot orders under a preemption notice end when it runs out (``preempted``), billed up to its end at most.
- Reserved orders end when their term is over (``term_ended``); the units go back to the pool.
- Pending orders (waiting for preempted spot capacity) start, oldest first, when their units are free.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from suanli.core import billing
from suanli.core.ledger import buyer_available, plan_capture, plan_hold, plan_settle
from suanli.errors import Conflict
from suanli.trading.ledger_store import ledger_store
from suanli.core.money import format_cny
from suanli.trading.models import EndReason, NotificationKind, Order, OrderMode, OrderStatus, UsageEvent
from suanli.trading.inventory import allocate_units, release_units
from suanli.trading.locks import lock_order
from suanli.trading.service import (audit_order_ended, close_order, finish_per_second, notify, order_ref,
                                    record_order_usage, record_usage)

METER_STOP_MARGIN_SECONDS = 120
"""A per-second order is stopped when the money left covers no more than this; run the meter more often
(every minute) so the balance never goes negative (``billing.read_on_demand``)."""


@dataclass
class MeterRun:
    metered: int = 0  # per-second orders read (and charged what they used since the last reading)
    charged_fen: int = 0  # captured by this run
    stopped: int = 0  # per-second orders stopped because the money left would not cover them
    low_balance: int = 0  # per-second orders whose buyer has less than an hour of money left
    terms_ended: int = 0  # reserved orders whose term ran out (units back in the pool)
    preempted: int = 0  # spot orders ended when their preemption notice ran out
    activated: int = 0  # pending orders started
    failed: int = 0  # orders whose metering failed (logged; retried on the next run)


def due_for_metering(session: Session, now: dt.datetime) -> list[uuid.UUID]:
    """Active per-second orders, reserved orders whose term is over, then pending orders oldest first."""
    return list(session.scalars(select(Order.id).where(
        ((Order.status == OrderStatus.ACTIVE) & ((Order.mode != OrderMode.RESERVED) | (Order.ends_at <= now)))
        | (Order.status == OrderStatus.PENDING))
        .order_by(case((Order.status == OrderStatus.PENDING, 1), else_=0), Order.created_at, Order.id)))


def meter(session: Session, order_id: uuid.UUID, now: dt.datetime, run: MeterRun) -> None:
    """Meter one order under its product's row lock and its own (``trading.locks``: product, then order, then
    accounts, as a release takes them). Run each order in its own unit of work: holding many orders' locks at
    once could deadlock with releases."""
    order = lock_order(session, order_id)
    if order is None:
        return
    if order.status is OrderStatus.PENDING:
        activate(session, order, now, run)
    elif order.status is not OrderStatus.ACTIVE:
        return
    elif order.metered_at is not None and order.metered_at >= now and order.mode is not OrderMode.RESERVED:
        return  # another meter (a second API process) read it at or after ``now`` already: nothing to do
    elif order.mode is OrderMode.RESERVED:
        if order.ends_at is not None and order.ends_at <= now:
            close_order(session, order, OrderStatus.ENDED, order.ends_at, EndReason.TERM_ENDED)
            release_units(session, order.product_id, order.units)
            record_order_usage(session, order, UsageEvent.TERM_END, order.ends_at)
            audit_order_ended(session, order)
            run.terms_ended += 1
    elif order.preempt_at is not None and order.preempt_at <= now:
        before = order.charged_fen
        close_order(session, order, OrderStatus.PREEMPTED, order.preempt_at, EndReason.PREEMPTED)
        finish_per_second(session, order, now)  # billed to the end of the notice at most (billed_seconds)
        record_order_usage(session, order, UsageEvent.PREEMPTED, order.preempt_at)
        audit_order_ended(session, order)
        run.preempted += 1
        run.charged_fen += order.charged_fen - before
    else:
        meter_per_second(session, order, now, run)


def meter_per_second(session: Session, order: Order, now: dt.datetime, run: MeterRun) -> None:
    """Read an active per-second order's meter at ``now``: capture the increment from its hold and top the hold up
    to cover the next hour from the wallet, or stop the order if the money left is too little."""
    assert order.started_at is not None
    buyer_id, seller_id = str(order.buyer_org_id), str(order.seller_org_id)
    available = ledger_store.balance(session, buyer_available(buyer_id))
    reading = billing.read_on_demand(price_per_hour_fen=order.unit_price_fen, units=order.units,
                                     started=order.started_at, clock=billing.FixedClock(now),
                                     charged_fen=order.charged_fen, spendable_fen=order.held_fen + available,
                                     stop_margin_seconds=METER_STOP_MARGIN_SECONDS)
    run.metered += 1
    if reading.must_stop:
        before = order.charged_fen
        close_order(session, order, OrderStatus.ENDED, now, EndReason.OUT_OF_FUNDS)
        finish_per_second(session, order, now)
        record_order_usage(session, order, UsageEvent.STOP, now, note="out_of_funds")
        audit_order_ended(session, order)
        notify(session, order.buyer_org_id, NotificationKind.LEASE_STOPPED, order.id,
               f"余额不足：订单 {order.id} 已停止，共计费 {format_cny(order.charged_fen)}。充值后可重新下单。",
               f"Your wallet ran low: order {order.id} was stopped, {format_cny(order.charged_fen)} charged in all. "
               "Top up to order again.", now)
        run.stopped += 1
        run.charged_fen += order.charged_fen - before
        return
    tick = order.meter_ticks + 1
    ref = f"{order_ref(order.id)}:tick:{tick}"  # one business event per reading (the ledger's idempotency unit)
    burn = billing.burn_per_hour_fen(order.unit_price_fen, order.units)
    top_up = max(0, min(reading.increment_fen + burn - order.held_fen, available))
    plan = plan_hold(buyer_id, top_up, ref) + plan_capture(buyer_id, seller_id, reading.increment_fen,
                                                            order.commission_bp, ref,
                                                            already_captured_fen=order.charged_fen)
    ledger_store.apply(session, plan, at=now)
    low_since = order.low_balance_since
    if reading.low_balance and low_since is None:  # a new low-balance episode: warn once
        low_since = now
        hours_left = reading.seconds_left / billing.SECONDS_PER_HOUR
        notify(session, order.buyer_org_id, NotificationKind.LOW_BALANCE, order.id,
               f"余额不足一小时：订单 {order.id} 按当前用量约可再运行 {hours_left:.1f} 小时，余额耗尽前将自动停止。请尽快充值。",
               f"Low balance: order {order.id} can run about {hours_left:.1f} more hours at its rate and will be "
               "stopped before your wallet runs out. Top up soon.", now)
    elif not reading.low_balance:
        low_since = None
    session.execute(update(Order).where(Order.id == order.id)
                    .values(held_fen=order.held_fen + top_up - reading.increment_fen,
                            charged_fen=reading.charge_fen, metered_at=now, meter_ticks=tick,
                            low_balance_since=low_since)
                    .execution_options(synchronize_session=False))
    record_usage(session, order.id, UsageEvent.METER, now, reading.elapsed_seconds, reading.charge_fen)
    run.charged_fen += reading.increment_fen
    run.low_balance += reading.low_balance


def activate(session: Session, order: Order, now: dt.datetime, run: MeterRun) -> None:
    """Start a pending order if its units are free now (its money was held when it was placed)."""
    try:
        with session.begin_nested():
            allocate_units(session, order.product_id, order.units, for_pending=True)
    except Conflict:
        return  # still waiting (or the product left the catalog: the buyer may cancel)
    if order.delivers_instances:  # its instances start now; billing starts when they run (trading.delivery)
        from suanli.instances.service import begin_provisioning

        session.execute(update(Order).where(Order.id == order.id, Order.status == OrderStatus.PENDING)
                        .values(status=OrderStatus.PROVISIONING).execution_options(synchronize_session=False))
        begin_provisioning(session, order.id, now)
        run.activated += 1
        return
    values: dict = {"status": OrderStatus.ACTIVE, "started_at": now}
    if order.mode is OrderMode.RESERVED:
        assert order.term_months is not None
        # Paid upfront: the whole hold is settled to the seller now, and the term runs from now.
        ledger_store.apply(session, plan_settle(str(order.buyer_org_id), str(order.seller_org_id), order.held_fen,
                                                order.held_fen, order.commission_bp, order_ref(order.id)), at=now)
        values |= {"ends_at": billing.reserved_end(now, order.term_months), "held_fen": 0,
                   "charged_fen": order.held_fen}
    else:
        values |= {"metered_at": now}
    session.execute(update(Order).where(Order.id == order.id, Order.status == OrderStatus.PENDING).values(**values)
                    .execution_options(synchronize_session=False))
    record_usage(session, order.id, UsageEvent.START, now, 0, values.get("charged_fen", 0))
    run.activated += 1
