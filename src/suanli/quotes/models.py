"""Tables of requests for quotes (询价), the sellers' quotes and the pre-sale contracts an award makes.

Money columns end in ``_fen`` (integer fen). Prices are per unit-month (reserved) or per unit-hour (on demand).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from suanli.core.rfq import BillingMode
from suanli.db import Base, utcnow
from suanli.ids import new_id
from suanli.trading.models import _enum


class RequestStatus(enum.StrEnum):
    OPEN = "open"  # sellers may quote; the budget is frozen in the buyer's wallet
    AWARDED = "awarded"  # a quote won (accepted, or the auction's deadline): a contract exists
    CANCELLED = "cancelled"  # the buyer withdrew it: the budget was released
    EXPIRED = "expired"  # no quote by the auction's deadline or the latest start: the budget was released


class QuoteStatus(enum.StrEnum):
    STANDING = "standing"
    WON = "won"
    LOST = "lost"
    WITHDRAWN = "withdrawn"


class ContractStatus(enum.StrEnum):
    AWAITING_DELIVERY = "awaiting_delivery"  # the deposit is in escrow; the seller builds and lists the capacity
    DELIVERED = "delivered"  # the seller delivered (listed, cluster registered and healthy); starts at start_at
    STARTED = "started"  # its order was placed at the contract's price: billing runs as for any order
    FAILED = "failed"  # not delivered by the date (or no units at the start): deposit refunded, penalty paid


class QuoteRequest(Base):
    """A buyer's need, open to quotes until awarded, cancelled or expired."""

    __tablename__ = "quote_requests"
    __table_args__ = (
        CheckConstraint("units > 0 AND accelerators > 0", name="amounts_positive"),
        CheckConstraint("max_unit_price_fen > 0 AND budget_fen > 0", name="money_positive"),
        CheckConstraint("earliest_start <= latest_start", name="window_ordered"),
        Index("ix_quote_requests_status_created", "status", "created_at"),
        Index("ix_quote_requests_buyer_created", "buyer_org_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    buyer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    chip_key: Mapped[str | None] = mapped_column(ForeignKey("chip_models.key"))
    min_fp16_tflops: Mapped[float | None] = mapped_column(Float)
    min_memory_gib: Mapped[int | None] = mapped_column(Integer)
    accelerators: Mapped[int] = mapped_column(Integer, doc="Accelerators per unit, at least.")
    units: Mapped[int] = mapped_column(Integer)
    billing_mode: Mapped[BillingMode] = mapped_column(_enum(BillingMode, "billing_mode"))
    term_months: Mapped[int | None] = mapped_column(Integer)
    term_hours: Mapped[int | None] = mapped_column(Integer)
    earliest_start: Mapped[dt.datetime]
    latest_start: Mapped[dt.datetime]
    province: Mapped[str | None] = mapped_column(String(40))
    max_unit_price_fen: Mapped[int]
    budget_fen: Mapped[int] = mapped_column(doc="Frozen (held) in the buyer's wallet while the request is open.")
    auction_closes_at: Mapped[dt.datetime | None] = mapped_column(
        doc="A reverse auction: at this time the lowest compliant quote wins (ties: the earliest quote).")
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus, "request_status"))
    awarded_quote_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Quote(Base):
    """A seller's answer to a request: capacity in one of its data centers, at a unit price, from a start; for
    pre-sale capacity (not built yet) a delivery date and the penalty it pays the buyer if it misses it."""

    __tablename__ = "quotes"
    __table_args__ = (
        CheckConstraint("unit_price_fen > 0 AND penalty_fen >= 0", name="money_valid"),
        CheckConstraint("deliver_by <= start_at", name="delivered_before_start"),
        Index("ix_quotes_request_status", "request_id", "status"),
        Index("ix_quotes_seller_created", "seller_org_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quote_requests.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"))
    chip_key: Mapped[str] = mapped_column(ForeignKey("chip_models.key"))
    accelerators: Mapped[int] = mapped_column(Integer)
    presale: Mapped[bool] = mapped_column(doc="The capacity does not exist yet: it is built after the award.")
    unit_price_fen: Mapped[int]
    start_at: Mapped[dt.datetime]
    deliver_by: Mapped[dt.datetime]
    penalty_fen: Mapped[int]
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[QuoteStatus] = mapped_column(_enum(QuoteStatus, "quote_status"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuoteContract(Base):
    """An awarded quote: a reserved order with a future start. Its deposit (the term at the quoted price) is held in
    the buyer's wallet until the start (then it pays the order) or a failed delivery (then it is refunded, and the
    seller pays the stated penalty)."""

    __tablename__ = "quote_contracts"
    __table_args__ = (
        CheckConstraint("deposit_fen > 0 AND penalty_fen >= 0", name="money_valid"),
        CheckConstraint("penalty_paid_fen >= 0 AND penalty_unpaid_fen >= 0 "
                        "AND penalty_paid_fen + penalty_unpaid_fen <= penalty_fen", name="penalty_within"),
        Index("ix_quote_contracts_status_deliver", "status", "deliver_by"),
        Index("ix_quote_contracts_buyer", "buyer_org_id", "created_at"),
        Index("ix_quote_contracts_seller", "seller_org_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quote_requests.id"), unique=True)
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id"), unique=True)
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    buyer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"))
    billing_mode: Mapped[BillingMode] = mapped_column(_enum(BillingMode, "billing_mode"))
    units: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int | None] = mapped_column(Integer)
    term_hours: Mapped[int | None] = mapped_column(Integer)
    unit_price_fen: Mapped[int]
    deposit_fen: Mapped[int]
    penalty_fen: Mapped[int]
    start_at: Mapped[dt.datetime]
    deliver_by: Mapped[dt.datetime]
    status: Mapped[ContractStatus] = mapped_column(_enum(ContractStatus, "contract_status", 20))
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id"), default=None)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    failed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    penalty_paid_fen: Mapped[int] = mapped_column(default=0)
    penalty_unpaid_fen: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
