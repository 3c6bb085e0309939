"""The wire of requests for quotes, quotes and pre-sale contracts (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from suanli.catalog.schemas import Money
from suanli.core.rfq import MAX_TERM_HOURS, BillingMode
from suanli.quotes.models import ContractStatus, QuoteStatus, RequestStatus

FEN_LIMIT = 10_000_000_000  # ¥100 million per unit-month: far above any real price, below overflow


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200, description="What the capacity is for, in a line.")
    chip: str | None = Field(default=None, max_length=40, description="A chip key or alias (e.g. a800, 910b). "
                             "Without it, give min_fp16_tflops and/or min_memory_gib per accelerator.")
    min_fp16_tflops: float | None = Field(default=None, gt=0, le=100_000, allow_inf_nan=False)
    min_memory_gib: StrictInt | None = Field(default=None, ge=1, le=100_000)
    accelerators: StrictInt = Field(default=8, ge=1, le=1024, description="Accelerators per unit, at least.")
    units: StrictInt = Field(ge=1, le=100_000)
    billing_mode: BillingMode
    term_months: StrictInt | None = Field(default=None, description="Reserved: 1, 3, 6 or 12.")
    term_hours: StrictInt | None = Field(default=None, ge=1, le=MAX_TERM_HOURS, description="On demand: hours.")
    earliest_start: AwareDatetime
    latest_start: AwareDatetime
    province: str | None = Field(default=None, min_length=1, max_length=40, description="Anywhere when omitted.")
    max_unit_price_fen: StrictInt = Field(gt=0, le=FEN_LIMIT, description="Per unit-month (reserved) or "
                                          "unit-hour (on demand).")
    auction_closes_at: AwareDatetime | None = Field(
        default=None, description="Run a reverse auction: at this time the lowest compliant quote wins (ties: "
                                  "the earliest quote). Before the earliest start.")


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datacenter_id: uuid.UUID
    chip: str = Field(min_length=1, max_length=40)
    accelerators: StrictInt = Field(ge=1, le=1024, description="Accelerators per unit.")
    presale: bool = Field(description="True: the capacity does not exist yet; it is built after the award.")
    unit_price_fen: StrictInt = Field(gt=0, le=FEN_LIMIT)
    start_at: AwareDatetime
    deliver_by: AwareDatetime = Field(description="When the capacity is listed and its cluster healthy; at the "
                                                  "latest the start.")
    penalty_fen: StrictInt = Field(ge=0, le=FEN_LIMIT, description="Paid by the seller to the buyer if the "
                                                                   "delivery misses the date.")
    note: str = Field(default="", max_length=500)


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quote_id: uuid.UUID


class DeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: uuid.UUID = Field(description="The listed product with the contracted capacity (its cluster "
                                              "registered and healthy, stock for the units).")


class SellerQuoteOut(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    seller_org_id: uuid.UUID | None = Field(description="Shown to the buyer and to the seller itself.")
    seller_name: str | None
    datacenter_id: uuid.UUID
    datacenter_name: str
    province: str
    chip: str
    accelerators: int
    presale: bool
    unit_price: Money
    total: Money = Field(description="The term at this price: the contract's deposit if it wins.")
    start_at: dt.datetime
    deliver_by: dt.datetime
    penalty: Money
    note: str
    status: QuoteStatus
    created_at: dt.datetime


class RequestOut(BaseModel):
    """A request; sellers see it without the buyer's identity (``buyer_org_id`` null)."""

    id: uuid.UUID
    buyer_org_id: uuid.UUID | None
    title: str
    chip: str | None
    min_fp16_tflops: float | None
    min_memory_gib: int | None
    accelerators: int
    units: int
    billing_mode: BillingMode
    term_months: int | None
    term_hours: int | None
    earliest_start: dt.datetime
    latest_start: dt.datetime
    province: str | None
    max_unit_price: Money
    budget: Money | None = Field(description="Frozen in the buyer's wallet while open (the buyer only).")
    auction_closes_at: dt.datetime | None
    status: RequestStatus
    quote_count: int
    lowest_quote: Money | None
    created_at: dt.datetime
    closed_at: dt.datetime | None
    quotes: list[SellerQuoteOut] = Field(default_factory=list,
                                   description="The buyer: every quote; a seller: its own quotes.")
    contract_id: uuid.UUID | None = None


class RequestPage(BaseModel):
    items: list[RequestOut]
    total: int


class ContractOut(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    quote_id: uuid.UUID
    buyer_org_id: uuid.UUID
    seller_org_id: uuid.UUID
    datacenter_id: uuid.UUID
    billing_mode: BillingMode
    units: int
    term_months: int | None
    term_hours: int | None
    unit_price: Money
    deposit: Money
    penalty: Money
    start_at: dt.datetime
    deliver_by: dt.datetime
    status: ContractStatus
    product_id: uuid.UUID | None
    order_id: uuid.UUID | None
    delivered_at: dt.datetime | None
    started_at: dt.datetime | None
    failed_at: dt.datetime | None
    failure_reason: str | None
    penalty_paid: Money
    penalty_unpaid: Money
    created_at: dt.datetime


class ContractPage(BaseModel):
    items: list[ContractOut]
    total: int


class SweepOut(BaseModel):
    auctions_awarded: int
    expired: int
    started: int
    failed: int
    errors: int
