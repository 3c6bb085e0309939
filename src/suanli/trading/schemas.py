"""Trading wire formats. Money goes out as ``{"fen": 6000, "cny": "60.00"}`` and comes in as integer fen."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from suanli.catalog.schemas import Money
from suanli.core.ledger import AccountKind, TransferKind
from suanli.trading.models import EndReason, OrderMode, OrderStatus

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                             pattern=r"^[A-Za-z0-9._:/-]+$")]


# The reserved terms (core.billing.RESERVED_TERMS_MONTHS), an enum in the OpenAPI; a strict int (True, 3.0 or "3"
# is no term: a Literal would take them), checked against the terms where the order is placed (422 invalid_term).
ReservedTerm = Annotated[StrictInt, Field(json_schema_extra={"enum": [1, 3, 6, 12]})]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: uuid.UUID
    mode: OrderMode
    units: StrictInt = Field(ge=1, le=100_000, description="How many units of the product to rent.")
    term_months: ReservedTerm | None = Field(default=None, description="Reserved only: 1, 3, 6 or 12 months.")
    bid_hourly_fen: StrictInt | None = Field(default=None, gt=0, le=100_000_000,
                                       description="Spot only: your price per unit-hour, in fen, at or above "
                                                   "the seller's floor.")
    image: str | None = Field(default=None, max_length=64,
                              description="Products delivered as machines (container, vm, bare_metal): the image to "
                                          "start each instance with, one the product offers (GET "
                                          "/api/v1/products/{id}/images). Required for them.")
    ports: list[StrictInt] = Field(default_factory=list, max_length=8,
                             description="Machines: ports inside each instance to expose (1024-65535, not 22 or "
                                         "8888, which SSH and JupyterLab use).")
    ssh_key_ids: list[uuid.UUID] | None = Field(default=None, max_length=20,
                                                description="Machines: which of your SSH keys to install (default: "
                                                            "all of them; at least one is needed).")


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    term_months: ReservedTerm = Field(description="Reserved orders: 1, 3, 6 or 12 more months, at the product's "
                                            "current reserved price and term discount, paid upfront.")


class QuoteOut(BaseModel):
    """What an order would cost, priced by the same code as a placed order."""

    product_id: uuid.UUID
    mode: OrderMode
    units: int
    term_months: int | None
    unit_price: Money = Field(description="Per unit-hour (on_demand, spot: the bid) or per unit-month (reserved).")
    frozen_now: Money = Field(description="Held in the wallet when the order is placed (on demand and spot: the "
                                          "first hour; reserved: the whole term).")
    charged_now: Money = Field(description="Of that, charged at once (reserved: the whole term; otherwise nothing: "
                                           "use is charged per second from the hold).")
    per_hour: Money | None = Field(description="On demand and spot: what the order costs per hour.")
    hours: int | None = Field(description="The hours `total` is for (on demand and spot, when asked).")
    total: Money | None = Field(description="Reserved: the term; on demand and spot: `hours` hours of use.")
    available_units: int = Field(description="Units free now (an order of more waits or is refused).")


class OrderOut(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    datacenter_id: uuid.UUID
    buyer_org_id: uuid.UUID
    seller_org_id: uuid.UUID
    mode: OrderMode
    units: int
    term_months: int | None
    unit_price: Money = Field(description="Per unit-hour (on_demand, spot: the bid) or per unit-month (reserved).")
    unit_price_per: Literal["hour", "month"]
    commission_bp: int = Field(description="Platform commission in basis points, fixed when the order was placed.")
    status: OrderStatus
    started_at: dt.datetime | None
    ends_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: EndReason | None = Field(description="released, cancelled, out_of_funds, term_ended or preempted.")
    metered_at: dt.datetime | None = Field(description="Per-second orders: when the meter last charged them.")
    preempt_at: dt.datetime | None = Field(description="Spot orders under a preemption notice: when they end "
                                                       "(billed until then at most).")
    held: Money = Field(description="Held from the buyer's wallet for this order now.")
    charged: Money = Field(description="Charged for this order so far.")
    refunded: Money = Field(description="Given back to the buyer out of the charges.")
    idempotency_key: str | None
    delivers_instances: bool = Field(description="A machine (container, vm, bare metal): one instance per unit, "
                                                 "billed from delivery (GET /api/v1/orders/{id}/instances).")
    created_at: dt.datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int
    limit: int
    offset: int


class WalletOut(BaseModel):
    organization_id: uuid.UUID
    role: str
    available: Money | None = Field(description="Buyers: spendable balance.")
    held: Money | None = Field(description="Buyers: held for running orders.")
    receivable: Money | None = Field(description="Sellers: earned, net of commission, not yet paid out.")


class AccountOut(BaseModel):
    kind: AccountKind
    owner_org_id: uuid.UUID | None


class LedgerEntryOut(BaseModel):
    id: str
    kind: TransferKind
    ref: str
    amount: Money
    debit: AccountOut
    credit: AccountOut
    created_at: dt.datetime


class LedgerEntryPage(BaseModel):
    items: list[LedgerEntryOut]
    total: int
    limit: int
    offset: int


class TopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: uuid.UUID
    amount_fen: StrictInt = Field(gt=0, le=100_000_000_000, description="Fen paid in (at most 1 billion CNY).")
    reference: Reference = Field(description="The payment's reference (bank transfer id, …); unique. Sending "
                                             "the same reference again does not top up twice.")


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: uuid.UUID
    amount_fen: StrictInt = Field(gt=0, le=100_000_000_000, description="Fen paid out to the seller.")
    reference: Reference = Field(description="The payment's reference; unique (a repeat pays out once).")


class PayoutOut(BaseModel):
    organization_id: uuid.UUID
    amount: Money
    reference: str
    created: bool = Field(description="False when this reference had been paid out before (nothing changed).")
    receivable: Money


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: StrictInt = Field(gt=0, le=100_000_000_000, description="Fen to give back, at most what is left of the "
                                                                 "order's charges.")
    reference: Reference = Field(description="The refund's reference (e.g. the support ticket); unique.")


class TopupOut(BaseModel):
    organization_id: uuid.UUID
    amount: Money
    reference: str
    transfer_id: str
    created: bool = Field(description="False when this reference had been topped up before (nothing changed).")
    available: Money


class TrialBalanceAccount(BaseModel):
    account_id: uuid.UUID
    kind: AccountKind
    owner_org_id: uuid.UUID | None
    balance_fen: int
    journal_balance_fen: int
    matches: bool


class TrialBalanceOut(BaseModel):
    balanced: bool
    total_debits_fen: int
    total_credits_fen: int
    accounts: list[TrialBalanceAccount]


class SettingsOut(BaseModel):
    commission_bp: int = Field(description="Platform commission in basis points (500 = 5 %).")
    spot_notice_seconds: int
    delivery_deadline_minutes: int = Field(description="An instance not delivered this long after its lease was "
                                                       "placed is refunded in full.")
    price_guard_low_pct: int = Field(description="A seller's on-demand or spot price per accelerator-hour below "
                                                 "this % of its chip's index median needs their confirmation.")
    price_guard_high_pct: int = Field(description="An on-demand price per accelerator-hour above this % of the "
                                                  "median needs confirmation.")
    price_guard_min_reserved_hours: int = Field(description="A reserved month cheaper than this many hours at "
                                                            "the product's on-demand price needs confirmation.")
    updated_at: dt.datetime


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commission_bp: StrictInt | None = Field(default=None, ge=0, le=10_000)
    spot_notice_seconds: StrictInt | None = Field(default=None, ge=0, le=86_400)
    delivery_deadline_minutes: StrictInt | None = Field(default=None, ge=1, le=10_080)
    price_guard_low_pct: StrictInt | None = Field(default=None, ge=0, le=100)
    price_guard_high_pct: StrictInt | None = Field(default=None, ge=100, le=100_000)
    price_guard_min_reserved_hours: StrictInt | None = Field(default=None, ge=0, le=744,
                                                             description="744 hours: a 31-day month.")


class MeterRunOut(BaseModel):
    metered: int = Field(description="Per-second orders read and charged for the time used since the last reading.")
    charged: Money = Field(description="Captured by this run.")
    stopped: int = Field(description="Per-second orders stopped because the money left would not cover them.")
    low_balance: int = Field(description="Per-second orders whose buyer has less than an hour of money left.")
    terms_ended: int = Field(description="Reserved orders whose term ran out; their units are back in the pool.")
    preempted: int = Field(description="Spot orders ended when their preemption notice ran out.")
    activated: int = Field(description="Pending orders started (their units became free).")
    failed: int = Field(description="Orders whose metering failed (logged; retried on the next run).")


class UsageRecordOut(BaseModel):
    event: str = Field(description="start, stop, preempt_notice, preempted, meter, release or term_end.")
    at: dt.datetime
    seconds_total: int = Field(description="Seconds of use billed (per-second) or elapsed (reserved) up to `at`.")
    charged_total: Money = Field(description="What the order had been charged after this event.")
    note: str | None = Field(description="stop: out_of_funds or cancelled.")


class UsageOut(BaseModel):
    order_id: uuid.UUID
    items: list[UsageRecordOut]


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="low_balance, lease_stopped, preempted, instance_ready, delivery_failed, "
                                  "instance_failed, or rfq (a request for quotes or its contract changed).")
    order_id: uuid.UUID | None
    message_zh: str
    message_en: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    limit: int
    offset: int


class InvoiceLineOut(BaseModel):
    order_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    datacenter_id: uuid.UUID
    datacenter_name: str
    mode: OrderMode
    units: int
    term_months: int | None = Field(description="Reserved orders: the term paid for.")
    seconds: int | None = Field(description="Per-second orders: seconds of use charged in this period.")
    unit_price: Money
    unit_price_per: Literal["hour", "month"]
    amount: Money = Field(description="Buyers: charged in this period. Sellers: gross sales (net + commission).")
    commission: Money | None = Field(description="Sellers: the platform's commission kept.")
    net: Money | None = Field(description="Sellers: earned, net of commission.")


class MoneyEntryOut(BaseModel):
    reference: str
    amount: Money
    at: dt.datetime


class InvoiceOut(BaseModel):
    id: str = Field(description="<organization id>:<YYYY-MM>")
    organization_id: uuid.UUID
    organization_name: str
    role: str
    period: str = Field(description="Calendar month in China Standard Time (Asia/Shanghai, UTC+8).")
    period_start: dt.datetime
    period_end: dt.datetime
    currency: Literal["CNY"] = "CNY"
    lines: list[InvoiceLineOut]
    topups: list[MoneyEntryOut]
    refunds: list[MoneyEntryOut]
    payouts: list[MoneyEntryOut]
    totals: dict[str, Money] = Field(description="Buyers: charges, refunds, net_spent, topups. Sellers: gross, "
                                                 "commission, net, refunds, net_after_refunds, payouts.")


class InvoiceSummaryOut(BaseModel):
    id: str
    period: str
    role: str
    lines: int
    totals: dict[str, Money]


class RevenueRowOut(BaseModel):
    id: uuid.UUID
    name: str
    orders: int
    gross: Money
    commission: Money
    net: Money


class RevenueOut(BaseModel):
    organization_id: uuid.UUID
    period: str
    gross: Money = Field(description="What buyers were charged for your products in the period.")
    commission: Money = Field(description="What the platform kept.")
    net: Money = Field(description="What you earned: gross − commission (credited to your receivable).")
    refunds: Money = Field(description="Your part of refunds given in the period.")
    by_datacenter: list[RevenueRowOut]
    by_product: list[RevenueRowOut]


class PayoutEntriesOut(BaseModel):
    organization_id: uuid.UUID
    receivable: Money = Field(description="Earned and not yet paid out.")
    paid_out: Money = Field(description="All payouts so far.")
    items: list[MoneyEntryOut]
