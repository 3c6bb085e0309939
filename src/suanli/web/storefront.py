"""The public storefront: home with the platform's figures, the catalog (search, filters, sorting, keyset
"more" paging through htmx) and the comparison of up to four products."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from suanli.catalog import service as catalog
from suanli.catalog.endpoints import search_products
from suanli.catalog.models import DeliveryForm, ProductKind, Region
from suanli.catalog.schemas import ProductOut
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.trading.service import order_figures
from suanli.catalog import search as catalog_search
from suanli.web.forms import Form, blank_to_none, translator, validate
from suanli.web.i18n import N_
from suanli.web.presenters import chip_index, labeler, options, position_of, product_view
from suanli.web.render import render, web_router
from suanli.web.storefront_search import filter_chips, search_problem, sort_value

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
    tab: Literal["accelerator", "cpu", "storage", "all"] | None = None


_FILTER_NAMES = list(CatalogFilters.model_fields)
# The catalog's tabs: what buyers come for first (accelerator servers, cheapest compute first), then CPU servers,
# storage, and everything. A tab is a product kind ("all": any), each with the sort it opens on.
TABS = {"accelerator": N_("Accelerator servers"), "cpu": N_("CPU servers"), "storage": N_("Storage"),
        "all": N_("All products")}
TAB_SORTS = {"accelerator": "price_per_pflops", "cpu": "price", "storage": "price", "all": "price"}
# What a new tab keeps of the search: the filters every kind has (a chip or a sort by compute would empty a CPU tab).
TAB_KEEPS = ("q", "province", "hub", "delivery", "mode", "max_price", "available_only", "ids")


def catalog_tab(filters: CatalogFilters, understood: Any) -> str:
    """The tab a search is in: the kind the search text names (``CPU``, ``kind=storage``: the words win, so a buyer
    who types them sees them); else as asked (``tab``, else ``kind``); else accelerator servers."""
    named = [c for c in understood.query.conditions if c.field == "kind"] if understood else []
    if named:
        return named[0].values[0] if named[0].op == "=" and len(named[0].values) == 1 else "all"
    if filters.tab:
        return filters.tab
    if filters.kind:
        return filters.kind.value
    return "accelerator"


def tab_links(request: Request, current: str) -> list[tuple[str, str, str, bool]]:
    """(tab, label, URL, current) for each tab; a URL keeps the filters every kind has."""
    _ = translator(request)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in TAB_KEEPS and v]
    return [(tab, _(label), "/catalog?" + urlencode([("tab", tab), *kept]), tab == current)
            for tab, label in TABS.items()]


def _search(request: Request, session: DbSession, params: dict[str, Any]) -> tuple[Form, Any, Any]:
    """Validate the filters, read the search text, search. Errors go next to their fields (a bad text next to the
    box). The sort comes from one place: a sort in the text (``sort=ppp``, 最便宜) moves to the "Sort by" list,
    and the box shows the rest of the text."""
    _ = translator(request)
    form = Form(values={k: v for k, v in params.items() if v is not None})
    filters = validate(CatalogFilters, blank_to_none(params), form, _)
    if filters is None:
        return form, None, None
    understood = None
    try:
        if filters.q:
            understood = catalog_search.understand(session, filters.q)
            if understood.query.sort is not None:
                form.values["sort"] = sort_value(understood)
                form.values["q"] = understood.without_sort()
        query = understood.query_text if understood else None
        sort = None if understood and understood.query.sort else filters.sort
        tab = catalog_tab(filters, understood)
        form.values["tab"] = tab
        per_compute = sort is not None and sort.lstrip("-").split(":")[0] in catalog_search.NULLABLE_SORTS
        if (not sort or (per_compute and tab in ("cpu", "storage"))) and not (understood and understood.query.sort):
            sort = form.values["sort"] = TAB_SORTS[tab]  # CPU and storage have no price per compute to sort by
        text_kind = understood is not None and any(c.field == "kind" for c in understood.query.conditions)
        kind = None if tab == "all" or text_kind else ProductKind(tab)
        wanted = {**filters.model_dump(exclude={"tab"}), "q": query, "sort": sort, "kind": kind}
        page = search_products(session, **wanted, limit=PAGE_SIZE)
    except DomainError as exc:  # the query language's and the resolver's errors belong to the query box
        form.error("q", search_problem(request, exc, _))
        return form, None, understood
    return form, page, understood


def _catalog_context(request: Request, session: DbSession, page: Any, tab: str) -> dict[str, Any]:
    index = chip_index(request, session)
    _ = translator(request)
    items: list[ProductOut] = page.items if page else []
    return {"page": page, "positions": {p.id: position_of(p, index, _) for p in items}, "label": labeler(request),
            "more_url": _more_url(request, page.next_cursor) if page and page.next_cursor else None,
            "selected": _selected(request), "tab": tab}


def _picked(request: Request, session: DbSession, selected: list[str]) -> list[tuple[str, str, str]]:
    """The picks for comparison as (id, name, the page's URL without it); one no longer listed is left out."""
    out = []
    for product_id in selected:
        try:
            name = product_view(session, uuid.UUID(product_id)).name
        except DomainError:
            continue
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("ids", "cursor")]
        rest = [("ids", i) for i in selected if i != product_id]
        out.append((product_id, name, "/catalog?" + urlencode(params + rest)))
    return out


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
    params = [(k, v) for k, v in request.query_params.multi_items()
              if (k in _FILTER_NAMES or k == "ids") and k != "cursor" and v]
    return "/catalog/rows?" + urlencode([*params, ("cursor", cursor)])


