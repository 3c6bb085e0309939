"""Command definitions. Catalog commands go through the API client; admin commands use the database."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.cli.client import ApiClient, ApiError
from suanli.cli.tables import Column, fitted_table
from suanli.core.money import cny_to_fen

app = typer.Typer(help="suanli 算力: a public compute-power exchange and scheduling platform.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database: migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users: create accounts (operators are created only here).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")

console = Console()
err = Console(stderr=True)

ApiUrl = Annotated[str | None, typer.Option("--api-url", help="Talk to a running server instead of the local "
                                                             "database (or set SUANLI_API_URL).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def explain(exc: ApiError) -> str:
    """An API error as a sentence that says what to do: the message, plus what its details add."""
    from suanli.core.money import format_cny

    d = exc.details
    if exc.status == 402 and "available_fen" in d:
        return (f"your wallet has {format_cny(d['available_fen'])} available; this needs "
                f"{format_cny(d.get('needed_fen', 0))} (short {format_cny(d.get('shortfall_fen', 0))}). Top up "
                "through the platform operator (they run `suanli topup`), then try again.")
    if exc.status == 401:
        return f"{exc.message} Run `suanli login EMAIL` (or set SUANLI_TOKEN)."
    hint = ""
    if "available_units" in d:
        hint = f" (free units: {d['available_units']})"
    if "floor_cny" in d:
        hint = f" (floor: ¥{d['floor_cny']} per unit-hour)"
    for key in ("valid_values", "valid_fields", "valid_operators", "valid_sort_fields"):
        if key in d and not all(str(v) in exc.message for v in d[key][:3]):
            hint += f"\n  valid: {', '.join(map(str, d[key]))}"
            break
    return f"{exc.message}{hint} [dim]({exc.code})[/]"


def api(api_url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One API call for every command: GET keyword arguments are query parameters, others go to httpx;
    an error ends the command with ``explain``'s sentence."""
    try:
        client = ApiClient(api_url)
        if method == "GET":
            return client.get(path, **kwargs)
        return client.request(method, path, **kwargs)
    except ApiError as exc:
        fail(explain(exc))


def call(client_url: str | None, path: str, **params: Any) -> Any:
    return api(client_url, "GET", path, **params)


MODE_LABELS = {"on_demand": "按", "reserved": "包", "spot": "竞"}  # 按需 · 包月/包年 · 竞价/闲时
DELIVERY_LABELS = {"container": "容器", "vm": "云主机", "bare_metal": "裸金属", "batch": "批量"}


def cny(money: dict | None) -> str:
    return "—" if money is None else f"¥{money['cny']}"


def print_json(data: Any) -> None:
    """What `--json` prints: the API's answer, UTF-8 (Chinese names as they are), indented."""
    print(json.dumps(data, ensure_ascii=False, indent=2))


def cny_arg(value: str, what: str) -> int:
    """A CNY amount typed by a user (``1234.56``, ``¥1,234.56``) as fen; a clear error otherwise."""
    try:
        fen = cny_to_fen(value.replace(",", "").removeprefix("¥"))
    except ValueError as exc:
        fail(f"{what} {value!r}: {exc}; write CNY like 1234.56")
    if fen <= 0:
        fail(f"{what} must be more than 0 CNY (got {value!r}).")
    return fen


# ---------------------------------------------------------------- database and serving

