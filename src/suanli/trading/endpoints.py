"""Trading HTTP endpoints: orders, wallet, ledger entries, operator top-ups, trial balance and settings."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query as Q, Request, Response
from starlette.concurrency import run_in_threadpool

from suanli.accounts.models import Role, User
from suanli.audit.service import set_request_context
from suanli.catalog.service import get_product
from suanli.catalog.schemas import Money
from suanli.core.billing import Clock
from suanli.errors import Forbidden
from suanli.db import Database
from suanli.http import (BearerCredentials, CurrentUser, DbSession, OperatorUser, OptionalUser, SellerUser,
                         authenticated_user, client_address, get_database)
from suanli.instances.lifecycle import kick as kick_instances
from suanli.trading import invoices, jobs, service
from suanli.trading.ledger_store import ledger_store
from suanli.trading.placement import quote_order
from suanli.trading.statement_csv import statement_csv, statement_disposition
from suanli.trading.models import LedgerAccount, LedgerTransfer, Order, OrderMode, OrderStatus, PlatformSettings
from suanli.trading.schemas import (AccountOut, ExtendIn, LedgerEntryOut, LedgerEntryPage, MeterRunOut, OrderIn, OrderOut,
                                    OrderPage, PayoutIn, PayoutOut, QuoteOut, RefundIn, SettingsOut, SettingsPatch,
                                    TopupIn, TopupOut, TrialBalanceAccount,
                                    TrialBalanceOut, WalletOut, InvoiceLineOut, InvoiceOut, InvoiceSummaryOut,
                                    MoneyEntryOut, NotificationOut, NotificationPage, PayoutEntriesOut,
                                    RevenueOut, RevenueRowOut, UsageOut, UsageRecordOut)

# The wallet does not cover the order (raised in the ledger's own terms, so declared here).
_NOT_COVERED = {"description": "The wallet does not cover it", "x-error-codes": ["insufficient_funds"]}

# A month, as invoices.parse_period reads it (years 2000-2999), stated in the OpenAPI.
PERIOD_PATTERN = r"^2\d{3}-(0[1-9]|1[0-2])$"

router = APIRouter(prefix="/api/v1", tags=["trading"])


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def _app_clock(request: Request) -> Clock:
    """``get_clock`` as a dependency: async (it does no I/O), so FastAPI runs it in the event loop instead of
    handing it to the thread pool on every request."""
    return request.app.state.clock


AppClock = Annotated[Clock, Depends(_app_clock)]


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
        idempotency_key=order.idempotency_key, delivers_instances=order.delivers_instances,
        created_at=order.created_at)


# ---------------------------------------------------------------- orders

@router.post("/orders", status_code=201, response_model=OrderOut,
             responses={200: {"description": "A repeat of an earlier request with the same Idempotency-Key: "
                                             "the order placed then."},
                        202: {"description": "Pending: spot orders were given notice; the order starts (and is "
                                             "charged) when their units are free. Its money is held meanwhile."},
                        402: _NOT_COVERED, 409: {"description": "insufficient_stock, "
                                                                                          "mode_not_offered"}})
async def place_order(body: OrderIn, request: Request, credentials: BearerCredentials, clock: AppClock,
                      response: Response,
                      idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None) -> OrderOut:
    """Buyer: rent units of a product on demand (one hour held upfront), reserved for 1/3/6/12 months (paid
    upfront) or spot (a bid at or above the floor, one hour held). Send an `Idempotency-Key` header to make
    retries safe: the same key returns the same order (200) and never places a second one.

    On-demand and reserved orders come before spot: when the free units are too few but spot orders hold enough,
    those (lowest bids first) get a preemption notice and the order is accepted as `pending` (202) — it starts
    when the notice runs out (after `spot_notice_seconds`); cancel it any time before."""
    # The market's hot path: the caller is found, the order placed and the unit of work committed in one trip to
    # the thread pool. Written with the usual DbSession and CurrentUser dependencies it takes four (FastAPI runs
    # each sync dependency, and a generator's exit, in the pool), 0.8 ms more CPU per order (docs/benchmarks.md).
    database = get_database(request)

    def place() -> tuple[OrderOut, int]:
        with database.unit_of_work() as session:
            user = _buyer(authenticated_user(session, credentials))
            set_request_context(session, actor=user, address=client_address(request))
            order, created = service.place_order(session, clock, user, body, idempotency_key)
            status = 201 if created and order.status is not OrderStatus.PENDING else 202 if created else 200
            return order_out(order), status

    out, response.status_code = await run_in_threadpool(place)
    if out.delivers_instances:
        kick_instances()  # start the machines now, not at the instance loop's next tick
    return out


@router.get("/products/{product_id}/quote", response_model=QuoteOut)
def quote(product_id: uuid.UUID, session: DbSession, viewer: OptionalUser, mode: OrderMode = OrderMode.ON_DEMAND,
          units: Annotated[int, Q(ge=1, le=100_000)] = 1,
          term_months: Annotated[int | None, Q(description="Reserved only: 1, 3, 6 or 12.")] = None,
          bid_hourly_fen: Annotated[int | None, Q(gt=0, le=100_000_000, description="Spot only: per unit-hour.")] = None,
          hours: Annotated[int | None, Q(ge=1, le=8784, description="On demand and spot: price this many hours.")] = None,
          ) -> QuoteOut:
    """The price of an order before it is placed: unit price, the amount frozen now, the total for a term. Priced
    by the same code as `POST /orders`, with the same refusals (`invalid_term`, `bid_below_floor`, ...)."""
    product = get_product(session, product_id, viewer)
    body = OrderIn(product_id=product_id, mode=mode, units=units, term_months=term_months,
                   bid_hourly_fen=bid_hourly_fen)
    q = quote_order(product, body, hours)
    optional = (lambda fen: None if fen is None else Money.of(fen))
    return QuoteOut(product_id=product_id, mode=mode, units=units, term_months=term_months,
                    unit_price=Money.of(q.unit_price_fen), frozen_now=Money.of(q.frozen_now_fen),
                    charged_now=Money.of(q.charged_now_fen), per_hour=optional(q.per_hour_fen), hours=q.hours,
                    total=optional(q.total_fen), available_units=product.stock_units - product.allocated_units)


@router.get("/orders", response_model=OrderPage)
def list_orders(user: CurrentUser, session: DbSession, status: OrderStatus | None = None,
                limit: Annotated[int, Q(ge=1, le=200)] = 50, offset: Annotated[int, Q(ge=0, le=1_000_000)] = 0) -> OrderPage:
    """Buyers see their organization's orders, sellers the orders for their products, operators all; newest first."""
    orders, total = service.list_orders(session, user, status=status, limit=limit, offset=offset)
    return OrderPage(items=[order_out(o) for o in orders], total=total, limit=limit, offset=offset)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession) -> OrderOut:
    return order_out(service.get_order(session, user, order_id))


