"""Trading use cases: orders, inventory, wallets, top-ups, settings. No HTTP here; callers commit.

Money rules live in ``suanli.core.ledger`` (planners, commission split) and ``suanli.core.billing`` (charges);
this module decides *when* they apply and records the result through ``LedgerStore``. What happens as time
passes (metering, preemption, term ends, starting pending orders) is in ``trading.metering``; placing an order in
``trading.placement`` (``place_order`` here is its entry point), units in ``trading.inventory``, extending a
reserved term in ``trading.extension`` (``extend_order``).

Order lifecycle
    - on_demand / spot: placed → ``active`` at once; one hour at the unit price (the on-demand price or the bid)
      is held. The meter captures the seconds used and keeps an hour held; ``release`` charges what is left
      (``charge_for_seconds`` on the cumulative seconds) out of the hold, releases the rest and returns the
      units: ``ended``.
    - reserved: placed → ``active``, paid upfront (hold + settle in one batch: the seller's net is receivable at
      once); ``ends_at`` = start + term. Not releasable or cancellable early.
    - on_demand / reserved finding too few free units while spot orders hold enough: those get a preemption
      notice and the order is ``pending`` (money held, no units) until the meter starts it.
    - cancel: a pending order at any time; an on-demand or spot order within ``CANCEL_GRACE_SECONDS`` of its
      start (nothing charged); later, use release.
    Every change of an order's use writes a ``usage_records`` row in the same transaction (``record_usage``).
    Ledger refs: ``order:<id>`` for the hold and the final settle (legs ``hold``, ``capture``, ``commission``,
    ``release``), ``order:<id>:tick:<n>`` for meter readings, ``order:<id>:final`` for topping the hold up at
    release when the lease ran past it, ``order:<id>:cancel`` for cancelling a pending order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import Product
from suanli.core import billing
from suanli.core.ledger import (AccountKind, ConflictingTransfer, InsufficientFunds,
                                buyer_available, plan_hold, plan_payout, plan_refund, plan_release, plan_settle,
                                plan_topup, seller_receivable)
from suanli.core.money import format_cny
from suanli.db import contains_words
from suanli.errors import Conflict, InvalidInput, NotFound
from suanli.ids import new_id
from suanli.trading.inventory import release_units
from suanli.trading.ledger_store import ledger_store
from suanli.trading.locks import lock_order
from suanli.trading.models import (DEFAULT_COMMISSION_BP, DEFAULT_SPOT_NOTICE_SECONDS, EndReason, LedgerAccount,
                                   LedgerTransfer, Notification, NotificationKind, Order, OrderMode, OrderStatus,
                                   PlatformSettings, UsageEvent, UsageRecord)
from suanli.trading.schemas import ExtendIn, OrderIn, PayoutIn, RefundIn, SettingsPatch, TopupIn

CANCEL_GRACE_SECONDS = 60
"""An on-demand or spot order cancelled within this many seconds of its start is not charged at all."""


def reserved_discounts_bp(product: Product) -> dict[int, int]:
    """The seller's reserved term discounts of ``product``, basis points per term (1 month: none)."""
    from suanli.catalog.presenters import term_discounts

    return term_discounts(product)


# ---------------------------------------------------------------- usage records and notifications

def usage_seconds(order: Order, at: dt.datetime) -> int:
    """Seconds of use up to ``at``: billed seconds (per-second orders) or elapsed seconds of the term (reserved)."""
    if order.started_at is None or at < order.started_at:
        return 0
    if order.mode is OrderMode.RESERVED:
        end = min(at, order.ends_at) if order.ends_at is not None else at
        return billing.elapsed_seconds(order.started_at, end)
    return billed_seconds(order, at)


_INSERT_USAGE = insert(UsageRecord.__table__)


def record_usage(session: Session, order_id: uuid.UUID, event: UsageEvent, at: dt.datetime, seconds_total: int,
                 charged_fen_total: int, note: str | None = None) -> None:
    """Append a usage record (in the caller's transaction, with the change it describes)."""
    session.execute(_INSERT_USAGE, {"id": new_id(), "order_id": order_id, "event": event, "at": at,
                                    "seconds_total": seconds_total, "charged_fen_total": charged_fen_total,
                                    "note": note})


