"""The seller console's products: list, create, edit (stock, prices per billing mode, term discounts), unlist and
list again. Prices are typed in CNY and validated on the server with the API's schemas; errors go next to the
field."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from urllib.parse import parse_qsl

from fastapi import Query, Request

from suanli.catalog import service as catalog
from suanli.catalog.models import Datacenter, Product, ProductKind, ProductStatus
from suanli.catalog.own_products import DEFAULT_OWN_SORT, OWN_SORTS, own_products
from suanli.catalog.schemas import BULK_MAX_PRODUCTS, ProductBulkIn, ProductIn, ProductPatch
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.web.forms import (Form, attempt, blank_to_none, cny_to_fen, form_values, translator,
                              validate)
from suanli.web.i18n import N_, format_money
from suanli.web.presenters import labeler, options
from suanli.web.listing import Listing, ListingQuery, listing_query
from suanli.web.render import (MAX_OFFSET, address_with, redirect, register_notices, render, safe_next,
                               web_router)
from suanli.web.security import PostedForm, SellerUser
from suanli.web.seller_price_guard import CHECK_LABELS, CONFIRM_FIELD, price_reference, show_unusual_prices
from suanli.web.seller import fail, seller_datacenters

router = web_router(prefix="/seller/products")
register_notices(product_created=N_("Your product is saved."), product_saved=N_("Your changes are saved."),
                 product_unlisted=N_("The product is taken out of the catalog. Running orders go on."),
                 product_listed=N_("The product is listed again."),
                 products_repriced=N_("The prices of the products you ticked are changed."),
                 products_listed=N_("The products you ticked are listed."),
                 products_unlisted=N_("The products you ticked are taken out of the catalog. Running orders go on."))
CHIP_REQUIRED = N_("An accelerator server needs a chip.")
SPOT_ABOVE_ON_DEMAND = N_("The spot floor must not exceed the on-demand price.")
PRICE_NOT_POSITIVE = N_("A price must be more than 0 yuan: type it in yuan, such as 80 or 80.50.")
PRICE_TOO_HIGH = N_("A price can be at most %(max)s.")
PRICE_MAX_FEN = {"price_on_demand_fen": 100_000_000, "price_reserved_month_fen": 10_000_000_000,
                 "price_spot_floor_fen": 100_000_000}  # as HourlyFen and MonthlyFen in catalog.schemas
PRODUCT_CODE_FIELDS = {"chip_required": "chip", "unknown_chip": "chip", "accelerators_required": "accelerators",
                       "chip_not_allowed": "chip", "spot_above_on_demand": "price_spot_floor",
                       "stock_below_allocated": "stock_units", "datacenter_not_found": "datacenter_id",
                       "not_owner": "datacenter_id"}

PRICE_FIELDS = {"price_on_demand": "price_on_demand_fen", "price_reserved_month": "price_reserved_month_fen",
                "price_spot_floor": "price_spot_floor_fen"}
TERMS = ("3", "6", "12")
FIELD_MAP = {**{fen: typed for typed, fen in PRICE_FIELDS.items()},
             **{f"reserved_discounts_bp.{t}": f"discount_{t}" for t in TERMS}}
SPEC_FIELDS = ["datacenter_id", "kind", "chip", "accelerators", "vcpus", "memory_gib", "disk_gib", "network_gbps",
               "delivery"]
EDIT_FIELDS = ["name", "stock_units", *PRICE_FIELDS, *(f"discount_{t}" for t in TERMS), CONFIRM_FIELD]
NEW_FIELDS = [*SPEC_FIELDS, *EDIT_FIELDS, "listed"]


def percent_to_bp(text: Any, name: str, form: Form, _: Any, maximum: int = 50) -> int | None:
    """A percentage typed by a person (``5``, ``7.5``) as basis points, 0 to ``maximum`` %; blank is none.
    Errors next to ``name``."""
    if text is None or not str(text).strip():
        return None
    try:
        value = Decimal(str(text).strip().removesuffix("%"))
    except InvalidOperation:
        form.error(name, _(N_("Enter a percentage, such as 5 or 7.5.")))
        return None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(maximum):
        form.error(name, _(N_("Enter a percentage from 0 to %(max)s."), max=maximum))
        return None
    bp = value * 100
    if bp != bp.to_integral_value():
        form.error(name, _(N_("At most %(decimal_places)s decimal places."), decimal_places="2"))
        return None
    return int(bp)


def _prices_and_discounts(form: Form, _: Any) -> dict[str, Any]:
    """The typed prices (CNY → fen) and discounts (% → basis points), checked against each other."""
    data: dict[str, Any] = {fen: cny_to_fen(form.values.get(typed), typed, form, _, zero=PRICE_NOT_POSITIVE)
                            for typed, fen in PRICE_FIELDS.items()}
    for typed, fen in PRICE_FIELDS.items():  # the schema's bound is in fen; said here in yuan
        if data[fen] is not None and data[fen] > PRICE_MAX_FEN[fen]:
            form.error(typed, _(PRICE_TOO_HIGH, max=format_money(PRICE_MAX_FEN[fen])))
            data[fen] = None
    if data["price_on_demand_fen"] is None and "price_on_demand" not in form.errors:
        form.error("price_on_demand", _(N_("This field is required.")))
    spot, on_demand = data["price_spot_floor_fen"], data["price_on_demand_fen"]
    if spot is not None and on_demand is not None and spot > on_demand:
        form.error("price_spot_floor", _(SPOT_ABOVE_ON_DEMAND))
        data["price_spot_floor_fen"] = None  # said next to the field; the schema need not say it again on top
    discounts = {t: percent_to_bp(form.values.get(f"discount_{t}"), f"discount_{t}", form, _) for t in TERMS}
    data["reserved_discounts_bp"] = {t: bp for t, bp in discounts.items() if bp}
    data[CONFIRM_FIELD] = bool(form.values.get(CONFIRM_FIELD))
    return data


def _refused(form: Form, exc: DomainError, _: Any, on_demand_fen: int) -> None:
    """Unusual prices: a warning next to each and the box to confirm them; any other refusal as usual."""
    if not show_unusual_prices(form, exc, _, on_demand_fen):
        fail(form, exc, _, PRODUCT_CODE_FIELDS)


def _choices(request: Request, session: DbSession, user: Any) -> dict[str, Any]:
    _ = translator(request)
    datacenters = seller_datacenters(session, user)
    label = labeler(request)
    return {
        "datacenter_options": [("", _(N_("Choose a data center")))]
        + [(str(d.id), f"{d.name} · {label('dc_status', d.status.value)}") for d in datacenters],
        "kind_options": options(request, "kind"), "delivery_options": options(request, "delivery"),
        "chip_options": [("", _(N_("Choose a chip")))] + [(c.key, f"{c.name} · {c.vendor_zh}")
                                                         for c in catalog.list_chips(session)],
        "has_datacenters": bool(datacenters), "label": label}


LIST_FILTERS = ("datacenter", "status", "kind")
SORT_LABELS = {"datacenter": N_("Data center"), "name": N_("Name"), "price": N_("Price, lowest first"),
               "-price": N_("Price, highest first"), "-updated": N_("Last changed"), "-stock": N_("Most stock")}
BULK_FIELDS = ["ids", "price_change_pct", "action", "back", CONFIRM_FIELD]


def _list_filters(params: dict[str, str], session: DbSession, user: Any) -> dict[str, Any]:
    """The list's own filters from the address; a value the list does not have is ignored (shown as "any")."""
    datacenters = {str(d.id): d for d in seller_datacenters(session, user)}
    wanted = {name: params.get(name) or "" for name in LIST_FILTERS}
    return {"datacenter_id": datacenters[wanted["datacenter"]].id if wanted["datacenter"] in datacenters else None,
            "status": ProductStatus(wanted["status"]) if wanted["status"] in set(ProductStatus) else None,
            "kind": ProductKind(wanted["kind"]) if wanted["kind"] in set(ProductKind) else None,
            "values": wanted, "datacenters": list(datacenters.values())}


