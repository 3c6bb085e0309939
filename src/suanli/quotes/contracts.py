"""Pre-sale contracts: delivery, the start (the order at the contract's price), failed deliveries, and the sweep.

Money (all in the buyer's wallet, integer fen): the deposit stays held from the award to the start or the failure.
At the start it is released (ref ``contract:<id>:start``) and, in the same transaction, the order places its own
hold at the contract's price (a reserved term: held and settled upfront, as any reserved order; on demand: the
term's hours held, charged by the meter) — the same amount, so the start cannot fail for money. A failed delivery
releases the deposit (``contract:<id>:refund``) and moves the penalty from the seller's receivable to the buyer's
wallet as a REFUND leg (``contract:<id>:penalty``), so both statements show it; what the receivable does not
cover is recorded as ``penalty_unpaid_fen``. Every transfer id is deterministic: a sweep run twice moves money once.

The sweep (``run_sweep``, every meter interval in ``suanli serve``; ``POST /api/v1/operator/rfqs/sweep``) closes
auctions whose deadline passed, expires requests nobody won by their latest start, fails contracts not delivered
by their date, and starts delivered contracts whose start has come. Each item in its own unit of work.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import Role, User
from suanli.catalog.models import Product
from suanli.core import rfq
from suanli.core.billing import SECONDS_PER_HOUR, Clock
from suanli.core.ledger import AccountRef, Transfer, TransferKind, buyer_available, plan_release, seller_receivable
from suanli.core.money import format_cny
from suanli.db import Database
from suanli.errors import Conflict, DomainError, NotFound
from suanli.jobs.models import Cluster, ClusterState
from suanli.quotes.models import ContractStatus, QuoteContract, QuoteRequest, RequestStatus
from suanli.quotes.service import close_auction, expire_request
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import NotificationKind, OrderMode
from suanli.trading.placement import place_order
from suanli.trading.schemas import OrderIn
from suanli.trading.service import notify

log = logging.getLogger("suanli.quotes")


def contract_ref(contract_id: uuid.UUID) -> str:
    return f"contract:{contract_id}"


def contract_for(session: Session, user: User, contract_id: uuid.UUID, *, lock: bool = False) -> QuoteContract:
    """A contract its buyer, its seller or an operator may see; others → 404."""
    query = select(QuoteContract).where(QuoteContract.id == contract_id)
    contract = session.scalar(query.with_for_update() if lock else query)
    if contract is None or not (user.role is Role.OPERATOR or user.organization_id in (contract.buyer_org_id,
                                                                                       contract.seller_org_id)):
        raise NotFound(f"There is no contract {contract_id}.", code="contract_not_found")
    return contract


def contracts_for(session: Session, user: User, *, status: ContractStatus | None, limit: int, offset: int
                  ) -> tuple[list[QuoteContract], int]:
    query = select(QuoteContract)
    if user.role is not Role.OPERATOR:
        query = query.where(or_(QuoteContract.buyer_org_id == user.organization_id,
                                QuoteContract.seller_org_id == user.organization_id))
    if status is not None:
        query = query.where(QuoteContract.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(QuoteContract.created_at.desc(), QuoteContract.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total)


def deliver(session: Session, clock: Clock, seller: User, contract_id: uuid.UUID, product_id: uuid.UUID
            ) -> QuoteContract:
    """The seller confirms delivery with the product that carries the contracted capacity. It must be listed in
    the catalog (an approved data center), in the contract's data center, of the quoted chip with at least the
    quoted accelerators per unit, with stock for the units, and run on a registered cluster that passed its last
    health check. A delivery on or after the start starts the contract at once."""
    contract = contract_for(session, seller, contract_id, lock=True)
    if contract.seller_org_id != seller.organization_id:
        raise NotFound(f"There is no contract {contract_id}.", code="contract_not_found")
    now = clock.now()
    if contract.status is not ContractStatus.AWAITING_DELIVERY:
        raise Conflict(f"This contract is {contract.status.value}, not awaiting delivery.",
                       code="contract_not_awaiting_delivery", details={"status": contract.status.value})
    if rfq.delivery_due(contract.deliver_by, now):
        raise Conflict("The delivery date has passed: the contract fails and the deposit is refunded.",
                       code="delivery_overdue", details={"deliver_by": contract.deliver_by.isoformat()})
    product = session.get(Product, product_id)
    if product is None or product.datacenter_id != contract.datacenter_id:
        raise NotFound(f"The contract's data center has no product {product_id}.", code="product_not_found")
    _check_capacity(session, contract, product)
    contract.status, contract.product_id, contract.delivered_at = ContractStatus.DELIVERED, product.id, now
    session.flush()
    notify(session, contract.buyer_org_id, NotificationKind.RFQ, None,
           f"预售合同 {contract.id} 的算力已交付（产品 {product.name}），将于 "
           f"{contract.start_at.isoformat(timespec='minutes')} (UTC) 开始。",
           f"The capacity of pre-sale contract {contract.id} was delivered (product {product.name}); it starts at "
           f"{contract.start_at.isoformat(timespec='minutes')} (UTC).", now)
    audit.record(session, seller, "contract.delivered", contract_ref(contract.id), {"product_id": product.id})
    if now >= contract.start_at:
        start(session, clock, contract)
    return contract


def _check_capacity(session: Session, contract: QuoteContract, product: Product) -> None:
    from suanli.quotes.models import Quote

    quote = session.get_one(Quote, contract.quote_id)
    problems = []
    if not product.is_visible:
        problems.append(("product_not_listed", "the product is not listed in the catalog"))
    if product.chip_key != quote.chip_key or product.accelerators < quote.accelerators:
        problems.append(("capacity_mismatch", f"the product is not {quote.accelerators} × {quote.chip_key} per unit"))
    if product.stock_units < contract.units:
        problems.append(("stock_below_contract", f"the product has {product.stock_units} units in stock, the "
                                               f"contract needs {contract.units}"))
    cluster = session.get(Cluster, product.cluster_id) if product.cluster_id is not None else None
    if cluster is None or cluster.state is not ClusterState.ACTIVE or cluster.deleted_at is not None:
        problems.append(("cluster_not_registered", "the product runs on no registered, enabled cluster"))
    elif not cluster.healthy or cluster.checked_at is None:
        problems.append(("cluster_unhealthy", "its cluster has not passed a health check"))
    if problems:
        raise Conflict("The capacity cannot be delivered yet: " + "; ".join(text for _, text in problems) + ".",
                       code=problems[0][0], details={"problems": [code for code, _ in problems]})


def start(session: Session, clock: Clock, contract: QuoteContract) -> None:
    """Place the contract's order at its price with the deposit (released and held again in one transaction). No
    units for it (sold meanwhile) is a failed delivery."""
    assert contract.product_id is not None
    now = clock.now()
    buyer = session.get_one(User, contract.buyer_user_id)
    ledger_store.apply(session, plan_release(str(contract.buyer_org_id), contract.deposit_fen,
                                             f"{contract_ref(contract.id)}:start"), at=now)
    reserved = contract.billing_mode is rfq.BillingMode.RESERVED
    body = OrderIn(product_id=contract.product_id, mode=OrderMode.RESERVED if reserved else OrderMode.ON_DEMAND,
                   units=contract.units, term_months=contract.term_months if reserved else None)
    try:
        with session.begin_nested():
            order, _ = place_order(session, clock, buyer, body, contract_ref(contract.id),
                                   hold_seconds=None if reserved else (contract.term_hours or 1) * SECONDS_PER_HOUR,
                                   deliver_instances=False, contract_price_fen=contract.unit_price_fen)
    except DomainError as exc:
        # The release above stands: fail() refunds nothing more than the deposit, which is now available again.
        fail(session, contract, now, exc.code, deposit_released=True)
        return
    contract.status, contract.order_id, contract.started_at = ContractStatus.STARTED, order.id, now
    session.flush()
    notify(session, contract.buyer_org_id, NotificationKind.RFQ, order.id,
           f"预售合同 {contract.id} 已开始：订单 {order.id} 按合同单价 {format_cny(contract.unit_price_fen)} 计费。",
           f"Pre-sale contract {contract.id} started: order {order.id} is billed at the contract's "
           f"{format_cny(contract.unit_price_fen)} per unit.", now)


def fail(session: Session, contract: QuoteContract, now: dt.datetime, reason: str, *,
         deposit_released: bool = False) -> None:
    """Refund the deposit and pay the buyer the penalty out of the seller's receivable (as far as it goes)."""
    ref = contract_ref(contract.id)
    plan = [] if deposit_released else plan_release(str(contract.buyer_org_id), contract.deposit_fen,
                                                    f"{ref}:refund")
    receivable = seller_receivable(str(contract.seller_org_id))
    ledger_store.apply(session, plan, at=now)
    # The seller's receivable is read under its row lock: a payout racing with the penalty waits, never overdraws.
    balance = _locked_balance(session, receivable)
    outcome = rfq.failed_delivery(contract.deposit_fen, contract.penalty_fen, balance)
    if outcome.penalty_paid_fen:
        ledger_store.apply(session, [Transfer(f"{ref}:penalty", receivable,
                                              buyer_available(str(contract.buyer_org_id)),
                                              outcome.penalty_paid_fen, TransferKind.REFUND, f"{ref}:penalty")],
                           at=now)
    contract.status, contract.failed_at, contract.failure_reason = ContractStatus.FAILED, now, reason[:40]
    contract.penalty_paid_fen, contract.penalty_unpaid_fen = outcome.penalty_paid_fen, outcome.penalty_unpaid_fen
    session.flush()
    zh_penalty = f"违约金 {format_cny(outcome.penalty_paid_fen)}"
    en_penalty = f"a penalty of {format_cny(outcome.penalty_paid_fen)}"
    if outcome.penalty_unpaid_fen:
        zh_penalty += f"（另欠 {format_cny(outcome.penalty_unpaid_fen)}，由平台追缴）"
        en_penalty += f" ({format_cny(outcome.penalty_unpaid_fen)} more is owed; the platform collects it)"
    notify(session, contract.buyer_org_id, NotificationKind.RFQ, None,
           f"预售合同 {contract.id} 未按期交付：押金 {format_cny(contract.deposit_fen)} 已退回，卖方支付{zh_penalty}。",
           f"Pre-sale contract {contract.id} was not delivered in time: the deposit of "
           f"{format_cny(contract.deposit_fen)} was refunded, and the seller paid {en_penalty}.", now)
    notify(session, contract.seller_org_id, NotificationKind.RFQ, None,
           f"预售合同 {contract.id} 未按期交付，已向买方支付{zh_penalty}。",
           f"Pre-sale contract {contract.id} was not delivered in time; you paid the buyer {en_penalty}.", now)
    audit.record(session, None, "contract.failed", ref, {
        "reason": reason, "refunded_fen": contract.deposit_fen, "penalty_paid_fen": outcome.penalty_paid_fen,
        "penalty_unpaid_fen": outcome.penalty_unpaid_fen})