def _database():
    from suanli.db import default_database

    return default_database()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version and sync the chip table."""
    from suanli.migrate import upgrade

    database = _database()
    chips = upgrade(database)
    console.print(f"[green]✓[/] database at newest schema ({database.engine.dialect.name}); {chips} chip models")


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="Default: SUANLI_HOST or 127.0.0.1")] = None,
          port: Annotated[int | None, typer.Option(help="Default: SUANLI_PORT or 8000")] = None,
          workers: Annotated[int, typer.Option(min=1, max=64, help="API worker processes")] = 1) -> None:
    """Serve the web UI and API, meter running orders every SUANLI_METER_INTERVAL_SECONDS, run the job
    scheduler every SUANLI_SCHEDULER_INTERVAL_SECONDS and the instance loop every SUANLI_INSTANCE_INTERVAL_SECONDS
    (0: off)."""
    import uvicorn

    from suanli.config import load_settings

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    if (host, port) != (settings.host, settings.port) and not os.environ.get("SUANLI_FEDERATION_BASE_URL"):
        # The workers read the settings again: the federation base URL must be where this server listens.
        os.environ["SUANLI_FEDERATION_BASE_URL"] = f"http://{host}:{port}"
        settings = load_settings()
    federation_identity(settings)
    meter = start_meter(settings.meter_interval_seconds)
    from suanli.cli.jobs import start_scheduler

    scheduler = start_scheduler(settings.scheduler_interval_seconds)
    instances = start_instance_loop(settings.instance_interval_seconds)
    federation_sync = start_federation_sync(settings.federation_sync_interval_seconds)
    console.print(f"[bold]suanli[/] serving on [link]http://{host}:{port}[/]  (API docs: http://{host}:{port}/docs)")
    try:
        uvicorn.run("suanli.asgi:app", host=host, port=port, workers=workers, log_level="info")
    finally:
        for thread in (meter, scheduler, instances, federation_sync):
            if thread is not None:
                thread.stop()


def federation_identity(settings) -> None:
    """Make this platform's federation identity (key pair under SUANLI_HOME) at first start; say which key signs."""
    from sqlalchemy.exc import SQLAlchemyError

    from suanli.federation.peers import current_key, ensure_identity

    try:
        with _database().unit_of_work() as session:
            key = current_key(session, ensure_identity(session, settings))
    except SQLAlchemyError:
        console.print("[dim]federation identity not made: run `suanli db upgrade` first[/]")
        return
    console.print(f"[dim]federation: {settings.federation_base_url}/federation/v1, key {key.key_id}[/]")


def start_background(interval_seconds: int, thread_class: type, *, off: str, on: str):
    """One of `suanli serve`'s background loops as a thread of this process (``thread_class(database, clock,
    interval)``), or None when its interval is 0 (``off`` says so)."""
    if interval_seconds <= 0:
        console.print(f"[dim]{off}[/]")
        return None
    from suanli.core.billing import SystemClock

    thread = thread_class(_database(), SystemClock(), interval_seconds)
    thread.start()
    console.print(f"[dim]{on}[/]")
    return thread


def start_instance_loop(interval_seconds: int):
    """The instance loop: starts the machines leases deliver, watches them, refunds what is not delivered in time
    and stops what ended (``instances.lifecycle``)."""
    from suanli.instances.lifecycle import InstanceThread

    return start_background(interval_seconds, InstanceThread,
                            off="instance loop off (SUANLI_INSTANCE_INTERVAL_SECONDS=0): leased machines are not "
                                "started or stopped by this server",
                            on=f"delivering leased machines (instance loop every {interval_seconds} s)")


def start_federation_sync(interval_seconds: int):
    """The federation sync loop: pulls every active peer's catalog changes (``federation.sync_loop``)."""
    from suanli.federation.sync_loop import FederationSyncThread

    return start_background(interval_seconds, FederationSyncThread,
                            off="federation sync off (SUANLI_FEDERATION_SYNC_INTERVAL_SECONDS=0): run "
                                "`suanli federation peers sync PEER_ID`",
                            on=f"syncing federated peers' catalogs every {interval_seconds} s")


def start_meter(interval_seconds: int):
    """The meter (one per `suanli serve`, whatever the worker count); several servers metering at once never
    charge twice (see trading.jobs.MeterThread)."""
    from suanli.trading.jobs import MeterThread

    return start_background(interval_seconds, MeterThread,
                            off="meter off (SUANLI_METER_INTERVAL_SECONDS=0): run POST /api/v1/operator/metering/run",
                            on=f"metering running orders every {interval_seconds} s")


