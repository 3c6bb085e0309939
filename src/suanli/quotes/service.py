"""Requests for quotes and quotes: posting, quoting, withdrawing, cancelling and awarding. No HTTP; callers commit.

Money: posting a request freezes its budget (the term at the maximum unit price) in the buyer's wallet, a HOLD
with ref ``rfq:<request id>``; an award keeps the winning quote's term price held as the contract's deposit and
releases the rest (ref ``rfq:<id>:award``); a cancelled or expired request releases it all (``rfq:<id>:close``).
So an award, by the buyer or by the auction's deadline, never fails for money, and sellers quote to a buyer whose
money is in escrow.

Races: an award is one conditional ``UPDATE quote_requests SET status = 'awarded' WHERE id = :id AND status =
'open'``: of two accepts (or an accept and the auction's close) exactly one changes the row; the other gets 409
``request_closed`` and moves no money. Locks: the request row, then the ledger accounts (``trading.locks``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import ChipModel, Datacenter, DatacenterStatus
from suanli.catalog.service import get_chip
from suanli.core import rfq
from suanli.core.billing import RESERVED_TERMS_MONTHS
from suanli.core.chips import resolve_chip
from suanli.core.ledger import InsufficientFunds, plan_hold, plan_release
from suanli.core.money import format_cny
from suanli.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.ids import new_id
from suanli.quotes.models import (ContractStatus, Quote, QuoteContract, QuoteRequest, QuoteStatus, RequestStatus)
from suanli.quotes.schemas import QuoteIn, RequestIn
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import NotificationKind
from suanli.trading.placement import insufficient_funds
from suanli.trading.service import notify


def request_ref(request_id: uuid.UUID) -> str:
    return f"rfq:{request_id}"


def _chip(session: Session, text: str) -> ChipModel:
    spec = resolve_chip(text)
    return get_chip(session, spec.key if spec is not None else text)


def need_of(request: QuoteRequest) -> rfq.Need:
    return rfq.Need(chip_key=request.chip_key, min_fp16_tflops=request.min_fp16_tflops,
                    min_memory_gib=request.min_memory_gib, accelerators=request.accelerators, units=request.units,
                    billing_mode=request.billing_mode, term_months=request.term_months,
                    term_hours=request.term_hours, earliest_start=request.earliest_start,
                    latest_start=request.latest_start, province=request.province,
                    max_unit_price_fen=request.max_unit_price_fen)


def _require(user: User, role: Role, what: str) -> None:
    if user.role is not role:
        raise Forbidden(f"Only {role.value}s {what}; you are signed in as a {user.role.value}.", code="wrong_role",
                        details={"required_roles": [role.value]})


# ---------------------------------------------------------------- buyers

def post_request(session: Session, now: dt.datetime, buyer: User, body: RequestIn) -> QuoteRequest:
    """Post a need; its budget is frozen in the buyer's wallet (402 ``insufficient_funds`` if it is not there)."""
    _require(buyer, Role.BUYER, "post requests for quotes")
    wrong_term = rfq.term_check(body.billing_mode, body.term_months, body.term_hours)
    if wrong_term == "term_months":
        raise InvalidInput("A reserved request needs term_months of 1, 3, 6 or 12; an on-demand request takes "
                           "term_hours instead.", code="invalid_term",
                           details={"field": wrong_term, "valid_values": list(RESERVED_TERMS_MONTHS)})
    if wrong_term == "term_hours":
        raise InvalidInput(f"An on-demand request needs term_hours (1 to {rfq.MAX_TERM_HOURS}); a reserved request "
                           "takes term_months instead.", code="invalid_term_hours",
                           details={"field": wrong_term, "max_hours": rfq.MAX_TERM_HOURS})
    chip = _chip(session, body.chip) if body.chip is not None else None
    if chip is None and body.min_fp16_tflops is None and body.min_memory_gib is None:
        raise InvalidInput("Name a chip, or the minimum FP16 TFLOPS and/or memory per accelerator you need.",
                           code="need_unspecified", details={"field": "chip"})
    if body.earliest_start > body.latest_start:
        raise InvalidInput("The earliest start is after the latest start.", code="invalid_window",
                           details={"field": "latest_start"})
    if body.earliest_start <= now:
        raise InvalidInput("The earliest start must be in the future.", code="start_in_the_past",
                           details={"field": "earliest_start"})
    if body.latest_start > now + dt.timedelta(days=rfq.MAX_WINDOW_DAYS):
        raise InvalidInput(f"The latest start may be at most {rfq.MAX_WINDOW_DAYS} days ahead.",
                           code="start_too_far", details={"field": "latest_start"})
    if body.auction_closes_at is not None and not now < body.auction_closes_at <= body.earliest_start:
        raise InvalidInput("An auction closes in the future and at the latest at the earliest start.",
                           code="invalid_auction_deadline", details={"field": "auction_closes_at"})
    request = QuoteRequest(
        id=new_id(), buyer_org_id=buyer.organization_id,
        buyer_user_id=buyer.id, title=body.title.strip() or body.title, chip_key=chip.key if chip else None,
        min_fp16_tflops=body.min_fp16_tflops, min_memory_gib=body.min_memory_gib, accelerators=body.accelerators,
        units=body.units, billing_mode=body.billing_mode, term_months=body.term_months, term_hours=body.term_hours,
        earliest_start=body.earliest_start, latest_start=body.latest_start,
        province=body.province.strip().removesuffix("省") if body.province else None,
        max_unit_price_fen=body.max_unit_price_fen, budget_fen=0, auction_closes_at=body.auction_closes_at,
        status=RequestStatus.OPEN, created_at=now)
    request.budget_fen = rfq.budget_fen(need_of(request))
    session.add(request)
    session.flush()
    try:
        ledger_store.apply(session, plan_hold(str(buyer.organization_id), request.budget_fen,
                                              request_ref(request.id)), at=now)
    except InsufficientFunds as exc:
        raise insufficient_funds(request.budget_fen, exc.balance, "This request's budget (the term at your "
                                 "maximum price)") from None
    audit.record(session, buyer, "rfq.posted", request_ref(request.id),
                 {"units": request.units, "budget_fen": request.budget_fen, "chip": request.chip_key})
    return request


