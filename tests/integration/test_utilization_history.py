"""Utilization per day is measured against each day's stock (the stock history, ``product_stock_changes``), on
SQLite and PostgreSQL with a ManualClock. Products are made through the catalog service at the clock's times
(the API stamps them with the system clock's time, which a ManualClock test cannot line up with its orders)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from trading_helpers import START, Market, assert_ledger_consistent, new_market, quick_user

from suanli.accounts.models import User
from suanli.catalog.models import ProductStockChange
from suanli.catalog.schemas import ProductIn, ProductPatch
from suanli.catalog.service import backdate_initial_stock, create_product, update_product
from suanli.core.china_time import day_start
from suanli.trading.reports import last_days, stock_intervals, utilization_history

# START is 2026-11-28 08:00 UTC = 16:00 China Standard Time on DAY1.
DAY0, DAY1, DAY2 = dt.date(2026, 11, 27), dt.date(2026, 11, 28), dt.date(2026, 11, 29)
HOUR, DAY = 3600, 86400


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, first_name_number=5000)
    yield m
    assert_ledger_consistent(m)


def seller_with_datacenter(market: Market) -> tuple[dict[str, Any], dict[str, Any]]:
    seller = quick_user(market.db, "seller")
    return seller, market.make.datacenter(seller)


def new_product(market: Market, seller: dict[str, Any], datacenter: dict[str, Any], at: dt.datetime,
                stock_units: int) -> dict[str, Any]:
    body = ProductIn.model_validate({
        "datacenter_id": datacenter["id"], "name": f"A800 ×8 {uuid.uuid4().hex[:6]}", "kind": "accelerator",
        "chip": "a800", "accelerators": 8, "vcpus": 96, "memory_gib": 1024, "disk_gib": 4000, "network_gbps": 200,
        "delivery": "batch", "stock_units": stock_units, "price_on_demand_fen": 8000})
    with market.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == seller["email"]))
        product = create_product(session, user, body, now=at)
        return {"id": str(product.id)}


def set_stock(market: Market, seller: dict[str, Any], product: dict[str, Any], stock_units: int) -> None:
    with market.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == seller["email"]))
        update_product(session, user, uuid.UUID(product["id"]), ProductPatch(stock_units=stock_units),
                       now=market.clock.now())


def rent(market: Market, buyer: dict[str, Any], product: dict[str, Any], units: int, seconds: int) -> None:
    order = market.order(buyer, product, units=units)
    assert order.status_code == 201, order.text
    market.clock.advance(seconds)
    released = market.client.post(f"/api/v1/orders/{order.json()['id']}/release", headers=buyer["headers"])
    assert released.status_code == 200, released.text


def ratios(market: Market, seller: dict[str, Any], days: int) -> list[float | None]:
    r = market.client.get(f"/api/v1/seller/utilization?days={days}", headers=seller["headers"])
    assert r.status_code == 200, r.text
    (series,) = r.json()["history"]
    return series["ratios"]


def capacity(market: Market, days: list[dt.date]) -> list[int]:
    with market.db.unit_of_work(write=False) as session:
        (history,) = utilization_history(session, days, market.clock.now())
        return history.capacity_unit_seconds


def test_doubling_stock_today_leaves_yesterday_as_it_was(market):
    seller, datacenter = seller_with_datacenter(market)
    product = new_product(market, seller, datacenter, START - dt.timedelta(days=2), stock_units=4)
    buyer = market.buyer(topup_fen=1_000_000)
    rent(market, buyer, product, units=2, seconds=HOUR)  # DAY1 16:00–17:00 CST
    market.clock.advance(9 * HOUR)  # DAY2 02:00 CST
    before = ratios(market, seller, days=2)
    assert before == pytest.approx([2 * HOUR / (4 * DAY), 0.0])

    set_stock(market, seller, product, 8)
    market.clock.advance(2 * HOUR)  # DAY2 04:00 CST
    after = ratios(market, seller, days=2)
    assert after[0] == pytest.approx(before[0])  # measured against that day's 4 units, not today's 8
    assert capacity(market, [DAY1, DAY2]) == [4 * DAY, 4 * 2 * HOUR + 8 * 2 * HOUR]
    with market.db.unit_of_work(write=False) as session:
        history = session.execute(select(ProductStockChange.at, ProductStockChange.stock_units)
                                  .where(ProductStockChange.product_id == uuid.UUID(product["id"]))
                                  .order_by(ProductStockChange.at)).all()
    assert history == [(START - dt.timedelta(days=2), 4), (START + dt.timedelta(hours=10), 8)]


def test_a_change_that_leaves_the_stock_as_it_was_is_not_recorded(market):
    seller, datacenter = seller_with_datacenter(market)
    product = new_product(market, seller, datacenter, START, stock_units=4)
    with market.db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == seller["email"]))
        update_product(session, user, uuid.UUID(product["id"]), ProductPatch(name="renamed", stock_units=4),
                       now=START + dt.timedelta(hours=1))
    with market.db.unit_of_work(write=False) as session:
        rows = session.scalars(select(ProductStockChange.stock_units)
                               .where(ProductStockChange.product_id == uuid.UUID(product["id"]))).all()
    assert rows == [4]


def test_a_product_added_mid_period_counts_from_its_creation(market):
    seller, datacenter = seller_with_datacenter(market)
    old = new_product(market, seller, datacenter, START - dt.timedelta(days=5), stock_units=4)
    new_product(market, seller, datacenter, START + dt.timedelta(hours=2), stock_units=2)  # DAY1 18:00 CST
    buyer = market.buyer(topup_fen=1_000_000)
    rent(market, buyer, old, units=1, seconds=HOUR)
    market.clock.advance(11 * HOUR)  # DAY2 04:00 CST
    assert capacity(market, [DAY0, DAY1, DAY2]) == [4 * DAY, 4 * DAY + 2 * 6 * HOUR, (4 + 2) * 4 * HOUR]
    assert ratios(market, seller, days=3) == pytest.approx([0.0, HOUR / (4 * DAY + 2 * 6 * HOUR), 0.0])


def test_days_before_any_product_have_no_ratio(market):
    seller, datacenter = seller_with_datacenter(market)
    new_product(market, seller, datacenter, START, stock_units=4)  # DAY1 16:00 CST
    market.clock.advance(2 * HOUR)
    assert capacity(market, [DAY0, DAY1]) == [0, 4 * 2 * HOUR]
    assert ratios(market, seller, days=2) == [None, 0.0]


def test_a_product_with_one_history_row_counts_with_its_stock_throughout(market):
    """What the migration leaves for a product made before the stock history: one row at its creation."""
    seller, datacenter = seller_with_datacenter(market)
    new_product(market, seller, datacenter, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), stock_units=3)
    market.clock.advance(8 * HOUR)  # DAY2 00:00 CST
    days = last_days(market.clock.now(), 30)
    assert capacity(market, days) == [3 * DAY] * 29 + [0]


def test_backdating_moves_only_first_rows_later_than_the_time(market):
    seller, datacenter = seller_with_datacenter(market)
    early = new_product(market, seller, datacenter, START - dt.timedelta(days=40), stock_units=2)
    late = new_product(market, seller, datacenter, START, stock_units=4)
    market.clock.advance(HOUR)
    set_stock(market, seller, late, 6)
    with market.db.unit_of_work() as session:
        assert backdate_initial_stock(session, START - dt.timedelta(days=30)) == 1
    with market.db.unit_of_work(write=False) as session:
        rows = session.execute(select(ProductStockChange.product_id, ProductStockChange.at,
                                      ProductStockChange.stock_units).order_by(ProductStockChange.at)).all()
    assert [(str(p), at, n) for p, at, n in rows] == [
        (early["id"], START - dt.timedelta(days=40), 2), (late["id"], START - dt.timedelta(days=30), 4),
        (late["id"], START + dt.timedelta(hours=1), 6)]


def test_stock_intervals_add_up_the_changes_of_the_total():
    t = [day_start(DAY1) + dt.timedelta(hours=h) for h in range(6)]
    # product a: 4 from t0, 8 then 0 at t3; product b: 5 from t1, 1 from t2 (as changes of the total)
    changes = [(t[2], -4), (t[0], 4), (t[3], 4), (t[3], -8), (t[1], 5)]
    assert stock_intervals(changes, t[5]) == [(4, t[0], t[1]), (9, t[1], t[2]), (5, t[2], t[3]), (1, t[3], t[5])]
    assert stock_intervals(changes, t[2]) == [(4, t[0], t[1]), (9, t[1], t[2])]
    assert stock_intervals([(t[0], 3), (t[1], -3)], t[5]) == [(3, t[0], t[1])]  # none after all went
    assert stock_intervals([], t[5]) == []


def test_a_product_changed_twice_at_once_has_its_last_stock(market):
    seller, datacenter = seller_with_datacenter(market)
    product = new_product(market, seller, datacenter, START - dt.timedelta(days=1), stock_units=4)
    set_stock(market, seller, product, 9)
    set_stock(market, seller, product, 2)  # at the same instant: the later change counts
    market.clock.advance(HOUR)
    assert capacity(market, [DAY1]) == [4 * 16 * HOUR + 2 * HOUR]
