"""Price transparency over time and the operator's word on prices: daily snapshots of the price index, and the
guidance price (指导价) per chip with the band around it; listings outside the band are flagged."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import User
from suanli.catalog.models import ChipModel, GuidancePrice, PriceIndexSnapshot
from suanli.catalog.price_index import price_index
from suanli.core.chips import resolve_chip
from suanli.core.price_guard import Guidance
from suanli.core.price_stats import PriceSummary
from suanli.errors import NotFound
from suanli.core.china_time import china_day
from suanli.trading.reports import last_days

DEFAULT_BAND_PCT = 30


def take_snapshot(session: Session, now: dt.datetime) -> tuple[dt.date, int]:
    """Store today's (China Standard Time) price index per chip, replacing one taken earlier today; the day and
    how many chips it holds. Chips with no listed offer have no row that day."""
    day = china_day(now)
    session.execute(delete(PriceIndexSnapshot).where(PriceIndexSnapshot.day == day))
    rows = price_index(session)
    for chip, _province, s in rows:
        session.add(snapshot_row(day, chip.key, s, now))
    session.flush()
    return day, len(rows)


def snapshot_if_missing(session: Session, now: dt.datetime) -> bool:
    """Take today's snapshot unless one was taken (by this, the command or an operator): what ``suanli serve``'s
    periodic loop calls, so the history grows by a day every day without anyone remembering to. True if taken."""
    taken = session.scalar(select(PriceIndexSnapshot.day).where(PriceIndexSnapshot.day == china_day(now)).limit(1))
    if taken is not None:
        return False
    take_snapshot(session, now)
    return True


def snapshot_row(day: dt.date, chip_key: str, s: PriceSummary, now: dt.datetime) -> PriceIndexSnapshot:
    return PriceIndexSnapshot(day=day, chip_key=chip_key, offers=s.count, min_fen=s.min, q1_fen=s.q1,
                              median_fen=s.median, q3_fen=s.q3, max_fen=s.max, taken_at=now)


@dataclass(frozen=True)
class ChipHistory:
    chip: ChipModel
    points: list[tuple[dt.date, PriceSummary]]  # oldest first; days without a snapshot are missing


def price_history(session: Session, now: dt.datetime, days: int = 30, chip: str | None = None) -> list[ChipHistory]:
    """The snapshots of the last ``days`` days per chip (in the chip table's order)."""
    since = last_days(now, days)[0]
    query = select(PriceIndexSnapshot).where(PriceIndexSnapshot.day >= since)
    if chip is not None:
        query = query.where(PriceIndexSnapshot.chip_key == chip)
    by_chip: dict[str, list[tuple[dt.date, PriceSummary]]] = {}
    for row in session.scalars(query.order_by(PriceIndexSnapshot.chip_key, PriceIndexSnapshot.day)):
        by_chip.setdefault(row.chip_key, []).append((row.day, PriceSummary(
            row.offers, row.min_fen, row.q1_fen, row.median_fen, row.q3_fen, row.max_fen)))
    chips = {c.key: c for c in session.scalars(select(ChipModel).where(ChipModel.key.in_(by_chip)))}
    return [ChipHistory(chips[k], by_chip[k]) for k in sorted(by_chip, key=lambda k: chips[k].name)]


# ---------------------------------------------------------------- guidance prices

def guidance_prices(session: Session) -> list[tuple[GuidancePrice, ChipModel]]:
    rows = session.execute(select(GuidancePrice, ChipModel).join(ChipModel, ChipModel.key == GuidancePrice.chip_key)
                           .order_by(ChipModel.name))
    return [(g, c) for g, c in rows]


def guidance_by_chip(session: Session) -> dict[str, Guidance]:
    """Every published guidance price, per chip key (for flagging listings)."""
    return {g.chip_key: Guidance(g.price_fen, g.band_pct) for g in session.scalars(select(GuidancePrice))}


def chip_key_of(session: Session, name: str) -> str:
    """A chip key from a key or a name (aliases resolved); 404 ``chip_not_found`` otherwise."""
    spec = resolve_chip(name)
    if spec is None or session.get(ChipModel, spec.key) is None:
        raise NotFound(f"No chip {name!r}. GET /api/v1/chips lists them.", code="chip_not_found",
                       details={"chip": name})
    return spec.key


def _audit_details(row: GuidancePrice) -> dict[str, Any]:
    return {"chip": row.chip_key, "price_fen": row.price_fen, "band_pct": row.band_pct}


def publish_guidance(session: Session, operator: User, chip_key: str, price_fen: int, band_pct: int, note: str,
                     now: dt.datetime) -> GuidancePrice:
    """Publish (or replace) the guidance price of ``chip_key`` (a key or a name: 910B, A800); recorded in the audit
    trail with the figures it replaces."""
    chip_key = chip_key_of(session, chip_key)
    row = session.get(GuidancePrice, chip_key, with_for_update=True)
    before = None if row is None else _audit_details(row)
    if row is None:
        row = GuidancePrice(chip_key=chip_key)
        session.add(row)
    row.price_fen, row.band_pct, row.note = price_fen, band_pct, note
    row.published_at, row.published_by = now, operator.id
    session.flush()
    audit.record(session, operator, "guidance.published", f"chip:{chip_key}",
                 {**_audit_details(row), "before": before})
    return row


def withdraw_guidance(session: Session, operator: User, chip_key: str) -> None:
    """Withdraw the guidance price of ``chip_key`` (404 ``guidance_not_found`` when none is published)."""
    chip_key = chip_key_of(session, chip_key)
    row = session.get(GuidancePrice, chip_key, with_for_update=True)
    if row is None:
        raise NotFound(f"No guidance price is published for {chip_key!r}.", code="guidance_not_found",
                       details={"chip": chip_key})
    audit.record(session, operator, "guidance.withdrawn", f"chip:{chip_key}", _audit_details(row))
    session.delete(row)
    session.flush()
