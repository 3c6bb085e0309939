"""Catalog HTTP endpoints: chips, regions, data centers, products, price index, stats."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query as Q
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog import search as catalog_search
from suanli.catalog import service
from suanli.catalog.models import (ChipModel, Datacenter, DatacenterStatus, DeliveryForm, Product, ProductKind,
                                   ProductStatus)
from suanli.catalog.presenters import chip_out, datacenter_out, product_out, product_page, region_out
from suanli.catalog.price_guard import flagged_products
from suanli.catalog.price_history import guidance_by_chip
from suanli.catalog.price_index import price_index
from suanli.catalog.schemas import (ChipOut, DatacenterIn, DatacenterOut, DatacenterPatch, Money, PriceIndexOut,
                                    PriceIndexRow, PriceSpread, ProductBulkIn, ProductBulkOut, ProductIn, ProductOut,
                                    ProductPage, ProductPatch, ReadingOut, RegionIn, RegionOut, StatsOut,
                                    UnderstoodOut, UnusualPriceOut)
from suanli.catalog.free_words import Interpretation
from suanli.core.query import Condition, Query, format_query
from suanli.db import utcnow
from suanli.demand.service import record_search_miss
from suanli.trading.service import order_figures
from suanli.http import DbSession, OperatorUser, OptionalUser, SellerOrOperator, SellerUser

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/chips", response_model=list[ChipOut])
def list_chips(session: DbSession) -> list[ChipOut]:
    """Every chip model, with dense FP16/BF16 and FP32 throughput, memory and ecosystem."""
    return [chip_out(c) for c in service.list_chips(session)]


@router.get("/regions", response_model=list[RegionOut])
def list_regions(session: DbSession) -> list[RegionOut]:
    return [region_out(r) for r in service.list_regions(session)]


@router.post("/regions", status_code=201, response_model=RegionOut)
def create_region(body: RegionIn, _operator: OperatorUser, session: DbSession) -> RegionOut:
    return region_out(service.create_region(session, body))


# ---------------------------------------------------------------- data centers

@router.get("/datacenters", response_model=list[DatacenterOut])
def list_datacenters(session: DbSession, viewer: OptionalUser, status: DatacenterStatus | None = None,
                     mine: bool = False) -> list[DatacenterOut]:
    """Approved data centers for everyone; sellers also see their own, operators see all.
    `mine=true` lists only the caller's organization's data centers."""
    return [datacenter_out(d) for d in service.list_datacenters(session, viewer, status=status, mine=mine)]


@router.get("/datacenters/{datacenter_id}", response_model=DatacenterOut)
def get_datacenter(datacenter_id: uuid.UUID, session: DbSession, viewer: OptionalUser) -> DatacenterOut:
    return datacenter_out(service.get_datacenter(session, datacenter_id, viewer))


@router.post("/datacenters", status_code=201, response_model=DatacenterOut)
def create_datacenter(body: DatacenterIn, seller: SellerUser, session: DbSession) -> DatacenterOut:
    """A seller registers a data center. Its products are listed once an operator approves it."""
    return datacenter_out(service.create_datacenter(session, seller, body))


@router.patch("/datacenters/{datacenter_id}", response_model=DatacenterOut)
def update_datacenter(datacenter_id: uuid.UUID, body: DatacenterPatch, user: SellerOrOperator,
                      session: DbSession) -> DatacenterOut:
    return datacenter_out(service.update_datacenter(session, user, datacenter_id, body))


@router.post("/datacenters/{datacenter_id}/approve", response_model=DatacenterOut)
def approve_datacenter(datacenter_id: uuid.UUID, _operator: OperatorUser, session: DbSession) -> DatacenterOut:
    """Operator: approve a data center; its listed products appear in the catalog."""
    return datacenter_out(service.set_datacenter_status(session, datacenter_id, DatacenterStatus.APPROVED))


@router.post("/datacenters/{datacenter_id}/suspend", response_model=DatacenterOut)
def suspend_datacenter(datacenter_id: uuid.UUID, _operator: OperatorUser, session: DbSession) -> DatacenterOut:
    """Operator: take a data center's products out of the catalog."""
    return datacenter_out(service.set_datacenter_status(session, datacenter_id, DatacenterStatus.SUSPENDED))


@router.get("/datacenters/{datacenter_id}/products", response_model=list[ProductOut])
def datacenter_products(datacenter_id: uuid.UUID, user: SellerOrOperator, session: DbSession) -> list[ProductOut]:
    """Seller: every product of one of your data centers, listed or not."""
    datacenter = service.managed_datacenter(session, datacenter_id, user)
    chips = {c.key: c for c in session.scalars(select(ChipModel))}
    return [product_out(p, datacenter, chips.get(p.chip_key or ""))
            for p in service.datacenter_products(session, user, datacenter_id)]


# ---------------------------------------------------------------- products

