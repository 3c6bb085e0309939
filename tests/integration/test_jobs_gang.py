"""Gang jobs end to end through the API on the local backend (real sandboxed ranks), on SQLite and PostgreSQL: a job
larger than one server runs on several servers of one cluster of one data center, all or nothing, one order per
product; a failing rank stops the gang and every part is charged only for what ran; a part that cannot start
leaves nothing charged and no stock held; a job no cluster could ever hold is refused at submit; racing rounds
never place a gang twice nor over-allocate its products."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import get_job, order_of, race_rounds, register_cluster, run_round, submit, wait_job
from sqlalchemy import select
from trading_helpers import Market, checked_market

from suanli.backends.local.backend import LocalBackend
from suanli.core.billing import charge_for_seconds
from suanli.jobs.models import Job
from suanli.trading.models import Order, OrderStatus

RANK_LINE = 'echo "rank=$RANK world=$WORLD_SIZE node=$NODE_RANK cuda=[$CUDA_VISIBLE_DEVICES]"'


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def gang_site(market: Market, tmp_path: Path, stocks: tuple[int, ...] = (2, 1), price: int = 8000):
    """One data center with a product of 8×A800 servers per entry of ``stocks`` (its stock), all on one local
    cluster."""
    seller, first = market.seller_with_product(stock_units=stocks[0], price_on_demand_fen=price)
    datacenter = first["datacenter"]
    products = [first] + [market.make.product(seller, datacenter, stock_units=n, price_on_demand_fen=price)
                          for n in stocks[1:]]
    cluster = register_cluster(market, seller, datacenter["id"], products, str(tmp_path / "jobs-gang"))
    return datacenter, products, cluster


def orders_of(market: Market, buyer: dict[str, Any], job: dict[str, Any]) -> list[dict[str, Any]]:
    return [order_of(market, buyer, order_id) for order_id in job["order_ids"]]


def test_a_job_larger_than_any_product_runs_as_one_gang_across_products(market, tmp_path):
    datacenter, products, cluster = gang_site(market, tmp_path, stocks=(2, 1))
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command=RANK_LINE, resources={"accelerators": 24, "chip": "A800"})
    summary = run_round(market)
    assert [p["job_id"] for p in summary["placed"]] == [job["id"]]
    placed = get_job(market, buyer, job["id"])
    p = placed["placement"]
    assert (p["datacenter_id"], p["cluster_id"], p["units"], p["hourly_price_fen"]) == \
        (datacenter["id"], cluster["id"], 3, 3 * 8000)
    assert p["reason"].startswith(f"gang of 3 servers in {p['datacenter_name']}, all or nothing: 24×a800"), p["reason"]
    assert p["reason_message"][0]["msg"].startswith("gang of %(servers)s servers")
    # one order per product, each holding its units for the job's maximum runtime
    orders = orders_of(market, buyer, placed)
    assert sorted((o["product_id"], o["units"], o["status"]) for o in orders) == \
        sorted([(products[0]["id"], 2, "active"), (products[1]["id"], 1, "active")])
    assert sorted((x["product_id"], x["units"], x["order_id"]) for x in p["parts"]) == \
        sorted((o["product_id"], o["units"], o["id"]) for o in orders)
    assert [market.allocated(x) for x in products] == [2, 1]
    assert market.wallet(buyer)["held"]["fen"] == charge_for_seconds(8000, 3, 120 * 60)

    market.clock.advance(600)
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    for rank, devices in enumerate(("0,1,2,3,4,5,6,7", "8,9,10,11,12,13,14,15", "16,17,18,19,20,21,22,23")):
        assert f"==> rank {rank} <==\nrank={rank} world=3 node={rank} cuda=[{devices}]\n" in logs, logs
    orders = orders_of(market, buyer, done)
    assert all(o["status"] == "ended" for o in orders)
    charged = sum(o["charged"]["fen"] for o in orders)
    assert charged == charge_for_seconds(8000, 2, 600) + charge_for_seconds(8000, 1, 600)
    wallet = market.wallet(buyer)
    assert wallet["available"]["fen"] == 100_000 - charged and wallet["held"]["fen"] == 0
    assert [market.allocated(x) for x in products] == [0, 0]


def test_a_job_on_several_units_of_one_product_runs_one_rank_per_server(market, tmp_path):
    _, products, _ = gang_site(market, tmp_path, stocks=(4,))
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command=RANK_LINE, resources={"accelerators": 16, "chip": "A800"})
    run_round(market)
    placed = get_job(market, buyer, job["id"])
    assert placed["placement"]["units"] == 2 and len(placed["order_ids"]) == 1 and placed["placement"]["parts"] == []
    assert placed["placement"]["reason"].startswith("gang of 2 servers in "), placed["placement"]["reason"]
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    assert "rank=0 world=2 node=0 cuda=[0,1,2,3,4,5,6,7]" in logs and "rank=1 world=2 node=1" in logs, logs
    assert market.allocated(products[0]) == 0


def test_a_failing_rank_stops_the_gang_and_each_part_pays_only_for_what_ran(market, tmp_path):
    _, products, _ = gang_site(market, tmp_path, stocks=(2, 1))
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command='if [ "$RANK" = 2 ]; then sleep 1; exit 3; fi; sleep 300',
                 resources={"accelerators": 24, "chip": "A800"})
    wait_job(market, buyer, job["id"], {"running", "failed"})
    market.clock.advance(300)
    done = wait_job(market, buyer, job["id"], {"failed", "succeeded"})
    assert done["state"] == "failed" and done["exit_code"] == 3, done
    assert "rank 2 of 3" in done["state_detail"] and "the other ranks were stopped" in done["state_detail"]
    orders = orders_of(market, buyer, done)
    assert len(orders) == 2 and all(o["status"] == "ended" for o in orders)
    assert sorted(o["charged"]["fen"] for o in orders) == sorted(
        [charge_for_seconds(8000, 2, 300), charge_for_seconds(8000, 1, 300)])
    assert market.wallet(buyer)["held"]["fen"] == 0
    assert [market.allocated(x) for x in products] == [0, 0]


def test_a_part_that_cannot_start_requeues_the_gang_with_nothing_charged(market, tmp_path, monkeypatch):
    _, products, _ = gang_site(market, tmp_path, stocks=(2, 1))
    buyer = market.buyer(topup_fen=100_000)
    start_run = LocalBackend._submit_run
    started: list[str] = []

    def rank_one_fails(self, spec, run_name):
        if run_name.endswith(".1"):
            raise OSError("the machine of rank 1 is gone")
        started.append(start_run(self, spec, run_name))
        return started[-1]

    monkeypatch.setattr(LocalBackend, "_submit_run", rank_one_fails)
    job = submit(market, buyer, command="sleep 300", resources={"accelerators": 24, "chip": "A800"})
    summary = run_round(market)
    assert not summary["placed"] and summary["requeued"][0]["job_id"] == job["id"]
    queued = get_job(market, buyer, job["id"])
    assert queued["state"] == "queued" and queued["attempts"][0]["kind"] == "submit_failed"
    assert "rank 1 is gone" in queued["attempts"][0]["reason"]
    orders = orders_of(market, buyer, queued)
    assert len(orders) == 2 and all(o["status"] == "cancelled" and o["charged"]["fen"] == 0 for o in orders)
    wallet = market.wallet(buyer)
    assert wallet["available"]["fen"] == 100_000 and wallet["held"]["fen"] == 0
    assert [market.allocated(x) for x in products] == [0, 0]
    # rank 0 had started: it was stopped with the gang, not left running
    backend = LocalBackend(str(tmp_path / "jobs-gang"))
    assert started and backend.status(started[0]).state.value == "cancelled"


def test_a_job_no_cluster_could_ever_hold_is_refused_at_submit(market, tmp_path):
    datacenter, _, _ = gang_site(market, tmp_path, stocks=(2, 1))
    buyer = market.buyer(topup_fen=100_000)
    r = market.client.post("/api/v1/jobs", headers=buyer["headers"], json={
        "name": "too big", "command": "true", "resources": {"accelerators": 32, "chip": "A800"},
        "max_runtime_minutes": 60})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "job_too_large"
    assert error["details"]["largest_accelerators"] == 24 and error["details"]["datacenter"] == datacenter["name"]
    assert "24" in error["message"]
    # what does fit (all of one cluster) is accepted; a chip nobody lists yet is queued and explained, not refused
    submit(market, buyer, resources={"accelerators": 24, "chip": "A800"})
    submit(market, buyer, resources={"accelerators": 64, "chip": "910B"})


@pytest.mark.parametrize("use_lock", [True, False])
def test_racing_rounds_place_one_gang_once_and_never_over_allocate(market, tmp_path, use_lock):
    _, products, _ = gang_site(market, tmp_path, stocks=(2, 1))
    buyers = [market.buyer(topup_fen=100_000) for _ in range(3)]
    jobs = [submit(market, b, command="sleep 300", resources={"accelerators": 24, "chip": "A800"}) for b in buyers]
    results = race_rounds(market, 4, lock=use_lock)
    placed = [p["job_id"] for r in results for p in r.placed]
    assert len(placed) == 1 and placed[0] in {j["id"] for j in jobs}  # the stock holds one gang, placed once
    assert [market.allocated(x) for x in products] == [2, 1]
    with market.db.unit_of_work(write=False) as session:
        for job in session.scalars(select(Job)):
            statuses = [session.get_one(Order, uuid.UUID(o)).status for o in job.order_ids]
            if str(job.id) == placed[0]:
                assert statuses == [OrderStatus.ACTIVE, OrderStatus.ACTIVE]  # every part, or ...
            else:
                assert OrderStatus.ACTIVE not in statuses  # ... none
    owner = next(b for b, j in zip(buyers, jobs, strict=True) if j["id"] == placed[0])
    r = market.client.post(f"/api/v1/jobs/{placed[0]}/cancel", headers=owner["headers"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert [market.allocated(x) for x in products] == [0, 0]


def test_a_cluster_that_cannot_run_the_gang_is_blocked_whole_and_the_gang_runs_elsewhere(market, tmp_path,
                                                                                        monkeypatch):
    """A cluster whose backend refuses gangs (Ray's does) is blocked for the job as a whole: the failover goes to
    another data center's cluster in the same round instead of trying the first cluster's other products."""
    from suanli import backends

    _, near, refusing = gang_site(market, tmp_path / "near", stocks=(3, 3), price=5000)
    far_dc, far, able = gang_site(market, tmp_path / "far", stocks=(3,), price=9000)
    submit_run = LocalBackend.submit

    def refuses_gangs(self, spec):
        if spec.nodes > 1 and "near" in str(self.base_dir):
            raise backends.InvalidJobSpec(f"a gang of {spec.nodes} servers cannot run here", kind="local")
        return submit_run(self, spec)

    monkeypatch.setattr(LocalBackend, "submit", refuses_gangs)
    buyer = market.buyer(topup_fen=1_000_000)
    job = submit(market, buyer, command="sleep 300", resources={"accelerators": 24, "chip": "A800"})
    summary = run_round(market)
    assert [p["job_id"] for p in summary["placed"]] == [job["id"]]
    placed = get_job(market, buyer, job["id"])
    assert placed["placement"]["cluster_id"] == able["id"], placed["placement"]
    (attempt,) = placed["attempts"]
    assert (attempt["cluster_id"], attempt["cluster_failed"], attempt["blocks"]) == (refusing["id"], True, True)
    assert "cannot run here" in attempt["reason"]
    assert [market.allocated(p) for p in near] == [0, 0] and market.allocated(far[0]) == 3
    r = market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert r.status_code in (200, 202), r.text
