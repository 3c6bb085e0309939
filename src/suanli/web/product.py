"""A product's page (specs, prices per billing mode, availability, data center and region, its place in the price
index) and its order form."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request

from suanli.accounts.models import Role
from suanli.catalog.service import get_product
from suanli.core.billing import RESERVED_TERMS_MONTHS
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.instances.images import images_for
from suanli.instances.keys import list_keys
from suanli.trading import service as trading
from suanli.trading.endpoints import get_clock
from suanli.trading.placement import quote_order
from suanli.trading.schemas import OrderIn
from suanli.web.forms import Form, attempt, blank_to_none, cny_to_fen, form_values, translator, validate
from suanli.web.i18n import N_, ZH, request_locale
from suanli.web.presenters import chip_index, labeler, options, position_of, product_view
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import BuyerUser, PostedForm, WebUser

router = web_router()
register_notices(order_placed=N_("Your order is placed."),
                 order_pending=N_("Your order is accepted and waits for spot capacity to be handed over."),
                 order_provisioning=N_("Your order is placed: the machine is being delivered. Billing starts when "
                                       "it runs."))
ORDER_FIELDS = ["mode", "units", "term_months", "bid_cny", "idempotency_key", "image", "ports"]


def _page(request: Request, session: DbSession, product_id: uuid.UUID, form: Form, status_code: int = 200):
    user = getattr(request.state, "user", None)
    product = product_view(session, product_id, user)
    _ = translator(request)
    index = chip_index(request, session)
    label = labeler(request)
    modes = [(m, label("mode", m)) for m in product.billing_modes]
    terms = [(str(t), _("%(n)s months", n=t) if t > 1 else _("1 month")) for t in RESERVED_TERMS_MONTHS]
    offered = images_for(session, product.datacenter.id, product.kind, product.delivery,
                         product.chip.ecosystem if product.chip else None)
    buyer = user is not None and user.role is Role.BUYER
    return render(request, "storefront/product.html", {
        "quote": order_quote_view(request, session, product_id, form.values) if buyer else None,
        "image_options": [(o.image.key, o.image.name) for o in offered],
        "image_notes": {o.image.key: o.image.description_zh if request_locale(request) == ZH else o.image.description_en
                        for o in offered},
        "ssh_keys": list_keys(session, user) if buyer and offered else [],
        "p": product, "form": form, "position": position_of(product, index, _),
        "index": index.get(product.chip.key) if product.chip else None, "label": label, "mode_options": modes,
        "term_options": terms, "can_order": user is not None and user.role is Role.BUYER,
        "all_modes": options(request, "mode")}, status_code=status_code)


@router.get("/products/{product_id}")
def product_page(product_id: uuid.UUID, request: Request, session: DbSession, user: WebUser):
    """Prefill the order form from ``?mode=&units=&term_months=&bid_cny=`` (the advisor's "order" button)."""
    values: dict[str, Any] = {"mode": "on_demand", "units": "1", "idempotency_key": str(uuid.uuid4()),
                              "quote_hours": str(DEFAULT_QUOTE_HOURS)}
    for name in ("mode", "units", "term_months", "bid_cny", "quote_hours"):
        if request.query_params.get(name):
            values[name] = request.query_params[name]
    return _page(request, session, product_id, Form(values=values))


@router.get("/products/{product_id}/quote")
def order_quote(product_id: uuid.UUID, request: Request, session: DbSession, user: WebUser):
    """htmx: the order form's price box for what the form says now (the same code prices the order)."""
    values = {k: v for k, v in request.query_params.items() if k in (*ORDER_FIELDS, "quote_hours")}
    return render(request, "storefront/_quote.html", {"quote": order_quote_view(request, session, product_id, values)})


DEFAULT_QUOTE_HOURS = 24


def order_quote_view(request: Request, session: DbSession, product_id: uuid.UUID,
                     values: dict[str, Any]) -> dict[str, Any]:
    """What the order the form describes would cost — unit price, frozen now, charged now, per hour, the total of
    the planned hours or of the reserved term — or why it cannot be priced (in the form's words)."""
    _ = translator(request)
    form = Form(values=dict(values))
    mode = values.get("mode") or "on_demand"
    data = blank_to_none({"mode": mode, "units": values.get("units"),
                          "term_months": values.get("term_months") if mode == "reserved" else None})
    data["product_id"] = str(product_id)
    data["bid_hourly_fen"] = cny_to_fen(values.get("bid_cny"), "bid_cny", form, _) if mode == "spot" else None
    hours = None
    if mode != "reserved":
        try:
            hours = min(max(int(str(values.get("quote_hours") or DEFAULT_QUOTE_HOURS)), 1), 8784)
        except ValueError:
            form.error("quote_hours", _(N_("Enter a whole number of hours.")))
    body = validate(OrderIn, data, form, _, {"bid_hourly_fen": "bid_cny"})
    if body is None or not form.ok:
        return {"problem": next(iter(form.errors.values()), None) or (form.top[0] if form.top else None)}
    try:
        product = get_product(session, product_id, getattr(request.state, "user", None))
        q = quote_order(product, body, hours)
    except DomainError as exc:
        form.fail(exc, _, {"bid_hourly_fen": "bid_cny"})
        return {"problem": next(iter(form.errors.values()), None) or form.top[0]}
    return {"problem": None, "mode": body.mode.value, "units": body.units, "term_months": body.term_months,
            "unit_price_fen": q.unit_price_fen, "frozen_now_fen": q.frozen_now_fen,
            "charged_now_fen": q.charged_now_fen, "per_hour_fen": q.per_hour_fen, "hours": q.hours,
            "total_fen": q.total_fen, "short_of_units": body.units > product.stock_units - product.allocated_units}


@router.post("/products/{product_id}/order")
def place_order(product_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, ORDER_FIELDS))
    data = blank_to_none({k: v for k, v in form.values.items() if k in ("mode", "units", "term_months", "image")})
    data["product_id"] = str(product_id)
    ports = str(form.values.get("ports") or "").replace(",", " ").split()
    if ports:
        data["ports"] = ports
    data["bid_hourly_fen"] = cny_to_fen(form.values.get("bid_cny"), "bid_cny", form, _)
    if data.get("mode") != "reserved":
        data["term_months"] = None
    if data.get("mode") != "spot":
        data["bid_hourly_fen"] = None
    body = validate(OrderIn, data, form, _, {"bid_hourly_fen": "bid_cny"})
    order = None
    if body is not None and form.ok:
        key = str(form.values.get("idempotency_key") or "") or None
        try:
            with attempt(session):
                order, _created = trading.place_order(session, get_clock(request), buyer, body, key)
        except DomainError as exc:
            form.fail(exc, _, {"bid_hourly_fen": "bid_cny"})
    if order is None:
        return _page(request, session, product_id, form, status_code=400)
    notice = {"pending": "order_pending", "provisioning": "order_provisioning"}.get(order.status.value, "order_placed")
    return redirect(f"/account/orders/{order.id}", notice=notice)
