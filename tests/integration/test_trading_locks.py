"""The lock order of trading (docs/trading.md, "Locks"), checked on PostgreSQL's real row locks: while another
transaction holds a product's row — as a placement that preempts spot orders does, before it locks them — a
release, a cancel or a meter reading of one of the product's orders waits for the *product*, holding nothing of
the order, so that transaction can still lock the order: no deadlock, no re-run. (Before, they locked the order
first: the cycle the issue's testers hit.) A seller's stock change waits for the product likewise."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from contention_helpers import waiting_for_a_lock
from trading_helpers import Market, TestClient, checked_market


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    if db.is_sqlite:
        pytest.skip("SQLite has no row locks: its writers run one at a time")
    yield from checked_market(db, make)


@pytest.mark.parametrize("action", ["release", "cancel", "meter", "stock"])
def test_order_work_waits_for_the_product_before_it_holds_the_order(market, action, caplog):
    seller, product = market.seller_with_product(stock_units=4, price_on_demand_fen=6000)
    buyer = market.buyer(topup_fen=1_000_000)
    placed = market.order(buyer, product, units=2)
    assert placed.status_code == 201, placed.text
    order_id, product_id = uuid.UUID(placed.json()["id"]), uuid.UUID(product["id"])
    market.clock.advance(90)  # past the free-cancel minute: a cancel is refused (409), after taking its locks
    client = TestClient(market.client.app)
    requests = {
        "release": lambda: client.post(f"/api/v1/orders/{order_id}/release", headers=buyer["headers"]),
        "cancel": lambda: client.post(f"/api/v1/orders/{order_id}/cancel", headers=buyer["headers"]),
        "meter": lambda: client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]),
        "stock": lambda: client.patch(f"/api/v1/products/{product_id}", headers=seller["headers"],
                                      json={"stock_units": 6}),
    }
    answer: dict = {}
    with caplog.at_level("WARNING", logger="suanli.http"), market.db.engine.connect() as other:
        other.execute(text("SET lock_timeout = '5s'"))
        other.execute(text("SELECT id FROM products WHERE id = :id FOR NO KEY UPDATE"), {"id": product_id})
        thread = threading.Thread(target=lambda: answer.update(response=requests[action]()))
        thread.start()
        waiting_for_a_lock(market.db)
        # The other transaction now takes the order's row, as a preempting placement takes its spot orders':
        # granted at once, because the waiting request holds nothing of it (else: a deadlock, or lock_timeout).
        other.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
        other.commit()
        thread.join(timeout=60)
    r = answer["response"]
    expected = {"release": 200, "cancel": 409, "meter": 200, "stock": 200}[action]
    assert r.status_code == expected, r.text
    if action == "cancel":
        assert r.json()["error"]["code"] == "cancel_window_passed"
    if action == "meter":
        assert r.json()["metered"] == 1 and r.json()["failed"] == 0
    assert not [m for m in caplog.messages if "running it again" in m], caplog.messages
