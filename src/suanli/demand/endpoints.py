"""Unmet demand and the procurement planner over HTTP (sellers and operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query as Q, Request

from suanli.catalog import search as catalog_search
from suanli.catalog.schemas import Money
from suanli.core.demand import ANY
from suanli.demand.planner import plan
from suanli.demand.schemas import (DemandCellOut, DemandOut, DemandTotalOut, EmptySearchOut, PlanOut, ProposalIn)
from suanli.demand.service import unmet_demand
from suanli.http import DbSession, SellerOrOperator
from suanli.scheduling.procurement import Proposal
from suanli.trading.endpoints import get_clock

router = APIRouter(prefix="/api/v1", tags=["demand"])

_NAMES = {400: {"description": "No such chip or province", "x-error-codes": ["invalid_value"]}}


def _total(t) -> DemandTotalOut:
    return DemandTotalOut(key=t.key, signals=t.signals, total=t.total, accelerators=t.accelerators, reasons=t.reasons)


@router.get("/seller/demand", response_model=DemandOut, responses=_NAMES)
def get_demand(request: Request, _user: SellerOrOperator, session: DbSession,
               days: Annotated[int, Q(ge=1, le=90)] = 30,
               chip: Annotated[str | None, Q(max_length=60, description="A chip, or * for demand naming none")] = None,
               province: Annotated[str | None, Q(max_length=40, description="A province, or *")] = None) -> DemandOut:
    """Unmet demand of the last `days` days by chip, province and day (China Standard Time): queued jobs the
    scheduler cannot place (with their reasons) and catalog searches that found nothing. Anonymous: no buyer,
    organization or job is named."""
    resolver = catalog_search.Resolver(session)
    chip_key = chip if chip in (None, ANY) else resolver.chips((chip,))[0]
    prov = province if province in (None, ANY) else resolver.place("province", (province,))[0]
    report = unmet_demand(session, get_clock(request).now(), days, chip_key, prov)
    return DemandOut(
        days=report.days, sources=report.sources, per_day=report.per_day,
        by_chip=[_total(t) for t in report.by_chip], by_province=[_total(t) for t in report.by_province],
        cells=[DemandCellOut(day=c.day, chip=c.chip, province=c.province, signals=dict(c.signals),
                             accelerators=c.accelerators, reasons=dict(c.reasons)) for c in report.cells],
        top_searches=[EmptySearchOut(filters=s.filters, count=s.count) for s in report.top_searches])


@router.post("/seller/demand/plan", response_model=PlanOut, responses=_NAMES)
def post_plan(body: ProposalIn, request: Request, _user: SellerOrOperator, session: DbSession) -> PlanOut:
    """The procurement planner: replay the last `days` days of accelerator jobs against today's market with and
    without the proposed capacity (`suanli replay`'s engine); how many jobs it would have taken, the
    accelerator-hours and the revenue at the proposed price. Nothing is stored."""
    resolver = catalog_search.Resolver(session)
    proposal = Proposal(chip=resolver.chips((body.chip,))[0], province=resolver.place("province", (body.province,))[0],
                        servers=body.servers, accelerators_per_server=body.accelerators_per_server,
                        price_per_accel_hour_fen=body.price_per_accel_hour_fen, vcpus_per_server=body.vcpus_per_server,
                        memory_gib_per_server=body.memory_gib_per_server)
    o = plan(session, proposal, get_clock(request).now(), body.days)
    return PlanOut(chip=proposal.chip, province=proposal.province, accelerators=proposal.accelerators, days=body.days,
                   jobs=o.jobs, placed_without=o.placed_without, placed_with=o.placed_with,
                   jobs_on_proposed=o.jobs_on_proposed, accelerator_hours_on_proposed=o.accelerator_hours_on_proposed,
                   revenue=Money.of(o.revenue_fen), utilisation_pct=o.utilisation_pct,
                   dropped_without=o.dropped_without)
