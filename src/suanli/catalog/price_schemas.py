"""The wire of price history and guidance prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from suanli.catalog.price_history import DEFAULT_BAND_PCT
from suanli.catalog.schemas import Money, PriceSpread
from suanli.core.money import round_fen


class PricePointOut(PriceSpread):
    day: dt.date


class ChipHistoryOut(BaseModel):
    chip: str
    chip_name: str
    points: list[PricePointOut] = Field(description="One per day with a snapshot, oldest first.")


class PriceHistoryOut(BaseModel):
    unit: str = "on-demand CNY per accelerator-hour"
    days: int
    chips: list[ChipHistoryOut]


class SnapshotOut(BaseModel):
    day: dt.date = Field(description="The day (China Standard Time) the snapshot is of; taking it again replaces it.")
    chips: int = Field(description="Chips with at least one listed offer, one row each.")


class GuidanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_fen: int = Field(gt=0, le=100_000_000, description="Guidance price per accelerator-hour on demand, fen.")
    band_pct: int = Field(default=DEFAULT_BAND_PCT, ge=1, le=95,
                          description="A listing more than this % above or below the guidance price is flagged as "
                                      "far from it.")
    note: str = Field(default="", max_length=500)


class GuidanceOut(BaseModel):
    chip: str
    chip_name: str
    price_per_accelerator_hour: Money
    band_pct: int
    low: Money = Field(description="The band's lower bound per accelerator-hour.")
    high: Money = Field(description="The band's upper bound per accelerator-hour.")
    note: str
    published_at: dt.datetime


def band_bounds(price_fen: int, band_pct: int) -> tuple[int, int]:
    """The band's bounds in fen, rounded half-up (display; the flag itself compares exactly)."""
    return (round_fen(Decimal(price_fen * (100 - band_pct)) / 100),
            round_fen(Decimal(price_fen * (100 + band_pct)) / 100))