def buyer_request(session: Session, buyer: User, request_id: uuid.UUID, *, lock: bool = False) -> QuoteRequest:
    """The buyer's own request (operators: any); another organization's → 404."""
    query = select(QuoteRequest).where(QuoteRequest.id == request_id)
    request = session.scalar(query.with_for_update() if lock else query)
    if request is None or (buyer.role is not Role.OPERATOR and request.buyer_org_id != buyer.organization_id):
        raise NotFound(f"There is no request for quotes {request_id}.", code="request_not_found")
    return request


def buyer_requests(session: Session, buyer: User, *, status: RequestStatus | None, limit: int, offset: int
                   ) -> tuple[list[QuoteRequest], int]:
    query = select(QuoteRequest)
    if buyer.role is not Role.OPERATOR:
        query = query.where(QuoteRequest.buyer_org_id == buyer.organization_id)
    if status is not None:
        query = query.where(QuoteRequest.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(QuoteRequest.created_at.desc(), QuoteRequest.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total)


def open_requests(session: Session, *, limit: int, offset: int) -> tuple[list[QuoteRequest], int]:
    """Open requests, newest first: what sellers see (anonymized by the presenter)."""
    query = select(QuoteRequest).where(QuoteRequest.status == RequestStatus.OPEN)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(QuoteRequest.created_at.desc(), QuoteRequest.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total)


def seller_request(session: Session, seller: User, request_id: uuid.UUID) -> QuoteRequest:
    """A request as a seller may see it: open ones, and closed ones it quoted on."""
    request = session.get(QuoteRequest, request_id)
    if request is not None and request.status is not RequestStatus.OPEN:
        quoted = session.scalar(select(func.count()).select_from(Quote).where(
            Quote.request_id == request_id, Quote.seller_org_id == seller.organization_id))
        if not quoted:
            request = None
    if request is None:
        raise NotFound(f"There is no open request for quotes {request_id}.", code="request_not_found")
    return request


def quotes_of(session: Session, request_id: uuid.UUID, seller_org_id: uuid.UUID | None = None) -> list[Quote]:
    query = select(Quote).where(Quote.request_id == request_id)
    if seller_org_id is not None:
        query = query.where(Quote.seller_org_id == seller_org_id)
    return list(session.scalars(query.order_by(Quote.unit_price_fen, Quote.created_at, Quote.id)))


def quote_summaries(session: Session, request_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int | None]]:
    """Per request: (standing quotes, lowest standing unit price)."""
    if not request_ids:
        return {}
    rows = session.execute(select(Quote.request_id, func.count(), func.min(Quote.unit_price_fen))
                           .where(Quote.request_id.in_(request_ids), Quote.status == QuoteStatus.STANDING)
                           .group_by(Quote.request_id))
    return {request_id: (int(count), lowest) for request_id, count, lowest in rows}


