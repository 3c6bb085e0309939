"""Machines leases deliver, on the pages: the buyer's SSH keys and the instances of an order (SSH command,
JupyterLab link, exposed ports; polled while they are being delivered), and the seller's instances to deliver by
hand."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import select

from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.instances import keys as key_service
from suanli.instances import service as instances
from suanli.instances.models import DeliveryMethod, InstanceState
from suanli.instances.schemas import ManualDeliveryIn
from suanli.trading import service as trading
from suanli.trading.endpoints import get_clock
from suanli.trading.models import Order, OrderStatus
from suanli.web.forms import Form, attempt, error_message, form_values, translator
from suanli.web.i18n import N_
from suanli.web.presenters import labeler
from suanli.web.listing import Listing, ListingQuery
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import BuyerUser, PostedForm, SellerUser

router = web_router()
register_notices(ssh_key_added=N_("Your SSH key is added. Machines you rent from now on get it."),
                 ssh_key_deleted=N_("The SSH key is deleted. Machines already delivered keep it."),
                 instance_delivered=N_("The machine is delivered; the buyer sees how to log in."),
                 instance_refused=N_("The lease is cancelled and refunded in full; the buyer is told your reason."))
KEY_FIELDS = ["public_key", "name"]
DELIVER_FIELDS = ["ssh_host", "ssh_port", "ssh_user", "host_key_fingerprints", "password", "jupyter_url", "note"]


# ---------------------------------------------------------------- buyer: SSH keys

def _keys_page(request: Request, session: DbSession, buyer: Any, form: Form | None = None, status_code: int = 200):
    return render(request, "buyer/keys.html", {"keys": key_service.list_keys(session, buyer),
                                               "form": form or Form()}, status_code=status_code)


@router.get("/account/keys")
def keys_page(request: Request, session: DbSession, buyer: BuyerUser):
    return _keys_page(request, session, buyer)


@router.post("/account/keys")
def add_key(request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, KEY_FIELDS))
    text = str(form.values.get("public_key") or "")
    if not text.strip():
        form.error("public_key", _(N_("This field is required.")))
        return _keys_page(request, session, buyer, form, status_code=400)
    try:
        with attempt(session):
            key_service.add_key(session, buyer, text[:20_000], str(form.values.get("name") or "")[:100] or None,
                                get_clock(request).now())
    except DomainError as exc:
        form.values["public_key"] = ""  # never echo what was pasted (it may be a private key)
        form.fail(exc, _, {"public_key": "public_key", "name": "name"})
        return _keys_page(request, session, buyer, form, status_code=409 if exc.status == 409 else 400)
    return redirect("/account/keys", notice="ssh_key_added")


@router.post("/account/keys/{key_id}/delete")
def delete_key(key_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, _posted: PostedForm):
    _ = translator(request)
    try:
        with attempt(session):
            key_service.delete_key(session, buyer, key_id)
    except DomainError as exc:
        form = Form()
        form.fail(exc, _)
        return _keys_page(request, session, buyer, form, status_code=404)
    return redirect("/account/keys", notice="ssh_key_deleted")


# ---------------------------------------------------------------- buyer: an order's machines

def order_instances_context(session: DbSession, buyer: Any, order_id: uuid.UUID) -> dict[str, Any]:
    """The order's machines, and whether the page should follow them (poll): while any is being delivered or
    stopped, or still runs although its lease ended (the loop stops it within seconds)."""
    rows = instances.instances_of_order(session, order_id)
    views = [instances.instance_out(i, buyer) for i in rows]
    order_status = session.scalar(select(Order.status).where(Order.id == order_id))
    waiting = any(i.state in (InstanceState.PENDING, InstanceState.PROVISIONING, InstanceState.STOPPING)
                  or (i.state is InstanceState.RUNNING and order_status is not OrderStatus.ACTIVE) for i in rows)
    return {"instances": views, "instances_waiting": waiting, "order_id": order_id}


@router.get("/account/orders/{order_id}/instances")
def order_instances(order_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser):
    """The machines of an order (an htmx fragment, polled while any is being delivered or stopped)."""
    order = trading.get_order(session, buyer, order_id)
    return render(request, "buyer/_instances.html", {**order_instances_context(session, buyer, order.id),
                                                     "label": labeler(request)})


# ---------------------------------------------------------------- seller: delivering by hand

INSTANCE_SORT_LABELS = {"-created": N_("Newest first"), "created": N_("Oldest first")}


def _seller_page(request: Request, session: DbSession, seller: Any, forms: dict[str, Form] | None = None,
                 status_code: int = 200, listing: Listing | None = None, state: str | None = None):
    listing = listing or Listing(q="", sort=None, offset=0)
    sort = listing.sorted_by(instances.INSTANCE_SORTS, "-created")
    wanted = InstanceState(state) if state in InstanceState._value2member_map_ else None
    waiting, _w = instances.list_instances(session, seller, state=InstanceState.PROVISIONING, limit=200)
    waiting = [i for i in waiting if i.delivery is DeliveryMethod.MANUAL]
    recent, total = instances.list_instances(session, seller, state=wanted, text=listing.q, sort=sort,
                                             limit=listing.limit, offset=listing.offset)
    _ = translator(request)
    label = labeler(request)
    return render(request, "seller/instances.html", {
        "waiting": [instances.instance_out(i, seller) for i in waiting],
        "recent": [instances.instance_out(i, seller) for i in recent], "total": total,
        "offset": listing.offset, "limit": listing.limit, "forms": forms or {}, "label": label,
        "listing": listing, "sort": sort, "state": wanted.value if wanted else "",
        "sort_options": [(key, _(text)) for key, text in INSTANCE_SORT_LABELS.items()],
        "state_options": [("", _(N_("All machines")))] + [(s.value, label("instance_state", s.value))
                                                          for s in InstanceState]}, status_code=status_code)


@router.get("/seller/instances")
def seller_instances(request: Request, session: DbSession, seller: SellerUser, listing: ListingQuery,
                     state: str | None = None):
    return _seller_page(request, session, seller, listing=listing, state=state)


@router.post("/seller/instances/{instance_id}/deliver")
def deliver(instance_id: uuid.UUID, request: Request, session: DbSession, seller: SellerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, DELIVER_FIELDS))
    data = {k: (str(v).strip() or None) for k, v in form.values.items()}
    data["host_key_fingerprints"] = (data.get("host_key_fingerprints") or "").split()
    if data.get("ssh_port") is None:
        data.pop("ssh_port")
    try:
        body = ManualDeliveryIn.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error.get("loc") else ""
            form.error(name if name in DELIVER_FIELDS else "ssh_host", error_message(error, _))
        return _seller_page(request, session, seller, {str(instance_id): form}, status_code=400)
    try:
        with attempt(session):
            instances.deliver_by_hand(session, get_clock(request), seller, instance_id, body)
    except DomainError as exc:
        form.fail(exc, _)
        return _seller_page(request, session, seller, {str(instance_id): form},
                            status_code=exc.status if exc.status in (404, 409) else 400)
    return redirect("/seller/instances", notice="instance_delivered")


@router.post("/seller/instances/{instance_id}/refuse")
def refuse(instance_id: uuid.UUID, request: Request, session: DbSession, seller: SellerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, ["reason"]))
    try:
        with attempt(session):
            instances.refuse_delivery(session, get_clock(request), seller, instance_id,
                                      str(form.values.get("reason") or "")[:200])
    except DomainError as exc:
        form.fail(exc, _)
        return _seller_page(request, session, seller, {str(instance_id): form},
                            status_code=exc.status if exc.status in (404, 409) else 400)
    return redirect("/seller/instances", notice="instance_refused")
