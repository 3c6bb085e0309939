"""Load a generated network (the demo, or synthetic data at scale) into the database.

Products go in with bulk INSERTs in batches, so 100,000 products load in seconds; their search copies
come from the same ``product_copies`` the API uses, and each gets the first row of its stock history
(``product_stock_changes``, at the load's time) as ``create_product`` gives it, so seeded and hand-made
products are alike.

A large load (``REBUILD_INDEXES_FROM`` products or more) drops the product indexes first and builds them again
at the end, in the same transaction: keeping a dozen covering indexes up to date row by row costs far more than
building each once from sorted data (1,000,000 products: about an hour against a few minutes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Index, insert, select, text
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization, Role
from suanli.catalog.demo_network import NetworkSeed
from suanli.catalog.models import (SAMPLE_SLOTS, ChipModel, Datacenter, DatacenterStatus, Product, ProductKind,
                                   ProductStatus, ProductStockChange, Region)
from suanli.catalog.service import local_platform, product_copies
from suanli.db import utcnow
from suanli.ids import new_id

BATCH = 5000
REBUILD_INDEXES_FROM = 50_000


@dataclass(frozen=True)
class LoadReport:
    regions: int
    organizations: int
    datacenters: int
    products: int


def load_network(session: Session, network: NetworkSeed, *, approve: bool = True,
                 pending_datacenters: frozenset[str] = frozenset(),
                 progress: Callable[[int], None] | None = None,
                 stage: Callable[[str], None] | None = None) -> LoadReport:
    """Insert what is not there yet (regions by province+city, organizations by name, data centers by
    owner+name); products are always added. Data centers whose key is in ``pending_datacenters`` wait
    for an operator's approval. ``progress`` hears how many products are in, ``stage`` what comes after."""
    platform = local_platform(session)
    regions = {(r.province, r.city): r for r in session.scalars(select(Region))}
    region_by_key: dict[str, Region] = {}
    new_regions = 0
    for seed in network.regions:
        region = regions.get((seed.province, seed.city))
        if region is None:
            region = Region(province=seed.province, city=seed.city, hub=seed.hub, cluster=seed.cluster)
            session.add(region)
            regions[(seed.province, seed.city)] = region
            new_regions += 1
        region_by_key[seed.key] = region

    orgs = {o.name: o for o in session.scalars(select(Organization))}
    org_by_key: dict[str, Organization] = {}
    new_orgs = 0
    for seed in network.orgs:
        org = orgs.get(seed.name)
        if org is None:
            org = Organization(name=seed.name, kind=Role.SELLER)
            session.add(org)
            orgs[seed.name] = org
            new_orgs += 1
        org_by_key[seed.key] = org
    session.flush()

    existing = {(d.owner_org_id, d.name): d for d in session.scalars(select(Datacenter))}
    dc_by_key: dict[str, Datacenter] = {}
    new_dcs = 0
    now = utcnow()
    for seed in network.datacenters:
        org = org_by_key[seed.org_key]
        dc = existing.get((org.id, seed.name))
        if dc is None:
            approved = approve and seed.key not in pending_datacenters
            dc = Datacenter(platform_id=platform.id, owner_org_id=org.id, region_id=region_by_key[seed.region_key].id,
                            name=seed.name, tier=seed.tier, pue=seed.pue, green_power_pct=seed.green_power_pct,
                            status=DatacenterStatus.APPROVED if approved else DatacenterStatus.PENDING,
                            approved_at=now if approved else None)
            session.add(dc)
            new_dcs += 1
        dc_by_key[seed.key] = dc
    session.flush()

    chips = {c.key: c for c in session.scalars(select(ChipModel))}
    region_of = {d.id: r for d in dc_by_key.values() for r in [session.get_one(Region, d.region_id)]}
    rows: list[dict] = []
    stock_rows: list[dict] = []
    rebuilt = _drop_product_indexes(session) if len(network.products) >= REBUILD_INDEXES_FROM else []
    for count, seed in enumerate(network.products, start=1):
        dc = dc_by_key[seed.datacenter_key]
        region = region_of[dc.id]
        chip = chips.get(seed.chip_key) if seed.chip_key else None
        if seed.chip_key and chip is None:
            raise ValueError(f"product {seed.key} names chip {seed.chip_key!r}, which is not in the chip table")
        if seed.price_on_demand_fen is None:
            raise ValueError(f"product {seed.key} has no on-demand price; every product is rentable by the hour")
        status = ProductStatus.LISTED
        product_id = new_id()
        stock_rows.append({"id": new_id(), "product_id": product_id, "at": now, "stock_units": seed.stock_units})
        rows.append({
            "id": product_id, "platform_id": platform.id, "datacenter_id": dc.id, "name": seed.name,
            "kind": ProductKind(seed.kind), "chip_key": seed.chip_key, "accelerators": seed.accelerators,
            "vcpus": seed.vcpus, "memory_gib": seed.memory_gib, "disk_gib": seed.disk_gib,
            "network_gbps": seed.network_gbps, "delivery": seed.delivery, "stock_units": seed.stock_units,
            "allocated_units": 0, "status": status, "price_on_demand_fen": seed.price_on_demand_fen,
            "price_reserved_month_fen": seed.price_reserved_month_fen,
            "price_spot_floor_fen": seed.price_spot_floor_fen, "created_at": now, "updated_at": now,
            "sample_slot": product_id.int % SAMPLE_SLOTS,  # the low bits of a UUIDv7 are random
            **product_copies(accelerators=seed.accelerators, price_on_demand_fen=seed.price_on_demand_fen,
                             status=status, chip=chip, datacenter_status=dc.status,
                             province=region.province, city=region.city),
        })
        if len(rows) >= BATCH:
            _insert_products(session, rows, stock_rows)
            rows, stock_rows = [], []
            if progress:
                progress(count)
    if rows:
        _insert_products(session, rows, stock_rows)
    if progress:
        progress(len(network.products))
    for number, index in enumerate(rebuilt, start=1):
        if stage:
            stage(f"building index {number}/{len(rebuilt)}")
        index.create(session.connection())
    if stage:
        stage("gathering statistics")
    analyze(session)
    return LoadReport(new_regions, new_orgs, new_dcs, len(network.products))


def _drop_product_indexes(session: Session) -> list[Index]:
    """Drop the indexes of the tables a load fills (but primary keys and unique constraints); returns them."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # Building an index sorts the whole table: a larger page cache than the default 2 MB saves most of the I/O.
        connection.execute(text("PRAGMA cache_size = -262144"))
    dropped = [index for table in (Product, ProductStockChange) for index in table.__table__.indexes
               if not index.unique]
    for index in dropped:
        index.drop(connection)
    return dropped


def _insert_products(session: Session, rows: list[dict], stock_rows: list[dict]) -> None:
    session.execute(insert(Product), rows)
    session.execute(insert(ProductStockChange), stock_rows)


def analyze(session: Session) -> None:
    """Refresh the query planner's statistics of the tables a load fills.

    Without them, after a bulk load SQLite (which never gathers statistics by itself) and PostgreSQL (until
    autovacuum gets to the table) guess, and catalog search picks indexes that read most of the table.
    Runs inside the load's transaction; both databases allow that.
    """
    for table in (Region, Organization, Datacenter, Product, ProductStockChange):
        session.execute(text(f"ANALYZE {table.__tablename__}"))
