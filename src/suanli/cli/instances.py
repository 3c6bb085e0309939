"""Instance commands: SSH keys, images, the machines leases deliver, and `suanli ssh ORDER_ID`. All through the API."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from suanli.cli.main import ApiUrl, AsJson, api, app, console, fail, print_json
from suanli.cli.tables import Column, fitted_table

keys_app = typer.Typer(help="Your SSH public keys, installed on the machines your leases deliver.",
                       no_args_is_help=True)
instances_app = typer.Typer(help="The machines (instances) your leases deliver: state and how to reach them.",
                            no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(instances_app, name="instances")

SSH_WAIT_SECONDS = 300


# ---------------------------------------------------------------- keys

@keys_app.command("add")
def keys_add(path: Annotated[str, typer.Argument(help="A public key file (e.g. ~/.ssh/id_ed25519.pub), or - to "
                                                      "read the key from standard input.")],
             name: Annotated[str | None, typer.Option(help="A label (default: the key's comment).")] = None,
             api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Add a public key to your account. Never give the private key (the file without .pub)."""
    if path == "-":
        text = sys.stdin.read()
    else:
        file = Path(path).expanduser()
        if not file.is_file():
            hint = " Make one with: ssh-keygen -t ed25519" if not file.exists() else ""
            fail(f"{file} is not a file.{hint}")
        if file.suffix != ".pub" and file.with_name(file.name + ".pub").is_file():
            fail(f"{file} looks like a private key; give {file}.pub instead.")
        text = file.read_text(encoding="utf-8", errors="replace")
    data = api(api_url, "POST", "/api/v1/ssh-keys", json={"public_key": text.strip(), "name": name})
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] added {data['key_type']} key {data['name']!r}: {data['fingerprint']}")


