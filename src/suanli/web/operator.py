"""The operator console: the platform dashboard (charts of volume, utilization and the price index), approving and
suspending data centers, recording top-ups, the commission rate and the ledger's trial balance. Every page needs an
operator's login (others: 403)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization, Role, User
from suanli.catalog import service as catalog
from suanli.catalog.models import DatacenterStatus
from suanli.catalog.price_guard import flagged_products
from suanli.catalog.price_index import price_index
from suanli.catalog.utilization import datacenter_status_counts, datacenter_utilization
from suanli.core.ledger import AccountKind
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.trading import reports
from suanli.trading import service as trading
from suanli.trading.endpoints import get_clock
from suanli.trading.ledger_store import ledger_store
from suanli.trading.schemas import PayoutIn, SettingsPatch, TopupIn
from suanli.web.forms import (Form, attempt, blank_to_none, cny_to_fen, form_values, translator,
                              validate)
from suanli.web.confirm import Confirmation, confirm_page, confirmed
from suanli.web.i18n import N_, format_money
from suanli.web.operator_charts import (price_index_chart, utilization_chart, utilization_height,
                                        volume_chart)
from suanli.web.presenters import labeler
from suanli.web.render import redirect, register_notices, render, web_router
from suanli.web.security import OperatorUser, PostedForm
from suanli.web.seller import fail
from suanli.web.seller_price_guard import CHECK_LABELS
from suanli.web.seller_products import percent_to_bp

router = web_router(prefix="/operator")
register_notices(datacenter_approved=N_("The data center is approved; its listed products are in the catalog."),
                 datacenter_suspended=N_("The data center is suspended; its products left the catalog."),
                 topup_recorded=N_("The top-up is recorded and the wallet credited."),
                 topup_repeated=N_("This reference was recorded before; nothing changed."),
                 settings_saved=N_("The settings are saved. The new commission applies to orders placed from now "
                                   "on."))
TOPUP_CODE_FIELDS = {"topup_reference_reused": "reference", "not_a_buyer": "organization_id",
                     "organization_not_found": "organization_id"}
TOPUP_FIELDS = ["organization_id", "amount", "reference"]
BUYER_CHOICES = 50  # buyer organizations listed in the top-up form at once; more: search by name or email
GUARD_FIELDS = ["price_guard_low_pct", "price_guard_high_pct", "price_guard_min_reserved_hours"]
SETTINGS_FIELDS = ["commission_percent", "spot_notice_seconds", "delivery_deadline_minutes", *GUARD_FIELDS]
UNUSUAL_PRICES_SHOWN = 50
STATUS_FILTERS = ("pending", "approved", "suspended", "all")
ACCOUNT_LABELS = {"buyer_available": N_("Buyer wallets (available)"), "buyer_held": N_("Buyer money held for orders"),
                  "seller_receivable": N_("Seller receivables"), "platform_commission": N_("Platform commission"),
                  "platform_cash": N_("Platform cash (money in − money out)")}


@router.get("")
def dashboard(request: Request, session: DbSession, _operator: OperatorUser,
              days: Annotated[int, Query(ge=1, le=366)] = 30):
    _ = translator(request)
    now = get_clock(request).now()
    volume = reports.daily_volume(session, reports.last_days(now, days))
    utilization = datacenter_utilization(session, status=DatacenterStatus.APPROVED)
    index = [(chip, summary) for chip, _p, summary in price_index(session)]
    stats = catalog.platform_stats(session)
    orders, gmv_fen = trading.order_figures(session)
    in_use = [u for u in utilization if u.stock_units]
    return render(request, "operator/dashboard.html", {
        "unusual_prices": flagged_products(session, limit=UNUSUAL_PRICES_SHOWN), "check_labels": CHECK_LABELS,
        "stats": stats, "orders": orders, "gmv_fen": gmv_fen, "days": days,
        "period_gross_fen": sum(v.gross_fen for v in volume),
        "period_commission_fen": sum(v.commission_fen for v in volume),
        "units": sum(u.stock_units for u in in_use), "allocated": sum(u.allocated_units for u in in_use),
        "volume_chart": volume_chart(volume, _), "utilization_chart": utilization_chart(utilization, _),
        "utilization_height": utilization_height(utilization), "price_chart": price_index_chart(index, _),
        "index": index})


# ---------------------------------------------------------------- data centers

@router.get("/datacenters")
def datacenters(request: Request, session: DbSession, operator: OperatorUser, status: str = "pending"):
    if status not in STATUS_FILTERS:
        status = "pending"
    wanted = None if status == "all" else DatacenterStatus(status)
    rows = catalog.list_datacenters(session, operator, status=wanted)
    products = {u.datacenter_id: u.products for u in datacenter_utilization(session, status=wanted)}
    return render(request, "operator/datacenters.html", {
        "rows": rows, "status": status, "filters": STATUS_FILTERS, "products": products,
        "counts": {s.value: n for s, n in datacenter_status_counts(session).items()}, "label": labeler(request)})


def _set_status(session: DbSession, datacenter_id: uuid.UUID, status: DatacenterStatus, back: str | None):
    catalog.set_datacenter_status(session, datacenter_id, status)
    target = back if back in STATUS_FILTERS else "pending"
    notice = "datacenter_approved" if status is DatacenterStatus.APPROVED else "datacenter_suspended"
    return redirect(f"/operator/datacenters?status={target}", notice=notice)


@router.post("/datacenters/{datacenter_id}/approve")
def approve(session: DbSession, _operator: OperatorUser, posted: PostedForm, datacenter_id: uuid.UUID):
    back = posted.get("back")
    return _set_status(session, datacenter_id, DatacenterStatus.APPROVED, back if isinstance(back, str) else None)


@router.post("/datacenters/{datacenter_id}/suspend")
def suspend(session: DbSession, _operator: OperatorUser, posted: PostedForm, datacenter_id: uuid.UUID):
    back = posted.get("back")
    return _set_status(session, datacenter_id, DatacenterStatus.SUSPENDED, back if isinstance(back, str) else None)


# ---------------------------------------------------------------- top-ups

def buyer_choices(session: Session, find: str, selected: str | None) -> tuple[list[tuple[str, str]], int]:
    """Buyer organizations for the top-up form: those whose name or a member's email contains ``find`` (all when
    empty), at most ``BUYER_CHOICES`` by name, plus the one already chosen; and how many matched in all."""
    matches = select(Organization.id).where(Organization.kind == Role.BUYER)
    if find:
        members = select(User.organization_id).where(User.email.icontains(find, autoescape=True))
        matches = matches.where(Organization.name.icontains(find, autoescape=True) | Organization.id.in_(members))
    total = session.scalar(select(func.count()).select_from(matches.subquery())) or 0
    rows = session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(matches))
                           .order_by(Organization.name, Organization.id).limit(BUYER_CHOICES)).all()
    choices = [(str(i), n) for i, n in rows]
    if selected and selected not in {c[0] for c in choices}:
        try:
            chosen = session.execute(select(Organization.id, Organization.name).where(
                Organization.id == uuid.UUID(selected), Organization.kind == Role.BUYER)).first()
        except ValueError:
            chosen = None
        if chosen is not None:
            choices.insert(0, (str(chosen[0]), chosen[1]))
    return choices, total


def _topups_page(request: Request, session: DbSession, form: Form, status_code: int = 200, find: str = ""):
    _ = translator(request)
    choices, total = buyer_choices(session, find, form.values.get("organization_id"))
    return render(request, "operator/topups.html", {
        "form": form, "recent": reports.recent_topups(session), "find": find, "matches": total,
        "shown": min(total, BUYER_CHOICES), "org_options": [("", _(N_("Choose a buyer organization")))] + choices},
        status_code=status_code)


@router.get("/topups")
def topups(request: Request, session: DbSession, _operator: OperatorUser, organization_id: str | None = None,
           find: Annotated[str, Query(max_length=100)] = ""):
    return _topups_page(request, session, Form(values={"organization_id": organization_id or ""}),
                        find=find.strip())


@dataclass(frozen=True)
class MoneyMovement:
    """A form that records money moving in or out (a top-up, a payout): its schema, the service that records it,
    which error code belongs next to which field, its page, its confirmation and where it goes after."""

    schema: type[TopupIn] | type[PayoutIn]
    record: Callable[..., Any]  # trading.topup or trading.payout
    code_fields: dict[str, str]
    page: Callable[..., Any]  # (request, session, form, status_code) -> the form's page
    confirmation: Callable[..., Confirmation]  # (request, session, body, form)
    url: str
    notices: tuple[str, str]  # recorded, repeated (the same reference again)


def record_money(request: Request, session: DbSession, posted: Any, movement: MoneyMovement):
    """Validate, then a dry run of the very entry (rolled back) so only one that would be recorded is shown for
    confirmation; the confirmation's post (``confirmed=1``) records it."""
    _ = translator(request)
    form = Form(values=form_values(posted, TOPUP_FIELDS))
    amount = cny_to_fen(form.values.get("amount"), "amount", form, _)
    if amount is None and "amount" not in form.errors:
        form.error("amount", _(N_("This field is required.")))
    data = blank_to_none({"organization_id": form.values.get("organization_id"),
                          "reference": form.values.get("reference")}) | {"amount_fen": amount}
    body = validate(movement.schema, data, form, _, {"amount_fen": "amount"})
    if body is not None and form.ok and not confirmed(posted):
        dry_run = session.begin_nested()
        try:
            movement.record(session, body, get_clock(request).now())
        except DomainError as exc:
            fail(form, exc, _, movement.code_fields)
        finally:
            dry_run.rollback()
        if form.ok:
            return confirm_page(request, movement.confirmation(request, session, body, form))
    if body is not None and form.ok:
        try:
            with attempt(session):
                result = movement.record(session, body, get_clock(request).now())
        except DomainError as exc:
            fail(form, exc, _, movement.code_fields)
    if not form.ok or body is None:
        return movement.page(request, session, form, status_code=400)
    return redirect(movement.url, notice=movement.notices[0] if result.created else movement.notices[1])


