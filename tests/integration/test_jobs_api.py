"""Jobs end to end through the API on the local backend (real subprocesses), on SQLite and PostgreSQL: placement,
billing through the trading ledger, logs, cancel, unplaceable explanations, spot preemption, failover, and no
double placement when scheduler rounds race."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_helpers import get_job, order_of, race_rounds, register_cluster, run_round, submit, wait_job, wait_pid
from sqlalchemy import func, select
from trading_helpers import Market, checked_market, quick_user

from suanli.core.billing import charge_for_seconds
from suanli.jobs.models import Job
from suanli.trading.models import Order


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def site(market: Market, tmp_path: Path, name: str = "main", **product: object):
    """A seller with one product on a local cluster of its data center."""
    seller, prod = market.seller_with_product(**product)
    cluster = register_cluster(market, seller, prod["datacenter"]["id"], [prod], str(tmp_path / f"jobs-{name}"),
                               name=name)
    return seller, prod, cluster


def test_a_job_runs_finishes_and_is_billed_exactly(market, tmp_path):
    seller, product, cluster = site(market, tmp_path, price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command='echo "hello $FOO"; cat input.txt; echo "cuda=[$CUDA_VISIBLE_DEVICES]"',
                 env={"FOO": "bar"}, files={"input.txt": "the input\n"},
                 constraints={"provinces": ["安徽省"]})
    assert job["state"] == "queued" and job["placement"] is None

    summary = run_round(market)
    assert [p["job_id"] for p in summary["placed"]] == [job["id"]]
    placed = get_job(market, buyer, job["id"])
    assert placed["state"] in ("scheduled", "running")
    p = placed["placement"]
    assert (p["product_id"], p["datacenter_id"], p["cluster_id"], p["backend"], p["units"]) == \
        (product["id"], product["datacenter"]["id"], cluster["id"], "local", 1)
    assert p["reason"] and p["datacenter_name"]
    assert f'({p["datacenter_name"]})' in p["reason"] and p["datacenter_id"] not in p["reason"]  # names, not ids
    order = order_of(market, buyer, placed["order_id"])
    assert order["status"] == "active" and order["held"]["fen"] == charge_for_seconds(8000, 1, 120 * 60)  # max runtime
    assert market.allocated(product) == 1

    market.clock.advance(600)
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["exit_code"] == 0, done
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"]).json()["logs"]
    assert "hello bar\nthe input\ncuda=[0,1,2,3,4,5,6,7]\n" in logs  # one unit of an 8×A800 product
    order = order_of(market, buyer, placed["order_id"])
    charged = charge_for_seconds(8000, 1, 600)
    assert order["status"] == "ended" and order["charged"]["fen"] == charged and order["held"]["fen"] == 0
    wallet = market.wallet(buyer)
    assert wallet["available"]["fen"] == 100_000 - charged and wallet["held"]["fen"] == 0
    assert market.allocated(product) == 0
    listed = market.client.get("/api/v1/jobs", headers=buyer["headers"]).json()
    assert listed["total"] == 1 and listed["items"][0]["state"] == "succeeded"
    # the seller sees the job placed in its data center; another buyer does not
    assert market.client.get(f"/api/v1/jobs/{job['id']}", headers=seller["headers"]).status_code == 200
    other = market.buyer()
    assert market.client.get(f"/api/v1/jobs/{job['id']}", headers=other["headers"]).status_code == 404


def test_a_failing_job_fails_with_its_exit_code_and_is_billed(market, tmp_path):
    site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command="echo about to fail; exit 3")
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "failed" and done["exit_code"] == 3
    assert order_of(market, buyer, done["order_id"])["status"] == "ended"
    # it ran, whether a round saw it running or not: it has a start; its end is worded once, translatably
    assert done["started_at"] is not None and done["started_at"] <= done["ended_at"]
    assert done["state_detail"] == "failed (exit code 3)", done["state_detail"]
    assert done["state_detail_message"] == {"msg": "failed (exit code %(code)s)", "args": {"code": "3"}}


def test_an_unplaceable_job_says_why(market, tmp_path):
    site(market, tmp_path)
    site(market, tmp_path, name="second")
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, constraints={"provinces": ["北京"]})
    summary = run_round(market)
    assert not summary["placed"]
    job = get_job(market, buyer, job["id"])
    assert job["state"] == "queued"
    assert job["unplaceable"]["eliminated"] == {"region": 2}
    assert job["unplaceable"]["offers_considered"] == 2
    assert "not placed" in job["state_detail"]
    # larger than any cluster even idle (each site holds 32 A800): refused at submit (see test_jobs_gang.py)
    too_big = submit(market, buyer, expect=422, resources={"accelerators": 64, "chip": "A800"})
    assert too_big["error"]["code"] == "job_too_large"


def test_cancel_a_running_job_charges_the_seconds_used(market, tmp_path):
    _, product, _ = site(market, tmp_path, price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command="sleep 300")
    wait_job(market, buyer, job["id"], {"running"})
    market.clock.advance(120)
    r = market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["state"] == "cancelled"
    order = order_of(market, buyer, cancelled["order_id"])
    assert order["status"] == "ended" and order["charged"]["fen"] == charge_for_seconds(8000, 1, 120)
    assert market.allocated(product) == 0
    r = market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "job_not_cancellable"
    # a queued job is cancelled at once, nothing held
    queued = submit(market, buyer, constraints={"provinces": ["北京"]})
    r = market.client.post(f"/api/v1/jobs/{queued['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled" and r.json()["order_id"] is None


def test_spot_job_is_preempted_by_on_demand_then_requeued(market, tmp_path):
    _, product, _ = site(market, tmp_path, stock_units=1, price_on_demand_fen=8000, price_spot_floor_fen=3000)
    spotter = market.buyer(topup_fen=100_000)
    spot = submit(market, spotter, command="sleep 300", mode="spot", bid_hourly_fen=5000)
    running = wait_job(market, spotter, spot["id"], {"running"})
    spot_order = order_of(market, spotter, running["order_id"])
    assert spot_order["mode"] == "spot" and spot_order["unit_price"]["fen"] == 3000  # spot pays the floor

    market.clock.advance(60)
    buyer = market.buyer(topup_fen=100_000)
    urgent = submit(market, buyer, command="sleep 300")
    summary = run_round(market)
    assert summary["preempted"] == [spot["id"]]
    assert [p["job_id"] for p in summary["placed"]] == [urgent["id"]]
    preempted = get_job(market, spotter, spot["id"])
    assert preempted["state"] == "preempted" and preempted["placement"] is None
    (attempt,) = preempted["attempts"]
    assert attempt["kind"] == "preempted" and attempt["blocks"] is False and urgent["id"] in attempt["reason"]
    assert order_of(market, spotter, running["order_id"])["charged"]["fen"] == charge_for_seconds(3000, 1, 60)
    run_round(market)  # the next round has it in the queue again: no room while the on-demand job runs
    assert get_job(market, spotter, spot["id"])["unplaceable"]["eliminated"] == {"capacity_busy": 1}

    r = market.client.post(f"/api/v1/jobs/{urgent['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    again = wait_job(market, spotter, spot["id"], {"running"})
    assert again["attempt"] == 2 and len(again["order_ids"]) == 2
    market.client.post(f"/api/v1/jobs/{spot['id']}/cancel", headers=spotter["headers"])


def test_failover_when_a_cluster_fails_at_submit(market, tmp_path):
    broken_parent = tmp_path / "not-a-directory"
    broken_parent.write_text("a file where the cluster's base directory should be")
    seller, cheap = market.seller_with_product(price_on_demand_fen=5000)
    broken = register_cluster(market, seller, cheap["datacenter"]["id"], [cheap], str(broken_parent / "jobs"))
    _, dear, good = site(market, tmp_path, price_on_demand_fen=9000)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer)

    summary = run_round(market)
    assert [p["job_id"] for p in summary["placed"]] == [job["id"]]
    placed = get_job(market, buyer, job["id"])
    assert placed["placement"]["product_id"] == dear["id"] and placed["placement"]["cluster_id"] == good["id"]
    (attempt,) = placed["attempts"]
    assert attempt["kind"] == "submit_failed" and attempt["blocks"] is True
    assert (attempt["offer_id"], attempt["cluster_id"]) == (cheap["id"], broken["id"])
    assert "submit to cluster" in attempt["reason"]
    first, second = placed["order_ids"]
    failed_order = order_of(market, buyer, first)
    assert failed_order["status"] == "cancelled" and failed_order["charged"]["fen"] == 0
    assert market.allocated(cheap) == 0
    wait_job(market, buyer, job["id"], {"succeeded"})
    # the broken cluster's health checks fail; after two it is out of placement
    clusters = market.client.get(f"/api/v1/datacenters/{cheap['datacenter']['id']}/clusters",
                                 headers=seller["headers"]).json()
    assert clusters[0]["healthy"] is False and clusters[0]["consecutive_failures"] >= 2
    other = submit(market, buyer)
    summary = run_round(market)
    assert get_job(market, buyer, other["id"])["placement"]["product_id"] == dear["id"]
    assert broken["id"] in summary["clusters_unhealthy"]
    # it recovers: one good health check brings it back, and new jobs go to the cheaper place again
    broken_parent.unlink()
    summary = run_round(market)
    assert broken["id"] not in summary["clusters_unhealthy"]
    third = submit(market, buyer)
    run_round(market)
    assert get_job(market, buyer, third["id"])["placement"]["product_id"] == cheap["id"]
    for j in (other, third):
        wait_job(market, buyer, j["id"], {"succeeded"})


def test_a_job_whose_only_place_failed_tries_it_again_after_the_back_off(market, tmp_path):
    broken_parent = tmp_path / "not-a-directory"
    broken_parent.write_text("a file where the cluster's base directory should be")
    seller, only = market.seller_with_product(price_on_demand_fen=5000)
    register_cluster(market, seller, only["datacenter"]["id"], [only], str(broken_parent / "jobs"))
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer)
    run_round(market)
    waiting = get_job(market, buyer, job["id"])
    assert waiting["state"] == "queued" and [a["kind"] for a in waiting["attempts"]] == ["submit_failed"]
    broken_parent.unlink()  # the cluster is mended
    market.clock.advance(299)
    run_round(market)
    assert get_job(market, buyer, job["id"])["state"] == "queued"  # still inside its 5-minute back-off
    market.clock.advance(1)
    done = wait_job(market, buyer, job["id"], {"succeeded"})
    assert done["placement"]["product_id"] == only["id"] and len(done["attempts"]) == 1


def test_a_submit_that_got_no_answer_leaves_a_stray_run_to_stop(market, tmp_path, monkeypatch):
    from suanli.backends import BackendUnavailable
    from suanli.jobs import placing
    from suanli.jobs.models import StrayRun

    _, product, cluster = site(market, tmp_path)
    real = placing.make_backend

    class Unanswered:
        def __init__(self, inner):
            self.inner = inner

        def submit(self, spec):
            raise BackendUnavailable("no answer", reason="timeout", backend_job_id=f"sent-{spec.run_name}")

        def close(self):
            self.inner.close()

    monkeypatch.setattr(placing, "make_backend", lambda c: Unanswered(real(c)))
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer)
    run_round(market)
    assert [a["kind"] for a in get_job(market, buyer, job["id"])["attempts"]] == ["submit_failed"]
    with market.db.unit_of_work(write=False) as session:
        strays = session.scalars(select(StrayRun)).all()
    assert [(s.backend_job_id, str(s.cluster_id), str(s.job_id)) for s in strays] == [
        (f"sent-{job['id']}.1", cluster["id"], job["id"])]


def running_on_the_cheaper_of_two(market: Market, tmp_path: Path):
    """Two data centers' local clusters ("first" cheaper) and a buyer's job running on the first one, which
    writes its pid into its working directory. Returns (first product, its cluster, second product, buyer, job,
    the job's pid)."""
    _, first, first_cluster = site(market, tmp_path, name="first", price_on_demand_fen=5000)
    _, second, _ = site(market, tmp_path, name="second", price_on_demand_fen=9000)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command="echo $$ > pid; sleep 300")
    running = wait_job(market, buyer, job["id"], {"running"})
    assert running["placement"]["product_id"] == first["id"]
    return first, first_cluster, second, buyer, job, wait_pid(tmp_path / "jobs-first" / f"{job['id']}.1")


