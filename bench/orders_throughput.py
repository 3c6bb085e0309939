"""Orders throughput benchmark: on-demand orders per second against the running API on PostgreSQL (issue 3).

What it measures
    A fresh PostgreSQL database is built the way a user does (``suanli db upgrade``, ``suanli seed``); 20
    listed products get a large stock (``UPDATE products SET stock_units = 100000``) and one gets exactly 100
    units. N buyers register and log in through the API; an operator (``suanli user create --role operator``)
    tops each up through ``POST /api/v1/operator/topups``. The real server (``suanli serve --workers W``,
    meter and job scheduler off) then takes:

    Phase A (throughput)  N client threads, each with its own keep-alive httpx client and buyer token, place
                          1-unit on-demand orders on the big-stock products in a loop for S seconds, each with a
                          unique Idempotency-Key. orders/s = 201 responses / wall time; latency p50/p95 of the
                          201s. CPU seconds of this process (the clients), of the server's processes and of the
                          PostgreSQL backends serving our database are read from /proc before and after, to show
                          where the time goes.
    pgbench baseline      ``pgbench -i -s 10`` on a scratch database on the same server, then ``pgbench -c N -j 2
                          -T S`` (built-in TPC-B-like script), run right after phase A with the API idle.
                          ratio = orders/s / pgbench tps.
    Phase B (oversell)    N clients race for the 100-unit product until each gets 409 insufficient_stock. Then
                          SQL checks allocated_units == 100 == units of its active orders == number of 201s, and
                          ``GET /api/v1/operator/ledger/trial-balance`` must say balanced.
    In-process profile    One order through ``create_app`` + TestClient with a SQLAlchemy hook: SQL statements
                          per order and in-process ms per order (no HTTP socket, no uvicorn), sequential.
                          ``--profile`` also prints the top functions of cProfile over those orders.

Usage
    .venv/bin/python bench/orders_throughput.py [--clients 32] [--seconds 20] [--workers 2] [--profile]
                                                [--pg-server postgresql+psycopg://USER@HOST:PORT]

Both databases (``suanli_bench_<pid>``, ``suanli_pgbench_<pid>``) are dropped at the end, also on error, and the
server's process group is killed. Results are in docs/benchmarks.md ("Orders per second").
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_search import (SUANLI, Backend, fresh_database, free_port, load_average,  # noqa: E402
                            machine, percentile, run_cli, suanli_env)

TARGET_ORDERS_PER_S = 250.0
BIG_STOCK = 100_000
BIG_PRODUCTS = 20
RACE_UNITS = 100
TOPUP_FEN = 10_000_000_000  # 100 million CNY per buyer: never the limit
PASSWORD = "bench-password-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- helpers

def pg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def sql(backend: Backend, statement: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(pg_dsn(backend.url), autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def proc_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of one process, seconds (0 if it is gone); with ``reaped_children`` only the CPU of its
    children that have exited (cutime + cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if reaped_children else 11
    return (int(fields[first]) + int(fields[first + 1])) / CLK_TCK


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def backend_pids(backend: Backend) -> tuple[list[int], int]:
    """PostgreSQL backends connected to our database (the server's pool), excluding this query's own; and the
    postmaster's pid (the parent of every backend)."""
    import psycopg

    with psycopg.connect(pg_dsn(backend.url), autocommit=True) as conn:
        rows = conn.execute("SELECT pid, pid = pg_backend_pid() FROM pg_stat_activity "
                            "WHERE datname = current_database()").fetchall()
        own = next(pid for pid, is_own in rows if is_own)
        postmaster = parent_pid(own)  # while our backend still exists
    return [pid for pid, is_own in rows if not is_own], postmaster


def machine_busy() -> float:
    """CPU seconds all processes on the machine spent busy so far (/proc/stat: all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:7]) - values[3] - values[4]) / CLK_TCK  # user..softirq; steal not counted


def cpu_snapshot(server_pgid: int, pg_pids: list[int], postmaster: int) -> dict[str, float]:
    """CPU seconds so far. ``postgres``: our database's live backends plus every backend of the server that
    has exited (the pool closes overflow connections; another job's exited backends count too: an upper bound)."""
    return {"client": time.process_time(),
            "server": sum(proc_cpu(p) for p in group_pids(server_pgid)),
            "postgres": sum(proc_cpu(p) for p in pg_pids) + proc_cpu(postmaster, reaped_children=True),
            "machine": machine_busy()}


# ---------------------------------------------------------------- setup

@dataclass
class Buyer:
    email: str
    org_id: str
    token: str


def setup_catalog(backend: Backend) -> tuple[list[str], str]:
    run_cli(backend, "db", "upgrade")
    run_cli(backend, "seed", "--datacenters", "10", "--products", "200", "--seed", "1")
    ids = [str(r[0]) for r in sql(backend, "SELECT id FROM products WHERE is_visible AND delivery NOT IN "
                                  "('container', 'vm', 'bare_metal') ORDER BY id LIMIT %s",
                                  (BIG_PRODUCTS + 1,))]
    if len(ids) < BIG_PRODUCTS + 1:
        raise RuntimeError(f"only {len(ids)} visible products after seeding")
    big, race = ids[:BIG_PRODUCTS], ids[BIG_PRODUCTS]
    sql(backend, "UPDATE products SET stock_units = %s, allocated_units = 0 WHERE id = ANY(%s::uuid[])",
        (BIG_STOCK, big))
    sql(backend, "UPDATE products SET stock_units = %s, allocated_units = 0 WHERE id = %s::uuid", (RACE_UNITS, race))
    sql(backend, "ANALYZE")
    return big, race


def login(client: httpx.Client, email: str) -> str:
    r = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    r.raise_for_status()
    return r.json()["access_token"]


def setup_users(backend: Backend, client: httpx.Client, n: int) -> tuple[list[Buyer], str]:
    operator = f"operator-{os.getpid()}@bench.example"
    run_cli(backend, "user", "create", operator, "--role", "operator", "--password", PASSWORD)
    op_token = login(client, operator)
    buyers = []
    for i in range(n):
        email = f"buyer{i}-{os.getpid()}@bench.example"
        r = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD,
                                                       "display_name": f"buyer {i}",
                                                       "organization_name": f"Bench buyer {i}", "role": "buyer"})
        if r.status_code != 201:
            raise RuntimeError(f"register {email} -> {r.status_code}: {r.text}")
        org_id = r.json()["organization"]["id"]
        r = client.post("/api/v1/operator/topups", headers={"Authorization": f"Bearer {op_token}"},
                        json={"organization_id": org_id, "amount_fen": TOPUP_FEN, "reference": f"bench-topup-{i}"})
        if r.status_code != 201:
            raise RuntimeError(f"topup {email} -> {r.status_code}: {r.text}")
        buyers.append(Buyer(email, org_id, login(client, email)))
    return buyers, op_token