def record_order_usage(session: Session, order: Order, event: UsageEvent, at: dt.datetime,
                       note: str | None = None) -> None:
    """A usage record of ``order`` as it is now (refreshed after its last UPDATE)."""
    record_usage(session, order.id, event, at, usage_seconds(order, at), order.charged_fen, note)


def notify(session: Session, org_id: uuid.UUID, kind: NotificationKind, order_id: uuid.UUID | None,
           zh: str, en: str, at: dt.datetime) -> None:
    session.execute(insert(Notification).values(id=new_id(), org_id=org_id, kind=kind, order_id=order_id,
                                                message_zh=zh[:500], message_en=en[:500], created_at=at))


def list_usage(session: Session, user: User, order_id: uuid.UUID) -> list[UsageRecord]:
    order = get_order(session, user, order_id)
    return list(session.scalars(select(UsageRecord).where(UsageRecord.order_id == order.id)
                                .order_by(UsageRecord.at, UsageRecord.id)))


def list_notifications(session: Session, user: User, *, unread: bool = False, limit: int = 50,
                       offset: int = 0) -> tuple[list[Notification], int]:
    query = select(Notification).where(Notification.org_id == user.organization_id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                                .limit(limit).offset(offset)))
    return rows, int(total)


def mark_notifications_read(session: Session, user: User, now: dt.datetime) -> int:
    result = session.execute(update(Notification).where(Notification.org_id == user.organization_id,
                                                        Notification.read_at.is_(None)).values(read_at=now)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


# ---------------------------------------------------------------- settings

def platform_settings(session: Session) -> PlatformSettings:
    """The settings row, made with the defaults if missing (race-free)."""
    settings = session.get(PlatformSettings, 1)
    if settings is None:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        session.execute(dialect_insert(PlatformSettings).values(
            id=1, commission_bp=DEFAULT_COMMISSION_BP, spot_notice_seconds=DEFAULT_SPOT_NOTICE_SECONDS,
            updated_at=dt.datetime.now(dt.UTC)).on_conflict_do_nothing())
        settings = session.get_one(PlatformSettings, 1)
    return settings


def update_settings(session: Session, body: SettingsPatch, now: dt.datetime) -> PlatformSettings:
    settings = platform_settings(session)
    for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(settings, name, value)
    settings.updated_at = now
    session.flush()
    audit.record(session, None, "settings.changed", "platform_settings",
                 body.model_dump(exclude_unset=True, exclude_none=True))
    return settings


# ---------------------------------------------------------------- wallets and top-ups

@dataclass(frozen=True)
class Wallet:
    organization_id: uuid.UUID
    role: Role
    available_fen: int | None
    held_fen: int | None
    receivable_fen: int | None


def wallet(session: Session, user: User) -> Wallet:
    balances = ledger_store.balances_of(session, user.organization_id)
    if user.role is Role.BUYER:
        return Wallet(user.organization_id, user.role, balances.get(AccountKind.BUYER_AVAILABLE, 0),
                      balances.get(AccountKind.BUYER_HELD, 0), None)
    if user.role is Role.SELLER:
        return Wallet(user.organization_id, user.role, None, None, balances.get(AccountKind.SELLER_RECEIVABLE, 0))
    return Wallet(user.organization_id, user.role, None, None, None)


def _organization_of_kind(session: Session, organization_id: uuid.UUID, kind: Role, refusal: str, *,
                          code: str) -> Organization:
    """The organization money moves for, which must exist (404) and be of ``kind`` (422 ``code``)."""
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"There is no organization {organization_id}.", code="organization_not_found")
    if org.kind is not kind:
        raise InvalidInput(f"{refusal}; {org.name} is a {org.kind.value}.", code=code,
                           details={"organization_id": str(org.id)})
    return org


def _reference_reused(what: str, reference: str, *, code: str, used_for: str = "") -> Conflict:
    return Conflict(f"The reference {reference!r} was used for another {what}{used_for}; each payment needs its "
                    "own reference.", code=code, details={"reference": reference})


