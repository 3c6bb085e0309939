"""Jobs on held capacity (suanli.jobs.held), end to end through the API on the local backend, on SQLite and
PostgreSQL: a reserved lease runs its holder's jobs at no further charge; units lent to an emergency run the
emergency's work and not the holder's, and go back when it ends; the emergency's own orders run its payer's jobs;
a job that runs only on held capacity waits and says why; a lease that ends under a job stops it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_helpers import get_job, order_of, race_rounds, register_cluster, run_round, submit, wait_job
from trading_helpers import Market, checked_market

from suanli.core.billing import charge_for_seconds

LONG = "sleep 300"


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def site(market: Market, tmp_path: Path, **product: object):
    seller, prod = market.seller_with_product(**product)
    register_cluster(market, seller, prod["datacenter"]["id"], [prod], str(tmp_path / "jobs"))
    return seller, prod


def reserve(market: Market, buyer: dict, product: dict, units: int) -> dict:
    r = market.order(buyer, product, mode="reserved", units=units, term_months=1)
    assert r.status_code == 201, r.text
    return r.json()


def cancel(market: Market, buyer: dict, job: dict) -> None:
    r = market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
    assert r.status_code in (200, 202), r.text


def test_a_reserved_lease_runs_its_holders_jobs_at_no_further_charge(market, tmp_path):
    _seller, product = site(market, tmp_path, stock_units=3)
    buyer = market.buyer(topup_fen=10_000_000)
    lease = reserve(market, buyer, product, 1)
    before = market.wallet(buyer)
    assert market.allocated(product) == 1

    job = submit(market, buyer, command="echo on my lease")
    run_round(market)
    placed = get_job(market, buyer, job["id"])
    p = placed["placement"]
    assert p["held"] == "lease" and placed["order_id"] == lease["id"] and p["hourly_price_fen"] == 0
    assert "reserved lease" in p["reason"] and placed["order_ids"] == []
    assert market.allocated(product) == 1  # no order of its own
    market.clock.advance(600)
    done = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    assert market.wallet(buyer) == before  # nothing more charged, nothing held
    assert order_of(market, buyer, lease["id"])["status"] == "active"  # the job's end leaves the lease as it is

    # The lease's one unit busy: a second job goes to the market (prefer), a third waits for the lease (only).
    first = submit(market, buyer, name="first", command=LONG)
    run_round(market)
    assert get_job(market, buyer, first["id"])["placement"]["held"] == "lease"
    second = submit(market, buyer, name="second", command=LONG)
    third = submit(market, buyer, name="third", command=LONG, constraints={"held_capacity": "only"})
    never = submit(market, buyer, name="never", command=LONG, constraints={"held_capacity": "never"})
    run_round(market)
    second_now = get_job(market, buyer, second["id"])
    assert second_now["placement"]["held"] is None and second_now["order_id"] != lease["id"]
    assert second_now["placement"]["hourly_price_fen"] > 0
    waiting = get_job(market, buyer, third["id"])
    assert waiting["state"] == "queued" and "waiting for capacity you hold" in waiting["unplaceable"]["message"]
    assert waiting["constraints"]["held_capacity"] == "only"
    assert get_job(market, buyer, never["id"])["placement"]["held"] is None
    assert market.allocated(product) == 3

    # The lease's unit comes free: the waiting job takes it.
    cancel(market, buyer, first)
    run_round(market)
    taken = wait_job(market, buyer, third["id"], {"scheduled", "running"})
    assert taken["order_id"] == lease["id"] and taken["placement"]["held"] == "lease"
    for j in (second, third, never):
        cancel(market, buyer, j)


def test_an_only_job_without_held_capacity_says_so_and_bad_values_are_refused(market, tmp_path):
    site(market, tmp_path)
    buyer = market.buyer(topup_fen=1_000_000)
    job = submit(market, buyer, constraints={"held_capacity": "only"})
    run_round(market)
    waiting = get_job(market, buyer, job["id"])
    assert waiting["state"] == "queued" and "you hold none" in waiting["unplaceable"]["message"]
    r = market.client.post("/api/v1/jobs", headers=buyer["headers"], json={
        "name": "x", "command": "true", "resources": {"accelerators": 1}, "max_runtime_minutes": 5,
        "constraints": {"held_capacity": "sometimes"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def _declare(market: Market, payer: dict, accelerators: int, hours: int = 24) -> dict:
    r = market.client.post("/api/v1/operator/emergencies", headers=market.operator["headers"], json={
        "title": "台风路径集合预报", "accelerators": accelerators, "chips": ["a800"], "duration_hours": hours,
        "compensation_fen_per_accel_hour": 500, "payer_org_id": payer["org_id"]})
    assert r.status_code == 201, r.text
    return r.json()


def test_lent_units_run_the_emergencys_work_not_the_holders_and_go_back_when_it_ends(market, tmp_path):
    _seller, product = site(market, tmp_path, stock_units=2)
    holder = market.buyer(topup_fen=10_000_000)
    lease = reserve(market, holder, product, 2)
    payer = market.buyer(topup_fen=5_000_000)
    em = _declare(market, payer, 8)  # one unit of 8 accelerators: nothing free, so an idle unit of the lease
    assert [(p["stage"], p["order_id"]) for p in em["parts"]] == [("reserved", lease["id"])]
    offer = market.client.get("/api/v1/emergency-offers", headers=holder["headers"]).json()[0]
    r = market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer", headers=holder["headers"],
                           json={"accept": True})
    assert r.status_code == 200, r.text

    # The holder keeps one unit: one job runs there, the next waits for it (the lent unit is not the holder's).
    mine = submit(market, holder, name="mine", command=LONG, constraints={"held_capacity": "only"})
    mine2 = submit(market, holder, name="mine2", command=LONG, constraints={"held_capacity": "only"})
    run_round(market)
    assert get_job(market, holder, mine["id"])["order_id"] == lease["id"]
    assert get_job(market, holder, mine2["id"])["state"] == "queued"

    # The payer's work runs on the lent unit.
    work = submit(market, payer, name="forecast", command=LONG, constraints={"held_capacity": "only"})
    run_round(market)
    on_loan = get_job(market, payer, work["id"])
    assert on_loan["placement"]["held"] == "loan" and on_loan["order_id"] == lease["id"]
    assert "台风路径集合预报" in on_loan["placement"]["reason"]
    # The holder cannot see the payer's job, and the payer cannot see the holder's lease.
    assert market.client.get(f"/api/v1/jobs/{work['id']}", headers=holder["headers"]).status_code == 404
    assert market.client.get(f"/api/v1/orders/{lease['id']}", headers=payer["headers"]).status_code == 404

    # The emergency ends: the lent unit goes back, the payer's job is stopped, the holder's waiting job gets it.
    r = market.client.post(f"/api/v1/operator/emergencies/{em['id']}/end", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    stopped = wait_job(market, payer, work["id"], {"cancelled"})
    assert "lent to the emergency went back" in stopped["state_detail"]
    back = wait_job(market, holder, mine2["id"], {"scheduled", "running"})
    assert back["order_id"] == lease["id"]
    for j in (mine, mine2):
        cancel(market, holder, j)


def test_the_emergencys_own_orders_run_its_payers_jobs(market, tmp_path):
    _seller, product = site(market, tmp_path, stock_units=2, price_on_demand_fen=8000)
    payer = market.buyer(topup_fen=5_000_000)
    em = _declare(market, payer, 16)
    assert [p["stage"] for p in em["parts"]] == ["free"] and market.allocated(product) == 2
    job = submit(market, payer, command=LONG, resources={"accelerators": 16, "chip": "A800"})
    run_round(market)
    placed = get_job(market, payer, job["id"])
    assert placed["placement"]["held"] == "emergency" and placed["order_id"] == em["parts"][0]["order_id"]
    assert placed["placement"]["units"] == 2 and market.allocated(product) == 2  # no second order
    market.clock.advance(3600)
    r = market.client.post(f"/api/v1/operator/emergencies/{em['id']}/end", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    stopped = wait_job(market, payer, job["id"], {"cancelled"})
    assert "emergency's order it ran on has ended" in stopped["state_detail"]
    # The payer paid the emergency's order for the hour it ran, once: the job added nothing.
    order = order_of(market, payer, em["parts"][0]["order_id"])
    assert order["charged"]["fen"] == charge_for_seconds(8000, 2, 3600)


def test_an_emergency_ends_by_itself_when_its_duration_is_over(market, tmp_path):
    _seller, product = site(market, tmp_path, stock_units=1)
    payer = market.buyer(topup_fen=5_000_000)
    em = _declare(market, payer, 8, hours=2)
    job = submit(market, payer, command=LONG)
    summary = run_round(market)
    assert summary["emergencies_ended"] == []
    assert get_job(market, payer, job["id"])["placement"]["held"] == "emergency"
    market.clock.advance(2 * 3600 - 1)
    assert run_round(market)["emergencies_ended"] == []
    market.clock.advance(1)
    summary = run_round(market)
    assert summary["emergencies_ended"] == [em["id"]]
    ended = market.client.get(f"/api/v1/operator/emergencies/{em['id']}", headers=market.operator["headers"]).json()
    assert ended["status"] == "ended" and ended["parts"][0]["state"] == "ended"
    assert get_job(market, payer, job["id"])["state"] == "cancelled"
    assert market.allocated(product) == 0


def test_a_lease_that_ends_under_a_job_stops_it(market, tmp_path):
    _seller, product = site(market, tmp_path, stock_units=1)
    buyer = market.buyer(topup_fen=10_000_000)
    lease = reserve(market, buyer, product, 1)
    job = submit(market, buyer, command=LONG, max_runtime_minutes=60 * 24 * 30)
    run_round(market)
    assert get_job(market, buyer, job["id"])["order_id"] == lease["id"]
    ends = dt.datetime.fromisoformat(order_of(market, buyer, lease["id"])["ends_at"])
    market.clock.advance((ends - market.clock.now()).total_seconds() + 1)
    run = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]).json()
    assert run["terms_ended"] == 1, run
    stopped = wait_job(market, buyer, job["id"], {"cancelled"})
    assert "reserved lease it ran on has ended" in stopped["state_detail"]
    assert market.allocated(product) == 0


def test_a_placement_planned_on_a_stale_view_of_a_lease_is_not_carried_out(market, tmp_path):
    """Two rounds that both saw the lease's last unit free: the second claim counts the units again under the
    order's row lock and skips (the next round looks again), so the lease never holds more jobs than units."""
    import uuid

    from suanli.jobs import placing
    from suanli.jobs.models import Job
    from suanli.jobs.scheduler import RoundSummary
    from suanli.scheduling.policy import schedule_round

    _seller, product = site(market, tmp_path, stock_units=1)
    buyer = market.buyer(topup_fen=10_000_000)
    lease = reserve(market, buyer, product, 1)
    first = submit(market, buyer, name="first", command=LONG, constraints={"held_capacity": "only"})
    second = submit(market, buyer, name="second", command=LONG, constraints={"held_capacity": "only"})
    with market.db.unit_of_work(write=False) as session:  # the view a racing round had: one free unit
        job = session.get_one(Job, uuid.UUID(second["id"]))
        ((org_offers, holdings),) = placing.load_held(session, {job.buyer_org_id}).values()
        request = placing.job_request(job, market.clock.now())
    (plan,) = schedule_round([request], org_offers, (), rules=placing.HELD_RULES).placements
    (stale,) = holdings
    assert stale.free == 1
    run_round(market)  # the first job takes the unit
    assert get_job(market, buyer, first["id"])["order_id"] == lease["id"]
    outcome = placing._place_one(market.db, market.clock, uuid.UUID(second["id"]), plan, RoundSummary(), stale)
    assert outcome == "skip" and get_job(market, buyer, second["id"])["state"] == "queued"
    for j in (first, second):
        cancel(market, buyer, j)
