"""Jobs through the API onto the real Slurm and Ray clusters of the session (tests/backends/conftest.py): submit,
run, logs, cancel, billing; and a Slurm cluster killed mid-job: the job is requeued on another data center's
cluster, the unused hold of the lost placement is released, and when the cluster comes back the old run still
going there is cancelled by the scheduler."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from cluster_helpers import wait_until  # noqa: E402
from jobs_helpers import get_job, order_of, register_cluster, run_round, submit, wait_job  # noqa: E402
from trading_helpers import Market, checked_market  # noqa: E402

from suanli.core.billing import charge_for_seconds  # noqa: E402


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def _product(market: Market, price: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return market.seller_with_product(accelerators=1, vcpus=1, memory_gib=1, stock_units=4,
                                      price_on_demand_fen=price)


def slurm_site(market: Market, slurm_cluster, price: int = 6000):
    seller, product = _product(market, price)
    cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], slurm_cluster.url,
                               kind="slurm", name="slurm",
                               credentials={"user": slurm_cluster.user, "token": slurm_cluster.token},
                               options={"shared_dir": str(slurm_cluster.jobs_dir), "timeout": 3})
    return product, cluster


def ray_site(market: Market, ray_cluster, price: int = 6000):
    seller, product = _product(market, price)
    cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], ray_cluster.url,
                               kind="ray", name="ray", options={"remote_dir": str(ray_cluster.scratch / "remote")})
    return product, cluster


def _run_log_cancel(market: Market, product: dict[str, Any], cluster: dict[str, Any], kind: str) -> None:
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command='echo "hello from $SUANLI_JOB_ID"; cat input.txt; echo "cuda=[$CUDA_VISIBLE_DEVICES]"',
                 files={"input.txt": "the input\n"})
    placed = wait_job(market, buyer, job["id"], {"scheduled", "running", "succeeded"})
    assert placed["placement"]["backend"] == kind and placed["placement"]["cluster_id"] == cluster["id"]
    market.clock.advance(90)
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"}, pause=0.5)
    assert done["state"] == "succeeded" and done["exit_code"] == 0, done
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    assert f"hello from {job['id']}\nthe input\n" in logs
    assert "cuda=[" in logs and "cuda=[]" not in logs  # one accelerator, given by the cluster
    order = order_of(market, buyer, done["order_id"])
    assert order["status"] == "ended" and order["charged"]["fen"] == charge_for_seconds(6000, 1, 90)
    assert market.allocated(product) == 0

    long = submit(market, buyer, command="sleep 300")
    wait_job(market, buyer, long["id"], {"running"}, pause=0.5)
    market.clock.advance(30)
    r = market.client.post(f"/api/v1/jobs/{long['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert order_of(market, buyer, r.json()["order_id"])["charged"]["fen"] == charge_for_seconds(6000, 1, 30)
    assert market.allocated(product) == 0


def test_a_job_through_slurm(market, slurm_cluster) -> None:
    product, cluster = slurm_site(market, slurm_cluster)
    _run_log_cancel(market, product, cluster, "slurm")


def test_a_job_through_ray(market, ray_cluster) -> None:
    product, cluster = ray_site(market, ray_cluster)
    _run_log_cancel(market, product, cluster, "ray")


def test_slurm_cluster_killed_mid_job_requeues_elsewhere(market, slurm_cluster, tmp_path) -> None:
    slurm_product, slurm = slurm_site(market, slurm_cluster, price=5000)
    seller, local_product = _product(market, 9000)
    local = register_cluster(market, seller, local_product["datacenter"]["id"], [local_product],
                             str(tmp_path / "local-jobs"), name="local")
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command="sleep 300")
    running = wait_job(market, buyer, job["id"], {"running"}, pause=0.5)
    assert running["placement"]["cluster_id"] == slurm["id"]  # the cheaper place
    slurm_job = running["backend_job_id"]
    market.clock.advance(300)
    slurm_cluster.crash()  # the harness's `kill`: every daemon SIGKILLed
    try:
        moved = wait_job(market, buyer, job["id"], {"scheduled", "running"}, timeout=60)
        while moved["placement"] is None or moved["placement"]["cluster_id"] != local["id"]:
            moved = wait_job(market, buyer, job["id"], {"scheduled", "running"}, timeout=60)
        (attempt,) = moved["attempts"]
        assert attempt["kind"] == "lost" and attempt["cluster_failed"] is True
        assert attempt["cluster_id"] == slurm["id"] and "unreachable" in attempt["reason"]
        lost_order = order_of(market, buyer, moved["order_ids"][0])
        assert lost_order["status"] == "ended" and lost_order["held"]["fen"] == 0
        assert lost_order["charged"]["fen"] == charge_for_seconds(5000, 1, 300)  # the seconds it ran
        assert market.allocated(slurm_product) == 0 and market.allocated(local_product) == 1
        clusters = market.client.get(f"/api/v1/datacenters/{slurm_product['datacenter']['id']}/clusters",
                                     headers=market.operator["headers"]).json()
        assert clusters[0]["healthy"] is False
        r = market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
    finally:
        slurm_cluster.start()
        backend = slurm_cluster.backend()
        try:
            wait_until(lambda: backend.health().ok, "slurm to come back", timeout=60)
        finally:
            backend.close()
    try:
        # the cluster is healthy again after one good health check, and the old run, which outlived the crash
        # (slurmstepd) and is still going there, is cancelled by the same round: the job never runs twice
        summary = run_round(market)
        clusters = market.client.get(f"/api/v1/datacenters/{slurm_product['datacenter']['id']}/clusters",
                                     headers=market.operator["headers"]).json()
        assert clusters[0]["healthy"] is True
        reaped = [s for s in summary["strays"] if s["backend_job_id"] == slurm_job]
        assert len(reaped) == 1 and "cancel sent to cluster slurm" in reaped[0]["resolution"], summary["strays"]
        wait_until(lambda: _slurm_job_ended(slurm_cluster, slurm_job), "the old Slurm job to end", timeout=30)
        assert run_round(market)["strays"] == []  # once
        assert get_job(market, buyer, job["id"])["state"] == "cancelled"
    finally:
        backend = slurm_cluster.backend()
        try:
            backend.cancel(slurm_job)  # whatever happened above, leave no run behind (a no-op once cancelled)
        finally:
            backend.close()


def _slurm_job_ended(slurm_cluster, job_id: str) -> bool:
    """Cancelled; or failed with its node (slurmd came back after slurmctld) and its steps killed; or no longer
    known to the restarted controller (whose slurmd then kills the orphaned steps)."""
    try:
        shown = slurm_cluster.scontrol("show", "job", job_id)
    except RuntimeError as exc:
        return "Invalid job id" in str(exc)
    return any(f"JobState={state}" in shown for state in ("CANCELLED", "NODE_FAIL"))


def test_a_gang_through_a_two_node_slurm(market, slurm_gang_cluster) -> None:
    """A job of 8 A800 on a product of 4-A800 servers: 2 units, one order, one Slurm job over both nodes."""
    seller, product = market.seller_with_product(accelerators=4, vcpus=1, memory_gib=1, stock_units=2,
                                                 price_on_demand_fen=6000)
    register_cluster(market, seller, product["datacenter"]["id"], [product], slurm_gang_cluster.url, kind="slurm",
                     name="slurm2", credentials={"user": slurm_gang_cluster.user, "token": slurm_gang_cluster.token},
                     options={"shared_dir": str(slurm_gang_cluster.jobs_dir), "timeout": 3})
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command='echo "rank=$RANK world=$WORLD_SIZE host=$SLURMD_NODENAME '
                                        'cuda=[$CUDA_VISIBLE_DEVICES]"',
                 resources={"accelerators": 8, "chip": "A800"})
    placed = wait_job(market, buyer, job["id"], {"scheduled", "running", "succeeded"})
    assert placed["placement"]["units"] == 2 and placed["placement"]["reason"].startswith("gang of 2 servers")
    market.clock.advance(60)
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"}, pause=0.5)
    assert done["state"] == "succeeded", done
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    ranks = sorted(line for line in logs.splitlines() if line.startswith("rank="))
    assert ranks == ["rank=0 world=2 host=gang1 cuda=[0,1,2,3]", "rank=1 world=2 host=gang2 cuda=[0,1,2,3]"], logs
    order = order_of(market, buyer, done["order_id"])
    assert order["units"] == 2 and order["charged"]["fen"] == charge_for_seconds(6000, 2, 60)
    assert market.allocated(product) == 0
