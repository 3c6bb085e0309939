"""The public storefront: home with the platform's figures, the catalog (search, filters, sorting, keyset
"more" paging through htmx) and the comparison of up to four products."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from suanli.catalog import service as catalog
from suanli.catalog.endpoints import search_products
from suanli.catalog.models import DeliveryForm, ProductKind, Region
from suanli.catalog.schemas import ProductOut
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.trading.service import order_figures
from suanli.web.error_messages import domain_message
from suanli.web.forms import Form, blank_to_none, translator, validate
from suanli.web.i18n import EN, N_, request_locale
from suanli.web.presenters import chip_index, labeler, options, position_of, product_view
from suanli.web.render import render, web_router

router = web_router()
COMPARE_MAX = 4
PAGE_SIZE = 20


@router.get("/")
def home(request: Request, session: DbSession):
    stats = catalog.platform_stats(session)
    orders, gmv_fen = order_figures(session)
    stats.update(orders=orders, gmv_fen=gmv_fen, users=stats["buyers"] + stats["sellers"])
    cheapest = search_products(session, sort="price_per_pflops", available_only=True, limit=6)
    index = chip_index(request, session)
    _ = translator(request)
    return render(request, "storefront/home.html", {
        "stats": stats, "products": cheapest.items,
        "positions": {p.id: position_of(p, index, _) for p in cheapest.items}, "label": labeler(request)})


class CatalogFilters(BaseModel):
    """The catalog's filters: those of ``GET /api/v1/products`` (max_price typed in CNY)."""

    model_config = ConfigDict(extra="ignore")
    q: str | None = Field(default=None, max_length=1000)
    chip: str | None = Field(default=None, max_length=60)
    ecosystem: str | None = Field(default=None, max_length=40)
    kind: ProductKind | None = None
    min_accelerators: int | None = Field(default=None, ge=0, le=1024)
    min_accel_memory: int | None = Field(default=None, ge=0, le=4096)
    province: str | None = Field(default=None, max_length=40)
    hub: str | None = Field(default=None, max_length=40)
    delivery: DeliveryForm | None = None
    mode: str | None = Field(default=None, max_length=20)
    max_price: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)
    available_only: bool = False
    sort: str | None = Field(default=None, max_length=40)
    cursor: str | None = Field(default=None, max_length=500)


_FILTER_NAMES = list(CatalogFilters.model_fields)