def _locked_balance(session: Session, ref: AccountRef) -> int:
    from suanli.trading.models import LedgerAccount

    account_id = ledger_store.account_id(session, ref)
    return int(session.scalar(select(LedgerAccount.balance_fen).where(LedgerAccount.id == account_id)
                              .with_for_update()) or 0)


# ---------------------------------------------------------------- the sweep

@dataclass
class SweepRun:
    auctions_awarded: int = 0
    expired: int = 0
    started: int = 0
    failed: int = 0
    errors: int = 0


def _due(session: Session, now: dt.datetime) -> tuple[list[uuid.UUID], list[uuid.UUID], list[uuid.UUID]]:
    auctions = session.scalars(select(QuoteRequest.id).where(
        QuoteRequest.status == RequestStatus.OPEN,
        or_(QuoteRequest.auction_closes_at <= now, QuoteRequest.latest_start <= now))
        .order_by(QuoteRequest.created_at)).all()
    overdue = session.scalars(select(QuoteContract.id).where(
        QuoteContract.status == ContractStatus.AWAITING_DELIVERY, QuoteContract.deliver_by < now)).all()
    starting = session.scalars(select(QuoteContract.id).where(
        QuoteContract.status == ContractStatus.DELIVERED, QuoteContract.start_at <= now)).all()
    return list(auctions), list(overdue), list(starting)


