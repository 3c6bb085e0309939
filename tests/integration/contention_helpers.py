"""A real `suanli serve` on the test database, and client processes that hit it with a mixed, bounded burst of
trading requests (orders in all modes, repeats with the same Idempotency-Key, releases, cancels, seller stock
changes, meter runs). Used by test_trading_contention.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from support import PG_ADMIN_URL, stop_process_group, wait_until_serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop_process_group(self.process)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(database_url: str, home: Path, *, workers: int = 2, meter_seconds: int = 1,
                 pool_size: int = 4) -> Server:
    """`suanli serve --workers N` on a free port, in its own process group, against ``database_url`` (already
    migrated): the meter every ``meter_seconds``, no scheduler or instance loop (the products rent units only)."""
    port = free_port()
    env = {**os.environ, "SUANLI_HOME": str(home), "SUANLI_DATABASE_URL": database_url, "SUANLI_PORT": str(port),
           "SUANLI_HOST": "127.0.0.1", "SUANLI_METER_INTERVAL_SECONDS": str(meter_seconds),
           "SUANLI_SCHEDULER_INTERVAL_SECONDS": "0", "SUANLI_INSTANCE_INTERVAL_SECONDS": "0",
           "SUANLI_DB_POOL_SIZE": str(pool_size), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SUANLI_API_URL", None)
    log = home / "server.log"
    process = subprocess.Popen([sys.executable, "-c", "from suanli.cli.main import app; app()", "serve", "--port",
                                str(port), "--workers", str(workers)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    wait_until_serving(process, server.base_url, log, server.stop)
    return server


CLIENT = r'''
import json, random, sys, threading, time, uuid
import httpx

config = json.loads(sys.argv[1])
base, start_at, ops = config["base_url"], config["start_at"], config["ops"]
MAX_TRIES = config.get("max_tries", 40)
log = []  # one row per HTTP answer (or transport error)
guard = threading.Lock()


def call(client, actor, label, method, path, body=None, key=None):
    """Send; a 503 is sent again (same body and Idempotency-Key) after its Retry-After, capped to keep the
    burst short. Every answer is logged. The last response (None after a transport error)."""
    headers = dict(actor["headers"])
    if key:
        headers["Idempotency-Key"] = key
    for _ in range(MAX_TRIES):
        try:
            r = client.request(method, base + path, headers=headers, json=body, timeout=60)
        except httpx.HTTPError as exc:
            with guard:
                log.append({"op": label, "status": None, "error": type(exc).__name__, "at": time.time()})
            time.sleep(0.2)
            continue
        code = r.json().get("error", {}).get("code") if r.status_code >= 400 else None
        with guard:
            log.append({"op": label, "status": r.status_code, "code": code, "retry_after": r.headers.get("Retry-After"),
                        "outcome": r.json().get("error", {}).get("details", {}).get("outcome")
                        if r.status_code >= 400 else None, "at": time.time()})
        if r.status_code != 503:
            return r
        time.sleep(min(float(r.headers.get("Retry-After", "1")), config.get("retry_after_cap", 0.5)))
    return None


keys = {}  # Idempotency-Key -> order ids answered for it


def buyer(actor, seed):
    rng = random.Random(seed)
    client = httpx.Client()
    mine = []
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(ops):
        action = rng.choice(config["buyer_actions"])
        product = rng.choice(config["products"])
        if action in ("on_demand", "spot", "reserved") or (action == "repeat" and not mine):
            mode = action if action != "repeat" else "on_demand"
            body = {"product_id": product["id"], "mode": mode, "units": rng.choice([1, 1, 2])}
            if mode == "spot":
                body["bid_hourly_fen"] = rng.randint(product["floor"], product["on_demand"])
            if mode == "reserved":
                body["term_months"], body["units"] = 1, 1
            key = uuid.uuid4().hex
            r = call(client, actor, mode, "POST", "/api/v1/orders", body, key)
            if r is not None and r.status_code in (200, 201, 202):
                mine.append((key, body, r.json()["id"]))
                with guard:
                    keys.setdefault(key, set()).add(r.json()["id"])
        elif action == "repeat":
            key, body, _ = rng.choice(mine)
            r = call(client, actor, "repeat", "POST", "/api/v1/orders", body, key)
            if r is not None and r.status_code in (200, 201, 202):
                with guard:
                    keys.setdefault(key, set()).add(r.json()["id"])
        elif action in ("release", "cancel") and mine:
            _, _, order_id = rng.choice(mine)
            call(client, actor, action, "POST", f"/api/v1/orders/{order_id}/{action}")
    client.close()


def seller(actor, seed):
    rng = random.Random(seed)
    client = httpx.Client()
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(ops):
        product = rng.choice(actor["products"])
        call(client, actor, "stock", "PATCH", f"/api/v1/products/{product}", {"stock_units": rng.randint(2, 9)})
        time.sleep(rng.uniform(0, 0.05))
    client.close()


def operator(actor, seed):
    client = httpx.Client()
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(max(1, ops // 2)):
        call(client, actor, "meter", "POST", "/api/v1/operator/metering/run")
        time.sleep(0.1)
    client.close()


roles = {"buyer": buyer, "seller": seller, "operator": operator}
threads = [threading.Thread(target=roles[a["role"]], args=(a, config["seed"] * 1000 + i))
           for i, a in enumerate(config["actors"])]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"log": log, "keys": {k: sorted(v) for k, v in keys.items()}}), flush=True)
'''


def start_clients(server: Server, actors: list[list[dict[str, Any]]], products: list[dict[str, Any]], *,
                  ops: int, buyer_actions: list[str], start_in: float = 2.0, **options: Any
                  ) -> list[subprocess.Popen[str]]:
    """One client process per list of actors (a thread per actor), all starting at the same moment."""
    start_at = time.time() + start_in
    return [subprocess.Popen([sys.executable, "-c", CLIENT, json.dumps({
        "base_url": server.base_url, "start_at": start_at, "ops": ops, "actors": group, "products": products,
        "buyer_actions": buyer_actions, "seed": n, **options})], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for n, group in enumerate(actors)]


def collect(clients: list[subprocess.Popen[str]], timeout: float = 120) -> tuple[list[dict], dict[str, set[str]]]:
    """Every client's answers and, per Idempotency-Key, the order ids answered for it."""
    log: list[dict] = []
    keys: dict[str, set[str]] = {}
    for client in clients:
        out, err = client.communicate(timeout=timeout)
        assert client.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        log += result["log"]
        for key, ids in result["keys"].items():
            keys.setdefault(key, set()).update(ids)
    return log, keys


def waiting_for_a_lock(db: Any, timeout: float = 10) -> None:
    """Return once some backend of ``db`` (a PostgreSQL ``Database``) waits for a lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        while time.monotonic() < deadline:
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = "
                             "'Lock'", (db.engine.url.database,)).fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("nobody waited for a lock")
