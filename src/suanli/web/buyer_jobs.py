"""The buyer console's jobs: status, placement and its reason, attempts, why not placed, logs, cancel.

The scheduler's sentences (placement reason, state detail, attempts' reasons, why not placed) are stored
translatable (:mod:`suanli.core.messages`); the page shows them in its language with the ``say`` filter, and the
English text for rows stored before that."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import Product
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.jobs import service as jobs
from suanli.jobs.models import JobState
from suanli.trading.endpoints import get_clock
from suanli.web.forms import Form, attempt, translator
from suanli.web.i18n import N_
from suanli.web.presenters import labeler, options
from suanli.web.listing import ListingQuery
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import BuyerUser, PostedForm

router = web_router(prefix="/account/jobs")
register_notices(job_cancelled=N_("The job is cancelled."),
                 job_submitted=N_("The job is submitted: the scheduler places it within seconds."))
JOB_SORT_LABELS = {"-submitted": N_("Newest first"), "submitted": N_("Oldest first"), "name": N_("Name")}
LOG_TAIL = 200


@router.get("")
def job_list(request: Request, session: DbSession, buyer: BuyerUser, listing: ListingQuery, state: str | None = None):
    wanted = JobState(state) if state in JobState._value2member_map_ else None
    sort = listing.sorted_by(jobs.JOB_SORTS, "-submitted")
    rows, total = jobs.list_jobs(session, buyer, state=wanted, text=listing.q, sort=sort, limit=listing.limit,
                                 offset=listing.offset)
    _ = translator(request)
    return render(request, "buyer/jobs.html", {
        "jobs": jobs.jobs_out(session, rows, viewer=buyer), "total": total, "offset": listing.offset,
        "limit": listing.limit, "listing": listing, "sort": sort,
        "sort_options": [(key, _(text)) for key, text in JOB_SORT_LABELS.items()],
        "state": wanted, "label": labeler(request),
        "state_options": options(request, "job_state", blank=_(N_("All jobs")))})


def _pinned_products(session: Session, product_ids: list[str]) -> list[dict[str, str]]:
    """The products the job is pinned to (``constraints.products``), with their names (the id if it is gone)."""
    if not product_ids:
        return []
    names = {str(pid): name for pid, name in session.execute(
        select(Product.id, Product.name).where(Product.id.in_([uuid.UUID(p) for p in product_ids])))}
    return [{"id": p, "name": names.get(p, p)} for p in product_ids]


def _job_page(request: Request, session: DbSession, buyer, job_id: uuid.UUID, form: Form | None = None,
              status_code: int = 200):
    job = jobs.get_job(session, buyer, job_id)
    shown = jobs.job_out(session, job, viewer=buyer)
    # attempts are stored as JSON: their times are ISO text (the API's model parses them; the page does here)
    shown["attempts"] = [{**a, "at": dt.datetime.fromisoformat(a["at"]) if isinstance(a["at"], str) else a["at"]}
                         for a in shown["attempts"]]
    return render(request, "buyer/job.html", {"job": shown,
                                              "pinned_products": _pinned_products(session,
                                                                                  shown["constraints"]["products"]),
                                              "label": labeler(request), "form": form or Form(),
                                              "active": not job.state.terminal},
                  status_code=status_code)


@router.get("/{job_id}")
def job_page(job_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser):
    return _job_page(request, session, buyer, job_id)


@router.get("/{job_id}/logs")
def job_logs(job_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser):
    """htmx: the last lines of the job's logs (polled every few seconds while the job is active)."""
    _ = translator(request)
    try:
        job, text = jobs.job_logs(session, buyer, job_id, tail=LOG_TAIL)
        error = None
    except DomainError as exc:
        if exc.status == 404:
            raise
        job, text, error = jobs.get_job(session, buyer, job_id), "", _(N_("The logs cannot be read from the "
                                                                         "cluster right now; try again shortly."))
    return render(request, "buyer/_logs.html", {"job_id": job_id, "logs": text, "error": error,
                                                "active": not job.state.terminal})


@router.post("/{job_id}/cancel")
def cancel(job_id: uuid.UUID, request: Request, session: DbSession, buyer: BuyerUser, _posted: PostedForm):
    _ = translator(request)
    form = Form()
    try:
        with attempt(session):
            jobs.cancel_job(session, get_clock(request), buyer, job_id)
    except DomainError as exc:
        form.fail(exc, _)
        return _job_page(request, session, buyer, job_id, form, status_code=409)
    return redirect(f"/account/jobs/{job_id}", notice="job_cancelled")
