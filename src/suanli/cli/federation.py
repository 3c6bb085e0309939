"""`suanli federation`: the operator's side of interconnection (through the API, like every command)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, console, print_json
from suanli.core.money import format_cny

federation_app = typer.Typer(help="Operator: this platform's federation identity, keys, peers, shared catalog "
                                  "and remote offers.", no_args_is_help=True)
peers_app = typer.Typer(help="Peers: add from a card, list, suspend, resume, revoke, sync.", no_args_is_help=True)
app.add_typer(federation_app, name="federation")
federation_app.add_typer(peers_app, name="peers")

PREFIX = "/api/v1/operator/federation"


def _print_identity(data: dict, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{escape(data['name'])}[/] ({escape(data['province'] or '—')})  id {data['id']}")
    console.print(f"federation API: {escape(data['base_url'] or '—')}/federation/v1")
    for key in data["keys"]:
        until = f"valid until {key['valid_until'][:19]} UTC" if key["valid_until"] else "current"
        console.print(f"  key {key['key_id']}  {key['public_key']}  ({until})")
    console.print("peer card (give it to a peer's operator out of band; it holds public keys only):")
    print(data["card"])


@federation_app.command("identity")
def identity(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """This platform's identity and keys (made at first use) and its peer card."""
    _print_identity(api(api_url, "POST", f"{PREFIX}/identity"), as_json)


@federation_app.command("rotate")
def rotate(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Make a new key; the old one stays valid for SUANLI_FEDERATION_KEY_GRACE_HOURS (peers learn the new key at
    their next sync, or from this platform's next request to them)."""
    _print_identity(api(api_url, "POST", f"{PREFIX}/keys/rotate"), as_json)


def _print_peers(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"peers ({len(rows)})")
    for column in ("id", "name", "province", "status", "scopes", "base URL", "cursor", "last sync (UTC)"):
        table.add_column(column)
    for p in rows:
        table.add_row(p["id"], escape(p["name"]), escape(p["province"] or "—"), p["status"], ",".join(p["scopes"]),
                      escape(p["base_url"] or "—"), str(p["feed_cursor"]),
                      (p["last_synced_at"] or "never")[:19].replace("T", " "))
    console.print(table)


@peers_app.command("add")
def peers_add(card: Annotated[str, typer.Argument(help="The peer's card (its `suanli federation identity`).")],
              scopes: Annotated[str, typer.Option(help="What the peer may do here: catalog,orders,jobs,burst")]
              = "catalog",
              api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Federate with a platform whose card its operator gave you."""
    data = api(api_url, "POST", f"{PREFIX}/peers",
               json={"card": card, "scopes": [s.strip() for s in scopes.split(",") if s.strip()]})
    _print_peers([data], as_json)


@peers_app.command("list")
def peers_list(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    _print_peers(api(api_url, "GET", f"{PREFIX}/peers"), as_json)


def _status(action: str, peer_id: str, api_url: str | None, as_json: bool) -> None:
    _print_peers([api(api_url, "POST", f"{PREFIX}/peers/{peer_id}/{action}")], as_json)


@peers_app.command("suspend")
def peers_suspend(peer_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Refuse the peer's requests until `resume`."""
    _status("suspend", peer_id, api_url, as_json)


@peers_app.command("resume")
def peers_resume(peer_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    _status("resume", peer_id, api_url, as_json)


@peers_app.command("revoke")
def peers_revoke(peer_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Refuse the peer for good."""
    _status("revoke", peer_id, api_url, as_json)


@peers_app.command("sync")
def peers_sync(peer_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Pull the peer's keys and its catalog changes since the last sync."""
    data = api(api_url, "POST", f"{PREFIX}/peers/{peer_id}/sync")
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] {data['changes_applied']} changes in {data['pages']} page(s); cursor "
                  f"{data['cursor']}; {data['offers_held']} offers of this peer held")


@federation_app.command("share")
def share(product_id: str, stop: Annotated[bool, typer.Option("--stop", help="Stop sharing it.")] = False,
          api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Share a product with peers (or stop sharing it)."""
    if stop:
        data = api(api_url, "DELETE", f"{PREFIX}/shares/{product_id}")
    else:
        data = api(api_url, "POST", f"{PREFIX}/shares", json={"product_id": product_id})
    if as_json:
        print_json(data)
        return
    console.print(f"{len(data['product_ids'])} products shared; change feed at {data['feed_head']}")


@federation_app.command("policy")
def policy(prices: Annotated[str | None, typer.Option(help="exact or band")] = None,
           aggregation: Annotated[str | None, typer.Option(help="datacenter or region")] = None,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Show or set how much the shared catalog shows: exact prices or price bands, per data center or per
    region."""
    if prices is None and aggregation is None:
        data = api(api_url, "GET", f"{PREFIX}/policy")
    else:
        data = api(api_url, "PUT", f"{PREFIX}/policy", json={"price_disclosure": prices, "aggregation": aggregation})
    if as_json:
        print_json(data)
        return
    console.print(f"prices: {data['price_disclosure']}  aggregation: {data['aggregation']}")


@federation_app.command("offers")
def offers(chip: Annotated[str | None, typer.Option(help="Chip key, e.g. a800")] = None,
           province: Annotated[str | None, typer.Option()] = None,
           limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Products of federated platforms, cheapest first, with their origin and freshness."""
    data = api(api_url, "GET", "/api/v1/federation/offers", chip=chip, province=province, limit=limit)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"remote offers ({len(data['items'])})")
    for column in ("compute id", "origin", "where", "offer", "units", "price / unit-hour", "synced"):
        table.add_column(column)
    for o in data["items"]:
        price = format_cny(o["price_exact_fen"]) if o["price_exact_fen"] else \
            f"{format_cny(o['price_low_fen'])}–{format_cny(o['price_high_fen'])}"
        table.add_row(o["cid"], escape(o["origin_platform"]), escape(f"{o['province']} {o['city']}"),
                      escape(o["name"]), str(o["available_units"]), price, f"{o['age_seconds']} s ago")
    console.print(table)
