"""Jobs and clusters commands: suanli jobs submit/list/show/logs/cancel, suanli clusters
add/list/disable/enable/delete. All through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, cny_arg, console, fail, print_json

jobs_app = typer.Typer(help="Jobs: submit work, follow it, read its logs, cancel it.", no_args_is_help=True)
clusters_app = typer.Typer(help="Clusters behind a data center's products (sellers, operators).",
                           no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(clusters_app, name="clusters")


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        if "=" not in item:
            fail(f"{what} {item!r}: write NAME=VALUE")
        key, value = item.split("=", 1)
        out[key] = value
    return out


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{fen / 100:,.2f}"


def _placement(job: dict[str, Any]) -> str:
    p = job.get("placement")
    if not p:
        return "—"
    return f"{p['datacenter_name'] or p['datacenter_id']} · {p['backend']} · {p['units']} unit(s)"


@jobs_app.command("submit")
def submit(name: str,
           command: Annotated[str | None, typer.Option("--command", "-c", help="A bash command line.")] = None,
           script: Annotated[Path | None, typer.Option(help="A script file to run instead of a command.")] = None,
           file: Annotated[list[Path] | None, typer.Option("--file", help="A working file (repeatable).")] = None,
           env: Annotated[list[str] | None, typer.Option("--env", help="NAME=VALUE (repeatable).")] = None,
           accelerators: Annotated[int, typer.Option(min=0)] = 0,
           chip: Annotated[str | None, typer.Option(help="Chip model, e.g. A800, 910B.")] = None,
           ecosystem: Annotated[list[str] | None, typer.Option(help="cuda, cann, dtk, ... (repeatable).")] = None,
           min_memory: Annotated[int, typer.Option(help="GiB per accelerator, at least.")] = 0,
           min_tflops: Annotated[float, typer.Option(help="FP16 TFLOPS per accelerator, at least.")] = 0.0,
           vcpus: Annotated[int, typer.Option(min=0)] = 0,
           memory: Annotated[int, typer.Option(min=0, help="Host memory, GiB.")] = 0,
           province: Annotated[list[str] | None, typer.Option(help="Allowed province (repeatable).")] = None,
           datacenter: Annotated[list[str] | None, typer.Option(help="Allowed data center id (repeatable).")] = None,
           product: Annotated[list[str] | None, typer.Option("--product", help="Run only on this product id "
                                                                               "(repeatable).")] = None,
           max_price: Annotated[str | None, typer.Option(help="Most the whole job may cost per hour, CNY.")] = None,
           held: Annotated[str, typer.Option(help="Capacity you already hold (your reserved leases of batch "
                                                  "capacity, an emergency's capacity you pay for): prefer (there "
                                                  "first, at no further charge), only (wait for it), never.")
                           ] = "prefer",
           objective: Annotated[str, typer.Option(help="cost or time")] = "cost",
           mode: Annotated[str, typer.Option(help="on_demand or spot")] = "on_demand",
           bid: Annotated[str | None, typer.Option(help="Spot: most the whole job pays per hour, CNY.")] = None,
           max_runtime: Annotated[int, typer.Option(help="Minutes.", min=1)] = 60,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Submit a job; the scheduler places it, runs it and bills it to your wallet."""
    if (command is None) == (script is None):
        fail("give exactly one of --command or --script")
    files = {}
    for path in file or []:
        try:
            files[path.name] = path.read_text()
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
    body: dict[str, Any] = {
        "name": name, "env": _pairs(env, "--env"), "files": files,
        "resources": {"accelerators": accelerators, "chip": chip, "min_accel_memory_gib": min_memory,
                      "min_fp16_tflops": min_tflops, "vcpus": vcpus, "memory_gib": memory},
        "constraints": {"provinces": province or [], "datacenters": datacenter or [], "products": product or [],
                        "ecosystems": ecosystem or [],
                        "max_hourly_price_fen": cny_arg(max_price, "--max-price") if max_price else None,
                        "held_capacity": held},
        "objective": objective, "mode": mode, "max_runtime_minutes": max_runtime,
    }
    if command is not None:
        body["command"] = command
    else:
        assert script is not None
        body["script"] = script.read_text()
    if bid is not None:
        body["bid_hourly_fen"] = cny_arg(bid, "--bid")
    job = api(api_url, "POST", "/api/v1/jobs", json=body)
    if as_json:
        print_json(job)
        return
    console.print(f"[green]✓[/] job {job['id']} queued; follow it with `suanli jobs show {job['id']}`")