@app.command()
def demo(serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after loading")] = True,
         run_job: Annotated[bool | None, typer.Option("--job/--no-job", help="Run and bill a demo job first "
                                                      "(default: when serving)")] = None) -> None:
    """Migrate the database, load the demo network and 30 days of market history if it is empty, print the demo
    accounts, and serve."""
    from suanli.config import load_settings
    from suanli.core.money import format_cny
    from suanli.demo import (DEMO_ACCOUNTS, DEMO_PASSWORD, database_is_empty, demo_ssh_key, demo_topup, load_demo,
                             load_history)
    from suanli.migrate import upgrade

    settings = load_settings()
    database = _database()
    upgrade(database)
    with database.unit_of_work() as session:
        if database_is_empty(session):
            with _progress() as progress:
                task = progress.add_task("loading the demo network", total=None)
                report = load_demo(session, progress=lambda n: progress.update(task, completed=n, total=n))
            console.print(f"[green]✓[/] demo network: {report.datacenters} data centers, "
                          f"{report.products} products, {report.organizations} seller organizations")
            with _progress() as progress:
                task = progress.add_task("playing 30 days of market history", total=None)
                history = load_history(session, progress=lambda n, total: progress.update(task, completed=n,
                                                                                          total=total))
            console.print(f"[green]✓[/] market history: {history.orders} orders in the last 30 days by "
                          f"{history.buyers} buyer organizations, GMV {format_cny(history.gmv_fen)}, "
                          f"{history.active_orders} still running")
        else:
            console.print("[dim]database already has products; demo network not reloaded[/]")
        balance = demo_topup(session)
        demo_key = demo_ssh_key(session, settings.home)
        from suanli.jobs.demo import demo_clusters

        demo_clusters(session, settings.home / "jobs")  # the demo's data centers run jobs as local processes
    table = Table(title="demo accounts (password: " + DEMO_PASSWORD + ")")
    table.add_column("role")
    table.add_column("email")
    for account in DEMO_ACCOUNTS:
        table.add_row(account.role.value, account.email)
    console.print(table)
    if balance is not None:
        console.print(f"demo buyer wallet: {format_cny(balance)} available (top-up demo-initial-topup); try "
                      "`suanli login buyer@demo.suanli.cn`, `suanli search`, `suanli order place PRODUCT_ID`")
    if demo_key is not None:
        console.print(f"demo buyer SSH key: {demo_key} (its public key is on the demo buyer's account): rent a "
                      "container and log in with `suanli ssh ORDER_ID -i " + str(demo_key) + "`")
    console.print(f"data: {settings.home}  database: {database.engine.url.render_as_string(hide_password=True)}")
    if serve_after if run_job is None else run_job:
        from suanli.cli.jobs import print_demo_job

        print_demo_job(database)
    if serve_after:
        serve(None, None, 1)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


@app.command()
def seed(datacenters: Annotated[int, typer.Option("--datacenters", min=1, max=10_000)] = 300,
         products: Annotated[int, typer.Option("--products", min=1, max=2_000_000)] = 100_000,
         seed_value: Annotated[int, typer.Option("--seed")] = 1) -> None:
    """Add synthetic data at scale (data centers across the 8 national hubs), e.g. for benchmarks."""
    from suanli.catalog.demo_network import synthetic_network
    from suanli.catalog.seeding import load_network
    from suanli.core.chips import load_chip_table
    from suanli.migrate import upgrade

    started = time.monotonic()
    database = _database()
    upgrade(database)
    with console.status("generating the network"):
        network = synthetic_network(load_chip_table(), datacenters, products, seed_value)
    with database.unit_of_work() as session, _progress() as progress:
        task = progress.add_task("inserting products", total=len(network.products))
        report = load_network(session, network, progress=lambda n: progress.update(task, completed=n),
                              stage=lambda text: progress.update(task, description=text))
    console.print(f"[green]✓[/] added {report.products} products in {len(network.datacenters)} data centers "
                  f"({report.datacenters} new), {report.regions} new regions in {time.monotonic() - started:.0f} s")


