"""Catalog wire formats. Money goes out as ``{"fen": 6000, "cny": "60.00"}`` and comes in as integer fen."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from suanli.catalog.models import DatacenterStatus, DeliveryForm, ProductKind, ProductStatus
from suanli.core.money import fen_to_cny
from suanli.core.price_stats import PriceSummary

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
# One unit-hour never costs more than 1,000,000 CNY; a month never more than 100,000,000 CNY. Strict integers:
# "80.00" is refused rather than read as 80 fen.
HourlyFen = Annotated[StrictInt, Field(gt=0, le=100_000_000)]
MonthlyFen = Annotated[StrictInt, Field(gt=0, le=10_000_000_000)]
# Reserved term discounts: basis points off monthly × units × months, per term of 3, 6 or 12 months (1: none).
TermDiscounts = dict[Literal["3", "6", "12"], Annotated[StrictInt, Field(ge=0, le=5000)]]
_CONFIRM_DESCRIPTION = ("The prices are meant even though they are far from the chip's price index (or the reserved "
                        "month is below the operator's minimum of on-demand hours); without it such prices are "
                        "refused with 422 price_needs_confirmation. The product is then flagged to operators.")
_DISCOUNTS_DESCRIPTION = ('Reserved term discounts in basis points, e.g. {"3": 500, "6": 1000, "12": 2000} '
                          "(5 %, 10 %, 20 % off; 0 to 5000). Terms left out have none; 1 month never has one.")


class Money(BaseModel):
    fen: int
    cny: Decimal

    @classmethod
    def of(cls, fen: int | None) -> Money | None:
        return None if fen is None else cls(fen=fen, cny=fen_to_cny(fen))


class ChipOut(BaseModel):
    key: str
    name: str
    vendor: str
    vendor_zh: str
    ecosystem: str
    domestic: bool
    fp16_tflops: float = Field(description="Dense FP16/BF16 matrix TFLOPS per accelerator.")
    fp32_tflops: float = Field(description="FP32 TFLOPS per accelerator.")
    memory_gib: int
    memory_bandwidth_gbs: float
    tdp_w: int


class RegionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    province: Text40
    city: Text40
    hub: Text40 = Field(description="National compute hub (东数西算枢纽), e.g. 长三角.")
    cluster: Text40 | None = Field(default=None, description="Data-center cluster, e.g. 芜湖集群.")


class RegionOut(BaseModel):
    id: uuid.UUID
    province: str
    city: str
    hub: str
    cluster: str | None


class DatacenterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text200
    region_id: uuid.UUID
    tier: StrictInt = Field(ge=1, le=4, description="Uptime-style tier, 1 to 4.")
    pue: Decimal = Field(ge=Decimal("1.00"), le=Decimal("3.00"), max_digits=3, decimal_places=2,
                         description="Power usage effectiveness, e.g. 1.25.")
    green_power_pct: StrictInt = Field(ge=0, le=100, description="Share of green power, percent.")


class DatacenterPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text200 | None = None
    region_id: uuid.UUID | None = None
    tier: StrictInt | None = Field(default=None, ge=1, le=4)
    pue: Decimal | None = Field(default=None, ge=Decimal("1.00"), le=Decimal("3.00"), max_digits=3, decimal_places=2)
    green_power_pct: StrictInt | None = Field(default=None, ge=0, le=100)


class DatacenterOut(BaseModel):
    id: uuid.UUID
    platform_id: uuid.UUID
    name: str
    owner_org_id: uuid.UUID
    owner_name: str
    region: RegionOut
    tier: int
    pue: Decimal
    green_power_pct: int
    status: DatacenterStatus
    created_at: dt.datetime
    approved_at: dt.datetime | None


class DatacenterBrief(BaseModel):
    id: uuid.UUID
    name: str
    tier: int
    pue: Decimal
    green_power_pct: int
    owner_name: str


class ProductSpecs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ProductKind = ProductKind.ACCELERATOR
    chip: str | None = Field(default=None, max_length=40, description="Chip key from /api/v1/chips; accelerator products only.")
    accelerators: StrictInt = Field(default=0, ge=0, le=64, description="Accelerators per unit.")
    vcpus: StrictInt = Field(ge=0, le=1024)
    memory_gib: StrictInt = Field(ge=0, le=65536)
    disk_gib: StrictInt = Field(ge=0, le=10_000_000)
    network_gbps: StrictInt = Field(ge=0, le=3200)
    delivery: DeliveryForm


class ProductIn(ProductSpecs):
    datacenter_id: uuid.UUID
    name: Text200
    stock_units: StrictInt = Field(ge=0, le=1_000_000)
    status: ProductStatus = ProductStatus.LISTED
    price_on_demand_fen: HourlyFen = Field(description="Per unit-hour, in fen.")
    price_reserved_month_fen: MonthlyFen | None = Field(default=None, description="Per unit-month, in fen.")
    price_spot_floor_fen: HourlyFen | None = Field(default=None, description="Lowest spot bid per unit-hour, in fen.")
    reserved_discounts_bp: TermDiscounts = Field(default_factory=dict, description=_DISCOUNTS_DESCRIPTION)
    confirm_unusual_price: bool = Field(default=False, description=_CONFIRM_DESCRIPTION)

    @model_validator(mode="after")
    def _spot_below_on_demand(self) -> ProductIn:
        if self.price_spot_floor_fen is not None and self.price_spot_floor_fen > self.price_on_demand_fen:
            raise ValueError("price_spot_floor_fen must not exceed price_on_demand_fen")
        return self


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text200 | None = None
    stock_units: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    status: ProductStatus | None = None
    price_on_demand_fen: HourlyFen | None = None
    price_reserved_month_fen: MonthlyFen | None = None
    price_spot_floor_fen: HourlyFen | None = None
    reserved_discounts_bp: TermDiscounts | None = Field(default=None, description=_DISCOUNTS_DESCRIPTION + " "
                                                        "Replaces all three: a term left out goes back to none.")
    clear_reserved: bool = Field(default=False, description="Stop selling reserved terms.")
    clear_spot: bool = Field(default=False, description="Stop selling spot capacity.")
    confirm_unusual_price: bool = Field(default=False, description=_CONFIRM_DESCRIPTION)


BULK_MAX_PRODUCTS = 200


class ProductBulkIn(BaseModel):
    """One change to many of the caller's products at once: all of them change, or none does."""

    model_config = ConfigDict(extra="forbid")
    product_ids: list[uuid.UUID] = Field(min_length=1, max_length=BULK_MAX_PRODUCTS,
                                         description="The products to change (your own), up to 200.")
    price_change_pct: Decimal | None = Field(
        default=None, ge=-90, le=500, decimal_places=2,
        description="Change the on-demand, reserved and spot prices by this percentage (5 is 5 % more, -10 is "
                    "10 % less), each rounded half-up to the fen.")
    status: ProductStatus | None = Field(default=None, description="listed or unlisted.")
    confirm_unusual_price: bool = Field(default=False, description=_CONFIRM_DESCRIPTION)

    @model_validator(mode="after")
    def _changes_something(self) -> ProductBulkIn:
        if self.price_change_pct is None and self.status is None:
            raise ValueError("give price_change_pct, status or both")
        if self.price_change_pct == 0:
            raise ValueError("price_change_pct 0 changes nothing; leave it out")
        return self


