"""Extending a reserved lease (POST /api/v1/orders/{id}/extend), on SQLite and PostgreSQL, with a ManualClock.

After every test the ledger's trial balance must be balanced, agree with a replay by the core ``Ledger``, and the
products' allocated units and the buyers' held money must equal those of the open orders.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trading_helpers import START, Market, assert_ledger_consistent, new_market

from suanli.core.billing import add_months, reserved_price
from suanli.core.ledger import split_commission

MONTHLY = 1_000_003  # per unit-month, fen: odd, so the commission rounds


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, first_name_number=2000)
    yield m
    assert_ledger_consistent(m)


def extend(market: Market, buyer: dict, order: dict, months: int, key: str | None = None):
    headers = dict(buyer["headers"]) | ({"Idempotency-Key": key} if key else {})
    return market.client.post(f"/api/v1/orders/{order['id']}/extend", headers=headers, json={"term_months": months})


def reserved_order(market: Market, **product: int) -> tuple[dict, dict, dict, dict]:
    seller, prod = market.seller_with_product(stock_units=3, price_reserved_month_fen=MONTHLY,
                                              reserved_discounts_bp={"3": 500, "6": 1000}, **product)
    buyer = market.buyer(topup_fen=20_000_000)
    r = market.order(buyer, prod, key="first-term", mode="reserved", units=2, term_months=1)
    assert r.status_code == 201, r.text
    return seller, prod, buyer, r.json()


def test_extension_charges_the_current_price_and_discount_and_moves_the_end(market):
    seller, product, buyer, order = reserved_order(market)
    first = reserved_price(MONTHLY, 2, 1, {})
    assert order["charged"]["fen"] == first
    # The seller raises the price: the extension pays the price of the day, the first term keeps its snapshot.
    r = market.client.patch(f"/api/v1/products/{product['id']}", headers=seller["headers"],
                            json={"price_reserved_month_fen": MONTHLY + 100_000,
                                  "confirm_unusual_price": True})  # under 200 on-demand hours: the guard asks
    assert r.status_code == 200, r.text
    market.clock.advance(86_400 * 10)
    r = extend(market, buyer, order, 3)
    assert r.status_code == 200, r.text
    extended = r.json()
    added = reserved_price(MONTHLY + 100_000, 2, 3, {3: 500, 6: 1000})
    assert added == (MONTHLY + 100_000) * 2 * 3 * 95 // 100
    assert extended["term_months"] == 4 and extended["unit_price"]["fen"] == MONTHLY
    assert extended["charged"]["fen"] == first + added and extended["held"]["fen"] == 0
    assert extended["ends_at"].startswith(add_months(START, 4).isoformat()[:19])
    assert market.wallet(buyer)["available"]["fen"] == 20_000_000 - first - added
    # The seller's net and the platform's commission are split as on one settlement of first + added.
    net, _ = split_commission(first + added, 500)
    assert market.wallet(seller)["receivable"]["fen"] == net
    assert market.allocated(product) == 2  # the same units, held on
    usage = market.client.get(f"/api/v1/orders/{order['id']}/usage", headers=buyer["headers"]).json()["items"]
    assert [u["event"] for u in usage] == ["start", "extend"]
    assert usage[1]["charged_total"]["fen"] == first + added and usage[1]["note"].startswith("+3m ")
    # A refund of everything reverses the split exactly (one commission rate per order).
    r = market.client.post(f"/api/v1/operator/orders/{order['id']}/refunds", headers=market.operator["headers"],
                           json={"amount_fen": first + added, "reference": "ticket-extend-1"})
    assert r.status_code == 201, r.text
    assert market.wallet(seller)["receivable"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == 20_000_000


def test_the_extended_term_ends_later_and_frees_the_units_then(market):
    _, product, buyer, order = reserved_order(market)
    assert extend(market, buyer, order, 1).status_code == 200
    market.clock.advance(86_400 * 31)  # past the first month (November has 30 days)
    assert market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]
                              ).json()["terms_ended"] == 0
    assert market.allocated(product) == 2
    market.clock.advance(86_400 * 31)  # past two months
    assert market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]
                              ).json()["terms_ended"] == 1
    assert market.allocated(product) == 0
    r = extend(market, buyer, order, 1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "order_not_active"


def test_on_demand_and_spot_leases_are_not_extendable(market):
    _, product = market.seller_with_product(stock_units=3)
    buyer = market.buyer(topup_fen=1_000_000)
    for body in ({"mode": "on_demand"}, {"mode": "spot", "bid_hourly_fen": 3000}):
        order = market.order(buyer, product, **body).json()
        r = extend(market, buyer, order, 1)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "not_extendable" and "release" in error["message"]
        assert error["details"]["mode"] == body["mode"]
    assert market.wallet(buyer)["available"]["fen"] == 1_000_000 - 8000 - 3000  # both holds, nothing more


def test_extension_without_the_money_is_402_and_changes_nothing(market):
    seller, product, buyer, order = reserved_order(market)
    before = market.wallet(buyer)["available"]["fen"]
    r = extend(market, buyer, order, 12)
    assert r.status_code == 402, r.text
    error = r.json()["error"]
    needed = reserved_price(MONTHLY, 2, 12, {3: 500, 6: 1000})
    assert error["code"] == "insufficient_funds"
    assert error["details"] == {"needed_fen": needed, "available_fen": before, "shortfall_fen": needed - before}
    same = market.client.get(f"/api/v1/orders/{order['id']}", headers=buyer["headers"]).json()
    assert same["term_months"] == 1 and same["ends_at"] == order["ends_at"] and same["charged"] == order["charged"]
    assert market.wallet(buyer)["available"]["fen"] == before


def test_a_retry_with_the_same_key_extends_once(market):
    seller, product, buyer, order = reserved_order(market)
    first = extend(market, buyer, order, 3, key="ext-1")
    again = extend(market, buyer, order, 3, key="ext-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["term_months"] == 4
    reused = extend(market, buyer, order, 1, key="ext-1")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    # Retrying the original placement (its key, its first term) still finds the order, extended or not.
    retry = market.order(buyer, product, key="first-term", mode="reserved", units=2, term_months=1)
    assert retry.status_code == 200 and retry.json()["id"] == order["id"]
    assert market.order(buyer, product, key="first-term", mode="reserved", units=2, term_months=3
                        ).json()["error"]["code"] == "idempotency_key_reused"
    spent = reserved_price(MONTHLY, 2, 1, {}) + reserved_price(MONTHLY, 2, 3, {3: 500})
    assert market.wallet(buyer)["available"]["fen"] == 20_000_000 - spent


def test_bad_extensions_are_clear_4xx(market):
    seller, product, buyer, order = reserved_order(market)
    r = extend(market, buyer, order, 2)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_term"
    assert r.json()["error"]["details"]["valid_values"] == [1, 3, 6, 12]
    other = market.buyer(topup_fen=10)
    r = extend(market, other, order, 1)
    assert r.status_code == 404 and r.json()["error"]["code"] == "order_not_found"
    r = market.client.post(f"/api/v1/orders/{order['id']}/extend", headers=buyer["headers"], json={"months": 1})
    assert r.status_code == 422
    r = market.client.post(f"/api/v1/orders/{order['id']}/extend", headers=seller["headers"],
                           json={"term_months": 1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_role"
