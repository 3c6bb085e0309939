"""The PostgreSQL connection pool: a fixed number of connections per process, never more, and a clear 503 when
every one stays busy (instead of opening a new server process per request under load)."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from suanli.app import create_app
from suanli.config import SettingsError, load_settings
from suanli.db import Database


def test_pool_size_comes_from_the_environment_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("SUANLI_DB_POOL_SIZE", "24")
    assert load_settings().db_pool_size == 24
    monkeypatch.delenv("SUANLI_DB_POOL_SIZE")
    assert load_settings().db_pool_size == 10
    for bad in ("0", "ten", "10000"):
        monkeypatch.setenv("SUANLI_DB_POOL_SIZE", bad)
        with pytest.raises(SettingsError, match="SUANLI_DB_POOL_SIZE"):
            load_settings()


@pytest.fixture
def small_pool(backend: Database):
    if backend.is_sqlite:
        pytest.skip("SQLite has no server connections to pool")
    database = Database(backend.url, pool_size=2, pool_timeout=0.3)
    yield database
    database.dispose()


def test_the_pool_never_opens_more_connections_than_its_size(small_pool: Database):
    opened = []
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        with small_pool.engine.connect() as conn:
            opened.append(conn.connection.dbapi_connection)
            time.sleep(0.05)  # all six want a connection at once: an overflowing pool would open six

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 6
    assert len({id(c) for c in opened}) <= 2  # six units of work, two connections: reused, not reopened


def test_a_request_that_finds_every_connection_busy_gets_503_database_busy(small_pool: Database):
    client = TestClient(create_app(small_pool))
    held = [small_pool.engine.connect() for _ in range(2)]
    try:
        r = client.get("/healthz")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "database_busy"
        assert "Retry" in r.json()["error"]["message"]
        assert r.headers["Retry-After"] == "5"
        page = client.get("/")  # a page says it in the visitor's language, not as JSON
        assert page.status_code == 503
        assert "平台繁忙" in page.text and "text/html" in page.headers["content-type"]
    finally:
        for conn in held:
            conn.close()
    assert client.get("/healthz").status_code == 200
