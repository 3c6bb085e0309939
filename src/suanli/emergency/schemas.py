"""The wire of emergency compute (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from suanli.catalog.schemas import Money
from suanli.core.emergency import Stage
from suanli.emergency.models import EmergencyStatus, OfferStatus

MAX_HOURS = 24 * 90


class EmergencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200, description="What the capacity is for, e.g. 台风路径预报.")
    accelerators: StrictInt = Field(ge=1, le=100_000, description="Accelerators to assemble in all.")
    chips: list[str] = Field(default_factory=list, max_length=20, description="Chip keys or aliases (a800, 910b).")
    ecosystems: list[str] = Field(default_factory=list, max_length=6,
                                  description="Software ecosystems the workload runs on (cuda, cann, dtk, ...). "
                                              "At least one chip or ecosystem.")
    provinces: list[str] = Field(default_factory=list, max_length=34, description="Anywhere when empty.")
    duration_hours: StrictInt = Field(ge=1, le=MAX_HOURS)
    compensation_fen_per_accel_hour: StrictInt = Field(
        ge=0, le=10_000_000, description="Paid to holders of reserved leases per lent accelerator-hour, in fen.")
    payer_org_id: uuid.UUID = Field(description="The buyer organization whose wallet pays for the capacity "
                                                "(its orders) and the compensation.")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept: StrictBool


class PartOut(BaseModel):
    id: uuid.UUID
    stage: Stage
    state: str = Field(description="free/spot: the order's (pending while spot leases serve their notice, active, "
                                   "ended); reserved: the offer's (offered, accepted, declined, withdrawn, returned).")
    product_id: uuid.UUID
    seller_org_id: uuid.UUID
    units: int
    accelerators: int
    order_id: uuid.UUID
    holder_org_id: uuid.UUID | None
    compensation: Money
    assembled_at: dt.datetime | None
    created_at: dt.datetime


class ProgressPoint(BaseModel):
    at: dt.datetime
    stage: Stage
    accelerators: int = Field(description="Added at this time.")
    assembled: int = Field(description="Assembled in all by this time.")


class EmergencyOut(BaseModel):
    id: uuid.UUID
    title: str
    status: EmergencyStatus
    payer_org_id: uuid.UUID
    accelerators: int
    chips: list[str]
    ecosystems: list[str]
    provinces: list[str]
    duration_hours: int
    compensation_per_accel_hour: Money
    planned: int = Field(description="Accelerators the plan found (free + spot + reserved offered).")
    assembled: int = Field(description="Accelerators in use by the emergency now.")
    by_stage: dict[str, int] = Field(description="Assembled accelerators per stage.")
    compensation_paid: Money
    created_at: dt.datetime
    ends_at: dt.datetime
    ended_at: dt.datetime | None
    parts: list[PartOut]
    progress: list[ProgressPoint]


class EmergencyPage(BaseModel):
    items: list[EmergencyOut]
    total: int


class OfferOut(BaseModel):
    """An offer to a reserved holder: lend idle units of a lease for the emergency's duration, compensated."""

    id: uuid.UUID
    emergency_id: uuid.UUID
    title: str
    order_id: uuid.UUID
    units: int
    accelerators: int
    duration_hours: int
    compensation: Money
    status: OfferStatus
    ends_at: dt.datetime
    created_at: dt.datetime
    answered_at: dt.datetime | None
