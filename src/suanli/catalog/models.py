"""Catalog tables.

Money columns end in ``_fen`` and hold integer fen (1 CNY = 100 fen). Compute columns carry their
precision in the name (``fp16_tflops`` is dense FP16/BF16 matrix throughput).

Products carry copies of a few facts of their chip, region and data center (``vendor``, ``province``,
``is_visible``, ...). Search filters and sorts on them with one index each and no joins; the service
keeps the copies true when the source changes (see ``catalog.service``).
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import uuid
from decimal import Decimal

from sqlalchemy import (CheckConstraint, Enum, Float, ForeignKey, Index, Integer, Numeric, SmallInteger, String,
                        UniqueConstraint, column)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from suanli.accounts.models import Organization
from suanli.db import Base, utcnow
from suanli.ids import new_id


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class DatacenterStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"


class ProductKind(enum.StrEnum):
    ACCELERATOR = "accelerator"
    CPU = "cpu"
    STORAGE = "storage"


class DeliveryForm(enum.StrEnum):
    CONTAINER = "container"
    VM = "vm"
    BARE_METAL = "bare_metal"
    BATCH = "batch"


class ProductStatus(enum.StrEnum):
    LISTED = "listed"
    UNLISTED = "unlisted"


class Platform(Base):
    """A compute platform: this one (``is_local``) or a federated peer (``suanli.federation``)."""

    __tablename__ = "platforms"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    is_local: Mapped[bool] = mapped_column(default=False)
    province: Mapped[str | None] = mapped_column(String(40), default=None)
    base_url: Mapped[str | None] = mapped_column(String(300), default=None,
                                                 doc="Where its federation API is reached (/federation/v1/...).")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChipModel(Base):
    """One accelerator model; synced from the packaged chip table by ``suanli db upgrade``."""

    __tablename__ = "chip_models"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    vendor: Mapped[str] = mapped_column(String(40), index=True)
    vendor_zh: Mapped[str] = mapped_column(String(40))
    ecosystem: Mapped[str] = mapped_column(String(20), index=True)
    domestic: Mapped[bool]
    fp16_tflops: Mapped[float] = mapped_column(Float)
    fp32_tflops: Mapped[float] = mapped_column(Float)
    memory_gib: Mapped[int]
    memory_bandwidth_gbs: Mapped[float] = mapped_column(Float)
    tdp_w: Mapped[int]


class Region(Base):
    """A city in a province, with the national compute hub (东数西算枢纽) and cluster it belongs to."""

    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("province", "city"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    province: Mapped[str] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(40))
    hub: Mapped[str] = mapped_column(String(40))
    cluster: Mapped[str | None] = mapped_column(String(60))


class Datacenter(Base):
    __tablename__ = "datacenters"
    __table_args__ = (
        CheckConstraint("tier BETWEEN 1 AND 4", name="tier_range"),
        CheckConstraint("green_power_pct BETWEEN 0 AND 100", name="green_range"),
        UniqueConstraint("owner_org_id", "name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"))
    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("regions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int]
    pue: Mapped[Decimal] = mapped_column(Numeric(4, 2))
    green_power_pct: Mapped[int]
    status: Mapped[DatacenterStatus] = mapped_column(_enum(DatacenterStatus, "datacenter_status"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    region: Mapped[Region] = relationship(lazy="joined")
    owner: Mapped[Organization] = relationship(lazy="joined")


# Every column a search filters or sorts on (but the data center, which has its own index), and the id.
_SEARCH_COLUMNS = ("chip_key", "vendor", "ecosystem", "kind", "province", "city", "is_visible", "delivery",
                   "accelerators", "accel_memory_gib", "vcpus", "memory_gib", "stock_units", "allocated_units",
                   "price_reserved_month_fen", "price_spot_floor_fen", "price_on_demand_fen",
                   "price_per_accel_hour_fen", "price_per_pflops_hour_fen", "fp16_tflops", "id")


def _search_index(name: str, *leading: str, **where: object) -> Index:
    """A covering search index: ``leading`` columns first (what it seeks on), then the other search columns."""
    return Index(name, *leading, *(c for c in _SEARCH_COLUMNS if c not in leading), **where)


SAMPLE_SLOTS = 100
"""`Product.sample_slot` is uniform over ``0 .. SAMPLE_SLOTS - 1``."""


def new_sample_slot() -> int:
    return random.randrange(SAMPLE_SLOTS)


#: Products none of whose units are free: `available=false` finds them through a (small) partial index.
SOLD_OUT = column("stock_units") <= column("allocated_units")


class Product(Base):
    """A SKU a data center sells: one *unit* is what a buyer rents (e.g. an 8×A800 bare-metal node).

    Every product is rentable by the hour (``price_on_demand_fen`` per unit-hour); a reserved monthly
    price (usage rights for a term) and a spot/idle floor are optional modes the seller may add.
    """

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock_units >= 0", name="stock_nonneg"),
        CheckConstraint("allocated_units >= 0 AND allocated_units <= stock_units", name="allocation_within_stock"),
        CheckConstraint("price_on_demand_fen > 0", name="on_demand_positive"),
        CheckConstraint("reserved_discount_3m_bp BETWEEN 0 AND 5000 AND reserved_discount_6m_bp BETWEEN 0 AND 5000 "
                        "AND reserved_discount_12m_bp BETWEEN 0 AND 5000", name="reserved_discounts_range"),
        # Sort indexes: a search with many matches walks one of these in order until its page is full. They
        # cover every search column, so rows that fail the filter are skipped inside the index, without
        # reading the table (a walk passes thousands of them when filter and sort go against each other).
        _search_index("ix_products_visible_price", "is_visible", "price_on_demand_fen", "id"),
        _search_index("ix_products_visible_ppp", "is_visible", "price_per_pflops_hour_fen", "id"),
        _search_index("ix_products_visible_ppa", "is_visible", "price_per_accel_hour_fen", "id"),
        _search_index("ix_products_visible_pflops", "is_visible", "fp16_tflops", "id"),
        _search_index("ix_products_visible_accel_mem", "is_visible", "accel_memory_gib", "id"),
        _search_index("ix_products_visible_memory", "is_visible", "memory_gib", "id"),
        # Covering search indexes, one per way in (chip, vendor, ecosystem, place): each holds every search
        # column, so counting the matches of any filter that names one of these, and sorting a few thousand
        # of them, reads only the index (index-only scans; PostgreSQL needs the table vacuumed for that).
        _search_index("ix_products_chip_search", "chip_key", "is_visible", "accelerators", "accel_memory_gib"),
        # One chip by price, or by price per PFLOPS: the commonest searches, walked in order within the chip
        # (`chip=A800 accelerators>=8 sort=price_per_pflops` reads A800 rows only, cheapest first).
        _search_index("ix_products_chip_price", "chip_key", "is_visible", "price_on_demand_fen", "id"),
        _search_index("ix_products_chip_ppp", "chip_key", "is_visible", "price_per_pflops_hour_fen", "id"),
        _search_index("ix_products_vendor_search", "vendor", "is_visible", "accel_memory_gib", "accelerators"),
        _search_index("ix_products_ecosystem_search", "ecosystem", "is_visible", "accel_memory_gib", "accelerators"),
        _search_index("ix_products_place_search", "province", "city", "is_visible", "delivery", "accelerators",
                      "accel_memory_gib"),
        Index("ix_products_datacenter", "datacenter_id"),
        # The rest of the ways in, so that a search matching few rows never scans: the shape of a unit
        # (kind, accelerators) and vCPUs, sold-out products (partial: few), and the random sample that
        # search estimates its totals from (see `suanli.catalog.search`).
        _search_index("ix_products_shape_search", "accelerators", "is_visible", "kind"),
        _search_index("ix_products_vcpus_search", "vcpus", "is_visible"),
        Index("ix_products_sold_out", "is_visible", "id", sqlite_where=SOLD_OUT, postgresql_where=SOLD_OUT),
        _search_index("ix_products_sample", "sample_slot", "is_visible"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"))
    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ProductKind] = mapped_column(_enum(ProductKind, "product_kind"))
    chip_key: Mapped[str | None] = mapped_column(ForeignKey("chip_models.key"))
    # The cluster this product's capacity runs jobs on (suanli.jobs); None: rentable, but no job is placed on it.
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clusters.id"), default=None, index=True)
    accelerators: Mapped[int]
    vcpus: Mapped[int]
    memory_gib: Mapped[int]
    disk_gib: Mapped[int]
    network_gbps: Mapped[int]
    delivery: Mapped[DeliveryForm] = mapped_column(_enum(DeliveryForm, "delivery_form"))
    stock_units: Mapped[int]
    allocated_units: Mapped[int] = mapped_column(default=0)
    status: Mapped[ProductStatus] = mapped_column(_enum(ProductStatus, "product_status"))
    price_on_demand_fen: Mapped[int]
    price_reserved_month_fen: Mapped[int | None]
    price_spot_floor_fen: Mapped[int | None]
    # Reserved term discounts set by the seller, basis points off monthly × units × months (1 month: none).
    reserved_discount_3m_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_discount_6m_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_discount_12m_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unusual_price_checks: Mapped[str | None] = mapped_column(
        String(200), default=None,
        doc="The price-guard checks (comma-separated) its seller confirmed prices past; null when none failed.")
    unusual_price_at: Mapped[dt.datetime | None] = mapped_column(default=None, doc="When they were confirmed.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Copies for search (kept by catalog.service.refresh_product_copies)
    is_visible: Mapped[bool] = mapped_column(default=False)
    vendor: Mapped[str | None] = mapped_column(String(40), index=True)
    ecosystem: Mapped[str | None] = mapped_column(String(20), index=True)
    accel_memory_gib: Mapped[int] = mapped_column(default=0)
    fp16_tflops: Mapped[float] = mapped_column(Float, default=0.0)
    fp32_tflops: Mapped[float] = mapped_column(Float, default=0.0)
    price_per_accel_hour_fen: Mapped[int | None]
    price_per_pflops_hour_fen: Mapped[int | None]
    province: Mapped[str] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(40), index=True)
    sample_slot: Mapped[int] = mapped_column(
        SmallInteger, default=new_sample_slot, server_default="0",
        doc="Random, 0-99, fixed at creation: products with sample_slot < k are a k% sample (search estimates "
            "its totals from it).")

    datacenter: Mapped[Datacenter] = relationship(lazy="raise")
    chip: Mapped[ChipModel | None] = relationship(lazy="raise")


class ProductStockChange(Base):
    """A product's stock from ``at`` on: one row when it is created, one more each time its stock is changed.

    The stock at an instant is that of the last row at or before it (none yet: the product did not exist),
    so the utilization of a past day is measured against that day's stock (``trading.reports``).
    """

    __tablename__ = "product_stock_changes"
    __table_args__ = (
        CheckConstraint("stock_units >= 0", name="stock_nonneg"),
        Index("ix_product_stock_changes_product_at", "product_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    at: Mapped[dt.datetime]
    stock_units: Mapped[int]


class PriceIndexSnapshot(Base):
    """The price index of one chip as it stood on one day (China Standard Time): listed on-demand prices per
    accelerator-hour, in fen. Taken by ``suanli price-index snapshot`` (or the API); taking a day again replaces it."""

    __tablename__ = "price_index_snapshots"
    __table_args__ = (CheckConstraint("offers > 0", name="offers_positive"),)

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    chip_key: Mapped[str] = mapped_column(ForeignKey("chip_models.key"), primary_key=True)
    offers: Mapped[int] = mapped_column(Integer)
    min_fen: Mapped[int]
    q1_fen: Mapped[int]
    median_fen: Mapped[int]
    q3_fen: Mapped[int]
    max_fen: Mapped[int]
    taken_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GuidancePrice(Base):
    """The operator's published guidance price (指导价) for a chip, per accelerator-hour on demand, and the band
    around it within which a listing counts as near it (``band_pct`` either way)."""

    __tablename__ = "guidance_prices"
    __table_args__ = (CheckConstraint("price_fen > 0", name="price_positive"),
                      CheckConstraint("band_pct >= 1 AND band_pct <= 95", name="band_range"))

    chip_key: Mapped[str] = mapped_column(ForeignKey("chip_models.key"), primary_key=True)
    price_fen: Mapped[int]
    band_pct: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(500), default="")
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