def _confirm_topup(request: Request, session: DbSession, body: TopupIn, form: Form) -> Confirmation:
    """Before a top-up is recorded: how much, to whom, under which bank reference."""
    _ = translator(request)
    org = session.get(Organization, body.organization_id)
    return Confirmation(
        title=_(N_("Record this top-up?")),
        lines=[(_(N_("Buyer organization")), org.name if org else str(body.organization_id)),
               (_(N_("Amount")), format_money(body.amount_fen)), (_(N_("Bank reference")), body.reference)],
        explanation=_(N_("The amount is credited to the buyer's wallet at once. Check it against the bank "
                         "statement: a top-up is corrected only by another entry.")),
        action="/operator/topups", fields=[(k, str(v)) for k, v in form.values.items() if v],
        button=_(N_("Record top-up")), back_url=f"/operator/topups?organization_id={body.organization_id}")


TOPUPS = MoneyMovement(TopupIn, trading.topup, TOPUP_CODE_FIELDS, _topups_page, _confirm_topup, "/operator/topups",
                       ("topup_recorded", "topup_repeated"))


@router.post("/topups")
def record_topup(request: Request, session: DbSession, _operator: OperatorUser, posted: PostedForm):
    return record_money(request, session, posted, TOPUPS)


# ---------------------------------------------------------------- settings