def _release_budget(session: Session, request: QuoteRequest, amount_fen: int, leg: str, now: dt.datetime) -> None:
    ledger_store.apply(session, plan_release(str(request.buyer_org_id), amount_fen,
                                             f"{request_ref(request.id)}:{leg}"), at=now)


def _close(session: Session, request_id: uuid.UUID, status: RequestStatus, now: dt.datetime,
           quote_id: uuid.UUID | None = None) -> bool:
    """Move an open request to ``status``: True if this call did (exactly one racer does)."""
    changed = session.execute(update(QuoteRequest).where(QuoteRequest.id == request_id,
                                                         QuoteRequest.status == RequestStatus.OPEN)
                              .values(status=status, closed_at=now, awarded_quote_id=quote_id)
                              .execution_options(synchronize_session=False)).rowcount
    return changed == 1


def _request_closed(request_id: uuid.UUID) -> Conflict:
    return Conflict("This request is no longer open: a quote was awarded, or it was cancelled or expired.",
                    code="request_closed", details={"request_id": str(request_id)})


def cancel_request(session: Session, now: dt.datetime, buyer: User, request_id: uuid.UUID) -> QuoteRequest:
    """The buyer withdraws an open request: its budget is released, its quotes lose."""
    request = buyer_request(session, buyer, request_id)
    if not _close(session, request.id, RequestStatus.CANCELLED, now):
        raise _request_closed(request.id)
    _end_request(session, request, now, "close")
    audit.record(session, buyer, "rfq.cancelled", request_ref(request.id), {"released_fen": request.budget_fen})
    session.refresh(request)
    return request


def expire_request(session: Session, request: QuoteRequest, now: dt.datetime) -> bool:
    """No award by the auction's deadline or the latest start: release the budget (the sweep)."""
    if not _close(session, request.id, RequestStatus.EXPIRED, now):
        return False
    _end_request(session, request, now, "close")
    notify(session, request.buyer_org_id, NotificationKind.RFQ, None,
           f"询价「{request.title}」已到期，未选定报价；冻结的预算 {format_cny(request.budget_fen)} 已解冻。",
           f"Request for quotes “{request.title}” expired with no award; the budget of "
           f"{format_cny(request.budget_fen)} was released.", now)
    return True


def _end_request(session: Session, request: QuoteRequest, now: dt.datetime, leg: str) -> None:
    _release_budget(session, request, request.budget_fen, leg, now)
    session.execute(update(Quote).where(Quote.request_id == request.id, Quote.status == QuoteStatus.STANDING)
                    .values(status=QuoteStatus.LOST).execution_options(synchronize_session=False))


def accept_quote(session: Session, now: dt.datetime, buyer: User, request_id: uuid.UUID,
                 quote_id: uuid.UUID) -> QuoteContract:
    """The buyer accepts one standing quote of its open request (before an auction's deadline too): the contract."""
    request = buyer_request(session, buyer, request_id)
    quote = session.get(Quote, quote_id)
    if quote is None or quote.request_id != request.id:
        raise NotFound(f"Request {request_id} has no quote {quote_id}.", code="quote_not_found")
    if request.status is not RequestStatus.OPEN:
        raise _request_closed(request.id)
    if quote.status is not QuoteStatus.STANDING:
        raise Conflict("This quote was withdrawn by its seller.", code="quote_withdrawn",
                       details={"quote_id": str(quote_id)})
    if quote.deliver_by <= now:
        raise Conflict("This quote's delivery date has passed; choose another quote.", code="quote_stale",
                       details={"quote_id": str(quote_id), "deliver_by": quote.deliver_by.isoformat()})
    contract = award(session, request, quote, now)
    if contract is None:
        raise _request_closed(request.id)
    audit.record(session, buyer, "rfq.accepted", request_ref(request.id),
                 {"quote_id": quote.id, "contract_id": contract.id, "deposit_fen": contract.deposit_fen})
    return contract


