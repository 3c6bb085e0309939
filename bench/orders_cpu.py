"""CPU per order of two (or more) versions of the code, run alternately against one PostgreSQL database.

Throughput on a 2-core machine moves ±15% from run to run (docs/benchmarks.md, "Orders per second"); the CPU
time the server spends per order, measured with a few clients and the versions taking turns, moves about ±5%.
This is how a change to the order path is judged before the throughput runs.

What it measures
    One database is built as in ``orders_throughput.py`` (seeded, 20 products with large stock, buyers topped
    up). Then, for each round and each version in turn: ``suanli serve --workers W`` is started with
    ``PYTHONPATH`` set to the version's ``src`` folder, warmed up with 50 orders per client, and C clients
    place N 1-unit on-demand orders. CPU seconds of the server's process group and of PostgreSQL's backends
    (read from /proc before and after) ÷ N = ms per order; also orders/s. The medians over the rounds are
    printed at the end, with the ratio of each version to the first.

Usage
    rm -rf /tmp/base && mkdir /tmp/base && git archive HEAD src | tar -x -C /tmp/base
    .venv/bin/python bench/orders_cpu.py before=/tmp/base/src after=src [--rounds 3] [--orders 1200]
                                         [--clients 4] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import orders_throughput as ot  # noqa: E402
from catalog_search import fresh_database  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("versions", nargs="+", help="NAME=SRC_DIR, e.g. before=/tmp/base/src after=src")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=1200, help="orders per version per round")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pg-server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    if any("=" not in v for v in args.versions):
        parser.error("versions are NAME=SRC_DIR")
    return args


def one_run(backend, src: str, args, buyers: list[ot.Buyer] | None, big: list[str]):
    """(server ms/order, PostgreSQL ms/order, orders/s, buyers) for the code in ``src``."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(Path(src).resolve())  # the server inherits it (suanli_env copies os.environ)
    try:
        with ot.running_server(backend, args.workers) as (base, process), \
                httpx.Client(base_url=base, timeout=60) as admin:
            if buyers is None:
                buyers, _ = ot.setup_users(backend, admin, args.clients)
            ot.warm_up(base, buyers, big, per_client=50)
            pg_pids, postmaster = ot.backend_pids(backend)
            before = ot.cpu_snapshot(process.pid, pg_pids, postmaster)
            per_client = args.orders // args.clients

            def worker(client: httpx.Client, buyer: ot.Buyer, i: int) -> None:
                for k in range(per_client):
                    status, _ms, code = ot.place(client, buyer.token, big[(i + k) % len(big)])
                    if status != 201:
                        raise RuntimeError(f"order -> {status} {code}")

            wall = ot.run_clients(base, buyers, worker)
            after = ot.cpu_snapshot(process.pid, pg_pids, postmaster)
            after["postgres"] += sum(ot.proc_cpu(p) for p in ot.backend_pids(backend)[0] if p not in pg_pids)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    n = per_client * args.clients
    return ((after["server"] - before["server"]) / n * 1000, (after["postgres"] - before["postgres"]) / n * 1000,
            n / wall, buyers)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    versions = [tuple(v.split("=", 1)) for v in args.versions]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in versions}
    print(f"# CPU per order, {args.clients} clients, {args.workers} worker(s), {args.orders} orders per run; "
          f"load average {ot.load_average()}\n", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="suanli-orders-cpu-"))
    buyers = None
    try:
        with fresh_database("postgresql", args.pg_server, workdir) as backend:
            big, _race = ot.setup_catalog(backend)
            for round_no in range(1, args.rounds + 1):
                for name, src in versions:
                    server, postgres, rate, buyers = one_run(backend, src, args, buyers, big)
                    results[name].append((server, postgres, rate))
                    print(f"round {round_no} {name:>10}: server {server:.2f} ms, PostgreSQL {postgres:.2f} ms per "
                          f"order; {rate:.0f} orders/s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    first = statistics.median(r[0] for r in results[versions[0][0]])
    print("\n| version | server ms/order (median) | ratio to first | PostgreSQL ms/order | orders/s |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in results.items():
        server = statistics.median(r[0] for r in rows)
        print(f"| {name} | {server:.2f} | {server / first:.2f} | {statistics.median(r[1] for r in rows):.2f} | "
              f"{statistics.median(r[2] for r in rows):.0f} |")
    info = ot.machine()
    print(f"\nmachine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; Python {info['python']}; load average at "
          f"the end {ot.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
