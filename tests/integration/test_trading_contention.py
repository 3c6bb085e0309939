"""Contention and database faults through a real server: `suanli serve --workers 2` on the test database, hit by
client processes (httpx, keep-alive) with bounded, mixed bursts.

- A burst of orders in all modes (with repeats of their Idempotency-Keys), releases, cancels, spot preemption (the
  notice is 1 s and the server meters every second), seller stock changes and meter runs, on PostgreSQL and
  SQLite: no 5xx at all, only the 4xx a caller can act on, one order per key, and afterwards the trial balance,
  every product's allocation and every buyer's holds agree with the orders (``checked_market``).
- PostgreSQL: the database refuses connections and its backends are terminated twice mid-burst: no 500, only
  503s with Retry-After (and a ``details.outcome``) while it is away, no dropped client connections, full
  recovery with no manual step, and nothing lost or doubled (the orders stored are exactly those answered 2xx).

Figures are printed (run with -s): answers by status, server-side retries, PostgreSQL's deadlock counter.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select

from support import PG_ADMIN_URL
from contention_helpers import Server, collect, start_clients, start_server
from suanli.trading.models import Order
from trading_helpers import Market, checked_market

ACTIONABLE = {"insufficient_stock", "order_not_active", "reserved_not_releasable", "cancel_window_passed",
              "not_cancellable", "stock_below_allocated", "insufficient_funds"}


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


@pytest.fixture
def server(market: Market, tmp_path: Path) -> Iterator[Server]:
    running = start_server(market.db.url, tmp_path)
    yield running
    running.stop()


def _products(market: Market, count: int, stock: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seller, first = market.seller_with_product(stock_units=stock, price_on_demand_fen=6000,
                                               price_spot_floor_fen=2000, price_reserved_month_fen=200_000)
    datacenter = {"id": first["datacenter"]["id"]}
    products = [first] + [market.make.product(seller, datacenter, stock_units=stock, price_on_demand_fen=6000,
                                              price_spot_floor_fen=2000, price_reserved_month_fen=200_000)
                          for _ in range(count - 1)]
    r = market.client.put("/api/v1/operator/settings", headers=market.operator["headers"],
                          json={"spot_notice_seconds": 1})
    assert r.status_code == 200, r.text
    return seller, products


def _wire(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": p["id"], "floor": 2000, "on_demand": 6000} for p in products]


def _deadlocks(market: Market) -> int | None:
    if market.db.is_sqlite:
        return None
    name = market.db.engine.url.database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return int(conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()[0])


def _figures(label: str, log: list[dict], server: Server, deadlocks: int | None, seconds: float) -> str:
    statuses = Counter(row["status"] for row in log)
    codes = Counter(row.get("code") for row in log if row.get("code"))
    text = server.log_text()
    return (f"\n{label}: {len(log)} answers in {seconds:.1f} s; by status {dict(sorted(statuses.items(), key=str))}; "
            f"codes {dict(codes)}; server re-runs {text.count('running it again')}, 503s answered "
            f"{text.count('answering 503')}; PostgreSQL deadlocks {deadlocks}")


def _orders_by_key(market: Market, keys: set[str]) -> Counter[str]:
    with market.db.unit_of_work(write=False) as session:
        return Counter(k for k in session.scalars(select(Order.idempotency_key)
                                                  .where(Order.idempotency_key.is_not(None))) if k in keys)


def test_a_mixed_burst_from_many_processes_gets_no_5xx_and_leaves_the_books_consistent(market, server):
    seller, products = _products(market, count=3, stock=5)
    buyers = [{"role": "buyer", **market.buyer(topup_fen=5_000_000)} for _ in range(15)]
    actors = [buyers[0:5], buyers[5:10], buyers[10:15],
              [{"role": "seller", "headers": seller["headers"], "products": [p["id"] for p in products]}] * 2
              + [{"role": "operator", "headers": market.operator["headers"]}]]
    deadlocks_before = _deadlocks(market)
    began = time.monotonic()
    clients = start_clients(server, actors, _wire(products), ops=12,
                            buyer_actions=["on_demand", "on_demand", "spot", "spot", "spot", "reserved", "repeat",
                                           "release", "release", "cancel"])
    log, keys = collect(clients)
    seconds = time.monotonic() - began
    deadlocks = None if deadlocks_before is None else _deadlocks(market) - deadlocks_before
    server.stop()  # quiescent: the books are checked after the test (checked_market)
    print(_figures("mixed burst", log, server, deadlocks, seconds))

    assert not [row for row in log if row["status"] is None], "a client connection failed or was dropped"
    assert not [row for row in log if row["status"] >= 500], [row for row in log if row["status"] >= 500]
    refused = {row["code"] for row in log if row["status"] >= 400}
    assert refused <= ACTIONABLE, refused
    statuses = Counter((row["op"], row["status"]) for row in log)
    # The burst reached what it is about: orders placed in every mode, repeats, releases, stock changes.
    for wanted in [("on_demand", 201), ("spot", 201), ("repeat", 200), ("release", 200), ("stock", 200)]:
        assert statuses[wanted] > 0, (wanted, statuses)
    assert all(len(ids) == 1 for ids in keys.values()), "a key answered with two orders"
    assert set(_orders_by_key(market, set(keys)).values()) <= {1}
    assert set(_orders_by_key(market, set(keys))) == set(keys)
    assert "Traceback" not in server.log_text(), server.log_text()[-4000:]


def _outage(market: Market, after: float, seconds: float, times: int, done: threading.Event) -> None:
    """``times`` outages: the database refuses new connections and every backend of it is terminated, for
    ``seconds``; the first ``after`` seconds into the burst, then one every ``after`` seconds."""
    name = market.db.engine.url.database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for _ in range(times):
            if done.wait(after):
                return
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", (name,))
            time.sleep(seconds)
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_b_terminated_backends_mid_burst_are_503s_with_retry_after_and_nothing_is_lost(market, server):
    if market.db.is_sqlite:
        pytest.skip("SQLite has no server backends to terminate")
    _, products = _products(market, count=2, stock=6)
    buyers = [{"role": "buyer", **market.buyer(topup_fen=5_000_000)} for _ in range(12)]
    done = threading.Event()
    outage = threading.Thread(target=_outage, args=(market, 1.5, 1.0, 2, done))
    began = time.monotonic()
    clients = start_clients(server, [buyers[0:4], buyers[4:8], buyers[8:12]], _wire(products), ops=14,
                            buyer_actions=["on_demand", "on_demand", "spot", "repeat", "release", "release"],
                            start_in=1.0, retry_after_cap=0.5)
    outage.start()
    try:
        log, keys = collect(clients)
    finally:
        done.set()
        outage.join()
    seconds = time.monotonic() - began
    market.db.engine.dispose()  # this process's own pooled connections were terminated too
    print(_figures("outage burst", log, server, _deadlocks(market), seconds))

    assert not [row for row in log if row["status"] is None], "a client connection failed or was dropped"
    failures = [row for row in log if row["status"] >= 500]
    assert failures, "the outages were not felt: the test did not test anything"
    assert {row["status"] for row in failures} == {503}, failures
    assert all(row["retry_after"] for row in failures), failures
    assert {row["code"] for row in failures} <= {"database_unavailable", "database_busy"}, failures
    assert {row["outcome"] for row in failures} <= {"not_applied", "unknown"}, failures
    refused = {row["code"] for row in log if 400 <= row["status"] < 500}
    assert refused <= ACTIONABLE, refused
    # Nothing lost, nothing doubled: the orders stored are exactly those some answer named, one per key.
    assert all(len(ids) == 1 for ids in keys.values())
    stored = _orders_by_key(market, set(keys))
    assert set(stored) == set(keys) and set(stored.values()) == {1}
    # Full recovery, no manual step: every buyer orders again at once.
    for buyer in buyers[:4]:
        answer = httpx.post(server.base_url + "/api/v1/orders", headers={**buyer["headers"],
                                                                         "Idempotency-Key": uuid.uuid4().hex},
                            json={"product_id": products[0]["id"], "mode": "spot", "units": 1,
                                  "bid_hourly_fen": 2000}, timeout=30)
        assert answer.status_code in (201, 409), answer.text
        assert answer.status_code == 201 or answer.json()["error"]["code"] == "insufficient_stock"
    assert httpx.get(server.base_url + "/healthz", timeout=10).status_code == 200
    server.stop()
