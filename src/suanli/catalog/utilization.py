"""Utilization of data centers now: units rented out (allocated) over units in stock, from the products table.

A unit is what a buyer rents (e.g. one 8×A800 node), so units of different products are not the same size; the
accelerator-weighted figures (``accelerators × units``) compare GPU/NPU capacity across products. Every product of
a data center counts, listed or not: an unlisted product may still have units rented out until their orders end.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.catalog.models import Datacenter, DatacenterStatus, Product, Region


@dataclass(frozen=True)
class DatacenterUtilization:
    datacenter_id: uuid.UUID
    name: str
    province: str
    city: str
    status: DatacenterStatus
    products: int
    stock_units: int
    allocated_units: int
    accelerators: int  # Σ accelerators × stock units
    accelerators_allocated: int  # Σ accelerators × allocated units

    @property
    def ratio(self) -> float | None:
        """Allocated units / stock units (None for a data center with no stock)."""
        return self.allocated_units / self.stock_units if self.stock_units else None

    @property
    def accelerator_ratio(self) -> float | None:
        return self.accelerators_allocated / self.accelerators if self.accelerators else None


def datacenter_utilization(session: Session, *, owner_org_id: uuid.UUID | None = None,
                           status: DatacenterStatus | None = None) -> list[DatacenterUtilization]:
    """Utilization of every data center (of one owner, in one status, if asked), by name."""
    query = (select(Datacenter.id, Datacenter.name, Region.province, Region.city, Datacenter.status,
                    func.count(Product.id),
                    func.coalesce(func.sum(Product.stock_units), 0),
                    func.coalesce(func.sum(Product.allocated_units), 0),
                    func.coalesce(func.sum(Product.accelerators * Product.stock_units), 0),
                    func.coalesce(func.sum(Product.accelerators * Product.allocated_units), 0))
             .join(Region, Region.id == Datacenter.region_id)
             .outerjoin(Product, Product.datacenter_id == Datacenter.id)
             .group_by(Datacenter.id, Datacenter.name, Region.province, Region.city, Datacenter.status)
             .order_by(Datacenter.name, Datacenter.id))
    if owner_org_id is not None:
        query = query.where(Datacenter.owner_org_id == owner_org_id)
    if status is not None:
        query = query.where(Datacenter.status == status)
    return [DatacenterUtilization(dc_id, name, province, city, DatacenterStatus(dc_status), int(products),
                                  int(stock), int(allocated), int(accel), int(accel_allocated))
            for dc_id, name, province, city, dc_status, products, stock, allocated, accel, accel_allocated
            in session.execute(query)]


def datacenter_status_counts(session: Session) -> dict[DatacenterStatus, int]:
    """How many data centers are in each status (every status, 0 included)."""
    counts = dict(session.execute(select(Datacenter.status, func.count()).group_by(Datacenter.status)).all())
    return {status: int(counts.get(status, 0)) for status in DatacenterStatus}