def test_a_lost_job_is_requeued_elsewhere_and_its_hold_released(market, tmp_path):
    import os
    import signal

    first, first_cluster, second, buyer, job, pid = running_on_the_cheaper_of_two(market, tmp_path)
    run_dir = tmp_path / "jobs-first" / f"{job['id']}.1"
    market.clock.advance(300)
    # the machine loses the job: its processes SIGKILLed, no exit code written (as tests/backends/test_local.py)
    job_group = os.getpgid(pid)
    os.killpg(json.loads((run_dir / "state.json").read_text())["pid"], signal.SIGKILL)  # the run's supervisor
    os.killpg(job_group, signal.SIGKILL)
    moved = wait_job(market, buyer, job["id"], {"scheduled", "running"}, timeout=30)
    while moved["placement"]["product_id"] != second["id"]:
        moved = wait_job(market, buyer, job["id"], {"scheduled", "running"}, timeout=30)
    (attempt,) = moved["attempts"]
    assert attempt["kind"] == "lost" and attempt["cluster_failed"] is True
    assert attempt["cluster_id"] == first_cluster["id"]
    lost_order = order_of(market, buyer, moved["order_ids"][0])
    assert lost_order["status"] == "ended" and lost_order["held"]["fen"] == 0
    assert lost_order["charged"]["fen"] == charge_for_seconds(5000, 1, 300)  # the seconds it ran
    assert market.allocated(first) == 0 and market.allocated(second) == 1
    market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])


