"""Orders, wallet, ledger and top-ups through the API, on SQLite and PostgreSQL, with a ManualClock.

After every test the ledger's trial balance must be balanced and agree with a replay by the core ``Ledger``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trading_helpers import START, Market, TestClient, assert_ledger_consistent, quick_user

from suanli.core.billing import ManualClock, charge_for_seconds, minimum_prepay_fen, reserved_end, reserved_price
from suanli.core.ledger import commission_fen


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    from suanli.app import create_app

    clock = ManualClock(START)
    client = TestClient(create_app(db, clock=clock))
    factory = type(make)(client, db)  # conftest.Factory, on the client with the ManualClock
    factory._n = 1000  # distinct names from the shared factory's
    m = Market(client=client, db=db, clock=clock, make=factory, operator=quick_user(db, "operator"))
    yield m
    assert_ledger_consistent(m)


def product_available(market: Market, product: dict) -> int:
    return market.client.get(f"/api/v1/products/{product['id']}").json()["available_units"]


# ---------------------------------------------------------------- on demand

def test_on_demand_order_is_charged_per_second_on_release(market):
    seller, product = market.seller_with_product(stock_units=4, price_on_demand_fen=8333)
    buyer = market.buyer(topup_fen=1_000_000)
    r = market.order(buyer, product, units=3)
    assert r.status_code == 201, r.text
    order = r.json()
    hold = minimum_prepay_fen(8333, 3)
    assert order["status"] == "active" and order["mode"] == "on_demand"
    assert order["unit_price"] == {"fen": 8333, "cny": "83.33"} and order["unit_price_per"] == "hour"
    assert order["held"]["fen"] == hold and order["charged"]["fen"] == 0 and order["commission_bp"] == 500
    assert order["started_at"].startswith("2026-11-28T08:00:00")
    assert market.wallet(buyer)["available"]["fen"] == 1_000_000 - hold
    assert market.wallet(buyer)["held"]["fen"] == hold
    assert product_available(market, product) == 1 and market.allocated(product) == 3

    market.clock.advance(1234)
    r = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    ended = r.json()
    charged = charge_for_seconds(8333, 3, 1234)
    assert ended["status"] == "ended" and ended["charged"]["fen"] == charged and ended["held"]["fen"] == 0
    assert ended["ended_at"].startswith("2026-11-28T08:20:34")
    assert market.wallet(buyer)["available"]["fen"] == 1_000_000 - charged
    assert market.wallet(buyer)["held"]["fen"] == 0
    assert market.wallet(seller)["receivable"]["fen"] == charged - commission_fen(charged, 500)
    assert product_available(market, product) == 4 and market.allocated(product) == 0

    again = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_not_active"


def test_thirty_minutes_of_two_units(market):
    seller, product = market.seller_with_product(price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=100_000)
    order = market.order(buyer, product, units=2).json()
    market.clock.advance(30 * 60)
    ended = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    assert ended["charged"]["fen"] == charge_for_seconds(8000, 2, 1800) == 8000
    assert market.wallet(seller)["receivable"]["fen"] == 8000 - 400
    assert market.wallet(buyer)["available"]["fen"] == 100_000 - 8000


def test_release_past_the_hold_charges_what_the_wallet_still_covers(market):
    seller, product = market.seller_with_product(price_on_demand_fen=1000, price_spot_floor_fen=None)
    buyer = market.buyer(topup_fen=1500)
    order = market.order(buyer, product).json()
    assert order["held"]["fen"] == 1000
    market.clock.advance(3 * 3600)  # would cost 3000; the wallet holds 1500 in all
    ended = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    assert ended["charged"]["fen"] == 1500
    assert market.wallet(buyer)["available"]["fen"] == 0 and market.wallet(buyer)["held"]["fen"] == 0


def test_insufficient_funds_is_402_and_allocates_nothing(market):
    _, product = market.seller_with_product(price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=15_999)
    r = market.order(buyer, product, units=2)
    assert r.status_code == 402, r.text
    error = r.json()["error"]
    assert error["code"] == "insufficient_funds"
    assert error["details"]["needed_fen"] == 16_000 and error["details"]["available_fen"] == 15_999
    assert market.allocated(product) == 0
    assert market.wallet(buyer)["available"]["fen"] == 15_999
    assert market.client.get("/api/v1/orders", headers=buyer["headers"]).json()["total"] == 0


def test_insufficient_stock_is_409_with_available_units(market):
    _, product = market.seller_with_product(stock_units=4)
    buyer = market.buyer(topup_fen=10_000_000)
    assert market.order(buyer, product, units=3).status_code == 201
    r = market.order(buyer, product, units=2)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "insufficient_stock" and error["details"]["available_units"] == 1
    assert market.order(buyer, product, units=1).status_code == 201
    assert market.allocated(product) == 4
    assert market.wallet(buyer)["held"]["fen"] == minimum_prepay_fen(8000, 4)


def test_only_buyers_order(market):
    seller, product = market.seller_with_product()
    r = market.order(seller, product)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_role"
    assert market.client.post("/api/v1/orders", json={"product_id": product["id"], "mode": "on_demand",
                                                       "units": 1}).status_code == 401


def test_unknown_product_and_bad_bodies(market):
    buyer = market.buyer(topup_fen=100_000)
    r = market.order(buyer, {"id": "0190d6a4-0000-7000-8000-000000000000"})
    assert r.status_code == 404
    _, product = market.seller_with_product()
    assert market.order(buyer, product, units=0).status_code == 422
    assert market.order(buyer, product, mode="lease").status_code == 422
    r = market.order(buyer, product, term_months=3)
    assert r.status_code == 422 and r.json()["error"]["code"] == "term_not_applicable"
    r = market.order(buyer, product, bid_hourly_fen=5000)
    assert r.status_code == 422 and r.json()["error"]["code"] == "bid_not_applicable"


# ---------------------------------------------------------------- reserved and spot

def test_reserved_order_is_paid_upfront(market):
    seller, product = market.seller_with_product(price_reserved_month_fen=3_500_000, stock_units=2)
    price = reserved_price(3_500_000, 2, 3, {})
    buyer = market.buyer(topup_fen=price + 5)
    r = market.order(buyer, product, mode="reserved", units=2, term_months=3)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["charged"]["fen"] == price == 21_000_000 and order["held"]["fen"] == 0
    assert order["unit_price_per"] == "month" and order["term_months"] == 3
    assert order["ends_at"].startswith(reserved_end(START, 3).isoformat()[:19])
    assert market.wallet(buyer)["available"]["fen"] == 5 and market.wallet(buyer)["held"]["fen"] == 0
    assert market.wallet(seller)["receivable"]["fen"] == price - commission_fen(price, 500)
    assert market.allocated(product) == 2
    r = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "reserved_not_releasable"
    r = market.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_cancellable"


def test_reserved_needs_a_valid_term_and_an_offer(market):
    _, product = market.seller_with_product()
    buyer = market.buyer(topup_fen=100_000_000)
    for term in (None, 2, 24):
        r = market.order(buyer, product, mode="reserved", term_months=term)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_term", r.text
    _, hourly_only = market.seller_with_product(price_reserved_month_fen=None, price_spot_floor_fen=None)
    r = market.order(buyer, hourly_only, mode="reserved", term_months=1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "mode_not_offered"
    r = market.order(buyer, hourly_only, mode="spot", bid_hourly_fen=5000)
    assert r.status_code == 409 and r.json()["error"]["code"] == "mode_not_offered"


def test_reserved_insufficient_funds(market):
    _, product = market.seller_with_product(price_reserved_month_fen=3_500_000)
    buyer = market.buyer(topup_fen=3_499_999)
    r = market.order(buyer, product, mode="reserved", term_months=1)
    assert r.status_code == 402 and r.json()["error"]["details"]["needed_fen"] == 3_500_000
    assert market.allocated(product) == 0


def test_spot_bid_below_floor_names_the_floor(market):
    _, product = market.seller_with_product(price_spot_floor_fen=3000)
    buyer = market.buyer(topup_fen=100_000)
    r = market.order(buyer, product, mode="spot", bid_hourly_fen=2999)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "bid_below_floor"
    assert "3000 fen" in error["message"] and "¥30.00" in error["message"]
    assert error["details"]["floor_fen"] == 3000
    r = market.order(buyer, product, mode="spot")
    assert r.status_code == 422 and r.json()["error"]["code"] == "bid_required"
    assert market.allocated(product) == 0


def test_spot_order_holds_an_hour_at_the_bid(market):
    seller, product = market.seller_with_product(price_spot_floor_fen=3000)
    buyer = market.buyer(topup_fen=100_000)
    r = market.order(buyer, product, mode="spot", units=2, bid_hourly_fen=3500)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["unit_price"]["fen"] == 3500 and order["held"]["fen"] == minimum_prepay_fen(3500, 2) == 7000
    market.clock.advance(600)
    ended = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    assert ended["charged"]["fen"] == charge_for_seconds(3500, 2, 600)
    assert market.wallet(seller)["receivable"]["fen"] == ended["charged"]["fen"] - commission_fen(
        ended["charged"]["fen"], 500)


# ---------------------------------------------------------------- idempotency and cancel

def test_idempotency_key_returns_the_same_order(market):
    _, product = market.seller_with_product(price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=1_000_000)
    first = market.order(buyer, product, key="retry-1")
    assert first.status_code == 201, first.text
    second = market.order(buyer, product, key="retry-1")
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert market.wallet(buyer)["held"]["fen"] == 8000
    assert market.allocated(product) == 1
    assert market.client.get("/api/v1/orders", headers=buyer["headers"]).json()["total"] == 1
    other = market.order(buyer, product, key="retry-2")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert market.wallet(buyer)["held"]["fen"] == 16_000
    reused = market.order(buyer, product, key="retry-1", units=2)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    # Keys are per buyer organization: another buyer may use the same key.
    buyer2 = market.buyer(topup_fen=1_000_000)
    assert market.order(buyer2, product, key="retry-1").status_code == 201


def test_cancel_within_the_grace_period_is_free(market):
    seller, product = market.seller_with_product(price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=100_000)
    order = market.order(buyer, product).json()
    market.clock.advance(59)
    r = market.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["charged"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == 100_000 and market.wallet(buyer)["held"]["fen"] == 0
    assert market.wallet(seller)["receivable"]["fen"] == 0
    assert market.allocated(product) == 0

    late = market.order(buyer, product).json()
    market.clock.advance(60)
    r = market.client.post(f"/api/v1/orders/{late['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "cancel_window_passed"


# ---------------------------------------------------------------- who sees what

def test_orders_are_private_to_their_buyer_and_seller(market):
    seller, product = market.seller_with_product()
    buyer, other = market.buyer(topup_fen=100_000), market.buyer(topup_fen=100_000)
    order = market.order(buyer, product).json()
    url = f"/api/v1/orders/{order['id']}"
    assert market.client.get(url, headers=buyer["headers"]).status_code == 200
    r = market.client.get(url, headers=other["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "order_not_found"
    for action in ("release", "cancel"):
        r = market.client.post(f"{url}/{action}", headers=other["headers"])
        assert r.status_code == 404, r.text
    assert market.client.get("/api/v1/orders", headers=other["headers"]).json()["total"] == 0
    # The seller sees orders for its products; another seller does not; operators see all.
    assert market.client.get(url, headers=seller["headers"]).status_code == 200
    assert [o["id"] for o in market.client.get("/api/v1/orders", headers=seller["headers"]).json()["items"]] == [
        order["id"]]
    other_seller, _ = market.seller_with_product()
    assert market.client.get(url, headers=other_seller["headers"]).status_code == 404
    assert market.client.get(url, headers=market.operator["headers"]).status_code == 200
    r = market.client.post(f"{url}/release", headers=seller["headers"])
    assert r.status_code == 403
    assert market.allocated(product) == 1


def test_orders_list_newest_first_and_paged(market):
    _, product = market.seller_with_product(stock_units=10)
    buyer = market.buyer(topup_fen=10_000_000)
    ids = []
    for _ in range(3):
        ids.append(market.order(buyer, product).json()["id"])
        market.clock.advance(1)
    page = market.client.get("/api/v1/orders?limit=2", headers=buyer["headers"]).json()
    assert page["total"] == 3 and [o["id"] for o in page["items"]] == ids[::-1][:2]
    page = market.client.get("/api/v1/orders?limit=2&offset=2", headers=buyer["headers"]).json()
    assert [o["id"] for o in page["items"]] == ids[:1]
    market.client.post(f"/api/v1/orders/{ids[0]}/release", headers=buyer["headers"])
    ended = market.client.get("/api/v1/orders?status=ended", headers=buyer["headers"]).json()
    assert [o["id"] for o in ended["items"]] == ids[:1]


# ---------------------------------------------------------------- wallet, ledger, top-ups, settings

def test_topup_is_idempotent_by_reference(market):
    buyer = market.buyer()
    first = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"], json={
        "organization_id": buyer["org_id"], "amount_fen": 50_000, "reference": "ICBC-2026-0001"})
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True and first.json()["available"]["fen"] == 50_000
    again = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"], json={
        "organization_id": buyer["org_id"], "amount_fen": 50_000, "reference": "ICBC-2026-0001"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert market.wallet(buyer)["available"]["fen"] == 50_000
    clash = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"], json={
        "organization_id": buyer["org_id"], "amount_fen": 60_000, "reference": "ICBC-2026-0001"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "topup_reference_reused"
    assert market.wallet(buyer)["available"]["fen"] == 50_000


def test_topup_rules(market):
    buyer = market.buyer()
    seller, _ = market.seller_with_product()
    body = {"organization_id": buyer["org_id"], "amount_fen": 100, "reference": "r-1"}
    assert market.client.post("/api/v1/operator/topups", headers=buyer["headers"], json=body).status_code == 403
    r = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"],
                           json=body | {"organization_id": seller["org_id"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_buyer"
    for bad in ({"amount_fen": 0}, {"amount_fen": -5}, {"reference": ""}, {"reference": "has space"}):
        r = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"], json=body | bad)
        assert r.status_code == 422, bad
    r = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"],
                           json=body | {"organization_id": "0190d6a4-0000-7000-8000-000000000000"})
    assert r.status_code == 404


def test_wallet_and_ledger_entries(market):
    seller, product = market.seller_with_product(price_on_demand_fen=6000)
    buyer = market.buyer(topup_fen=100_000)
    assert market.wallet(buyer) == {"organization_id": buyer["org_id"], "role": "buyer",
                                    "available": {"fen": 100_000, "cny": "1000.00"},
                                    "held": {"fen": 0, "cny": "0.00"}, "receivable": None}
    assert market.wallet(seller)["receivable"] == {"fen": 0, "cny": "0.00"}
    order = market.order(buyer, product).json()
    market.clock.advance(900)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    entries = market.client.get("/api/v1/ledger/entries", headers=buyer["headers"]).json()
    kinds = [e["kind"] for e in entries["items"]]
    assert entries["total"] == 5 and sorted(kinds) == sorted(["topup", "hold", "capture", "commission", "release"])
    assert kinds[-1] == "topup" and kinds[-2] == "hold"  # newest first
    ref = f"order:{order['id']}"
    assert {e["id"] for e in entries["items"] if e["ref"] == ref} == {
        f"{ref}:hold", f"{ref}:capture", f"{ref}:commission", f"{ref}:release"}
    page = market.client.get("/api/v1/ledger/entries?limit=2&offset=3", headers=buyer["headers"]).json()
    assert [e["kind"] for e in page["items"]] == kinds[3:5]
    seller_entries = market.client.get("/api/v1/ledger/entries", headers=seller["headers"]).json()
    assert [e["kind"] for e in seller_entries["items"]] == ["capture"]
    assert seller_entries["items"][0]["amount"]["fen"] == 1500 - commission_fen(1500, 500)


def test_trial_balance_lists_every_account(market):
    seller, product = market.seller_with_product()
    buyer = market.buyer(topup_fen=100_000)
    order = market.order(buyer, product).json()
    market.clock.advance(100)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    tb = market.client.get("/api/v1/operator/ledger/trial-balance", headers=market.operator["headers"]).json()
    assert tb["balanced"] is True
    assert {a["kind"] for a in tb["accounts"]} == {"platform_cash", "platform_commission", "buyer_available",
                                                   "buyer_held", "seller_receivable"}
    cash = next(a for a in tb["accounts"] if a["kind"] == "platform_cash")
    assert cash["balance_fen"] == -100_000 and all(a["matches"] for a in tb["accounts"])
    assert market.client.get("/api/v1/operator/ledger/trial-balance",
                             headers=buyer["headers"]).status_code == 403


def test_operator_changes_the_commission_for_new_orders(market):
    seller, product = market.seller_with_product(price_on_demand_fen=10_000, stock_units=4)
    buyer = market.buyer(topup_fen=1_000_000)
    settings = market.client.get("/api/v1/operator/settings", headers=market.operator["headers"]).json()
    assert settings["commission_bp"] == 500 and settings["spot_notice_seconds"] == 300
    before = market.order(buyer, product).json()
    r = market.client.put("/api/v1/operator/settings", headers=market.operator["headers"], json={"commission_bp": 1234})
    assert r.status_code == 200 and r.json()["commission_bp"] == 1234 and r.json()["spot_notice_seconds"] == 300
    after = market.order(buyer, product).json()
    assert (before["commission_bp"], after["commission_bp"]) == (500, 1234)
    market.clock.advance(3600)
    for order in (before, after):
        market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert market.wallet(seller)["receivable"]["fen"] == (10_000 - commission_fen(10_000, 500)) + (
        10_000 - commission_fen(10_000, 1234))
    assert market.client.put("/api/v1/operator/settings", headers=buyer["headers"],
                             json={"commission_bp": 0}).status_code == 403
    bad = market.client.put("/api/v1/operator/settings", headers=market.operator["headers"],
                            json={"commission_bp": 10_001})
    assert bad.status_code == 422


# ---------------------------------------------------------------- payouts and refunds

def test_payouts_come_out_of_the_receivable_once_per_reference(market):
    seller, product = market.seller_with_product(price_reserved_month_fen=1_000_000)
    buyer = market.buyer(topup_fen=1_000_000)
    market.order(buyer, product, mode="reserved", term_months=1)
    receivable = 1_000_000 - commission_fen(1_000_000, 500)
    assert market.wallet(seller)["receivable"]["fen"] == receivable
    body = {"organization_id": seller["org_id"], "amount_fen": 600_000, "reference": "PAY-1"}
    ops = market.operator["headers"]
    r = market.client.post("/api/v1/operator/payouts", headers=ops, json=body)
    assert r.status_code == 201 and r.json()["receivable"]["fen"] == receivable - 600_000
    r = market.client.post("/api/v1/operator/payouts", headers=ops, json=body)
    assert r.status_code == 200 and r.json()["created"] is False
    assert market.wallet(seller)["receivable"]["fen"] == receivable - 600_000
    r = market.client.post("/api/v1/operator/payouts", headers=ops, json=body | {"amount_fen": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "payout_reference_reused"
    r = market.client.post("/api/v1/operator/payouts", headers=ops, json=body | {"reference": "PAY-2",
                                                                               "amount_fen": receivable})
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_receivable"
    r = market.client.post("/api/v1/operator/payouts", headers=ops, json=body | {"organization_id": buyer["org_id"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_seller"
    assert market.client.post("/api/v1/operator/payouts", headers=seller["headers"], json=body).status_code == 403


def test_refunds_reverse_the_split_exactly(market):
    seller, product = market.seller_with_product(price_reserved_month_fen=1_234_567)
    buyer = market.buyer(topup_fen=2_000_000)
    order = market.order(buyer, product, mode="reserved", term_months=1).json()
    url = f"/api/v1/operator/orders/{order['id']}/refunds"
    ops = market.operator["headers"]
    r = market.client.post(url, headers=ops, json={"amount_fen": 333_333, "reference": "TICKET-7"})
    assert r.status_code == 201, r.text
    assert r.json()["refunded"]["fen"] == 333_333
    assert market.wallet(buyer)["available"]["fen"] == 2_000_000 - 1_234_567 + 333_333
    again = market.client.post(url, headers=ops, json={"amount_fen": 333_333, "reference": "TICKET-7"})
    assert again.status_code == 200 and again.json()["refunded"]["fen"] == 333_333
    clash = market.client.post(url, headers=ops, json={"amount_fen": 5, "reference": "TICKET-7"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "refund_reference_reused"
    too_much = market.client.post(url, headers=ops, json={"amount_fen": 1_234_567, "reference": "TICKET-8"})
    assert too_much.status_code == 409 and too_much.json()["error"]["details"]["refundable_fen"] == 901_234
    rest = market.client.post(url, headers=ops, json={"amount_fen": 901_234, "reference": "TICKET-8"})
    assert rest.status_code == 201 and rest.json()["refunded"]["fen"] == 1_234_567
    # Everything refunded: the seller and the platform are back at zero, the buyer has all the money.
    assert market.wallet(seller)["receivable"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == 2_000_000
    tb = market.client.get("/api/v1/operator/ledger/trial-balance", headers=ops).json()
    assert next(a for a in tb["accounts"] if a["kind"] == "platform_commission")["balance_fen"] == 0
    assert market.client.post(url, headers=buyer["headers"], json={"amount_fen": 1,
                                                                  "reference": "x"}).status_code == 403
    missing = market.client.post("/api/v1/operator/orders/0190d6a4-0000-7000-8000-000000000000/refunds",
                                 headers=ops, json={"amount_fen": 1, "reference": "x"})
    assert missing.status_code == 404


def test_refund_after_the_seller_was_paid_out(market):
    seller, product = market.seller_with_product(price_reserved_month_fen=1_000_000)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product, mode="reserved", term_months=1).json()
    ops = market.operator["headers"]
    market.client.post("/api/v1/operator/payouts", headers=ops, json={
        "organization_id": seller["org_id"], "amount_fen": 950_000, "reference": "PAY-ALL"})
    r = market.client.post(f"/api/v1/operator/orders/{order['id']}/refunds", headers=ops,
                           json={"amount_fen": 1_000, "reference": "T-1"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_receivable"
    assert market.wallet(buyer)["available"]["fen"] == 0
