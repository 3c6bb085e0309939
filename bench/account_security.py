"""Account security and input limits, measured through the real app (TestClient) on a fresh SQLite database.

What it prints (docs/security.md, "Accounts" and "Input limits", quote these figures):
- the median time of a wrong-password login for an existing and for an unknown email (real argon2id parameters);
- what 60 wrong passwords sent as fast as possible within 15 s get: how many were checked, how many 429;
- the median and slowest of 20 writes (API key creations) while four loops send wrong passwords for an existing
  account (throttling switched off for this part: the SQLite write lock alone is measured);
- a 50 MiB JSON body and a 200,000-key body to POST /estimates: status, time and answer size;
- a 1 MiB-body with as many unknown keys as fit: status, time and answer size.

Run: ``PYTHONPATH=src .venv/bin/python bench/account_security.py``
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from suanli.app import create_app
from suanli.db import Database
from suanli.migrate import upgrade

PASSWORD = "correct-horse-battery"


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="suanli-bench-"))
    database = Database(f"sqlite:///{home / 'suanli.db'}")
    upgrade(database)
    client = TestClient(create_app(database))

    def from_address(host: str) -> TestClient:
        return TestClient(client.app, client=(host, 40000))

    for n, role in ((1, "buyer"), (2, "seller")):
        r = client.post("/api/v1/auth/register", json={"email": f"user{n}@example.cn", "password": PASSWORD,
                                                       "display_name": "u", "organization_name": f"org {n}",
                                                       "role": role})
        assert r.status_code == 201, r.text

    def login(c: TestClient, email: str, password: str) -> int:
        return c.post("/api/v1/auth/token", data={"username": email, "password": password}).status_code

    known, unknown = [], []
    for i in range(15):
        known.append(timed(lambda: login(from_address(f"10.0.1.{i}"), "user1@example.cn", "wrong-pw"))[0])
        unknown.append(timed(lambda: login(from_address(f"10.0.2.{i}"), f"ghost{i}@example.cn", "wrong-pw"))[0])
    print(f"wrong-password login, median of 15: existing email {statistics.median(known):.0f} ms, "
          f"unknown email {statistics.median(unknown):.0f} ms")

    attacker = from_address("203.0.113.5")
    started, statuses = time.perf_counter(), []
    while len(statuses) < 60 and time.perf_counter() - started < 15:
        statuses.append(login(attacker, "user1@example.cn", f"guess-{len(statuses)}"))
    print(f"60 guesses in {time.perf_counter() - started:.1f} s from one address: {statuses.count(401)} checked "
          f"(401), {statuses.count(429)} refused unchecked (429)")

    token = client.post("/api/v1/auth/token", data={"username": "user2@example.cn", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    stop = threading.Event()

    try:  # wrong passwords for existing accounts, never throttled here: the write lock alone is measured
        from suanli.accounts import throttle
        throttle.PAIR_FREE_FAILURES = throttle.ACCOUNT_MAX_FAILURES = throttle.ADDRESS_MAX_FAILURES = 10**9
    except ImportError:  # before throttling existed
        pass

    def guess(n: int) -> None:
        c = from_address(f"10.3.0.{n}")
        while not stop.is_set():
            login(c, "user1@example.cn", "nope-nope")  # an existing account: the full argon2 check

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    writes = [timed(lambda: client.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=headers))[0]
              for _ in range(20)]
    stop.set()
    for t in threads:
        t.join()
    print(f"API key creation during four guessing loops: median {statistics.median(writes):.0f} ms, "
          f"slowest {max(writes):.0f} ms")

    big = b'{"x": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    ms, r = timed(lambda: client.post("/api/v1/estimates", content=big, headers={"content-type": "application/json"}))
    print(f"50 MiB body: {r.status_code} {r.json()['error']['code']} in {ms:.0f} ms, {len(r.content)} bytes")
    keys = json.dumps({f"k{i}": 0 for i in range(200_000)}).encode()
    ms, r = timed(lambda: client.post("/api/v1/estimates", content=keys, headers={"content-type": "application/json"}))
    print(f"200,000 unknown keys ({len(keys) / 2**20:.1f} MiB): {r.status_code} {r.json()['error']['code']} in "
          f"{ms:.0f} ms, {len(r.content)} bytes")
    n = 80_000
    keys = json.dumps({f"k{i}": 0 for i in range(n)}).encode()
    while len(keys) > 1024 * 1024:
        n -= 2000
        keys = json.dumps({f"k{i}": 0 for i in range(n)}).encode()
    ms, r = timed(lambda: client.post("/api/v1/estimates", content=keys, headers={"content-type": "application/json"}))
    print(f"{n:,} unknown keys ({len(keys) / 2**20:.2f} MiB): {r.status_code} {r.json()['error']['code']} in "
          f"{ms:.0f} ms, {len(r.content)} bytes")
    database.dispose()


if __name__ == "__main__":
    sys.exit(main())
