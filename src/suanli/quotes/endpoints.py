"""Requests for quotes, quotes and pre-sale contracts over HTTP (``/api/v1``). The rules are in ``service`` and
``contracts``; here only the wire and who may call what."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query as Q

from suanli.accounts.models import Role, User
from suanli.catalog.models import Datacenter
from suanli.catalog.schemas import Money
from suanli.core import rfq
from suanli.db import Database
from suanli.http import CurrentUser, DbSession, OperatorUser, SellerUser, get_database, require_role
from suanli.quotes import contracts, service
from suanli.quotes.models import ContractStatus, Quote, QuoteContract, QuoteRequest, RequestStatus
from suanli.quotes.schemas import (AcceptIn, ContractOut, ContractPage, DeliverIn, QuoteIn, SellerQuoteOut, RequestIn,
                                   RequestOut, RequestPage, SweepOut)
from suanli.trading.endpoints import AppClock
from sqlalchemy import select
from sqlalchemy.orm import Session

router = APIRouter(prefix="/api/v1", tags=["requests for quotes"])

BuyerUser = Annotated[User, Depends(require_role(Role.BUYER))]
BuyerOrOperator = Annotated[User, Depends(require_role(Role.BUYER, Role.OPERATOR))]
Limit = Annotated[int, Q(ge=1, le=200)]
Offset = Annotated[int, Q(ge=0, le=1_000_000)]

_NOT_COVERED = {402: {"description": "The wallet does not cover the budget", "x-error-codes": ["insufficient_funds"]}}
_CLOSED = {409: {"description": "The request is no longer open, or the quote no longer stands",
                 "x-error-codes": ["request_closed", "quote_withdrawn", "quote_stale"]}}
_SHORTFALLS = {422: {"description": "The quote does not meet the request",
                     "x-error-codes": [s.value for s in rfq.Shortfall]}}
_UNDELIVERABLE = {409: {"description": "The capacity cannot be delivered yet",
                        "x-error-codes": ["contract_not_awaiting_delivery", "delivery_overdue", "product_not_listed",
                                          "capacity_mismatch", "stock_below_contract", "cluster_not_registered",
                                          "cluster_unhealthy"]}}


def quote_out(session: Session, quote: Quote, request: QuoteRequest, *, show_seller: bool,
              names: dict[uuid.UUID, str]) -> SellerQuoteOut:
    datacenter = session.get_one(Datacenter, quote.datacenter_id)
    total = rfq.contract_value_fen(request.billing_mode, quote.unit_price_fen, request.units, request.term_months,
                                   request.term_hours)
    return SellerQuoteOut(id=quote.id, request_id=quote.request_id,
                    seller_org_id=quote.seller_org_id if show_seller else None,
                    seller_name=names.get(quote.seller_org_id) if show_seller else None,
                    datacenter_id=datacenter.id, datacenter_name=datacenter.name,
                    province=datacenter.region.province, chip=quote.chip_key, accelerators=quote.accelerators,
                    presale=quote.presale, unit_price=Money.of(quote.unit_price_fen), total=Money.of(total),
                    start_at=quote.start_at, deliver_by=quote.deliver_by, penalty=Money.of(quote.penalty_fen),
                    note=quote.note, status=quote.status, created_at=quote.created_at)


def request_out(session: Session, request: QuoteRequest, *, buyer_view: bool, quotes: list[Quote] | None = None,
                summary: tuple[int, int | None] | None = None) -> RequestOut:
    """A request; ``buyer_view`` False: anonymized (no buyer, no budget) for sellers."""
    count, lowest = summary if summary is not None else service.quote_summaries(session, [request.id]).get(
        request.id, (0, None))
    quotes = quotes or []
    names = service.organization_names(session, {q.seller_org_id for q in quotes})
    contract_id = session.scalar(select(QuoteContract.id).where(QuoteContract.request_id == request.id))
    return RequestOut(
        id=request.id, buyer_org_id=request.buyer_org_id if buyer_view else None, title=request.title,
        chip=request.chip_key, min_fp16_tflops=request.min_fp16_tflops, min_memory_gib=request.min_memory_gib,
        accelerators=request.accelerators, units=request.units, billing_mode=request.billing_mode,
        term_months=request.term_months, term_hours=request.term_hours, earliest_start=request.earliest_start,
        latest_start=request.latest_start, province=request.province,
        max_unit_price=Money.of(request.max_unit_price_fen),
        budget=Money.of(request.budget_fen) if buyer_view else None, auction_closes_at=request.auction_closes_at,
        status=request.status, quote_count=count, lowest_quote=Money.of(lowest), created_at=request.created_at,
        closed_at=request.closed_at, contract_id=contract_id,
        quotes=[quote_out(session, q, request, show_seller=True, names=names) for q in quotes])


def contract_out(contract: QuoteContract) -> ContractOut:
    return ContractOut(
        id=contract.id, request_id=contract.request_id, quote_id=contract.quote_id,
        buyer_org_id=contract.buyer_org_id, seller_org_id=contract.seller_org_id,
        datacenter_id=contract.datacenter_id, billing_mode=contract.billing_mode, units=contract.units,
        term_months=contract.term_months, term_hours=contract.term_hours,
        unit_price=Money.of(contract.unit_price_fen), deposit=Money.of(contract.deposit_fen),
        penalty=Money.of(contract.penalty_fen), start_at=contract.start_at, deliver_by=contract.deliver_by,
        status=contract.status, product_id=contract.product_id, order_id=contract.order_id,
        delivered_at=contract.delivered_at, started_at=contract.started_at, failed_at=contract.failed_at,
        failure_reason=contract.failure_reason, penalty_paid=Money.of(contract.penalty_paid_fen),
        penalty_unpaid=Money.of(contract.penalty_unpaid_fen), created_at=contract.created_at)


def _page(session: Session, requests: list[QuoteRequest], total: int, *, buyer_view: bool) -> RequestPage:
    summaries = service.quote_summaries(session, [r.id for r in requests])
    return RequestPage(items=[request_out(session, r, buyer_view=buyer_view,
                                          summary=summaries.get(r.id, (0, None))) for r in requests], total=total)


# ---------------------------------------------------------------- buyers

@router.post("/rfqs", status_code=201, response_model=RequestOut, responses=_NOT_COVERED)
def post_request(body: RequestIn, user: BuyerUser, session: DbSession, clock: AppClock) -> RequestOut:
    """Buyer: post a request for quotes. Its budget (the term at `max_unit_price_fen`) is frozen in the wallet
    until an award (the deposit stays, the rest is released), a cancellation or an expiry. With
    `auction_closes_at` a reverse auction awards the lowest compliant quote at that time (ties: the earliest)."""
    return request_out(session, service.post_request(session, clock.now(), user, body), buyer_view=True)


@router.get("/rfqs", response_model=RequestPage)
def list_requests(user: BuyerOrOperator, session: DbSession, status: RequestStatus | None = None,
                  limit: Limit = 50, offset: Offset = 0) -> RequestPage:
    """Buyers: their organization's requests, newest first (operators: all; sellers: see `/seller/rfqs`)."""
    requests, total = service.buyer_requests(session, user, status=status, limit=limit, offset=offset)
    return _page(session, requests, total, buyer_view=True)