@dataclass(frozen=True)
class Topup:
    organization_id: uuid.UUID
    amount_fen: int
    reference: str
    transfer_id: str
    created: bool
    available_fen: int


def topup(session: Session, body: TopupIn, now: dt.datetime) -> Topup:
    """Credit a buyer organization's wallet with money it paid in. Idempotent by ``reference``."""
    org = _organization_of_kind(session, body.organization_id, Role.BUYER,
                                "Only buyer organizations have a wallet to top up", code="not_a_buyer")
    plan = plan_topup(str(org.id), body.amount_fen, f"topup:{body.reference}")
    try:
        (created,) = ledger_store.apply(session, plan, at=now)
    except ConflictingTransfer as exc:
        raise _reference_reused("top-up", body.reference, code="topup_reference_reused",
                                used_for=f" ({exc.existing.amount_fen} fen to {exc.existing.credit.owner})") from None
    if created:
        audit.record(session, None, "money.topup", f"organization:{org.id}",
                     {"amount_fen": body.amount_fen, "reference": body.reference})
    return Topup(org.id, body.amount_fen, body.reference, plan[0].id, created,
                 ledger_store.balance(session, buyer_available(str(org.id))))


@dataclass(frozen=True)
class Payout:
    organization_id: uuid.UUID
    amount_fen: int
    reference: str
    created: bool
    receivable_fen: int


def payout(session: Session, body: PayoutIn, now: dt.datetime) -> Payout:
    """Record money paid out to a seller organization from its receivable. Idempotent by ``reference``."""
    org = _organization_of_kind(session, body.organization_id, Role.SELLER,
                                "Only seller organizations are paid out", code="not_a_seller")
    plan = plan_payout(str(org.id), body.amount_fen, f"payout:{body.reference}")
    try:
        (created,) = ledger_store.apply(session, plan, at=now)
    except ConflictingTransfer:
        raise _reference_reused("payout", body.reference, code="payout_reference_reused") from None
    except InsufficientFunds as exc:
        raise Conflict(f"{org.name} has {format_cny(exc.balance)} receivable; a payout of "
                       f"{format_cny(body.amount_fen)} would exceed it.", code="insufficient_receivable",
                       details={"receivable_fen": exc.balance, "amount_fen": body.amount_fen}) from None
    if created:
        audit.record(session, None, "money.payout", f"organization:{org.id}",
                     {"amount_fen": body.amount_fen, "reference": body.reference})
    return Payout(org.id, body.amount_fen, body.reference, created,
                  ledger_store.balance(session, seller_receivable(str(org.id))))


# ---------------------------------------------------------------- placing orders

def order_ref(order_id: uuid.UUID) -> str:
    return f"order:{order_id}"


def place_order(session: Session, clock: billing.Clock, buyer: User, body: OrderIn,
                idempotency_key: str | None = None, *, hold_seconds: int | None = None,
                deliver_instances: bool = True) -> tuple[Order, bool]:
    """Place an order; ``(order, created)``. With an ``idempotency_key`` a repeat returns the first order.

    ``hold_seconds`` (on-demand and spot; the job scheduler passes a job's maximum runtime): hold that many seconds
    at the unit price instead of the default one hour, when it is more. ``deliver_instances`` False: a machine
    product's order delivers no instances (the job scheduler's). See ``trading.placement``."""
    from suanli.trading.placement import place_order as place

    return place(session, clock, buyer, body, idempotency_key, hold_seconds=hold_seconds,
                 deliver_instances=deliver_instances)


# ---------------------------------------------------------------- reading orders

def visible_orders_query(user: User):
    query = select(Order)
    if user.role is Role.BUYER:
        query = query.where(Order.buyer_org_id == user.organization_id)
    elif user.role is Role.SELLER:
        query = query.where(Order.seller_org_id == user.organization_id)
    return query


ORDER_SORTS: dict[str, tuple[Any, ...]] = {
    "-created": (Order.created_at.desc(), Order.id.desc()), "created": (Order.created_at, Order.id),
    "-charged": (Order.charged_fen.desc(), Order.id.desc()), "-held": (Order.held_fen.desc(), Order.id.desc()),
}