@router.post("/orders/{order_id}/release", response_model=OrderOut)
def release_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession, clock: AppClock) -> OrderOut:
    """Buyer: stop an on-demand or spot order now. The seconds used are charged from the hold, the rest of the
    hold goes back to your wallet, and the units back to the seller's pool. Its instances are stopped within
    seconds. An order whose instances are still being delivered is cancelled: nothing is charged."""
    out = order_out(service.release_order(session, clock, _buyer(user), order_id))
    kick_instances()
    return out


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession, clock: AppClock) -> OrderOut:
    """Buyer: cancel an on-demand or spot order within 60 seconds of its start, free of charge; a pending order,
    or one whose instances are still being delivered, at any time."""
    out = order_out(service.cancel_order(session, clock, _buyer(user), order_id))
    kick_instances()
    return out


@router.post("/orders/{order_id}/extend", response_model=OrderOut,
             responses={402: _NOT_COVERED,
                        409: {"description": "not_extendable (on-demand and spot leases run until released), "
                                             "order_not_active, mode_not_offered, idempotency_key_reused"}})
def extend_order(order_id: uuid.UUID, body: ExtendIn, user: CurrentUser, session: DbSession, clock: AppClock,
                 idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None) -> OrderOut:
    """Buyer: extend a running reserved order by `term_months` (1, 3, 6 or 12) more months at the product's
    current reserved price and term discount, paid upfront from your wallet. Send an `Idempotency-Key` header to
    make retries safe: the same key extends once. On-demand and spot leases cannot be extended (409
    `not_extendable`): they run until you release them."""
    return order_out(service.extend_order(session, clock, _buyer(user), order_id, body, idempotency_key))


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
                   offset: Annotated[int, Q(ge=0, le=1_000_000)] = 0) -> LedgerEntryPage:
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
                       delivery_deadline_minutes=s.delivery_deadline_minutes,
                       price_guard_low_pct=s.price_guard_low_pct, price_guard_high_pct=s.price_guard_high_pct,
                       price_guard_min_reserved_hours=s.price_guard_min_reserved_hours, updated_at=s.updated_at)


