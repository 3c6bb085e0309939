"""Catalog use cases: chips, regions, data centers and products. No HTTP here; callers commit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import (ChipModel, Datacenter, DatacenterStatus, Platform, Product, ProductKind,
                                   ProductStatus, ProductStockChange, Region)
from suanli.catalog.price_guard import flag_prices, guard_bulk_prices, guard_prices, review_prices
from suanli.catalog.schemas import DatacenterIn, DatacenterPatch, ProductBulkIn, ProductIn, ProductPatch, RegionIn
from suanli.core.chips import load_chip_table
from suanli.core.money import scale_fen
from suanli.core.price_guard import GuardedPrices
from suanli.core.compute import price_per_accelerator_hour_fen, price_per_pflops_hour_fen, unit_compute
from suanli.db import utcnow
from suanli.errors import Conflict, Forbidden, InvalidInput, NotFound


# ---------------------------------------------------------------- platform and chips

def local_platform(session: Session, name: str = "安徽省算力调度平台") -> Platform:
    platform = session.scalar(select(Platform).where(Platform.is_local.is_(True)))
    if platform is None:
        platform = Platform(name=name, is_local=True)
        session.add(platform)
        session.flush()
    return platform


def sync_chips(session: Session) -> int:
    """Insert or update every chip of the packaged table. Returns how many chips there are."""
    existing = {c.key: c for c in session.scalars(select(ChipModel))}
    table = load_chip_table()
    for key, spec in table.items():
        values = dict(name=spec.name, vendor=spec.vendor, vendor_zh=spec.vendor_zh, ecosystem=spec.ecosystem,
                      domestic=spec.domestic, fp16_tflops=spec.fp16_tflops, fp32_tflops=spec.fp32_tflops,
                      memory_gib=int(spec.memory_gib), memory_bandwidth_gbs=spec.memory_bandwidth_gbs,
                      tdp_w=int(spec.tdp_w))
        chip = existing.get(key)
        if chip is None:
            session.add(ChipModel(key=key, **values))
        else:
            for name, value in values.items():
                setattr(chip, name, value)
    session.flush()
    return len(table)


def list_chips(session: Session) -> list[ChipModel]:
    order = {key: i for i, key in enumerate(load_chip_table())}
    return sorted(session.scalars(select(ChipModel)), key=lambda c: order.get(c.key, len(order)))


def get_chip(session: Session, key: str) -> ChipModel:
    chip = session.get(ChipModel, key)
    if chip is None:
        valid = [c.key for c in list_chips(session)]
        raise InvalidInput(f"Unknown chip {key!r}. Valid chips: {', '.join(valid)}.", code="unknown_chip",
                           details={"chip": key, "valid_values": valid})
    return chip


# ---------------------------------------------------------------- regions

def list_regions(session: Session) -> list[Region]:
    return list(session.scalars(select(Region).order_by(Region.province, Region.city)))


def create_region(session: Session, body: RegionIn) -> Region:
    if session.scalar(select(Region.id).where(Region.province == body.province, Region.city == body.city)):
        raise Conflict(f"Region {body.province}·{body.city} exists already.", code="region_exists")
    region = Region(province=body.province, city=body.city, hub=body.hub, cluster=body.cluster)
    session.add(region)
    session.flush()
    return region


def get_region(session: Session, region_id: uuid.UUID) -> Region:
    region = session.get(Region, region_id)
    if region is None:
        raise NotFound(f"There is no region {region_id}; list them at GET /api/v1/regions.", code="region_not_found")
    return region


# ---------------------------------------------------------------- data centers

def _can_manage(user: User, datacenter: Datacenter) -> bool:
    return user.role is Role.OPERATOR or (user.role is Role.SELLER and datacenter.owner_org_id == user.organization_id)


def get_datacenter(session: Session, datacenter_id: uuid.UUID, viewer: User | None = None) -> Datacenter:
    """A data center the viewer may see: approved ones are public; others only to their owner and operators."""
    datacenter = session.get(Datacenter, datacenter_id)
    if datacenter is None or (datacenter.status is not DatacenterStatus.APPROVED
                              and (viewer is None or not _can_manage(viewer, datacenter))):
        raise NotFound(f"There is no data center {datacenter_id}.", code="datacenter_not_found")
    return datacenter


def managed_datacenter(session: Session, datacenter_id: uuid.UUID, user: User) -> Datacenter:
    datacenter = get_datacenter(session, datacenter_id, user)
    if not _can_manage(user, datacenter):
        raise Forbidden("This data center belongs to another organization; you can only change your own.",
                        code="not_owner")
    return datacenter


def list_datacenters(session: Session, viewer: User | None, *, status: DatacenterStatus | None = None,
                     mine: bool = False) -> list[Datacenter]:
    query = select(Datacenter).order_by(Datacenter.created_at)
    if mine:
        if viewer is None:
            return []
        query = query.where(Datacenter.owner_org_id == viewer.organization_id)
    elif viewer is None or viewer.role is not Role.OPERATOR:
        visible = Datacenter.status == DatacenterStatus.APPROVED
        if viewer is not None:
            visible = visible | (Datacenter.owner_org_id == viewer.organization_id)
        query = query.where(visible)
    if status is not None:
        query = query.where(Datacenter.status == status)
    return list(session.scalars(query))


def create_datacenter(session: Session, seller: User, body: DatacenterIn) -> Datacenter:
    get_region(session, body.region_id)
    if session.scalar(select(Datacenter.id).where(Datacenter.owner_org_id == seller.organization_id,
                                                  Datacenter.name == body.name)):
        raise Conflict(f"Your organization already has a data center named {body.name!r}.", code="datacenter_exists")
    datacenter = Datacenter(platform_id=local_platform(session).id, owner_org_id=seller.organization_id,
                            region_id=body.region_id, name=body.name, tier=body.tier, pue=body.pue,
                            green_power_pct=body.green_power_pct, status=DatacenterStatus.PENDING)
    session.add(datacenter)
    session.flush()
    session.refresh(datacenter)
    return datacenter


def update_datacenter(session: Session, user: User, datacenter_id: uuid.UUID, body: DatacenterPatch) -> Datacenter:
    datacenter = managed_datacenter(session, datacenter_id, user)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "region_id" in changes:
        get_region(session, changes["region_id"])
    for name, value in changes.items():
        setattr(datacenter, name, value)
    session.flush()
    session.refresh(datacenter)
    refresh_datacenter_products(session, datacenter)
    return datacenter


def set_datacenter_status(session: Session, datacenter_id: uuid.UUID, status: DatacenterStatus) -> Datacenter:
    datacenter = session.get(Datacenter, datacenter_id)
    if datacenter is None:
        raise NotFound(f"There is no data center {datacenter_id}.", code="datacenter_not_found")
    datacenter.status = status
    if status is DatacenterStatus.APPROVED and datacenter.approved_at is None:
        datacenter.approved_at = utcnow()
    session.flush()
    refresh_datacenter_products(session, datacenter)
    audit.record(session, None, f"datacenter.{status.value}", f"datacenter:{datacenter.id}",
                 {"owner_org_id": datacenter.owner_org_id, "name": datacenter.name})
    return datacenter


def refresh_datacenter_products(session: Session, datacenter: Datacenter) -> None:
    """Keep the search copies of a data center's products true after the data center changed."""
    approved = datacenter.status is DatacenterStatus.APPROVED
    session.execute(
        update(Product)
        .where(Product.datacenter_id == datacenter.id)
        .values(province=datacenter.region.province, city=datacenter.region.city,
                is_visible=(Product.status == ProductStatus.LISTED) if approved else False)
        .execution_options(synchronize_session="fetch")
    )


