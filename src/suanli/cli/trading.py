"""Trading commands: login, wallet, orders, invoices, notifications, operator top-ups. All through the API."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from suanli.core.china_time import CHINA_TZ
from suanli.cli.client import ApiClient, ApiError, credentials_path, store_credentials, stored_credentials
from suanli.cli.main import (ApiUrl, AsJson, api, app, cny, cny_arg, console, err, explain, fail, print_json,
                             user_app)

order_app = typer.Typer(help="Orders: place (on demand, reserved, spot), list, show, extend, release, cancel.",
                        no_args_is_help=True)
app.add_typer(order_app, name="order")


# ---------------------------------------------------------------- login

@app.command()
def login(email: str,
          password: Annotated[str | None, typer.Option(help="Prompted for when not given.")] = None,
          api_url: ApiUrl = None) -> None:
    """Log in and store the token in $SUANLI_HOME/credentials.json (readable by you only)."""
    if password is None:
        password = typer.prompt("password", hide_input=True)
    try:
        token = ApiClient(api_url, anonymous=True).request(
            "POST", "/api/v1/auth/token", data={"username": email, "password": password})
    except ApiError as exc:
        fail(f"{exc.message} [dim]({exc.code})[/]")
    path = store_credentials({"email": email, "token": token["access_token"], "api_url": api_url})
    console.print(f"[green]✓[/] logged in as {email}; token stored in {path}")


@app.command()
def logout(api_url: ApiUrl = None) -> None:
    """Revoke the stored token on the server, then forget it."""
    path = credentials_path()
    stored = stored_credentials()
    if stored is None:
        console.print("not logged in: no stored token")
        return
    try:
        ApiClient(api_url or stored.get("api_url"), stored["token"]).request("POST", "/api/v1/auth/logout")
    except ApiError as exc:
        if exc.status == 0:  # unreachable: the token stays valid until it expires; say so, keep nothing locally
            err.print(f"[yellow]warning:[/] the server could not revoke the token ({exc.message}); it stays valid "
                      "until it expires.")
        elif exc.status != 401:  # 401: already revoked or expired, nothing to do
            fail(explain(exc))
    path.unlink(missing_ok=True)
    console.print(f"[green]✓[/] logged out {stored.get('email') or ''}; the token is revoked")


@app.command()
def password(email: Annotated[str | None, typer.Option(help="Without a stored login: the account's email (after "
                                                            "an operator reset it).")] = None,
             api_url: ApiUrl = None) -> None:
    """Change your password (prompted for); your other logins and API keys are revoked."""
    stored = None if email else stored_credentials()
    if stored is None and not email:
        fail("Log in first (`suanli login EMAIL`), or pass --email with the one-time password an operator gave you.")
    current = typer.prompt("current password", hide_input=True)
    new = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    client = ApiClient(api_url or (stored or {}).get("api_url"), (stored or {}).get("token"), anonymous=stored is None)
    body = {"current_password": current, "new_password": new} | ({"email": email} if email else {})
    try:
        data = client.request("POST", "/api/v1/auth/password", json=body)
    except ApiError as exc:
        fail(explain(exc))
    if data.get("access_token"):
        store_credentials({"email": email, "token": data["access_token"], "api_url": api_url})
    console.print(f"[green]✓[/] password changed; {data['revoked_tokens']} other logins and API keys revoked")


@user_app.command("reset-password")
def reset_password(email: str, api_url: ApiUrl = None) -> None:
    """Operator: give a user a one-time password; they are logged out and must choose a new one."""
    data = api(api_url, "POST", "/api/v1/operator/password-resets", json={"email": email})
    console.print(f"[green]✓[/] {data['email']}: one-time password [bold]{data['one_time_password']}[/] (shown once; "
                  f"{data['revoked_tokens']} logins and API keys revoked). The user runs `suanli password --email "
                  f"{data['email']}` or opens /password, and chooses a new password.")


@app.command()
def wallet(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your organization's balances: available and held (buyers), receivable (sellers)."""
    data = api(api_url, "GET", "/api/v1/wallet")
    if as_json:
        print_json(data)
        return
    table = Table(title=f"wallet ({data['role']})")
    table.add_column("balance")
    table.add_column("CNY", justify="right")
    for key in ("available", "held", "receivable"):
        if data[key] is not None:
            table.add_row(key, cny(data[key]))
    console.print(table)


