"""Tables of emergency compute (应急算力): an operator's emergency request and the parts it was assembled from.

Money columns end in ``_fen`` (integer fen). A part of stage ``free`` or ``spot`` is an order of the payer
(``order_id``); its state is that order's (pending while spot leases serve their notice, active once assembled,
ended when given back). A part of stage ``reserved`` is an offer to the holder of a reserved lease
(``order_id`` is that lease): offered, then accepted (the units are lent, the compensation paid) or declined.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from suanli.core.emergency import Stage
from suanli.db import Base, utcnow
from suanli.ids import new_id
from suanli.trading.models import _enum


class EmergencyStatus(enum.StrEnum):
    ASSEMBLING = "assembling"  # parts are being assembled (orders placed or waiting, offers out)
    ENDED = "ended"  # the operator ended it: orders released, lent units back, open offers withdrawn


class OfferStatus(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"  # the units are lent; the compensation was paid on acceptance
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # the emergency ended before an answer
    RETURNED = "returned"  # lent units came back when the emergency ended


class EmergencyRequest(Base):
    __tablename__ = "emergency_requests"
    __table_args__ = (
        CheckConstraint("accelerators > 0 AND duration_hours > 0", name="amounts_positive"),
        CheckConstraint("compensation_fen_per_accel_hour >= 0", name="rate_nonneg"),
        Index("ix_emergency_requests_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    declared_by_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    payer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"),
                                                    doc="The organization whose wallet pays (its orders).")
    payer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    accelerators: Mapped[int] = mapped_column(Integer)
    chips: Mapped[list[str]] = mapped_column(JSON, default=list)
    ecosystems: Mapped[list[str]] = mapped_column(JSON, default=list)
    provinces: Mapped[list[str]] = mapped_column(JSON, default=list)
    duration_hours: Mapped[int] = mapped_column(Integer)
    compensation_fen_per_accel_hour: Mapped[int]
    planned_accelerators: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[EmergencyStatus] = mapped_column(_enum(EmergencyStatus, "emergency_status"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class EmergencyPart(Base):
    __tablename__ = "emergency_parts"
    __table_args__ = (
        CheckConstraint("units > 0 AND accelerators > 0", name="amounts_positive"),
        CheckConstraint("compensation_fen >= 0", name="compensation_nonneg"),
        Index("ix_emergency_parts_emergency", "emergency_id", "stage"),
        Index("ix_emergency_parts_holder", "holder_org_id", "offer_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    emergency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emergency_requests.id"))
    stage: Mapped[Stage] = mapped_column(_enum(Stage, "emergency_stage"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    units: Mapped[int] = mapped_column(Integer)
    accelerators: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    holder_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    offer_status: Mapped[OfferStatus | None] = mapped_column(_enum(OfferStatus, "offer_status"), default=None)
    compensation_fen: Mapped[int] = mapped_column(default=0, doc="Reserved: paid to the holder on acceptance.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    returned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
