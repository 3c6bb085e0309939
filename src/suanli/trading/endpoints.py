"""Trading HTTP endpoints: orders, wallet, ledger entries, operator top-ups, trial balance and settings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query as Q, Request, Response

from suanli.accounts.models import Role, User
from suanli.catalog.schemas import Money
from suanli.core.billing import Clock
from suanli.errors import Forbidden
from suanli.db import Database
from suanli.http import CurrentUser, DbSession, OperatorUser, get_database
from suanli.trading import jobs, service
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import LedgerAccount, LedgerTransfer, Order, OrderMode, OrderStatus, PlatformSettings
from suanli.trading.schemas import (AccountOut, LedgerEntryOut, LedgerEntryPage, MeterRunOut, OrderIn, OrderOut,
                                    OrderPage, PayoutIn, PayoutOut, RefundIn, SettingsOut, SettingsPatch,
                                    TopupIn, TopupOut, TrialBalanceAccount,
                                    TrialBalanceOut, WalletOut)

router = APIRouter(prefix="/api/v1", tags=["trading"])


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


AppClock = Annotated[Clock, Depends(get_clock)]


def _buyer(user: User) -> User:
    if user.role is not Role.BUYER:
        raise Forbidden(f"Only buyers place and end orders; you are signed in as a {user.role.value}.",
                        code="wrong_role", details={"required_roles": [Role.BUYER.value]})
    return user


def order_out(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id, product_id=order.product_id, datacenter_id=order.datacenter_id, buyer_org_id=order.buyer_org_id,
        seller_org_id=order.seller_org_id, mode=order.mode, units=order.units, term_months=order.term_months,
        unit_price=Money.of(order.unit_price_fen),
        unit_price_per="month" if order.mode is OrderMode.RESERVED else "hour", commission_bp=order.commission_bp,
        status=order.status, started_at=order.started_at, ends_at=order.ends_at, ended_at=order.ended_at,
        end_reason=order.end_reason, metered_at=order.metered_at, preempt_at=order.preempt_at,
        held=Money.of(order.held_fen), charged=Money.of(order.charged_fen), refunded=Money.of(order.refunded_fen),
        idempotency_key=order.idempotency_key, created_at=order.created_at)


# ---------------------------------------------------------------- orders

@router.post("/orders", status_code=201, response_model=OrderOut,
             responses={200: {"description": "A repeat of an earlier request with the same Idempotency-Key: "
                                             "the order placed then."},
                        202: {"description": "Pending: spot orders were given notice; the order starts (and is "
                                             "charged) when their units are free. Its money is held meanwhile."},
                        402: {"description": "insufficient_funds"}, 409: {"description": "insufficient_stock, "
                                                                                          "mode_not_offered"}})
def place_order(body: OrderIn, user: CurrentUser, session: DbSession, clock: AppClock, response: Response,
                idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None) -> OrderOut:
    """Buyer: rent units of a product on demand (one hour held upfront), reserved for 1/3/6/12 months (paid
    upfront) or spot (a bid at or above the floor, one hour held). Send an `Idempotency-Key` header to make
    retries safe: the same key returns the same order (200) and never places a second one.

    On-demand and reserved orders come before spot: when the free units are too few but spot orders hold enough,
    those (lowest bids first) get a preemption notice and the order is accepted as `pending` (202) — it starts
    when the notice runs out (after `spot_notice_seconds`); cancel it any time before."""
    order, created = service.place_order(session, clock, _buyer(user), body, idempotency_key)
    if not created:
        response.status_code = 200
    elif order.status is OrderStatus.PENDING:
        response.status_code = 202
    return order_out(order)


@router.get("/orders", response_model=OrderPage)
def list_orders(user: CurrentUser, session: DbSession, status: OrderStatus | None = None,
                limit: Annotated[int, Q(ge=1, le=200)] = 50, offset: Annotated[int, Q(ge=0)] = 0) -> OrderPage:
    """Buyers see their organization's orders, sellers the orders for their products, operators all; newest first."""
    orders, total = service.list_orders(session, user, status=status, limit=limit, offset=offset)
    return OrderPage(items=[order_out(o) for o in orders], total=total, limit=limit, offset=offset)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession) -> OrderOut:
    return order_out(service.get_order(session, user, order_id))