def _products_page(request: Request, session: DbSession, user: Any, listing: Listing, address: str,
                   bulk: Form | None = None, status_code: int = 200):
    """The list at ``address`` (its path and query: this page's, or the one a bulk change came from)."""
    _ = translator(request)
    label = labeler(request)
    sort = listing.sorted_by(OWN_SORTS, DEFAULT_OWN_SORT)
    path, _sep, query = address.partition("?")
    params = parse_qsl(query)
    filters = _list_filters(dict(params), session, user)
    rows, total = own_products(session, user, text=listing.q, datacenter_id=filters["datacenter_id"],
                               status=filters["status"], kind=filters["kind"], sort=sort, limit=listing.limit,
                               offset=listing.offset)
    bulk = bulk or Form(values={})
    picked = bulk.values.get("ids") or []
    return render(request, "seller/products.html", {
        "products": [p for p, _d in rows], "dc_names": {d.id: d.name for _p, d in rows}, "show_dc": True,
        "total": total, "offset": listing.offset, "limit": listing.limit, "listing": listing, "sort": sort,
        "filters": filters["values"], "bulk": bulk, "picked": picked if isinstance(picked, list) else [picked],
        "back": address, "url_with": lambda **changes: address_with(path, params, **changes),
        "check_labels": CHECK_LABELS, "bulk_max": BULK_MAX_PRODUCTS,
        "sort_options": [(key, _(text)) for key, text in SORT_LABELS.items()],
        "datacenter_options": [("", _(N_("All data centers")))] + [(str(d.id), d.name) for d in filters["datacenters"]],
        "status_options": [("", _(N_("Listed or not"))), ("listed", _(N_("Listed"))), ("unlisted", _(N_("Unlisted")))],
        "kind_options": options(request, "kind", blank=_(N_("Any kind"))),
        "has_datacenters": bool(filters["datacenters"]), "label": label}, status_code=status_code)


