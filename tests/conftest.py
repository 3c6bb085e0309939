"""Shared fixtures.

Tests that take the ``db`` fixture (directly or through ``client``) run twice: on SQLite and on the
local PostgreSQL server. Each backend gets a fresh database per run, migrated once, dropped at the end;
rows are deleted after each test (reference data — chips, the platform row — stays).

PostgreSQL: ``SUANLI_TEST_PG_ADMIN_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) is
used to create and drop the run's database. If the server is down the PostgreSQL half fails; set
``SUANLI_TEST_SKIP_PG=1`` to skip it knowingly on a machine without PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from suanli.catalog.models import Platform
from suanli.db import Database
from suanli.migrate import upgrade
from support import PG_ADMIN_URL, TABLES_TO_CLEAN, Factory

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# The suite's real Slurm and Ray (and the fake clusters some tests start) listen on 127.0.0.1: allow loopback for
# clusters, as an operator allows a private cluster network. Tests of the refusal clear it (monkeypatch).
os.environ["SUANLI_CLUSTER_ALLOWED_NETWORKS"] = "127.0.0.0/8,::1/128"

# The tests register hundreds of users from one address (TestClient's "testclient", or 127.0.0.1 for the servers
# they start); the registration throttle's own tests set their limit explicitly.
os.environ.setdefault("SUANLI_REGISTRATIONS_PER_HOUR", "1000000")


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + dbname


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'suanli.db'}")
        upgrade(database)
        yield database
        database.dispose()
        return
    if os.environ.get("SUANLI_TEST_SKIP_PG") == "1":
        pytest.skip("SUANLI_TEST_SKIP_PG=1: PostgreSQL half skipped on purpose")
    name = f"suanli_test_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    database = Database(_pg_url(name))
    try:
        upgrade(database)
        yield database
    finally:
        database.dispose()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(backend: Database) -> Iterator[Database]:
    yield backend
    with backend.unit_of_work() as session:
        for table in TABLES_TO_CLEAN:
            session.execute(delete(table))
        session.execute(delete(Platform).where(Platform.is_local.is_(False)))  # federation's peers


@pytest.fixture
def client(db: Database) -> TestClient:
    from suanli.app import create_app

    return TestClient(create_app(db))


@pytest.fixture
def make(client: TestClient, db: Database) -> Factory:
    return Factory(client, db)



# Running in parallel (`make test` runs two pytest-xdist workers, `--dist loadgroup`): a test is sent to either
# worker on its own, except that tests sharing something expensive stay together on one worker, so it is started
# once: every test of a module with a module-scoped fixture (a CLI server, federation processes, a demo), and every
# test on the real clusters (one Slurm, one Ray head: two of each would only compete for the same two cores).
# Session fixtures other than these (the databases, the browser's demo server) are per worker.
CLUSTER_FIXTURES = frozenset({"slurm_cluster", "slurm_jupyter", "ray_cluster"})


def _xdist_group(item: pytest.Item) -> str | None:
    names = set(getattr(item, "fixturenames", ()))
    if names & CLUSTER_FIXTURES:
        return "real-clusters"
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    if any(d.scope == "module" for defs in definitions.values() for d in defs):
        return item.nodeid.split("::", 1)[0]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