def _explicit_conditions(**params: object) -> list[Condition]:
    mapping = {
        "chip": ("chip", "="), "vendor": ("vendor", "="), "ecosystem": ("ecosystem", "="), "kind": ("kind", "="),
        "min_accelerators": ("accelerators", ">="), "max_accelerators": ("accelerators", "<="),
        "min_accel_memory": ("accel_memory", ">="), "province": ("province", "="), "city": ("city", "="),
        "hub": ("hub", "="), "datacenter_id": ("datacenter", "="), "delivery": ("delivery", "="),
        "mode": ("mode", "="), "max_price": ("price", "<="), "available_only": ("available", "="),
    }
    out = []
    for name, value in params.items():
        if value is None or (name == "available_only" and value is False):
            continue
        field, op = mapping[name]
        if isinstance(value, (ProductKind, DeliveryForm)):
            value = value.value
        elif isinstance(value, uuid.UUID):
            value = str(value)
        out.append(Condition(field, op, (value,)))
    return out


# Query-language errors (core.query.QueryError's codes, free_words' unknown_word) reach the client as 400 through
# search.invalid(), with codes the reading of raise statements cannot see.
_QUERY_ERRORS = {400: {"description": "The query or a filter could not be read",
                       "x-error-codes": ["invalid_cursor", "invalid_operator", "invalid_query", "invalid_sort",
                                         "invalid_value", "out_of_range", "syntax_error", "unknown_field",
                                         "unknown_word"]}}


# What max_price takes, in the OpenAPI (pydantic writes any string for a Decimal): CNY, at most 2 decimals, ≤ 1e6.
_MAX_PRICE_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^(1000000(\.0{1,2})?|[0-9]{1,6}(\.[0-9]{1,2})?)$"},
                               {"type": "null"}]}


@router.get("/products", response_model=ProductPage, responses=_QUERY_ERRORS)
def search_products(
    session: DbSession,
    q: Annotated[str | None, Q(max_length=1000, description="Query language, e.g. `chip=A800 accelerators>=8 "
                                                          "province=安徽 price<=60 sort=price_per_pflops`. "
                                                          "See docs/query-language.md.")] = None,
    chip: Annotated[str | None, Q(max_length=60, description="Chip key or name, e.g. a800, 910B")] = None,
    vendor: Annotated[str | None, Q(max_length=40)] = None,
    ecosystem: Annotated[str | None, Q(max_length=40)] = None,
    kind: ProductKind | None = None,
    min_accelerators: Annotated[int | None, Q(ge=0, le=1024)] = None,
    max_accelerators: Annotated[int | None, Q(ge=0, le=1024)] = None,
    min_accel_memory: Annotated[int | None, Q(ge=0, le=4096, description="GiB per accelerator")] = None,
    province: Annotated[str | None, Q(max_length=40)] = None,
    city: Annotated[str | None, Q(max_length=40)] = None,
    hub: Annotated[str | None, Q(max_length=40)] = None,
    datacenter_id: uuid.UUID | None = None,
    delivery: DeliveryForm | None = None,
    mode: Annotated[str | None, Q(max_length=20, json_schema_extra={"enum": ["on_demand", "reserved", "spot"]},
                                  description="on_demand, reserved or spot")] = None,
    max_price: Annotated[Decimal | None, Q(ge=0, le=1_000_000, decimal_places=2, json_schema_extra=_MAX_PRICE_SCHEMA,
                                           description="On-demand CNY per unit-hour")] = None,
    available_only: bool = False,
    sort: Annotated[str | None, Q(max_length=40, description="price, price_per_pflops, price_per_accel, pflops, "
                                                             "accel_memory or memory; prefix - or suffix :desc "
                                                             "for descending")] = None,
    cursor: Annotated[str | None, Q(max_length=500)] = None,
    limit: Annotated[int, Q(ge=1, le=100)] = 20,
) -> ProductPage:
    """Search listed products. Explicit filters and `q` combine (all must hold)."""
    explicit = _explicit_conditions(chip=chip, vendor=vendor, ecosystem=ecosystem, kind=kind,
                                    min_accelerators=min_accelerators, max_accelerators=max_accelerators,
                                    min_accel_memory=min_accel_memory, province=province, city=city, hub=hub,
                                    datacenter_id=datacenter_id, delivery=delivery, mode=mode, max_price=max_price,
                                    available_only=available_only)
    # Each part is parsed on its own, so an error in `q` points at a position in `q` as the caller typed it.
    filters = catalog_search.parse(format_query(Query(tuple(explicit))))
    understood = catalog_search.understand(session, q) if q else None
    sort_key = catalog_search.parse(f"sort={sort}").sort if sort else None
    if understood is not None and understood.query.sort is not None:
        if sort_key is not None and sort_key != understood.query.sort:
            raise catalog_search.InvalidQuery(
                f"The sort is given twice: sort={sort} and '{understood.query_text}' in q. Keep one of them.",
                code="sort_given_twice", details={"sort": sort, "q_sort": format_query(Query(
                    sort=understood.query.sort))})
        sort_key = understood.query.sort
    conditions = list(filters.conditions) + (list(understood.query.conditions) if understood else [])
    page = catalog_search.search(session, conditions, sort_key, limit=limit, cursor=cursor)
    if page.total == 0 and cursor is None:
        record_search_miss(session, conditions, utcnow())  # unmet demand (suanli.demand), without who searched
    out = product_page(page.products, page.datacenters, page.chips, page.next_cursor, page.total, page.total_exact,
                       guidance_by_chip(session) if page.products else None)
    if understood is not None:
        out.understood = understood_out(understood)
    return out