def sweep_request(session: Session, request_id: uuid.UUID, now: dt.datetime, run: SweepRun) -> None:
    request = session.scalar(select(QuoteRequest).where(QuoteRequest.id == request_id).with_for_update())
    if request is None or request.status is not RequestStatus.OPEN:
        return
    if request.auction_closes_at is not None and request.auction_closes_at <= now:
        if close_auction(session, request, now) is not None:
            run.auctions_awarded += 1
        else:
            run.expired += 1
    elif request.latest_start <= now and expire_request(session, request, now):
        run.expired += 1


def sweep_contract(session: Session, clock: Clock, contract_id: uuid.UUID, now: dt.datetime, run: SweepRun) -> None:
    contract = session.scalar(select(QuoteContract).where(QuoteContract.id == contract_id).with_for_update())
    if contract is None:
        return
    if contract.status is ContractStatus.AWAITING_DELIVERY and rfq.delivery_due(contract.deliver_by, now):
        fail(session, contract, now, "not_delivered")
        run.failed += 1
    elif contract.status is ContractStatus.DELIVERED and contract.start_at <= now:
        start(session, clock, contract)
        if contract.status is ContractStatus.STARTED:
            run.started += 1
        else:
            run.failed += 1


def run_sweep(database: Database, clock: Clock) -> SweepRun:
    """One pass: due auctions and expiries, overdue deliveries, due starts; each in its own unit of work."""
    now = clock.now()
    run = SweepRun()
    with database.unit_of_work(write=False) as session:
        requests, overdue, starting = _due(session, now)
    for request_id in requests:
        try:
            with database.unit_of_work() as session:
                sweep_request(session, request_id, now, run)
        except Exception:  # one item's failure stops no other; the next pass retries it
            log.exception("sweeping request %s failed", request_id)
            run.errors += 1
    for contract_id in [*overdue, *starting]:
        try:
            with database.unit_of_work() as session:
                sweep_contract(session, clock, contract_id, now, run)
        except Exception:
            log.exception("sweeping contract %s failed", contract_id)
            run.errors += 1
    return run

