"""Requests for quotes (询价) in the consoles: buyers post, compare quotes, accept or cancel and follow the contract;
sellers see open requests without the buyer, quote (pre-sale too) and confirm delivery. The same services as the
API (``suanli.quotes``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import select

from suanli.catalog.models import Datacenter, DatacenterStatus, Product
from suanli.core import rfq
from suanli.core.billing import RESERVED_TERMS_MONTHS
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.quotes import contracts, service
from suanli.quotes.models import QuoteContract
from suanli.quotes.schemas import QuoteIn, RequestIn
from suanli.trading.endpoints import get_clock
from suanli.web.forms import Form, attempt, blank_to_none, cny_to_fen, form_values, translator, validate
from suanli.web.i18n import N_
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import BuyerUser, PostedForm, SellerUser

router = web_router()
register_notices(rfq_posted=N_("The request is posted: its budget is frozen in your wallet until an award, a "
                               "cancellation or the expiry."),
                 rfq_cancelled=N_("The request is cancelled and its budget released."),
                 rfq_accepted=N_("The quote is accepted: the deposit stays in escrow until the start."),
                 quote_sent=N_("Your quote is sent."),
                 quote_withdrawn=N_("Your quote is withdrawn."),
                 contract_delivered=N_("Delivery confirmed."))

STATUS_LABELS = {"open": N_("Open"), "awarded": N_("Awarded"), "cancelled": N_("Cancelled"), "expired": N_("Expired"),
                 "standing": N_("Standing"), "won": N_("Won"), "lost": N_("Lost"), "withdrawn": N_("Withdrawn"),
                 "awaiting_delivery": N_("Awaiting delivery"), "delivered": N_("Delivered, waiting for the start"),
                 "started": N_("Started"), "failed": N_("Failed: refunded")}
MODE_LABELS = {"reserved": N_("Reserved (per month)"), "on_demand": N_("On demand (per hour)")}
REQUEST_FIELDS = ["title", "chip", "min_fp16_tflops", "min_memory_gib", "accelerators", "units", "billing_mode",
                  "term_months", "term_hours", "earliest_start", "latest_start", "province", "max_price",
                  "auction_closes_at"]
QUOTE_FIELDS = ["datacenter_id", "chip", "accelerators", "presale", "price", "start_at", "deliver_by", "penalty",
                "note"]


def _labels(request: Request) -> dict[str, Any]:
    _ = translator(request)
    return {"status": {k: _(v) for k, v in STATUS_LABELS.items()}, "mode": {k: _(v) for k, v in MODE_LABELS.items()}}


def _with_zone(value: Any) -> Any:
    """A ``datetime-local`` field has no zone: it is Beijing time."""
    if isinstance(value, str) and value.strip() and len(value.strip()) <= 19:
        return value.strip() + (":00" if len(value.strip()) == 16 else "") + "+08:00"
    return value


# ---------------------------------------------------------------- buyers

def _buyer_list(request: Request, session: DbSession, buyer: Any, form: Form | None = None, status_code: int = 200):
    requests, total = service.buyer_requests(session, buyer, status=None, limit=100, offset=0)
    summaries = service.quote_summaries(session, [r.id for r in requests])
    return render(request, "buyer/rfqs.html", {
        "requests": requests, "total": total, "summaries": summaries, "form": form or Form(values={
            "accelerators": "8", "units": "1", "billing_mode": "reserved", "term_months": "1"}),
        "labels": _labels(request), "term_options": [(t, str(t)) for t in RESERVED_TERMS_MONTHS]}, status_code=status_code)


@router.get("/account/rfqs")
def buyer_requests(request: Request, session: DbSession, buyer: BuyerUser):
    return _buyer_list(request, session, buyer)


@router.post("/account/rfqs")
def post_request(request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, REQUEST_FIELDS))
    data = blank_to_none(dict(form.values))
    data["max_unit_price_fen"] = cny_to_fen(data.pop("max_price", None), "max_price", form, _)
    for name in ("earliest_start", "latest_start", "auction_closes_at"):
        data[name] = _with_zone(data.get(name))
    if data.get("billing_mode") == "on_demand":
        data.pop("term_months", None)
    else:
        data.pop("term_hours", None)
    body = validate(RequestIn, blank_to_none(data), form, _, {"max_unit_price_fen": "max_price"})
    if body is None or not form.ok:
        return _buyer_list(request, session, buyer, form, status_code=400)
    try:
        with attempt(session):
            created = service.post_request(session, get_clock(request).now(), buyer, body)
    except DomainError as exc:
        form.fail(exc, _)
        return _buyer_list(request, session, buyer, form, status_code=402 if exc.status == 402 else 400)
    return redirect(f"/account/rfqs/{created.id}", notice="rfq_posted")


def _buyer_page(request: Request, session: DbSession, buyer: Any, rfq_id: uuid.UUID, form: Form | None = None,
                status_code: int = 200):
    item = service.buyer_request(session, buyer, rfq_id)
    quotes = service.quotes_of(session, item.id)
    contract = session.scalar(select(QuoteContract).where(QuoteContract.request_id == item.id))
    return render(request, "buyer/rfq.html", {
        "item": item, "quotes": quotes, "contract": contract, "form": form or Form(), "labels": _labels(request),
        "sellers": service.organization_names(session, {q.seller_org_id for q in quotes}),
        "datacenters": _datacenters(session, {q.datacenter_id for q in quotes}),
        "totals": {q.id: rfq.contract_value_fen(item.billing_mode, q.unit_price_fen, item.units, item.term_months,
                                                item.term_hours) for q in quotes}}, status_code=status_code)


def _datacenters(session: DbSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Datacenter]:
    return {d.id: d for d in session.scalars(select(Datacenter).where(Datacenter.id.in_(ids)))} if ids else {}


@router.get("/account/rfqs/{rfq_id}")
def buyer_request(rfq_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser):
    return _buyer_page(request, session, buyer, rfq_id)


def _buyer_action(request: Request, session: DbSession, buyer: Any, rfq_id: uuid.UUID, action, notice: str):
    form = Form()
    try:
        with attempt(session):
            action()
    except DomainError as exc:
        form.fail(exc, translator(request))
        return _buyer_page(request, session, buyer, rfq_id, form, status_code=409 if exc.status == 409 else 400)
    return redirect(f"/account/rfqs/{rfq_id}", notice=notice)


@router.post("/account/rfqs/{rfq_id}/accept")
def accept(rfq_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    try:
        quote_id = uuid.UUID(str(posted.get("quote_id", "")))
    except ValueError:
        return _buyer_page(request, session, buyer, rfq_id, Form(top=[translator(request)(N_(
            "Choose a quote."))]), status_code=400)
    return _buyer_action(request, session, buyer, rfq_id, lambda: service.accept_quote(
        session, get_clock(request).now(), buyer, rfq_id, quote_id), "rfq_accepted")


@router.post("/account/rfqs/{rfq_id}/cancel")
def cancel(rfq_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    return _buyer_action(request, session, buyer, rfq_id, lambda: service.cancel_request(
        session, get_clock(request).now(), buyer, rfq_id), "rfq_cancelled")


# ---------------------------------------------------------------- sellers

@router.get("/seller/rfqs")
def seller_requests(request: Request, session: DbSession, seller: SellerUser):
    requests, total = service.open_requests(session, limit=100, offset=0)
    mine, _total = contracts.contracts_for(session, seller, status=None, limit=100, offset=0)
    return render(request, "seller/rfqs.html", {
        "requests": requests, "total": total, "summaries": service.quote_summaries(session, [r.id for r in requests]),
        "contracts": mine, "labels": _labels(request), "products": _products_for(session, mine), "form": Form(),
        "seller_org": seller.organization_id})


def _products_for(session: DbSession, mine: list[QuoteContract]) -> dict[uuid.UUID, list[Product]]:
    """Per contract awaiting delivery: the products of its data center, to deliver with."""
    waiting = {c.datacenter_id for c in mine if c.status.value == "awaiting_delivery"}
    by_dc: dict[uuid.UUID, list[Product]] = {}
    if waiting:
        for product in session.scalars(select(Product).where(Product.datacenter_id.in_(waiting))
                                       .order_by(Product.name)):
            by_dc.setdefault(product.datacenter_id, []).append(product)
    return {c.id: by_dc.get(c.datacenter_id, []) for c in mine}


def _seller_page(request: Request, session: DbSession, seller: Any, rfq_id: uuid.UUID, form: Form | None = None,
                 status_code: int = 200):
    item = service.seller_request(session, seller, rfq_id)
    datacenters = list(session.scalars(select(Datacenter).where(
        Datacenter.owner_org_id == seller.organization_id, Datacenter.status == DatacenterStatus.APPROVED)
        .order_by(Datacenter.name)))
    summary = service.quote_summaries(session, [item.id]).get(item.id, (0, None))
    return render(request, "seller/rfq.html", {
        "item": item, "quotes": service.quotes_of(session, item.id, seller.organization_id), "summary": summary,
        "dc_options": [(str(d.id), f"{d.name} · {d.region.province}") for d in datacenters],
        "labels": _labels(request),
        "form": form or Form(values={"chip": item.chip_key or "", "accelerators": str(item.accelerators),
                                     "presale": "on"})}, status_code=status_code)


@router.get("/seller/rfqs/{rfq_id}")
def seller_request(rfq_id: uuid.UUID, request: Request, session: DbSession, seller: SellerUser):
    return _seller_page(request, session, seller, rfq_id)


@router.post("/seller/rfqs/{rfq_id}/quotes")
def send_quote(rfq_id: uuid.UUID, request: Request, session: DbSession, seller: SellerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, QUOTE_FIELDS))
    data = blank_to_none(dict(form.values))
    data["unit_price_fen"] = cny_to_fen(data.pop("price", None), "price", form, _)
    penalty = data.pop("penalty", None)
    data["penalty_fen"] = 0 if penalty in (None, "0") else cny_to_fen(penalty, "penalty", form, _)
    data["presale"] = data.get("presale") == "on"
    for name in ("start_at", "deliver_by"):
        data[name] = _with_zone(data.get(name))
    body = validate(QuoteIn, blank_to_none(data) | {"presale": data["presale"]}, form, _,
                    {"unit_price_fen": "price", "penalty_fen": "penalty"})
    if body is None or not form.ok:
        return _seller_page(request, session, seller, rfq_id, form, status_code=400)
    try:
        with attempt(session):
            service.submit_quote(session, get_clock(request).now(), seller, rfq_id, body)
    except DomainError as exc:
        form.fail(exc, _)
        return _seller_page(request, session, seller, rfq_id, form, status_code=409 if exc.status == 409 else 400)
    return redirect(f"/seller/rfqs/{rfq_id}", notice="quote_sent")


@router.post("/seller/quotes/{quote_id}/withdraw")
def withdraw(quote_id: uuid.UUID, request: Request, session: DbSession, seller: SellerUser, posted: PostedForm):
    quote = service.withdraw_quote(session, seller, quote_id)
    return redirect(f"/seller/rfqs/{quote.request_id}", notice="quote_withdrawn")


@router.post("/seller/contracts/{contract_id}/deliver")
def deliver(contract_id: uuid.UUID, request: Request, session: DbSession, seller: SellerUser, posted: PostedForm):
    _ = translator(request)
    try:
        product_id = uuid.UUID(str(posted.get("product_id", "")))
        with attempt(session):
            contracts.deliver(session, get_clock(request), seller, contract_id, product_id)
    except (ValueError, DomainError) as exc:
        mine, _total = contracts.contracts_for(session, seller, status=None, limit=100, offset=0)
        requests, total = service.open_requests(session, limit=100, offset=0)
        form = Form()
        if isinstance(exc, DomainError):
            form.fail(exc, _)
        else:
            form.top.append(_(N_("Choose the product that carries the capacity.")))
        return render(request, "seller/rfqs.html", {
            "requests": requests, "total": total,
            "summaries": service.quote_summaries(session, [r.id for r in requests]), "contracts": mine,
            "labels": _labels(request), "products": _products_for(session, mine), "form": form,
            "seller_org": seller.organization_id}, status_code=409)
    return redirect("/seller/rfqs", notice="contract_delivered")
