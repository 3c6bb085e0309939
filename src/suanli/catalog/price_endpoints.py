"""Price transparency over HTTP: the price index's daily history, today's snapshot, guidance prices (指导价)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query as Q, Request, Response

from suanli.catalog import search as catalog_search
from suanli.catalog.price_history import (guidance_prices, price_history, publish_guidance, take_snapshot,
                                          withdraw_guidance)
from suanli.catalog.price_schemas import (ChipHistoryOut, GuidanceIn, GuidanceOut, PriceHistoryOut, PricePointOut,
                                          SnapshotOut, band_bounds)
from suanli.catalog.schemas import Money, PriceSpread
from suanli.http import DbSession, OperatorUser
from suanli.trading.endpoints import get_clock

router = APIRouter(prefix="/api/v1", tags=["prices"])


@router.get("/price-index/history", response_model=PriceHistoryOut,
            responses={400: {"description": "No such chip", "x-error-codes": ["invalid_value"]}})
def get_price_history(request: Request, session: DbSession, days: Annotated[int, Q(ge=1, le=366)] = 30,
                      chip: Annotated[str | None, Q(max_length=60)] = None) -> PriceHistoryOut:
    """The price index per chip as it stood each day (daily snapshots, China Standard Time), oldest first."""
    chip_key = catalog_search.Resolver(session).chips((chip,))[0] if chip else None
    rows = price_history(session, get_clock(request).now(), days, chip_key)
    return PriceHistoryOut(days=days, chips=[
        ChipHistoryOut(chip=h.chip.key, chip_name=h.chip.name, points=[
            PricePointOut(day=day, **PriceSpread.fields_of(s)) for day, s in h.points])
        for h in rows])


@router.post("/operator/price-index/snapshots", response_model=SnapshotOut)
def post_snapshot(request: Request, _operator: OperatorUser, session: DbSession) -> SnapshotOut:
    """Operator: store today's price index (what `suanli price-index snapshot` runs once a day)."""
    day, chips = take_snapshot(session, get_clock(request).now())
    return SnapshotOut(day=day, chips=chips)


def guidance_out(row, chip) -> GuidanceOut:
    low, high = band_bounds(row.price_fen, row.band_pct)
    return GuidanceOut(chip=chip.key, chip_name=chip.name, price_per_accelerator_hour=Money.of(row.price_fen),
                       band_pct=row.band_pct, low=Money.of(low), high=Money.of(high), note=row.note,
                       published_at=row.published_at)


@router.get("/guidance-prices", response_model=list[GuidanceOut])
def list_guidance(session: DbSession) -> list[GuidanceOut]:
    """The operator's published guidance prices per chip (per accelerator-hour on demand) and their bands."""
    return [guidance_out(g, c) for g, c in guidance_prices(session)]


@router.put("/operator/guidance-prices/{chip}", response_model=GuidanceOut)
def put_guidance(chip: str, body: GuidanceIn, request: Request, operator: OperatorUser,
                 session: DbSession) -> GuidanceOut:
    """Operator: publish or replace a chip's guidance price (audited: `guidance.published`). Listings outside its
    band are flagged on their product page and in search results."""
    row = publish_guidance(session, operator, chip, body.price_fen, body.band_pct, body.note, get_clock(request).now())
    return next(guidance_out(g, c) for g, c in guidance_prices(session) if g.chip_key == row.chip_key)


@router.delete("/operator/guidance-prices/{chip}", status_code=204)
def delete_guidance(chip: str, operator: OperatorUser, session: DbSession) -> Response:
    """Operator: withdraw a chip's guidance price (audited: `guidance.withdrawn`)."""
    withdraw_guidance(session, operator, chip)
    return Response(status_code=204)