def _settings_page(request: Request, session: DbSession, form: Form, status_code: int = 200):
    settings = trading.platform_settings(session)
    return render(request, "operator/settings.html", {"form": form, "settings": settings},
                  status_code=status_code)


@router.get("/settings")
def settings_page(request: Request, session: DbSession, _operator: OperatorUser):
    settings = trading.platform_settings(session)
    percent = format(settings.commission_bp / 100, ".2f").rstrip("0").rstrip(".")
    return _settings_page(request, session, Form(values={
        "commission_percent": percent, "spot_notice_seconds": str(settings.spot_notice_seconds),
        "delivery_deadline_minutes": str(settings.delivery_deadline_minutes),
        **{name: str(getattr(settings, name)) for name in GUARD_FIELDS}}))


@router.post("/settings")
def save_settings(request: Request, session: DbSession, _operator: OperatorUser, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, SETTINGS_FIELDS))
    commission = percent_to_bp(form.values.get("commission_percent"), "commission_percent", form, _, maximum=100)
    if commission is None and "commission_percent" not in form.errors:
        form.error("commission_percent", _(N_("This field is required.")))
    typed = {name: form.values.get(name) for name in ["spot_notice_seconds", "delivery_deadline_minutes",
                                                      *GUARD_FIELDS]}
    body = validate(SettingsPatch, blank_to_none(typed)
                    | {"commission_bp": commission}, form, _, {"commission_bp": "commission_percent"})
    if body is None or not form.ok:
        return _settings_page(request, session, form, status_code=400)
    trading.update_settings(session, body, get_clock(request).now())
    return redirect("/operator/settings", notice="settings_saved")


# ---------------------------------------------------------------- the ledger

@router.get("/ledger")
def ledger(request: Request, session: DbSession, _operator: OperatorUser):
    tb = ledger_store.trial_balance(session)
    names = dict(session.execute(select(Organization.id, Organization.name)).all())
    by_kind: dict[AccountKind, list[int]] = defaultdict(lambda: [0, 0])
    for account in tb.accounts:
        by_kind[account.kind][0] += 1
        by_kind[account.kind][1] += account.balance_fen
    accounts = sorted(tb.accounts, key=lambda a: (list(AccountKind).index(a.kind), -a.balance_fen))
    return render(request, "operator/ledger.html", {
        "tb": tb, "names": names, "kinds": [(k, *by_kind[k]) for k in AccountKind if k in by_kind],
        "mismatched": [a for a in tb.accounts if not a.matches], "accounts": accounts[:200],
        "more_accounts": max(0, len(accounts) - 200), "account_labels": ACCOUNT_LABELS})