# ---------------------------------------------------------------- products

def product_copies(*, accelerators: int, price_on_demand_fen: int, status: ProductStatus, chip: ChipModel | None,
                   datacenter_status: DatacenterStatus, province: str, city: str) -> dict[str, Any]:
    """The search columns of a product, derived from its own fields, its chip and its data center."""
    compute = unit_compute(accelerators, chip.fp16_tflops if chip else None, chip.fp32_tflops if chip else None,
                           chip.memory_gib if chip else None)
    return {
        "vendor": chip.vendor.lower() if chip else None,
        "ecosystem": chip.ecosystem if chip else None,
        "accel_memory_gib": compute.accel_memory_gib,
        "fp16_tflops": compute.fp16_tflops,
        "fp32_tflops": compute.fp32_tflops,
        "price_per_accel_hour_fen": price_per_accelerator_hour_fen(price_on_demand_fen, accelerators),
        "price_per_pflops_hour_fen": price_per_pflops_hour_fen(price_on_demand_fen, compute.fp16_tflops),
        "province": province,
        "city": city,
        "is_visible": datacenter_status is DatacenterStatus.APPROVED and status is ProductStatus.LISTED,
    }


def apply_product_copies(product: Product, datacenter: Datacenter, chip: ChipModel | None) -> None:
    copies = product_copies(accelerators=product.accelerators, price_on_demand_fen=product.price_on_demand_fen,
                            status=product.status, chip=chip, datacenter_status=datacenter.status,
                            province=datacenter.region.province, city=datacenter.region.city)
    for name, value in copies.items():
        setattr(product, name, value)


