"""Catalog sync between two real `suanli serve` processes (each its own SUANLI_HOME and SQLite database).

What it prints (docs/federation.md, "Figures", quote these): with N shared products at the publisher,
- the full sync's time (keys, then every page of the change feed: signed, verified, stored with its cursor);
- an incremental sync after 1% of the prices changed, and one with nothing changed.

Run: ``PYTHONPATH=src .venv/bin/python bench/federation_sync.py --products 100000``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SUANLI = shutil.which("suanli", path=str(Path(sys.executable).parent)) or "suanli"
PASSWORD = "correct-horse-battery"
OPS = "/api/v1/operator/federation"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, name: str) -> None:
        self.home, self.name, self.port = home, name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SUANLI_HOME": str(home), "SUANLI_PORT": str(self.port), "SUANLI_PLATFORM_NAME": name,
                    "SUANLI_METER_INTERVAL_SECONDS": "0", "SUANLI_SCHEDULER_INTERVAL_SECONDS": "0",
                    "SUANLI_INSTANCE_INTERVAL_SECONDS": "0", "SUANLI_CLUSTER_ALLOWED_NETWORKS": "127.0.0.0/8"}
        for variable in ("SUANLI_DATABASE_URL", "SUANLI_API_URL", "SUANLI_TOKEN", "SUANLI_FEDERATION_BASE_URL"):
            self.env.pop(variable, None)
        self.process: subprocess.Popen[bytes] | None = None
        self.headers: dict[str, str] = {}

    def run(self, *args: str) -> None:
        subprocess.run([SUANLI, *args], env=self.env, check=True, capture_output=True, timeout=3600)

    def start(self) -> None:
        log = (self.home / "server.log").open("ab")
        self.process = subprocess.Popen([SUANLI, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        for _ in range(200):
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        email = f"op@{self.port}.cn"
        self.run("user", "create", email, "--role", "operator", "--password", PASSWORD)
        token = httpx.post(self.url + "/api/v1/auth/token", data={"username": email, "password": PASSWORD}).json()
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def post(self, path: str, **kwargs) -> dict:
        response = httpx.post(self.url + path, headers=self.headers, timeout=3600, **kwargs)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def main(products: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="suanli-fed-bench-"))
    publisher, subscriber = Server(root / "publisher", "贵州算力平台"), Server(root / "subscriber", "安徽省算力调度平台")
    try:
        for server in (publisher, subscriber):
            server.home.mkdir()
            server.run("db", "upgrade")
        started = time.perf_counter()
        publisher.run("seed", "--datacenters", str(max(10, products // 300)), "--products", str(products))
        with sqlite3.connect(publisher.home / "suanli.db") as db:
            db.execute("INSERT INTO federation_shares (product_id, shared_at) "
                       "SELECT id, '2026-12-07 00:00:00.000000' FROM products")
        print(f"seeded and shared {products:,} products in {time.perf_counter() - started:.1f} s")
        for server in (publisher, subscriber):
            server.start()
        cards = {s.name: s.post(f"{OPS}/identity")["card"] for s in (publisher, subscriber)}
        publisher.post(f"{OPS}/peers", json={"card": cards[subscriber.name], "scopes": ["catalog"]})
        peer = subscriber.post(f"{OPS}/peers", json={"card": cards[publisher.name], "scopes": ["catalog"]})["id"]

        def sync(label: str) -> None:
            began = time.perf_counter()
            report = subscriber.post(f"{OPS}/peers/{peer}/sync")
            seconds = time.perf_counter() - began
            print(f"{label}: {seconds:.2f} s, {report['changes_applied']:,} changes in {report['pages']} pages, "
                  f"{report['offers_held']:,} offers held")

        sync("full sync")
        changed = max(1, products // 100)
        with sqlite3.connect(publisher.home / "suanli.db") as db:
            db.execute("UPDATE products SET price_on_demand_fen = price_on_demand_fen + 100 WHERE id IN "
                       "(SELECT id FROM products ORDER BY id LIMIT ?)", (changed,))
        sync(f"incremental sync ({changed:,} prices changed)")
        sync("incremental sync (nothing changed)")
    finally:
        for server in (publisher, subscriber):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    main(parser.parse_args().products)
