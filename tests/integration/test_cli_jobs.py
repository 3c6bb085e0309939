"""`suanli demo --job`, `suanli jobs ...` and `suanli clusters ...` against the demo in a fresh SQLite home: the demo's
data centers run jobs as local processes; a job submitted by the demo buyer runs, finishes and is billed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.core.billing import SystemClock
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from suanli.jobs.scheduler import run_round
from cli_helpers import BUYER, SELLER, flat, forget_database, invoke, use_home

@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    path = tmp_path_factory.mktemp("suanli-jobs-home")
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, path, fast_passwords=True)
        result = invoke("demo", "--no-serve", "--job")
        assert result.exit_code == 0, result.output
        yield path, result.output
        forget_database()


def test_make_demo_runs_and_bills_a_job(home):
    path, output = home
    text = flat(output)
    assert re.search(r"demo job \S+: succeeded", text), output
    assert "你好 from a suanli job" in text and "devices: 0" in text
    match = re.search(r"billed ¥([\d,.]+) \(order", text)
    assert match and float(match.group(1).replace(",", "")) > 0, output
    assert any((path / "jobs").iterdir())  # the local cluster's work directories


def test_jobs_commands(home):
    assert invoke("login", BUYER, "--password", DEMO_PASSWORD).exit_code == 0
    listed = json.loads(invoke("jobs", "list", "--json").output)
    assert listed["total"] == 1 and listed["items"][0]["state"] == "succeeded"
    result = invoke("jobs", "submit", "cli job", "--command", "echo from the cli; sleep 300", "--accelerators", "1",
                    "--chip", "A800", "--max-runtime", "5", "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    database = default_database()
    deadline = time.monotonic() + 30
    while json.loads(invoke("jobs", "show", job["id"], "--json").output)["state"] != "running":
        assert time.monotonic() < deadline
        run_round(database, SystemClock())
        time.sleep(0.2)
    shown = invoke("jobs", "show", job["id"])
    assert "placed on" in flat(shown.output) and "why:" in shown.output
    deadline = time.monotonic() + 10
    while "from the cli" not in invoke("jobs", "logs", job["id"]).output:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cancelled = invoke("jobs", "cancel", job["id"])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    table = invoke("jobs", "list")
    assert "cli job" in table.output and "cancelled" in table.output
    nowhere = invoke("jobs", "submit", "nowhere", "--command", "true", "--accelerators", "1", "--province", "西藏",
                     "--json")
    run_round(database, SystemClock())
    explained = invoke("jobs", "show", json.loads(nowhere.output)["id"])
    assert "offers eliminated" in explained.output and "region" in explained.output
    bad = invoke("jobs", "submit", "bad", "--accelerators", "1")
    assert bad.exit_code == 1 and "--command" in bad.output


def test_clusters_commands(home, tmp_path):
    assert invoke("login", SELLER, "--password", DEMO_PASSWORD).exit_code == 0
    from sqlalchemy import select

    from suanli.accounts.models import User
    from suanli.catalog.models import Datacenter

    with default_database().unit_of_work(write=False) as session:
        org = session.scalar(select(User.organization_id).where(User.email == SELLER))
        dc = session.scalar(select(Datacenter.id).where(Datacenter.owner_org_id == org).order_by(Datacenter.id))
    listed = invoke("clusters", "list", str(dc), "--json")
    assert listed.exit_code == 0, listed.output
    assert [c["kind"] for c in json.loads(listed.output)] == ["local"]
    added = invoke("clusters", "add", str(dc), "gpu-slurm", "--kind", "slurm", "--endpoint", "http://127.0.0.1:9",
                   "--credential", "user=suanli", "--credential", "token=TOP-SECRET", "--option", "timeout=2",
                   "--json")
    assert added.exit_code == 0, added.output
    assert "TOP-SECRET" not in added.output and json.loads(added.output)["has_credentials"] is True
    table = invoke("clusters", "list", str(dc))
    assert "gpu-slurm" in table.output and "TOP-SECRET" not in table.output
    bad = invoke("clusters", "add", str(dc), "k8s", "--kind", "kubernetes", "--endpoint", "x")
    assert bad.exit_code == 1
    local = invoke("clusters", "add", str(dc), "on-the-platform", "--kind", "local", "--endpoint", str(tmp_path))
    assert local.exit_code == 1 and "only an operator" in flat(local.output), local.output

    slurm_id = json.loads(added.output)["id"]
    disabled = invoke("clusters", "disable", str(dc), slurm_id)
    assert disabled.exit_code == 0 and "disabled" in flat(disabled.output), disabled.output
    assert "disabled" in invoke("clusters", "list", str(dc)).output
    enabled = invoke("clusters", "enable", str(dc), slurm_id, "--json")
    assert enabled.exit_code == 0 and json.loads(enabled.output)["state"] == "active"
    kept = invoke("clusters", "delete", str(dc), slurm_id, input="n\n")
    assert kept.exit_code == 1 and "not deleted" in kept.output
    deleted = invoke("clusters", "delete", str(dc), slurm_id, "--yes")
    assert deleted.exit_code == 0 and "deleted" in flat(deleted.output), deleted.output
    assert "gpu-slurm" not in invoke("clusters", "list", str(dc)).output
    gone = invoke("clusters", "enable", str(dc), slurm_id)
    assert gone.exit_code == 1 and "no cluster" in flat(gone.output)


def test_a_seller_cannot_add_a_cluster_on_the_platforms_network(home, monkeypatch):
    monkeypatch.setenv("SUANLI_CLUSTER_ALLOWED_NETWORKS", "")
    assert invoke("login", SELLER, "--password", DEMO_PASSWORD).exit_code == 0
    from sqlalchemy import select

    from suanli.accounts.models import User
    from suanli.catalog.models import Datacenter

    with default_database().unit_of_work(write=False) as session:
        org = session.scalar(select(User.organization_id).where(User.email == SELLER))
        dc = session.scalar(select(Datacenter.id).where(Datacenter.owner_org_id == org).order_by(Datacenter.id))
    refused = invoke("clusters", "add", str(dc), "internal", "--kind", "ray", "--endpoint", "http://127.0.0.1:8265")
    assert refused.exit_code == 1
    text = flat(refused.output)
    assert "not allowed" in text and "127.0.0.1 (loopback)" in text and "SUANLI_CLUSTER_ALLOWED_NETWORKS" in text