def _check_specs(session: Session, kind: ProductKind, chip_key: str | None, accelerators: int) -> ChipModel | None:
    if kind is ProductKind.ACCELERATOR:
        if chip_key is None:
            raise InvalidInput("An accelerator product needs a chip; pick one from GET /api/v1/chips.",
                               code="chip_required", details={"field": "chip"})
        if accelerators < 1:
            raise InvalidInput("An accelerator product needs at least 1 accelerator per unit.",
                               code="accelerators_required", details={"field": "accelerators"})
        return get_chip(session, chip_key)
    if chip_key is not None or accelerators:
        raise InvalidInput(f"A {kind.value} product has no chip and 0 accelerators; use kind=accelerator for GPUs/NPUs.",
                           code="chip_not_allowed", details={"field": "chip"})
    return None


def create_product(session: Session, seller: User, body: ProductIn, *, now: dt.datetime | None = None) -> Product:
    """A new product, in stock from ``now`` (default: the system clock's time) on."""
    datacenter = managed_datacenter(session, body.datacenter_id, seller)
    chip = _check_specs(session, body.kind, body.chip, body.accelerators)
    fields: dict[str, Any] = body.model_dump(exclude={"chip", "datacenter_id", "reserved_discounts_bp",
                                                      "confirm_unusual_price"})
    now = now or utcnow()
    product = Product(platform_id=datacenter.platform_id, datacenter_id=datacenter.id,
                      chip_key=chip.key if chip else None, allocated_units=0, created_at=now, updated_at=now, **fields)
    set_term_discounts(product, body.reserved_discounts_bp)
    apply_product_copies(product, datacenter, chip)
    guard_prices(session, product, confirmed=body.confirm_unusual_price, now=now)
    session.add(product)
    session.flush()
    record_stock(session, product, now)
    return product


def record_stock(session: Session, product: Product, at: dt.datetime) -> None:
    """Note in the stock history that ``product`` has its current stock from ``at`` on. Every writer of
    ``stock_units`` calls this (bulk seeding inserts the same rows itself)."""
    session.add(ProductStockChange(product_id=product.id, at=at, stock_units=product.stock_units))
    session.flush()


def backdate_initial_stock(session: Session, at: dt.datetime) -> int:
    """Put every product first in stock later than ``at`` in stock from ``at`` (its first stock-history row
    moves back; its later changes stay): for a history replayed up to now on products loaded now, such as the
    demo's. Returns how many products moved."""
    earlier = ProductStockChange.__table__.alias("earlier")
    is_first = ~select(earlier.c.id).where(earlier.c.product_id == ProductStockChange.product_id,
                                           earlier.c.at < ProductStockChange.at).exists()
    result = session.execute(update(ProductStockChange).where(ProductStockChange.at > at, is_first).values(at=at)
                             .execution_options(synchronize_session=False))
    return result.rowcount