# ---------------------------------------------------------------- server

@contextmanager
def running_server(backend: Backend, workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """``suanli serve --workers N`` in its own process group; yields (base URL, process); kills the group."""
    port = free_port()
    log = (backend.home / "server.log").open("w")
    env = {**suanli_env(backend), "SUANLI_METER_INTERVAL_SECONDS": "0", "SUANLI_SCHEDULER_INTERVAL_SECONDS": "0"}
    process = subprocess.Popen([str(SUANLI), "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", str(workers)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited ({process.returncode}):\n" + Path(log.name).read_text()[-2000:])
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz in 90 s")
            time.sleep(0.2)
        yield base, process
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


# ---------------------------------------------------------------- phases

@dataclass
class Tally:
    ok_ms: list[float] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    codes: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, ms: float, code: str | None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == 201:
                self.ok_ms.append(ms)
            elif code:
                self.codes[code] += 1


def place(client: httpx.Client, token: str, product_id: str) -> tuple[int, float, str | None]:
    started = time.perf_counter()
    try:
        r = client.post("/api/v1/orders", json={"product_id": product_id, "mode": "on_demand", "units": 1},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
        r.read()
    except httpx.HTTPError as exc:
        return 0, (time.perf_counter() - started) * 1000, type(exc).__name__
    ms = (time.perf_counter() - started) * 1000
    code = None
    if r.status_code != 201:
        try:
            body = r.json()
            code = body.get("code") or body.get("error", {}).get("code") or str(body)[:60]
        except ValueError:
            code = r.text[:60]
    return r.status_code, ms, code


def run_clients(base: str, buyers: list[Buyer], worker) -> float:
    """Start one thread per buyer running ``worker(client, buyer, index)`` at the same instant; wall seconds."""
    barrier = threading.Barrier(len(buyers) + 1)
    errors: list[BaseException] = []

    def body(i: int, buyer: Buyer) -> None:
        try:
            with httpx.Client(base_url=base, timeout=60,
                              limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as client:
                client.get("/healthz")  # connect first
                barrier.wait()
                worker(client, buyer, i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=body, args=(i, b), daemon=True) for i, b in enumerate(buyers)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} client thread(s) failed: {errors[0]!r}")
    return wall


def phase_a(base: str, buyers: list[Buyer], products: list[str], seconds: float) -> tuple[Tally, float]:
    tally = Tally()

    def worker(client: httpx.Client, buyer: Buyer, i: int) -> None:
        deadline = time.perf_counter() + seconds
        n = i
        while time.perf_counter() < deadline:
            status, ms, code = place(client, buyer.token, products[n % len(products)])
            tally.add(status, ms, code)
            n += 1

    wall = run_clients(base, buyers, worker)
    return tally, wall


def phase_b(base: str, buyers: list[Buyer], product: str) -> tuple[Tally, float]:
    tally = Tally()

    def worker(client: httpx.Client, buyer: Buyer, _i: int) -> None:
        for _ in range(RACE_UNITS + 10):
            status, ms, code = place(client, buyer.token, product)
            tally.add(status, ms, code)
            if status == 409 and code == "insufficient_stock":
                return
            if status not in (201,):
                raise RuntimeError(f"race: unexpected {status} {code}")
        raise RuntimeError("race: never ran out of stock")

    wall = run_clients(base, buyers, worker)
    return tally, wall


def warm_up(base: str, buyers: list[Buyer], products: list[str], per_client: int = 5) -> None:
    def worker(client: httpx.Client, buyer: Buyer, i: int) -> None:
        for k in range(per_client):
            status, _, code = place(client, buyer.token, products[(i + k) % len(products)])
            if status != 201:
                raise RuntimeError(f"warm-up order -> {status} {code}")

    run_clients(base, buyers, worker)


# ---------------------------------------------------------------- pgbench

def pgbench_binary() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    raise SystemExit("pgbench not found: install postgresql-contrib (or postgresql-client)")


@contextmanager
def scratch_database(pg_server: str) -> Iterator[str]:
    import psycopg

    name = f"suanli_pgbench_{os.getpid()}"
    admin = pg_dsn(pg_server).rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_dsn(pg_server).rstrip("/") + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pgbench(dsn: str, clients: int, seconds: int) -> tuple[float, str]:
    binary = pgbench_binary()
    init = subprocess.run([binary, "-i", "-s", "10", "-q", dsn], capture_output=True, text=True)
    if init.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{init.stderr}")
    done = subprocess.run([binary, "-c", str(clients), "-j", "2", "-T", str(seconds), dsn],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{done.stdout}")
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    return float(match.group(1)), latency.group(1) if latency else "?"


# ---------------------------------------------------------------- in-process

@dataclass
class InProcess:
    statements: int  # SQL statements one order sends (API path: auth + place + serialise)
    summary: list[str]  # their first words
    api_ms: float  # median wall ms of one order through create_app + TestClient, sequential
    service_ms: float  # median wall ms of auth + service.place_order + order_out + commit, direct call
    service_cpu_ms: float  # CPU ms of this process per direct order (Python: ORM, psycopg, pydantic)
    service_sql_ms: float  # ms per direct order inside cursor.execute (round trips + PostgreSQL work)
    commit_ms: float  # ms per direct order in COMMIT


def in_process(backend: Backend, buyer: Buyer, product: str, n: int, profile: bool) -> InProcess:
    """Where the time of one order goes, measured in this process, one order at a time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from sqlalchemy import event

    from suanli.accounts.service import user_for_secret
    from suanli.app import create_app
    from suanli.core.billing import SystemClock
    from suanli.db import Database
    from suanli.trading import service
    from suanli.trading.endpoints import order_out
    from suanli.trading.schemas import OrderIn

    database = Database(backend.url)
    recorded: list[str] | None = None
    in_sql = [0.0]
    started_at: dict[int, float] = {}

    def before(_conn, cursor, statement, _parameters, _context, _executemany) -> None:
        if recorded is not None:
            recorded.append(statement)
        started_at[id(cursor)] = time.perf_counter()

    def after(_conn, cursor, _statement, _parameters, _context, _executemany) -> None:
        in_sql[0] += time.perf_counter() - started_at.pop(id(cursor), time.perf_counter())

    event.listen(database.engine, "before_cursor_execute", before)
    event.listen(database.engine, "after_cursor_execute", after)
    headers = {"Authorization": f"Bearer {buyer.token}"}
    body = {"product_id": product, "mode": "on_demand", "units": 1}
    clock = SystemClock()

    def direct() -> float:
        """One order the way the endpoint runs it, without HTTP; returns seconds spent in COMMIT."""
        with database.unit_of_work() as session:
            user = user_for_secret(session, buyer.token)
            order, _ = service.place_order(session, clock, user, OrderIn.model_validate(body), uuid.uuid4().hex)
            order_out(order)
            c0 = time.perf_counter()
            session.commit()
            return time.perf_counter() - c0

    try:
        with TestClient(create_app(database)) as client:
            for _ in range(5):
                client.post("/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            recorded = []
            r = client.post("/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            statements, recorded = recorded, None
            if r.status_code != 201:
                raise RuntimeError(f"in-process order -> {r.status_code}: {r.text}")
            api = []
            for _ in range(n):
                t0 = time.perf_counter()
                client.post("/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
                api.append((time.perf_counter() - t0) * 1000)
        for _ in range(5):
            direct()
        wall, commit = [], 0.0
        in_sql[0] = 0.0
        cpu0 = time.process_time()
        for _ in range(n):
            t0 = time.perf_counter()
            commit += direct()
            wall.append((time.perf_counter() - t0) * 1000)
        cpu = time.process_time() - cpu0
        sql_s = in_sql[0]
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                direct()
            profiler.disable()
            print(f"\ncProfile of {n} direct orders (auth + service.place_order + order_out + commit):")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    finally:
        database.dispose()
    return InProcess(len(statements), [" ".join(s.split()[:4])[:70] for s in statements],
                     statistics.median(api), statistics.median(wall), cpu / n * 1000, sql_s / n * 1000,
                     commit / n * 1000)


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process orders")
    parser.add_argument("--in-process-orders", type=int, default=100)
    parser.add_argument("--pg-server", default="postgresql+psycopg://root@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    load_before = load_average()
    print("# Orders throughput benchmark\n", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="suanli-orders-"))
    try:
        with fresh_database("postgresql", args.pg_server, workdir) as backend:
            big, race = setup_catalog(backend)
            with running_server(backend, args.workers) as (base, process), \
                    httpx.Client(base_url=base, timeout=60) as admin:
                buyers, op_token = setup_users(backend, admin, args.clients)
                print(f"{backend.server_version}; {args.clients} buyers topped up; server: {args.workers} "
                      f"worker(s); load average {load_before}", flush=True)
                warm_up(base, buyers, big)
                pg_pids, postmaster = backend_pids(backend)
                before = cpu_snapshot(process.pid, pg_pids, postmaster)
                load_a0 = load_average()
                tally_a, wall_a = phase_a(base, buyers, big, args.seconds)
                after = cpu_snapshot(process.pid, pg_pids, postmaster)
                new_pids = [p for p in backend_pids(backend)[0] if p not in pg_pids]  # opened during phase A
                after["postgres"] += sum(proc_cpu(p) for p in new_pids)
                load_a1 = load_average()
                ok_a = tally_a.statuses[201]
                rate = ok_a / wall_a
                cpu = {k: after[k] - before[k] for k in before}
                print(f"phase A: {ok_a} orders in {wall_a:.1f} s = {rate:.1f} orders/s; statuses "
                      f"{dict(tally_a.statuses)}; load {load_a0} -> {load_a1}", flush=True)

                with scratch_database(args.pg_server) as dsn:
                    load_p0 = load_average()
                    tps, pg_latency = pgbench(dsn, args.clients, args.seconds)
                    load_p1 = load_average()
                print(f"pgbench: {tps:.1f} tps (latency avg {pg_latency} ms); load {load_p0} -> {load_p1}",
                      flush=True)

                tally_b, wall_b = phase_b(base, buyers, race)
                stock, allocated = sql(backend, "SELECT stock_units, allocated_units FROM products "
                                                "WHERE id = %s::uuid", (race,))[0]
                active_units, active_orders = sql(
                    backend, "SELECT COALESCE(SUM(units), 0), COUNT(*) FROM orders WHERE product_id = %s::uuid "
                             "AND status = 'active'", (race,))[0]
                tb = admin.get("/api/v1/operator/ledger/trial-balance",
                               headers={"Authorization": f"Bearer {op_token}"}).json()
                ok_b = tally_b.statuses[201]
                no_oversell = (allocated == RACE_UNITS == active_units == ok_b and stock == RACE_UNITS)
                print(f"phase B: {ok_b} x 201, statuses {dict(tally_b.statuses)}, codes {dict(tally_b.codes)}; "
                      f"allocated {allocated}/{stock}, active units {active_units}; trial balance "
                      f"balanced={tb['balanced']} (debits {tb['total_debits_fen']}, "
                      f"credits {tb['total_credits_fen']})", flush=True)
                try:
                    ip = in_process(backend, buyers[0], big[0], args.in_process_orders, args.profile)
                except Exception as exc:  # noqa: BLE001 - the profile is extra; keep the main figures
                    nan = float("nan")
                    ip = InProcess(-1, [f"failed: {exc!r}"], nan, nan, nan, nan, nan)
            load_after = load_average()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    p50, p95 = percentile(tally_a.ok_ms, 50), percentile(tally_a.ok_ms, 95)
    per_order = {k: v / max(ok_a, 1) * 1000 for k, v in cpu.items()}
    ours = per_order["client"] + per_order["server"] + per_order["postgres"]
    other_cores = max(0.0, cpu["machine"] - (cpu["client"] + cpu["server"] + cpu["postgres"])) / wall_a
    met = rate >= TARGET_ORDERS_PER_S
    others = ", ".join(f"{s}: {n}" for s, n in sorted(tally_a.statuses.items()) if s != 201) or "none"
    print(f"""
### {args.clients} clients, {args.workers} worker(s), {args.seconds} s — {backend.server_version}

| figure | value |
|---|---:|
| orders placed (201) | {ok_a:,} in {wall_a:.1f} s |
| **orders/s** | **{rate:.1f}** (target ≥ {TARGET_ORDERS_PER_S:g}: {'met' if met else '**not met**'}) |
| other responses | {others} |
| latency p50 / p95 (201s) | {p50:.1f} / {p95:.1f} ms |
| pgbench TPC-B-like, -c {args.clients} -j 2, scale 10 | {tps:.1f} tps (latency avg {pg_latency} ms) |
| **ratio orders/s ÷ pgbench tps** | **{rate / tps:.3f}** |
| CPU per order: clients (this process) / server / PostgreSQL | {per_order['client']:.2f} / {per_order['server']:.2f} / {per_order['postgres']:.2f} ms (sum {ours:.2f} ms) |
| CPU busy during phase A: whole machine / everything else (other jobs) | {cpu['machine'] / wall_a:.2f} / {other_cores:.2f} cores of {info['nproc']} |
| SQL statements per order | {ip.statements} |
| in-process, sequential, median of {args.in_process_orders}: TestClient POST / direct call | {ip.api_ms:.2f} / {ip.service_ms:.2f} ms |
| direct call per order: Python CPU / inside cursor.execute / COMMIT | {ip.service_cpu_ms:.2f} / {ip.service_sql_ms:.2f} / {ip.commit_ms:.2f} ms |
| oversell race: 201s / allocated / active units (stock {RACE_UNITS}) | {ok_b} / {allocated} / {active_units} — {'no oversell' if no_oversell else '**MISMATCH**'} |
| oversell race: other responses | {dict(tally_b.statuses)} {dict(tally_b.codes)} in {wall_b:.1f} s |
| trial balance | {'balanced' if tb['balanced'] else '**NOT balanced**'} |
| load average: start / phase A / pgbench / end | {load_before} / {load_a0}→{load_a1} / {load_p0}→{load_p1} / {load_after} |

machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; Python {info['python']}; {backend.server_version}
""")
    print("statements of one order:\n" + "\n".join(f"  {i + 1:2d}. {s}" for i, s in enumerate(ip.summary)))
    return 0 if (met and no_oversell and tb["balanced"]) else 1


if __name__ == "__main__":
    sys.exit(main())
