"""Requests for quotes (询价) and pre-sale contracts on the command line: buyers post and accept, sellers quote
and deliver. All through the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, cny, cny_arg, console, print_json

rfq_app = typer.Typer(help="Requests for quotes: post a need, list, show with quotes, accept, cancel; sellers: "
                           "open requests, quote, withdraw; contracts and delivery.", no_args_is_help=True)
app.add_typer(rfq_app, name="rfq")


def _when(value: str | None) -> str:
    return "—" if not value else value[:16].replace("T", " ")


def _requests_table(items: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "title", "need", "units", "term", "start window", "max price", "quotes", "lowest",
                   "status"):
        table.add_column(column, justify="right" if column in ("units", "max price", "quotes", "lowest") else "left",
                         no_wrap=column == "id")
    for r in items:
        need = r["chip"] or " ".join(x for x in (r["min_fp16_tflops"] and f"≥{r['min_fp16_tflops']:g} TFLOPS",
                                                 r["min_memory_gib"] and f"≥{r['min_memory_gib']} GiB") if x)
        term = f"{r['term_months']} 月" if r["term_months"] else f"{r['term_hours']} h"
        auction = f" (auction {_when(r['auction_closes_at'])})" if r["auction_closes_at"] else ""
        table.add_row(r["id"], r["title"], f"{need} ×{r['accelerators']}{' · ' + r['province'] if r['province'] else ''}",
                      str(r["units"]), f"{r['billing_mode']} {term}",
                      f"{_when(r['earliest_start'])} – {_when(r['latest_start'])}", cny(r["max_unit_price"]),
                      str(r["quote_count"]), cny(r["lowest_quote"]), r["status"] + auction)
    return table


def _quotes_table(items: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "seller", "data center", "chip", "price", "total", "start", "deliver by", "penalty",
                   "status"):
        table.add_column(column, justify="right" if column in ("price", "total", "penalty") else "left",
                         no_wrap=column == "id")
    for q in items:
        table.add_row(q["id"], q["seller_name"] or "—", f"{q['datacenter_name']} ({q['province']})",
                      f"{q['chip']} ×{q['accelerators']}" + (" 预售" if q["presale"] else ""), cny(q["unit_price"]),
                      cny(q["total"]), _when(q["start_at"]), _when(q["deliver_by"]), cny(q["penalty"]), q["status"])
    return table


def _contracts_table(items: list[dict]) -> Table:
    table = Table(title="pre-sale contracts")
    for column in ("id", "units", "price", "deposit", "penalty", "deliver by", "start", "status", "order"):
        table.add_column(column, justify="right" if column in ("units", "price", "deposit", "penalty") else "left",
                         no_wrap=column == "id")
    for c in items:
        status = c["status"] + (f" ({c['failure_reason']})" if c["failure_reason"] else "")
        table.add_row(c["id"], str(c["units"]), cny(c["unit_price"]), cny(c["deposit"]), cny(c["penalty"]),
                      _when(c["deliver_by"]), _when(c["start_at"]), status, c["order_id"] or "—")
    return table


@rfq_app.command("post")
def post(title: str,
         units: Annotated[int, typer.Option(min=1, max=100_000)],
         earliest_start: Annotated[str, typer.Option(help="ISO time with zone, e.g. 2027-01-10T00:00:00+08:00")],
         latest_start: Annotated[str, typer.Option(help="ISO time with zone")],
         max_price: Annotated[str, typer.Option(help="CNY per unit-month (reserved) or unit-hour (on demand)")],
         chip: Annotated[str | None, typer.Option(help="e.g. A800, 910B")] = None,
         min_fp16_tflops: Annotated[float | None, typer.Option(help="Without --chip: per accelerator")] = None,
         min_memory_gib: Annotated[int | None, typer.Option(help="Without --chip: per accelerator")] = None,
         accelerators: Annotated[int, typer.Option(help="Accelerators per unit, at least")] = 8,
         mode: Annotated[str, typer.Option(help="reserved or on_demand")] = "reserved",
         term_months: Annotated[int | None, typer.Option(help="reserved: 1, 3, 6 or 12")] = None,
         term_hours: Annotated[int | None, typer.Option(help="on_demand: hours")] = None,
         province: Annotated[str | None, typer.Option(help="e.g. 安徽; anywhere when omitted")] = None,
         auction_closes_at: Annotated[str | None, typer.Option(help="Run a reverse auction closing then")] = None,
         api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Buyer: post a request for quotes; its budget (the term at the maximum price) is frozen in your wallet."""
    body = {"title": title, "chip": chip, "min_fp16_tflops": min_fp16_tflops, "min_memory_gib": min_memory_gib,
            "accelerators": accelerators, "units": units, "billing_mode": mode,
            "term_months": term_months if term_months is not None else (1 if mode == "reserved" else None),
            "term_hours": term_hours, "earliest_start": earliest_start, "latest_start": latest_start,
            "province": province, "max_unit_price_fen": cny_arg(max_price, "max price"),
            "auction_closes_at": auction_closes_at}
    data = api(api_url, "POST", "/api/v1/rfqs", json={k: v for k, v in body.items() if v is not None})
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] request {data['id']} posted; {cny(data['budget'])} frozen until an award, a "
                  "cancellation or the expiry")


