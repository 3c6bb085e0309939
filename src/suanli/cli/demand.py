"""`suanli demand` (unmet demand, the procurement planner), `suanli price-history`, `suanli price-snapshot` and
`suanli guidance` (operators' guidance prices), all through the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, cny, cny_arg, console, print_json

demand_app = typer.Typer(help="Sellers: unmet demand, and what proposed capacity would have earned.",
                         no_args_is_help=True)
guidance_app = typer.Typer(help="Guidance prices (指导价) per chip; operators publish them.", no_args_is_help=True)
app.add_typer(demand_app, name="demand")
app.add_typer(guidance_app, name="guidance")

SOURCE_LABELS = {"jobs": "jobs waiting", "searches": "empty searches", "requests": "open requests"}


def _counts(signals: dict[str, int]) -> str:
    return ", ".join(f"{n} {SOURCE_LABELS.get(s, s)}" for s, n in signals.items()) or "—"


def _reasons(reasons: dict[str, int]) -> str:
    return ", ".join(f"{r} ×{n}" for r, n in list(reasons.items())[:3]) or "—"


@demand_app.command("show")
def show(days: Annotated[int, typer.Option(min=1, max=90)] = 30,
         chip: Annotated[str | None, typer.Option(help="One chip (e.g. 910B), or * for demand naming none")] = None,
         province: Annotated[str | None, typer.Option(help="One province, or *")] = None,
         api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Unmet demand by chip and province: jobs the scheduler cannot place, searches that found nothing."""
    data = api(api_url, "GET", "/api/v1/seller/demand", days=days, chip=chip, province=province)
    if as_json:
        print_json(data)
        return
    for title, rows in ((f"unmet demand by chip, last {days} days", data["by_chip"]),
                        ("by province", data["by_province"])):
        table = Table(title=title)
        for column in ("", "signals", "accelerators", "of which", "main reasons"):
            table.add_column(column, justify="right" if column in ("signals", "accelerators") else "left")
        for t in rows:
            table.add_row("any" if t["key"] == "*" else escape(t["key"]), f"{t['total']:,}", f"{t['accelerators']:,}",
                          _counts(t["signals"]), _reasons(t["reasons"]))
        if not rows:
            table.add_row("—", "0", "0", "no unmet demand recorded", "")
        console.print(table)
    if data["top_searches"]:
        table = Table(title="searches that found nothing")
        table.add_column("filters")
        table.add_column("times", justify="right")
        for s in data["top_searches"]:
            table.add_row(escape(s["filters"] or "(no filter)"), f"{s['count']:,}")
        console.print(table)