def test_credentials_are_never_shown(market, tmp_path):
    seller, product = market.seller_with_product()
    secret = "SECRET-TOKEN-" + uuid.uuid4().hex
    cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], "http://127.0.0.1:9",
                               kind="slurm", credentials={"user": "suanli", "token": secret},
                               options={"timeout": 1})
    assert cluster["has_credentials"] is True and "credentials" not in cluster
    responses = [
        market.client.get(f"/api/v1/datacenters/{product['datacenter']['id']}/clusters", headers=seller["headers"]),
        market.client.get(f"/api/v1/datacenters/{product['datacenter']['id']}/clusters/{cluster['id']}",
                          headers=seller["headers"]),
        market.client.post("/api/v1/operator/scheduler/run", headers=market.operator["headers"]),
    ]
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer)
    responses += [market.client.post("/api/v1/operator/scheduler/run", headers=market.operator["headers"]),
                  market.client.get(f"/api/v1/jobs/{job['id']}", headers=buyer["headers"]),
                  market.client.get("/openapi.json")]
    for r in responses:
        assert r.status_code == 200, r.text
        assert secret not in r.text


def test_bad_input_is_4xx(market, tmp_path):
    seller, product, cluster = site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    base = {"name": "x", "resources": {"accelerators": 1}, "max_runtime_minutes": 10}
    cases = [
        ({**base}, 422),  # neither command nor script
        ({**base, "command": "true", "script": "#!/bin/sh\ntrue"}, 422),
        ({**base, "command": "true", "resources": {"accelerators": 1, "chip": "NoSuchChip"}}, 422),
        ({**base, "command": "true", "resources": {"accelerators": 1, "ecosystem": "quantum"}}, 422),
        ({**base, "command": "true", "mode": "spot"}, 422),  # spot needs a bid
        ({**base, "command": "true", "bid_hourly_fen": 100}, 422),  # a bid on on-demand
        ({**base, "command": "true", "resources": {}}, 422),  # no resources
        ({**base, "command": "true", "max_runtime_minutes": 0}, 422),
        ({**base, "command": "true", "objective": "speed"}, 422),
        ({**base, "command": "true", "env": {"1BAD": "x"}}, 422),
        ({**base, "command": "true", "files": {"../escape": "x"}}, 422),
        ({**base, "command": "true", "unknown": 1}, 422),
    ]
    for body, status in cases:
        r = market.client.post("/api/v1/jobs", headers=buyer["headers"], json=body)
        assert r.status_code == status, (body, r.text)
        assert "error" in r.json()
    assert market.client.post("/api/v1/jobs", json={**base, "command": "true"}).status_code == 401
    assert market.client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=buyer["headers"]).status_code == 404
    assert market.client.get("/api/v1/jobs/not-a-uuid", headers=buyer["headers"]).status_code == 422
    assert market.client.post("/api/v1/operator/scheduler/run", headers=buyer["headers"]).status_code == 403
    dc = product["datacenter"]["id"]
    bad_clusters = [
        ({"name": "k", "kind": "kubernetes", "endpoint": "x"}, 422),
        ({"name": "s", "kind": "slurm", "endpoint": "http://h:6820"}, 422),  # slurm needs credentials
        ({"name": "l", "kind": "local", "endpoint": "/tmp/x", "options": {"nope": 1}}, 422),
        ({"name": "main", "kind": "local", "endpoint": "/tmp/x"}, 409),  # the name is taken
        ({"name": "p", "kind": "local", "endpoint": "/tmp/x", "product_ids": [str(uuid.uuid4())]}, 422),
    ]
    for body, status in bad_clusters:
        registrar = market.operator if body["kind"] == "local" else seller  # local clusters: operators only
        r = market.client.post(f"/api/v1/datacenters/{dc}/clusters", headers=registrar["headers"], json=body)
        assert r.status_code == status, (body, r.text)
    r = market.client.post(f"/api/v1/datacenters/{dc}/clusters", headers=seller["headers"],
                           json={"name": "mine", "kind": "local", "endpoint": "/tmp/x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "local_cluster_operator_only", r.text
    other_seller = quick_user(market.db, "seller")
    r = market.client.post(f"/api/v1/datacenters/{dc}/clusters", headers=other_seller["headers"],
                           json={"name": "mine", "kind": "ray", "endpoint": "http://127.0.0.1:9"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner", r.text
    assert market.client.get(f"/api/v1/datacenters/{dc}/clusters", headers=buyer["headers"]).status_code == 403


def test_a_job_the_wallet_cannot_cover_waits_and_says_so(market, tmp_path):
    site(market, tmp_path, price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=1000)
    job = submit(market, buyer)
    summary = run_round(market)
    assert not summary["placed"]
    job = get_job(market, buyer, job["id"])
    assert job["state"] == "queued" and "order failed" in job["state_detail"], job["state_detail"]
    assert market.wallet(buyer)["held"]["fen"] == 0


@pytest.mark.parametrize("use_lock", [True, False])
def test_concurrent_rounds_place_each_job_exactly_once(market, tmp_path, use_lock):
    _, product, _ = site(market, tmp_path, stock_units=20, accelerators=1)
    buyers = [market.buyer(topup_fen=100_000) for _ in range(3)]
    jobs = [submit(market, buyers[i % 3], command="true") for i in range(8)]
    results = race_rounds(market, 4, lock=use_lock)
    placed = [p["job_id"] for r in results for p in r.placed]
    assert sorted(placed) == sorted(j["id"] for j in jobs)  # every job exactly once
    if use_lock and not market.db.is_sqlite:
        assert sum(r.skipped for r in results) >= 1 or len([r for r in results if r.placed]) == 1
    with market.db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 8
        for job in session.scalars(select(Job)):
            assert job.attempt == 1 and len(job.order_ids) == 1
    for job, buyer in zip(jobs, [buyers[i % 3] for i in range(8)], strict=True):
        wait_job(market, buyer, job["id"], {"succeeded"})
    assert market.allocated(product) == 0


@pytest.mark.parametrize("use_lock", [True, False])
def test_scheduler_processes_racing_place_each_job_once(market, tmp_path, use_lock):
    """Several API processes running rounds at the same moment (real processes, one database)."""
    import datetime as dt
    import subprocess
    import sys

    _, product, _ = site(market, tmp_path, stock_units=20, accelerators=1)
    buyer = market.buyer(topup_fen=200_000)
    jobs = [submit(market, buyer, command="true") for _ in range(6)]
    script = ("import json, sys, time\n"
              "from suanli.core.billing import SystemClock\n"
              "from suanli.db import Database\n"
              "from suanli.jobs.scheduler import run_round\n"
              "db = Database(sys.argv[1])\n"
              "db.engine.connect().close()\n"
              "time.sleep(max(0.0, float(sys.argv[3]) - time.time()))\n"
              "s = run_round(db, SystemClock(), lock=sys.argv[2] == '1')\n"
              "print(json.dumps({'placed': [p['job_id'] for p in s.placed], 'skipped': s.skipped}))\n")
    url = market.db.engine.url.render_as_string(hide_password=False)
    import time
    start_at = str(time.time() + 3)
    procs = [subprocess.Popen([sys.executable, "-c", script, url, "1" if use_lock else "0", start_at],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = []
    for proc in procs:
        out, errors = proc.communicate(timeout=120)
        assert proc.returncode == 0, errors
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    placed = [job_id for o in outputs for job_id in o["placed"]]
    assert sorted(placed) == sorted(j["id"] for j in jobs)  # each job exactly once
    with market.db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 6
        assert all(job.attempt == 1 for job in session.scalars(select(Job)))
    # the processes used the real clock: move the test's clock past it, let the jobs end and settle
    market.clock.advance((dt.datetime.now(dt.UTC) - market.clock.now()).total_seconds() + 60)
    for job in jobs:
        wait_job(market, buyer, job["id"], {"succeeded"})
    assert market.allocated(product) == 0