@router.get("/operator/settings", response_model=SettingsOut)
def get_settings(_operator: OperatorUser, session: DbSession) -> SettingsOut:
    return _settings_out(service.platform_settings(session))


@router.put("/operator/settings", response_model=SettingsOut)
def put_settings(body: SettingsPatch, _operator: OperatorUser, session: DbSession, clock: AppClock) -> SettingsOut:
    """Operator: change the commission (basis points, 500 = 5 %) for orders placed from now on, the spot notice,
    the delivery deadline, and the price guard's thresholds (sellers' prices checked from now on)."""
    return _settings_out(service.update_settings(session, body, clock.now()))


# ---------------------------------------------------------------- usage, notifications

@router.get("/orders/{order_id}/usage", response_model=UsageOut)
def order_usage(order_id: uuid.UUID, user: CurrentUser, session: DbSession) -> UsageOut:
    """The order's usage records (start, meter readings, notices, stop/release/term end), oldest first."""
    rows = service.list_usage(session, user, order_id)
    return UsageOut(order_id=order_id, items=[
        UsageRecordOut(event=r.event.value, at=r.at, seconds_total=r.seconds_total,
                       charged_total=Money.of(r.charged_fen_total), note=r.note) for r in rows])


@router.get("/notifications", response_model=NotificationPage)
def notifications(user: CurrentUser, session: DbSession, unread: bool = False,
                  limit: Annotated[int, Q(ge=1, le=200)] = 50, offset: Annotated[int, Q(ge=0, le=1_000_000)] = 0
                  ) -> NotificationPage:
    """Your organization's notifications (low balance, lease stopped, spot preemption), newest first."""
    rows, total = service.list_notifications(session, user, unread=unread, limit=limit, offset=offset)
    return NotificationPage(items=[NotificationOut(id=n.id, kind=n.kind.value, order_id=n.order_id,
                                                   message_zh=n.message_zh, message_en=n.message_en,
                                                   created_at=n.created_at, read_at=n.read_at) for n in rows],
                            total=total, limit=limit, offset=offset)


@router.post("/notifications/read")
def read_notifications(user: CurrentUser, session: DbSession, clock: AppClock) -> dict[str, int]:
    """Mark all your organization's notifications read."""
    return {"marked_read": service.mark_notifications_read(session, user, clock.now())}


# ---------------------------------------------------------------- invoices

def _money_entries(entries: list[invoices.MoneyEntry]) -> list[MoneyEntryOut]:
    return [MoneyEntryOut(reference=e.reference, amount=Money.of(e.amount_fen), at=e.at) for e in entries]


def _totals(invoice: invoices.Invoice) -> dict[str, Money]:
    return {k.removesuffix("_fen"): Money.of(v) for k, v in invoice.totals().items()}


def invoice_out(invoice: invoices.Invoice) -> InvoiceOut:
    seller = invoice.role is Role.SELLER
    return InvoiceOut(
        id=invoice.id, organization_id=invoice.organization_id, organization_name=invoice.organization_name,
        role=invoice.role.value, period=invoice.period, period_start=invoice.period_start,
        period_end=invoice.period_end,
        lines=[InvoiceLineOut(order_id=line.order_id, product_id=line.product_id, product_name=line.product_name,
                              datacenter_id=line.datacenter_id, datacenter_name=line.datacenter_name, mode=line.mode,
                              units=line.units, term_months=line.term_months, seconds=line.seconds,
                              unit_price=Money.of(line.unit_price_fen), unit_price_per=line.unit_price_per,
                              amount=Money.of(line.amount_fen),
                              commission=Money.of(line.commission_fen) if seller else None,
                              net=Money.of(line.net_fen) if seller else None) for line in invoice.lines],
        topups=_money_entries(invoice.topups), refunds=_money_entries(invoice.refunds),
        payouts=_money_entries(invoice.payouts), totals=_totals(invoice))


def _wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