def list_orders(session: Session, user: User, *, status: OrderStatus | None = None, text: str | None = None,
                sort: str = "-created", limit: int = 50, offset: int = 0) -> tuple[list[Order], int]:
    """A page of the orders ``user`` may see, newest first (or by ``sort``), and how many match; ``text``: words
    of the product's name."""
    query = visible_orders_query(user)
    if status is not None:
        query = query.where(Order.status == status)
    if text and text.strip():
        query = query.where(Order.product_id.in_(select(Product.id).where(*contains_words(Product.name, text))))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    orders = list(session.scalars(query.order_by(*ORDER_SORTS[sort]).limit(limit).offset(offset)))
    return orders, int(total)


def get_order(session: Session, user: User, order_id: uuid.UUID) -> Order:
    order = session.scalar(visible_orders_query(user).where(Order.id == order_id))
    if order is None:
        raise NotFound(f"You have no order {order_id}.", code="order_not_found")
    return order


def _buyers_order(session: Session, user: User, order_id: uuid.UUID) -> Order:
    order = session.get(Order, order_id)
    if order is None or user.role is not Role.BUYER or order.buyer_org_id != user.organization_id:
        raise NotFound(f"You have no order {order_id}.", code="order_not_found")
    return order


def _locked_buyers_order(session: Session, user: User, order_id: uuid.UUID) -> Order:
    """The buyer's order, re-read under its product's row lock and then its own (``trading.locks``)."""
    _buyers_order(session, user, order_id)
    order = lock_order(session, order_id)
    assert order is not None  # orders are never deleted once committed
    return order


# ---------------------------------------------------------------- ending orders

def close_order(session: Session, order: Order, status: OrderStatus, now: dt.datetime, reason: EndReason,
                *, from_status: OrderStatus = OrderStatus.ACTIVE) -> None:
    """Move an order from ``from_status`` to ``status`` with one conditional UPDATE (a concurrent second close
    gets 409).

    The UPDATE locks the row; ``order`` is then re-read, so the amounts used to settle it are the ones committed by
    whoever held the lock before (e.g. a metering tick)."""
    result = session.execute(update(Order).where(Order.id == order.id, Order.status == from_status)
                             .values(status=status, ended_at=now, end_reason=reason)
                             .execution_options(synchronize_session=False))
    session.refresh(order)
    if result.rowcount != 1:
        raise Conflict(f"Order {order.id} is {order.status.value}, not {from_status.value}.", code="order_not_active",
                       details={"status": order.status.value})


def billed_seconds(order: Order, now: dt.datetime) -> int:
    """Seconds a per-second order is billed for up to ``now``: a spot order under notice not past its end."""
    assert order.started_at is not None
    if order.mode is OrderMode.SPOT and order.preempt_notice_at is not None and order.preempt_at is not None:
        notice_seconds = int((order.preempt_at - order.preempt_notice_at).total_seconds())
        return billing.spot_charge_seconds(order.started_at, order.preempt_notice_at, max(now, order.preempt_notice_at),
                                           notice_seconds)
    return billing.elapsed_seconds(order.started_at, now)


def finish_per_second(session: Session, order: Order, now: dt.datetime) -> None:
    """Settle a per-second order (already closed by ``close_order``) at ``now``: capture what the seconds used cost
    beyond what was captured before, release the rest of the hold, free the units."""
    assert order.started_at is not None
    elapsed = billed_seconds(order, now)
    owed = billing.charge_for_seconds(order.unit_price_fen, order.units, elapsed) - order.charged_fen
    buyer_id, seller_id, ref = str(order.buyer_org_id), str(order.seller_org_id), order_ref(order.id)
    held = order.held_fen
    plan = []
    if owed > held:
        # Ran past its hold (metering tops holds up and stops leases while the money still covers them; this is
        # the case of a lease not metered in time): hold what the wallet still has, charge no more than that.
        extra = min(owed - held, ledger_store.balance(session, buyer_available(buyer_id)))
        plan += plan_hold(buyer_id, extra, f"{ref}:final")
        held += extra
    used = min(owed, held)
    plan += plan_settle(buyer_id, seller_id, held, used, order.commission_bp, ref,
                        already_captured_fen=order.charged_fen)
    release_units(session, order.product_id, order.units)  # product row before ledger rows, as in place_order
    ledger_store.apply(session, plan, at=now)
    session.execute(update(Order).where(Order.id == order.id)
                    .values(held_fen=0, charged_fen=order.charged_fen + used, metered_at=now)
                    .execution_options(synchronize_session=False))
    session.refresh(order)


