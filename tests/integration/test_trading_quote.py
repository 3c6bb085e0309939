"""`GET /api/v1/products/{id}/quote`: the price before money moves, from the same code that prices an order — so
what it says is frozen and charged is what the placed order holds and charges, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trading_helpers import Market, checked_market

from suanli.core.billing import charge_for_seconds, minimum_prepay_fen, reserved_price


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def quote(market: Market, product: dict, **params) -> dict:
    r = market.client.get(f"/api/v1/products/{product['id']}/quote", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_each_mode_is_priced_by_hand(market):
    _, product = market.seller_with_product(price_on_demand_fen=8000, price_reserved_month_fen=3_500_000,
                                            price_spot_floor_fen=3000, stock_units=4)
    q = quote(market, product, mode="on_demand", units=2, hours=10)
    assert q["unit_price"]["fen"] == 8000 and q["per_hour"]["fen"] == 16000
    assert q["frozen_now"]["fen"] == 16000 and q["charged_now"]["fen"] == 0  # the first hour is held
    assert q["total"]["fen"] == 160000 and q["hours"] == 10 and q["available_units"] == 4
    q = quote(market, product, mode="reserved", units=2, term_months=3)
    assert q["unit_price"]["fen"] == 3_500_000 and q["frozen_now"]["fen"] == q["charged_now"]["fen"] == 21_000_000
    assert q["total"]["fen"] == 21_000_000 and q["per_hour"] is None
    q = quote(market, product, mode="spot", units=1, bid_hourly_fen=3500)
    assert q["unit_price"]["fen"] == 3500 and q["frozen_now"]["fen"] == 3500 and q["total"] is None


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"mode": "spot", "bid_hourly_fen": 2999}, 422, "bid_below_floor"),
    ({"mode": "spot"}, 422, "bid_required"),
    ({"mode": "reserved", "term_months": 2}, 422, "invalid_term"),
    ({"mode": "on_demand", "term_months": 3}, 422, "term_not_applicable"),
    ({"mode": "weekly"}, 422, "validation_error"),
    ({"units": 0}, 422, "validation_error"),
    ({"hours": 0}, 422, "validation_error"),
])
def test_the_quote_refuses_what_the_order_would_refuse(market, params, status, code):
    _, product = market.seller_with_product(price_spot_floor_fen=3000)
    r = market.client.get(f"/api/v1/products/{product['id']}/quote", params=params)
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    if code != "validation_error":
        buyer = market.buyer(topup_fen=1_000_000)
        order = market.order(buyer, product, **params)
        assert order.status_code == status and order.json()["error"]["code"] == code


def test_an_unknown_product_is_404(market):
    r = market.client.get("/api/v1/products/01900000-0000-7000-8000-000000000000/quote")
    assert r.status_code == 404


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["on_demand", "reserved", "spot"]), units=st.integers(1, 3),
       term=st.sampled_from([1, 3, 6, 12]), bid_over_floor=st.integers(0, 9_999), price=st.integers(1, 50_000),
       discount_bp=st.integers(0, 3000))
def test_the_quote_is_what_the_placed_order_holds_and_charges(market, mode, units, term, bid_over_floor, price,
                                                              discount_bp):
    floor = max(1, price // 3)
    _, product = market.seller_with_product(price_on_demand_fen=price, price_spot_floor_fen=floor,
                                            price_reserved_month_fen=price * 500, reserved_discounts_bp={"3": discount_bp},
                                            stock_units=3)
    params = {"mode": mode, "units": units}
    if mode == "reserved":
        params["term_months"] = term
    if mode == "spot":
        params["bid_hourly_fen"] = floor + bid_over_floor
    q = quote(market, product, **params, **({} if mode == "reserved" else {"hours": 3}))
    buyer = market.buyer(topup_fen=q["frozen_now"]["fen"])  # exactly what the quote says is frozen
    r = market.order(buyer, product, **params)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["held"]["fen"] + order["charged"]["fen"] == q["frozen_now"]["fen"]
    assert order["charged"]["fen"] == q["charged_now"]["fen"] and order["unit_price"] == q["unit_price"]
    assert market.wallet(buyer)["available"]["fen"] == 0
    if mode == "reserved":
        discounts = {3: discount_bp} if discount_bp else {}
        assert q["total"]["fen"] == reserved_price(price * 500, units, term, discounts)
    else:
        unit_price = q["unit_price"]["fen"]
        assert q["frozen_now"]["fen"] == minimum_prepay_fen(unit_price, units)
        assert q["total"]["fen"] == charge_for_seconds(unit_price, units, 3 * 3600)
        assert market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).status_code == 200