@demand_app.command("plan")
def plan(chip: Annotated[str, typer.Option(help="e.g. 910B, A800")],
         province: Annotated[str, typer.Option(help="e.g. 安徽")],
         servers: Annotated[int, typer.Option(min=1, max=256)],
         price: Annotated[str, typer.Option(help="On-demand CNY per accelerator-hour, e.g. 9.50")],
         accelerators_per_server: Annotated[int, typer.Option(min=1, max=16)] = 8,
         vcpus_per_server: Annotated[int, typer.Option(min=1, max=1024)] = 128,
         memory_gib_per_server: Annotated[int, typer.Option(min=1, max=16384)] = 1024,
         days: Annotated[int, typer.Option(min=1, max=90, help="Recent days of demand to replay")] = 14,
         api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Replay recent demand (suanli replay's engine) against today's market with and without the capacity you
    consider buying: the jobs it would have taken and the revenue at your price. Nothing is stored."""
    body = {"chip": chip, "province": province, "servers": servers, "accelerators_per_server": accelerators_per_server,
            "price_per_accel_hour_fen": cny_arg(price, "--price"), "vcpus_per_server": vcpus_per_server,
            "memory_gib_per_server": memory_gib_per_server, "days": days}
    data = api(api_url, "POST", "/api/v1/seller/demand/plan", json=body)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"{servers} × {accelerators_per_server} {data['chip']} in {data['province']} at ¥{price}/"
                        f"accelerator-hour, last {days} days of demand")
    table.add_column("figure")
    table.add_column("value", justify="right")
    util = data["utilisation_pct"]
    for name, value in (("jobs replayed", f"{data['jobs']:,}"), ("placed without it", f"{data['placed_without']:,}"),
                        ("placed with it", f"{data['placed_with']:,}"),
                        ("jobs on your capacity", f"{data['jobs_on_proposed']:,}"),
                        ("accelerator-hours on it", str(data["accelerator_hours_on_proposed"])),
                        ("revenue", cny(data["revenue"])), ("utilisation", "—" if util is None else f"{util} %"),
                        ("no offer could take", _reasons(data["dropped_without"]))):
        table.add_row(name, value)
    console.print(table)


@app.command("price-history")
def price_history(days: Annotated[int, typer.Option(min=1, max=366)] = 30,
                  chip: Annotated[str | None, typer.Option(help="One chip, e.g. A800")] = None,
                  api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The price index's median per chip over the last days (daily snapshots)."""
    data = api(api_url, "GET", "/api/v1/price-index/history", days=days, chip=chip)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"price index history: median {data['unit']}")
    for column in ("chip", "first day", "median then", "last day", "median now", "change", "offers now"):
        table.add_column(column, justify="left" if column in ("chip", "first day", "last day") else "right")
    for c in data["chips"]:
        first, last = c["points"][0], c["points"][-1]
        change = (int(last["median"]["fen"]) - int(first["median"]["fen"])) * 100 / int(first["median"]["fen"])
        table.add_row(c["chip_name"], first["day"], cny(first["median"]), last["day"], cny(last["median"]),
                      f"{change:+.1f} %", str(last["count"]))
    if not data["chips"]:
        table.add_row("—", "no snapshot yet: an operator runs suanli price-snapshot", "", "", "", "", "")
    console.print(table)


@app.command("price-snapshot")
def price_snapshot(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Operator: store today's price index (run once a day, e.g. from cron; again the same day replaces it)."""
    data = api(api_url, "POST", "/api/v1/operator/price-index/snapshots")
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] price index of {data['day']} stored: {data['chips']} chips")


@guidance_app.command("list")
def guidance_list(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The published guidance prices per accelerator-hour and their bands."""
    data = api(api_url, "GET", "/api/v1/guidance-prices")
    if as_json:
        print_json(data)
        return
    table = Table(title="guidance prices (指导价), on-demand CNY per accelerator-hour")
    for column in ("chip", "guidance", "band", "from", "to", "note", "published (UTC)"):
        table.add_column(column, justify="right" if column in ("guidance", "band", "from", "to") else "left")
    for g in data:
        table.add_row(g["chip_name"], cny(g["price_per_accelerator_hour"]), f"±{g['band_pct']} %", cny(g["low"]),
                      cny(g["high"]), escape(g["note"]), g["published_at"][:16].replace("T", " "))
    console.print(table)


@guidance_app.command("set")
def guidance_set(chip: Annotated[str, typer.Argument(help="Chip key or name, e.g. ascend-910b")],
                 price: Annotated[str, typer.Argument(help="CNY per accelerator-hour, e.g. 9.80")],
                 band: Annotated[int, typer.Option(min=1, max=95, help="± % around it counted as near")] = 30,
                 note: Annotated[str, typer.Option(max=500)] = "",
                 api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Operator: publish (or replace) a chip's guidance price; audited."""
    data = api(api_url, "PUT", f"/api/v1/operator/guidance-prices/{chip}",
               json={"price_fen": cny_arg(price, "price"), "band_pct": band, "note": note})
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] guidance price of {data['chip_name']}: {cny(data['price_per_accelerator_hour'])} "
                  f"per accelerator-hour, listings outside {cny(data['low'])}–{cny(data['high'])} are flagged")


@guidance_app.command("withdraw")
def guidance_withdraw(chip: Annotated[str, typer.Argument()], api_url: ApiUrl = None) -> None:
    """Operator: withdraw a chip's guidance price; audited."""
    api(api_url, "DELETE", f"/api/v1/operator/guidance-prices/{chip}")
    console.print(f"[green]✓[/] guidance price of {chip} withdrawn")