def release_order(session: Session, clock: billing.Clock, user: User, order_id: uuid.UUID) -> Order:
    """Stop an on-demand or spot order now: charge the seconds used, release the rest, free the units. An order
    whose instances are still being delivered is cancelled instead: nothing was delivered, nothing is charged."""
    order = _locked_buyers_order(session, user, order_id)
    if order.status is OrderStatus.PROVISIONING:
        return cancel_order(session, clock, user, order_id)
    if order.mode is OrderMode.RESERVED:
        raise Conflict("A reserved order runs to the end of its term and cannot be released early.",
                       code="reserved_not_releasable", details={"ends_at": order.ends_at.isoformat()
                                                                if order.ends_at else None})
    now = clock.now()  # after the locks: whatever the meter committed meanwhile is at or before it
    close_order(session, order, OrderStatus.ENDED, now, EndReason.RELEASED)
    finish_per_second(session, order, now)
    record_order_usage(session, order, UsageEvent.RELEASE, now)
    audit.record(session, user, "order.released", order_ref(order.id), {"charged_fen": order.charged_fen})
    return order


def cancel_order(session: Session, clock: billing.Clock, user: User, order_id: uuid.UUID) -> Order:
    """Cancel a pending order (any mode) or one whose instances are still being delivered at any time, or an
    on-demand or spot order within ``CANCEL_GRACE_SECONDS`` of its start: nothing is charged, the hold is
    released."""
    order = _locked_buyers_order(session, user, order_id)
    now = clock.now()  # after the locks
    if order.status in (OrderStatus.PENDING, OrderStatus.PROVISIONING):
        had_units = order.status is OrderStatus.PROVISIONING
        close_order(session, order, OrderStatus.CANCELLED, now, EndReason.CANCELLED, from_status=order.status)
        if had_units:  # instances still being delivered: the units go back (product row before the ledger's)
            release_units(session, order.product_id, order.units)
        released_fen = order.held_fen
        ledger_store.apply(session, plan_release(str(order.buyer_org_id), order.held_fen,
                                                 f"{order_ref(order.id)}:cancel"), at=now)
        session.execute(update(Order).where(Order.id == order.id).values(held_fen=0)
                        .execution_options(synchronize_session=False))
        session.refresh(order)
        record_usage(session, order.id, UsageEvent.STOP, now, 0, 0, note="cancelled")
        _audit_cancelled(session, user, order, released_fen)
        return order
    if order.mode is OrderMode.RESERVED:
        raise Conflict("A reserved order is paid upfront for its term and cannot be cancelled.",
                       code="not_cancellable")
    if order.status is OrderStatus.ACTIVE and order.started_at is not None and \
            billing.elapsed_seconds(order.started_at, now) >= CANCEL_GRACE_SECONDS:
        raise Conflict(f"An order can be cancelled free of charge only within {CANCEL_GRACE_SECONDS} s of its "
                       "start; release it instead (POST /api/v1/orders/{id}/release) to pay for the time used.",
                       code="cancel_window_passed", details={"grace_seconds": CANCEL_GRACE_SECONDS})
    close_order(session, order, OrderStatus.CANCELLED, now, EndReason.CANCELLED)
    buyer_id, released_fen = str(order.buyer_org_id), order.held_fen
    release_units(session, order.product_id, order.units)
    ledger_store.apply(session, plan_release(buyer_id, order.held_fen, order_ref(order.id)), at=now)
    session.execute(update(Order).where(Order.id == order.id).values(held_fen=0)
                    .execution_options(synchronize_session=False))
    session.refresh(order)
    record_usage(session, order.id, UsageEvent.STOP, now, 0, 0, note="cancelled")
    _audit_cancelled(session, user, order, released_fen)
    return order


def _audit_cancelled(session: Session, user: User, order: Order, released_fen: int) -> None:
    audit.record(session, user, "order.cancelled", order_ref(order.id), {"released_fen": released_fen})


