"""Emergency compute (应急算力) on the command line: operators declare, follow and end emergencies; buyers holding
reserved leases list and answer the offers made to them. All through the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, cny, cny_arg, console, print_json
from suanli.cli.rfq import _when

emergency_app = typer.Typer(help="Emergency compute: declare (operators), show progress, end; offers to reserved "
                                 "holders: list, accept, decline.", no_args_is_help=True)
app.add_typer(emergency_app, name="emergency")


def _summary_table(items: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "title", "status", "asked", "planned", "assembled", "free", "spot", "reserved",
                   "compensation paid", "ends"):
        table.add_column(column, justify="left" if column in ("id", "title", "status", "ends") else "right",
                         no_wrap=column == "id")
    for e in items:
        stages = e["by_stage"]
        table.add_row(e["id"], e["title"], e["status"], str(e["accelerators"]), str(e["planned"]),
                      str(e["assembled"]), str(stages["free"]), str(stages["spot"]), str(stages["reserved"]),
                      cny(e["compensation_paid"]), _when(e["ends_at"]))
    return table


def _parts_table(e: dict) -> Table:
    table = Table(title="parts (free → spot → reserved)")
    for column in ("stage", "state", "accelerators", "units", "order", "compensation", "assembled at"):
        table.add_column(column, justify="right" if column in ("accelerators", "units", "compensation") else "left")
    for p in e["parts"]:
        table.add_row(p["stage"], p["state"], str(p["accelerators"]), str(p["units"]), p["order_id"],
                      cny(p["compensation"]), _when(p["assembled_at"]))
    return table


def _progress_table(e: dict) -> Table:
    table = Table(title="progress: accelerators assembled over time")
    for column in ("at", "stage", "added", "assembled"):
        table.add_column(column, justify="right" if column in ("added", "assembled") else "left")
    for point in e["progress"]:
        table.add_row(point["at"][:19].replace("T", " "), point["stage"], f"+{point['accelerators']}",
                      f"{point['assembled']}/{e['accelerators']}")
    return table


def _offers_table(items: list[dict]) -> Table:
    table = Table(title="emergency offers to your reserved leases")
    for column in ("id", "emergency", "order", "accelerators", "hours", "compensation", "status", "until"):
        table.add_column(column, justify="right" if column in ("accelerators", "hours", "compensation") else "left",
                         no_wrap=column == "id")
    for o in items:
        table.add_row(o["id"], o["title"], o["order_id"], str(o["accelerators"]), str(o["duration_hours"]),
                      cny(o["compensation"]), o["status"], _when(o["ends_at"]))
    return table


@emergency_app.command("declare")
def declare(title: str,
            accelerators: Annotated[int, typer.Option(min=1, max=100_000, help="Accelerators in all")],
            hours: Annotated[int, typer.Option(min=1, help="Duration in hours")],
            rate: Annotated[str, typer.Option(help="Compensation to reserved holders, CNY per accelerator-hour")],
            payer: Annotated[str, typer.Option(help="The paying buyer organization's id")],
            chip: Annotated[list[str] | None, typer.Option(help="A chip (repeatable), e.g. A800, 910B")] = None,
            ecosystem: Annotated[list[str] | None, typer.Option(help="An ecosystem (repeatable): cuda, cann, ...")
                                 ] = None,
            province: Annotated[list[str] | None, typer.Option(help="A province (repeatable); anywhere if none")
                                ] = None,
            api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Operator: declare an emergency; free capacity is taken at once, spot leases are noticed, reserved holders
    are asked."""
    body = {"title": title, "accelerators": accelerators, "chips": chip or [], "ecosystems": ecosystem or [],
            "provinces": province or [], "duration_hours": hours,
            "compensation_fen_per_accel_hour": cny_arg(rate, "rate"), "payer_org_id": payer}
    data = api(api_url, "POST", "/api/v1/operator/emergencies", json=body)
    if as_json:
        print_json(data)
        return
    console.print(_summary_table([data], f"emergency {data['id']} declared"))
    console.print(_parts_table(data))


@emergency_app.command("list")
def list_emergencies(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Operator: emergencies, newest first."""
    data = api(api_url, "GET", "/api/v1/operator/emergencies")
    if as_json:
        print_json(data)
        return
    console.print(_summary_table(data["items"], f"emergencies ({data['total']})"))


@emergency_app.command("show")
def show(emergency_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Operator: one emergency, its parts and its progress over time."""
    data = api(api_url, "GET", f"/api/v1/operator/emergencies/{emergency_id}")
    if as_json:
        print_json(data)
        return
    console.print(_summary_table([data], f"emergency {data['id']}"))
    console.print(_parts_table(data))
    console.print(_progress_table(data))


@emergency_app.command("end")
def end(emergency_id: str, api_url: ApiUrl = None) -> None:
    """Operator: end an emergency: orders released, lent units back, open offers withdrawn."""
    data = api(api_url, "POST", f"/api/v1/operator/emergencies/{emergency_id}/end")
    console.print(f"[green]✓[/] emergency {data['id']} {data['status']}")


@emergency_app.command("offers")
def offers(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Buyer: offers to lend idle units of your reserved leases, newest first."""
    data = api(api_url, "GET", "/api/v1/emergency-offers")
    if as_json:
        print_json(data)
        return
    console.print(_offers_table(data))


def _answer(offer_id: str, accept: bool, api_url: str | None) -> None:
    data = api(api_url, "POST", f"/api/v1/emergency-offers/{offer_id}/answer", json={"accept": accept})
    paid = f"; {cny(data['compensation'])} paid into your wallet" if accept else ""
    console.print(f"[green]✓[/] offer {data['id']} {data['status']}{paid}")


@emergency_app.command("accept")
def accept(offer_id: str, api_url: ApiUrl = None) -> None:
    """Buyer: lend the idle units until the emergency ends; the compensation is paid at once."""
    _answer(offer_id, True, api_url)


@emergency_app.command("decline")
def decline(offer_id: str, api_url: ApiUrl = None) -> None:
    """Buyer: decline an offer; nothing is lent."""
    _answer(offer_id, False, api_url)