@keys_app.command("list")
def keys_list(api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your SSH public keys, with their fingerprints."""
    data = api(api_url, "GET", "/api/v1/ssh-keys")
    if as_json:
        print_json(data)
        return
    table = Table(title=f"SSH keys ({len(data)})")
    for column in ("id", "name", "type", "fingerprint", "added"):
        table.add_column(column, no_wrap=column in ("id", "fingerprint"))
    for k in data:
        table.add_row(k["id"], k["name"], k["key_type"], k["fingerprint"], k["created_at"][:10])
    console.print(table)
    if not data:
        console.print("no keys yet: `suanli keys add ~/.ssh/id_ed25519.pub` (make one with `ssh-keygen -t ed25519`)")


@keys_app.command("delete")
def keys_delete(key_id: str, api_url: ApiUrl = None) -> None:
    """Delete one of your keys (machines already delivered keep it)."""
    api(api_url, "DELETE", f"/api/v1/ssh-keys/{key_id}")
    console.print(f"[green]✓[/] deleted key {key_id}")


# ---------------------------------------------------------------- images

@app.command()
def images(product: Annotated[str | None, typer.Option("--product", help="Only the images this product offers.")] = None,
           api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """The images (software environments) machines start with: all of them, or those a product offers."""
    path = f"/api/v1/products/{product}/images" if product else "/api/v1/images"
    data = api(api_url, "GET", path)
    if as_json:
        print_json(data)
        return
    table = Table(title="images" + (f" of product {product}" if product else ""))
    for column in ("image", "name", "chips", "contents", "reference"):
        table.add_column(column, no_wrap=column == "image")
    for i in data:
        table.add_row(i["key"], i["name"], i["ecosystem"] or "any (CPU)", i["description"], i["reference"])
    console.print(table)
    if product and not data:
        console.print("this product rents units only (storage or batch): it delivers no machine")


# ---------------------------------------------------------------- instances

def _access_lines(i: dict[str, Any]) -> list[tuple[str, str]]:
    a = i.get("access")
    if not a:
        return []
    rows = [("ssh", a["ssh_command"])]
    if a.get("ssh_host_key_fingerprints"):
        rows.append(("host key", ", ".join(a["ssh_host_key_fingerprints"])))
    if a.get("jupyter_link"):
        rows.append(("JupyterLab", a["jupyter_link"]))
    if a.get("password"):
        rows.append(("password", a["password"]))
    for inner, (host, port) in sorted(a.get("ports", {}).items(), key=lambda kv: int(kv[0])):
        rows.append((f"port {inner}", f"{host}:{port}"))
    if a.get("note"):
        rows.append(("note", a["note"]))
    return rows


@instances_app.command("list")
def instances_list(order: Annotated[str | None, typer.Option("--order", help="Only this order's instances.")] = None,
                   state: Annotated[str | None, typer.Option(help="pending, provisioning, running, stopping, "
                                                                  "stopped or failed")] = None,
                   live: Annotated[bool, typer.Option("--live", help="Only those not ended yet.")] = False,
                   limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
                   api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Your machines (buyers: with the SSH command), or those in your data centers (sellers), newest first."""
    data = api(api_url, "GET", "/api/v1/instances", order_id=order, state=state, live=live or None, limit=limit)
    if as_json:
        print_json(data)
        return
    columns = [  # on a narrow terminal: the order (for `suanli ssh ORDER_ID`), the state and the SSH command
        Column("order", 36, lambda i: i["order_id"]),
        Column("state", 12, lambda i: i["state"]),
        Column("ssh", 34, lambda i: i["access"]["ssh_command"] if i.get("access") else "—", fold=True),
        Column("image", 12, lambda i: i["image"], 1),
        Column("unit", 4, lambda i: str(i["unit_index"]), 2, "right"),
        Column("delivery", 9, lambda i: i["delivery"], 3),
        Column("id", 36, lambda i: i["id"], 4),
    ]
    console.print(fitted_table(console, f"instances ({len(data['items'])} of {data['total']})", columns,
                               data["items"]))


@instances_app.command("show")
def instances_show(instance_id: str, api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """One instance: state, why, and (for its buyer) how to reach it."""
    i = api(api_url, "GET", f"/api/v1/instances/{instance_id}")
    if as_json:
        print_json(i)
        return
    table = Table(title=f"instance {i['id']}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in [("order", i["order_id"]), ("unit", str(i["unit_index"])), ("image", i["image"]),
                       ("state", i["state"]), ("detail", i["state_detail"] or "—"), ("delivery", i["delivery"]),
                       ("exposed ports", ", ".join(map(str, i["ports"])) or "—"),
                       ("deadline", (i["delivery_deadline"] or "—")[:19].replace("T", " ")),
                       ("delivered", (i["delivered_at"] or "—")[:19].replace("T", " ")), *_access_lines(i)]:
        table.add_row(key, value)
    console.print(table)


@instances_app.command("deliver")
def instances_deliver(instance_id: str,
                      host: Annotated[str, typer.Option(help="Where the buyer logs in: host name or address.")],
                      user: Annotated[str, typer.Option(help="The login user, with the buyer's public keys "
                                                             "(`suanli instances show ID` lists them) installed.")],
                      port: Annotated[int, typer.Option(min=1, max=65535, help="The SSH port.")] = 22,
                      host_key: Annotated[list[str] | None, typer.Option(
                          "--host-key", help="SHA256:… fingerprint of a host key (`ssh-keygen -lf`), so the buyer "
                                             "can check it on first login; repeat for several.")] = None,
                      jupyter_url: Annotated[str | None, typer.Option(help="JupyterLab address (http or https).")]
                      = None,
                      jupyter_token: Annotated[str | None, typer.Option(help="JupyterLab token.")] = None,
                      expose: Annotated[list[str] | None, typer.Option(
                          "--expose", help="An exposed port: INSIDE=HOST:PORT, e.g. 8080=gpu7.example.cn:30080; "
                                           "repeat for several.")] = None,
                      note: Annotated[str | None, typer.Option(help="A note for the buyer.")] = None,
                      api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Sellers: deliver a machine by hand (a data center without automation). Billing starts when the order's last
    machine is delivered. The server never connects to what you enter; it is shown to the buyer only."""
    ports: dict[str, dict[str, Any]] = {}
    for item in expose or []:
        inside, _, target = item.partition("=")
        target_host, _, target_port = target.rpartition(":")
        if not (inside.isdigit() and target_host and target_port.isdigit()):
            fail(f"--expose {item!r}: write INSIDE=HOST:PORT, e.g. 8080=gpu7.example.cn:30080.")
        ports[inside] = {"host": target_host, "port": int(target_port)}
    body = {"ssh_host": host, "ssh_port": port, "ssh_user": user, "host_key_fingerprints": list(host_key or []),
            "jupyter_url": jupyter_url, "jupyter_token": jupyter_token, "ports": ports, "note": note}
    data = api(api_url, "POST", f"/api/v1/instances/{instance_id}/deliver", json=body)
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] instance {data['id']} delivered: {data['state']}")


@instances_app.command("refuse")
def instances_refuse(instance_id: str,
                     reason: Annotated[str, typer.Option(help="Why it cannot be delivered; the buyer is told.")],
                     api_url: ApiUrl = None, as_json: AsJson = False) -> None:
    """Sellers: say a machine cannot be delivered. Its order is cancelled and the buyer refunded in full."""
    data = api(api_url, "POST", f"/api/v1/instances/{instance_id}/refuse", json={"reason": reason})
    if as_json:
        print_json(data)
        return
    console.print(f"[green]✓[/] instance {data['id']} refused: {data['state']}; the buyer's order is refunded in full")


# ---------------------------------------------------------------- ssh

def _wait_for_instance(api_url: str | None, order_id: str, unit: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with console.status(f"waiting for order {order_id}'s machine to be delivered") as status:
        while True:
            items = api(api_url, "GET", f"/api/v1/orders/{order_id}/instances")
            if not items:
                fail(f"order {order_id} rents units only (storage or batch): there is no machine to log into.")
            match = [i for i in items if i["unit_index"] == unit]
            if not match:
                fail(f"order {order_id} has units 0..{len(items) - 1}; there is no unit {unit}.")
            instance = match[0]
            if instance["state"] == "running" and instance.get("access"):
                return instance
            if instance["state"] in ("stopping", "stopped", "failed"):
                fail(f"the machine is {instance['state']}: {instance['state_detail'] or 'see suanli instances show '}"
                     f"{'' if instance['state_detail'] else instance['id']}")
            if time.monotonic() > deadline:
                fail(f"the machine is still {instance['state']} after {timeout:.0f} s "
                     f"({instance['state_detail']}); try again later, or see `suanli instances show {instance['id']}`")
            status.update(f"machine {instance['state']}: {instance['state_detail'] or '…'}")
            time.sleep(1.0)


def _fingerprint(key_line: str) -> str:
    blob = key_line.split()[1]
    return "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode().rstrip("=")


def _known_hosts(instance: dict[str, Any]) -> Path | None:
    """A known_hosts file holding the machine's host keys, fetched with ssh-keyscan and checked against the
    fingerprints the platform reported, so ssh can verify the host strictly on first login. None when the
    platform reported none (a seller delivered without them): ssh then asks you, as usual."""
    from suanli.config import load_settings

    access = instance["access"]
    expected = set(access.get("ssh_host_key_fingerprints") or ())
    if not expected:
        return None
    if shutil.which("ssh-keyscan") is None:
        fail("ssh-keyscan (OpenSSH client) is not installed; install openssh-client.")
    scan = subprocess.run(["ssh-keyscan", "-T", "10", "-p", str(access["ssh_port"]), access["ssh_host"]],
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in scan.stdout.splitlines() if line and not line.startswith("#")]
    good = [line for line in lines if len(line.split()) >= 3 and _fingerprint(line.split(None, 1)[1]) in expected]
    if not good:
        fail(f"the machine at {access['ssh_host']}:{access['ssh_port']} did not present the host key the platform "
             f"reported ({', '.join(sorted(expected))}); not connecting. Check `suanli instances show "
             f"{instance['id']}`.")
    directory = load_settings().home / "known_hosts.d"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / instance["id"]
    path.write_text("\n".join(good) + "\n", encoding="utf-8")
    return path


def ssh_argv(instance: dict[str, Any], known_hosts: Path | None, identity: str | None,
             command: list[str]) -> list[str]:
    access = instance["access"]
    argv = ["ssh", "-p", str(access["ssh_port"])]
    if known_hosts is not None:
        argv += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    if identity:
        argv += ["-i", identity]
    return [*argv, f"{access['ssh_user']}@{access['ssh_host']}", *command]


@app.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ssh(ctx: typer.Context, order_id: str,
        unit: Annotated[int, typer.Option(min=0, help="Which unit of the order (0 for the first).")] = 0,
        identity: Annotated[str | None, typer.Option("-i", "--identity", help="Your private key file, if ssh "
                                                                              "would not find it itself.")] = None,
        wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the machine to be delivered.")] =
        SSH_WAIT_SECONDS,
        print_only: Annotated[bool, typer.Option("--print", help="Print the ssh command instead of running "
                                                                 "it.")] = False,
        api_url: ApiUrl = None) -> None:
    """Log into the machine a lease delivered: waits until it runs, checks its host key against the one the
    platform reported, then runs ssh. Anything after the order id (and `--`) is the remote command."""
    instance = _wait_for_instance(api_url, order_id, unit, wait)
    known = _known_hosts(instance)
    argv = ssh_argv(instance, known, identity, list(ctx.args))
    if print_only:
        console.print(" ".join(argv), soft_wrap=True)
        return
    if shutil.which("ssh") is None:
        fail("ssh (OpenSSH client) is not installed; install openssh-client, or use --print.")
    sys.stdout.flush()
    os.execvp("ssh", argv)