def award(session: Session, request: QuoteRequest, quote: Quote, now: dt.datetime) -> QuoteContract | None:
    """Award ``quote``: the request closes (None if it was no longer open: someone else awarded or closed it), the
    quote wins and the others lose, the contract is made, and the budget beyond the deposit is released."""
    if not _close(session, request.id, RequestStatus.AWARDED, now, quote.id):
        return None
    deposit = rfq.contract_value_fen(request.billing_mode, quote.unit_price_fen, request.units,
                                     request.term_months, request.term_hours)
    assert deposit <= request.budget_fen, "a compliant quote costs at most the budget"
    session.execute(update(Quote).where(Quote.request_id == request.id, Quote.status == QuoteStatus.STANDING)
                    .values(status=QuoteStatus.LOST).execution_options(synchronize_session=False))
    session.execute(update(Quote).where(Quote.id == quote.id).values(status=QuoteStatus.WON)
                    .execution_options(synchronize_session=False))
    contract = QuoteContract(
        request_id=request.id, quote_id=quote.id, buyer_org_id=request.buyer_org_id,
        buyer_user_id=request.buyer_user_id, seller_org_id=quote.seller_org_id, datacenter_id=quote.datacenter_id,
        billing_mode=request.billing_mode, units=request.units, term_months=request.term_months,
        term_hours=request.term_hours, unit_price_fen=quote.unit_price_fen, deposit_fen=deposit,
        penalty_fen=quote.penalty_fen, start_at=quote.start_at, deliver_by=quote.deliver_by,
        status=ContractStatus.AWAITING_DELIVERY, penalty_paid_fen=0, penalty_unpaid_fen=0, created_at=now)
    session.add(contract)
    session.flush()
    if request.budget_fen > deposit:
        _release_budget(session, request, request.budget_fen - deposit, "award", now)
    title = request.title
    notify(session, request.buyer_org_id, NotificationKind.RFQ, None,
           f"询价「{title}」已成交：单价 {format_cny(quote.unit_price_fen)}，押金 {format_cny(deposit)} 托管至开始；"
           f"交付期限 {quote.deliver_by.isoformat(timespec='minutes')} (UTC)。",
           f"Request for quotes “{title}” was awarded at {format_cny(quote.unit_price_fen)} per unit; the deposit of "
           f"{format_cny(deposit)} stays in escrow until the start; delivery by "
           f"{quote.deliver_by.isoformat(timespec='minutes')} (UTC).", now)
    notify(session, quote.seller_org_id, NotificationKind.RFQ, None,
           f"您的报价中标：{request.units} 个单元，单价 {format_cny(quote.unit_price_fen)}；请在 "
           f"{quote.deliver_by.isoformat(timespec='minutes')} (UTC) 前交付，否则向买方支付违约金 "
           f"{format_cny(quote.penalty_fen)}。",
           f"Your quote won: {request.units} units at {format_cny(quote.unit_price_fen)} per unit; deliver by "
           f"{quote.deliver_by.isoformat(timespec='minutes')} (UTC), or pay the buyer the penalty of "
           f"{format_cny(quote.penalty_fen)}.", now)
    return contract


def close_auction(session: Session, request: QuoteRequest, now: dt.datetime) -> QuoteContract | None:
    """The auction's deadline has passed: the lowest compliant standing quote wins (ties: the earliest quote, then
    the smaller id); with none, the request expires. Quotes whose delivery date has passed no longer comply."""
    standing = [q for q in quotes_of(session, request.id) if q.status is QuoteStatus.STANDING]
    need = need_of(request)
    bids = [rfq.Bid(str(q.id), q.unit_price_fen, q.created_at) for q in standing
            if not rfq.shortfalls(need, _offer(session, q), now)]
    winner = rfq.auction_winner(bids)
    if winner is None:
        expire_request(session, request, now)
        return None
    quote = next(q for q in standing if str(q.id) == winner.quote_id)
    contract = award(session, request, quote, now)
    if contract is not None:
        audit.record(session, None, "rfq.auction_closed", request_ref(request.id),
                     {"quote_id": quote.id, "contract_id": contract.id, "bids": len(bids)})
    return contract


# ---------------------------------------------------------------- sellers

def _offer(session: Session, quote: Quote | None = None, *, chip: ChipModel | None = None,
           datacenter: Datacenter | None = None, body: QuoteIn | None = None) -> rfq.Offer:
    if quote is not None:
        chip = session.get_one(ChipModel, quote.chip_key)
        datacenter = session.get_one(Datacenter, quote.datacenter_id)
        return rfq.Offer(chip.key, chip.fp16_tflops, chip.memory_gib, quote.accelerators,
                         datacenter.region.province, quote.unit_price_fen, quote.start_at, quote.deliver_by,
                         quote.penalty_fen)
    assert chip is not None and datacenter is not None and body is not None
    return rfq.Offer(chip.key, chip.fp16_tflops, chip.memory_gib, body.accelerators, datacenter.region.province,
                     body.unit_price_fen, body.start_at, body.deliver_by, body.penalty_fen)