class ComputeOut(BaseModel):
    fp16_pflops: float = Field(description="Dense FP16/BF16 PFLOPS of one unit.")
    fp32_tflops: float = Field(description="FP32 TFLOPS of one unit.")
    accel_memory_gib: int = Field(description="Memory per accelerator, GiB.")


class ReservedTermOut(BaseModel):
    months: int
    discount_bp: int = Field(description="The seller's discount for this term, basis points.")
    per_unit: Money = Field(description="One unit for the whole term, after the discount (paid upfront).")


class GuidanceFlagOut(BaseModel):
    """The listing against its chip's guidance price (指导价), per accelerator-hour on demand."""

    guidance_per_accelerator_hour: Money
    band_pct: int = Field(description="The band the operator set around the guidance price, ± %.")
    deviation_pct: Decimal = Field(description="How far the listing's price is from the guidance price, % of it "
                                               "(negative: cheaper).")
    outside: Literal["below", "above"] | None = Field(description="Set when the price is outside the band: the "
                                                                  "listing is flagged as far from guidance.")


class PricesOut(BaseModel):
    on_demand_hour: Money
    reserved_month: Money | None
    spot_floor_hour: Money | None
    reserved_terms: list[ReservedTermOut] = Field(default_factory=list, description="Reserved only: per term "
                                                  "(1, 3, 6, 12 months), the price of one unit after discount.")
    per_accelerator_hour: Money | None = Field(description="On-demand price divided by accelerators per unit.")
    per_fp16_pflops_hour: Money | None = Field(description="On-demand price per dense FP16-PFLOPS-hour.")
    guidance: GuidanceFlagOut | None = Field(default=None, description="Against the chip's guidance price, when the "
                                                                       "operator published one.")


