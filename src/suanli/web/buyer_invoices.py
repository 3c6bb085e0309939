"""The buyer console's invoices: one per month (China Standard Time), viewed on the page or downloaded as CSV."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from fastapi.responses import Response

from suanli.http import DbSession
from suanli.trading import invoices
from suanli.web.presenters import labeler
from suanli.web.render import render, web_router
from suanli.web.security import BuyerUser

router = web_router(prefix="/account/invoices")


@router.get("")
def invoice_list(request: Request, session: DbSession, buyer: BuyerUser):
    rows = invoices.list_invoices(session, buyer)
    return render(request, "buyer/invoices.html", {"invoices": rows})


@router.get("/{period}")
def invoice_page(period: str, request: Request, session: DbSession, buyer: BuyerUser):
    invoice = invoices.get_invoice(session, buyer, f"{buyer.organization_id}:{period}")
    return render(request, "buyer/invoice.html", {
        "invoice": invoice, "totals": invoice.totals(), "label": labeler(request),
        "last_day": invoice.period_end - dt.timedelta(seconds=1)})  # the period ends at the next month's start


@router.get("/{period}/csv")
def invoice_csv(period: str, session: DbSession, buyer: BuyerUser) -> Response:
    """The same CSV as ``GET /api/v1/invoices/{id}?format=csv`` (UTF-8 with BOM, amounts in CNY)."""
    invoice = invoices.get_invoice(session, buyer, f"{buyer.organization_id}:{period}")
    return Response(invoices.invoice_csv(invoice), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="invoice-{invoice.period}.csv"'})
