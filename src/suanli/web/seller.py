"""The seller console: overview with utilization charts, data centers and their clusters, incoming orders and
revenue net of commission. Products are in ``seller_products``. Every page needs a seller's login (others: 403)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from sqlalchemy import select

from suanli.catalog import service as catalog
from suanli.catalog.models import DatacenterStatus, Product
from suanli.catalog.schemas import DatacenterIn
from suanli.catalog.utilization import datacenter_utilization
from suanli.errors import DomainError, InvalidInput
from suanli.http import DbSession
from suanli.jobs import clusters
from suanli.jobs import service as jobs
from suanli.jobs.models import ClusterKind, ClusterState
from suanli.jobs.schemas import ClusterIn
from suanli.trading import invoices, reports
from suanli.trading import service as trading
from suanli.trading.endpoints import get_clock
from suanli.trading.models import OrderStatus
from suanli.web.error_messages import domain_message
from suanli.web.forms import Form, attempt, blank_to_none, form_values, translator, validate
from suanli.web.i18n import N_
from suanli.web.operator_charts import (utilization_chart, utilization_height, utilization_history_chart,
                                        volume_chart)
from suanli.web.presenters import labeler
from suanli.web.buyer import order_sort_options
from suanli.web.listing import ListingQuery
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import PostedForm, SellerUser

router = web_router(prefix="/seller")
register_notices(cluster_registered=N_("The cluster is registered. The scheduler checks its health before placing jobs "
                                       "on it once an operator has approved the data center."),
                 cluster_disabled=N_("The cluster is disabled: no new jobs or machines start on it; what runs there "
                                     "goes on."),
                 cluster_enabled=N_("The cluster is active again: it takes new jobs and machines."),
                 products_mapped=N_("The products are on the cluster: their jobs and machines run there."),
                 cluster_deleted=N_("The cluster is deleted. Its products have no cluster now."),
                 cluster_draining=N_("The cluster is draining: it takes no new work and is deleted once the jobs and "
                                     "machines on it have ended."),
                 datacenter_registered=N_("Your data center is registered. Its products appear in the catalog "
                                          "once an operator approves it."))
# Service error codes → the form field they are about.
CODE_FIELDS = {"datacenter_exists": "name", "region_not_found": "region_id"}
CLUSTER_FIELDS = ["name", "kind", "endpoint", "user", "token", "product_ids"]
DATACENTER_FIELDS = ["name", "region_id", "tier", "pue", "green_power_pct"]


def fail(form: Form, exc: DomainError, _: Any, code_fields: dict[str, str] | None = None) -> None:
    """A service's refusal: next to the field its code is about (``code_fields``, default ``CODE_FIELDS``), else at
    the top of the form."""
    name = (CODE_FIELDS if code_fields is None else code_fields).get(exc.code)
    message = domain_message(exc, _)
    if name is not None and message is not None and name in form.values:
        form.error(name, message)
    else:
        form.fail(exc, _)


def seller_datacenters(session: DbSession, user: Any) -> list[Any]:
    return catalog.list_datacenters(session, user, mine=True)


@router.get("")
def overview(request: Request, session: DbSession, user: SellerUser,
             days: Annotated[int, Query(ge=1, le=90)] = 14):
    _ = translator(request)
    now = get_clock(request).now()
    period = invoices.period_of(now)
    revenue = invoices.get_invoice(session, user, f"{user.organization_id}:{period}").totals()
    utilization = datacenter_utilization(session, owner_org_id=user.organization_id)
    day_list = reports.last_days(now, days)
    history = reports.utilization_history(session, day_list, now, owner_org_id=user.organization_id)
    _rows, active = trading.list_orders(session, user, status=OrderStatus.ACTIVE, limit=1)
    return render(request, "seller/overview.html", {
        "period": period, "revenue": revenue, "receivable_fen": trading.wallet(session, user).receivable_fen or 0,
        "utilization": utilization, "active_orders": active, "days": days,
        "pending": sum(1 for u in utilization if u.status is DatacenterStatus.PENDING),
        "utilization_chart": utilization_chart(utilization, _),
        "utilization_height": utilization_height(utilization),
        "history_chart": utilization_history_chart(history, day_list, _), "label": labeler(request)})


# ---------------------------------------------------------------- data centers and clusters

def _region_options(session: DbSession, _: Any) -> list[tuple[str, str]]:
    regions = catalog.list_regions(session)
    return [("", _(N_("Choose a region")))] + [(str(r.id), f"{r.province} · {r.city} ({r.hub})") for r in regions]


def _datacenters_page(request: Request, session: DbSession, user: Any, form: Form, status_code: int = 200):
    _ = translator(request)
    rows = datacenter_utilization(session, owner_org_id=user.organization_id)
    datacenters = {d.id: d for d in seller_datacenters(session, user)}
    return render(request, "seller/datacenters.html", {
        "rows": rows, "datacenters": datacenters, "form": form, "region_options": _region_options(session, _),
        "tier_options": [(str(t), str(t)) for t in (1, 2, 3, 4)], "label": labeler(request)},
        status_code=status_code)


@router.get("/datacenters")
def datacenters(request: Request, session: DbSession, user: SellerUser):
    return _datacenters_page(request, session, user, Form(values={"tier": "3", "pue": "1.30",
                                                                  "green_power_pct": "30"}))


@router.post("/datacenters")
def register_datacenter(request: Request, session: DbSession, user: SellerUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, DATACENTER_FIELDS))
    body = validate(DatacenterIn, blank_to_none(form.values), form, _)
    if body is not None:
        try:
            with attempt(session):
                datacenter = catalog.create_datacenter(session, user, body)
        except DomainError as exc:
            fail(form, exc, _)
    if not form.ok:
        return _datacenters_page(request, session, user, form, status_code=400)
    return redirect(f"/seller/datacenters/{datacenter.id}", notice="datacenter_registered")


def _datacenter_page(request: Request, session: DbSession, user: Any, datacenter_id: uuid.UUID, form: Form,
                     status_code: int = 200):
    datacenter = catalog.managed_datacenter(session, datacenter_id, user)  # another seller's: 403/404
    clusters = [jobs.cluster_out(session, c) for c in jobs.list_clusters(session, user, datacenter_id)]
    products = catalog.datacenter_products(session, user, datacenter_id)
    names = {p.id: p.name for p in products}
    (usage,) = [u for u in datacenter_utilization(session, owner_org_id=user.organization_id)
                if u.datacenter_id == datacenter.id]
    chosen = form.values.get("product_ids", [])
    return render(request, "seller/datacenter.html", {
        "dc": datacenter, "clusters": clusters, "products": products, "product_names": names, "usage": usage,
        "form": form, "chosen": set(chosen if isinstance(chosen, list) else [chosen]),
        # local clusters run on the platform's machine: an operator registers them (through the API), never a seller
        "cluster_kinds": [(k.value, k.value.upper()) for k in ClusterKind if k is not ClusterKind.LOCAL],
        "label": labeler(request)},
        status_code=status_code)


@router.get("/datacenters/{datacenter_id}")
def datacenter_page(request: Request, session: DbSession, user: SellerUser, datacenter_id: uuid.UUID):
    return _datacenter_page(request, session, user, datacenter_id, Form(values={"kind": "slurm"}))


@router.post("/datacenters/{datacenter_id}/clusters")
def register_cluster(request: Request, session: DbSession, user: SellerUser, datacenter_id: uuid.UUID,
                     posted: PostedForm):
    """A cluster behind this data center's products; its credentials are stored for the scheduler, never shown."""
    _ = translator(request)
    form = Form(values=form_values(posted, CLUSTER_FIELDS))
    ids = form.values.get("product_ids", [])
    credentials = {k: str(form.values.get(k) or "").strip() for k in ("user", "token")}
    body = validate(ClusterIn, blank_to_none({k: form.values.get(k) for k in ("name", "kind", "endpoint")}) | {
        "credentials": {k: v for k, v in credentials.items() if v} or None,
        "product_ids": ids if isinstance(ids, list) else [ids]}, form, _)
    if body is not None:
        try:
            with attempt(session):
                jobs.register_cluster(session, user, datacenter_id, body, get_clock(request).now())
        except DomainError as exc:
            fail(form, exc, _, {"cluster_exists": "name"})
    if not form.ok or body is None:
        form.values.pop("token", None)  # a secret is never sent back, not even to its owner
        return _datacenter_page(request, session, user, datacenter_id, form, status_code=400)
    return redirect(f"/seller/datacenters/{datacenter_id}", notice="cluster_registered")


