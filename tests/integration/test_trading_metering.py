"""The meter (POST /operator/metering/run): per-second charges without drift, holds topped up, leases stopped
before the money runs out, reserved terms ended — on SQLite and PostgreSQL, with a ManualClock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from trading_helpers import START, Market, checked_market, race

from suanli.core.billing import burn_per_hour_fen, charge_for_seconds, reserved_end
from suanli.core.ledger import commission_fen


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def meter(market: Market) -> dict:
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def test_meter_charges_as_it_goes_without_drift(market):
    seller, product = market.seller_with_product(price_on_demand_fen=8333)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product, units=3).json()
    burn = burn_per_hour_fen(8333, 3)
    elapsed = 0
    for step in (61, 599, 1000, 7):
        market.clock.advance(step)
        elapsed += step
        run = meter(market)
        assert run["metered"] == 1 and run["stopped"] == 0 and run["failed"] == 0
        now = market.client.get(f"/api/v1/orders/{order['id']}", headers=buyer["headers"]).json()
        assert now["charged"]["fen"] == charge_for_seconds(8333, 3, elapsed)
        assert now["held"]["fen"] == burn  # the next hour is always covered
        assert market.wallet(buyer)["available"]["fen"] == 1_000_000 - burn - now["charged"]["fen"]
    market.clock.advance(1234)
    elapsed += 1234
    ended = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    total = charge_for_seconds(8333, 3, elapsed)
    assert ended["charged"]["fen"] == total and ended["end_reason"] == "released"
    assert market.wallet(seller)["receivable"]["fen"] == total - commission_fen(total, 500)
    assert market.wallet(buyer)["available"]["fen"] == 1_000_000 - total
    assert market.allocated(product) == 0
    assert meter(market)["metered"] == 0


def test_meter_stops_a_lease_before_the_money_runs_out(market):
    _, product = market.seller_with_product(price_on_demand_fen=3600, price_spot_floor_fen=None)  # 1 fen a second
    buyer = market.buyer(topup_fen=4200)
    order = market.order(buyer, product).json()
    url = f"/api/v1/orders/{order['id']}"
    market.clock.advance(3000)
    run = meter(market)
    assert (run["metered"], run["stopped"], run["low_balance"]) == (1, 0, 1)
    assert run["charged"]["fen"] == 3000
    assert market.client.get(url, headers=buyer["headers"]).json()["held"]["fen"] == 1200  # all that is left
    assert market.wallet(buyer)["available"]["fen"] == 0
    market.clock.advance(1000)  # 4000 s: 200 s of money left
    assert meter(market)["stopped"] == 0
    market.clock.advance(100)  # 4100 s: 100 s left, under the two-minute margin
    run = meter(market)
    assert run["stopped"] == 1 and run["charged"]["fen"] == 100
    stopped = market.client.get(url, headers=buyer["headers"]).json()
    assert stopped["status"] == "ended" and stopped["end_reason"] == "out_of_funds"
    assert stopped["charged"]["fen"] == 4100 and stopped["held"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == 100  # never negative
    assert market.allocated(product) == 0
    assert market.client.post(f"{url}/release", headers=buyer["headers"]).status_code == 409


def test_a_repeated_reading_charges_nothing_more(market):
    _, product = market.seller_with_product(price_on_demand_fen=6000)
    buyer = market.buyer(topup_fen=100_000)
    market.order(buyer, product)
    market.clock.advance(300)
    assert meter(market)["charged"]["fen"] == 500
    assert meter(market)["charged"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == 100_000 - 500 - 6000


def test_reserved_term_ends_and_frees_the_units(market):
    seller, product = market.seller_with_product(stock_units=2)
    buyer = market.buyer(topup_fen=10_000_000)
    order = market.order(buyer, product, mode="reserved", term_months=1).json()
    receivable = market.wallet(seller)["receivable"]["fen"]
    end = reserved_end(START, 1)
    market.clock.advance((end - START - timedelta(seconds=1)).total_seconds())
    assert meter(market)["terms_ended"] == 0 and market.allocated(product) == 1
    market.clock.advance(1)
    assert meter(market)["terms_ended"] == 1
    ended = market.client.get(f"/api/v1/orders/{order['id']}", headers=buyer["headers"]).json()
    assert ended["status"] == "ended" and ended["end_reason"] == "term_ended"
    assert ended["ended_at"].startswith(end.isoformat()[:19])
    assert market.allocated(product) == 0
    assert market.wallet(seller)["receivable"]["fen"] == receivable  # paid upfront; nothing moves at the end


def test_only_operators_run_the_meter(market):
    buyer = market.buyer()
    r = market.client.post("/api/v1/operator/metering/run", headers=buyer["headers"])
    assert r.status_code == 403


def test_meter_runs_racing_with_releases(market):
    """Releases and meter runs at once: every order ends charged exactly for its time, once."""
    seller, product = market.seller_with_product(stock_units=10, price_on_demand_fen=7200)
    buyers = [market.buyer(topup_fen=100_000) for _ in range(8)]
    orders = [market.order(b, product).json() for b in buyers]
    market.clock.advance(1800)
    meter(market)  # every order has been metered once before the race
    market.clock.advance(450)
    requests = [lambda client: client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
                for _ in range(4)]
    requests += [(lambda client, b=b, o=o: client.post(f"/api/v1/orders/{o['id']}/release", headers=b["headers"]))
                 for b, o in zip(buyers, orders)]
    responses = race(market, requests)
    assert Counter(r.status_code for r in responses) == {200: 12}, [r.text for r in responses if r.status_code != 200]
    assert all(r.json()["failed"] == 0 for r in responses[:4])
    charge = charge_for_seconds(7200, 1, 2250)
    for b, o in zip(buyers, orders):
        final = market.client.get(f"/api/v1/orders/{o['id']}", headers=b["headers"]).json()
        assert final["status"] == "ended" and final["charged"]["fen"] == charge
        assert market.wallet(b)["available"]["fen"] == 100_000 - charge
    assert market.allocated(product) == 0
    assert market.wallet(seller)["receivable"]["fen"] == 8 * (charge - commission_fen(charge, 500))
