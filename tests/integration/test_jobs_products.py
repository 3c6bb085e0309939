"""Jobs pinned to exact products (``constraints.products``) through the API on the local backend, on SQLite and
PostgreSQL: placed on the pinned product even when another is cheaper, why not when it cannot be, and a clear 422
for a product the job could never run on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_helpers import get_job, register_cluster, run_round, submit, wait_job
from trading_helpers import Market, checked_market, quick_user



@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


@pytest.fixture
def two_products(market: Market, tmp_path: Path):
    """Two A800 products of one data center on one local cluster: A at ¥50/h, B at ¥90/h."""
    seller = quick_user(market.db, "seller")
    dc = market.make.datacenter(seller)
    cheap = market.make.product(seller, dc, name="A800 ×8 经济型", price_on_demand_fen=5000)
    dear = market.make.product(seller, dc, name="A800 ×8 高配型", price_on_demand_fen=9000)
    register_cluster(market, seller, dc["id"], [cheap, dear], str(tmp_path / "jobs"))
    return seller, dc, cheap, dear


def test_a_job_pinned_to_the_dearer_product_runs_there(market, two_products):
    _, _, cheap, dear = two_products
    buyer = market.buyer(topup_fen=100_000)
    pinned = submit(market, buyer, name="pinned", constraints={"products": [dear["id"], dear["id"]]})
    assert pinned["constraints"]["products"] == [dear["id"]]  # duplicates dropped
    free = submit(market, buyer, name="free")
    assert free["constraints"]["products"] == []
    summary = run_round(market)
    assert {p["job_id"] for p in summary["placed"]} == {pinned["id"], free["id"]}
    placed = get_job(market, buyer, pinned["id"])["placement"]
    assert placed["product_id"] == dear["id"] and placed["hourly_price_fen"] == 9000
    assert get_job(market, buyer, free["id"])["placement"]["product_id"] == cheap["id"]
    for job in (pinned, free):
        ended = wait_job(market, buyer, job["id"], {"succeeded", "failed"})
        assert ended["state"] == "succeeded", ended


def test_a_pinned_job_that_cannot_run_there_waits_and_says_why(market, two_products):
    _, _, _, dear = two_products
    buyer = market.buyer(topup_fen=100_000)
    job = submit(market, buyer, constraints={"products": [dear["id"]], "max_hourly_price_fen": 6000})
    summary = run_round(market)
    assert not summary["placed"]
    job = get_job(market, buyer, job["id"])
    assert job["state"] == "queued"
    assert job["unplaceable"]["eliminated"] == {"product": 1, "price": 1}
    message = job["unplaceable"]["message"]
    assert f"on product {dear['id']}" in message and "eliminated by product 1, price 1" in message


def test_a_product_the_job_could_never_run_on_is_a_422(market, two_products):
    seller, dc, cheap, _ = two_products
    buyer = market.buyer(topup_fen=100_000)
    unknown = str(uuid.uuid4())
    body = submit(market, buyer, expect=422, constraints={"products": [cheap["id"], unknown]})
    assert body["error"]["code"] == "product_not_found"
    assert body["error"]["details"] == {"field": "constraints.products", "product_ids": [unknown]}
    assert unknown in body["error"]["message"]

    r = market.client.post(f"/api/v1/products/{cheap['id']}/unlist", headers=seller["headers"])
    assert r.status_code == 200, r.text
    body = submit(market, buyer, expect=422, constraints={"products": [cheap["id"]]})
    assert body["error"]["code"] == "product_not_found"  # unlisted: not on the market

    off_cluster = market.make.product(seller, dc, name="A800 ×8 无集群")
    body = submit(market, buyer, expect=422, constraints={"products": [off_cluster["id"]]})
    assert body["error"]["code"] == "product_not_schedulable"
    assert body["error"]["details"]["product_ids"] == [off_cluster["id"]]

    body = submit(market, buyer, expect=422, constraints={"products": [str(uuid.uuid4()) for _ in range(21)]})
    assert "products" in str(body["error"])  # at most 20
    body = submit(market, buyer, expect=422, constraints={"products": ["not-a-uuid"]})
    assert "products" in str(body["error"])
    assert market.client.get("/api/v1/jobs", headers=buyer["headers"]).json()["total"] == 0
