"""Placing orders: prices and holds, inventory, the money, idempotency, and spot preemption for on-demand and
reserved demand. No HTTP here; callers commit. ``service.place_order`` is the entry point.

The hot path (an order that finds free units) is 7 statements after the caller's token lookup, built once as
Core statements with bind parameters, and takes no SAVEPOINT: see ``_place_order`` and docs/trading.md ("The
ledger in the database").
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from suanli import audit
from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, Product
from suanli.catalog.service import get_product
from suanli.core import billing
from suanli.core.images import delivers_instances
from suanli.core.ledger import InsufficientFunds, plan_hold, plan_settle
from suanli.core.money import format_cny
from suanli.errors import Conflict, DomainError, InvalidInput, PaymentRequired
from suanli.ids import new_id
from suanli.instances.service import create_instances, prepare_instances
from suanli.trading.extension import extended_months
from suanli.trading.inventory import allocate_units, release_units
from suanli.trading.ledger_store import ledger_store
from suanli.trading.locks import lock_product
from suanli.trading.models import (NotificationKind, Order, OrderMode, OrderStatus, PlatformSettings, UsageEvent)
from suanli.trading.schemas import OrderIn
from suanli.trading.service import (notify, order_ref, platform_settings, record_usage, reserved_discounts_bp)


def _same_request(session: Session, order: Order, body: OrderIn) -> bool:
    if not (order.product_id == body.product_id and order.mode is body.mode and order.units == body.units
            and (body.bid_hourly_fen is None or order.unit_price_fen == body.bid_hourly_fen)):
        return False
    if body.term_months is None or order.term_months == body.term_months:
        return True
    # A reserved order extended since: its first term is the total less the extensions.
    return order.term_months is not None and order.term_months - extended_months(session, order.id) == body.term_months


def _existing_order(session: Session, buyer: User, key: str, body: OrderIn) -> Order | None:
    order = session.scalar(select(Order).where(Order.buyer_org_id == buyer.organization_id,
                                               Order.idempotency_key == key))
    if order is not None and not _same_request(session, order, body):
        raise Conflict(f"The Idempotency-Key {key!r} was used for a different order ({order.id}); use a new key "
                       "for a new order.", code="idempotency_key_reused",
                       details={"order_id": str(order.id), "idempotency_key": key})
    return order


def _price_and_amounts(product: Product, body: OrderIn, contract_price_fen: int | None = None) -> tuple[int, int, int]:
    """(unit price snapshot, fen to hold now, fen to charge now) for an order of ``product`` (a Product, or a row
    with its price and discount attributes: ``_PRODUCT_FOR_ORDER``). ``contract_price_fen``: the unit price a
    contract fixed (``suanli.quotes``), used instead of the product's, with no reserved term discount."""
    if contract_price_fen is not None and body.mode is OrderMode.RESERVED and body.term_months is not None:
        total = billing.reserved_price(contract_price_fen, body.units, body.term_months, {})
        return contract_price_fen, total, total
    if contract_price_fen is not None and body.mode is OrderMode.ON_DEMAND:
        return contract_price_fen, billing.minimum_prepay_fen(contract_price_fen, body.units), 0
    if body.mode is not OrderMode.RESERVED and body.term_months is not None:
        raise InvalidInput("term_months applies to reserved orders only.", code="term_not_applicable",
                           details={"field": "term_months"})
    if body.mode is not OrderMode.SPOT and body.bid_hourly_fen is not None:
        raise InvalidInput("bid_hourly_fen applies to spot orders only.", code="bid_not_applicable",
                           details={"field": "bid_hourly_fen"})
    if body.mode is OrderMode.ON_DEMAND:
        price = product.price_on_demand_fen
        return price, billing.minimum_prepay_fen(price, body.units), 0
    if body.mode is OrderMode.RESERVED:
        if body.term_months not in billing.RESERVED_TERMS_MONTHS:
            raise InvalidInput(f"A reserved order needs term_months of 1, 3, 6 or 12 (got {body.term_months}).",
                               code="invalid_term", details={"field": "term_months",
                                                             "valid_values": list(billing.RESERVED_TERMS_MONTHS)})
        if product.price_reserved_month_fen is None:
            raise Conflict("This product is not offered reserved (per month); order it on demand or spot.",
                           code="mode_not_offered", details={"mode": body.mode.value})
        price = product.price_reserved_month_fen
        total = billing.reserved_price(price, body.units, body.term_months, reserved_discounts_bp(product))
        return price, total, total
    if product.price_spot_floor_fen is None:
        raise Conflict("This product is not offered as spot capacity; order it on demand.",
                       code="mode_not_offered", details={"mode": body.mode.value})
    floor = product.price_spot_floor_fen
    if body.bid_hourly_fen is None:
        raise InvalidInput(f"A spot order needs bid_hourly_fen, at least the floor of {floor} fen "
                           f"({format_cny(floor)}) per unit-hour.", code="bid_required",
                           details={"field": "bid_hourly_fen", "floor_fen": floor})
    if body.bid_hourly_fen < floor:
        raise InvalidInput(f"Your bid of {body.bid_hourly_fen} fen ({format_cny(body.bid_hourly_fen)}) per unit-hour "
                           f"is below the seller's spot floor of {floor} fen ({format_cny(floor)}) per unit-hour.",
                           code="bid_below_floor",
                           details={"bid_hourly_fen": body.bid_hourly_fen, "floor_fen": floor,
                                    "floor_cny": str(format_cny(floor))})
    return body.bid_hourly_fen, billing.minimum_prepay_fen(body.bid_hourly_fen, body.units), 0