def set_term_discounts(product: Product, discounts: dict[str, int]) -> None:
    """Reserved term discounts (basis points by term "3", "6", "12"; validated 0..5000 by the schema)."""
    product.reserved_discount_3m_bp = discounts.get("3", 0)
    product.reserved_discount_6m_bp = discounts.get("6", 0)
    product.reserved_discount_12m_bp = discounts.get("12", 0)


def get_product(session: Session, product_id: uuid.UUID, viewer: User | None = None) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"There is no product {product_id}.", code="product_not_found")
    if not product.is_visible:
        datacenter = session.get(Datacenter, product.datacenter_id)
        if viewer is None or datacenter is None or not _can_manage(viewer, datacenter):
            raise NotFound(f"There is no product {product_id}.", code="product_not_found")
    return product


def managed_product(session: Session, product_id: uuid.UUID, user: User) -> tuple[Product, Datacenter]:
    product = get_product(session, product_id, user)
    datacenter = session.get_one(Datacenter, product.datacenter_id)
    if not _can_manage(user, datacenter):
        raise Forbidden("This product belongs to another organization; you can only change your own.",
                        code="not_owner")
    return product, datacenter


def update_product(session: Session, user: User, product_id: uuid.UUID, body: ProductPatch, *,
                   now: dt.datetime | None = None) -> Product:
    """Change a product; a new stock counts from ``now`` (default: the system clock's time) on."""
    product, datacenter = managed_product(session, product_id, user)
    # Locked and re-read (a product row before any order or ledger row, as trading takes them: trading.locks), so
    # the stock check below sees the units the last order or release committed, and no order takes units
    # between the check and the write.
    session.scalar(select(Product).where(Product.id == product.id).with_for_update(key_share=True)
                   .execution_options(populate_existing=True))
    stock_before, prices_before, before = product.stock_units, _prices(product), _audited(product)
    changes = body.model_dump(exclude_unset=True, exclude_none=True,
                              exclude={"clear_reserved", "clear_spot", "reserved_discounts_bp", "confirm_unusual_price"})
    for name, value in changes.items():
        setattr(product, name, value)
    if body.reserved_discounts_bp is not None:
        set_term_discounts(product, body.reserved_discounts_bp)
    if body.clear_reserved:
        product.price_reserved_month_fen = None
    if body.clear_spot:
        product.price_spot_floor_fen = None
    if product.price_spot_floor_fen is not None and product.price_spot_floor_fen > product.price_on_demand_fen:
        raise InvalidInput("The spot floor must not exceed the on-demand price.", code="spot_above_on_demand",
                           details={"field": "price_spot_floor_fen"})
    if product.stock_units < product.allocated_units:
        raise stock_below_allocated(product.stock_units, product.allocated_units)
    if _prices(product) != prices_before:  # stock, name or status alone: the prices were checked when set
        guard_prices(session, product, confirmed=body.confirm_unusual_price, now=now or utcnow())
    chip = session.get(ChipModel, product.chip_key) if product.chip_key else None
    apply_product_copies(product, datacenter, chip)
    session.flush()
    if product.stock_units != stock_before:
        record_stock(session, product, now or utcnow())
    _record_change(session, user, product, before)
    return product


def _audited(product: Product) -> dict[str, Any]:
    """What a change to a product is audited for: its prices and whether it is listed."""
    return {"price_on_demand_fen": product.price_on_demand_fen,
            "price_reserved_month_fen": product.price_reserved_month_fen,
            "price_spot_floor_fen": product.price_spot_floor_fen, "status": product.status.value}


def _record_change(session: Session, user: User, product: Product, before: dict[str, Any], **extra: Any) -> None:
    """An audit entry ``product.changed`` with each audited value that changed as [before, after] (none if none
    did). Called last in a change, after its other writes (audit.record takes the last lock)."""
    after = _audited(product)
    changes = {name: [before[name], value] for name, value in after.items() if before[name] != value}
    if changes:
        audit.record(session, user, "product.changed", f"product:{product.id}", {"changes": changes, **extra})


