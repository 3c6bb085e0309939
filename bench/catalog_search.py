"""Catalog search benchmark: latency of ``GET /api/v1/products`` over a seeded catalog, against raw SQL.

What it measures
    For each database backend (SQLite, PostgreSQL) the script builds a fresh database the way a user
    would (``suanli db upgrade`` then ``suanli seed --datacenters D --products P --seed 1``), starts the
    real server (``suanli serve`` as a subprocess, one uvicorn worker) and sends a fixed set of
    representative filter-and-sort searches to it with one keep-alive httpx client, sequentially.
    For every search it reports the client-side wall time (p50, p95, in ms) of N requests after a
    warm-up, and the number of matching products (``total``).

The raw SQL baseline
    The statements a search runs are captured once by serving the same request in-process
    (``create_app`` + ``TestClient``) with a SQLAlchemy ``before_cursor_execute`` hook, so the baseline
    is exactly the SQL the API sends, with the same bound parameters. The two statements that read
    ``products`` (the ``COUNT(*)`` for ``total`` and the keyset page ``SELECT ... ORDER BY ... LIMIT``)
    are then replayed on a plain DB-API connection (sqlite3 / psycopg) in this process, fetching every
    row, and timed the same way; API requests and raw runs alternate, so both see the same machine
    load. ``ratio`` = API p50 / raw p50: how much the whole HTTP + FastAPI + ORM + serialisation stack
    costs on top of the database work. Absolute times vary on shared machines; the ratio is the more
    stable figure. Results are in docs/benchmarks.md.

Usage
    .venv/bin/python bench/catalog_search.py [--products 100000] [--datacenters 300] [--requests 200]
                                             [--backends sqlite,postgresql] [--explain] [--no-vacuum]
                                             [--pg-server postgresql+psycopg://USER@HOST:PORT]

PostgreSQL: a database ``suanli_bench_<pid>`` is created on ``--pg-server`` (default
``postgresql+psycopg://root@127.0.0.1:5432``) and dropped at the end, even on error. After the load the
script runs ``VACUUM (ANALYZE) products``, which autovacuum does by itself shortly after a bulk load on a
default server: without it PostgreSQL cannot use index-only scans (``--no-vacuum`` measures that state).
``suanli seed`` itself runs ANALYZE on both databases.
``--explain`` prints the query plan of the count and page statements of every search.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TARGET_P95_MS = 25.0
SUANLI = Path(sys.executable).with_name("suanli")


@dataclass(frozen=True)
class Search:
    """One benchmarked search: query-string parameters, and how many pages to follow first."""

    name: str
    params: dict[str, str]
    skip_pages: int = 0  # follow next_cursor this many times; the timed request is the page after

    def label(self) -> str:
        return self.name + (f" (page {self.skip_pages + 1})" if self.skip_pages else "")


SEARCHES: tuple[Search, ...] = (
    Search("default first page (no filter, sort=price)", {}),
    Search("q=chip=A800 accelerators>=8 sort=price_per_pflops",
           {"q": "chip=A800 accelerators>=8 sort=price_per_pflops"}),
    Search("q=vendor=huawei province=安徽 price<=80 sort=price",
           {"q": "vendor=huawei province=安徽 price<=80 sort=price"}),
    Search("q=ecosystem=cuda accel_memory>=80 available=true sort=-pflops",
           {"q": "ecosystem=cuda accel_memory>=80 available=true sort=-pflops"}),
    Search("q=hub=成渝 delivery=container sort=price_per_accel",
           {"q": "hub=成渝 delivery=container sort=price_per_accel"}),
    Search("q=vendor=huawei,hygon mem>=64 available=true sort=-price",
           {"q": "vendor=huawei,hygon mem>=64 available=true sort=-price"}),
    Search("deep page: no filter, sort=price", {}, skip_pages=5),
    Search("?chip=910B&min_accelerators=8&mode=reserved&sort=price",
           {"chip": "910B", "min_accelerators": "8", "mode": "reserved", "sort": "price"}),
)


@dataclass
class Result:
    search: Search
    total: int
    api_ms: list[float]
    raw_ms: list[float]
    statements: int  # SQL statements the API runs for this search (all tables)
    plans: list[str] = field(default_factory=list)

    @property
    def api_p50(self) -> float:
        return percentile(self.api_ms, 50)

    @property
    def api_p95(self) -> float:
        return percentile(self.api_ms, 95)

    @property
    def raw_p50(self) -> float:
        return percentile(self.raw_ms, 50)

    @property
    def raw_p95(self) -> float:
        return percentile(self.raw_ms, 95)


def percentile(samples: list[float], pct: int) -> float:
    """The pct-th percentile (inclusive method, so p50 is the median)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


# ---------------------------------------------------------------- machine