def _params(request: Request) -> dict[str, Any]:
    return {name: request.query_params.get(name) for name in _FILTER_NAMES}


REMOTE_OFFERS_SHOWN = 10


def _remote_offers(request: Request, session: DbSession, form: Form) -> list[Any]:
    """The cheapest offers of federated platforms for the chip and province asked for (docs/federation.md)."""
    from suanli.federation.catalog import search_remote
    from suanli.federation.schemas import RemoteOfferOut

    rows = search_remote(session, chip=form.values.get("chip") or None,
                         province=form.values.get("province") or None, min_accelerators=None,
                         limit=REMOTE_OFFERS_SHOWN)
    now = request.app.state.clock.now()
    return [RemoteOfferOut.of(r, now) for r in rows]


@router.get("/catalog")
def catalog_page(request: Request, session: DbSession):
    if request.query_params.get("compare"):  # the filter form's "Compare" button: its picks, side by side
        url = "/compare?" + urlencode([("ids", i) for i in _selected(request)])
        if request.headers.get("HX-Request"):
            return Response(status_code=200, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)
    form, page, understood = _search(request, session, _params(request))
    chips = catalog.list_chips(session)
    regions = list(session.scalars(select(Region)))
    _ = translator(request)
    tab = form.values.get("tab") or "accelerator"
    context = _catalog_context(request, session, page, tab)
    sort_options = options(request, "sort")
    if form.values.get("sort") and form.values["sort"] not in dict(sort_options):  # a sort the list lacks (sort=memory)
        sort_options.append((form.values["sort"], form.values["sort"]))
    context.update({
        "form": form, "understood": understood, "picked": _picked(request, session, context["selected"]),
        "filter_chips": filter_chips(request, understood, _) if understood else [],
        "chip_options": [("", _(N_("Any chip")))] + [(c.key, c.name) for c in chips],
        "province_options": [("", _(N_("Anywhere")))] + [(p, p) for p in sorted({r.province for r in regions})],
        "hub_options": [("", _(N_("Any hub")))] + [(h, h) for h in sorted({r.hub for r in regions})],
        "ecosystem_options": options(request, "ecosystem", blank=_(N_("Any ecosystem"))),
        "tabs": tab_links(request, tab),
        "delivery_options": options(request, "delivery", blank=_(N_("Any delivery"))),
        "mode_options": options(request, "mode", blank=_(N_("Any billing mode"))),
        "sort_options": sort_options, "compare_max": COMPARE_MAX,
        "remote_offers": _remote_offers(request, session, form),
    })
    return render(request, "storefront/catalog.html", context, status_code=_status(request, form))


def _status(request: Request, form: Form) -> int:
    """400 for a search that cannot run; htmx (which swaps only 2xx answers) gets the same page with 200."""
    return 200 if form.ok or request.headers.get("HX-Request") else 400


@router.get("/catalog/rows")
def catalog_rows(request: Request, session: DbSession):
    """htmx: the next page of results, and the next "more" button."""
    form, page, _understood = _search(request, session, _params(request))
    tab = form.values.get("tab") or "accelerator"
    return render(request, "storefront/_rows.html", {"form": form, **_catalog_context(request, session, page, tab)},
                  status_code=_status(request, form))


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
        "differs": _differences(products),
        "ids": [str(p.id) for p in products],
        "positions": {p.id: position_of(p, index, _) for p in products}, "label": labeler(request)})


def _differences(products: list[ProductOut]) -> dict[str, bool]:
    """Which rows of the comparison differ across the products (each row's key: what the row shows)."""
    if len(products) < 2:
        return {}

    def fen(money: Any) -> int | None:
        return money.fen if money else None

    rows: dict[str, Any] = {
        "hour": lambda p: p.prices.on_demand_hour.fen, "pflops_price": lambda p: fen(p.prices.per_fp16_pflops_hour),
        "accel_price": lambda p: fen(p.prices.per_accelerator_hour), "reserved": lambda p: fen(p.prices.reserved_month),
        "spot": lambda p: fen(p.prices.spot_floor_hour),
        "accelerators": lambda p: (p.accelerators, p.chip.key if p.chip else None),
        "ecosystem": lambda p: p.chip.ecosystem if p.chip else None, "compute": lambda p: p.compute.fp16_pflops,
        "accel_memory": lambda p: p.compute.accel_memory_gib, "host": lambda p: (p.vcpus, p.memory_gib),
        "network": lambda p: p.network_gbps, "delivery": lambda p: p.delivery,
        "free": lambda p: (p.available_units, p.stock_units), "datacenter": lambda p: p.datacenter.id,
        "region": lambda p: (p.region.province, p.region.city, p.region.hub),
    }
    return {key: len({repr(value(p)) for p in products}) > 1 for key, value in rows.items()}
