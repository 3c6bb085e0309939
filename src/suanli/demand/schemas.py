"""The wire of unmet demand and the procurement planner."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from suanli.catalog.schemas import Money


class DemandCellOut(BaseModel):
    day: dt.date
    chip: str = Field(description="Chip key; `*` when the buyer named none.")
    province: str = Field(description="`*` when the buyer named none.")
    signals: dict[str, int] = Field(description="Per source: jobs (queued, not placeable), searches (found "
                                                "nothing), requests (open requests for quotes, when installed).")
    accelerators: int
    reasons: dict[str, int] = Field(description="Jobs' reasons: the constraint that eliminated the most offers, "
                                                "or capacity_busy.")


class DemandTotalOut(BaseModel):
    key: str
    signals: dict[str, int]
    total: int
    accelerators: int
    reasons: dict[str, int]


class EmptySearchOut(BaseModel):
    filters: str = Field(description="The search's conditions in the query language (normalized; never who).")
    count: int


class DemandOut(BaseModel):
    days: list[dt.date]
    sources: list[str]
    per_day: dict[str, list[int]] = Field(description="Signals per source on each day of `days`.")
    by_chip: list[DemandTotalOut]
    by_province: list[DemandTotalOut]
    cells: list[DemandCellOut]
    top_searches: list[EmptySearchOut]


class ProposalIn(BaseModel):
    """Capacity a data center considers buying: servers × accelerators of a chip in a province at a price."""

    model_config = ConfigDict(extra="forbid")

    chip: str = Field(min_length=1, max_length=60, description="Chip key or name, e.g. ascend-910b, A800.")
    province: str = Field(min_length=1, max_length=40)
    servers: int = Field(ge=1, le=256)
    accelerators_per_server: int = Field(default=8, ge=1, le=16)
    price_per_accel_hour_fen: int = Field(gt=0, le=10_000_000, description="On-demand price per accelerator-hour.")
    vcpus_per_server: int = Field(default=128, ge=1, le=1024)
    memory_gib_per_server: int = Field(default=1024, ge=1, le=16384)
    days: int = Field(default=14, ge=1, le=90, description="How many recent days of demand to replay.")


class PlanOut(BaseModel):
    chip: str
    province: str
    accelerators: int
    days: int
    jobs: int = Field(description="Accelerator jobs submitted in the period, replayed.")
    placed_without: int
    placed_with: int
    jobs_on_proposed: int
    accelerator_hours_on_proposed: Decimal
    revenue: Money = Field(description="What the jobs placed on it would have paid at the proposed price.")
    utilisation_pct: Decimal | None
    dropped_without: dict[str, int] = Field(description="Jobs no offer of today's market could take, per reason.")
