"""Crash safety: a process placing and releasing orders is killed (SIGKILL) in the middle of its work, several
times; afterwards the books balance, inventory equals the active orders' units and held money equals the open
holds — on SQLite (WAL recovery) and PostgreSQL (the server aborts the dead connection's transaction)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from trading_helpers import Market, checked_market, assert_ledger_consistent


WORKER = r"""
import json, random, sys, warnings
warnings.simplefilter("ignore")
from fastapi.testclient import TestClient
from suanli.app import create_app
from suanli.db import Database

url, buyers, product_id = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
client = TestClient(create_app(Database(url)))
rng = random.Random()
open_orders = []
print("ready", flush=True)
while True:
    buyer = rng.choice(buyers)
    if open_orders and rng.random() < 0.45:
        headers, order_id = open_orders.pop(rng.randrange(len(open_orders)))
        r = client.post(f"/api/v1/orders/{order_id}/release", headers=headers)
    else:
        r = client.post("/api/v1/orders", headers=buyer, json={"product_id": product_id, "mode": "on_demand",
                                                               "units": rng.randint(1, 3)})
        if r.status_code == 201:
            open_orders.append((buyer, r.json()["id"]))
    assert r.status_code in (200, 201, 402, 409), r.text
    print(r.status_code, flush=True)
"""


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def test_killed_mid_work_leaves_consistent_books(market):
    _, product = market.seller_with_product(stock_units=12, price_on_demand_fen=500)
    buyers = [market.buyer(topup_fen=1_000_000) for _ in range(4)]
    url = market.db.engine.url.render_as_string(hide_password=False)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    rng = random.Random(7)
    for round_ in range(3):
        worker = subprocess.Popen([sys.executable, "-c", WORKER, url, json.dumps([b["headers"] for b in buyers]),
                                   product["id"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        try:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read() if worker.stderr else ""
            done, deadline = 0, time.monotonic() + 30
            while done < 20 + 7 * round_ and time.monotonic() < deadline:
                line = worker.stdout.readline()
                assert line, worker.stderr.read() if worker.stderr else "worker died"
                done += 1
            assert done >= 20, "the worker made too little progress"
            time.sleep(rng.random() * 0.02)  # land anywhere in the next request
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        assert worker.returncode == -signal.SIGKILL
        assert_ledger_consistent(market)
    # The platform still works after the crashes.
    assert market.order(buyers[0], product).status_code in (201, 409)
