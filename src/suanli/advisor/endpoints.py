"""Advisor endpoints: open to visitors (no login needed), read-only over the catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from suanli.advisor.schemas import EstimateIn, RecommendIn
from suanli.advisor.service import recommend, run_estimate
from suanli.http import DbSession

router = APIRouter(prefix="/api/v1", tags=["advisor"])


@router.post("/estimates")
def post_estimate(body: EstimateIn) -> dict[str, Any]:
    """Estimate a workload on ``count`` devices of a named chip: memory fit and breakdown, hours
    low/central/high, bottleneck, notes. No catalog involved."""
    return run_estimate(body)


@router.post("/recommendations")
def post_recommendations(body: RecommendIn, session: DbSession) -> dict[str, Any]:
    """Ranked feasible configurations from the live catalog for a workload, deadline and budget; when none
    is feasible, ``why_not`` counts and ``suggestions``."""
    return recommend(session, body)
