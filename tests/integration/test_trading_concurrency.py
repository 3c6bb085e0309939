"""Races through the API on SQLite and PostgreSQL: stock is never oversold, money never double-held.

Every thread sends its request through its own TestClient (so its own request, session and connection) and all
start together at a barrier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from trading_helpers import Market, checked_market, TestClient, race

from suanli.core.billing import charge_for_seconds
from suanli.core.ledger import commission_fen


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def test_64_buyers_race_for_10_units(market):
    seller, product = market.seller_with_product(stock_units=10, price_on_demand_fen=1000)
    buyers = [market.buyer(topup_fen=5000) for _ in range(64)]

    def order(buyer: dict[str, Any]) -> Callable[[TestClient], Any]:
        return lambda client: client.post("/api/v1/orders", headers=buyer["headers"], json={
            "product_id": product["id"], "mode": "on_demand", "units": 1})

    responses = race(market, [order(b) for b in buyers])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 409: 54}, [r.text for r in responses if r.status_code not in (201, 409)][:3]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    assert market.allocated(product) == 10
    winners = [b for b, r in zip(buyers, responses) if r.status_code == 201]
    losers = [b for b, r in zip(buyers, responses) if r.status_code == 409]
    assert all(market.wallet(b)["held"]["fen"] == 1000 for b in winners)
    assert all(market.wallet(b)["available"]["fen"] == 5000 for b in losers)
    orders = market.client.get("/api/v1/orders?limit=200", headers=market.operator["headers"]).json()
    assert orders["total"] == 10

    # And they all give their unit back at once.
    market.clock.advance(60)
    ids = {b["email"]: r.json()["id"] for b, r in zip(buyers, responses) if r.status_code == 201}
    released = race(market, [
        (lambda client, b=b: client.post(f"/api/v1/orders/{ids[b['email']]}/release", headers=b["headers"]))
        for b in winners])
    assert Counter(r.status_code for r in released) == {200: 10}
    assert market.allocated(product) == 0
    charge = charge_for_seconds(1000, 1, 60)
    assert market.wallet(seller)["receivable"]["fen"] == 10 * (charge - commission_fen(charge, 500))
    assert all(market.wallet(b)["available"]["fen"] == 5000 - charge for b in winners)


def test_one_buyer_races_itself_for_money(market):
    """Eight orders from one buyer whose wallet covers three: exactly three are placed."""
    _, product = market.seller_with_product(stock_units=20, price_on_demand_fen=1000)
    buyer = market.buyer(topup_fen=3000)
    responses = race(market, [
        lambda client: client.post("/api/v1/orders", headers=buyer["headers"], json={
            "product_id": product["id"], "mode": "on_demand", "units": 1})
        for _ in range(8)])
    assert Counter(r.status_code for r in responses) == {201: 3, 402: 5}, [r.text for r in responses][:3]
    assert market.wallet(buyer)["available"]["fen"] == 0 and market.wallet(buyer)["held"]["fen"] == 3000
    assert market.allocated(product) == 3


def test_retries_with_one_idempotency_key_place_one_order(market):
    _, product = market.seller_with_product(stock_units=20, price_on_demand_fen=1000)
    buyer = market.buyer(topup_fen=100_000)
    headers = buyer["headers"] | {"Idempotency-Key": "same-click"}
    responses = race(market, [
        lambda client: client.post("/api/v1/orders", headers=headers, json={
            "product_id": product["id"], "mode": "on_demand", "units": 1})
        for _ in range(16)])
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 15}, [r.text for r in responses][:3]
    assert len({r.json()["id"] for r in responses}) == 1
    assert market.allocated(product) == 1
    assert market.wallet(buyer)["held"]["fen"] == 1000


def test_concurrent_topups_with_one_reference_credit_once(market):
    buyer = market.buyer()
    body = {"organization_id": buyer["org_id"], "amount_fen": 7000, "reference": "WIRE-42"}
    responses = race(market, [
        lambda client: client.post("/api/v1/operator/topups", headers=market.operator["headers"], json=body)
        for _ in range(12)])
    assert Counter(r.status_code for r in responses) == {201: 1, 200: 11}, [r.text for r in responses][:3]
    assert market.wallet(buyer)["available"]["fen"] == 7000
