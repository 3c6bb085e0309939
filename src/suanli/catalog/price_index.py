"""The price index: the platform's transparent guidance price per chip (and province)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import ChipModel, Product
from suanli.core.chips import load_chip_table
from suanli.core.price_stats import PriceSummary, summarize


def price_index(session: Session, *, by_province: bool = False, chip: str | None = None,
                province: str | None = None, excluding: uuid.UUID | None = None,
                ) -> list[tuple[ChipModel, str | None, PriceSummary]]:
    """Listed on-demand prices per accelerator-hour, summarized per chip (and per province if asked); without the
    product ``excluding`` (a product is not measured against its own price)."""
    query = (select(Product.chip_key, Product.province, Product.price_per_accel_hour_fen)
             .where(Product.is_visible.is_(True), Product.price_per_accel_hour_fen.is_not(None)))
    if chip is not None:
        query = query.where(Product.chip_key == chip)
    if province is not None:
        query = query.where(Product.province == province)
    if excluding is not None:
        query = query.where(Product.id != excluding)
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for chip_key, prov, price in session.execute(query):
        groups[(chip_key, prov if by_province else None)].append(price)
    chips = {c.key: c for c in session.scalars(select(ChipModel))}
    order = {key: i for i, key in enumerate(load_chip_table())}
    rows = [(chips[k], p, summarize(v)) for (k, p), v in groups.items()]
    rows.sort(key=lambda r: (order.get(r[0].key, 999), r[1] or ""))
    return rows
