"""Wire formats of the consoles' figures over time (``trading.report_endpoints``)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from suanli.catalog.models import DatacenterStatus
from suanli.catalog.schemas import Money


class DayVolumeOut(BaseModel):
    day: dt.date = Field(description="Calendar day, China Standard Time.")
    orders: int = Field(description="Orders placed that day.")
    gross: Money = Field(description="Charged to buyers that day (net + commission).")
    commission: Money
    net: Money = Field(description="The sellers' part of the charges.")
    refunds: Money
    gmv: Money = Field(description="Gross less refunds.")


class VolumeOut(BaseModel):
    days: list[DayVolumeOut]


class DatacenterUtilizationOut(BaseModel):
    datacenter_id: uuid.UUID
    name: str
    province: str
    city: str
    status: DatacenterStatus
    products: int
    stock_units: int
    allocated_units: int
    ratio: float | None = Field(description="Allocated units / stock units now; null without stock.")
    accelerators: int = Field(description="Σ accelerators × stock units.")
    accelerators_allocated: int
    accelerator_ratio: float | None


class UtilizationSeriesOut(BaseModel):
    datacenter_id: uuid.UUID
    name: str
    stock_units: int
    ratios: list[float | None] = Field(description="Per day: unit-seconds occupied / unit-seconds in stock that "
                                                   "day (the stock history, up to now).")


class UtilizationOut(BaseModel):
    datacenters: list[DatacenterUtilizationOut]
    days: list[dt.date]
    history: list[UtilizationSeriesOut]


class DashboardOut(BaseModel):
    """The operator's platform dashboard; the price index by chip is GET /api/v1/price-index."""

    volume: list[DayVolumeOut]
    utilization: list[DatacenterUtilizationOut] = Field(description="Approved data centers, now.")
