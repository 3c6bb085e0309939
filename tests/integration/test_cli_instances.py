"""`suanli keys / images / order place / instances / ssh` against the demo in a fresh SQLite home: the buyer adds a
key, orders a machine, the seller delivers it by hand (a data center without automation) and the buyer reads the
SSH command. The commands talk to the in-process API (no instance loop runs, so nothing is started for real here;
tests/integration/test_instances_local.py logs into a real one)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, Product
from suanli.cli import main as cli_main
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from cli_helpers import BUYER, SELLER, demo_home, flat, invoke

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-instances-home") as (path, output):
        yield path


def login(email: str) -> None:
    result = invoke("login", email, "--password", DEMO_PASSWORD)
    assert result.exit_code == 0, result.output


def hand_delivered_product() -> Product:
    """A container product of the demo seller's, taken off its cluster: its data center delivers by hand."""
    with default_database().unit_of_work() as session:
        seller_org = session.scalar(select(User.organization_id).where(User.email == SELLER))
        product = session.scalar(select(Product).join(Datacenter, Datacenter.id == Product.datacenter_id).where(
            Datacenter.owner_org_id == seller_org, Product.delivery == "container", Product.is_visible.is_(True),
            Product.kind == "accelerator", Product.stock_units - Product.allocated_units >= 1)
            .order_by(Product.price_on_demand_fen).limit(1))
        assert product is not None, "the demo seller has a container product"
        product.cluster_id = None
        return product


def test_a_buyer_adds_a_key_orders_a_machine_delivered_by_hand_and_gets_the_ssh_command(home, tmp_path,
                                                                                          monkeypatch):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab@example.cn", "-f", str(key)],
                   check=True)
    login(BUYER)
    # a private key is refused before anything is sent; the public one is added with its fingerprint
    refused = invoke("keys", "add", str(key))
    assert refused.exit_code == 1 and "private key" in flat(refused.output)
    added = invoke("keys", "add", f"{key}.pub", "--json")
    assert added.exit_code == 0, added.output
    fingerprint = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    assert json.loads(added.stdout)["fingerprint"] == fingerprint
    again = invoke("keys", "add", f"{key}.pub")
    assert again.exit_code == 1 and "already" in flat(again.output)
    listed = invoke("keys", "list")
    assert listed.exit_code == 0 and fingerprint in flat(listed.output)

    product = hand_delivered_product()
    offered = invoke("images", "--product", str(product.id), "--json")
    assert offered.exit_code == 0 and "cpu-python" in {i["key"] for i in json.loads(offered.stdout)}
    unknown = invoke("order", "place", str(product.id), "--image", "no-such-image")
    assert unknown.exit_code == 1 and "image" in flat(unknown.output)
    bad_port = invoke("order", "place", str(product.id), "--image", "cpu-python", "--port", "22")
    assert bad_port.exit_code == 1
    placed = invoke("order", "place", str(product.id), "--image", "cpu-python", "--port", "8080", "--json")
    assert placed.exit_code == 0, placed.output
    order = json.loads(placed.stdout)
    assert order["status"] == "provisioning" and order["charged"]["fen"] == 0

    waiting = invoke("ssh", order["id"], "--wait", "0", "--print")
    assert waiting.exit_code == 1 and "still provisioning" in flat(waiting.output)
    instances = json.loads(invoke("instances", "list", "--order", order["id"], "--json").stdout)["items"]
    assert [i["state"] for i in instances] == ["provisioning"] and instances[0]["delivery"] == "manual"

    # the seller sees the buyer's key to install, and delivers
    login(SELLER)
    shown = invoke("instances", "show", instances[0]["id"], "--json")
    assert shown.exit_code == 0, shown.output
    seen = json.loads(shown.stdout)
    assert seen["access"] is None and key.with_suffix(".pub").read_text().strip() in seen["authorized_keys"]
    malformed = invoke("instances", "deliver", instances[0]["id"], "--host", "gpu7.example.cn", "--user", "lab",
                       "--expose", "8080:gpu7")
    assert malformed.exit_code == 1 and "INSIDE=HOST:PORT" in flat(malformed.output)
    delivered = invoke("instances", "deliver", instances[0]["id"], "--host", "gpu7.example.cn", "--port", "30022",
                       "--user", "lab", "--expose", "8080=gpu7.example.cn:30080", "--json")
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout)["state"] == "running"

    login(BUYER)
    monkeypatch.setattr(cli_main.console, "_width", 80)
    table = invoke("instances", "list", "--order", order["id"])
    assert table.exit_code == 0, table.output
    assert all(len(line) <= 80 for line in table.output.splitlines())
    assert order["id"] in table.output and "running" in table.output
    assert "ssh -p 30022" in table.output and "lab@gpu7.example.cn" in table.output  # the command wraps in its cell
    command = invoke("ssh", order["id"], "--print", "-i", str(key))
    assert command.exit_code == 0, command.output
    assert flat(command.stdout).strip() == f"ssh -p 30022 -i {key} lab@gpu7.example.cn"
    detail = invoke("instances", "show", instances[0]["id"])
    assert "gpu7.example.cn:30080" in detail.output and re.search(UUID, detail.output)
    now = json.loads(invoke("order", "show", order["id"], "--json").stdout)
    assert now["status"] == "active"
    assert invoke("order", "release", order["id"]).exit_code == 0


def test_a_seller_refuses_a_machine_and_the_buyer_is_refunded_in_full(home):
    login(BUYER)
    product = hand_delivered_product()
    before = json.loads(invoke("wallet", "--json").stdout)["available"]["fen"]
    placed = invoke("order", "place", str(product.id), "--image", "cpu-python", "--json")
    assert placed.exit_code == 0, placed.output
    order = json.loads(placed.stdout)
    assert json.loads(invoke("wallet", "--json").stdout)["available"]["fen"] == before - order["held"]["fen"]
    instance = json.loads(invoke("instances", "list", "--order", order["id"], "--json").stdout)["items"][0]
    assert invoke("instances", "refuse", instance["id"], "--reason", "node in maintenance").exit_code == 1  # buyer
    login(SELLER)
    refused = invoke("instances", "refuse", instance["id"], "--reason", "node in maintenance")
    assert refused.exit_code == 0, refused.output and "refunded" in refused.output
    login(BUYER)
    ended = json.loads(invoke("order", "show", order["id"], "--json").stdout)
    assert ended["status"] == "cancelled" and ended["end_reason"] == "not_delivered"
    assert ended["charged"]["fen"] == 0
    assert json.loads(invoke("wallet", "--json").stdout)["available"]["fen"] == before
