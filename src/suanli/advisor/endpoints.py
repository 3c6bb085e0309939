"""Advisor endpoints: estimates, recommendations and templates are open to visitors (read-only over the catalog);
launching a recommendation as a job needs a logged-in buyer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from suanli.advisor.launch import launch_recommendation
from suanli.advisor.responses import EstimateOut, LaunchOut, RecommendationsOut, TemplateDetailOut, TemplateOut
from suanli.advisor.schemas import EstimateIn, LaunchIn, RecommendIn
from suanli.advisor.service import recommend, run_estimate
from suanli.http import CurrentUser, DbSession, ReadSession
from suanli.jobs.endpoints import AppClock
from suanli.core.templates import TEMPLATE_KINDS, TEMPLATES
from suanli.templates import get_template, list_templates, template_detail

router = APIRouter(prefix="/api/v1", tags=["advisor"])


# A workload's own rules (core.workloads: fields that need each other) are checked after the schema.
_WORKLOAD_ERRORS = {422: {"description": "A workload the estimator cannot take", "x-error-codes": ["invalid_workload"]}}


@router.post("/estimates", response_model=EstimateOut,
             responses=_WORKLOAD_ERRORS)
def post_estimate(body: EstimateIn) -> dict[str, Any]:
    """Estimate a workload on ``count`` devices of a named chip: memory fit and breakdown, hours
    low/central/high, bottleneck, notes. No catalog involved."""
    return run_estimate(body)


@router.post("/recommendations", response_model=RecommendationsOut)
def post_recommendations(body: RecommendIn, session: ReadSession) -> dict[str, Any]:
    """Ranked feasible configurations from the live catalog for a workload, deadline and budget; when none
    is feasible, ``why_not`` counts and ``suggestions``."""
    return recommend(session, body)


@router.post("/recommendations/launch", response_model=LaunchOut, status_code=201)
def post_launch(body: LaunchIn, user: CurrentUser, session: DbSession, clock: AppClock) -> dict[str, Any]:
    """Launch one recommended option as a job in one call: the same request as ``/recommendations`` plus
    ``rank`` (or ``product_id``), an optional ``template_id``, template ``parameters``, data ``files`` and
    ``smoke``. The job is pinned to the option's data center and price, runs the template for the workload on
    that chip's ecosystem, and is placed, billed and run by the scheduler like any other job."""
    return launch_recommendation(session, clock, user, body)


# The filters' valid values, in the OpenAPI too (list_templates still answers 422 invalid_value to anything else).
_TEMPLATE_ECOSYSTEMS = sorted({t.ecosystem or "cpu" for t in TEMPLATES.values()})


@router.get("/templates", response_model=list[TemplateOut])
def get_templates(ecosystem: Annotated[str | None, Query(json_schema_extra={"enum": _TEMPLATE_ECOSYSTEMS})] = None,
                  kind: Annotated[str | None, Query(json_schema_extra={"enum": list(TEMPLATE_KINDS)})] = None,
                  ) -> list[dict[str, Any]]:
    """One-stop workload templates: environment (image, pip packages), command, parameters, smoke version.
    Filter by ``ecosystem`` (cuda, cann, dtk, cpu) and ``kind`` (finetune, serving, batch_inference, hpc)."""
    return [t.describe() for t in list_templates(ecosystem, kind)]


@router.get("/templates/{template_id}", response_model=TemplateDetailOut)
def get_template_detail(template_id: str) -> dict[str, Any]:
    """A template with its files' text."""
    return template_detail(get_template(template_id))