def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    return {"nproc": nproc, "cpu": model, "os": platform.platform(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


def load_average() -> str:
    """The 1-minute load average: other work on the machine shows in the p95s."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


# ---------------------------------------------------------------- databases

@dataclass
class Backend:
    name: str
    url: str  # SQLAlchemy URL the server uses
    home: Path
    server_version: str = ""


@contextmanager
def fresh_database(name: str, pg_server: str, workdir: Path) -> Iterator[Backend]:
    """A new, empty database; PostgreSQL ones are dropped on exit."""
    home = workdir / name
    home.mkdir()
    if name == "sqlite":
        yield Backend(name, f"sqlite:///{home / 'suanli.db'}", home, f"SQLite {sqlite3.sqlite_version}")
        return
    if name != "postgresql":
        raise SystemExit(f"unknown backend {name!r}; use sqlite or postgresql")
    import psycopg

    dbname = f"suanli_bench_{os.getpid()}"
    admin = pg_server.replace("postgresql+psycopg://", "postgresql://").rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        conn.execute(f'CREATE DATABASE "{dbname}"')
        version = conn.execute("SHOW server_version").fetchone()[0]
    try:
        yield Backend(name, f"{pg_server.rstrip('/')}/{dbname}", home, f"PostgreSQL {version}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def suanli_env(backend: Backend) -> dict[str, str]:
    return {**os.environ, "SUANLI_HOME": str(backend.home), "SUANLI_DATABASE_URL": backend.url,
            "PYTHONUNBUFFERED": "1"}


def pg_setting(backend: Backend, name: str) -> str:
    import psycopg

    with psycopg.connect(backend.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(f"SHOW {name}").fetchone()[0]


def vacuum(backend: Backend) -> float:
    """VACUUM (ANALYZE) the products table: sets the visibility map that index-only scans rely on."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(backend.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) products")
    return time.perf_counter() - started


def run_cli(backend: Backend, *args: str) -> float:
    """Run one ``suanli`` command with the backend's environment; returns seconds taken."""
    started = time.perf_counter()
    done = subprocess.run([str(SUANLI), *args], env=suanli_env(backend), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"suanli {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


# ---------------------------------------------------------------- server

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(backend: Backend) -> Iterator[str]:
    """``suanli serve`` on a free port; yields its base URL once /healthz answers, stops it on exit."""
    port = free_port()
    log = (backend.home / "server.log").open("w")
    process = subprocess.Popen([str(SUANLI), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=suanli_env(backend), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited ({process.returncode}); see {log.name}:\n"
                                   + Path(log.name).read_text()[-2000:])
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer /healthz in 60 s; see {log.name}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# ---------------------------------------------------------------- measuring

def resolve_params(client: httpx.Client, search: Search) -> tuple[dict[str, str], int]:
    """The parameters of the timed request (with the cursor of a deep page) and the match count."""
    params = dict(search.params)
    for _ in range(search.skip_pages):
        page = get_page(client, params)
        if not page["next_cursor"]:
            raise RuntimeError(f"{search.label()}: ran out of pages")
        params["cursor"] = page["next_cursor"]
    page = get_page(client, params)
    return params, page["total"]


def get_page(client: httpx.Client, params: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/products", params=params)
    if response.status_code != 200:
        raise RuntimeError(f"GET /api/v1/products {params} -> {response.status_code}: {response.text}")
    return response.json()


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any


class StatementCapture:
    """Serves requests in this process and records the SQL they send, exactly as bound for the driver."""

    def __init__(self, url: str) -> None:
        with warnings.catch_warnings():  # starlette's note about httpx versions
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient
        from sqlalchemy import event

        from suanli.app import create_app
        from suanli.db import Database

        self.database = Database(url)
        self.recorded: list[Statement] | None = None

        def record(_conn, _cursor, statement, parameters, _context, executemany) -> None:
            if self.recorded is not None and not executemany:
                self.recorded.append(Statement(statement, parameters))

        event.listen(self.database.engine, "before_cursor_execute", record)
        self.client = TestClient(create_app(self.database))

    def statements(self, params: dict[str, str]) -> list[Statement]:
        self.recorded = []
        response = self.client.get("/api/v1/products", params=params)
        captured, self.recorded = self.recorded, None
        if response.status_code != 200:
            raise RuntimeError(f"in-process {params} -> {response.status_code}: {response.text}")
        return captured

    def close(self) -> None:
        self.client.close()
        self.database.dispose()


def product_statements(statements: list[Statement]) -> list[Statement]:
    """The COUNT and the page SELECT: the statements that read the products table."""
    chosen = [s for s in statements if "FROM products" in s.sql]
    if len(chosen) != 2:
        raise RuntimeError("expected a count and a page statement on products, got:\n"
                           + "\n".join(s.sql for s in chosen))
    return chosen


@contextmanager
def raw_connection(backend: Backend) -> Iterator[Any]:
    """A plain DB-API connection (sqlite3 / psycopg), set up like the server's."""
    if backend.name == "sqlite":
        conn = sqlite3.connect(backend.url.split(":///", 1)[1])
        conn.execute("PRAGMA foreign_keys=ON")
    else:
        import psycopg

        conn = psycopg.connect(backend.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def run_raw(conn: Any, statements: list[Statement]) -> None:
    """Execute the statements on the DB-API connection and fetch every row, as the driver does for the API."""
    cursor = conn.cursor()
    for statement in statements:
        cursor.execute(statement.sql, statement.parameters)
        cursor.fetchall()
    cursor.close()


def measure(client: httpx.Client, params: dict[str, str], conn: Any, statements: list[Statement],
            warmup: int, n: int) -> tuple[list[float], list[float]]:
    """N timed API requests and N timed raw runs (ms), interleaved so both see the same machine load."""
    for _ in range(warmup):
        get_page(client, params)
        run_raw(conn, statements)
    api, raw = [], []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get("/api/v1/products", params=params)
        response.read()
        api.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{params} -> {response.status_code}")
        started = time.perf_counter()
        run_raw(conn, statements)
        raw.append((time.perf_counter() - started) * 1000)
    return api, raw


def explain(conn: Any, backend: Backend, statement: Statement) -> str:
    cursor = conn.cursor()
    if backend.name == "sqlite":
        cursor.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
        text = "\n".join(f"  {row[3]}" for row in cursor.fetchall())
    else:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.parameters)
        text = "\n".join(f"  {row[0]}" for row in cursor.fetchall())
    cursor.close()
    return text


# ---------------------------------------------------------------- one backend

def bench_backend(backend: Backend, args: argparse.Namespace) -> list[Result]:
    print(f"\n## {backend.server_version}: seeding {args.products:,} products in {args.datacenters} data centers",
          flush=True)
    run_cli(backend, "db", "upgrade")
    seconds = run_cli(backend, "seed", "--datacenters", str(args.datacenters), "--products", str(args.products),
                      "--seed", str(args.seed))
    print(f"seeded in {seconds:.1f} s", flush=True)
    if backend.name == "postgresql" and args.vacuum:
        print(f"VACUUM (ANALYZE) products: {vacuum(backend):.1f} s (what autovacuum does after a bulk load; "
              f"autovacuum is {pg_setting(backend, 'autovacuum')} on this server)", flush=True)

    results = []
    capture = StatementCapture(backend.url)
    try:
        with running_server(backend) as base, httpx.Client(base_url=base, timeout=30) as client, \
                raw_connection(backend) as conn:
            for search in SEARCHES:
                params, total = resolve_params(client, search)
                if total == 0:
                    raise RuntimeError(f"{search.label()} matches nothing; pick a query with results")
                statements = capture.statements(params)
                products = product_statements(statements)
                api, raw = measure(client, params, conn, products, args.warmup, args.requests)
                result = Result(search, total, api, raw, len(statements))
                if args.explain:
                    result.plans = [explain(conn, backend, s) for s in products]
                results.append(result)
                print(f"  {search.label()}: total {total:,}, API p50 {result.api_p50:.1f} ms "
                      f"p95 {result.api_p95:.1f} ms, raw p50 {result.raw_p50:.2f} ms", flush=True)
                for statement, plan in zip(products, result.plans, strict=False):
                    print(f"    {statement.sql.split(' FROM ')[0][:40]}...\n{plan}")
    finally:
        capture.close()
    return results


def table(backend: Backend, results: list[Result], args: argparse.Namespace) -> str:
    lines = [f"### {backend.server_version} — {args.products:,} products, {args.requests} requests per query",
             "",
             "| query | total | API p50 ms | API p95 ms | raw SQL p50 ms | raw SQL p95 ms | ratio (API/raw p50) "
             f"| statements | p95 ≤ {TARGET_P95_MS:g} ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in results:
        met = "yes" if r.api_p95 <= TARGET_P95_MS else "**no**"
        lines.append(f"| `{r.search.label()}` | {r.total:,} | {r.api_p50:.1f} | {r.api_p95:.1f} | "
                     f"{r.raw_p50:.2f} | {r.raw_p95:.2f} | {r.api_p50 / r.raw_p50:.1f}× | {r.statements} | {met} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--datacenters", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per query first")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-server", default="postgresql+psycopg://root@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    parser.add_argument("--explain", action="store_true", help="print the plans of the count and page queries")
    parser.add_argument("--no-vacuum", dest="vacuum", action="store_false",
                        help="PostgreSQL: measure right after the load, without VACUUM (no index-only scans)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print("# Catalog search benchmark\n")
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; Python {info['python']}, "
          f"SQLite {info['sqlite']}; load average {load_average()}")
    tables = []
    workdir = Path(tempfile.mkdtemp(prefix="suanli-bench-"))
    ok = True
    try:
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            with fresh_database(name, args.pg_server, workdir) as backend:
                results = bench_backend(backend, args)
                tables.append(table(backend, results, args) + f"\n\nload average after: {load_average()}")
                ok = ok and all(r.api_p95 <= TARGET_P95_MS for r in results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + "\n\n".join(tables))
    print(f"\ntarget p95 ≤ {TARGET_P95_MS:g} ms: {'met' if ok else 'NOT met'} everywhere measured")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