@app.command()
def ledger(limit: Annotated[int, typer.Option(min=1, max=500, help="How many rows, newest first")] = 20,
           order: Annotated[str | None, typer.Option(help="Only this order's rows")] = None,
           day: Annotated[str | None, typer.Option(help="With --order: that Beijing day's meter readings, "
                                                    "one by one (YYYY-MM-DD)")] = None,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your ledger as people read it: one row per event, meter readings summed per order and Beijing day, the
    running balance on every row (the newest is your wallet)."""
    data = api(api_url, "GET", "/api/v1/ledger/rows", limit=limit, order_id=order, day=day)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"ledger ({data['total']} rows; times in Beijing time)")
    for column in ("time", "kind", "what", "amount", "balance"):
        table.add_column(column, justify="right" if column in ("amount", "balance") else "left",
                         no_wrap=column != "what")
    for r in data["items"]:
        what = " · ".join(x for x in (r["product_name"], r["order_id"] and f"order {r['order_id'][:8]}",
                                      r["readings"] > 1 and f"{r['readings']} readings", r["reference"]) if x)
        amount = cny(r["change"]) if r["change"]["fen"] else f"held {cny(r['held_change'])}"
        table.add_row(_beijing(r["at"])[:16], r["kind"], what, amount, cny(r["balance"]))
    console.print(table)


@app.command()
def topup(organization_id: str, amount_cny: str,
          reference: Annotated[str, typer.Option("--reference", help="The payment's reference (unique).")],
          api_url: ApiUrl = None) -> None:
    """Operator: record money a buyer organization paid in (CNY, e.g. 5000 or 1234.56)."""
    fen = cny_arg(amount_cny, "amount")
    data = api(api_url, "POST", "/api/v1/operator/topups",
                json={"organization_id": organization_id, "amount_fen": fen, "reference": reference})
    note = "" if data["created"] else " [yellow](this reference was topped up before; nothing changed)[/]"
    console.print(f"[green]✓[/] topped up {cny(data['amount'])} ({reference}); available now "
                  f"{cny(data['available'])}{note}")


# ---------------------------------------------------------------- orders

def _orders_table(items: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "mode", "units", "price", "status", "started", "charged", "held"):
        table.add_column(column, justify="right" if column in ("units", "price", "charged", "held") else "left",
                         no_wrap=column == "id")
    for o in items:
        per = "/月" if o["unit_price_per"] == "month" else "/h"
        status = o["status"] + (f" ({o['end_reason']})" if o["end_reason"] else "")
        table.add_row(o["id"], o["mode"] + (f" {o['term_months']}m" if o["term_months"] else ""), str(o["units"]),
                      cny(o["unit_price"]) + per, status, (o["started_at"] or "—")[:19].replace("T", " "),
                      cny(o["charged"]), cny(o["held"]))
    return table


def _order_detail(o: dict) -> None:
    table = Table(title=f"order {o['id']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    per = "month" if o["unit_price_per"] == "month" else "hour"
    rows = [("product", o["product_id"]), ("mode", o["mode"]), ("units", str(o["units"])),
            ("term", f"{o['term_months']} months" if o["term_months"] else "—"),
            ("unit price", f"{cny(o['unit_price'])} per unit-{per}"), ("status", o["status"]),
            ("end reason", o["end_reason"] or "—"), ("started", o["started_at"] or "—"),
            ("ends", o["ends_at"] or "—"), ("ended", o["ended_at"] or "—"),
            ("preempt at", o["preempt_at"] or "—"), ("held", cny(o["held"])), ("charged", cny(o["charged"])),
            ("refunded", cny(o["refunded"])), ("commission", f"{o['commission_bp'] / 100:g} %")]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


# The order's terms, the same for placing an order and for pricing it first.
ModeOption = Annotated[str, typer.Option(help="on_demand, reserved or spot")]
UnitsOption = Annotated[int, typer.Option(min=1, max=100_000)]
TermOption = Annotated[int | None, typer.Option("--term-months", help="reserved: 1, 3, 6 or 12")]
BidOption = Annotated[str | None, typer.Option(help="spot: your bid in CNY per unit-hour, e.g. 35.50")]


@order_app.command("place")
def order_place(product_id: str,
                mode: ModeOption = "on_demand", units: UnitsOption = 1, term_months: TermOption = None,
                bid: BidOption = None,
                idempotency_key: Annotated[str | None, typer.Option("--key", help="Idempotency-Key: a retry with "
                                                                         "the same key places one order")] = None,
                image: Annotated[str | None, typer.Option(help="Machines (container, vm, bare metal): the image "
                                                               "to start with; `suanli images --product ID` lists "
                                                               "them (default: the product's first)")] = None,
                port: Annotated[list[int] | None, typer.Option("--port", help="Machines: a port inside to expose "
                                                                              "(repeat for several)")] = None,
                ssh_key: Annotated[list[str] | None, typer.Option("--ssh-key", help="Machines: an SSH key id to "
                                                                                   "install (default: all yours)")]
                = None,
                api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Rent units of a product: on demand (one hour held), reserved for a term (paid upfront) or spot (a bid).
    A machine product (container, vm, bare metal) delivers one machine per unit, billed from delivery: log in
    with `suanli ssh ORDER_ID`."""
    if mode not in ("on_demand", "reserved", "spot"):
        fail(f"Unknown mode {mode!r}; use on_demand, reserved or spot.")
    body: dict[str, Any] = {"product_id": product_id, "mode": mode, "units": units}
    if term_months is not None:
        body["term_months"] = term_months
    if bid is not None:
        body["bid_hourly_fen"] = cny_arg(bid, "bid")
    offered = api(api_url, "GET", f"/api/v1/products/{product_id}/images")
    if offered:
        if image is None:
            image = offered[0]["key"]
            # On stderr: with --json, stdout carries the order document alone.
            err.print(f"[dim]image: {image} ({offered[0]['name']}); choose another with --image "
                          f"({', '.join(i['key'] for i in offered)})[/]")
        body["image"] = image
        body["ports"] = list(port or [])
        if ssh_key:
            body["ssh_key_ids"] = list(ssh_key)
    elif image is not None or port or ssh_key:
        fail("this product rents units only (storage or batch): --image, --port and --ssh-key apply to machines.")
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    data = api(api_url, "POST", "/api/v1/orders", json=body, headers=headers)
    if as_json:
        print_json(data)
        return
    if data["status"] == "pending":
        console.print(f"[yellow]order {data['id']} is pending[/]: spot capacity was given notice; it starts when "
                      f"that runs out. {cny(data['held'])} is held meanwhile.")
    elif data["status"] == "provisioning":
        console.print(f"[green]✓[/] order {data['id']}: {data['units']} machine(s) being delivered; "
                      f"{cny(data['held'])} held, billed from delivery. Log in with "
                      f"[bold]suanli ssh {data['id']}[/] (it waits until the machine runs).")
    else:
        console.print(f"[green]✓[/] order {data['id']} {data['status']}: {data['units']} × {data['mode']}, "
                      f"held {cny(data['held'])}, charged {cny(data['charged'])}")
    _order_detail(data)


@order_app.command("quote")
def order_quote(product_id: str,
                mode: ModeOption = "on_demand", units: UnitsOption = 1, term_months: TermOption = None,
                bid: BidOption = None,
                hours: Annotated[int | None, typer.Option(min=1, max=8784, help="on demand, spot: price this many "
                                                                                "hours of use")] = None,
                api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The price of an order before placing it: unit price, the amount frozen at once, the total for a term —
    priced by the same code as `suanli order place`."""
    params: dict[str, Any] = {"mode": mode, "units": units, "term_months": term_months, "hours": hours,
                              "bid_hourly_fen": cny_arg(bid, "bid") if bid is not None else None}
    data = api(api_url, "GET", f"/api/v1/products/{product_id}/quote",
               **{k: v for k, v in params.items() if v is not None})
    if as_json:
        print_json(data)
        return
    per = "unit-month" if data["mode"] == "reserved" else "unit-hour"
    table = Table(title=f"{data['units']} unit(s), {data['mode']}" + (f", {data['term_months']} months"
                                                                       if data["term_months"] else ""))
    table.add_column("")
    table.add_column("CNY", justify="right")
    table.add_row(f"unit price per {per}" + (" (your bid)" if data["mode"] == "spot" else ""), cny(data["unit_price"]))
    if data["per_hour"]:
        table.add_row("per hour", cny(data["per_hour"]))
    table.add_row("frozen at once" + (" (charged)" if data["charged_now"]["fen"] else " (the first hour)"),
                  cny(data["frozen_now"]))
    if data["total"]:
        table.add_row(f"total for {data['hours']} hours" if data["hours"] else "total for the term", cny(data["total"]))
    console.print(table)
    if data["available_units"] < data["units"]:
        console.print(f"[yellow]only {data['available_units']} units are free now[/]")


@order_app.command("list")
def order_list(status: Annotated[str | None, typer.Option(help="pending, active, ended, cancelled, preempted")] = None,
               limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
               api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your orders (buyers), orders for your products (sellers), newest first."""
    data = api(api_url, "GET", "/api/v1/orders", status=status, limit=limit)
    if as_json:
        print_json(data)
        return
    console.print(_orders_table(data["items"], f"orders ({len(data['items'])} of {data['total']})"))


@order_app.command("show")
def order_show(order_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """One order, with its usage records."""
    data = api(api_url, "GET", f"/api/v1/orders/{order_id}")
    usage = api(api_url, "GET", f"/api/v1/orders/{order_id}/usage")
    if as_json:
        print_json({**data, "usage": usage["items"]})
        return
    _order_detail(data)
    table = Table(title="usage")
    for column in ("event", "at", "seconds", "charged so far", "note"):
        table.add_column(column, justify="right" if column in ("seconds", "charged so far") else "left")
    for u in usage["items"]:
        table.add_row(u["event"], u["at"][:19].replace("T", " "), f"{u['seconds_total']:,}",
                      cny(u["charged_total"]), u["note"] or "")
    console.print(table)


@order_app.command("release")
def order_release(order_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Stop an on-demand or spot order now: pay for the seconds used, get the rest of the hold back."""
    data = api(api_url, "POST", f"/api/v1/orders/{order_id}/release")
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] released {data['id']}: charged {cny(data['charged'])} in all")


@order_app.command("extend")
def order_extend(order_id: str,
                 months: Annotated[int, typer.Option("--months", help="1, 3, 6 or 12 more months")],
                 idempotency_key: Annotated[str | None, typer.Option("--key", help="Idempotency-Key: a retry with "
                                                                          "the same key extends once")] = None,
                 api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Extend a reserved order's term at the product's current reserved price (paid upfront)."""
    if months not in (1, 3, 6, 12):
        fail(f"--months {months}: a term is extended by 1, 3, 6 or 12 months.")
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    data = api(api_url, "POST", f"/api/v1/orders/{order_id}/extend", json={"term_months": months},
                headers=headers)
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] extended {data['id']} by {months} month(s): now {data['term_months']} months, "
                  f"ends {(data['ends_at'] or '—')[:19].replace('T', ' ')}; charged {cny(data['charged'])} in all")


@order_app.command("cancel")
def order_cancel(order_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Cancel a pending order, or an on-demand/spot order within 60 s of its start (nothing charged)."""
    data = api(api_url, "POST", f"/api/v1/orders/{order_id}/cancel")
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] cancelled {data['id']}: nothing charged, the hold is back in your wallet")


# ---------------------------------------------------------------- invoices and notifications

def _beijing(iso: str) -> str:
    """An API time (ISO 8601, UTC) as ``2026-11-28 16:00:00`` in Beijing time, like the pages and the CSV."""
    at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")




@app.command()
def invoices(period: Annotated[str | None, typer.Option(help="YYYY-MM (China Standard Time)")] = None,
             csv_file: Annotated[Path | None, typer.Option("--csv", help="Write the period's statement as CSV "
                                                                      "(needs --period)")] = None,
             api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your monthly statements (账单): one per month with activity; with --period, that month's lines (Beijing time)."""
    if csv_file is not None and period is None:
        fail("--csv needs --period YYYY-MM (which month's statement to write).")
    listed = api(api_url, "GET", "/api/v1/invoices", period=period)
    if period is None:
        if as_json:
            print_json(listed)
            return
        table = Table(title="statements (账单)")
        table.add_column("id", no_wrap=True)
        table.add_column("period")
        table.add_column("lines", justify="right")
        table.add_column("totals")
        for i in listed:
            totals = "  ".join(f"{k} {cny(v)}" for k, v in i["totals"].items())
            table.add_row(i["id"], i["period"], str(i["lines"]), totals)
        console.print(table)
        if not listed:
            console.print("[dim]no activity yet[/]")
        return
    if not listed:
        console.print(f"[dim]no activity in {period}[/]")
        return
    invoice_id = listed[0]["id"]
    if csv_file is not None:
        content = api(api_url, "GET", f"/api/v1/invoices/{invoice_id}", format="csv")
        csv_file.write_bytes(content)
        console.print(f"[green]✓[/] statement {invoice_id} written to {csv_file}")
        return
    data = api(api_url, "GET", f"/api/v1/invoices/{invoice_id}")
    if as_json:
        print_json(data)
        return
    seller = data["role"] == "seller"
    table = Table(title=f"statement {data['id']} · {data['organization_name']} · {data['period']} (Beijing time)")
    for column in ("order", "product", "data center", "mode", "units", "term/seconds", "unit price"):
        table.add_column(column, justify="right" if column in ("units", "term/seconds", "unit price") else "left")
    for column in (("gross", "commission", "net") if seller else ("amount",)):
        table.add_column(column, justify="right")
    for line in data["lines"]:
        term = f"{line['term_months']} months" if line["term_months"] else f"{line['seconds']:,} s"
        row = [line["order_id"][:8], line["product_name"], line["datacenter_name"], line["mode"], str(line["units"]),
               term, cny(line["unit_price"]) + ("/月" if line["unit_price_per"] == "month" else "/h")]
        row += ([cny(line["amount"]), cny(line["commission"]), cny(line["net"])] if seller else [cny(line["amount"])])
        table.add_row(*row)
    console.print(table)
    for section in ("topups", "refunds", "payouts"):
        for e in data[section]:
            console.print(f"{section[:-1]:8} {e['reference']:30} {_beijing(e['at'])}  {cny(e['amount'])}")
    console.print("  ".join(f"[bold]{k}[/] {cny(v)}" for k, v in data["totals"].items()))


@app.command()
def notifications(unread: Annotated[bool, typer.Option("--unread", help="Only unread ones.")] = False,
                  api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your organization's notifications: low balance, stopped leases, spot preemption."""
    data = api(api_url, "GET", "/api/v1/notifications", unread=unread or None)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"notifications ({data['total']})")
    for column in ("at", "kind", "message"):
        table.add_column(column)
    for n in data["items"]:
        table.add_row(n["created_at"][:19].replace("T", " "), n["kind"], f"{n['message_zh']}\n{n['message_en']}")
    console.print(table)


@app.command()
def revenue(period: Annotated[str | None, typer.Option(help="YYYY-MM (China Standard Time); default: this month")] = None,
            api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Sellers: gross sales, the platform's commission and your net earnings, by data center and product."""
    data = api(api_url, "GET", "/api/v1/seller/revenue", period=period)
    payouts = api(api_url, "GET", "/api/v1/seller/payouts")
    if as_json:
        print_json({**data, "payouts": payouts})
        return
    console.print(f"[bold]{data['period']}[/]  gross {cny(data['gross'])}  commission {cny(data['commission'])}  "
                  f"net {cny(data['net'])}  refunds {cny(data['refunds'])}")
    for title, key in (("by data center", "by_datacenter"), ("by product", "by_product")):
        table = Table(title=title)
        for column in ("name", "orders", "gross", "commission", "net"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for row in data[key]:
            table.add_row(row["name"], str(row["orders"]), cny(row["gross"]), cny(row["commission"]), cny(row["net"]))
        console.print(table)
    console.print(f"receivable {cny(payouts['receivable'])}; paid out {cny(payouts['paid_out'])} in "
                  f"{len(payouts['items'])} payout(s)")