_SHORTFALL_TEXT = {
    rfq.Shortfall.CHIP: "the chip is not the one asked for",
    rfq.Shortfall.COMPUTE: "the chip's FP16 compute is below the minimum",
    rfq.Shortfall.MEMORY: "the chip's memory is below the minimum",
    rfq.Shortfall.ACCELERATORS: "a unit has fewer accelerators than asked",
    rfq.Shortfall.REGION: "the data center is not in the region asked for",
    rfq.Shortfall.PRICE: "the unit price is above the buyer's maximum",
    rfq.Shortfall.START: "the start is outside the buyer's window",
    rfq.Shortfall.DELIVERY: "the delivery date is after the start",
    rfq.Shortfall.DELIVERY_PAST: "the delivery date has passed",
}


def submit_quote(session: Session, now: dt.datetime, seller: User, request_id: uuid.UUID, body: QuoteIn) -> Quote:
    """A seller quotes on an open request, for one of its approved data centers; a quote that does not comply is
    refused (422 with the first shortfall's code and all of them in ``details.shortfalls``). One standing quote per
    seller and request: withdraw it to quote again."""
    _require(seller, Role.SELLER, "quote on requests")
    request = session.get(QuoteRequest, request_id)
    if request is None or request.status is not RequestStatus.OPEN:
        raise NotFound(f"There is no open request for quotes {request_id}.", code="request_not_found")
    if request.auction_closes_at is not None and now >= request.auction_closes_at:
        raise Conflict("This request's auction has closed.", code="auction_closed",
                       details={"auction_closes_at": request.auction_closes_at.isoformat()})
    datacenter = session.get(Datacenter, body.datacenter_id)
    if datacenter is None or datacenter.owner_org_id != seller.organization_id:
        raise NotFound(f"You have no data center {body.datacenter_id}.", code="datacenter_not_found")
    if datacenter.status is not DatacenterStatus.APPROVED:
        raise Conflict("Quote from an approved data center: an operator approves it first.",
                       code="datacenter_not_approved", details={"datacenter_id": str(datacenter.id)})
    chip = _chip(session, body.chip)
    found = rfq.shortfalls(need_of(request), _offer(session, chip=chip, datacenter=datacenter, body=body), now)
    if found:
        raise InvalidInput("This quote does not meet the request: " + "; ".join(_SHORTFALL_TEXT[f] for f in found)
                           + ".", code=found[0].value, details={"shortfalls": [f.value for f in found]})
    standing = session.scalar(select(func.count()).select_from(Quote).where(
        Quote.request_id == request.id, Quote.seller_org_id == seller.organization_id,
        Quote.status == QuoteStatus.STANDING))
    if standing:
        raise Conflict("You already have a standing quote on this request; withdraw it to quote again.",
                       code="already_quoted", details={"request_id": str(request.id)})
    quote = Quote(request_id=request.id, seller_org_id=seller.organization_id, datacenter_id=datacenter.id,
                  chip_key=chip.key, accelerators=body.accelerators, presale=body.presale,
                  unit_price_fen=body.unit_price_fen, start_at=body.start_at, deliver_by=body.deliver_by,
                  penalty_fen=body.penalty_fen, note=body.note, status=QuoteStatus.STANDING, created_at=now)
    session.add(quote)
    session.flush()
    audit.record(session, seller, "rfq.quoted", request_ref(request.id),
                 {"quote_id": quote.id, "unit_price_fen": quote.unit_price_fen, "presale": quote.presale})
    return quote


def withdraw_quote(session: Session, seller: User, quote_id: uuid.UUID) -> Quote:
    quote = session.get(Quote, quote_id)
    if quote is None or quote.seller_org_id != seller.organization_id:
        raise NotFound(f"You have no quote {quote_id}.", code="quote_not_found")
    changed = session.execute(update(Quote).where(Quote.id == quote_id, Quote.status == QuoteStatus.STANDING)
                              .values(status=QuoteStatus.WITHDRAWN)
                              .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise Conflict("Only a standing quote can be withdrawn; this one has won or lost.", code="quote_not_standing",
                       details={"status": quote.status.value})
    session.refresh(quote)
    audit.record(session, seller, "rfq.quote_withdrawn", request_ref(quote.request_id), {"quote_id": quote.id})
    return quote


def organization_names(session: Session, org_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not org_ids:
        return {}
    return dict(session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all())