@router.get("/rfqs/{rfq_id}", response_model=RequestOut)
def get_request(rfq_id: uuid.UUID, user: BuyerOrOperator, session: DbSession) -> RequestOut:
    """The buyer's request with every quote (sellers named); another organization's → 404."""
    request = service.buyer_request(session, user, rfq_id)
    return request_out(session, request, buyer_view=True, quotes=service.quotes_of(session, request.id))


@router.post("/rfqs/{rfq_id}/accept", response_model=ContractOut, status_code=201, responses=_CLOSED)
def accept(rfq_id: uuid.UUID, body: AcceptIn, user: BuyerUser, session: DbSession, clock: AppClock
           ) -> ContractOut:
    """Buyer: accept a standing quote (also before an auction's deadline). The contract: the deposit stays held
    until the start; the seller delivers by the quote's date or pays its penalty."""
    return contract_out(service.accept_quote(session, clock.now(), user, rfq_id, body.quote_id))


@router.post("/rfqs/{rfq_id}/cancel", response_model=RequestOut, responses=_CLOSED)
def cancel(rfq_id: uuid.UUID, user: BuyerUser, session: DbSession, clock: AppClock) -> RequestOut:
    """Buyer: withdraw an open request; its budget is released."""
    return request_out(session, service.cancel_request(session, clock.now(), user, rfq_id), buyer_view=True)