@rfq_app.command("list")
def list_requests(status: Annotated[str | None, typer.Option(help="open, awarded, cancelled, expired")] = None,
                  api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Buyer: your requests, newest first."""
    data = api(api_url, "GET", "/api/v1/rfqs", status=status)
    if as_json:
        print_json(data)
        return
    console.print(_requests_table(data["items"], f"your requests for quotes ({data['total']})"))


@rfq_app.command("show")
def show(request_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Buyer: one request with every quote, cheapest first."""
    data = api(api_url, "GET", f"/api/v1/rfqs/{request_id}")
    if as_json:
        print_json(data)
        return
    console.print(_requests_table([data], f"request {data['id']}"))
    console.print(_quotes_table(data["quotes"], "quotes"))


@rfq_app.command("accept")
def accept(request_id: str, quote_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Buyer: accept a quote; the deposit stays in escrow until the start."""
    data = api(api_url, "POST", f"/api/v1/rfqs/{request_id}/accept", json={"quote_id": quote_id})
    if as_json:
        print_json(data)
        return
    console.print(_contracts_table([data]))


@rfq_app.command("cancel")
def cancel(request_id: str, api_url: ApiUrl = None) -> None:
    """Buyer: withdraw an open request; its budget is released."""
    data = api(api_url, "POST", f"/api/v1/rfqs/{request_id}/cancel")
    console.print(f"[green]✓[/] request {data['id']} {data['status']}; {cny(data['budget'])} released")


@rfq_app.command("open")
def open_requests(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Seller: open requests (without the buyers' identities), newest first."""
    data = api(api_url, "GET", "/api/v1/seller/rfqs")
    if as_json:
        print_json(data)
        return
    console.print(_requests_table(data["items"], f"open requests for quotes ({data['total']})"))


@rfq_app.command("quote")
def quote(request_id: str,
          datacenter: Annotated[str, typer.Option(help="Your approved data center's id")],
          chip: Annotated[str, typer.Option()],
          price: Annotated[str, typer.Option(help="CNY per unit-month (reserved) or unit-hour (on demand)")],
          start_at: Annotated[str, typer.Option(help="ISO time with zone")],
          deliver_by: Annotated[str, typer.Option(help="ISO time with zone, at the latest the start")],
          accelerators: Annotated[int, typer.Option(help="Accelerators per unit")] = 8,
          presale: Annotated[bool, typer.Option(help="The capacity is not built yet")] = True,
          penalty: Annotated[str, typer.Option(help="CNY paid to the buyer if the delivery is late")] = "0",
          note: str = "", api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Seller: quote on an open request, possibly for capacity you build after the award."""
    body = {"datacenter_id": datacenter, "chip": chip, "accelerators": accelerators, "presale": presale,
            "unit_price_fen": cny_arg(price, "price"), "start_at": start_at, "deliver_by": deliver_by,
            "penalty_fen": 0 if penalty in ("0", "0.00") else cny_arg(penalty, "penalty"), "note": note}
    data = api(api_url, "POST", f"/api/v1/seller/rfqs/{request_id}/quotes", json=body)
    if as_json:
        print_json(data)
        return
    console.print(_quotes_table([data], "your quote"))


@rfq_app.command("withdraw")
def withdraw(quote_id: str, api_url: ApiUrl = None) -> None:
    """Seller: withdraw a standing quote."""
    data = api(api_url, "POST", f"/api/v1/seller/quotes/{quote_id}/withdraw")
    console.print(f"[green]✓[/] quote {data['id']} {data['status']}")


@rfq_app.command("contracts")
def contracts(status: Annotated[str | None, typer.Option(help="awaiting_delivery, delivered, started, failed")]
              = None, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your pre-sale contracts, as buyer or seller."""
    data = api(api_url, "GET", "/api/v1/contracts", status=status)
    if as_json:
        print_json(data)
        return
    console.print(_contracts_table(data["items"]))


@rfq_app.command("deliver")
def deliver(contract_id: str, product: Annotated[str, typer.Option(help="The listed product carrying it")],
            api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Seller: confirm delivery (the product listed, its cluster registered and healthy)."""
    data = api(api_url, "POST", f"/api/v1/seller/contracts/{contract_id}/deliver", json={"product_id": product})
    if as_json:
        print_json(data)
        return
    console.print(_contracts_table([data]))
