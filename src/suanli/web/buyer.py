"""The buyer console: wallet and ledger, orders and leases (release, cancel, extend)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import Datacenter, Product
from suanli.core import billing
from suanli.core.billing import RESERVED_TERMS_MONTHS
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.jobs import held
from suanli.trading import service as trading
from suanli.trading.endpoints import get_clock
from suanli.trading.models import Order, OrderMode, OrderStatus
from suanli.trading.schemas import ExtendIn
from suanli.web.forms import Form, attempt, form_values, translator, validate
from suanli.web.confirm import Confirmation, confirm_page, confirmed
from suanli.web.i18n import N_, format_money
from suanli.web.instances import order_instances_context
from suanli.web.money_pages import ledger_context
from suanli.web.presenters import labeler, options
from suanli.web.listing import ListingQuery
from suanli.web.render import PageOffset, redirect, register_notices, render, web_router
from suanli.web.security import BuyerUser, PostedForm

router = web_router(prefix="/account")
register_notices(order_released=N_("The lease is released: the seconds used are charged, the rest of the hold is "
                                   "back in your wallet."),
                 order_cancelled=N_("The order is cancelled, free of charge."),
                 order_extended=N_("The reservation is extended."))
ORDER_SORT_LABELS = {"-created": N_("Newest first"), "created": N_("Oldest first"), "-charged": N_("Most charged"),
                     "-held": N_("Most held")}


def order_sort_options(_: Any) -> list[tuple[str, str]]:
    """The sorts of an order list (the buyer's and the seller's), in the page's language."""
    return [(key, _(text)) for key, text in ORDER_SORT_LABELS.items()]


def order_names(session: Session, orders: list[Order]) -> dict[str, dict[Any, str]]:
    """Product and data-center names of some orders, in two queries."""
    product_ids = {o.product_id for o in orders}
    dc_ids = {o.datacenter_id for o in orders}
    return {"products": dict(session.execute(select(Product.id, Product.name).where(Product.id.in_(product_ids)))
                             .all()) if product_ids else {},
            "datacenters": dict(session.execute(select(Datacenter.id, Datacenter.name)
                                                .where(Datacenter.id.in_(dc_ids))).all()) if dc_ids else {}}


@router.get("")
def overview(request: Request, session: DbSession, buyer: BuyerUser, offset: PageOffset = 0):
    """Wallet (available, held) and the organization's ledger entries."""
    offset = max(0, offset)
    wallet = trading.wallet(session, buyer)
    running, _running_total = trading.list_orders(session, buyer, status=OrderStatus.ACTIVE, limit=5)
    notes, _n = trading.list_notifications(session, buyer, unread=True, limit=5)
    return render(request, "buyer/overview.html", {
        "wallet": wallet, **ledger_context(request, session, buyer.organization_id, offset, order_url="/account/orders"),
        "running": running, "names": order_names(session, running), "notifications": notes})


@router.get("/orders")
def orders(request: Request, session: DbSession, buyer: BuyerUser, listing: ListingQuery, status: str | None = None):
    wanted = OrderStatus(status) if status in OrderStatus._value2member_map_ else None
    sort = listing.sorted_by(trading.ORDER_SORTS, "-created")
    rows, total = trading.list_orders(session, buyer, status=wanted, text=listing.q, sort=sort, limit=listing.limit,
                                      offset=listing.offset)
    _ = translator(request)
    return render(request, "buyer/orders.html", {
        "orders": rows, "total": total, "offset": listing.offset, "limit": listing.limit, "status": wanted,
        "listing": listing, "sort": sort, "sort_options": order_sort_options(_),
        "names": order_names(session, rows), "label": labeler(request),
        "status_options": options(request, "order_status", blank=_(N_("All orders")))})


