"""The buyer console's monthly statements (账单): one per month (Beijing time), viewed on the page or downloaded as
CSV in the page's language. The old ``/account/invoices`` addresses redirect here."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from suanli.http import DbSession
from suanli.trading import invoices
from suanli.trading.statement_csv import statement_csv, statement_disposition
from suanli.web.i18n import request_locale
from suanli.web.presenters import labeler
from suanli.web.render import render, web_router
from suanli.web.security import BuyerUser

router = web_router(prefix="/account")


@router.get("/statements")
def statement_list(request: Request, session: DbSession, buyer: BuyerUser):
    rows = invoices.list_invoices(session, buyer)
    return render(request, "buyer/statements.html", {"statements": rows})


@router.get("/statements/{period}")
def statement_page(period: str, request: Request, session: DbSession, buyer: BuyerUser):
    statement = invoices.get_invoice(session, buyer, f"{buyer.organization_id}:{period}")
    return render(request, "buyer/statement.html", {
        "statement": statement, "totals": statement.totals(), "label": labeler(request),
        "last_day": statement.period_end - dt.timedelta(seconds=1)})  # the period ends at the next month's start


@router.get("/statements/{period}/csv")
def statement_download(period: str, request: Request, session: DbSession, buyer: BuyerUser) -> Response:
    """The same CSV as ``GET /api/v1/invoices/{id}?format=csv&lang=…``, in the page's language."""
    statement = invoices.get_invoice(session, buyer, f"{buyer.organization_id}:{period}")
    language = request_locale(request)
    return Response(statement_csv(statement, language), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": statement_disposition(statement, language)})


@router.get("/invoices")
@router.get("/invoices/{rest:path}")
def old_invoice_address(request: Request, rest: str = "") -> RedirectResponse:
    """``/account/invoices[/…]``, the statements' old address: a permanent redirect, query kept."""
    target = "/account/statements" + (f"/{rest}" if rest else "")
    if request.url.query:
        target += f"?{request.url.query}"
    return RedirectResponse(target, status_code=308)
