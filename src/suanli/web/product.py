"""A product's page (specs, prices per billing mode, availability, data center and region, its place in the price
index) and its order form."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request

from suanli.accounts.models import Role
from suanli.core.billing import RESERVED_TERMS_MONTHS
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.instances.images import images_for
from suanli.instances.keys import list_keys
from suanli.trading import service as trading
from suanli.trading.endpoints import get_clock
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
    """Prefill the order form from ``?mode=&units=&term_months=`` (the advisor's "order" button)."""
    values: dict[str, Any] = {"mode": "on_demand", "units": "1", "idempotency_key": str(uuid.uuid4())}
    for name in ("mode", "units", "term_months", "bid_cny"):
        if request.query_params.get(name):
            values[name] = request.query_params[name]
    return _page(request, session, product_id, Form(values=values))


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