# ---------------------------------------------------------------- sellers

@router.get("/seller/rfqs", response_model=RequestPage)
def seller_requests(_seller: SellerUser, session: DbSession, limit: Limit = 50, offset: Offset = 0) -> RequestPage:
    """Sellers: open requests, newest first, without the buyer's identity or budget."""
    requests, total = service.open_requests(session, limit=limit, offset=offset)
    return _page(session, requests, total, buyer_view=False)


@router.get("/seller/rfqs/{rfq_id}", response_model=RequestOut)
def seller_request(rfq_id: uuid.UUID, seller: SellerUser, session: DbSession) -> RequestOut:
    """Sellers: an open request (or a closed one they quoted on), anonymized, with their own quotes."""
    request = service.seller_request(session, seller, rfq_id)
    return request_out(session, request, buyer_view=False,
                       quotes=service.quotes_of(session, request.id, seller.organization_id))


@router.post("/seller/rfqs/{rfq_id}/quotes", status_code=201, response_model=SellerQuoteOut, responses=_SHORTFALLS)
def submit_quote(rfq_id: uuid.UUID, body: QuoteIn, seller: SellerUser, session: DbSession, clock: AppClock
                 ) -> SellerQuoteOut:
    """Sellers: quote on an open request from an approved data center, possibly for capacity not built yet
    (`presale`), with the delivery date and the penalty paid to the buyer if it is missed."""
    quote = service.submit_quote(session, clock.now(), seller, rfq_id, body)
    request = session.get_one(QuoteRequest, quote.request_id)
    names = service.organization_names(session, {quote.seller_org_id})
    return quote_out(session, quote, request, show_seller=True, names=names)


@router.post("/seller/quotes/{quote_id}/withdraw", response_model=SellerQuoteOut)
def withdraw_quote(quote_id: uuid.UUID, seller: SellerUser, session: DbSession) -> SellerQuoteOut:
    """Sellers: withdraw a standing quote."""
    quote = service.withdraw_quote(session, seller, quote_id)
    request = session.get_one(QuoteRequest, quote.request_id)
    return quote_out(session, quote, request, show_seller=True,
                     names=service.organization_names(session, {quote.seller_org_id}))


@router.post("/seller/contracts/{contract_id}/deliver", response_model=ContractOut, responses=_UNDELIVERABLE)
def deliver(contract_id: uuid.UUID, body: DeliverIn, seller: SellerUser, session: DbSession, clock: AppClock
            ) -> ContractOut:
    """Sellers: confirm delivery with the listed product carrying the capacity (in the quoted data center, the
    quoted chip, stock for the units, a registered cluster that passed its health check). On or after the start
    the contract's order is placed at once; before, at the start."""
    return contract_out(contracts.deliver(session, clock, seller, contract_id, body.product_id))


# ---------------------------------------------------------------- both sides

@router.get("/contracts", response_model=ContractPage)
def list_contracts(user: CurrentUser, session: DbSession, status: ContractStatus | None = None,
                   limit: Limit = 50, offset: Offset = 0) -> ContractPage:
    """Pre-sale contracts of the caller's organization, as buyer or seller (operators: all), newest first."""
    rows, total = contracts.contracts_for(session, user, status=status, limit=limit, offset=offset)
    return ContractPage(items=[contract_out(c) for c in rows], total=total)


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def get_contract(contract_id: uuid.UUID, user: CurrentUser, session: DbSession) -> ContractOut:
    return contract_out(contracts.contract_for(session, user, contract_id))


@router.post("/operator/rfqs/sweep", response_model=SweepOut)
def sweep(_operator: OperatorUser, session: DbSession, clock: AppClock,
          database: Annotated[Database, Depends(get_database)]) -> SweepOut:
    """Operator (and `suanli serve` with the meter): close auctions past their deadline, expire requests, fail
    contracts not delivered by their date (refund and penalty), start delivered contracts whose start has come."""
    session.commit()  # as the meter's endpoint: the per-item units of work must not queue behind this one (SQLite)
    run = contracts.run_sweep(database, clock)
    return SweepOut(auctions_awarded=run.auctions_awarded, expired=run.expired, started=run.started,
                    failed=run.failed, errors=run.errors)

