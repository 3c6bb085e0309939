"""Unmet demand and the procurement planner over HTTP (SQLite and PostgreSQL): jobs the scheduler cannot place and
searches that found nothing, counted by chip, province and day without naming anyone; the planner's replay with
and without proposed capacity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_helpers import register_cluster, run_round, submit
from rfq_helpers import DAY, posted
from sqlalchemy import select
from trading_helpers import Market, assert_ledger_consistent, new_market, quick_user

from suanli.db import utcnow
from suanli.demand.models import SearchMiss


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, start=utcnow())
    yield m
    assert_ledger_consistent(m)


def site(market: Market, tmp_path: Path, **product: object):
    seller, prod = market.seller_with_product(**product)
    register_cluster(market, seller, prod["datacenter"]["id"], [prod], str(tmp_path / "jobs"))
    return seller, prod


def demand(market: Market, user: dict, **params) -> dict:
    r = market.client.get("/api/v1/seller/demand", headers=user["headers"], params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_unplaceable_jobs_and_empty_searches_are_unmet_demand(market, tmp_path):
    seller, _product = site(market, tmp_path)  # 8×A800 in 安徽, 2 units
    buyer = market.buyer(topup_fen=1_000_000)
    submit(market, buyer, resources={"accelerators": 8, "chip": "910B"})  # no 910B listed
    # no cluster that big: refused at submit (422 job_too_large), so it never queues and is not counted
    submit(market, buyer, expect=422, resources={"accelerators": 64, "chip": "A800"})
    submit(market, buyer, constraints={"provinces": ["北京"]})  # A800, not in 北京
    run_round(market)
    # a buyer searching: one search finds nothing (recorded), one finds the A800 (not recorded)
    assert market.client.get("/api/v1/products", params={"chip": "910B", "province": "安徽"},
                             headers=buyer["headers"]).json()["total"] == 0
    assert market.client.get("/api/v1/products", params={"q": "A800"}).json()["total"] == 1
    assert market.client.get("/api/v1/products", params={"q": "H100 accelerators>=8"}).json()["total"] == 0

    data = demand(market, seller)
    by_chip = {t["key"]: t for t in data["by_chip"]}
    assert by_chip["ascend-910b"]["signals"] == {"jobs": 1, "searches": 1}
    assert by_chip["ascend-910b"]["accelerators"] == 8  # the search named no count
    assert by_chip["ascend-910b"]["reasons"] == {"chip": 1}
    assert by_chip["a800"]["signals"] == {"jobs": 1}
    assert by_chip["a800"]["reasons"] == {"region": 1}
    assert by_chip["h100"]["signals"] == {"searches": 1}
    by_province = {t["key"]: t["total"] for t in data["by_province"]}
    assert by_province == {"*": 2, "安徽": 1, "北京": 1}
    assert sum(data["per_day"]["jobs"]) == 2 and sum(data["per_day"]["searches"]) == 2
    assert data["per_day"]["jobs"][-1] == 2  # today
    assert sorted(s["filters"] for s in data["top_searches"]) == [
        "accelerators>=8 chip=h100", "chip=ascend-910b province=安徽"]
    assert data["sources"] == ["jobs", "searches", "requests"]
    # one chip, and demand naming no province
    only = demand(market, seller, chip="910B", province="*")
    assert [t["key"] for t in only["by_chip"]] == ["ascend-910b"] and only["by_chip"][0]["signals"] == {"jobs": 1}
    # nothing in the recorded rows says who searched
    with market.db.unit_of_work() as session:
        rows = session.scalars(select(SearchMiss)).all()
    assert {r.chip_key for r in rows} == {"ascend-910b", "h100"}
    assert {c.name for c in SearchMiss.__table__.columns} == {"id", "day", "filters", "chip_key", "province",
                                                              "accelerators"}


def test_open_requests_for_quotes_are_unmet_demand_until_awarded(market):
    """A buyer's open request for quotes (询价) is demand the market has not met: its chip, province and
    accelerators (per unit × units) count on the day it was posted; a withdrawn request no longer does."""
    seller = quick_user(market.db, "seller")
    buyer = market.buyer(topup_fen=10_000_000)
    now = market.clock.now()
    window = {"earliest_start": (now + 10 * DAY).isoformat(), "latest_start": (now + 20 * DAY).isoformat()}
    request = posted(market, buyer, chip="910B", accelerators=8, units=2, province="安徽",
                     max_unit_price_fen=1_000_000, **window)
    posted(market, buyer, chip=None, min_fp16_tflops=300, min_memory_gib=64, accelerators=4, units=1, province=None,
           max_unit_price_fen=500_000, **window)

    data = demand(market, seller)
    by_chip = {t["key"]: t for t in data["by_chip"]}
    assert by_chip["ascend-910b"]["signals"] == {"requests": 1} and by_chip["ascend-910b"]["accelerators"] == 16
    assert by_chip["*"]["signals"] == {"requests": 1} and by_chip["*"]["accelerators"] == 4
    assert {t["key"]: t["total"] for t in data["by_province"]} == {"安徽": 1, "*": 1}
    assert data["per_day"]["requests"][-1] == 2

    r = market.client.post(f"/api/v1/rfqs/{request['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    assert [t["key"] for t in demand(market, seller)["by_chip"]] == ["*"]


def test_demand_is_for_sellers_and_operators_with_clear_errors(market):
    buyer = market.buyer()
    r = market.client.get("/api/v1/seller/demand", headers=buyer["headers"])
    assert r.status_code == 403
    assert market.client.get("/api/v1/seller/demand").status_code == 401
    assert demand(market, market.operator)["by_chip"] == []
    seller = quick_user(market.db, "seller")
    for params, code in (({"chip": "no-such-chip"}, "invalid_value"), ({"province": "火星"}, "invalid_value"),
                         ({"days": 0}, "validation_error"), ({"days": 91}, "validation_error"),
                         ({"colour": "red"}, "unknown_query_parameter")):
        r = market.client.get("/api/v1/seller/demand", headers=seller["headers"], params=params)
        assert r.status_code in (400, 422), r.text
        assert r.json()["error"]["code"] == code, r.text


def test_the_planner_places_waiting_demand_on_the_proposed_capacity(market, tmp_path):
    seller, _product = site(market, tmp_path)
    buyer = market.buyer(topup_fen=1_000_000)
    for _ in range(3):
        submit(market, buyer, resources={"accelerators": 8, "chip": "910B"}, max_runtime_minutes=60)
    submit(market, buyer, resources={"accelerators": 8, "chip": "H100"}, max_runtime_minutes=60)
    body = {"chip": "昇腾910B", "province": "安徽", "servers": 2, "accelerators_per_server": 8,
            "price_per_accel_hour_fen": 1000, "days": 7}
    r = market.client.post("/api/v1/seller/demand/plan", headers=seller["headers"], json=body)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["chip"] == "ascend-910b" and plan["accelerators"] == 16
    assert plan["jobs"] == 4
    assert plan["placed_without"] == 0 and plan["placed_with"] == 3  # the H100 job has no offer either way
    assert plan["jobs_on_proposed"] == 3
    assert plan["accelerator_hours_on_proposed"] == "24.00"  # 3 jobs × 8 accelerators × 1 h (max runtime)
    assert plan["revenue"] == {"fen": 24_000, "cny": "240.00"}  # 24 accelerator-hours × ¥10
    assert plan["dropped_without"] == {"chip": 4}
    # a proposal of an unknown chip, or a bad body
    for bad, status in (({**body, "chip": "nope"}, 400), ({**body, "servers": 0}, 422),
                        ({**body, "price_per_accel_hour_fen": 0}, 422), ({**body, "colour": 1}, 422)):
        assert market.client.post("/api/v1/seller/demand/plan", headers=seller["headers"],
                                  json=bad).status_code == status
    assert market.client.post("/api/v1/seller/demand/plan", headers=buyer["headers"], json=body).status_code == 403
