"""Trading tables: the double-entry ledger (accounts and immutable transfers), orders and platform settings.

Money columns end in ``_fen`` and hold integer fen. Balances follow ``suanli.core.ledger``: ``balance = Σ credits −
Σ debits`` of an account's transfers; only ``platform_cash`` may go below zero (a CHECK constraint).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from suanli.core.ledger import AccountKind, TransferKind
from suanli.db import Base, utcnow
from suanli.ids import new_id


def _enum(cls: type[enum.Enum], name: str, length: int = 16) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class OrderMode(enum.StrEnum):
    ON_DEMAND = "on_demand"
    RESERVED = "reserved"
    SPOT = "spot"


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"  # its instances are being delivered: units and money held, nothing billed yet
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"


class EndReason(enum.StrEnum):
    RELEASED = "released"  # the buyer released it
    CANCELLED = "cancelled"  # the buyer cancelled it within the grace period
    OUT_OF_FUNDS = "out_of_funds"  # metering stopped it while the wallet still covered it
    TERM_ENDED = "term_ended"  # a reserved term ran out
    PREEMPTED = "preempted"  # a spot order's capacity went to on-demand or reserved demand after a notice
    NOT_DELIVERED = "not_delivered"  # its instances failed or were not delivered by the deadline: refunded in full
    INSTANCE_FAILED = "instance_failed"  # every instance of a per-second lease stopped running: billed until then


class LedgerAccount(Base):
    """One account of the ledger: a kind and its owner organization (None for the platform's own accounts).

    ``balance_fen`` is a running total kept by ``LedgerStore.apply`` in the same transaction as the transfers;
    the trial balance recomputes it from ``ledger_transfers``.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("kind = 'platform_cash' OR balance_fen >= 0", name="non_negative"),
        UniqueConstraint("kind", "owner_org_id"),
        # NULL owners are distinct in a unique constraint; platform accounts get their own unique index.
        Index("uq_ledger_accounts_platform_kind", "kind", unique=True,
              sqlite_where=text("owner_org_id IS NULL"), postgresql_where=text("owner_org_id IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind, "account_kind", 24))
    owner_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"))
    balance_fen: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerTransfer(Base):
    """One movement of ``amount_fen`` from a debit to a credit account. Insert-only: never updated or deleted.

    ``id`` is the planner's leg id (``f"{ref}:{leg}"``, unique), so a retried business event is recognised.
    ``seq`` is the journal order (inserted after the balances were updated, under their row locks, so replaying
    the journal by ``seq`` never takes an account below zero).
    """

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        Index("ix_ledger_transfers_debit", "debit_account_id", "created_at"),
        Index("ix_ledger_transfers_credit", "credit_account_id", "created_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[str] = mapped_column(String(200), unique=True)
    debit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_fen: Mapped[int]
    kind: Mapped[TransferKind] = mapped_column(_enum(TransferKind, "transfer_kind"))
    ref: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A buyer's order of ``units`` units of a product in one billing mode, with its prices snapshotted.

    ``unit_price_fen`` is per unit-hour for on-demand (the on-demand price) and spot (the bid), per unit-month
    for reserved. ``held_fen`` is what is held for the order now; ``charged_fen`` what it has been charged.
    """

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("unit_price_fen > 0", name="price_positive"),
        CheckConstraint("held_fen >= 0 AND charged_fen >= 0", name="money_nonneg"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= charged_fen", name="refund_within_charge"),
        CheckConstraint("commission_bp BETWEEN 0 AND 10000", name="commission_range"),
        UniqueConstraint("buyer_org_id", "idempotency_key"),
        Index("ix_orders_buyer_created", "buyer_org_id", "created_at"),
        Index("ix_orders_seller_created", "seller_org_id", "created_at"),
        Index("ix_orders_product_status", "product_id", "status"),
        Index("ix_orders_status_mode", "status", "mode"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    buyer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    mode: Mapped[OrderMode] = mapped_column(_enum(OrderMode, "order_mode"))
    units: Mapped[int]
    term_months: Mapped[int | None]
    unit_price_fen: Mapped[int]
    commission_bp: Mapped[int] = mapped_column(Integer)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"), index=True)
    started_at: Mapped[dt.datetime | None]
    ends_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[EndReason | None] = mapped_column(_enum(EndReason, "end_reason", 20))
    metered_at: Mapped[dt.datetime | None] = mapped_column(
        doc="Per-second orders: when the meter last captured (charged_fen is the charge up to then).")
    meter_ticks: Mapped[int] = mapped_column(Integer, default=0, doc="Meter readings so far (ledger ref tick:<n>).")
    preempt_notice_at: Mapped[dt.datetime | None] = mapped_column(doc="Spot: when the preemption notice was given.")
    preempt_at: Mapped[dt.datetime | None] = mapped_column(doc="Spot: when the notice runs out; billed no further.")
    low_balance_since: Mapped[dt.datetime | None] = mapped_column(
        default=None, doc="Per-second orders: when the meter first saw less than an hour of money left in the "
                          "current low-balance episode (None when the money covers an hour); one warning each.")
    held_fen: Mapped[int] = mapped_column(default=0)
    charged_fen: Mapped[int] = mapped_column(default=0)
    refunded_fen: Mapped[int] = mapped_column(default=0, doc="Given back to the buyer out of charged_fen.")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    delivers_instances: Mapped[bool] = mapped_column(
        default=False, server_default=text("false"),
        doc="A buyer's lease of a container, vm or bare-metal product: one instance per unit (suanli.instances); "
            "billed from delivery, not placement.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UsageEvent(enum.StrEnum):
    START = "start"  # the units were handed over (placed active, or a pending order started)
    STOP = "stop"  # stopped by the platform (out of funds) or cancelled by the buyer (note says which)
    PREEMPT_NOTICE = "preempt_notice"  # a spot order was told it will be preempted (at = the notice)
    PREEMPTED = "preempted"  # a spot order's notice ran out
    METER = "meter"  # a meter reading charged the seconds used since the previous one
    RELEASE = "release"  # the buyer released it
    TERM_END = "term_end"  # a reserved term ran out
    EXTEND = "extend"  # a reserved term was extended (note: "+<months>m <key digest>")


class UsageRecord(Base):
    """One event in an order's use of its units, with the cumulative seconds billed and fen charged after it.

    Written in the same transaction as the order change and ledger transfers it describes (insert-only)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        CheckConstraint("seconds_total >= 0 AND charged_fen_total >= 0", name="totals_nonneg"),
        Index("ix_usage_records_order_at", "order_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    event: Mapped[UsageEvent] = mapped_column(_enum(UsageEvent, "usage_event", 20))
    at: Mapped[dt.datetime]
    seconds_total: Mapped[int] = mapped_column(doc="Seconds of use billed (per-second) or elapsed (reserved) "
                                                   "from the start to ``at``.")
    charged_fen_total: Mapped[int] = mapped_column(doc="The order's charged_fen after this event.")
    note: Mapped[str | None] = mapped_column(String(40), default=None)


class NotificationKind(enum.StrEnum):
    LOW_BALANCE = "low_balance"
    LEASE_STOPPED = "lease_stopped"
    PREEMPTED = "preempted"
    INSTANCE_READY = "instance_ready"
    DELIVERY_FAILED = "delivery_failed"
    INSTANCE_FAILED = "instance_failed"
    RFQ = "rfq"  # a request for quotes or its contract changed (awarded, expired, delivered, started, failed)
    EMERGENCY = "emergency"  # emergency compute: an offer to lend idle reserved units, a preemption, capacity used


class Notification(Base):
    """A message to an organization (zh and en), e.g. its wallet runs low while a lease runs."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_org_created", "org_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind, "notification_kind", 20))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), default=None)
    message_zh: Mapped[str] = mapped_column(String(500))
    message_en: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class PlatformSettings(Base):
    """The platform's trading settings: one row (id 1)."""

    __tablename__ = "platform_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("commission_bp BETWEEN 0 AND 10000", name="commission_range"),
        CheckConstraint("spot_notice_seconds >= 0", name="notice_nonneg"),
        CheckConstraint("delivery_deadline_minutes BETWEEN 1 AND 10080", name="delivery_deadline_range"),
        CheckConstraint("price_guard_low_pct BETWEEN 0 AND 100", name="price_guard_low_range"),
        CheckConstraint("price_guard_high_pct BETWEEN 100 AND 100000", name="price_guard_high_range"),
        CheckConstraint("price_guard_min_reserved_hours BETWEEN 0 AND 744", name="price_guard_reserved_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    commission_bp: Mapped[int] = mapped_column(Integer)
    spot_notice_seconds: Mapped[int] = mapped_column(Integer)
    delivery_deadline_minutes: Mapped[int] = mapped_column(
        Integer, default=60, server_default="60",
        doc="An instance not delivered this long after its lease was placed is refunded in full.")
    price_guard_low_pct: Mapped[int] = mapped_column(
        Integer, default=20, server_default="20",
        doc="An on-demand or spot price per accelerator-hour below this % of its chip's index median needs the "
            "seller's confirmation.")
    price_guard_high_pct: Mapped[int] = mapped_column(
        Integer, default=500, server_default="500",
        doc="An on-demand price per accelerator-hour above this % of its chip's index median needs confirmation.")
    price_guard_min_reserved_hours: Mapped[int] = mapped_column(
        Integer, default=200, server_default="200",
        doc="A reserved month cheaper than this many on-demand hours needs confirmation.")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


DEFAULT_COMMISSION_BP = 500  # 5 %
DEFAULT_SPOT_NOTICE_SECONDS = 300
DEFAULT_DELIVERY_DEADLINE_MINUTES = 60
DEFAULT_PRICE_GUARD_LOW_PCT = 20
DEFAULT_PRICE_GUARD_HIGH_PCT = 500
DEFAULT_PRICE_GUARD_MIN_RESERVED_HOURS = 200
