"""Emergency compute (应急算力) use cases: declare, answer an offer, end, read progress. No HTTP here; callers commit.

How a declaration is assembled (the plan is ``suanli.core.emergency.plan``; this module gathers its input and
carries it out in the caller's transaction, so a refusal leaves nothing behind):

- ``free``: an on-demand order of the payer per product, for the free units the plan takes (active at once).
- ``spot``: a second on-demand order of the payer per product, for the units of the spot leases the plan takes.
  Placement finds no free units and gives those leases their preemption notice (lowest bids first:
  ``trading.placement.preempt_spot_for``); the order is pending until the notice runs out and the meter starts it.
- ``reserved``: an offer to the holder of each reserved lease with idle units (units no scheduled or running job
  uses). Accepting lends them for the emergency: the compensation (rate × accelerators × hours, integer fen) moves
  from the payer's wallet to the holder's in one batch (HOLD, then COMPENSATION, ref ``emergency:<id>:<part>``).
  The lease stays the holder's; its units come back when the emergency ends.
- On-demand leases are never touched: the planner has no input for them.

Everyone affected is told (``trading.service.notify``, kind ``emergency``): the payer, the sellers whose capacity
is used, the spot buyers noticed, and the reserved holders asked. Progress is read from the parts: a free or spot
part is assembled when its order started, a reserved part when its offer was accepted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import Datacenter, DatacenterStatus, Product, Region
from suanli.catalog.service import get_chip
from suanli.core import billing
from suanli.core import emergency as core
from suanli.core.chips import ECOSYSTEMS, resolve_chip
from suanli.core.ledger import InsufficientFunds, Transfer, TransferKind, buyer_available, buyer_held, plan_hold
from suanli.core.money import format_cny
from suanli.emergency.models import EmergencyPart, EmergencyRequest, EmergencyStatus, OfferStatus
from suanli.emergency.schemas import EmergencyIn
from suanli.errors import Conflict, InvalidInput, NotFound
from suanli.ids import new_id
from suanli.jobs import held
from suanli.jobs.service import _normalize_province
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import NotificationKind, Order, OrderMode, OrderStatus
from suanli.trading.placement import insufficient_funds, place_order
from suanli.trading.schemas import OrderIn
from suanli.trading.service import cancel_order, notify, release_order


def emergency_ref(emergency_id: uuid.UUID) -> str:
    return f"emergency:{emergency_id}"


# ---------------------------------------------------------------- input

def _payer(session: Session, org_id: uuid.UUID) -> User:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"There is no organization {org_id}; name the buyer organization that pays.",
                       code="organization_not_found", details={"field": "payer_org_id"})
    if org.kind is not Role.BUYER:
        raise InvalidInput(f"The payer must be a buyer organization with a wallet; {org.name} is a "
                           f"{org.kind.value}.", code="payer_not_buyer", details={"field": "payer_org_id"})
    user = session.scalar(select(User).where(User.organization_id == org.id, User.role == Role.BUYER)
                          .order_by(User.created_at, User.id).limit(1))
    if user is None:
        raise InvalidInput(f"{org.name} has no buyer user to place its orders.", code="payer_without_user",
                           details={"field": "payer_org_id"})
    return user


def _chips(session: Session, names: list[str]) -> list[str]:
    keys = []
    for name in names:
        spec = resolve_chip(name)
        keys.append(get_chip(session, spec.key if spec is not None else name.strip()).key)  # 422 unknown_chip
    return sorted(set(keys))


def _ecosystems(names: list[str]) -> list[str]:
    out = sorted({n.strip().lower() for n in names})
    unknown = [n for n in out if n not in ECOSYSTEMS]
    if unknown:
        raise InvalidInput(f"Unknown ecosystem {unknown[0]!r}. Valid ecosystems: {', '.join(ECOSYSTEMS)}.",
                           code="unknown_ecosystem", details={"field": "ecosystems", "valid_values": list(ECOSYSTEMS)})
    return out


def _provinces(session: Session, names: list[str]) -> list[str]:
    out = sorted({_normalize_province(n) for n in names if n.strip()})
    known = set(session.scalars(select(Region.province).distinct()))
    unknown = [p for p in out if p not in known]
    if unknown:
        raise InvalidInput(f"No data center region is in province {unknown[0]!r}. Valid provinces: "
                           f"{', '.join(sorted(known))}.", code="unknown_province",
                           details={"field": "provinces", "valid_values": sorted(known)})
    return out


# ---------------------------------------------------------------- candidates

def _matching_products(session: Session, emergency: EmergencyRequest) -> dict[uuid.UUID, Product]:
    query = (select(Product).join(Datacenter, Datacenter.id == Product.datacenter_id)
             .where(Product.is_visible.is_(True), Product.accelerators > 0,
                    Datacenter.status == DatacenterStatus.APPROVED))
    if emergency.chips and emergency.ecosystems:
        query = query.where(Product.chip_key.in_(emergency.chips) | Product.ecosystem.in_(emergency.ecosystems))
    elif emergency.chips:
        query = query.where(Product.chip_key.in_(emergency.chips))
    else:
        query = query.where(Product.ecosystem.in_(emergency.ecosystems))
    if emergency.provinces:
        query = query.where(Product.province.in_(emergency.provinces))
    return {p.id: p for p in session.scalars(query.order_by(Product.id))}


def candidates(session: Session, emergency: EmergencyRequest
               ) -> tuple[dict[uuid.UUID, Product], list[core.FreeCapacity], list[core.SpotLease],
                          list[core.ReservedLease]]:
    """What the network could give the emergency now: free units, running spot leases not under notice, idle
    units of active reserved leases (none of the payer's own). Never on-demand leases."""
    products = _matching_products(session, emergency)
    if not products:
        return products, [], [], []
    ids = list(products)
    pending = dict(session.execute(select(Order.product_id, func.sum(Order.units)).where(
        Order.product_id.in_(ids), Order.status == OrderStatus.PENDING).group_by(Order.product_id)).all())
    free = [core.FreeCapacity(str(p.id), p.accelerators,
                              max(0, p.stock_units - p.allocated_units - int(pending.get(p.id) or 0)),
                              p.price_per_accel_hour_fen or p.price_on_demand_fen // p.accelerators)
            for p in products.values()]
    leases = session.execute(select(Order).where(
        Order.product_id.in_(ids), Order.status == OrderStatus.ACTIVE,
        Order.mode.in_([OrderMode.SPOT, OrderMode.RESERVED]), Order.buyer_org_id != emergency.payer_org_id)
        .order_by(Order.id)).scalars().all()
    spot = [core.SpotLease(str(o.id), str(o.product_id), products[o.product_id].accelerators, o.units,
                           o.unit_price_fen // products[o.product_id].accelerators, o.created_at.timestamp())
            for o in leases if o.mode is OrderMode.SPOT and o.preempt_notice_at is None]
    # Leases of machines (containers, VMs, bare metal) are their holders' machines: not lent. Batch leases lend
    # the units their holders' jobs do not use (jobs.held).
    reserved_leases = [o for o in leases if o.mode is OrderMode.RESERVED and not o.delivers_instances]
    ids = [o.id for o in reserved_leases]
    lent = _lent_units(session, ids)
    busy = held.busy_units(session, ids)  # the holders' own jobs: a payer's jobs use units counted as lent
    reserved = [core.ReservedLease(str(o.id), str(o.product_id), str(o.buyer_org_id),
                                   products[o.product_id].accelerators,
                                   max(0, o.units - busy.get((o.id, o.buyer_org_id), 0) - lent.get(o.id, 0)))
                for o in reserved_leases]
    return products, free, spot, reserved


def _lent_units(session: Session, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Units of these reserved leases already offered to or lent for an emergency."""
    if not order_ids:
        return {}
    return {k: int(v) for k, v in session.execute(
        select(EmergencyPart.order_id, func.sum(EmergencyPart.units)).where(
            EmergencyPart.order_id.in_(order_ids),
            EmergencyPart.offer_status.in_([OfferStatus.OFFERED, OfferStatus.ACCEPTED]))
        .group_by(EmergencyPart.order_id)).all()}


# ---------------------------------------------------------------- declare

def declare(session: Session, clock: billing.Clock, operator: User, body: EmergencyIn) -> EmergencyRequest:
    """Declare an emergency and assemble it at once: orders for free and spot capacity, offers to reserved
    holders. 402 if the payer's wallet does not cover the orders' holds (nothing is placed then)."""
    chips = _chips(session, body.chips)
    ecosystems = _ecosystems(body.ecosystems)
    if not chips and not ecosystems:
        raise InvalidInput("Name the chips or the software ecosystems the emergency workload runs on.",
                           code="chips_or_ecosystems_required", details={"field": "chips"})
    provinces = _provinces(session, body.provinces)
    payer = _payer(session, body.payer_org_id)
    now = clock.now()
    emergency = EmergencyRequest(
        id=new_id(), declared_by_user_id=operator.id, payer_org_id=payer.organization_id, payer_user_id=payer.id,
        title=body.title.strip() or body.title, accelerators=body.accelerators, chips=chips,
        ecosystems=ecosystems, provinces=provinces, duration_hours=body.duration_hours,
        compensation_fen_per_accel_hour=body.compensation_fen_per_accel_hour, status=EmergencyStatus.ASSEMBLING,
        created_at=now, ends_at=now + dt.timedelta(hours=body.duration_hours))
    products, free, spot, reserved = candidates(session, emergency)
    plan = core.plan(body.accelerators, free, spot, reserved)
    if not plan.takes:
        raise Conflict(f"No matching capacity can be assembled now: {len(products)} matching product(s), none with "
                       "free units, spot leases or idle reserved units in whole units within the ask. Widen the "
                       "chips, ecosystems or provinces, or ask for fewer accelerators.", code="no_capacity",
                       details={"matching_products": len(products)})
    emergency.planned_accelerators = plan.planned
    session.add(emergency)
    session.flush()
    _assemble(session, clock, emergency, payer, products, plan, now)
    audit.record(session, operator, "emergency.declared", emergency_ref(emergency.id), {
        "accelerators": emergency.accelerators, "planned": plan.planned, "payer_org_id": emergency.payer_org_id,
        "by_stage": {s.value: n for s, n in plan.by_stage().items()}})
    return emergency


def _assemble(session: Session, clock: billing.Clock, emergency: EmergencyRequest, payer: User,
              products: dict[uuid.UUID, Product], plan: core.Plan, now: dt.datetime) -> None:
    per_product: dict[tuple[core.Stage, uuid.UUID], int] = {}
    for take in plan.takes:
        if take.stage is not core.Stage.RESERVED:
            key = (take.stage, uuid.UUID(take.product_id))
            per_product[key] = per_product.get(key, 0) + take.units
    sellers: dict[uuid.UUID, int] = {}
    for stage in (core.Stage.FREE, core.Stage.SPOT):
        for (s, product_id), units in sorted(per_product.items(), key=lambda kv: str(kv[0][1])):
            if s is not stage:
                continue
            product = products[product_id]
            order, _ = place_order(session, clock, payer, OrderIn(product_id=product_id, mode=OrderMode.ON_DEMAND,
                                                                  units=units),
                                   f"{emergency_ref(emergency.id)}:{stage.value}:{product_id}", deliver_instances=False)
            session.add(EmergencyPart(emergency_id=emergency.id, stage=stage, product_id=product_id,
                                      seller_org_id=order.seller_org_id, units=units,
                                      accelerators=units * product.accelerators, order_id=order.id, created_at=now))
            sellers[order.seller_org_id] = sellers.get(order.seller_org_id, 0) + units * product.accelerators
            if stage is core.Stage.SPOT:
                _tell_noticed_spot_buyers(session, emergency, product_id, now)
    for take in plan.takes:
        if take.stage is not core.Stage.RESERVED:
            continue
        lease = session.get_one(Order, uuid.UUID(take.order_id))
        compensation = core.compensation_fen(emergency.compensation_fen_per_accel_hour, take.accelerators,
                                             emergency.duration_hours)
        part = EmergencyPart(emergency_id=emergency.id, stage=core.Stage.RESERVED, product_id=lease.product_id,
                             seller_org_id=lease.seller_org_id, units=take.units, accelerators=take.accelerators,
                             order_id=lease.id, holder_org_id=lease.buyer_org_id, offer_status=OfferStatus.OFFERED,
                             compensation_fen=compensation, created_at=now)
        session.add(part)
        session.flush()
        notify(session, lease.buyer_org_id, NotificationKind.EMERGENCY, lease.id,
               f"应急算力「{emergency.title}」请求借用您包月订单 {lease.id} 的 {take.units} 个空闲单元（{take.accelerators} "
               f"张加速卡）{emergency.duration_hours} 小时，补偿 {format_cny(compensation)}。请在控制台接受或拒绝"
               f"（邀约 {part.id}）。",
               f"Emergency '{emergency.title}' asks to borrow {take.units} idle unit(s) ({take.accelerators} "
               f"accelerators) of your reserved order {lease.id} for {emergency.duration_hours} h, compensated "
               f"{format_cny(compensation)}. Accept or decline in your console (offer {part.id}).", now)
    for seller_org_id, accelerators in sellers.items():
        notify(session, seller_org_id, NotificationKind.EMERGENCY, None,
               f"应急算力「{emergency.title}」使用了您数据中心的 {accelerators} 张加速卡（按需订单，由付款方支付）。",
               f"Emergency '{emergency.title}' uses {accelerators} accelerators of your data centers (on-demand "
               "orders paid by its payer).", now)
    notify(session, emergency.payer_org_id, NotificationKind.EMERGENCY, None,
           f"应急算力「{emergency.title}」由您的钱包支付：计划 {plan.planned}/{emergency.accelerators} 张加速卡。",
           f"Emergency '{emergency.title}' is paid from your wallet: {plan.planned} of {emergency.accelerators} "
           "accelerators planned.", now)
    session.flush()


def _tell_noticed_spot_buyers(session: Session, emergency: EmergencyRequest, product_id: uuid.UUID,
                              now: dt.datetime) -> None:
    for order_id, buyer_org_id, preempt_at in session.execute(
            select(Order.id, Order.buyer_org_id, Order.preempt_at).where(
                Order.product_id == product_id, Order.mode == OrderMode.SPOT, Order.status == OrderStatus.ACTIVE,
                Order.preempt_notice_at == now).order_by(Order.id)).all():
        end = preempt_at.isoformat(timespec="seconds") if preempt_at else ""
        notify(session, buyer_org_id, NotificationKind.EMERGENCY, order_id,
               f"竞价订单 {order_id} 的算力将用于应急任务「{emergency.title}」，于 {end} (UTC) 收回。",
               f"The capacity of spot order {order_id} goes to the emergency '{emergency.title}' at {end} (UTC).", now)


# ---------------------------------------------------------------- offers to reserved holders

def offers_for(session: Session, holder: User) -> list[tuple[EmergencyPart, EmergencyRequest]]:
    rows = session.execute(select(EmergencyPart, EmergencyRequest)
                           .join(EmergencyRequest, EmergencyRequest.id == EmergencyPart.emergency_id)
                           .where(EmergencyPart.holder_org_id == holder.organization_id)
                           .order_by(EmergencyPart.created_at.desc(), EmergencyPart.id)).all()
    return [(p, e) for p, e in rows]


def answer_offer(session: Session, clock: billing.Clock, holder: User, part_id: uuid.UUID, accept: bool
                 ) -> tuple[EmergencyPart, EmergencyRequest]:
    """The holder accepts (the units are lent, the compensation paid to its wallet) or declines an offer."""
    part = session.get(EmergencyPart, part_id)
    if part is None or part.holder_org_id != holder.organization_id:
        raise NotFound(f"You have no emergency offer {part_id}.", code="offer_not_found")
    emergency = session.get_one(EmergencyRequest, part.emergency_id)
    lease = session.scalar(select(Order).where(Order.id == part.order_id).with_for_update())
    # The offer under its row lock: a second answer (a double click, a racing request) finds it answered.
    part = session.scalar(select(EmergencyPart).where(EmergencyPart.id == part_id).with_for_update()
                          .execution_options(populate_existing=True))
    assert part is not None and lease is not None
    if part.offer_status is not OfferStatus.OFFERED:
        raise Conflict(f"This offer was already {part.offer_status.value if part.offer_status else 'closed'}.",
                       code="offer_answered", details={"status": part.offer_status})
    if emergency.status is not EmergencyStatus.ASSEMBLING:
        raise Conflict("The emergency has ended; nothing is borrowed.", code="emergency_ended")
    now = clock.now()
    if not accept:
        _set_offer(session, part, OfferStatus.DECLINED, now)
        notify(session, emergency.payer_org_id, NotificationKind.EMERGENCY, None,
               f"包月订单持有方拒绝了应急任务「{emergency.title}」的 {part.accelerators} 张加速卡借用邀约。",
               f"A reserved holder declined lending {part.accelerators} accelerators to '{emergency.title}'.", now)
        audit.record(session, holder, "emergency.offer_declined", emergency_ref(emergency.id), {"part": part.id})
        return part, emergency
    if lease.status is not OrderStatus.ACTIVE:
        raise Conflict(f"Your reserved order {lease.id} is {lease.status.value}; it has no units to lend.",
                       code="lease_not_active", details={"order_id": str(lease.id)})
    busy = held.busy_units(session, [lease.id]).get((lease.id, lease.buyer_org_id), 0)
    lent = int(session.scalar(select(func.coalesce(func.sum(EmergencyPart.units), 0)).where(
        EmergencyPart.order_id == lease.id, EmergencyPart.offer_status == OfferStatus.ACCEPTED)) or 0)
    if lease.units - busy - lent < part.units:
        raise Conflict(f"Only {max(0, lease.units - busy - lent)} unit(s) of your reserved order are idle now; the "
                       f"offer needs {part.units}. Decline it, or stop a job and accept again.",
                       code="units_busy", details={"idle_units": max(0, lease.units - busy - lent)})
    if part.compensation_fen > 0:
        ref = f"{emergency_ref(emergency.id)}:{part.id}"
        payer = str(emergency.payer_org_id)
        plan = plan_hold(payer, part.compensation_fen, ref) + [
            Transfer(f"{ref}:compensation", buyer_held(payer), buyer_available(str(part.holder_org_id)),
                     part.compensation_fen, TransferKind.COMPENSATION, ref)]
        try:
            ledger_store.apply(session, plan, at=now)
        except InsufficientFunds as exc:
            raise insufficient_funds(part.compensation_fen, exc.balance, "The compensation") from None
    _set_offer(session, part, OfferStatus.ACCEPTED, now)
    notify(session, emergency.payer_org_id, NotificationKind.EMERGENCY, None,
           f"应急任务「{emergency.title}」借到 {part.accelerators} 张加速卡，已支付补偿 {format_cny(part.compensation_fen)}。",
           f"'{emergency.title}' borrowed {part.accelerators} accelerators; compensation of "
           f"{format_cny(part.compensation_fen)} paid.", now)
    notify(session, part.seller_org_id, NotificationKind.EMERGENCY, lease.id,
           f"包月订单 {lease.id} 的 {part.units} 个单元借给应急任务「{emergency.title}」至 {emergency.ends_at:%Y-%m-%d %H:%M} (UTC)。",
           f"{part.units} unit(s) of reserved order {lease.id} are lent to the emergency '{emergency.title}' until "
           f"{emergency.ends_at:%Y-%m-%d %H:%M} (UTC).", now)
    audit.record(session, holder, "emergency.offer_accepted", emergency_ref(emergency.id),
                 {"part": part.id, "compensation_fen": part.compensation_fen})
    return part, emergency


def _set_offer(session: Session, part: EmergencyPart, status: OfferStatus, now: dt.datetime) -> None:
    values = {"offer_status": status}
    if status in (OfferStatus.ACCEPTED, OfferStatus.DECLINED):
        values["answered_at"] = now
    if status in (OfferStatus.RETURNED, OfferStatus.WITHDRAWN):
        values["returned_at"] = now
    session.execute(update(EmergencyPart).where(EmergencyPart.id == part.id).values(**values)
                    .execution_options(synchronize_session=False))
    session.refresh(part)


# ---------------------------------------------------------------- end

def end(session: Session, clock: billing.Clock, operator: User, emergency_id: uuid.UUID, *,
        reason: str = "operator") -> EmergencyRequest:
    """End an emergency: its orders are released (charged for the time used) or cancelled (still pending), lent
    reserved units go back to their holders, open offers are withdrawn; everyone affected is told. ``reason``:
    ``operator`` (an operator ended it; ``operator`` is who) or ``duration`` (its ``ends_at`` passed; the scheduler
    ends it, recorded under the operator who declared it)."""
    emergency = session.scalar(select(EmergencyRequest).where(EmergencyRequest.id == emergency_id)
                               .with_for_update())
    if emergency is None:
        raise NotFound(f"There is no emergency {emergency_id}.", code="emergency_not_found")
    if emergency.status is EmergencyStatus.ENDED:
        raise Conflict("This emergency has already ended.", code="emergency_ended")
    payer = session.get_one(User, emergency.payer_user_id)
    parts = list(session.scalars(select(EmergencyPart).where(EmergencyPart.emergency_id == emergency.id)
                                 .order_by(EmergencyPart.id)))
    for part in parts:
        if part.stage is core.Stage.RESERVED:
            if part.offer_status in (OfferStatus.OFFERED, OfferStatus.ACCEPTED):
                back = part.offer_status is OfferStatus.ACCEPTED
                _set_offer(session, part, OfferStatus.RETURNED if back else OfferStatus.WITHDRAWN, clock.now())
                assert part.holder_org_id is not None
                notify(session, part.holder_org_id, NotificationKind.EMERGENCY, part.order_id,
                       f"应急任务「{emergency.title}」已结束，" + ("借用的单元已归还。" if back else "借用邀约已撤回。"),
                       f"The emergency '{emergency.title}' has ended; " +
                       ("the lent units are back." if back else "the offer is withdrawn."), clock.now())
            continue
        order = session.get_one(Order, part.order_id)
        if order.status is OrderStatus.PENDING:
            cancel_order(session, clock, payer, order.id)
        elif order.status in (OrderStatus.ACTIVE, OrderStatus.PROVISIONING):
            release_order(session, clock, payer, order.id)
    now = clock.now()
    for seller_org_id in sorted({p.seller_org_id for p in parts}, key=str):
        notify(session, seller_org_id, NotificationKind.EMERGENCY, None,
               f"应急任务「{emergency.title}」已结束，其使用的算力已释放。",
               f"The emergency '{emergency.title}' has ended; the capacity it used is released.", now)
    emergency.status, emergency.ended_at = EmergencyStatus.ENDED, now
    session.flush()
    audit.record(session, operator, "emergency.ended", emergency_ref(emergency.id), {"reason": reason})
    return emergency


def due(session: Session, now: dt.datetime) -> list[uuid.UUID]:
    """Emergencies still assembling whose duration is over (``ends_at`` passed): the scheduler ends them."""
    return list(session.scalars(select(EmergencyRequest.id).where(
        EmergencyRequest.status == EmergencyStatus.ASSEMBLING, EmergencyRequest.ends_at <= now)
        .order_by(EmergencyRequest.ends_at, EmergencyRequest.id)))


# ---------------------------------------------------------------- reading

def get(session: Session, emergency_id: uuid.UUID) -> EmergencyRequest:
    emergency = session.get(EmergencyRequest, emergency_id)
    if emergency is None:
        raise NotFound(f"There is no emergency {emergency_id}.", code="emergency_not_found")
    return emergency


def listing(session: Session, *, limit: int, offset: int) -> tuple[list[EmergencyRequest], int]:
    total = session.scalar(select(func.count()).select_from(EmergencyRequest)) or 0
    rows = list(session.scalars(select(EmergencyRequest).order_by(EmergencyRequest.created_at.desc(),
                                                                  EmergencyRequest.id.desc())
                                .limit(limit).offset(offset)))
    return rows, int(total)


@dataclass(frozen=True)
class PartState:
    part: EmergencyPart
    state: str
    assembled_at: dt.datetime | None
    in_use: bool


@dataclass(frozen=True)
class Progress:
    parts: list[PartState]
    assembled: int
    by_stage: dict[str, int]
    timeline: list[tuple[dt.datetime, core.Stage, int, int]]  # (at, stage, added, assembled by then)
    compensation_paid_fen: int


def progress(session: Session, emergency: EmergencyRequest) -> Progress:
    parts = list(session.scalars(select(EmergencyPart).where(EmergencyPart.emergency_id == emergency.id)
                                 .order_by(EmergencyPart.created_at, EmergencyPart.id)))
    orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_([p.order_id for p in parts])))}
    states = []
    for part in parts:
        if part.stage is core.Stage.RESERVED:
            status = part.offer_status or OfferStatus.OFFERED
            at = part.answered_at if status in (OfferStatus.ACCEPTED, OfferStatus.RETURNED) else None
            lease_active = orders[part.order_id].status is OrderStatus.ACTIVE  # a term may end while lent
            states.append(PartState(part, status.value, at, status is OfferStatus.ACCEPTED and lease_active))
        else:
            order = orders[part.order_id]
            states.append(PartState(part, order.status.value, order.started_at,
                                    order.status is OrderStatus.ACTIVE))
    by_stage = {s.value: 0 for s in core.STAGE_ORDER}
    for s in states:
        if s.in_use:
            by_stage[s.part.stage.value] += s.part.accelerators
    timeline, total = [], 0
    for s in sorted((s for s in states if s.assembled_at is not None),
                    key=lambda s: (s.assembled_at, core.STAGE_ORDER.index(s.part.stage))):
        total += s.part.accelerators
        timeline.append((s.assembled_at, s.part.stage, s.part.accelerators, total))
    paid = sum(s.part.compensation_fen for s in states
               if s.part.offer_status in (OfferStatus.ACCEPTED, OfferStatus.RETURNED))
    return Progress(states, sum(by_stage.values()), by_stage, timeline, paid)


__all__ = ["answer_offer", "candidates", "declare", "due", "end", "get", "listing", "offers_for", "progress"]
