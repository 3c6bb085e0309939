"""The operator's view of every order on the platform: searched by words of the product's name, filtered by status,
sorted and paged by 50 like every console list (web/listing.py). Reads only."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select

from suanli.accounts.models import Organization
from suanli.catalog.models import Product
from suanli.http import DbSession
from suanli.trading import service as trading
from suanli.trading.models import OrderStatus
from suanli.web.buyer import order_sort_options
from suanli.web.forms import translator
from suanli.web.i18n import N_
from suanli.web.listing import ListingQuery
from suanli.web.presenters import labeler
from suanli.web.render import render, web_router
from suanli.web.security import OperatorUser

router = web_router(prefix="/operator")


@router.get("/orders")
def orders(request: Request, session: DbSession, operator: OperatorUser, listing: ListingQuery,
           status: str | None = None):
    wanted = OrderStatus(status) if status in OrderStatus._value2member_map_ else None
    sort = listing.sorted_by(trading.ORDER_SORTS, "-created")
    rows, total = trading.list_orders(session, operator, status=wanted, text=listing.q, sort=sort,
                                      limit=listing.limit, offset=listing.offset)
    product_ids = {o.product_id for o in rows}
    org_ids = {o.buyer_org_id for o in rows} | {o.seller_org_id for o in rows}
    products = dict(session.execute(
        select(Product.id, Product.name).where(Product.id.in_(product_ids))).all()) if product_ids else {}
    orgs = dict(session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all()) if org_ids else {}
    label = labeler(request)
    _ = translator(request)
    return render(request, "operator/orders.html", {
        "orders": rows, "total": total, "offset": listing.offset, "limit": listing.limit, "listing": listing,
        "sort": sort, "sort_options": order_sort_options(_), "products": products, "orgs": orgs,
        "status": wanted.value if wanted else "", "label": label,
        "status_options": [("", _(N_("All orders")))] + [(s.value, label("order_status", s.value))
                                                         for s in OrderStatus]})