@router.post("/orders/{order_id}/release", response_model=OrderOut)
def release_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession, clock: AppClock) -> OrderOut:
    """Buyer: stop an on-demand or spot order now. The seconds used are charged from the hold, the rest of the
    hold goes back to your wallet, and the units back to the seller's pool."""
    return order_out(service.release_order(session, clock, _buyer(user), order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession, clock: AppClock) -> OrderOut:
    """Buyer: cancel an on-demand or spot order within 60 seconds of its start, free of charge."""
    return order_out(service.cancel_order(session, clock, _buyer(user), order_id))


# ---------------------------------------------------------------- wallet and ledger

@router.get("/wallet", response_model=WalletOut)
def get_wallet(user: CurrentUser, session: DbSession) -> WalletOut:
    """Buyers: available and held balances. Sellers: receivable (earned net of commission, not yet paid out)."""
    w = service.wallet(session, user)
    return WalletOut(organization_id=w.organization_id, role=w.role.value, available=Money.of(w.available_fen),
                     held=Money.of(w.held_fen), receivable=Money.of(w.receivable_fen))


def _account_out(account: LedgerAccount) -> AccountOut:
    return AccountOut(kind=account.kind, owner_org_id=account.owner_org_id)


def _entry_out(t: LedgerTransfer, accounts: dict[uuid.UUID, LedgerAccount]) -> LedgerEntryOut:
    return LedgerEntryOut(id=t.id, kind=t.kind, ref=t.ref, amount=Money.of(int(t.amount_fen)),
                          debit=_account_out(accounts[t.debit_account_id]),
                          credit=_account_out(accounts[t.credit_account_id]), created_at=t.created_at)


@router.get("/ledger/entries", response_model=LedgerEntryPage)
def ledger_entries(user: CurrentUser, session: DbSession, limit: Annotated[int, Q(ge=1, le=500)] = 50,
                   offset: Annotated[int, Q(ge=0)] = 0) -> LedgerEntryPage:
    """Your organization's ledger transfers (money in, holds, charges, releases), newest first."""
    rows, total, accounts = ledger_store.entries_for(session, user.organization_id, limit=limit, offset=offset)
    return LedgerEntryPage(items=[_entry_out(t, accounts) for t in rows], total=total, limit=limit, offset=offset)


# ---------------------------------------------------------------- operator

@router.post("/operator/topups", status_code=201, response_model=TopupOut,
             responses={200: {"description": "This reference was topped up before; nothing changed."}})
def create_topup(body: TopupIn, _operator: OperatorUser, session: DbSession, clock: AppClock,
                 response: Response) -> TopupOut:
    """Operator: record money a buyer organization paid in. The reference is unique: sending it again is a no-op."""
    t = service.topup(session, body, clock.now())
    if not t.created:
        response.status_code = 200
    return TopupOut(organization_id=t.organization_id, amount=Money.of(t.amount_fen), reference=t.reference,
                    transfer_id=t.transfer_id, created=t.created, available=Money.of(t.available_fen))


@router.post("/operator/payouts", status_code=201, response_model=PayoutOut,
             responses={200: {"description": "This reference was paid out before; nothing changed."}})
def create_payout(body: PayoutIn, _operator: OperatorUser, session: DbSession, clock: AppClock,
                  response: Response) -> PayoutOut:
    """Operator: record money paid out to a seller organization, out of its receivable. The reference is unique."""
    p = service.payout(session, body, clock.now())
    if not p.created:
        response.status_code = 200
    return PayoutOut(organization_id=p.organization_id, amount=Money.of(p.amount_fen), reference=p.reference,
                     created=p.created, receivable=Money.of(p.receivable_fen))


@router.post("/operator/orders/{order_id}/refunds", status_code=201, response_model=OrderOut,
             responses={200: {"description": "This reference was refunded before; nothing changed."}})
def refund_order(order_id: uuid.UUID, body: RefundIn, _operator: OperatorUser, session: DbSession, clock: AppClock,
                 response: Response) -> OrderOut:
    """Operator: give part or all of an order's charges back to the buyer's wallet, taken from the seller's
    receivable and the platform's commission in the proportions they were split. The reference is unique."""
    order, created = service.refund_order(session, order_id, body, clock.now())
    if not created:
        response.status_code = 200
    return order_out(order)


@router.post("/operator/metering/run", response_model=MeterRunOut)
def run_meter(_operator: OperatorUser, session: DbSession, clock: AppClock,
              database: Annotated[Database, Depends(get_database)]) -> MeterRunOut:
    """Operator (or a scheduler, every minute): charge every running on-demand and spot order for the time used
    since the last reading, top its hold up to cover the next hour, stop it when the buyer's money would not
    cover the next two minutes; end reserved orders whose term is over."""
    # The request's own unit of work only authenticated the caller: end it, so the job's per-order units of work
    # do not queue behind its write lock (SQLite).
    session.commit()
    run = jobs.run_meter(database, clock)
    return MeterRunOut(metered=run.metered, charged=Money.of(run.charged_fen), stopped=run.stopped,
                       low_balance=run.low_balance, terms_ended=run.terms_ended, preempted=run.preempted,
                       activated=run.activated, failed=run.failed)


@router.get("/operator/ledger/trial-balance", response_model=TrialBalanceOut)
def trial_balance(_operator: OperatorUser, session: DbSession) -> TrialBalanceOut:
    """Operator: every balance recomputed from the journal and compared with the stored one; debits = credits."""
    tb = ledger_store.trial_balance(session)
    return TrialBalanceOut(balanced=tb.balanced, total_debits_fen=tb.total_debits_fen,
                           total_credits_fen=tb.total_credits_fen, accounts=[
                               TrialBalanceAccount(account_id=a.account_id, kind=a.kind, owner_org_id=a.owner_org_id,
                                                   balance_fen=a.balance_fen,
                                                   journal_balance_fen=a.journal_balance_fen, matches=a.matches)
                               for a in tb.accounts])


def _settings_out(s: PlatformSettings) -> SettingsOut:
    return SettingsOut(commission_bp=s.commission_bp, spot_notice_seconds=s.spot_notice_seconds,
                       updated_at=s.updated_at)


@router.get("/operator/settings", response_model=SettingsOut)
def get_settings(_operator: OperatorUser, session: DbSession) -> SettingsOut:
    return _settings_out(service.platform_settings(session))


@router.put("/operator/settings", response_model=SettingsOut)
def put_settings(body: SettingsPatch, _operator: OperatorUser, session: DbSession, clock: AppClock) -> SettingsOut:
    """Operator: change the commission (basis points, 500 = 5 %) for orders placed from now on."""
    return _settings_out(service.update_settings(session, body, clock.now()))