def _order_page(request: Request, session: DbSession, buyer: Any, order_id: uuid.UUID, form: Form | None = None,
                status_code: int = 200):
    order = trading.get_order(session, buyer, order_id)
    usage = trading.list_usage(session, buyer, order_id)
    _ = translator(request)
    terms = [(str(t), _("%(n)s months", n=t) if t > 1 else _("1 month")) for t in RESERVED_TERMS_MONTHS]
    machines = order_instances_context(session, buyer, order.id) if order.delivers_instances else {}
    held_use = None if order.delivers_instances else held.on_order(session, buyer.organization_id,
                                                                    session.get_one(Order, order.id))
    return render(request, "buyer/order.html", {
        "held_use": held_use,
        "order": order, "usage": usage, "names": order_names(session, [order]), "label": labeler(request),
        "form": form or Form(values={"term_months": "1"}), "term_options": terms, **machines,
        "can_release": order.status is OrderStatus.ACTIVE and order.mode is not OrderMode.RESERVED,
        "can_cancel": order.status in (OrderStatus.PENDING, OrderStatus.PROVISIONING)
        or (order.status is OrderStatus.ACTIVE and order.mode is not OrderMode.RESERVED),
        "can_extend": order.status is OrderStatus.ACTIVE and order.mode is OrderMode.RESERVED,
    }, status_code=status_code)


@router.get("/orders/{order_id}")
def order_page(order_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser):
    return _order_page(request, session, buyer, order_id)


def _order_action(request: Request, session: DbSession, buyer: Any, order_id: uuid.UUID, action, notice: str):
    _ = translator(request)
    form = Form()
    try:
        with attempt(session):
            action()
    except DomainError as exc:
        form.fail(exc, _)
        return _order_page(request, session, buyer, order_id, form, status_code=409 if exc.status == 409 else 400)
    return redirect(f"/account/orders/{order_id}", notice=notice)


@router.post("/orders/{order_id}/release")
def release(order_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    if not confirmed(posted):
        return _confirm_order_end(request, session, buyer, order_id, "release")
    return _order_action(request, session, buyer, order_id,
                         lambda: trading.release_order(session, get_clock(request), buyer, order_id), "order_released")


@router.post("/orders/{order_id}/cancel")
def cancel(order_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    if not confirmed(posted):
        return _confirm_order_end(request, session, buyer, order_id, "cancel")
    return _order_action(request, session, buyer, order_id,
                         lambda: trading.cancel_order(session, get_clock(request), buyer, order_id), "order_cancelled")


def _confirm_order_end(request: Request, session: DbSession, buyer: Any, order_id: uuid.UUID, action: str):
    """Before a release or a cancel: what the order has used so far (the per-second charge up to now, by the
    billing code's own rule), what is held, and what goes back to the wallet."""
    _ = translator(request)
    order = trading.get_order(session, buyer, order_id)
    in_hand = order.held_fen + order.charged_fen
    if action == "cancel":
        used, title = 0, _(N_("Cancel this order free of charge?"))
        explanation = _(N_("Nothing is charged: the whole amount goes back to your wallet, and the units are freed."))
        button = _(N_("Cancel the order"))
    else:
        seconds = billing.elapsed_seconds(order.started_at, get_clock(request).now()) if order.started_at else 0
        used = min(in_hand, billing.charge_for_seconds(order.unit_price_fen, order.units, seconds))
        title = _(N_("Release this order now?"))
        explanation = _(N_("The lease stops now: the seconds used are charged, the rest goes back to your wallet."))
        button = _(N_("Release now"))
    lines = [(_(N_("Order")), f"{order_names(session, [order])['products'].get(order.product_id, '')} × {order.units}"),
             (_(N_("Paid or held for it")), format_money(in_hand)),
             (_(N_("Charged for the time used, about")), format_money(used)),
             (_(N_("Back to your wallet, about")), format_money(in_hand - used))]
    return confirm_page(request, Confirmation(
        title=title, lines=lines, explanation=explanation, action=f"/account/orders/{order_id}/{action}", fields=[],
        button=button, back_url=f"/account/orders/{order_id}", danger=action == "release"))


@router.post("/orders/{order_id}/extend")
def extend(order_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, ["term_months", "idempotency_key"]))
    body = validate(ExtendIn, {"term_months": form.values.get("term_months")}, form, _)
    if body is None:
        return _order_page(request, session, buyer, order_id, form, status_code=400)
    key = str(form.values.get("idempotency_key") or "") or None
    return _order_action(request, session, buyer, order_id,
                         lambda: trading.extend_order(session, get_clock(request), buyer, order_id, body, key),
                         "order_extended")
