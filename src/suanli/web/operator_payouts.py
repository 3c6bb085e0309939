"""The operator's payouts: money paid out to a seller organization from its receivable, recorded like a top-up
(the same form handling, ``operator.record_money``) and confirmed first with the seller's receivable shown."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select

from suanli.accounts.models import Organization, Role
from suanli.core.ledger import TransferKind, seller_receivable
from suanli.http import DbSession
from suanli.trading import service as trading
from suanli.trading.ledger_store import ledger_store
from suanli.trading.schemas import PayoutIn
from suanli.web.confirm import Confirmation
from suanli.web.forms import Form, translator
from suanli.web.i18n import N_, format_money
from suanli.web.operator import MoneyMovement, record_money
from suanli.web.money_pages import operator_events_context
from suanli.web.render import PageOffset, register_notices, render, web_router
from suanli.web.security import OperatorUser, PostedForm

router = web_router(prefix="/operator")
register_notices(payout_recorded=N_("The payout is recorded and the seller's receivable reduced."))
PAYOUT_CODE_FIELDS = {"payout_reference_reused": "reference", "not_a_seller": "organization_id",
                      "organization_not_found": "organization_id", "insufficient_receivable": "amount"}


def _receivable_fen(session: DbSession, organization_id: object) -> int:
    return ledger_store.balance(session, seller_receivable(str(organization_id)))


def _payouts_page(request: Request, session: DbSession, form: Form, status_code: int = 200, offset: int = 0):
    _ = translator(request)
    made = operator_events_context(request, session, TransferKind.PAYOUT, offset)
    sellers = session.execute(select(Organization.id, Organization.name).where(Organization.kind == Role.SELLER)
                              .order_by(Organization.name, Organization.id)).all()
    owed = [(str(i), name, _receivable_fen(session, i)) for i, name in sellers]
    return render(request, "operator/payouts.html", {
        **made, "kind": "payout", "form": form, "owed": [o for o in owed if o[2] > 0],
        "org_options": [("", _(N_("Choose a seller organization")))]
        + [(i, f"{name} · {format_money(fen)}") for i, name, fen in owed]}, status_code=status_code)


def _confirm_payout(request: Request, session: DbSession, body: PayoutIn, form: Form) -> Confirmation:
    """Before a payout is recorded: to whom, how much, what it owes now and after."""
    _ = translator(request)
    org = session.get(Organization, body.organization_id)
    receivable = _receivable_fen(session, body.organization_id)
    return Confirmation(
        title=_(N_("Record this payout?")),
        lines=[(_(N_("Seller organization")), org.name if org else str(body.organization_id)),
               (_(N_("Amount")), format_money(body.amount_fen)), (_(N_("Bank reference")), body.reference),
               (_(N_("Receivable now")), format_money(receivable)),
               (_(N_("Receivable after")), format_money(receivable - body.amount_fen))],
        explanation=_(N_("Record it once the bank transfer to the seller is made: the seller's receivable is "
                         "reduced at once.")),
        action="/operator/payouts", fields=[(k, str(v)) for k, v in form.values.items() if v],
        button=_(N_("Record payout")), back_url="/operator/payouts")


PAYOUTS = MoneyMovement(PayoutIn, trading.payout, PAYOUT_CODE_FIELDS, _payouts_page, _confirm_payout,
                        "/operator/payouts", ("payout_recorded", "topup_repeated"))


@router.get("/payouts")
def payouts(request: Request, session: DbSession, _operator: OperatorUser, offset: PageOffset = 0):
    return _payouts_page(request, session, Form(values={}), offset=offset)


@router.post("/payouts")
def record_payout(request: Request, session: DbSession, _operator: OperatorUser, posted: PostedForm):
    return record_money(request, session, posted, PAYOUTS)
