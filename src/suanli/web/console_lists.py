"""The console lists of machines and jobs that span orders: the buyer's machines (every lease's, not one order's),
and the operator's view of every organization's machines and jobs. Each is searched, filtered by state, sorted and
paged by 50 like every console list (web/listing.py). Reads only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization
from suanli.catalog.models import Datacenter, Product
from suanli.http import DbSession
from suanli.instances import service as instances
from suanli.instances.models import InstanceState
from suanli.jobs import service as jobs
from suanli.jobs.models import JobState
from suanli.web.buyer_jobs import JOB_SORT_LABELS
from suanli.web.forms import translator
from suanli.web.i18n import N_
from suanli.web.instances import INSTANCE_SORT_LABELS
from suanli.web.listing import Listing, ListingQuery
from suanli.web.presenters import labeler
from suanli.web.render import render, web_router
from suanli.web.security import BuyerUser, OperatorUser

router = web_router()


def _names(session: Session, id_column: Any, name_column: Any, ids: Iterable[uuid.UUID | None]) -> dict[Any, str]:
    """``{id: name}`` of the rows with these ids, in one query."""
    wanted = {i for i in ids if i is not None}
    return dict(session.execute(select(id_column, name_column).where(id_column.in_(wanted))).all()) if wanted else {}


def _machines_page(request: Request, session: Session, viewer: Any, listing: Listing, state: str | None,
                   template: str) -> Any:
    """A page of the machines ``viewer`` may see, with their products', data centers' and organizations' names."""
    wanted = InstanceState(state) if state in InstanceState._value2member_map_ else None
    sort = listing.sorted_by(instances.INSTANCE_SORTS, "-created")
    rows, total = instances.list_instances(session, viewer, state=wanted, text=listing.q, sort=sort,
                                           limit=listing.limit, offset=listing.offset)
    _ = translator(request)
    label = labeler(request)
    return render(request, template, {
        "machines": [instances.instance_out(i, viewer) for i in rows], "total": total, "offset": listing.offset,
        "limit": listing.limit, "listing": listing, "sort": sort, "label": label,
        "products": _names(session, Product.id, Product.name, (i.product_id for i in rows)),
        "datacenters": _names(session, Datacenter.id, Datacenter.name, (i.datacenter_id for i in rows)),
        "orgs": _names(session, Organization.id, Organization.name,
                       [i.buyer_org_id for i in rows] + [i.seller_org_id for i in rows]),
        "buyer_orgs": {i.id: i.buyer_org_id for i in rows}, "seller_orgs": {i.id: i.seller_org_id for i in rows},
        "sort_options": [(key, _(text)) for key, text in INSTANCE_SORT_LABELS.items()],
        "filter_value": wanted.value if wanted else "",
        "filter_options": [("", _(N_("All machines")))] + [(s.value, label("instance_state", s.value))
                                                           for s in InstanceState]})


@router.get("/account/instances")
def buyer_machines(request: Request, session: DbSession, buyer: BuyerUser, listing: ListingQuery,
                   state: str | None = None):
    """Every machine the buyer's organization rents or rented, across its orders."""
    return _machines_page(request, session, buyer, listing, state, "buyer/instances.html")


@router.get("/operator/instances")
def operator_machines(request: Request, session: DbSession, operator: OperatorUser, listing: ListingQuery,
                      state: str | None = None):
    """Every organization's machines."""
    return _machines_page(request, session, operator, listing, state, "operator/instances.html")


@router.get("/operator/jobs")
def operator_jobs(request: Request, session: DbSession, operator: OperatorUser, listing: ListingQuery,
                  state: str | None = None):
    """Every organization's jobs: searched by words of the job's or its organization's name, or its id."""
    wanted = JobState(state) if state in JobState._value2member_map_ else None
    sort = listing.sorted_by(jobs.JOB_SORTS, "-submitted")
    rows, total = jobs.list_jobs(session, operator, state=wanted, text=listing.q, sort=sort, limit=listing.limit,
                                 offset=listing.offset)
    _ = translator(request)
    label = labeler(request)
    return render(request, "operator/jobs.html", {
        "jobs": jobs.jobs_out(session, rows, viewer=operator), "total": total, "offset": listing.offset,
        "limit": listing.limit, "listing": listing, "sort": sort, "label": label,
        "orgs": _names(session, Organization.id, Organization.name, (j.buyer_org_id for j in rows)),
        "buyer_orgs": {j.id: j.buyer_org_id for j in rows},
        "sort_options": [(key, _(text)) for key, text in JOB_SORT_LABELS.items()],
        "filter_value": wanted.value if wanted else "",
        "filter_options": [("", _(N_("All jobs")))] + [(s.value, label("job_state", s.value)) for s in JobState]})