@router.get("")
def products(request: Request, session: DbSession, user: SellerUser, listing: ListingQuery):
    address = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _products_page(request, session, user, listing, address)


BULK_ACTIONS = {"price": None, "list": ProductStatus.LISTED, "unlist": ProductStatus.UNLISTED}


@router.post("/bulk")
def bulk_change(request: Request, session: DbSession, user: SellerUser, posted: PostedForm):
    """Many products at once (the boxes ticked on the list): prices by a percentage, or listed / unlisted. Unusual
    prices are named product by product with the box to confirm them, as on one product's form."""
    _ = translator(request)
    form = Form(values=form_values(posted, BULK_FIELDS))
    ids = form.values.get("ids") or []
    ids = ids if isinstance(ids, list) else [ids]
    form.values["ids"] = ids
    back = safe_next(form.values.get("back"), "/seller/products")
    if back.partition("?")[0] != "/seller/products":  # back to the list it came from, never elsewhere
        back = "/seller/products"
    action = form.values.get("action")
    if action not in BULK_ACTIONS:
        form.top.append(_(N_("Choose what to change.")))
    if not ids:
        form.top.append(_(N_("Tick the products to change first.")))
    percent = None
    if action == "price":
        percent = percent_change(form.values.get("price_change_pct"), form, _)
    body = None
    if form.ok:
        body = validate(ProductBulkIn, {"product_ids": ids, "price_change_pct": percent,
                                        "status": BULK_ACTIONS[action],
                                        CONFIRM_FIELD: bool(form.values.get(CONFIRM_FIELD))}, form, _,
                        {"product_ids": "ids"})
    if body is not None and form.ok:
        try:
            with attempt(session):
                changed = catalog.bulk_change_products(session, user, body)
        except DomainError as exc:
            if exc.code == "price_needs_confirmation":
                form.values["unusual"] = exc.details["products"]
                form.values["needs_confirmation"] = True
                form.values[CONFIRM_FIELD] = ""
                form.error("price_change_pct", _(N_("Some new prices are far from the price index: check them "
                                                   "below; if they are right, tick the confirmation.")))
            else:
                fail(form, exc, _)
    if not form.ok or body is None:
        return _bulk_again(request, session, user, back, form)
    notice = {"price": "products_repriced", "list": "products_listed", "unlist": "products_unlisted"}[action]
    return redirect(back + ("&" if "?" in back else "?") + f"changed={len(changed)}", notice=notice)


