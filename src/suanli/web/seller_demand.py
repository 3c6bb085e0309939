"""The seller's demand page: unmet demand by day, chip and province (charts with their tables), the searches
that found nothing, and the procurement planner (a GET form: it stores nothing, so the address holds it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import select

from suanli.catalog import service as catalog
from suanli.catalog.models import ChipModel, Region
from suanli.catalog.search import Resolver
from suanli.demand.planner import plan
from suanli.demand.schemas import ProposalIn
from suanli.demand.service import unmet_demand
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.scheduling.procurement import Proposal
from suanli.trading.endpoints import get_clock
from suanli.web.demand_charts import SOURCE_NAMES, demand_per_day_chart, demand_totals_chart, totals_height
from suanli.web.forms import Form, blank_to_none, cny_to_fen, translator, validate
from suanli.web.i18n import N_
from suanli.web.presenters import labeler
from suanli.web.render import render, web_router
from suanli.web.security import SellerUser

router = web_router(prefix="/seller")
PLAN_FIELDS = ["chip", "province", "servers", "accelerators_per_server", "price", "days"]


def _planner(request: Request, session: DbSession, _: Any) -> tuple[Form, Any]:
    """The planner's form as typed, and its outcome once every field is valid (None before it is sent)."""
    typed = {name: request.query_params.get(name) for name in PLAN_FIELDS}
    form = Form(values={"servers": "4", "accelerators_per_server": "8", "days": "14",
                        **{k: v for k, v in typed.items() if v is not None}})
    if not request.query_params.get("plan"):
        return form, None
    price = cny_to_fen(form.values.get("price"), "price", form, _)
    body = validate(ProposalIn, blank_to_none({**{k: form.values.get(k) for k in PLAN_FIELDS if k != "price"},
                                               "price_per_accel_hour_fen": price}),
                    form, _, {"price_per_accel_hour_fen": "price"})
    if body is None or not form.ok:
        return form, None
    try:
        resolver = Resolver(session)
        proposal = Proposal(resolver.chips((body.chip,))[0], resolver.place("province", (body.province,))[0],
                            body.servers, body.accelerators_per_server, body.price_per_accel_hour_fen,
                            body.vcpus_per_server, body.memory_gib_per_server)
    except DomainError as exc:
        form.error(exc.details.get("field", "chip"), _(N_("Choose one from the list.")))
        return form, None
    return form, (proposal, plan(session, proposal, get_clock(request).now(), body.days))


@router.get("/demand")
def demand_page(request: Request, session: DbSession, _user: SellerUser,
                days: Annotated[int, Query(ge=1, le=90)] = 30):
    _ = translator(request)
    report = unmet_demand(session, get_clock(request).now(), days)
    chips = {c.key: c.name for c in session.scalars(select(ChipModel))}
    form, outcome = _planner(request, session, _)
    return render(request, "seller/demand.html", {
        "days": days, "report": report, "chips": chips, "source_names": SOURCE_NAMES,
        "per_day_chart": demand_per_day_chart(report, _),
        "chip_chart": demand_totals_chart(report.by_chip[:15], chips, report.sources, _, _(N_("Chip"))),
        "chip_height": totals_height(report.by_chip[:15]),
        "province_chart": demand_totals_chart(report.by_province[:15], {}, report.sources, _, _(N_("Province"))),
        "province_height": totals_height(report.by_province[:15]),
        "form": form, "outcome": outcome,
        "chip_options": [("", _(N_("Choose a chip")))] + [(c.key, c.name) for c in catalog.list_chips(session)],
        "province_options": [("", _(N_("Choose a province")))] + [
            (p, p) for p in sorted({r.province for r in session.scalars(select(Region))})],
        "label": labeler(request)})