@jobs_app.command("list")
def list_jobs(state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
              limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
              api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your jobs, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if state:
        params["state"] = state
    page = api(api_url, "GET", "/api/v1/jobs", **params)
    if as_json:
        print_json(page)
        return
    table = Table(title=f"jobs ({page['total']})")
    for col in ("id", "name", "state", "placement", "submitted"):
        table.add_column(col)
    for job in page["items"]:
        table.add_row(job["id"], job["name"], job["state"], _placement(job), job["submitted_at"][:19])
    console.print(table)


@jobs_app.command("show")
def show(job_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """A job: its state, placement and why, attempts, or why it cannot be placed."""
    job = api(api_url, "GET", f"/api/v1/jobs/{job_id}")
    if as_json:
        print_json(job)
        return
    console.print(f"[bold]{job['name']}[/] {job['id']}: [bold]{job['state']}[/] — {job['state_detail']}")
    pinned = job["constraints"].get("products") or []
    if pinned:
        console.print(f"runs only on product{'s' if len(pinned) > 1 else ''} {', '.join(pinned)}")
    p = job.get("placement")
    if p and p.get("held"):
        console.print(f"placed on {p['datacenter_name']} / {p['product_name']} ({p['backend']} cluster), "
                      f"{p['units']} unit(s) of capacity you hold ({p['held']}, order {job['order_id']}): "
                      "no further charge")
    elif p:
        console.print(f"placed on {p['datacenter_name']} / {p['product_name']} ({p['backend']} cluster), "
                      f"{p['units']} unit(s) at {_yuan(p['hourly_price_fen'])}/h")
        console.print(f"  why: {p['reason']}")
        if p.get("parts"):  # a gang across products: one order each
            table = Table(title="servers by product (one order each)")
            for col in ("product", "servers", "order"):
                table.add_column(col)
            for part in p["parts"]:
                table.add_row(part["product_id"], str(part["units"]), part["order_id"])
            console.print(table)
    if job.get("unplaceable"):
        u = job["unplaceable"]
        counts = ", ".join(f"{k} {v}" for k, v in u["eliminated"].items())
        console.print(f"not placed: {u['message']}\n  offers eliminated: {counts or 'none'}")
    for a in job["attempts"]:
        console.print(f"  attempt {a['n']} ({a['kind']}) {a['at'][:19]}: {a['reason']}")
    if job.get("exit_code") is not None:
        console.print(f"exit code {job['exit_code']}")
    if job.get("order_id"):
        console.print(f"order {job['order_id']}")


@jobs_app.command("logs")
def logs(job_id: str, tail: Annotated[int | None, typer.Option(min=1, help="Only the last N lines.")] = None,
         api_url: ApiUrl = None) -> None:
    """The job's output (stdout and stderr)."""
    params = {"tail": tail} if tail else {}
    data = api(api_url, "GET", f"/api/v1/jobs/{job_id}/logs", **params)
    print(data["logs"], end="")


@jobs_app.command("cancel")
def cancel(job_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Cancel a job (a running one is stopped; the seconds it ran are charged, the rest of the hold released)."""
    job = api(api_url, "POST", f"/api/v1/jobs/{job_id}/cancel")
    if as_json:
        print_json(job)
        return
    console.print(f"[green]✓[/] job {job['id']} {job['state']}")


@clusters_app.command("add")
def add_cluster(datacenter_id: str, name: str,
                kind: Annotated[str, typer.Option(help="slurm or ray (local: operators only)")],
                endpoint: Annotated[str, typer.Option(help="slurm: slurmrestd URL; ray: dashboard URL (a public "
                                                           "address, or one in a network the operator allows); "
                                                           "local: a directory")],
                credential: Annotated[list[str] | None, typer.Option(help="NAME=VALUE, e.g. token=... "
                                                                          "(repeatable; never shown back)")] = None,
                option: Annotated[list[str] | None, typer.Option(help="NAME=VALUE (JSON values allowed; "
                                                                      "repeatable)")] = None,
                product: Annotated[list[str] | None, typer.Option(help="A product id whose capacity is on "
                                                                       "this cluster (repeatable)")] = None,
                api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Register a cluster of your data center and put products on it."""
    options: dict[str, Any] = {}
    for key, raw in _pairs(option, "--option").items():
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    body = {"name": name, "kind": kind, "endpoint": endpoint, "credentials": _pairs(credential, "--credential") or None,
            "options": options, "product_ids": product or []}
    cluster = api(api_url, "POST", f"/api/v1/datacenters/{datacenter_id}/clusters", json=body)
    if as_json:
        print_json(cluster)
        return
    console.print(f"[green]✓[/] cluster {cluster['id']} ({cluster['kind']}) with {len(cluster['product_ids'])} "
                  "product(s)")


@clusters_app.command("list")
def list_clusters(datacenter_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The clusters of a data center and their health."""
    clusters = api(api_url, "GET", f"/api/v1/datacenters/{datacenter_id}/clusters")
    if as_json:
        print_json(clusters)
        return
    table = Table(title="clusters")
    for col in ("id", "name", "kind", "endpoint", "state", "healthy", "products", "health"):
        table.add_column(col)
    for c in clusters:
        state = c["state"] if c["state"] == "active" else f"[yellow]{c['state']}[/]"
        table.add_row(c["id"], escape(c["name"]), c["kind"], escape(c["endpoint"]), state,
                      "yes" if c["healthy"] else "[red]no[/]", str(len(c["product_ids"])), escape(c["health_detail"]))
    console.print(table)


def _cluster_action(datacenter_id: str, cluster_id: str, action: str, api_url: str | None) -> dict[str, Any]:
    path = f"/api/v1/datacenters/{datacenter_id}/clusters/{cluster_id}"
    if action == "delete":
        return api(api_url, "DELETE", path)
    return api(api_url, "POST", f"{path}/{action}")


@clusters_app.command("disable")
def disable_cluster(datacenter_id: str, cluster_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Take a cluster out of service: no new jobs or machines on it; what runs there goes on."""
    cluster = _cluster_action(datacenter_id, cluster_id, "disable", api_url)
    if as_json:
        print_json(cluster)
        return
    console.print(f"[green]✓[/] cluster {cluster['id']} disabled: no new jobs or machines start on it; "
                  f"`suanli clusters enable {datacenter_id} {cluster['id']}` brings it back")


@clusters_app.command("enable")
def enable_cluster(datacenter_id: str, cluster_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Put a disabled (or draining) cluster back in service."""
    cluster = _cluster_action(datacenter_id, cluster_id, "enable", api_url)
    if as_json:
        print_json(cluster)
        return
    console.print(f"[green]✓[/] cluster {cluster['id']} active: it takes jobs and machines again")


@clusters_app.command("delete")
def delete_cluster(datacenter_id: str, cluster_id: str,
                   yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
                   api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Delete a cluster. With jobs or machines running on it, it drains first (no new work) and is deleted once
    they have ended. Its products lose their cluster: their jobs cannot be placed, machines are delivered by hand."""
    if not yes and not typer.confirm(f"Delete cluster {cluster_id}? Its products lose their cluster", default=False):
        fail("not deleted")
    cluster = _cluster_action(datacenter_id, cluster_id, "delete", api_url)
    if as_json:
        print_json(cluster)
        return
    if cluster["state"] == "draining":
        console.print(f"[yellow]…[/] cluster {cluster['id']} is draining: work runs on it still; it takes no new "
                      "work and is deleted once that work has ended (`suanli clusters enable` calls this off)")
    else:
        console.print(f"[green]✓[/] cluster {cluster['id']} deleted")


def start_scheduler(interval_seconds: int):
    """The scheduler as a background thread of `suanli serve` (see jobs.scheduler.SchedulerThread)."""
    from suanli.cli.main import start_background
    from suanli.jobs.scheduler import SchedulerThread

    return start_background(interval_seconds, SchedulerThread,
                            off="scheduler off (SUANLI_SCHEDULER_INTERVAL_SECONDS=0): run "
                                "POST /api/v1/operator/scheduler/run",
                            on=f"scheduling jobs every {interval_seconds} s")


def print_demo_job(database) -> None:  # noqa: ANN001
    """`suanli demo`: run a job as the demo buyer end to end and say where it ran and what it cost."""
    from suanli.core.billing import SystemClock
    from suanli.demo import DEMO_ACCOUNTS
    from suanli.jobs.demo import run_demo_job

    console.print("running a demo job as the demo buyer (a local process standing in for the data center) ...")
    result = run_demo_job(database, SystemClock(), DEMO_ACCOUNTS[0].email)
    console.print(f"demo job {result.job_id}: [bold]{result.state}[/] — {result.detail}")
    if result.placement:
        console.print(f"  ran at {result.placement}; output: {result.logs.strip()!r}")
    if result.charged_fen is not None:
        console.print(f"  billed {_yuan(result.charged_fen)} (order {result.order_id}); "
                      f"see `suanli jobs show {result.job_id}`")