@router.post("/datacenters/{datacenter_id}/clusters/{cluster_id}/products")
def map_cluster_products(request: Request, session: DbSession, user: SellerUser, datacenter_id: uuid.UUID,
                         cluster_id: uuid.UUID, posted: PostedForm):
    """Put the ticked products' capacity on this cluster (a product is on one cluster at a time): what a delivered
    pre-sale contract and the scheduler need."""
    _ = translator(request)
    form = Form()
    ids = form_values(posted, ("product_ids",)).get("product_ids") or []
    try:
        chosen = [uuid.UUID(i) for i in (ids if isinstance(ids, list) else [ids])]
    except ValueError:
        chosen = []
    if not chosen:
        form.top.append(_(N_("Tick at least one product.")))
        return _datacenter_page(request, session, user, datacenter_id, form, status_code=400)
    try:
        with attempt(session):
            jobs.map_products(session, jobs.cluster_of(session, user, datacenter_id, cluster_id), chosen)
    except DomainError as exc:
        if exc.status in (403, 404) and exc.code != "cluster_not_found":
            raise
        form.fail(exc, _)
        return _datacenter_page(request, session, user, datacenter_id, form,
                                status_code=400 if exc.status == 422 else exc.status)
    return redirect(f"/seller/datacenters/{datacenter_id}", notice="products_mapped")


