"""The operator's guidance prices (指导价): publish one per chip with its band, withdraw it; every change is in the
audit trail (``catalog.price_history``). Listings outside the band are flagged on product pages and in search."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from suanli.catalog import service as catalog
from suanli.catalog.price_history import (DEFAULT_BAND_PCT, guidance_prices, publish_guidance,
                                          withdraw_guidance)
from suanli.catalog.price_schemas import GuidanceIn, band_bounds
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.trading.endpoints import get_clock
from suanli.web.forms import Form, attempt, blank_to_none, cny_to_fen, form_values, translator, validate
from suanli.web.i18n import N_
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import OperatorUser, PostedForm

router = web_router(prefix="/operator")
register_notices(guidance_published=N_("The guidance price is published. Listings outside its band are flagged "
                                       "from now on."),
                 guidance_withdrawn=N_("The guidance price is withdrawn."))
FIELDS = ["chip", "price", "band_pct", "note"]


def _page(request: Request, session: DbSession, form: Form, status_code: int = 200):
    _ = translator(request)
    rows = [(g, c, band_bounds(g.price_fen, g.band_pct)) for g, c in guidance_prices(session)]
    return render(request, "operator/guidance.html", {
        "rows": rows, "form": form,
        "chip_options": [("", _(N_("Choose a chip")))] + [(c.key, c.name) for c in catalog.list_chips(session)]},
        status_code=status_code)


@router.get("/guidance")
def guidance_page(request: Request, session: DbSession, _operator: OperatorUser):
    return _page(request, session, Form(values={"band_pct": str(DEFAULT_BAND_PCT)}))


@router.post("/guidance")
def publish(request: Request, session: DbSession, operator: OperatorUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, FIELDS))
    price = cny_to_fen(form.values.get("price"), "price", form, _)
    body = validate(GuidanceIn, blank_to_none({"price_fen": price, "band_pct": form.values.get("band_pct"),
                                               "note": form.values.get("note")}), form, _, {"price_fen": "price"})
    if not form.values.get("chip"):
        form.error("chip", _(N_("Choose one from the list.")))
    if body is None or not form.ok:
        return _page(request, session, form, status_code=400)
    try:
        with attempt(session):
            publish_guidance(session, operator, form.values["chip"], body.price_fen, body.band_pct, body.note,
                             get_clock(request).now())
    except DomainError as exc:
        form.fail(exc, _, {"chip_not_found": "chip"})
        return _page(request, session, form, status_code=400)
    return redirect("/operator/guidance", notice="guidance_published")


@router.post("/guidance/{chip}/withdraw")
def withdraw(chip: str, request: Request, session: DbSession, operator: OperatorUser, _posted: PostedForm) -> Any:
    withdraw_guidance(session, operator, chip)  # 404 page for one that is not published
    return redirect("/operator/guidance", notice="guidance_withdrawn")