def _bulk_again(request: Request, session: DbSession, user: Any, back: str, form: Form):
    """The list the bulk change came from (its address kept in ``back``), with the refusal and the ticks kept."""
    params = dict(parse_qsl(back.partition("?")[2]))
    offset = params.get("offset", "")
    listing = listing_query(q=params.get("q"), sort=params.get("sort"),
                            offset=min(int(offset), MAX_OFFSET) if offset.isdigit() else 0)
    return _products_page(request, session, user, listing, back, bulk=form, status_code=400)


def percent_change(text: Any, form: Form, _: Any) -> Decimal | None:
    """A price change typed as a percentage (``5``, ``-7.5``, ``+10%``), -90 to +500 %."""
    raw = str(text or "").strip().removesuffix("%").strip()
    if not raw:
        form.error("price_change_pct", _(N_("Type the change in percent, such as 5 or -10.")))
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        form.error("price_change_pct", _(N_("Type the change in percent, such as 5 or -10.")))
        return None
    if not value.is_finite() or not Decimal(-90) <= value <= Decimal(500) or value == 0:
        form.error("price_change_pct", _(N_("A change from %(min)s %% to +%(max)s %%, not 0."), min=-90, max=500))
        return None
    if value != value.quantize(Decimal("0.01")):
        form.error("price_change_pct", _(N_("At most %(decimal_places)s decimal places."), decimal_places="2"))
        return None
    return value


def _new_page(request: Request, session: DbSession, user: Any, form: Form, status_code: int = 200):
    reference = price_reference(session, form.values.get("chip"), form.values.get("accelerators"))
    return render(request, "seller/product_new.html", {"form": form, "reference": reference,
                                                       **_choices(request, session, user)},
                  status_code=status_code)


@router.get("/new")
def new_product(request: Request, session: DbSession, user: SellerUser, datacenter_id: str | None = None,
                chip: Annotated[str | None, Query(max_length=60)] = None,
                accelerators: Annotated[str | None, Query(max_length=10)] = None):
    """The empty form; ``chip`` and ``accelerators`` prefill it (the form asks for the page again, htmx, to show the
    chosen chip's price index beside the prices as the seller picks it)."""
    return _new_page(request, session, user, Form(values={
        "datacenter_id": datacenter_id or "", "kind": "accelerator", "chip": chip or "",
        "accelerators": accelerators or "8", "vcpus": "96",
        "memory_gib": "1024", "disk_gib": "4000", "network_gbps": "200", "delivery": "bare_metal",
        "stock_units": "1", "listed": "on"}))


@router.post("/new")
def create_product(request: Request, session: DbSession, user: SellerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, NEW_FIELDS))
    data = {k: form.values.get(k) for k in ["datacenter_id", "name", "kind", "vcpus", "memory_gib", "disk_gib",
                                            "network_gbps", "delivery", "stock_units"]}
    if form.values.get("kind") == ProductKind.ACCELERATOR.value:
        data.update(chip=form.values.get("chip"), accelerators=form.values.get("accelerators"))
        if not data["chip"]:
            form.error("chip", _(CHIP_REQUIRED))
    else:
        data.update(chip=None, accelerators=0)
    data["status"] = ProductStatus.LISTED if form.values.get("listed") else ProductStatus.UNLISTED
    form.values.setdefault("listed", "")
    data.update(_prices_and_discounts(form, _))
    body = validate(ProductIn, blank_to_none(data),
                    form, _, FIELD_MAP)
    if body is not None and form.ok:
        try:
            with attempt(session):
                product = catalog.create_product(session, user, body)
        except DomainError as exc:
            _refused(form, exc, _, body.price_on_demand_fen)
    if not form.ok or body is None:
        return _new_page(request, session, user, form, status_code=400)
    return redirect(f"/seller/products/{product.id}", notice="product_created")


