"""Several API worker processes race for the same stock: each process is its own Python interpreter with its own
app, engine and connection pool — as `suanli serve --workers N` runs — so only the database can keep the stock
exact. 4 processes × 8 threads, 32 buyers, 10 units: exactly 10 orders win, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from trading_helpers import Market, checked_market


PROCESSES = 4
THREADS = 8

WORKER = r"""
import json, sys, threading, time, warnings
warnings.simplefilter("ignore")
from fastapi.testclient import TestClient
from suanli.app import create_app
from suanli.db import Database

url, buyers, product_id, start_at = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
app = create_app(Database(url))
clients = [TestClient(app) for _ in buyers]
results = [None] * len(buyers)

def order(i):
    time.sleep(max(0.0, start_at - time.time()))
    r = clients[i].post("/api/v1/orders", headers=buyers[i],
                        json={"product_id": product_id, "mode": "on_demand", "units": 1})
    results[i] = [r.status_code, r.json().get("error", {}).get("code") if r.status_code >= 400 else r.json()["id"]]

threads = [threading.Thread(target=order, args=(i,)) for i in range(len(buyers))]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results), flush=True)
"""


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def test_worker_processes_never_oversell(market):
    _, product = market.seller_with_product(stock_units=10, price_on_demand_fen=1000)
    buyers = [market.buyer(topup_fen=5000)["headers"] for _ in range(PROCESSES * THREADS)]
    start_at = time.time() + 6  # every interpreter is up and has its app built by then
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, market.db.url,
                          json.dumps(buyers[p * THREADS:(p + 1) * THREADS]), product["id"], str(start_at)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for p in range(PROCESSES)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
        results += json.loads(out.strip().splitlines()[-1])
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 10, 409: 22}, results
    assert {code for status, code in results if status == 409} == {"insufficient_stock"}
    assert len({order_id for status, order_id in results if status == 201}) == 10
    assert market.allocated(product) == 10