def bulk_change_products(session: Session, user: User, body: ProductBulkIn, *,
                         now: dt.datetime | None = None) -> list[Product]:
    """Change many of the caller's products at once: their prices by a percentage and/or their listing. All or
    nothing: one product the caller may not change, or unusual prices not confirmed, and none changes. The price
    guard reviews every new price against the price index as it was before the change (the same checks and the
    same ``confirm_unusual_price`` as one product's change); each changed product is audited as one change is."""
    now = now or utcnow()
    ids = list(dict.fromkeys(body.product_ids))
    owned = [managed_product(session, product_id, user) for product_id in ids]
    # Locked in one statement, in id order (as trading locks products), and re-read.
    locked = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id)
                                               .with_for_update(key_share=True)
                                               .execution_options(populate_existing=True))}
    products = [(locked[product.id], datacenter) for product, datacenter in owned]
    befores = {product.id: _audited(product) for product, _d in products}
    if body.price_change_pct is not None:
        reviews = []
        for product, _datacenter in products:
            scaled = GuardedPrices(
                accelerators=product.accelerators,
                on_demand_fen=scale_fen(product.price_on_demand_fen, body.price_change_pct),
                reserved_month_fen=None if product.price_reserved_month_fen is None
                else scale_fen(product.price_reserved_month_fen, body.price_change_pct),
                spot_floor_fen=None if product.price_spot_floor_fen is None
                else scale_fen(product.price_spot_floor_fen, body.price_change_pct))
            reviews.append((product, review_prices(session, product, scaled)))
        guard_bulk_prices(reviews, confirmed=body.confirm_unusual_price)
        for product, review in reviews:
            product.price_on_demand_fen = review.prices.on_demand_fen
            product.price_reserved_month_fen = review.prices.reserved_month_fen
            product.price_spot_floor_fen = review.prices.spot_floor_fen
            flag_prices(product, review.checks, now)
    for product, datacenter in products:
        if body.status is not None:
            product.status = body.status
        product.updated_at = now
        chip = session.get(ChipModel, product.chip_key) if product.chip_key else None
        apply_product_copies(product, datacenter, chip)
    session.flush()
    for product, _datacenter in products:
        _record_change(session, user, product, befores[product.id], bulk=len(products))
    return [product for product, _d in products]


def _prices(product: Product) -> tuple[int, int | None, int | None]:
    return product.price_on_demand_fen, product.price_reserved_month_fen, product.price_spot_floor_fen


def stock_below_allocated(stock_units: int, allocated_units: int) -> Conflict:
    """409: a stock below the units rented out now (the seller may lower it to ``allocated_units`` at most)."""
    return Conflict(f"{allocated_units} units are rented out now; stock cannot go below that (you asked for "
                    f"{stock_units}). Set it to {allocated_units} or more, or lower it after those leases end.",
                    code="stock_below_allocated",
                    details={"stock_units": stock_units, "allocated_units": allocated_units})


def set_product_status(session: Session, user: User, product_id: uuid.UUID, status: ProductStatus) -> Product:
    return update_product(session, user, product_id, ProductPatch(status=status))


def datacenter_products(session: Session, user: User, datacenter_id: uuid.UUID) -> list[Product]:
    datacenter = managed_datacenter(session, datacenter_id, user)
    return list(session.scalars(select(Product).where(Product.datacenter_id == datacenter.id)
                                .order_by(Product.created_at)))


# ---------------------------------------------------------------- platform figures

def platform_stats(session: Session) -> dict[str, int]:
    dc_counts = dict(session.execute(select(Datacenter.status, func.count()).group_by(Datacenter.status)).all())
    listed, accelerators = session.execute(
        select(func.count(), func.coalesce(func.sum(Product.accelerators * Product.stock_units), 0))
        .where(Product.is_visible.is_(True))
    ).one()
    org_counts = dict(session.execute(select(Organization.kind, func.count()).group_by(Organization.kind)).all())
    return {
        "datacenters_connected": dc_counts.get(DatacenterStatus.APPROVED, 0),
        "datacenters_pending": dc_counts.get(DatacenterStatus.PENDING, 0),
        "products_listed": listed,
        "accelerators_listed": int(accelerators),
        "buyers": org_counts.get(Role.BUYER, 0),
        "sellers": org_counts.get(Role.SELLER, 0),
    }
