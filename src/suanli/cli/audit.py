"""`suanli audit`: the operator's view of the audit trail (through the API, like every command)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, console, err, print_json

audit_app = typer.Typer(help="Operator: the audit trail of money, orders and admin actions.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Walk the hash chain: exit 0 when it is intact; exit 1 naming the first broken sequence number when an entry
    was edited, inserted or removed."""
    data = api(api_url, "GET", "/api/v1/operator/audit/verify")
    if as_json:
        print_json(data)
    elif data["intact"]:
        console.print(f"[green]✓[/] audit trail intact: {data['checked']:,} entries, head at {data['head_seq']}")
    if not data["intact"]:
        if not as_json:
            err.print(f"[bold red]audit trail broken at entry {data['first_broken_seq']}:[/] "
                      f"{escape(data['reason'] or '')}. Restore the entries from a backup, and find who had write "
                      "access to the database.")
        raise typer.Exit(1)


@audit_app.command("list")
def list_entries(limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
                 before: Annotated[int | None, typer.Option("--before", help="Entries older than this sequence "
                                                                            "number (the next page).")] = None,
                 action: Annotated[str | None, typer.Option(help="e.g. order.placed, money.topup")] = None,
                 organization: Annotated[str | None, typer.Option(help="An organization id.")] = None,
                 api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The newest entries first: when, who, from where, what."""
    params = {"limit": limit, "before_seq": before, "action": action, "organization_id": organization}
    data = api(api_url, "GET", "/api/v1/operator/audit", **params)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"audit trail ({data['total']:,} entries)")
    for column in ("seq", "at (UTC)", "user", "address", "action", "target", "details"):
        table.add_column(column, justify="right" if column == "seq" else "left")
    for e in data["items"]:
        details = ", ".join(f"{k}={v}" for k, v in e["details"].items())
        table.add_row(str(e["seq"]), e["at"][:19].replace("T", " "), (e["actor_user_id"] or "—")[:8],
                      e["address"] or "—", e["action"], escape(e["target"]), escape(details))
    console.print(table)
    if data["next_before_seq"]:
        console.print(f"older entries: suanli audit list --before {data['next_before_seq']}")
