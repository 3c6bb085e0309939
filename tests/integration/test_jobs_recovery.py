"""A cluster that is lost and comes back (SQLite and PostgreSQL, local backend, real processes): the job moved
elsewhere keeps running there only; its old run, still going on the recovered cluster, is cancelled; the buyer pays
for each placement only while it was the job's placement."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from jobs_helpers import order_of, run_round, submit, wait_job, wait_pid
from sqlalchemy import select
from test_jobs_api import market, running_on_the_cheaper_of_two, site  # noqa: F401  (the market fixture)

from suanli.core.billing import charge_for_seconds
from suanli.jobs.models import StrayRun


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_run_left_on_a_recovered_cluster_is_cancelled_and_billed_once(market, tmp_path):  # noqa: F811
    first, first_cluster, second, buyer, job, pid = running_on_the_cheaper_of_two(market, tmp_path)
    base, away = tmp_path / "jobs-first", tmp_path / "jobs-first.away"
    old_run = f"{job['id']}.1"

    # the cluster becomes unreachable (its base directory is gone, a file in its place) while the job runs on
    market.clock.advance(300)
    base.rename(away)
    base.write_text("not a directory")
    moved = wait_job(market, buyer, job["id"], {"scheduled", "running"}, timeout=30)
    while moved["placement"]["product_id"] != second["id"]:
        moved = wait_job(market, buyer, job["id"], {"scheduled", "running"}, timeout=30)
    (attempt,) = moved["attempts"]
    assert attempt["kind"] == "lost" and attempt["cluster_id"] == first_cluster["id"]
    assert _alive(pid), "the old run goes on where we cannot reach it"
    with market.db.unit_of_work(write=False) as session:
        (stray,) = session.scalars(select(StrayRun).where(StrayRun.job_id == uuid.UUID(job["id"]))).all()
        assert (stray.backend_job_id, str(stray.cluster_id), stray.resolved_at) == (old_run, first_cluster["id"], None)
    new_pid = wait_pid(tmp_path / "jobs-second" / f"{job['id']}.2")

    # while the cluster stays down the stray run is kept for later
    assert run_round(market)["strays"] == []

    # the cluster comes back: the next round cancels the old run there, and only there
    base.unlink()
    away.rename(base)
    summary = run_round(market)
    (reaped,) = summary["strays"]
    assert reaped["backend_job_id"] == old_run
    assert reaped["resolution"] == "cancel sent to cluster first (the run was running)"
    assert not _alive(pid) and _alive(new_pid)
    with market.db.unit_of_work(write=False) as session:
        stray = session.scalars(select(StrayRun).where(StrayRun.job_id == uuid.UUID(job["id"]))).one()
        assert stray.resolved_at is not None and stray.resolution == reaped["resolution"]
    assert run_round(market)["strays"] == []  # resolved once

    # billed once: the first placement until it was abandoned, the second from then on
    now = wait_job(market, buyer, job["id"], {"running"})
    assert now["placement"]["product_id"] == second["id"]
    first_order, second_order = (order_of(market, buyer, o) for o in now["order_ids"])
    assert first_order["status"] == "ended" and first_order["held"]["fen"] == 0
    assert first_order["charged"]["fen"] == charge_for_seconds(5000, 1, 300)
    assert second_order["status"] == "active"
    assert market.allocated(first) == 0 and market.allocated(second) == 1
    market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert _wait_gone(new_pid)


def test_a_run_that_cannot_be_cancelled_now_is_stopped_when_its_cluster_answers(market, tmp_path):  # noqa: F811
    _, _product, cluster = site(market, tmp_path, name="only", price_on_demand_fen=5000)
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, command="echo $$ > pid; sleep 300")
    wait_job(market, buyer, job["id"], {"running"})
    base, away = tmp_path / "jobs-only", tmp_path / "jobs-only.away"
    run = f"{job['id']}.1"
    pid = wait_pid(base / run)
    base.rename(away)
    base.write_text("not a directory")
    # the buyer cancels while the cluster cannot be reached: the job ends on our side at once
    r = market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert _alive(pid)
    base.unlink()
    away.rename(base)
    (reaped,) = run_round(market)["strays"]
    assert (reaped["backend_job_id"], reaped["cluster_id"]) == (run, cluster["id"])
    assert not _alive(pid)


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
