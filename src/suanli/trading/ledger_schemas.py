"""Wire formats of the readable ledger and the payouts and refunds lists."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from suanli.catalog.schemas import Money
from suanli.core.ledger_rows import RowKind


class LedgerRowOut(BaseModel):
    kind: RowKind = Field(description="topup, hold, charge, release, refund, payout, meter (the meter's readings "
                                      "of one order in one Beijing day, summed) or compensation (emergency "
                                      "compute: paid for lent reserved units, or received for them)")
    order_id: uuid.UUID | None
    product_name: str | None
    period_start: dt.datetime | None = Field(description="An order's row: when the order started (a meter row: its "
                                                         "first reading).")
    period_end: dt.datetime | None = Field(description="When it ended or ends (a meter row: its last reading).")
    reference: str | None = Field(description="A top-up's, payout's or refund's bank reference.")
    ref: str = Field(description="The ledger ref of the event (a meter row: of its first reading).")
    at: dt.datetime = Field(description="When the row's last movement happened.")
    day: dt.date = Field(description="That moment's day in Beijing time.")
    readings: int = Field(description="Meter readings summed in the row (1 for any other event).")
    change: Money = Field(description="What the row did to your money: a buyer's available + held, a seller's "
                                      "receivable.")
    held_change: Money = Field(description="What it did to the part held for running orders (buyers).")
    balance: Money = Field(description="Your money after the row: the running sum of the changes.")
    held: Money = Field(description="Of which held for running orders, after the row.")


class LedgerRowPage(BaseModel):
    items: list[LedgerRowOut]
    total: int
    limit: int
    offset: int


class MoneyEventOut(BaseModel):
    reference: str
    at: dt.datetime
    amount: Money
    organization_id: uuid.UUID = Field(description="A payout's seller; a refund's buyer.")
    organization_name: str
    seller_org_id: uuid.UUID | None
    order_id: uuid.UUID | None = Field(description="A refund's order.")
    product_name: str | None


class MoneyEventPage(BaseModel):
    items: list[MoneyEventOut]
    total: int
    limit: int
    offset: int
