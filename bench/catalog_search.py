"""Catalog search benchmark: latency of ``GET /api/v1/products`` over a seeded catalog, against raw SQL.

What it measures
    For each database backend (SQLite, PostgreSQL) the script builds a fresh database the way a user
    would (``suanli db upgrade`` then ``suanli seed --datacenters D --products P --seed 1``), or takes one
    already seeded (``--reuse-url``), starts the real server (``suanli serve``, one uvicorn worker) and times
    the searches of ``bench/catalog_search_shapes.py``, generated from ``--shape-seed``: every filter field
    alone (values from a handful of matches to nearly all, and some that match nothing), ``--pairs`` pairs of
    fields, every sort both ways, and deep pages. One keep-alive httpx client sends them sequentially,
    ``--warmup`` untimed then ``--requests`` timed requests each. Results are pooled per shape class (by how
    many products match; deep pages apart) as p50/p95/p99, and every search whose own p95 misses the target
    is listed. The exit status is 1 when one does.

The raw SQL baseline
    The statements a search runs are captured by serving the same request in-process (``create_app`` +
    ``TestClient``) with a SQLAlchemy ``before_cursor_execute`` hook, so the baseline is exactly the SQL the
    API sends, with the same bound parameters. The statements that read ``products`` are replayed on a
    plain DB-API connection (sqlite3 / psycopg), fetching every row; API requests and raw runs alternate, so
    both see the same machine load. ``ratio`` = API p50 / raw p50.

Concurrency (``--clients N``, PostgreSQL)
    A second server with ``--workers`` uvicorn workers; N client threads send the same searches in a shuffled
    order for ``--duration`` seconds. Reports p50/p95/p99 over every request and the resident memory of each
    worker at the end. Target ``--concurrent-target-ms``.

Usage
    .venv/bin/python bench/catalog_search.py [--products 100000] [--datacenters 300] [--requests 20]
        [--backends sqlite,postgresql] [--reuse-url URL] [--clients 16 --workers 4 --duration 60]
        [--target-ms 25] [--explain] [--no-vacuum] [--pg-server postgresql+psycopg://USER@HOST:PORT]

PostgreSQL: a database ``suanli_bench_<pid>`` is created on ``--pg-server`` (default
``postgresql+psycopg://root@127.0.0.1:5432``) and dropped at the end, even on error (not one given with
``--reuse-url``). After the load the script runs ``VACUUM (ANALYZE) products``, which autovacuum does by itself
shortly after a bulk load on a default server: without it PostgreSQL cannot use index-only scans
(``--no-vacuum`` measures that state). ``suanli seed`` itself runs ANALYZE on both databases.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from catalog_search_shapes import Search, generate, place_values, shape_class  # noqa: E402

SUANLI = Path(sys.executable).with_name("suanli")


@dataclass
class Result:
    search: Search
    total: int
    total_exact: bool
    api_ms: list[float]
    raw_ms: list[float]
    statements: int  # SQL statements the API runs for this search (all tables)
    plans: list[str] = field(default_factory=list)

    @property
    def shape(self) -> str:
        return shape_class(self.search, self.total)

    @property
    def api_p95(self) -> float:
        return percentile(self.api_ms, 95)


def percentile(samples: list[float], pct: int) -> float:
    """The pct-th percentile (inclusive method, so p50 is the median)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def fmt_ms(samples: list[float]) -> str:
    return " / ".join(f"{percentile(samples, p):.1f}" for p in (50, 95, 99))


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
def running_server(backend: Backend, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``suanli serve`` on a free port; yields its base URL and pid once /healthz answers, stops it on exit."""
    port = free_port()
    log = (backend.home / "server.log").open("w")
    process = subprocess.Popen([str(SUANLI), "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", str(workers)],
                               env=suanli_env(backend), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
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
                raise RuntimeError(f"server did not answer /healthz in 240 s; see {log.name}")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# ---------------------------------------------------------------- measuring

def resolve_params(client: httpx.Client, search: Search) -> tuple[dict[str, str], dict[str, Any]] | None:
    """The parameters of the timed request (with the cursor of a deep page) and the first page's answer;
    None for a deep page of a search with fewer pages."""
    params = {"q": search.q}
    first = page = get_page(client, params)
    for _ in range(search.skip_pages):
        if not page["next_cursor"]:
            return None
        params["cursor"] = page["next_cursor"]
        page = get_page(client, params)
    return params, first


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
        self.client.get("/api/v1/products", params=params)  # warm: the per-process caches are filled
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
    """The statements that read the products table: the estimate, the count, the walk's edge, the page."""
    return [s for s in statements if "FROM products" in s.sql]


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

def seed_and_prepare(backend: Backend, args: argparse.Namespace) -> None:
    print(f"\n## {backend.server_version}: seeding {args.products:,} products in {args.datacenters} data centers",
          flush=True)
    run_cli(backend, "db", "upgrade")
    seconds = run_cli(backend, "seed", "--datacenters", str(args.datacenters), "--products", str(args.products),
                      "--seed", str(args.seed))
    print(f"seeded in {seconds:.1f} s", flush=True)
    if backend.name == "postgresql" and args.vacuum:
        print(f"VACUUM (ANALYZE) products: {vacuum(backend):.1f} s (what autovacuum does after a bulk load; "
              f"autovacuum is {pg_setting(backend, 'autovacuum')} on this server)", flush=True)


def shapes(backend: Backend, args: argparse.Namespace) -> list[Search]:
    """The generated searches, with places and a data center read from this database."""
    from sqlalchemy import text

    from suanli.db import Database

    database = Database(backend.url)
    try:
        with database.engine.connect() as conn:
            regions = conn.execute(text("SELECT province, city, hub FROM regions ORDER BY province, city")).all()
            dcs = [str(r[0]) for r in conn.execute(text("SELECT id FROM datacenters WHERE status = 'approved' "
                                                        "ORDER BY id LIMIT 50"))]
    finally:
        database.dispose()
    rng = random.Random(args.shape_seed)
    places = place_values(sorted({r[0] for r in regions}), sorted({r[1] for r in regions}),
                          sorted({r[2] for r in regions}), dcs, rng)
    return generate(args.shape_seed, places, pairs=args.pairs, deep=args.deep)


def bench_backend(backend: Backend, args: argparse.Namespace) -> tuple[list[Result], dict[Search, dict[str, str]]]:
    results: list[Result] = []
    timed: dict[Search, dict[str, str]] = {}
    capture = StatementCapture(backend.url)
    try:
        with running_server(backend) as (base, _pid), httpx.Client(base_url=base, timeout=60) as client, \
                raw_connection(backend) as conn:
            for search in shapes(backend, args):
                resolved = resolve_params(client, search)
                if resolved is None:
                    print(f"  {search.label()}: fewer pages, skipped", flush=True)
                    continue
                params, first = resolved
                statements = capture.statements(params)
                products = product_statements(statements)
                api, raw = measure(client, params, conn, products, args.warmup, args.requests)
                result = Result(search, first["total"], first["total_exact"], api, raw, len(statements))
                if args.explain:
                    result.plans = [explain(conn, backend, s) for s in products]
                results.append(result)
                timed[search] = params
                print(f"  {search.label()}: total {'' if result.total_exact else '~'}{result.total:,}, "
                      f"API p50/p95/p99 {fmt_ms(api)} ms, raw {fmt_ms(raw)} ms", flush=True)
                for statement, plan in zip(products, result.plans, strict=False):
                    print(f"    {statement.sql.split(' FROM ')[0][:40]}...\n{plan}")
    finally:
        capture.close()
    return results, timed


def worker_memory_mib(server_pid: int) -> list[float]:
    """Resident memory (MiB) of the server's child processes (the uvicorn workers), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pending, found = [server_pid], []
    while pending:
        pid = pending.pop()
        for child in children.get(pid, []):
            pending.append(child)
            found.append(child)
    sizes = []
    for pid in found:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return sizes


def bench_concurrent(backend: Backend, timed: dict[Search, dict[str, str]], args: argparse.Namespace
                     ) -> tuple[list[float], list[float], int]:
    """``--clients`` threads sending the searches in shuffled order for ``--duration`` s to ``--workers``
    workers; returns the latencies, the workers' memory (MiB) and the number of non-200 answers."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    params = list(timed.values())
    with running_server(backend, workers=args.workers) as (base, pid):
        deadline = time.monotonic() + args.duration

        def client_loop(number: int) -> None:
            rng = random.Random(number)
            mine: list[float] = []
            with httpx.Client(base_url=base, timeout=60) as client:
                for p in params[:3]:
                    client.get("/api/v1/products", params=p)  # warm this worker's caches
                while time.monotonic() < deadline:
                    p = rng.choice(params)
                    started = time.perf_counter()
                    response = client.get("/api/v1/products", params=p)
                    mine.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        with lock:
                            failures[0] += 1
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        memory = worker_memory_mib(pid)
    return latencies, memory, failures[0]


def report(backend: Backend, results: list[Result], args: argparse.Namespace) -> tuple[str, list[Result]]:
    """The per-class table and the searches that miss the target."""
    lines = [f"### {backend.server_version} — {args.products_label} products, {len(results)} searches, "
             f"{args.requests} timed requests each",
             "",
             "| shape class | searches | API p50 / p95 / p99 ms | raw SQL p50 / p95 / p99 ms | ratio (API/raw p50) "
             f"| worst search p95 ms | searches with p95 > {args.target_ms:g} ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    classes: dict[str, list[Result]] = {}
    for r in results:
        classes.setdefault(r.shape, []).append(r)
    order = ["≤ 100 matches", "101-10,000 matches", "> 10,000 matches", "deep page (6-11)"]
    for name in sorted(classes, key=order.index):
        group = classes[name]
        api = [ms for r in group for ms in r.api_ms]
        raw = [ms for r in group for ms in r.raw_ms]
        worst = max(group, key=lambda r: r.api_p95)
        missed = sum(1 for r in group if r.api_p95 > args.target_ms)
        lines.append(f"| {name} | {len(group)} | {fmt_ms(api)} | {fmt_ms(raw)} | "
                     f"{percentile(api, 50) / percentile(raw, 50):.1f}× | {worst.api_p95:.1f} | {missed} |")
    misses = sorted((r for r in results if r.api_p95 > args.target_ms), key=lambda r: -r.api_p95)
    if misses:
        lines += ["", f"Searches over {args.target_ms:g} ms at p95:", ""]
        lines += [f"- `{r.search.label()}`: total {'' if r.total_exact else '~'}{r.total:,}, p95 {r.api_p95:.1f} ms,"
                  f" raw p50 {percentile(r.raw_ms, 50):.2f} ms" for r in misses]
    return "\n".join(lines), misses


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--datacenters", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1, help="seed of `suanli seed`")
    parser.add_argument("--shape-seed", type=int, default=18, help="seed of the generated searches")
    parser.add_argument("--pairs", type=int, default=40, help="generated pairs of fields")
    parser.add_argument("--deep", type=int, default=8, help="generated deep pages (and two unfiltered ones)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per search")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per search first")
    parser.add_argument("--target-ms", type=float, default=None,
                        help="p95 target per search (default 25 ms up to 100,000 products, 40 ms above)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--reuse-url", default=None,
                        help="measure this already seeded database (one backend) instead of seeding a new one")
    parser.add_argument("--clients", type=int, default=0, help="concurrent clients for the concurrency run")
    parser.add_argument("--workers", type=int, default=4, help="API workers for the concurrency run")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the concurrency run")
    parser.add_argument("--concurrent-target-ms", type=float, default=100)
    parser.add_argument("--pg-server", default="postgresql+psycopg://root@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    parser.add_argument("--explain", action="store_true", help="print the plans of the statements on products")
    parser.add_argument("--no-vacuum", dest="vacuum", action="store_false",
                        help="PostgreSQL: measure right after the load, without VACUUM (no index-only scans)")
    return parser.parse_args(argv)


@contextmanager
def reused_database(url: str, workdir: Path) -> Iterator[Backend]:
    name = "sqlite" if url.startswith("sqlite") else "postgresql"
    home = workdir / name
    home.mkdir()
    version = f"SQLite {sqlite3.sqlite_version}"
    if name == "postgresql":
        backend = Backend(name, url, home)
        version = f"PostgreSQL {pg_setting(backend, 'server_version')}"
    yield Backend(name, url, home, version)


def count_products(backend: Backend) -> int:
    with raw_connection(backend) as conn:
        return conn.execute("SELECT count(*) FROM products").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print("# Catalog search benchmark\n")
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; Python {info['python']}, "
          f"SQLite {info['sqlite']}; load average {load_average()}")
    tables = []
    workdir = Path(tempfile.mkdtemp(prefix="suanli-bench-"))
    ok = True
    names = ["reused"] if args.reuse_url else [b.strip() for b in args.backends.split(",") if b.strip()]
    try:
        for name in names:
            opened = reused_database(args.reuse_url, workdir) if args.reuse_url else \
                fresh_database(name, args.pg_server, workdir)
            with opened as backend:
                if not args.reuse_url:
                    seed_and_prepare(backend, args)
                products = count_products(backend)
                args.products_label = f"{products:,}"
                if args.target_ms is None:
                    args.target_ms = 25.0 if products <= 100_000 else 40.0
                load_before = load_average()
                results, timed = bench_backend(backend, args)
                text, misses = report(backend, results, args)
                tables.append(text + f"\n\nload average before / after: {load_before} / {load_average()}")
                ok = ok and not misses
                if args.clients:
                    load_before = load_average()
                    latencies, memory, failures = bench_concurrent(backend, timed, args)
                    p95 = percentile(latencies, 95)
                    tables.append(
                        f"**{args.clients} concurrent clients, {args.workers} workers** ({args.duration:g} s, "
                        f"{len(latencies):,} requests, {len(latencies) / args.duration:.0f}/s, {failures} not 200):"
                        f" p50 / p95 / p99 {fmt_ms(latencies)} ms (target p95 ≤ {args.concurrent_target_ms:g} ms: "
                        f"{'met' if p95 <= args.concurrent_target_ms else 'NOT met'}); worker memory "
                        f"{', '.join(f'{m:.0f}' for m in memory)} MiB; load average before / after: "
                        f"{load_before} / {load_average()}")
                    ok = ok and p95 <= args.concurrent_target_ms and not failures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + "\n\n".join(tables))
    print(f"\ntargets: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