def query_problem(exc: DomainError, _: Any) -> str | None:
    """What is wrong with a search text, in the page's language, as precisely as the parser said it: the field or
    value at fault, the spelling it probably meant, the values that are valid (names: the same in any language)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    text = domain_message(exc, _)
    if exc.code == "unknown_field" and details.get("suggestion"):
        text = _(N_("There is no search field “%(field)s”. Did you mean “%(suggestion)s”?"),
                 field=details.get("field", ""), suggestion=details["suggestion"])
    elif exc.code == "invalid_value" and details.get("field") and details.get("value") is not None:
        text = _(N_("“%(value)s” is not a valid value for “%(field)s”."), value=details["value"],
                 field=details["field"])
        valid = [str(v) for v in details.get("valid_values") or []]
        if valid:
            text += " " + _(N_("Valid values: %(values)s."), values=", ".join(valid[:30]))
    return text


def _search(request: Request, session: DbSession, params: dict[str, Any]) -> tuple[Form, Any]:
    """Validate the filters and search; errors go next to their fields (a bad query text next to the box)."""
    _ = translator(request)
    form = Form(values={k: v for k, v in params.items() if v is not None})
    filters = validate(CatalogFilters, blank_to_none(params), form, _)
    if filters is None:
        return form, None
    try:
        page = search_products(session, **filters.model_dump(), limit=PAGE_SIZE)
    except DomainError as exc:  # the query language's and the resolver's errors belong to the query box
        # English pages show the parser's own precise words; others say the same from its code and details.
        translated = None if request_locale(request) == EN else query_problem(exc, _)
        form.error("q", translated or _(N_("The search is not valid: %(why)s"), why=exc.message))
        return form, None
    return form, page


def _catalog_context(request: Request, session: DbSession, page: Any) -> dict[str, Any]:
    index = chip_index(request, session)
    _ = translator(request)
    items: list[ProductOut] = page.items if page else []
    return {"page": page, "positions": {p.id: position_of(p, index, _) for p in items}, "label": labeler(request),
            "more_url": _more_url(request, page.next_cursor) if page and page.next_cursor else None,
            "selected": _selected(request), "shown": {str(p.id) for p in items}}


def _selected(request: Request) -> list[str]:
    """The products picked for comparison (``ids``, kept in the query string while searching), valid ids only."""
    return _selected_all(request.query_params.getlist("ids"))[:COMPARE_MAX]


def _selected_all(ids: list[str]) -> list[str]:
    out: list[str] = []
    for raw in ",".join(ids).split(","):
        try:
            value = str(uuid.UUID(raw.strip()))
        except ValueError:
            continue
        if value not in out:
            out.append(value)
    return out


def _more_url(request: Request, cursor: str) -> str:
    from urllib.parse import urlencode

    params = [(k, v) for k, v in request.query_params.multi_items()
              if (k in _FILTER_NAMES or k == "ids") and k != "cursor" and v]
    return "/catalog/rows?" + urlencode([*params, ("cursor", cursor)])


DEFAULT_SORT = "price"  # every product has an hourly price; the per-PFLOPS sort leaves out CPU and storage


def _params(request: Request) -> dict[str, Any]:
    params = {name: request.query_params.get(name) for name in _FILTER_NAMES}
    params["sort"] = params["sort"] or DEFAULT_SORT
    return params


@router.get("/catalog")
def catalog_page(request: Request, session: DbSession):
    form, page = _search(request, session, _params(request))
    chips = catalog.list_chips(session)
    regions = list(session.scalars(select(Region)))
    _ = translator(request)
    context = {
        "form": form, **_catalog_context(request, session, page),
        "chip_options": [("", _(N_("Any chip")))] + [(c.key, c.name) for c in chips],
        "province_options": [("", _(N_("Anywhere")))] + [(p, p) for p in sorted({r.province for r in regions})],
        "hub_options": [("", _(N_("Any hub")))] + [(h, h) for h in sorted({r.hub for r in regions})],
        "ecosystem_options": options(request, "ecosystem", blank=_(N_("Any ecosystem"))),
        "kind_options": options(request, "kind", blank=_(N_("Any kind"))),
        "delivery_options": options(request, "delivery", blank=_(N_("Any delivery"))),
        "mode_options": options(request, "mode", blank=_(N_("Any billing mode"))),
        "sort_options": options(request, "sort"), "compare_max": COMPARE_MAX,
    }
    return render(request, "storefront/catalog.html", context, status_code=200 if form.ok else 400)


@router.get("/catalog/rows")
def catalog_rows(request: Request, session: DbSession):
    """htmx: the next page of results, and the next "more" button."""
    form, page = _search(request, session, _params(request))
    return render(request, "storefront/_rows.html", {"form": form, **_catalog_context(request, session, page)},
                  status_code=200 if form.ok else 400)


@router.get("/compare")
def compare(request: Request, session: DbSession,
            ids: Annotated[list[str], Query(max_length=20)] = []):  # noqa: B006 - FastAPI copies defaults
    """Side by side: up to four products (``?ids=...&ids=...``, or one comma-separated ``ids``)."""
    _ = translator(request)
    wanted = [uuid.UUID(i) for i in _selected_all(ids)]
    too_many = len(wanted) > COMPARE_MAX
    products = []
    for product_id in wanted[:COMPARE_MAX]:
        try:
            products.append(product_view(session, product_id))
        except DomainError:
            continue  # unlisted since it was picked: left out
    index = chip_index(request, session)
    best = {}
    if len(products) > 1:
        priced = [p for p in products if p.prices.per_fp16_pflops_hour]
        if priced:
            best["pflops"] = min(priced, key=lambda p: p.prices.per_fp16_pflops_hour.fen).id
        best["hour"] = min(products, key=lambda p: p.prices.on_demand_hour.fen).id
    return render(request, "storefront/compare.html", {
        "products": products, "too_many": too_many, "compare_max": COMPARE_MAX, "best": best,
        "ids": [str(p.id) for p in products],
        "positions": {p.id: position_of(p, index, _) for p in products}, "label": labeler(request)})
