"""Emergency compute (应急算力) in the consoles: operators follow each emergency's parts and progress (accelerators
assembled over time), declare and end them; buyers holding reserved leases accept or decline the offers made to them.
The same services as the API (``suanli.emergency``)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import select

from suanli.accounts.models import Organization, Role
from suanli.core.chips import ECOSYSTEMS
from suanli.emergency import service
from suanli.emergency.schemas import EmergencyIn
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.trading.endpoints import get_clock
from suanli.web.forms import Form, attempt, blank_to_none, cny_to_fen, form_values, translator, validate
from suanli.web.i18n import N_, format_datetime
from suanli.web.operator_charts import base_option
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import BuyerUser, OperatorUser, PostedForm

router = web_router()
register_notices(emergency_declared=N_("The emergency is declared: free capacity is taken at once, spot leases "
                                      "after their notice, and holders of reserved leases are asked."),
                 emergency_ended=N_("The emergency has ended: its orders are released and lent units are back."),
                 offer_accepted=N_("Offer accepted: the units are lent until the emergency ends, and the "
                                   "compensation is in your wallet."),
                 offer_declined=N_("Offer declined: nothing is lent."))

STATE_LABELS = {"assembling": N_("Assembling"), "ended": N_("Ended"), "active": N_("Assembled"),
                "pending": N_("Waiting for the spot notice"), "cancelled": N_("Cancelled"),
                "offered": N_("Awaiting an answer"), "accepted": N_("Lent"), "declined": N_("Declined"),
                "withdrawn": N_("Withdrawn"), "returned": N_("Returned")}
STAGE_LABELS = {"free": N_("Free capacity"), "spot": N_("Spot, preempted"), "reserved": N_("Reserved, lent")}


def _labels(request: Request) -> dict[str, Any]:
    _ = translator(request)
    return {"state": {k: _(v) for k, v in STATE_LABELS.items()}, "stage": {k: _(v) for k, v in STAGE_LABELS.items()}}


DECLARE_FIELDS = ["title", "accelerators", "chips", "ecosystems", "provinces", "duration_hours", "rate",
                  "payer_org_id"]


def _list(request: Request, session: DbSession, form: Form | None = None, status_code: int = 200):
    rows, total = service.listing(session, limit=100, offset=0)
    payers = session.execute(select(Organization.id, Organization.name).where(Organization.kind == Role.BUYER)
                             .order_by(Organization.name)).all()
    form = form or Form(values={"duration_hours": "24", "ecosystems": []})
    chosen = form.values.get("ecosystems") or []
    return render(request, "operator/emergencies.html", {
        "rows": [(e, service.progress(session, e)) for e in rows], "total": total, "labels": _labels(request),
        "form": form, "payer_options": [("", translator(request)(N_("Choose the paying organization")))]
        + [(str(i), n) for i, n in payers],
        "ecosystems": [(e.key, f"{e.name} · {e.vendor}") for e in ECOSYSTEMS.values()],
        "chosen_ecosystems": set(chosen if isinstance(chosen, list) else [chosen])}, status_code=status_code)


@router.get("/operator/emergencies")
def emergencies(request: Request, session: DbSession, _operator: OperatorUser):
    return _list(request, session)


def _names(text: str | None) -> list[str]:
    """``A800, 910B`` or ``安徽 江苏``: the names typed, in order, once each."""
    return list(dict.fromkeys(n for n in re.split(r"[\s,，、;；]+", text or "") if n))


@router.post("/operator/emergencies")
def declare(request: Request, session: DbSession, operator: OperatorUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, DECLARE_FIELDS))
    data = blank_to_none({k: v for k, v in form.values.items() if k not in ("chips", "provinces", "ecosystems")})
    data["compensation_fen_per_accel_hour"] = cny_to_fen(data.pop("rate", None), "rate", form, _)
    ecosystems = form.values.get("ecosystems") or []
    data |= {"chips": _names(form.values.get("chips")), "provinces": _names(form.values.get("provinces")),
             "ecosystems": ecosystems if isinstance(ecosystems, list) else [ecosystems]}
    body = validate(EmergencyIn, data, form, _, {"compensation_fen_per_accel_hour": "rate"})
    if body is None or not form.ok:
        return _list(request, session, form, status_code=400)
    try:
        with attempt(session):
            declared = service.declare(session, get_clock(request), operator, body)
    except DomainError as exc:
        form.fail(exc, _, {"chips": "chips", "ecosystems": "chips"})
        return _list(request, session, form, status_code=402 if exc.status == 402 else 400)
    return redirect(f"/operator/emergencies/{declared.id}", notice="emergency_declared")


def progress_chart(p: service.Progress, asked: int, _: Any) -> dict[str, Any]:
    """Stacked bars: the accelerators each stage had assembled by each moment a part was assembled."""
    moments = sorted({at for at, *_rest in p.timeline})
    series = []
    for stage in STAGE_LABELS:
        running, data = 0, []
        for moment in moments:
            running += sum(added for at, s, added, _t in p.timeline if at == moment and s.value == stage)
            data.append(running)
        series.append({"name": _(STAGE_LABELS[stage]), "type": "bar", "stack": "assembled", "data": data})
    return base_option(
        legend={"top": 0},
        xAxis={"type": "category", "name": _(N_("Time")), "data": [format_datetime(m, seconds=True) for m in moments]},
        yAxis={"type": "value", "minInterval": 1, "max": asked, "name": _(N_("Accelerators"))},
        series=series)


def _detail(request: Request, session: DbSession, emergency_id: uuid.UUID, form: Form | None = None,
            status_code: int = 200):
    emergency = service.get(session, emergency_id)
    p = service.progress(session, emergency)
    chart = progress_chart(p, emergency.accelerators, translator(request)) if p.timeline else None
    return render(request, "operator/emergency.html", {
        "e": emergency, "p": p, "chart": chart, "labels": _labels(request), "form": form or Form()},
        status_code=status_code)


@router.get("/operator/emergencies/{emergency_id}")
def emergency(emergency_id: uuid.UUID, request: Request, session: DbSession, _operator: OperatorUser):
    return _detail(request, session, emergency_id)


@router.post("/operator/emergencies/{emergency_id}/end")
def end(emergency_id: uuid.UUID, request: Request, session: DbSession, operator: OperatorUser, _posted: PostedForm):
    form = Form()
    try:
        with attempt(session):
            service.end(session, get_clock(request), operator, emergency_id)
    except DomainError as exc:
        form.fail(exc, translator(request))
        return _detail(request, session, emergency_id, form, status_code=409 if exc.status == 409 else 400)
    return redirect(f"/operator/emergencies/{emergency_id}", notice="emergency_ended")


def _offers(request: Request, session: DbSession, buyer: Any, form: Form | None = None, status_code: int = 200):
    return render(request, "buyer/emergency_offers.html", {
        "offers": service.offers_for(session, buyer), "labels": _labels(request), "form": form or Form()},
        status_code=status_code)


@router.get("/account/emergency-offers")
def offers(request: Request, session: DbSession, buyer: BuyerUser):
    return _offers(request, session, buyer)


@router.post("/account/emergency-offers/{offer_id}/answer")
def answer(offer_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, posted: PostedForm):
    accept = str(posted.get("accept", "")) == "1"
    form = Form()
    try:
        with attempt(session):
            service.answer_offer(session, get_clock(request), buyer, offer_id, accept)
    except DomainError as exc:
        form.fail(exc, translator(request))
        return _offers(request, session, buyer, form, status_code=exc.status if exc.status in (402, 404, 409) else 400)
    return redirect("/account/emergency-offers", notice="offer_accepted" if accept else "offer_declined")
