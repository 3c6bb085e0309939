"""The consoles' figures over time (trading.reports, catalog.utilization) through the API, on SQLite and
PostgreSQL, with a ManualClock: checked against the invoices (computed independently from the same ledger) and
against hand-computed unit-seconds. After every test the ledger must be consistent."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from trading_helpers import START, Market, assert_ledger_consistent, new_market

from suanli.catalog.service import backdate_initial_stock

from suanli.core.billing import charge_for_seconds, reserved_price
from suanli.core.ledger import commission_fen
from suanli.core.china_time import day_start
from suanli.trading.reports import occupied_seconds_per_day

# START is 2026-11-28 08:00 UTC = 16:00 China Standard Time.
DAY1, DAY2 = dt.date(2026, 11, 28), dt.date(2026, 11, 29)


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, first_name_number=3000)
    yield m
    assert_ledger_consistent(m)


def get(market: Market, user: dict, url: str) -> dict:
    r = market.client.get(url, headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def by_day(days: list[dict]) -> dict[str, dict]:
    return {d["day"]: d for d in days}


def trade_two_days(market: Market):
    """Seller A: 2 units on demand for an hour on DAY1 (then a 1,000 fen refund), 1 unit reserved from DAY2.
    Seller B: 1 unit on demand for 30 minutes on DAY1."""
    seller_a, product_a = market.seller_with_product(price_on_demand_fen=8000, stock_units=4,
                                                     price_reserved_month_fen=3_500_000)
    seller_b, product_b = market.seller_with_product(price_on_demand_fen=6000, stock_units=2)
    with market.db.unit_of_work() as session:  # in stock since the day before (created on the system clock)
        backdate_initial_stock(session, START - dt.timedelta(days=1))
    buyer = market.buyer(topup_fen=10_000_000)
    first = market.order(buyer, product_a, units=2).json()
    other = market.order(buyer, product_b, units=1).json()
    market.clock.advance(1800)
    assert market.client.post(f"/api/v1/orders/{other['id']}/release", headers=buyer["headers"]).status_code == 200
    market.clock.advance(1800)
    assert market.client.post(f"/api/v1/orders/{first['id']}/release", headers=buyer["headers"]).status_code == 200
    r = market.client.post(f"/api/v1/operator/orders/{first['id']}/refunds", headers=market.operator["headers"],
                           json={"amount_fen": 1000, "reference": f"ticket-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    market.clock.advance(8 * 3600)  # 2026-11-29 01:00 CST
    reserved = market.order(buyer, product_a, mode="reserved", units=1, term_months=1)
    assert reserved.status_code == 201, reserved.text
    market.clock.advance(5 * 3600)  # now 2026-11-29 06:00 CST
    return seller_a, product_a, seller_b, product_b


def test_platform_volume_per_day_matches_the_charges(market):
    trade_two_days(market)
    body = get(market, market.operator, "/api/v1/operator/dashboard?days=3")
    days = by_day(body["volume"])
    assert list(days) == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert days["2026-11-27"]["gross"]["fen"] == 0 and days["2026-11-27"]["orders"] == 0
    day1_gross = charge_for_seconds(8000, 2, 3600) + charge_for_seconds(6000, 1, 1800)
    assert days["2026-11-28"]["gross"]["fen"] == day1_gross
    assert days["2026-11-28"]["commission"]["fen"] == (commission_fen(charge_for_seconds(8000, 2, 3600), 500)
                                                       + commission_fen(charge_for_seconds(6000, 1, 1800), 500))
    assert days["2026-11-28"]["net"]["fen"] == day1_gross - days["2026-11-28"]["commission"]["fen"]
    assert days["2026-11-28"]["refunds"]["fen"] == 1000
    assert days["2026-11-28"]["gmv"]["fen"] == day1_gross - 1000
    assert days["2026-11-28"]["orders"] == 2
    assert days["2026-11-29"]["gross"]["fen"] == reserved_price(3_500_000, 1, 1, {})
    assert days["2026-11-29"]["orders"] == 1
    # The platform's figures (GMV = charged − refunded over all orders) agree with the days summed.
    stats = market.client.get("/api/v1/stats").json()
    assert stats["gmv"]["fen"] == sum(d["gmv"]["fen"] for d in body["volume"])


def test_seller_volume_is_its_own_and_agrees_with_its_invoice(market):
    seller_a, _, seller_b, _ = trade_two_days(market)
    volume_a = get(market, seller_a, "/api/v1/seller/volume?days=2")["days"]
    volume_b = by_day(get(market, seller_b, "/api/v1/seller/volume?days=2")["days"])
    assert [d["day"] for d in volume_a] == ["2026-11-28", "2026-11-29"]
    invoice = get(market, seller_a, "/api/v1/seller/revenue?period=2026-11")
    for key in ("gross", "commission", "net", "refunds"):
        assert sum(d[key]["fen"] for d in volume_a) == invoice[key]["fen"], key
    assert [d["orders"] for d in volume_a] == [1, 1]
    assert volume_b["2026-11-28"]["gross"]["fen"] == charge_for_seconds(6000, 1, 1800)
    assert volume_b["2026-11-28"]["refunds"]["fen"] == 0
    assert volume_b["2026-11-29"]["gross"]["fen"] == 0 and volume_b["2026-11-29"]["orders"] == 0


def test_seller_utilization_now_and_per_day(market):
    seller_a, product_a, seller_b, _ = trade_two_days(market)
    body = get(market, seller_a, "/api/v1/seller/utilization?days=2")
    assert [dc["datacenter_id"] for dc in body["datacenters"]] == [product_a["datacenter"]["id"]]
    (now,) = body["datacenters"]
    assert (now["stock_units"], now["allocated_units"], now["ratio"]) == (4, 1, 0.25)
    assert (now["accelerators"], now["accelerators_allocated"], now["accelerator_ratio"]) == (32, 8, 0.25)
    assert body["days"] == ["2026-11-28", "2026-11-29"]
    (series,) = body["history"]
    # DAY1: 2 units × 1 h of a 4-unit stock over the whole day; DAY2: 1 unit × 5 h over the 6 h passed.
    assert series["ratios"] == pytest.approx([2 * 3600 / (4 * 86400), 5 * 3600 / (4 * 6 * 3600)])
    other = get(market, seller_b, "/api/v1/seller/utilization?days=2")
    assert other["datacenters"][0]["allocated_units"] == 0
    assert other["history"][0]["ratios"] == pytest.approx([1800 / (2 * 86400), 0.0])


def test_dashboard_utilization_lists_approved_data_centers_only(market):
    seller_a, product_a, _, _ = trade_two_days(market)
    pending = market.make.datacenter(seller_a, approved=False)
    body = get(market, market.operator, "/api/v1/operator/dashboard?days=1")
    ids = {dc["datacenter_id"] for dc in body["utilization"]}
    assert product_a["datacenter"]["id"] in ids and pending["id"] not in ids
    assert all(dc["status"] == "approved" for dc in body["utilization"])
    empty = get(market, seller_a, "/api/v1/seller/utilization?days=1")
    pending_row = next(dc for dc in empty["datacenters"] if dc["datacenter_id"] == pending["id"])
    assert (pending_row["stock_units"], pending_row["ratio"]) == (0, None)


def test_reports_check_roles_and_days(market):
    seller, _ = market.seller_with_product()
    buyer = market.buyer()
    for user, url in ((buyer, "/api/v1/seller/utilization"), (buyer, "/api/v1/seller/volume"),
                      (seller, "/api/v1/operator/dashboard"), (buyer, "/api/v1/operator/dashboard")):
        r = market.client.get(url, headers=user["headers"])
        assert r.status_code == 403, (url, r.text)
        assert r.json()["error"]["code"] == "wrong_role"
    assert market.client.get("/api/v1/seller/volume").status_code == 401
    for days in (0, 367, "x"):
        r = market.client.get(f"/api/v1/seller/volume?days={days}", headers=seller["headers"])
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"


def test_occupied_seconds_split_across_days():
    start = day_start(DAY1) + dt.timedelta(hours=23)  # 23:00 CST on DAY1
    intervals = [(3, start, start + dt.timedelta(hours=2)), (1, start - dt.timedelta(days=5), start)]
    assert occupied_seconds_per_day(intervals, [DAY1, DAY2]) == [3 * 3600 + 23 * 3600, 3 * 3600]
    assert occupied_seconds_per_day([], [DAY1]) == [0]


def test_a_commission_only_ledger_event_counts_in_the_sellers_volume(market):
    # 36 fen per hour: 9 fen after 900 s, 10 fen after 1000 s. The commission (5 %) is taken on the cumulative
    # amount: 0 fen on 9, 1 fen on 10, so the release's 1-fen increment is all commission and has no capture leg.
    assert commission_fen(9, 500) == 0 and commission_fen(10, 500) == 1
    seller, product = market.seller_with_product(price_on_demand_fen=36, stock_units=1)
    with market.db.unit_of_work() as session:
        backdate_initial_stock(session, START - dt.timedelta(days=1))
    buyer = market.buyer(topup_fen=10_000)
    order = market.order(buyer, product, units=1).json()
    market.clock.advance(900)
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200 and r.json()["metered"] == 1
    market.clock.advance(100)
    ended = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    assert ended["charged"]["fen"] == charge_for_seconds(36, 1, 1000) == 10
    day = by_day(get(market, seller, "/api/v1/seller/volume?days=1")["days"])[DAY1.isoformat()]
    assert (day["gross"]["fen"], day["commission"]["fen"], day["net"]["fen"]) == (10, 1, 9)
    invoice = get(market, seller, "/api/v1/seller/revenue?period=2026-11")
    assert (invoice["gross"]["fen"], invoice["commission"]["fen"]) == (10, 1)