class ProductOut(BaseModel):
    id: uuid.UUID
    platform_id: uuid.UUID
    name: str
    kind: ProductKind
    status: ProductStatus
    listed: bool = Field(description="Visible in the catalog: listed by its seller in an approved data center.")
    chip: ChipOut | None
    accelerators: int
    vcpus: int
    memory_gib: int
    disk_gib: int
    network_gbps: int
    delivery: DeliveryForm
    stock_units: int
    available_units: int
    billing_modes: list[str]
    compute: ComputeOut
    prices: PricesOut
    datacenter: DatacenterBrief
    region: RegionOut
    updated_at: dt.datetime


class ReadingOut(BaseModel):
    """One piece of the search text and what it was understood as."""

    text: str = Field(description="The words as typed.")
    start: int = Field(description="Where they start in `q` (0-based, in characters).")
    end: int
    query: str = Field(description="What they mean in the query language; empty for a filler word (的, GPU).")
    field: str | None = Field(default=None, description="The field they filter on; null for a sort or a filler.")
    exact: bool = Field(description="True when they were written in the query language.")


class UnderstoodOut(BaseModel):
    """How `q` was understood: free words (A800, 昇腾 910B 8卡, 安徽) read as query-language conditions."""

    text: str = Field(description="`q` as given.")
    query: str = Field(description="`q` in the strict query language (what was searched).")
    readings: list[ReadingOut]


class ProductPage(BaseModel):
    items: list[ProductOut]
    understood: UnderstoodOut | None = Field(default=None, description="How `q` was understood; null without `q`.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    total: int = Field(description="How many products match, over all pages: counted when an index narrows the "
                                   "search to at most 10,000 products (or the first page holds them all); "
                                   "otherwise estimated from a random sample of about 3,000 products, to two "
                                   "significant digits, with total_exact false.")
    total_exact: bool = Field(default=True, description="False when `total` is an estimate (the UI says 约 / about).")


class PriceSpread(BaseModel):
    """Listed prices summarized: how many, the lowest, quartiles, median and highest."""

    count: int
    min: Money
    q1: Money
    median: Money
    q3: Money
    max: Money

    @staticmethod
    def fields_of(s: PriceSummary) -> dict[str, Any]:
        return {"count": s.count, "min": Money.of(s.min), "q1": Money.of(s.q1), "median": Money.of(s.median),
                "q3": Money.of(s.q3), "max": Money.of(s.max)}


class PriceIndexRow(PriceSpread):
    chip: str
    chip_name: str
    vendor: str
    ecosystem: str
    province: str | None


class PriceIndexOut(BaseModel):
    unit: str = "on-demand CNY per accelerator-hour"
    rows: list[PriceIndexRow]


class StatsOut(BaseModel):
    datacenters_connected: int
    datacenters_pending: int
    products_listed: int
    accelerators_listed: int
    buyers: int
    sellers: int
    orders: int = Field(description="Orders placed, all billing modes.")
    gmv: Money = Field(description="Transaction volume: everything charged to buyers, less refunds.")


class UnusualPriceOut(BaseModel):
    """A product whose seller confirmed prices the price guard found unusual (operators)."""

    product: ProductOut
    checks: list[str] = Field(description="on_demand_below_index, on_demand_above_index, spot_below_index, "
                                          "reserved_below_on_demand_hours.")
    confirmed_at: dt.datetime


class ProductBulkOut(BaseModel):
    changed: int = Field(description="How many products changed.")
    products: list[ProductOut]
