"""Demand tables: searches that found nothing, recorded without who searched."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from suanli.db import Base
from suanli.ids import new_id


class SearchMiss(Base):
    """One catalog search that matched no product: its filters, normalized (the query language, conditions in
    field order), and the chip, province and accelerator count they asked for when they named one. Never the
    user, the organization, the address or the free text as typed."""

    __tablename__ = "search_misses"
    __table_args__ = (Index("ix_search_misses_day", "day"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    day: Mapped[dt.date]
    filters: Mapped[str] = mapped_column(String(1000))
    chip_key: Mapped[str | None] = mapped_column(String(40), default=None)
    province: Mapped[str | None] = mapped_column(String(40), default=None)
    accelerators: Mapped[int | None] = mapped_column(Integer, default=None)
