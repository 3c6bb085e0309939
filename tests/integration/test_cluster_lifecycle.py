"""Sellers disable, enable and delete their clusters through the API (SQLite and PostgreSQL, real local runs): a
disabled cluster takes no new jobs or instances; deleting one with work on it drains it (no new work) until the
scheduler deletes it once the work has ended; a deleted cluster's products lose their cluster."""

from __future__ import annotations

import uuid

from instance_helpers import add_key, keypair, machine_product
from jobs_helpers import get_job, register_cluster, run_round, submit, wait_job
from test_jobs_api import market, site  # noqa: F401  (the market fixture and a seller's local cluster)
from trading_helpers import quick_user


def cluster_url(product: dict, cluster: dict, action: str = "") -> str:
    return f"/api/v1/datacenters/{product['datacenter']['id']}/clusters/{cluster['id']}{action}"


def act(market, user, product, cluster, action: str, expect: int = 200) -> dict:
    path = cluster_url(product, cluster, "" if action == "delete" else f"/{action}")
    r = (market.client.delete(path, headers=user["headers"]) if action == "delete"
         else market.client.post(path, headers=user["headers"]))
    assert r.status_code == expect, r.text
    return r.json()


def test_a_disabled_cluster_takes_no_new_jobs_until_enabled(market, tmp_path):  # noqa: F811
    seller, product, cluster = site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    disabled = act(market, seller, product, cluster, "disable")
    assert disabled["state"] == "disabled" and disabled["product_ids"] == [product["id"]]
    assert act(market, seller, product, cluster, "disable")["state"] == "disabled"  # idempotent
    job = submit(market, buyer)
    summary = run_round(market)
    assert summary["placed"] == [] and summary["clusters_checked"] == 1  # still watched, not placed on
    assert get_job(market, buyer, job["id"])["state"] == "queued"

    assert act(market, seller, product, cluster, "enable")["state"] == "active"
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done["state_detail"]
    assert done["placement"]["cluster_id"] == cluster["id"]


def test_deleting_a_busy_cluster_drains_it_then_the_scheduler_deletes_it(market, tmp_path):  # noqa: F811
    seller, product, cluster = site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    running = submit(market, buyer, command="sleep 300")
    wait_job(market, buyer, running["id"], {"running"})

    draining = act(market, seller, product, cluster, "delete")
    assert draining["state"] == "draining" and draining["deleted_at"] is None
    conflict = act(market, seller, product, cluster, "disable", expect=409)
    assert conflict["error"]["code"] == "cluster_draining" and "enable" in conflict["error"]["message"]
    queued = submit(market, buyer)
    summary = run_round(market)
    assert summary["placed"] == [] and summary["clusters_deleted"] == []
    assert get_job(market, buyer, running["id"])["state"] == "running"  # the work on it goes on

    r = market.client.post(f"/api/v1/jobs/{running['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    summary = run_round(market)
    assert summary["clusters_deleted"] == [cluster["id"]] and summary["placed"] == []
    r = market.client.get(cluster_url(product, cluster), headers=seller["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "cluster_not_found"
    listed = market.client.get(f"/api/v1/datacenters/{product['datacenter']['id']}/clusters",
                               headers=seller["headers"]).json()
    assert listed == []
    assert get_job(market, buyer, queued["id"])["state"] == "queued"  # its product has no cluster any more
    pinned = submit(market, buyer, expect=422, constraints={"products": [product["id"]]})
    assert pinned["error"]["code"] == "product_not_schedulable"
    ended = get_job(market, buyer, running["id"])  # the job that ran there still names its cluster
    assert ended["state"] == "cancelled" and ended["placement"]["cluster_id"] == cluster["id"]
    again = register_cluster(market, seller, product["datacenter"]["id"], [product], str(tmp_path / "again"))
    assert again["name"] == cluster["name"]  # the name is free again


def test_enabling_a_draining_cluster_keeps_it(market, tmp_path):  # noqa: F811
    seller, product, cluster = site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command="sleep 300")
    wait_job(market, buyer, job["id"], {"running"})
    assert act(market, seller, product, cluster, "delete")["state"] == "draining"
    assert act(market, seller, product, cluster, "enable")["state"] == "active"
    market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert run_round(market)["clusters_deleted"] == []
    assert act(market, seller, product, cluster, "disable")["state"] == "disabled"


def test_deleting_an_idle_cluster_is_immediate_and_erases_its_credentials(market):  # noqa: F811
    from suanli.jobs.models import Cluster

    seller, product = market.seller_with_product()
    cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], "http://127.0.0.1:9",
                               kind="slurm", credentials={"user": "suanli", "token": "jwt-secret"})
    deleted = act(market, seller, product, cluster, "delete")
    assert deleted["state"] == "deleted" and deleted["deleted_at"] and deleted["product_ids"] == []
    assert deleted["has_credentials"] is False
    with market.db.unit_of_work(write=False) as session:
        row = session.get(Cluster, uuid.UUID(cluster["id"]))
        assert row.credentials == {} and row.name.startswith(f"{cluster['name']} (deleted ")
    assert act(market, seller, product, cluster, "enable", expect=404)["error"]["code"] == "cluster_not_found"
    assert act(market, seller, product, cluster, "delete", expect=404)["error"]["code"] == "cluster_not_found"


def test_only_the_clusters_seller_or_an_operator_changes_it(market, tmp_path):  # noqa: F811
    seller, product, cluster = site(market, tmp_path)
    other = quick_user(market.db, "seller")
    buyer = market.buyer()
    for user, code in ((other, "not_owner"), (buyer, None)):
        for action in ("disable", "enable", "delete"):
            body = act(market, user, product, cluster, action, expect=403)
            if code:
                assert body["error"]["code"] == code
    assert act(market, market.operator, product, cluster, "disable")["state"] == "disabled"
    missing = {"id": str(uuid.uuid4())}
    assert act(market, seller, product, missing, "disable", expect=404)["error"]["code"] == "cluster_not_found"


def test_machines_are_not_ordered_on_a_disabled_cluster(market, tmp_path):  # noqa: F811
    seller, product = machine_product(market)
    cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], str(tmp_path / "jobs"))
    buyer = market.buyer(topup_fen=100_000)
    add_key(market, buyer, keypair(tmp_path)[1])
    act(market, seller, product, cluster, "disable")
    r = market.order(buyer, product, image="cuda-pytorch")
    assert r.status_code == 409 and r.json()["error"]["code"] == "cluster_disabled", r.text
    assert "another product" in r.json()["error"]["message"]
    assert market.allocated(product) == 0
    act(market, seller, product, cluster, "enable")
    r = market.order(buyer, product, image="cuda-pytorch")
    assert r.status_code == 201, r.text
