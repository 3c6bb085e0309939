"""A lease delivered end to end on the sandboxed ``local`` backend, through the platform: a buyer orders a container
product, the instance loop starts it, a real ``ssh`` logs in (host key checked against the platform's fingerprints
the way ``suanli ssh`` does), JupyterLab answers with the token, billing runs from delivery, a restart of the loop
finds the instance and stops only an orphan, and release stops every process. Needs root (the sandbox)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from instance_helpers import add_key, instances_of, keypair, loop, order_row
from suanli.backends.instances import InstanceRunState, InstanceSpec
from suanli.backends.local import LocalBackend
from suanli.catalog.models import Product
from suanli.core.billing import charge_for_seconds
from suanli.db import utcnow
from suanli.jobs.models import Cluster, ClusterKind
from trading_helpers import Market, checked_market

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local backend's sandbox needs root")
PRICE_FEN = 8000  # the test product's on-demand price per unit-hour


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


@pytest.fixture
def base_dir(tmp_path_factory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("local-cluster")
    yield path
    backend = LocalBackend(path, grace_seconds=2)
    for run in backend.instance_runs():  # whatever a failing test left running
        backend.stop_instance(run)
    backend.close()


def local_machine(market: Market, base_dir: Path) -> tuple[dict[str, Any], dict[str, Any], uuid.UUID]:
    """A seller's container product on a local cluster (registered the way the demo's are)."""
    seller, product = market.seller_with_product(delivery="container", accelerators=1, vcpus=4, memory_gib=4,
                                                 price_on_demand_fen=PRICE_FEN)
    with market.db.unit_of_work() as session:
        cluster = Cluster(datacenter_id=uuid.UUID(product["datacenter"]["id"]), name="local", kind=ClusterKind.LOCAL,
                          endpoint=str(base_dir), credentials={}, options={"grace_seconds": 2}, healthy=True,
                          health_detail="", consecutive_failures=0, created_at=utcnow())
        session.add(cluster)
        session.flush()
        session.execute(update(Product).where(Product.id == uuid.UUID(product["id"])).values(cluster_id=cluster.id))
        cluster_id = cluster.id
    return seller, product, cluster_id


def wait_running(market: Market, buyer: dict[str, Any], order_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        loop(market)
        (instance,) = instances_of(market, buyer, order_id)
        if instance["state"] != "provisioning":
            return instance
        if time.monotonic() > deadline:
            pytest.fail(f"still provisioning after {timeout} s: {instance['state_detail']}")
        time.sleep(0.3)


def ssh(instance: dict[str, Any], key: Path, command: str, known_hosts: Path) -> subprocess.CompletedProcess[str]:
    access = instance["access"]
    return subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                           "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
                           "-o", "LogLevel=ERROR", "-p", str(access["ssh_port"]),
                           f"{access['ssh_user']}@{access['ssh_host']}", command],
                          capture_output=True, text=True, timeout=60)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


def test_a_container_lease_is_delivered_used_billed_and_stopped(market: Market, base_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seller, product, cluster_id = local_machine(market, base_dir)
    buyer = market.buyer(1_000_000)
    key, public = keypair(tmp_path)
    add_key(market, buyer, public)

    began = time.monotonic()
    r = market.order(buyer, product, image="cpu-python", ports=[9000])
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "provisioning"
    (waiting,) = instances_of(market, buyer, order["id"])
    assert waiting["delivery"] == "automated"
    instance = wait_running(market, buyer, order["id"])
    assert instance["state"] == "running", instance
    delivered_in = time.monotonic() - began
    access = instance["access"]
    assert access["ssh_user"] == "user" and access["ssh_host"] == "127.0.0.1"
    assert access["ssh_host_key_fingerprints"] and access["jupyter_link"].endswith("lab?token=" + access[
        "jupyter_link"].rsplit("=", 1)[1])
    started = order_row(market, order["id"])
    assert started["status"] == "active"
    assert dt.datetime.fromisoformat(started["started_at"]) == market.clock.now()  # billed from delivery

    # `suanli ssh` checks the host key against the platform's fingerprints before it connects
    from suanli.cli.instances import _known_hosts

    with monkeypatch.context() as patched:  # the CLI's own home (the server's key stays where it is)
        patched.setenv("SUANLI_HOME", str(tmp_path / "cli-home"))
        known = _known_hosts(instance)
    assert known is not None
    checkout = Path(__file__).resolve().parents[2]  # the server's code (JupyterLab's venv is all it sees of it)
    out = ssh(instance, key, f"id -u; echo $HOME; ls {checkout / 'src'} 2>&1; ls {tmp_path} 2>&1; "
                             "cat /etc/shadow 2>&1 | head -c 80", known)
    assert out.returncode == 0, out.stderr
    uid, home, *rest = out.stdout.splitlines()
    assert int(uid) not in (0, os.getuid()) and home == "/home/user"
    assert len(rest) == 3 and all("No such file or directory" in line for line in rest), rest
    print(f"order → SSH login: {time.monotonic() - began:.1f} s (running after {delivered_in:.1f} s)")

    # JupyterLab answers with the token only
    token = access["jupyter_link"].rsplit("=", 1)[1]
    base = access["jupyter_url"].rstrip("/")
    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=10) as response:
        assert response.status == 200 and "started" in json.loads(response.read())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/api/status", timeout=10)
    assert refused.value.code == 403
    host, port = access["ports"]["9000"]
    assert port != 9000 and isinstance(port, int)

    # the meter bills from delivery
    market.clock.advance(600)
    run = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]).json()
    assert run["metered"] >= 1
    assert order_row(market, order["id"])["charged"]["fen"] == charge_for_seconds(PRICE_FEN, 1, 600)

    # a restarted server's loop finds the instance and keeps it; an orphan run (no live instance names it) is
    # stopped by the sweep
    backend = LocalBackend(base_dir, grace_seconds=2)
    orphan = backend.start_instance(InstanceSpec(
        instance_id=f"orphan-{uuid.uuid4().hex[:8]}", image="cpu-python", authorized_keys=(public,),
        jupyter_token=uuid.uuid4().hex + uuid.uuid4().hex, memory_gib=1))
    summary = loop(market, orphans=True)
    assert summary.orphans == [orphan] and summary.stopped == []
    assert backend.instance_status(orphan).state is InstanceRunState.STOPPED
    assert instances_of(market, buyer, order["id"])[0]["state"] == "running"
    assert ssh(instance, key, "true", known).returncode == 0

    # release: billing stops at once, the machine within the loop's next pass
    market.clock.advance(60)
    released = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    assert released["status"] == "ended" and released["charged"]["fen"] == charge_for_seconds(PRICE_FEN, 1, 660)
    summary = loop(market)
    assert summary.stopped == [instance["id"]]
    assert instances_of(market, buyer, order["id"])[0]["state"] == "stopped"
    run_id = next(iter(backend.instance_runs()), None)
    assert run_id is None  # nothing of it runs on the machine
    assert not port_open(access["ssh_host"], access["ssh_port"])
    assert not port_open(host, port)
    backend.close()


def test_a_machine_that_stops_while_starting_says_why_in_the_pages_language(market: Market, base_dir: Path,
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend's own sentence for why a machine ended ("sshd exited") stays translatable through the machine's
    life cycle: English in the API, Chinese on the zh-CN machine list of the order, and never cut into pieces."""
    from suanli.backends.instances import InstanceRunStatus
    from suanli.backends.local.instances import EXIT_REASONS

    _seller, product, _cluster = local_machine(market, base_dir)
    buyer = market.buyer(1_000_000)
    add_key(market, buyer, keypair(tmp_path)[1])
    monkeypatch.setattr(LocalBackend, "start_instance", lambda self, spec: "run-that-fails")
    monkeypatch.setattr(LocalBackend, "instance_status",
                        lambda self, run_id: InstanceRunStatus(InstanceRunState.FAILED, detail=EXIT_REASONS[10]))
    monkeypatch.setattr(LocalBackend, "stop_instance", lambda self, run_id: None)
    r = market.order(buyer, product, image="cpu-python")
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    for _ in range(3):
        loop(market)
    (instance,) = instances_of(market, buyer, order_id)
    assert instance["state"] == "failed", instance
    assert "it stopped on its cluster: sshd exited" in instance["state_detail"]

    page = market.client
    page.get("/login")
    html = page.get("/login").text
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = page.post("/login", data={"email": buyer["email"], "password": "correct-horse-battery", "csrf_token": token},
                  follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    zh = page.get(f"/account/orders/{order_id}/instances").text
    assert "sshd 已退出" in zh and "sshd exited" not in zh
    en = page.get(f"/account/orders/{order_id}/instances?lang=en").text
    assert "sshd exited" in en