def _owned(session: DbSession, user: Any, product_id: uuid.UUID) -> tuple[Product, Datacenter]:
    return catalog.managed_product(session, product_id, user)


def _fen_text(fen: int | None) -> str:
    return "" if fen is None else f"{Decimal(fen) / 100:.2f}"


def _bp_text(bp: int) -> str:
    return "" if not bp else format(Decimal(bp) / 100, "f").rstrip("0").rstrip(".")


def _edit_page(request: Request, session: DbSession, product: Product, datacenter: Datacenter, form: Form,
               status_code: int = 200):
    chip = catalog.get_chip(session, product.chip_key) if product.chip_key else None
    reference = price_reference(session, product.chip_key, product.accelerators, excluding=product.id)
    return render(request, "seller/product_edit.html", {"p": product, "dc": datacenter, "chip": chip, "form": form,
                                                        "reference": reference, "check_labels": CHECK_LABELS,
                                                        "label": labeler(request)},
                  status_code=status_code)


@router.get("/{product_id}")
def edit_product(request: Request, session: DbSession, user: SellerUser, product_id: uuid.UUID):
    product, datacenter = _owned(session, user, product_id)
    values = {"name": product.name, "stock_units": str(product.stock_units),
              "price_on_demand": _fen_text(product.price_on_demand_fen),
              "price_reserved_month": _fen_text(product.price_reserved_month_fen),
              "price_spot_floor": _fen_text(product.price_spot_floor_fen),
              "discount_3": _bp_text(product.reserved_discount_3m_bp),
              "discount_6": _bp_text(product.reserved_discount_6m_bp),
              "discount_12": _bp_text(product.reserved_discount_12m_bp)}
    return _edit_page(request, session, product, datacenter, Form(values=values))


@router.post("/{product_id}")
def save_product(request: Request, session: DbSession, user: SellerUser, product_id: uuid.UUID,
                 posted: PostedForm):
    _ = translator(request)
    product, datacenter = _owned(session, user, product_id)
    form = Form(values=form_values(posted, EDIT_FIELDS))
    for name in EDIT_FIELDS:
        form.values.setdefault(name, "")
    data: dict[str, Any] = {"name": form.values.get("name"), "stock_units": form.values.get("stock_units")}
    for name in ("name", "stock_units"):
        if not str(data[name] or "").strip():
            form.error(name, _(N_("This field is required.")))
    data.update(_prices_and_discounts(form, _))
    data["clear_reserved"] = data["price_reserved_month_fen"] is None
    data["clear_spot"] = data["price_spot_floor_fen"] is None
    body = validate(ProductPatch, blank_to_none(data),
                    form, _, FIELD_MAP)
    if body is not None and body.stock_units is not None and body.stock_units < product.allocated_units:
        form.error("stock_units", _(N_("%(n)s units are rented out now; stock cannot go below that."),
                                    n=product.allocated_units))
    if body is not None and form.ok:
        try:
            with attempt(session):
                catalog.update_product(session, user, product_id, body)
        except DomainError as exc:
            _refused(form, exc, _, body.price_on_demand_fen or product.price_on_demand_fen)
    if not form.ok or body is None:
        session.refresh(product)
        return _edit_page(request, session, product, datacenter, form, status_code=400)
    return redirect(f"/seller/products/{product_id}", notice="product_saved")


@router.post("/{product_id}/unlist")
def unlist_product(request: Request, session: DbSession, user: SellerUser, product_id: uuid.UUID,
                   posted: PostedForm):
    catalog.set_product_status(session, user, product_id, ProductStatus.UNLISTED)
    return redirect(f"/seller/products/{product_id}", notice="product_unlisted")


@router.post("/{product_id}/list")
def list_product(request: Request, session: DbSession, user: SellerUser, product_id: uuid.UUID,
                 posted: PostedForm):
    catalog.set_product_status(session, user, product_id, ProductStatus.LISTED)
    return redirect(f"/seller/products/{product_id}", notice="product_listed")