@dataclass(frozen=True)
class OrderQuote:
    """What an order would cost, from the same function that prices a placed order (``_price_and_amounts``):
    the unit price snapshot, what is held (frozen) in the wallet at once and what of it is charged at once, the
    hourly burn (on demand, spot) and the total of ``hours`` hours or of the reserved term."""

    unit_price_fen: int
    frozen_now_fen: int
    charged_now_fen: int
    per_hour_fen: int | None
    hours: int | None
    total_fen: int | None


def quote_order(product: Product, body: OrderIn, hours: int | None = None) -> OrderQuote:
    """Price ``body`` for ``product`` without placing it: the same refusals (a reserved term that does not exist,
    a bid below the floor, a mode not offered) as the order would meet. ``hours``: the hourly modes' term."""
    price, hold_fen, charge_fen = _price_and_amounts(product, body)
    if body.mode is OrderMode.RESERVED:
        return OrderQuote(price, hold_fen, charge_fen, None, None, hold_fen)
    total = billing.charge_for_seconds(price, body.units, hours * billing.SECONDS_PER_HOUR) if hours else None
    return OrderQuote(price, hold_fen, charge_fen, billing.burn_per_hour_fen(price, body.units), hours, total)


def insufficient_funds(needed: int, available: int, what: str) -> PaymentRequired:
    return PaymentRequired(f"{what} needs {format_cny(needed)} in your wallet; you have {format_cny(available)} "
                           "available. Top up and try again.",
                           details={"needed_fen": needed, "available_fen": available,
                                    "shortfall_fen": max(0, needed - available)})


def place_order(session: Session, clock: billing.Clock, buyer: User, body: OrderIn,
                idempotency_key: str | None = None, *, hold_seconds: int | None = None,
                deliver_instances: bool = True, contract_price_fen: int | None = None) -> tuple[Order, bool]:
    """Place an order; ``(order, created)``. With an ``idempotency_key`` a repeat returns the first order.

    ``hold_seconds`` (on-demand and spot; the job scheduler passes a job's maximum runtime): hold that many seconds
    at the unit price instead of the default one hour, when it is more.

    A lease of a container, vm or bare-metal product delivers one instance per unit (``trading.delivery``): it is
    placed ``provisioning`` (held, not billed) with its instances, and starts when they run. ``deliver_instances``
    False (the job scheduler, whose job is what runs on the units) places it ``active`` as any other order.

    ``contract_price_fen`` (a pre-sale contract's start, ``suanli.quotes``): the unit price the contract fixed
    instead of the product's.

    The key is not looked up first (the hot path: most orders are new): a repeat inserts no order (``ON CONFLICT
    DO NOTHING`` on the unique (buyer, key) index; the units it took are given back) and returns the first one,
    and a repeat that meets an error first (no stock, no money, the product gone) looks the key up then."""
    try:
        return _place_order(session, clock, buyer, body, idempotency_key, hold_seconds, deliver_instances,
                            contract_price_fen)
    except DomainError:
        existing = None if idempotency_key is None else _existing_order(session, buyer, idempotency_key, body)
        if existing is None:
            raise
        return existing, False