def audit_order_ended(session: Session, order: Order) -> None:
    """Record an order the platform ended (term over, preempted, out of funds, not delivered, instance failed);
    no actor: the meter and the instance loop work in units of work of their own, not a user's request."""
    audit.record(session, None, f"order.{order.status.value}", order_ref(order.id),
                 {"reason": order.end_reason, "charged_fen": order.charged_fen})


def extend_order(session: Session, clock: billing.Clock, user: User, order_id: uuid.UUID, body: ExtendIn,
                 idempotency_key: str | None = None) -> Order:
    """Extend a running reserved order by ``body.term_months`` at the product's current reserved price and term
    discount, paid upfront through the ledger (commission split off as for a reservation); 409 ``not_extendable``
    for on-demand and spot orders, 402 ``insufficient_funds``. A retry with the same ``idempotency_key`` returns
    the order without extending it again. See ``trading.extension``."""
    from suanli.trading.extension import extend_reserved

    return extend_reserved(session, clock, user, order_id, body, idempotency_key)


def refund_order(session: Session, order_id: uuid.UUID, body: RefundIn, now: dt.datetime) -> tuple[Order, bool]:
    """Give part or all of what an order was charged back to its buyer, from the seller's receivable and the
    platform's commission in the proportions it was split (``plan_refund``). Idempotent by ``reference``:
    ``(order, created)``."""
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                           .execution_options(populate_existing=True))
    if order is None:
        raise NotFound(f"There is no order {order_id}.", code="order_not_found")
    ref = f"refund:{body.reference}"
    earlier = session.execute(select(LedgerTransfer.amount_fen, LedgerAccount.owner_org_id)
                              .join(LedgerAccount, LedgerAccount.id == LedgerTransfer.credit_account_id)
                              .where(LedgerTransfer.ref == ref)).all()
    if earlier:  # this reference was refunded before: the same refund again is a no-op
        if sum(int(a) for a, _ in earlier) != body.amount_fen or {o for _, o in earlier} != {order.buyer_org_id}:
            raise Conflict(f"The reference {body.reference!r} was used for another refund; each refund needs its "
                           "own reference.", code="refund_reference_reused", details={"reference": body.reference})
        return order, False
    refundable = order.charged_fen - order.refunded_fen
    if body.amount_fen > refundable:
        raise Conflict(f"Only {format_cny(refundable)} of this order's charges can still be refunded.",
                       code="refund_exceeds_charges", details={"refundable_fen": refundable})
    plan = plan_refund(str(order.buyer_org_id), str(order.seller_org_id), body.amount_fen, order.commission_bp, ref,
                       already_refunded_fen=order.refunded_fen, settled_fen=order.charged_fen)
    try:
        ledger_store.apply(session, plan, at=now)
    except InsufficientFunds as exc:
        raise Conflict(f"The seller's receivable ({format_cny(exc.balance)}) no longer covers this refund (it has "
                       "been paid out); settle it with the seller first.", code="insufficient_receivable",
                       details={"receivable_fen": exc.balance}) from None
    session.execute(update(Order).where(Order.id == order.id)
                    .values(refunded_fen=order.refunded_fen + body.amount_fen)
                    .execution_options(synchronize_session=False))
    session.refresh(order)
    audit.record(session, None, "money.refund", order_ref(order.id),
                 {"amount_fen": body.amount_fen, "reference": body.reference, "buyer_org_id": order.buyer_org_id})
    return order, True


# ---------------------------------------------------------------- figures

def order_figures(session: Session) -> tuple[int, int]:
    """(orders placed, GMV = Σ charged − refunded fen), for the platform's figures."""
    net = func.coalesce(func.sum(Order.charged_fen - Order.refunded_fen), 0)
    count, gmv = session.execute(select(func.count(), net).select_from(Order)).one()
    return int(count), int(gmv)


__all__ = ["CANCEL_GRACE_SECONDS", "place_order", "release_order", "cancel_order", "extend_order", "list_orders", "get_order",
           "wallet", "topup", "payout", "refund_order", "platform_settings", "update_settings", "order_figures"]
