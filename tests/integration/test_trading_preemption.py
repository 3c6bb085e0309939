"""Spot capacity gives way to on-demand and reserved demand: notice, pending order, preemption, activation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trading_helpers import Market, checked_market

from suanli.core.billing import charge_for_seconds, minimum_prepay_fen, reserved_end, reserved_price
from suanli.core.ledger import commission_fen


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def meter(market: Market) -> dict:
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def get(market: Market, user: dict, order: dict) -> dict:
    return market.client.get(f"/api/v1/orders/{order['id']}", headers=user["headers"]).json()


def test_on_demand_preempts_spot_after_the_notice(market):
    seller, product = market.seller_with_product(stock_units=2, price_on_demand_fen=8000, price_spot_floor_fen=3000)
    spotter = market.buyer(topup_fen=100_000)
    spot = market.order(spotter, product, mode="spot", units=2, bid_hourly_fen=3500).json()
    buyer = market.buyer(topup_fen=100_000)
    r = market.order(buyer, product)
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["status"] == "pending" and pending["started_at"] is None
    assert pending["held"]["fen"] == minimum_prepay_fen(8000, 1) and pending["charged"]["fen"] == 0
    noticed = get(market, spotter, spot)
    assert noticed["status"] == "active" and noticed["preempt_at"].startswith("2026-11-28T08:05:00")

    market.clock.advance(200)
    run = meter(market)
    assert (run["metered"], run["preempted"], run["activated"]) == (1, 0, 0)
    assert get(market, buyer, pending)["status"] == "pending"

    market.clock.advance(150)  # 350 s: the 300 s notice is over
    run = meter(market)
    assert (run["preempted"], run["activated"]) == (1, 1)
    ended = get(market, spotter, spot)
    assert ended["status"] == "preempted" and ended["end_reason"] == "preempted"
    assert ended["charged"]["fen"] == charge_for_seconds(3500, 2, 300)  # billed to the end of the notice only
    assert ended["ended_at"].startswith("2026-11-28T08:05:00")
    assert market.wallet(spotter)["available"]["fen"] == 100_000 - ended["charged"]["fen"]
    started = get(market, buyer, pending)
    assert started["status"] == "active" and started["started_at"].startswith("2026-11-28T08:05:50")
    assert market.allocated(product) == 1

    market.clock.advance(600)
    done = market.client.post(f"/api/v1/orders/{pending['id']}/release", headers=buyer["headers"]).json()
    assert done["charged"]["fen"] == charge_for_seconds(8000, 1, 600)
    total = ended["charged"]["fen"] + done["charged"]["fen"]
    assert market.wallet(seller)["receivable"]["fen"] == (
        ended["charged"]["fen"] - commission_fen(ended["charged"]["fen"], 500)
        + done["charged"]["fen"] - commission_fen(done["charged"]["fen"], 500))
    assert total > 0


def test_lowest_bids_are_noticed_first_and_only_as_many_as_needed(market):
    _, product = market.seller_with_product(stock_units=3, price_spot_floor_fen=3000)
    buyers = [market.buyer(topup_fen=100_000) for _ in range(3)]
    spots = [market.order(b, product, mode="spot", bid_hourly_fen=bid).json()
             for b, bid in zip(buyers, (4000, 3000, 3500))]
    demand = market.buyer(topup_fen=100_000)
    assert market.order(demand, product).status_code == 202
    notices = [get(market, b, s)["preempt_at"] is not None for b, s in zip(buyers, spots)]
    assert notices == [False, True, False]
    # A second on-demand unit notices the next lowest bid; units already under notice count.
    assert market.order(demand, product).status_code == 202
    assert [get(market, b, s)["preempt_at"] is not None for b, s in zip(buyers, spots)] == [False, True, True]


def test_not_enough_spot_capacity_is_still_409(market):
    _, product = market.seller_with_product(stock_units=3)
    spotter = market.buyer(topup_fen=100_000)
    spot = market.order(spotter, product, mode="spot", bid_hourly_fen=3000).json()
    buyer = market.buyer(topup_fen=1_000_000)
    r = market.order(buyer, product, units=3)  # 2 free + 1 spot = 3: enough
    assert r.status_code == 202
    r = market.order(buyer, product, units=1)  # everything is promised already
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_stock"
    assert get(market, spotter, spot)["preempt_at"] is not None


def test_spot_buyer_may_release_during_the_notice(market):
    _, product = market.seller_with_product(stock_units=1)
    spotter = market.buyer(topup_fen=100_000)
    spot = market.order(spotter, product, mode="spot", bid_hourly_fen=3600).json()
    buyer = market.buyer(topup_fen=100_000)
    pending = market.order(buyer, product).json()
    market.clock.advance(100)
    done = market.client.post(f"/api/v1/orders/{spot['id']}/release", headers=spotter["headers"]).json()
    assert done["status"] == "ended" and done["charged"]["fen"] == 100
    run = meter(market)
    assert run["activated"] == 1 and get(market, buyer, pending)["status"] == "active"


def test_release_after_the_notice_is_billed_to_its_end_only(market):
    _, product = market.seller_with_product(stock_units=1)
    spotter = market.buyer(topup_fen=100_000)
    spot = market.order(spotter, product, mode="spot", bid_hourly_fen=3600).json()
    market.order(market.buyer(topup_fen=100_000), product)
    market.clock.advance(900)  # the meter has not run; the notice ended at 300 s
    done = market.client.post(f"/api/v1/orders/{spot['id']}/release", headers=spotter["headers"]).json()
    assert done["charged"]["fen"] == 300


def test_pending_order_can_be_cancelled(market):
    _, product = market.seller_with_product(stock_units=1)
    spotter = market.buyer(topup_fen=100_000)
    market.order(spotter, product, mode="spot", bid_hourly_fen=3000)
    buyer = market.buyer(topup_fen=100_000)
    pending = market.order(buyer, product).json()
    market.clock.advance(1000)  # no grace period for pending orders
    r = market.client.post(f"/api/v1/orders/{pending['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["held"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == 100_000
    assert meter(market)["activated"] == 0


def test_pending_reserved_order_pays_when_it_starts(market):
    seller, product = market.seller_with_product(stock_units=1, price_reserved_month_fen=3_500_000)
    spotter = market.buyer(topup_fen=100_000)
    market.order(spotter, product, mode="spot", bid_hourly_fen=3000)
    buyer = market.buyer(topup_fen=5_000_000)
    r = market.order(buyer, product, mode="reserved", term_months=1)
    assert r.status_code == 202 and r.json()["held"]["fen"] == reserved_price(3_500_000, 1, 1, {})
    assert r.json()["ends_at"] is None
    receivable = market.wallet(seller)["receivable"]["fen"]
    market.clock.advance(300)
    assert meter(market)["activated"] == 1
    started = get(market, buyer, r.json())
    assert started["charged"]["fen"] == 3_500_000 and started["held"]["fen"] == 0
    assert started["ends_at"].startswith(reserved_end(market.clock.now(), 1).isoformat()[:19])
    assert market.wallet(seller)["receivable"]["fen"] - receivable == 3_500_000 - commission_fen(3_500_000, 500) + (
        charge_for_seconds(3000, 1, 300) - commission_fen(charge_for_seconds(3000, 1, 300), 500))


def test_on_demand_buyers_race_for_spot_capacity(market):
    """16 on-demand buyers at once for a product whose 10 units are all spot: exactly 10 wait (202) and 6 are
    refused; each spot order is noticed once, and after the notice the 10 start."""
    from collections import Counter

    from trading_helpers import race

    _, product = market.seller_with_product(stock_units=10, price_on_demand_fen=3600, price_spot_floor_fen=1000)
    spotters = [market.buyer(topup_fen=10_000) for _ in range(10)]
    spots = [market.order(b, product, mode="spot", bid_hourly_fen=1000 + i).json() for i, b in enumerate(spotters)]
    buyers = [market.buyer(topup_fen=10_000) for _ in range(16)]
    responses = race(market, [
        (lambda client, b=b: client.post("/api/v1/orders", headers=b["headers"], json={
            "product_id": product["id"], "mode": "on_demand", "units": 1}))
        for b in buyers])
    assert Counter(r.status_code for r in responses) == {202: 10, 409: 6}, [r.text for r in responses][:3]
    assert all(get(market, b, s)["preempt_at"] is not None for b, s in zip(spotters, spots))
    market.clock.advance(300)
    run = meter(market)
    assert (run["preempted"], run["activated"]) == (10, 10)
    assert market.allocated(product) == 10