# ---------------------------------------------------------------- users

@user_app.command("create")
def user_create(email: str,
                role: Annotated[str, typer.Option(help="buyer, seller or operator")] = "buyer",
                name: Annotated[str | None, typer.Option(help="Display name")] = None,
                organization: Annotated[str | None, typer.Option("--org", help="Organization name")] = None,
                password: Annotated[str | None, typer.Option(help="Prompted for when not given")] = None) -> None:
    """Create a user. Operators can only be created here."""
    from suanli.accounts.models import Role
    from suanli.accounts.service import create_user
    from suanli.errors import DomainError

    try:
        role_value = Role(role)
    except ValueError:
        fail(f"Unknown role {role!r}; use buyer, seller or operator.")
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    org_name = organization or ("安徽省算力调度平台运营中心" if role_value is Role.OPERATOR else email)
    try:
        with _database().unit_of_work() as session:
            user = create_user(session, email=email, password=password, display_name=name or email.split("@")[0],
                               organization_name=org_name, role=role_value)
            console.print(f"[green]✓[/] created {role_value.value} {user.email} in {org_name!r}")
    except DomainError as exc:
        fail(f"{exc.message} ({exc.code})")


# ---------------------------------------------------------------- catalog

@app.command()
def search(query: Annotated[str, typer.Argument(help="e.g. '昇腾 910B 8卡 安徽' or 'chip=A800 accelerators>=8 "
                                                     "province=安徽 price<=60 sort=price_per_pflops'. `suanli search "
                                                     "--fields` lists fields.")] = "",
           limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
           fields: Annotated[bool, typer.Option("--fields", help="List the query fields and exit.")] = False,
           ids: Annotated[bool, typer.Option("--ids", help="Show each product's id (to order it).")] = False,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Search the catalog: words (A800, 昇腾 910B 8卡, 安徽, 100元以下) or the query language; shows how words were
    understood."""
    if fields:
        from suanli.catalog.search import FIELDS, SORTS
        from suanli.core.query import describe_fields

        console.print(describe_fields(FIELDS, list(SORTS)), markup=False)
        return
    page = call(api_url, "/api/v1/products", q=query or None, limit=limit)
    if as_json:
        print_json(page)
        return
    understood = page.get("understood")
    if understood and any(not r["exact"] for r in understood["readings"]):
        # free words: say what they became, so the buyer can check it and write it exactly next time
        said = ", ".join(f"{r['text']} → {r['query'] or '(ignored)'}" for r in understood["readings"] if not r["exact"])
        console.print(f"understood as: [bold]{escape(understood['query'])}[/]  [dim]({escape(said)})[/]")
    matched = ("" if page.get("total_exact", True) else "about ") + f"{page['total']:,}"
    title = f"{matched} products match" + (f" (first {len(page['items'])})" if page['total'] > len(page['items'])
                                             else "")
    # The ids are 36 characters: beside the rest when they fit, else numbered rows with the ids listed under the
    # table (whole, to copy).
    items = page["items"]
    ids_inline = ids and console.width >= 120
    number = {item["id"]: n for n, item in enumerate(items, 1)}
    columns = [
        *([Column("id", 36, lambda i: i["id"])] if ids_inline else
          [Column("#", 3, lambda i: str(number[i["id"]]), justify="right")] if ids else []),
        Column("chip", 10, lambda i: i["chip"]["key"] if i["chip"] else i["kind"]),
        Column("cards", 5, lambda i: str(i["accelerators"] or "—"), justify="right"),
        Column("CNY/h", 9, lambda i: cny(i["prices"]["on_demand_hour"]), justify="right"),
        Column("free", 7, lambda i: f"{i['available_units']}/{i['stock_units']}", 1, "right"),
        Column("form", 4, lambda i: DELIVERY_LABELS[i["delivery"]], 2),
        Column("data center", 16, lambda i: i["datacenter"]["name"], 3, max_width=16),
        Column("modes", 5, lambda i: "".join(MODE_LABELS[m] for m in i["billing_modes"]), 4),
        Column("CNY/PFLOPS·h", 12, lambda i: cny(i["prices"]["per_fp16_pflops_hour"]), 5, "right"),
        Column("city", 4, lambda i: i["region"]["city"], 6),
        Column("CNY/卡·h", 8, lambda i: cny(i["prices"]["per_accelerator_hour"]), 7, "right"),
        Column("PFLOPS", 7, lambda i: f"{i['compute']['fp16_pflops']:.3f}", 8, "right"),
    ]
    table = fitted_table(console, title, columns, items)
    console.print(table)
    if ids and not ids_inline:
        for n, item in enumerate(items, 1):
            console.print(f"{n:>3}  {item['id']}", highlight=False, soft_wrap=True)
    console.print("[dim]modes: 按 = on-demand (按需), 包 = reserved term (包月/包年), 竞 = spot (竞价); "
                  "prices per unit-hour unless noted; --ids for the ids to order, --json for full details[/]")


@app.command()
def chips(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The chip table: every maker's chips in one normalized unit."""
    rows = call(api_url, "/api/v1/chips")
    if as_json:
        print_json(rows)
        return
    table = Table(title="chip models (dense FP16/BF16; source: Epoch AI, CC-BY 4.0)")
    for column in ("key", "name", "vendor", "ecosystem", "FP16 TFLOPS", "FP32 TFLOPS", "memory GiB", "GB/s", "TDP W"):
        table.add_column(column, justify="right" if column[0].isupper() or column[0] in "mGT" else "left")
    for c in rows:
        table.add_row(c["key"], c["name"], f"{c['vendor_zh']}", c["ecosystem"] + (" ·国产" if c["domestic"] else ""),
                      f"{c['fp16_tflops']:g}", f"{c['fp32_tflops']:g}", str(c["memory_gib"]),
                      f"{c['memory_bandwidth_gbs']:g}", str(c["tdp_w"]))
    console.print(table)


@app.command("price-index")
def price_index(by_province: Annotated[bool, typer.Option("--by-province")] = False,
                chip: Annotated[str | None, typer.Option(help="One chip, e.g. A800")] = None,
                province: Annotated[str | None, typer.Option(help="One province, e.g. 安徽")] = None,
                api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Guidance prices: listed on-demand CNY per accelerator-hour, per chip."""
    data = call(api_url, "/api/v1/price-index", by_province=by_province or None, chip=chip, province=province)
    if as_json:
        print_json(data)
        return
    table = Table(title="price index: " + data["unit"])
    for column in ("chip", "province", "offers", "min", "Q1", "median", "Q3", "max"):
        table.add_column(column, justify="left" if column in ("chip", "province") else "right")
    for row in data["rows"]:
        table.add_row(row["chip_name"], row["province"] or "all", str(row["count"]), cny(row["min"]), cny(row["q1"]),
                      cny(row["median"]), cny(row["q3"]), cny(row["max"]))
    console.print(table)


@app.command()
def stats(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The platform's figures."""
    data = call(api_url, "/api/v1/stats")
    if as_json:
        print_json(data)
        return
    table = Table(title="platform")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in data.items():
        table.add_row(key.replace("_", " "), cny(value) if isinstance(value, dict) else f"{value:,}")
    console.print(table)


from suanli.cli.replay import replay, replay_convert_alibaba, replay_convert_helios  # noqa: E402  (commands defined in their own module)

app.command("replay")(replay)
app.command("replay-convert-alibaba")(replay_convert_alibaba)
app.command("replay-convert-helios")(replay_convert_helios)


def main() -> None:  # pragma: no cover
    sys.exit(app())
