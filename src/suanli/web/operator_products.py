"""The operator's view of every product on the platform, listed or not: searched as the seller's list is (words of
the name, chips, places, ``8卡``, the query language), filtered by data center, listing, kind and flagged prices,
sorted and paged by 50 like every console list (web/listing.py). Reads only: sellers change their products."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select

from suanli.accounts.models import Organization
from suanli.catalog.models import Datacenter, ProductKind, ProductStatus
from suanli.catalog.own_products import OPERATOR_SORTS, product_list
from suanli.http import DbSession
from suanli.web.forms import translator
from suanli.web.i18n import N_
from suanli.web.listing import ListingQuery
from suanli.web.presenters import labeler, options
from suanli.web.render import render, web_router
from suanli.web.security import OperatorUser
from suanli.web.seller_price_guard import CHECK_LABELS
from suanli.web.seller_products import SORT_LABELS

router = web_router(prefix="/operator")
OPERATOR_SORT_LABELS = {**SORT_LABELS, "-flagged": N_("Prices flagged most recently")}
FLAGGED = "yes"


@router.get("/products")
def products(request: Request, session: DbSession, operator: OperatorUser, listing: ListingQuery,
             datacenter: str | None = None, status: str | None = None, kind: str | None = None,
             flagged: str | None = None):
    """Every product; a filter value the list does not have is ignored (shown as "any")."""
    _ = translator(request)
    datacenters = list(session.execute(select(Datacenter.id, Datacenter.name).order_by(Datacenter.name)).all())
    by_id = {str(i): i for i, _name in datacenters}
    wanted = {"datacenter": datacenter if datacenter in by_id else "",
              "status": status if status in set(ProductStatus) else "",
              "kind": kind if kind in set(ProductKind) else "", "flagged": FLAGGED if flagged == FLAGGED else ""}
    sort = listing.sorted_by(OPERATOR_SORTS, "-flagged" if wanted["flagged"] else "datacenter")
    rows, total = product_list(session, owner_org_id=None, text=listing.q,
                               datacenter_id=by_id.get(wanted["datacenter"]),
                               status=ProductStatus(wanted["status"]) if wanted["status"] else None,
                               kind=ProductKind(wanted["kind"]) if wanted["kind"] else None,
                               flagged=bool(wanted["flagged"]), sort=sort, limit=listing.limit, offset=listing.offset)
    owner_ids = {d.owner_org_id for _p, d in rows}
    sellers = dict(session.execute(select(Organization.id, Organization.name)
                                   .where(Organization.id.in_(owner_ids))).all()) if owner_ids else {}
    return render(request, "operator/products.html", {
        "rows": rows, "sellers": sellers, "total": total, "offset": listing.offset, "limit": listing.limit,
        "listing": listing, "sort": sort, "filters": wanted, "check_labels": CHECK_LABELS, "label": labeler(request),
        "sort_options": [(key, _(text)) for key, text in OPERATOR_SORT_LABELS.items()],
        "datacenter_options": [("", _(N_("All data centers")))] + [(str(i), name) for i, name in datacenters],
        "status_options": [("", _(N_("Listed or not"))), ("listed", _(N_("Listed"))),
                           ("unlisted", _(N_("Unlisted")))],
        "kind_options": options(request, "kind", blank=_(N_("Any kind"))),
        "flagged_options": [("", _(N_("Any price"))), (FLAGGED, _(N_("Flagged prices only")))]})