_products, _datacenters, _settings = Product.__table__, Datacenter.__table__, PlatformSettings.__table__
_PRODUCT_FOR_ORDER = (
    select(_products.c.id, _products.c.datacenter_id, _products.c.is_visible, _products.c.kind, _products.c.delivery,
           _products.c.ecosystem, _products.c.cluster_id, _products.c.price_on_demand_fen,
           _products.c.price_reserved_month_fen, _products.c.price_spot_floor_fen,
           _products.c.reserved_discount_3m_bp, _products.c.reserved_discount_6m_bp,
           _products.c.reserved_discount_12m_bp, _datacenters.c.owner_org_id.label("seller_org_id"),
           select(_settings.c.commission_bp).where(_settings.c.id == 1).scalar_subquery().label("commission_bp"))
    .join_from(_products, _datacenters, _datacenters.c.id == _products.c.datacenter_id)
    .where(_products.c.id == bindparam("p_id")))
"""What placing an order needs of the product, its seller and the platform's commission now: one query, built
once (the ORM entity and a second query for the data center cost more than the database's work)."""
_INSERT_ORDER = insert(Order.__table__)
_DELETE_ORDER = delete(Order.__table__).where(Order.__table__.c.id == bindparam("o_id"))


@cache
def _insert_order_if_new_for(dialect: str):
    """``INSERT INTO orders ... ON CONFLICT DO NOTHING RETURNING id``: no row back when the buyer's
    Idempotency-Key was used before (the transaction stays usable, unlike after a unique violation)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(Order.__table__).on_conflict_do_nothing().returning(Order.__table__.c.id)


def _insert_order_if_new(session: Session):
    return _insert_order_if_new_for(session.get_bind().dialect.name)


def _product_for_order(session: Session, product_id: uuid.UUID, buyer: User):
    """The product's prices, discounts and seller (a row with the Product's attribute names) and the commission."""
    row = session.execute(_PRODUCT_FOR_ORDER, {"p_id": product_id}).first()
    if row is None or not row.is_visible:
        get_product(session, product_id, buyer)  # the error a caller who may not see it gets
        assert row is not None
    commission_bp = row.commission_bp
    if commission_bp is None:  # no settings row yet: made with the defaults
        commission_bp = platform_settings(session).commission_bp
    return row, int(commission_bp)


def _place_order(session: Session, clock: billing.Clock, buyer: User, body: OrderIn, idempotency_key: str | None,
                 hold_seconds: int | None, deliver_instances: bool,
                 contract_price_fen: int | None = None) -> tuple[Order, bool]:
    product, commission_bp = _product_for_order(session, body.product_id, buyer)
    seller_org_id = product.seller_org_id
    price, hold_fen, charge_fen = _price_and_amounts(product, body, contract_price_fen)
    instances = None
    if deliver_instances and delivers_instances(product.kind, product.delivery):
        instances = prepare_instances(session, product, buyer, body)  # 422s for image, ports, keys: nothing written
        charge_fen = 0  # billed from delivery (trading.delivery)
    elif body.image is not None or body.ports or body.ssh_key_ids is not None:
        raise InvalidInput("image, ports and ssh_key_ids apply to products delivered as machines (container, vm, "
                           "bare_metal); this product rents units only.", code="not_an_instance_product",
                           details={"field": "image" if body.image is not None else
                                    "ports" if body.ports else "ssh_key_ids"})
    if hold_seconds is not None and body.mode is not OrderMode.RESERVED:
        hold_fen = max(hold_fen, billing.charge_for_seconds(price, body.units, hold_seconds))
    buyer_id, seller_id = str(buyer.organization_id), str(seller_org_id)
    what = {OrderMode.ON_DEMAND: "Starting on demand (one hour upfront)", OrderMode.SPOT: "A spot order "
            "(one hour at your bid upfront)", OrderMode.RESERVED: f"This {body.term_months}-month term"}[body.mode]

    def new_order(status: OrderStatus, now: dt.datetime) -> dict:
        if instances is not None and status is OrderStatus.ACTIVE:
            status = OrderStatus.PROVISIONING
        active = status is OrderStatus.ACTIVE
        reserved = body.mode is OrderMode.RESERVED
        return dict(id=new_id(), buyer_org_id=buyer.organization_id, buyer_user_id=buyer.id, product_id=product.id,
                    datacenter_id=product.datacenter_id, seller_org_id=seller_org_id, mode=body.mode,
                    units=body.units, term_months=body.term_months, unit_price_fen=price,
                    commission_bp=commission_bp, status=status, started_at=now if active else None,
                    ends_at=billing.reserved_end(now, body.term_months) if reserved and active else None,
                    ended_at=None, end_reason=None, preempt_notice_at=None, preempt_at=None, low_balance_since=None,
                    held_fen=hold_fen - (charge_fen if active else 0), charged_fen=charge_fen if active else 0,
                    idempotency_key=idempotency_key, metered_at=now if active and not reserved else None,
                    meter_ticks=0, refunded_fen=0, delivers_instances=instances is not None, created_at=now)

    # The hot path takes no SAVEPOINT: each step either fails having written nothing, or is undone by hand —
    # units first (the product row's lock before the orders' and the accounts': trading.locks), then the order,
    # then the money. The time is read once the product row is held, so nothing committed by someone who held it
    # before (a spot order started, a meter reading) is later than the order's "now".
    try:
        allocate_units(session, product.id, body.units)  # insufficient_stock: nothing written
    except Conflict as exc:
        if exc.code != "insufficient_stock" or body.mode is OrderMode.SPOT:
            raise
        # On-demand and reserved demand come before spot: if noticing spot orders frees enough units, the order
        # waits (pending, its money held) until their notice runs out and the meter hands it the units.
        try:
            with session.begin_nested():  # the notices stand or fall with the pending order
                now = preempt_spot_for(session, product.id, body.units, clock)
                if now is None:
                    raise
                values = new_order(OrderStatus.PENDING, now)
                session.execute(_INSERT_ORDER, values)
                ledger_store.apply(session, plan_hold(buyer_id, hold_fen, order_ref(values["id"])), at=now,
                                   new_ids=True, savepoint=False)
        except IntegrityError:
            return _idempotent_winner(session, buyer, idempotency_key, body), False
        except InsufficientFunds as exc2:
            raise insufficient_funds(hold_fen, exc2.balance, what) from None
    else:
        now = clock.now()
        values = new_order(OrderStatus.ACTIVE, now)
        ref = order_ref(values["id"])
        plan = plan_hold(buyer_id, hold_fen, ref)
        if charge_fen:
            plan += plan_settle(buyer_id, seller_id, hold_fen, charge_fen, commission_bp, ref)
        if session.execute(_insert_order_if_new(session), values).first() is None:  # the key was used before
            release_units(session, product.id, body.units)
            return _idempotent_winner(session, buyer, idempotency_key, body), False
        try:
            # Only the buyer's available account is checked, and it is locked first: no money moved on failure.
            ledger_store.apply(session, plan, at=now, new_ids=True, savepoint=False)
        except InsufficientFunds as exc:
            session.execute(_DELETE_ORDER, {"o_id": values["id"]})
            release_units(session, product.id, body.units)
            raise insufficient_funds(hold_fen, exc.balance, what) from None
    order = Order(**values)
    make_transient_to_detached(order)  # stored by the INSERT above: persistent in this session, no flush
    session.add(order)
    if order.status is OrderStatus.ACTIVE:
        record_usage(session, order.id, UsageEvent.START, now, 0, order.charged_fen)
    if instances is not None:
        create_instances(session, order, instances, now)
    audit.record(session, buyer, "order.placed", order_ref(order.id), {  # last: the audit head is the last lock
        "product_id": order.product_id, "mode": order.mode, "units": order.units, "status": order.status,
        "unit_price_fen": price, "held_fen": hold_fen, "charged_fen": order.charged_fen,
        "seller_org_id": seller_org_id})
    return order, True


def _idempotent_winner(session: Session, buyer: User, idempotency_key: str | None, body: OrderIn) -> Order:
    """After a unique violation: the order a concurrent request with the same key placed (and committed)."""
    existing = None if idempotency_key is None else _existing_order(session, buyer, idempotency_key, body)
    if existing is None:
        raise RuntimeError("an order insert conflicted, but not on the buyer's Idempotency-Key")
    return existing


def preempt_spot_for(session: Session, product_id: uuid.UUID, units: int, clock: billing.Clock) -> dt.datetime | None:
    """Give preemption notices to enough active spot orders of the product (lowest bids first, then the newest)
    that ``units`` more can start once the notices run out, counting units already under notice and units other
    pending orders wait for. The time of the notices (read once the rows are locked), or None (and no notice
    given) if even all spot capacity would not be enough.

    Locks the product's row, then its active spot orders' rows in id order (``trading.locks``)."""
    lock_product(session, product_id)  # a failed allocation may or may not have locked it
    locked = session.execute(
        select(Order.id, Order.units, Order.preempt_notice_at, Order.unit_price_fen, Order.created_at).where(
            Order.product_id == product_id, Order.mode == OrderMode.SPOT, Order.status == OrderStatus.ACTIVE)
        .order_by(Order.id).with_for_update()).all()
    now = clock.now()
    # Noticed lowest bid first, then newest first (locked in id order above, chosen in this order).
    spot = sorted(locked, key=lambda r: (r.unit_price_fen, -r.created_at.timestamp(), r.id))
    noticed = sum(r.units for r in spot if r.preempt_notice_at is not None)
    waiting = session.scalar(select(func.coalesce(func.sum(Order.units), 0)).where(
        Order.product_id == product_id, Order.status == OrderStatus.PENDING)) or 0
    stock, allocated = session.execute(select(Product.stock_units, Product.allocated_units)
                                       .where(Product.id == product_id)).one()
    shortfall = units + int(waiting) - (int(stock) - int(allocated)) - noticed
    candidates = [(r.id, r.units) for r in spot if r.preempt_notice_at is None]
    if shortfall > sum(u for _, u in candidates):
        return None
    chosen = []
    for order_id, u in candidates:
        if shortfall <= 0:
            break
        chosen.append(order_id)
        shortfall -= u
    if chosen:
        notice = dt.timedelta(seconds=platform_settings(session).spot_notice_seconds)
        session.execute(update(Order).where(Order.id.in_(chosen), Order.preempt_notice_at.is_(None))
                        .values(preempt_notice_at=now, preempt_at=now + notice)
                        .execution_options(synchronize_session=False))
        for order_id, buyer_org_id, started_at, charged in session.execute(
                select(Order.id, Order.buyer_org_id, Order.started_at, Order.charged_fen)
                .where(Order.id.in_(chosen)).order_by(Order.id)).all():
            seconds = billing.elapsed_seconds(started_at, now) if started_at is not None else 0
            record_usage(session, order_id, UsageEvent.PREEMPT_NOTICE, now, seconds, charged)
            end = (now + notice).isoformat(timespec="seconds")
            notify(session, buyer_org_id, NotificationKind.PREEMPTED, order_id,
                   f"竞价订单 {order_id} 的算力将被按需/包月需求收回，将于 {end} (UTC) 停止；计费至该时刻为止。",
                   f"Spot order {order_id} will be preempted for on-demand or reserved demand at {end} (UTC); "
                   "it is billed until then at most.", now)
    return now


__all__ = ["place_order", "preempt_spot_for", "insufficient_funds"]