@router.post("/datacenters/{datacenter_id}/clusters/{cluster_id}/{action}")
def change_cluster(request: Request, session: DbSession, user: SellerUser, datacenter_id: uuid.UUID,
                   cluster_id: uuid.UUID, action: Literal["disable", "enable", "delete"], _posted: PostedForm):
    """Disable, enable or delete a cluster of this data center (``jobs.clusters``); delete asks first on the page."""
    _ = translator(request)
    form = Form()
    try:
        with attempt(session):
            if action == "disable":
                clusters.disable_cluster(session, user, datacenter_id, cluster_id)
            elif action == "enable":
                clusters.enable_cluster(session, user, datacenter_id, cluster_id)
            else:
                cluster = clusters.delete_cluster(session, user, datacenter_id, cluster_id, get_clock(request).now())
    except DomainError as exc:
        if exc.status in (403, 404) and exc.code != "cluster_not_found":
            raise
        form.fail(exc, _)
        return _datacenter_page(request, session, user, datacenter_id, form, status_code=exc.status)
    notice = {"disable": "cluster_disabled", "enable": "cluster_enabled"}.get(action) or (
        "cluster_draining" if cluster.state is ClusterState.DRAINING else "cluster_deleted")
    return redirect(f"/seller/datacenters/{datacenter_id}", notice=notice)


# ---------------------------------------------------------------- incoming orders

@router.get("/orders")
def orders(request: Request, session: DbSession, user: SellerUser, listing: ListingQuery,
           status: OrderStatus | None = None):
    sort = listing.sorted_by(trading.ORDER_SORTS, "-created")
    rows, total = trading.list_orders(session, user, status=status, text=listing.q, sort=sort, limit=listing.limit,
                                      offset=listing.offset)
    ids = {o.product_id for o in rows}
    names = dict(session.execute(select(Product.id, Product.name).where(Product.id.in_(ids))).all()) if ids else {}
    label = labeler(request)
    _ = translator(request)
    status_options = [("", _(N_("All orders")))] + [(s.value, label("order_status", s.value)) for s in OrderStatus]
    return render(request, "seller/orders.html", {
        "orders": rows, "total": total, "offset": listing.offset, "limit": listing.limit, "names": names,
        "listing": listing, "sort": sort, "sort_options": order_sort_options(_),
        "status": status.value if status else "", "status_options": status_options, "label": label})


# ---------------------------------------------------------------- revenue

@router.get("/revenue")
def revenue(request: Request, session: DbSession, user: SellerUser, period: str | None = None,
            days: Annotated[int, Query(ge=1, le=90)] = 30):
    _ = translator(request)
    now = get_clock(request).now()
    period = period or invoices.period_of(now)
    form = Form(values={"period": period})
    invoice = None
    try:
        invoices.parse_period(period)
    except InvalidInput:
        form.error("period", _(N_("Enter a month as YYYY-MM, such as 2026-11.")))
    else:
        invoice = invoices.get_invoice(session, user, f"{user.organization_id}:{period}")
    volume = reports.daily_volume(session, reports.last_days(now, days), seller_org_id=user.organization_id)
    payouts = invoices.seller_payouts(session, user.organization_id)[:10]
    return render(request, "seller/revenue.html", {
        "form": form, "invoice": invoice, "totals": invoice.totals() if invoice else None,
        "by_datacenter": invoices.revenue_by(invoice.lines, "datacenter") if invoice else [],
        "by_product": invoices.revenue_by(invoice.lines, "product") if invoice else [],
        "receivable_fen": trading.wallet(session, user).receivable_fen or 0, "payouts": payouts,
        "volume_chart": volume_chart(volume, _, seller=True), "days": days,
        "commission_bp": trading.platform_settings(session).commission_bp},
        status_code=200 if form.ok else 400)