@router.get("/invoices", response_model=list[InvoiceSummaryOut])
def list_invoices(user: CurrentUser, session: DbSession,
                  period: Annotated[str | None, Q(pattern=PERIOD_PATTERN, description="YYYY-MM (China Standard Time)")] = None,
                  organization_id: Annotated[uuid.UUID | None, Q(description="Operators: another "
                                                                             "organization's")] = None
                  ) -> list[InvoiceSummaryOut]:
    """Your organization's invoices, one per month with activity, newest first (computed from the ledger)."""
    rows = invoices.list_invoices(session, user, period=period, organization_id=organization_id)
    return [InvoiceSummaryOut(id=i.id, period=i.period, role=i.role.value, lines=len(i.lines), totals=_totals(i))
            for i in rows]


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut,
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv or "
                                                                          "Accept: text/csv"}})
def get_invoice(invoice_id: str, user: CurrentUser, session: DbSession, request: Request,
                format: Annotated[Literal["json", "csv"] | None, Q()] = None,
                lang: Annotated[Literal["zh-CN", "en"] | None, Q(description="The CSV's language; default: "
                                                                         "Accept-Language, else zh-CN")] = None):
    """One monthly statement (账单; not a tax invoice), `<organization id>:<YYYY-MM>`: lines per order, top-ups,
    refunds, payouts and totals. CSV (UTF-8 with BOM, amounts in CNY, times in Beijing time, column names in
    `lang`) with `?format=csv` or `Accept: text/csv`."""
    invoice = invoices.get_invoice(session, user, invoice_id)
    if _wants_csv(request, format):
        language = lang or ("en" if request.headers.get("accept-language", "").lower().startswith("en")
                            else "zh-CN")
        return Response(statement_csv(invoice, language), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": statement_disposition(invoice, language)})
    return invoice_out(invoice)


# ---------------------------------------------------------------- seller views

@router.get("/seller/orders", response_model=OrderPage)
def seller_orders(user: SellerUser, session: DbSession, status: OrderStatus | None = None,
                  limit: Annotated[int, Q(ge=1, le=200)] = 50, offset: Annotated[int, Q(ge=0, le=1_000_000)] = 0) -> OrderPage:
    """Seller: orders for your organization's products, newest first (the same as GET /orders as a seller)."""
    orders, total = service.list_orders(session, user, status=status, limit=limit, offset=offset)
    return OrderPage(items=[order_out(o) for o in orders], total=total, limit=limit, offset=offset)


def _revenue_rows(rows: list[invoices.RevenueRow]) -> list[RevenueRowOut]:
    return [RevenueRowOut(id=r.key, name=r.name, orders=r.orders, gross=Money.of(r.gross_fen),
                          commission=Money.of(r.commission_fen), net=Money.of(r.net_fen)) for r in rows]


@router.get("/seller/revenue", response_model=RevenueOut)
def seller_revenue(user: SellerUser, session: DbSession, clock: AppClock,
                   period: Annotated[str | None, Q(pattern=PERIOD_PATTERN, description="YYYY-MM (China Standard Time); default: "
                                                               "this month")] = None) -> RevenueOut:
    """Seller: gross sales, the platform's commission and your net earnings in a month, by data center and by
    product."""
    period = period or invoices.period_of(clock.now())
    invoice = invoices.get_invoice(session, user, f"{user.organization_id}:{period}")
    totals = invoice.totals()
    return RevenueOut(organization_id=user.organization_id, period=period, gross=Money.of(totals["gross_fen"]),
                      commission=Money.of(totals["commission_fen"]), net=Money.of(totals["net_fen"]),
                      refunds=Money.of(totals["refunds_fen"]),
                      by_datacenter=_revenue_rows(invoices.revenue_by(invoice.lines, "datacenter")),
                      by_product=_revenue_rows(invoices.revenue_by(invoice.lines, "product")))


@router.get("/seller/payouts", response_model=PayoutEntriesOut)
def seller_payouts(user: SellerUser, session: DbSession) -> PayoutEntriesOut:
    """Seller: money paid out to you, newest first, and what is still receivable."""
    entries = invoices.seller_payouts(session, user.organization_id)
    return PayoutEntriesOut(organization_id=user.organization_id,
                            receivable=Money.of(service.wallet(session, user).receivable_fen or 0),
                            paid_out=Money.of(sum(e.amount_fen for e in entries)), items=_money_entries(entries))