def understood_out(understood: Interpretation) -> UnderstoodOut:
    return UnderstoodOut(text=understood.text, query=understood.query_text, readings=[
        ReadingOut(text=r.text, start=r.start, end=r.end, query=r.query, exact=r.exact,
                   field=r.condition.field if r.condition else None) for r in understood.readings])


def _one_product_out(session: Session, product: Product) -> ProductOut:
    datacenter = session.get_one(Datacenter, product.datacenter_id)
    chip = session.get(ChipModel, product.chip_key) if product.chip_key else None
    return product_out(product, datacenter, chip, guidance_by_chip(session) if chip else None)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: uuid.UUID, session: DbSession, viewer: OptionalUser) -> ProductOut:
    return _one_product_out(session, service.get_product(session, product_id, viewer))


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(body: ProductIn, seller: SellerOrOperator, session: DbSession) -> ProductOut:
    """Seller: list a product in one of your data centers."""
    return _one_product_out(session, service.create_product(session, seller, body))


@router.post("/products/bulk", response_model=ProductBulkOut)
def bulk_change_products(body: ProductBulkIn, user: SellerOrOperator, session: DbSession) -> ProductBulkOut:
    """Seller: change up to 200 of your products at once: prices by a percentage (`price_change_pct`), listing
    (`status`), or both. All or nothing. Prices far from the price index need `confirm_unusual_price: true`, as
    for one product (422 `price_needs_confirmation` names each product and its checks)."""
    changed = service.bulk_change_products(session, user, body)
    return ProductBulkOut(changed=len(changed), products=[_one_product_out(session, p) for p in changed])


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: uuid.UUID, body: ProductPatch, user: SellerOrOperator, session: DbSession) -> ProductOut:
    """Seller: change prices, stock, name or listing status. Past orders keep their price snapshot."""
    return _one_product_out(session, service.update_product(session, user, product_id, body))


@router.post("/products/{product_id}/unlist", response_model=ProductOut)
def unlist_product(product_id: uuid.UUID, user: SellerOrOperator, session: DbSession) -> ProductOut:
    return _one_product_out(session, service.set_product_status(session, user, product_id, ProductStatus.UNLISTED))


@router.post("/products/{product_id}/list", response_model=ProductOut)
def list_product(product_id: uuid.UUID, user: SellerOrOperator, session: DbSession) -> ProductOut:
    return _one_product_out(session, service.set_product_status(session, user, product_id, ProductStatus.LISTED))


@router.get("/operator/unusual-prices", response_model=list[UnusualPriceOut])
def unusual_prices(_operator: OperatorUser, session: DbSession) -> list[UnusualPriceOut]:
    """Operator: products whose seller confirmed prices far from the price index (or a reserved month below the
    minimum of on-demand hours), most recently confirmed first (200 at most)."""
    return [UnusualPriceOut(product=_one_product_out(session, f.product), checks=f.checks,
                            confirmed_at=f.product.unusual_price_at)
            for f in flagged_products(session)]


# ---------------------------------------------------------------- price index and stats

@router.get("/price-index", response_model=PriceIndexOut,
            responses={400: {"description": "No such chip or province", "x-error-codes": ["invalid_value"]}})
def get_price_index(session: DbSession, by_province: bool = False,
                    chip: Annotated[str | None, Q(max_length=60)] = None,
                    province: Annotated[str | None, Q(max_length=40)] = None) -> PriceIndexOut:
    """Count, min, quartiles, median and max of listed on-demand prices per accelerator-hour, per chip."""
    chip_key = catalog_search.Resolver(session).chips((chip,))[0] if chip else None
    prov = catalog_search.Resolver(session).place("province", (province,))[0] if province else None
    rows = price_index(session, by_province=by_province or prov is not None, chip=chip_key, province=prov)
    return PriceIndexOut(rows=[
        PriceIndexRow(chip=c.key, chip_name=c.name, vendor=c.vendor, ecosystem=c.ecosystem, province=p,
                      **PriceSpread.fields_of(s))
        for c, p, s in rows
    ])


@router.get("/stats", response_model=StatsOut)
def stats(session: DbSession) -> StatsOut:
    """The platform's figures: data centers connected, products listed, buyers, sellers, orders, GMV."""
    orders, gmv_fen = order_figures(session)
    return StatsOut(**service.platform_stats(session), orders=orders, gmv=Money.of(gmv_fen))
