"""Database faults met by requests, provoked for real: a PostgreSQL deadlock (re-run, the caller never sees it; or
503 ``database_busy`` when the re-runs are used up), a database that refuses connections and has its backends
terminated (503 ``database_unavailable`` with Retry-After, JSON for the API and a page for the web, then recovery
with no manual step), SQLite's "database is locked", and a CHECK constraint broken by a concurrent change (409)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.exc import IntegrityError

from support import PG_ADMIN_URL
from contention_helpers import waiting_for_a_lock
from suanli.catalog.models import Product
from suanli.db import Database
from suanli.db_faults import Fault, RetryPolicy, classify
from suanli.http import constraint_conflict
from suanli.trading.models import Order
from trading_helpers import Market, TestClient, checked_market


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def _pg_only(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL row locks and server backends")


def _deadlock_a_release(market: Market, client: TestClient) -> tuple[dict, dict]:
    """Release an order while another transaction holds the order's row and then asks for its product's: the
    release (waiting first, so PostgreSQL's deadlock check picks it) is the deadlock's victim once. The other
    transaction commits. (answer, order before)"""
    _, product = market.seller_with_product(stock_units=4, price_on_demand_fen=6000)
    buyer = market.buyer(topup_fen=1_000_000)
    placed = market.order(buyer, product)
    assert placed.status_code == 201, placed.text
    order_id = uuid.UUID(placed.json()["id"])
    answer: dict = {}

    def release() -> None:
        answer["response"] = client.post(f"/api/v1/orders/{order_id}/release", headers=buyer["headers"])

    with market.db.engine.connect() as other:
        other.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
        thread = threading.Thread(target=release)
        thread.start()
        waiting_for_a_lock(market.db)  # the release holds the product and waits for the order
        other.execute(text("SELECT id FROM products WHERE id = :id FOR NO KEY UPDATE"),
                      {"id": uuid.UUID(product["id"])})  # returns once the release, the victim, rolled back
        other.commit()
        thread.join(timeout=60)
    return answer, placed.json()


def test_a_request_that_deadlocks_is_run_again_and_succeeds(market, caplog):
    _pg_only(market.db)
    client = TestClient(market.client.app)
    with caplog.at_level("WARNING", logger="suanli.http"):
        answer, placed = _deadlock_a_release(market, client)
    r = answer["response"]
    assert r.status_code == 200, r.text
    assert [m for m in caplog.messages if "contention, running it again" in m and "/release" in m], caplog.messages
    assert r.json()["status"] == "ended" and r.json()["id"] == placed["id"]
    assert market.allocated({"id": placed["product_id"]}) == 0  # released once (checked_market checks the rest)


def test_when_the_reruns_run_out_the_answer_is_503_database_busy_not_500(market, db):
    _pg_only(db)
    from suanli.app import create_app

    app = create_app(db, clock=market.clock)
    app.user_middleware[0].kwargs["policy"] = RetryPolicy(contention_retries=0)  # before the stack is built
    answer, placed = _deadlock_a_release(market, TestClient(app))
    r = answer["response"]
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "1"
    error = r.json()["error"]
    assert error["code"] == "database_busy" and error["details"]["outcome"] == "not_applied"
    assert "Retry" in error["message"]
    with db.unit_of_work(write=False) as session:  # nothing of the release was stored
        assert session.get(Order, uuid.UUID(placed["id"])).status.value == "active"


def test_a_database_that_is_away_answers_503_with_retry_after_then_recovers_by_itself(market, db):
    _pg_only(db)
    client = TestClient(market.client.app)
    buyer = market.buyer(topup_fen=1_000_000)
    assert client.get("/healthz").status_code == 200  # the pool holds a connection that is about to die
    name = db.engine.url.database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            r = client.get("/api/v1/wallet", headers=buyer["headers"])
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "2"
            assert r.json()["error"]["code"] == "database_unavailable"
            assert r.json()["error"]["details"]["outcome"] == "not_applied"
            page = client.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 503 and "text/html" in page.headers["content-type"]
            assert "暂时无法连接数据库" in page.text and page.headers["Retry-After"] == "2"
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    # Back: the very next requests work (the dead connections were thrown away, nothing to restart).
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/wallet", headers=buyer["headers"]).status_code == 200


def test_classify_tells_contention_from_a_lost_database_from_a_bug(backend: Database, tmp_path):
    if backend.is_sqlite:
        url = f"sqlite:///{tmp_path / 'locked.db'}"
        holder, waiter = (create_engine(url, connect_args={"timeout": 0, "isolation_level": None})
                          for _ in range(2))
        with holder.connect() as a, waiter.connect() as b:
            a.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            a.exec_driver_sql("BEGIN IMMEDIATE")
            with pytest.raises(Exception) as locked:
                b.exec_driver_sql("BEGIN IMMEDIATE")
            assert classify(locked.value) is Fault.CONTENTION
            with pytest.raises(Exception) as missing:
                b.exec_driver_sql("SELECT * FROM no_such_table")
            assert classify(missing.value) is None  # a bug: a 500, not a 503
            a.exec_driver_sql("ROLLBACK")
            # A full disk (here: the database's page limit, the same SQLITE_FULL): unavailable, not a 500.
            a.exec_driver_sql("CREATE TABLE filler (x BLOB)")
            pages = a.exec_driver_sql("PRAGMA page_count").scalar()
            a.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
            with pytest.raises(Exception) as full:
                a.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(100000))")
            assert "full" in str(full.value) and classify(full.value) is Fault.UNAVAILABLE
        return
    with backend.engine.connect() as a, backend.engine.connect() as b:
        a.execute(text("SELECT pg_advisory_xact_lock(1)"))
        b.execute(text("SELECT pg_advisory_xact_lock(2)"))
        failed: list[BaseException] = []

        def cross(conn, key) -> None:
            try:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            except Exception as exc:  # noqa: BLE001 - the deadlock's victim
                failed.append(exc)

        thread = threading.Thread(target=cross, args=(a, 2))
        thread.start()
        time.sleep(0.2)
        cross(b, 1)
        thread.join()
        assert len(failed) == 1 and classify(failed[0]) is Fault.CONTENTION
    with backend.engine.connect() as victim:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)",
                          (victim.execute(text("SELECT pg_backend_pid()")).scalar(),))
        with pytest.raises(Exception) as lost:
            victim.execute(text("SELECT 1"))
        assert classify(lost.value) is Fault.UNAVAILABLE


def test_a_broken_stock_constraint_is_a_409_the_seller_can_act_on(market):
    _, product = market.seller_with_product(stock_units=2)
    with pytest.raises(IntegrityError) as broken:
        with market.db.unit_of_work() as session:
            session.execute(update(Product).where(Product.id == uuid.UUID(product["id"])).values(allocated_units=3))
    status, code, _message, details = constraint_conflict(broken.value)
    assert (status, code, details) == (409, "stock_below_allocated",
                                       {"constraint": "ck_products_allocation_within_stock"})


def test_stock_below_what_is_rented_is_a_409_with_the_numbers(market):
    seller, product = market.seller_with_product(stock_units=4)
    buyer = market.buyer(topup_fen=1_000_000)
    assert market.order(buyer, product, units=3).status_code == 201
    r = market.client.patch(f"/api/v1/products/{product['id']}", headers=seller["headers"], json={"stock_units": 2})
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "stock_below_allocated"
    assert error["details"] == {"stock_units": 2, "allocated_units": 3}
    assert "3" in error["message"] and "2" in error["message"]
