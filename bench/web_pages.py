"""Web pages benchmark: server time of the storefront's pages against the API requests that carry the same data.

What it measures
    A fresh SQLite database with the demo network (``suanli demo --no-serve --no-job``: 30 data centers, 1,100
    products) served by ``suanli serve`` (one uvicorn worker, meter and scheduler off), in a subprocess. One
    keep-alive httpx client sends each page and its API counterpart alternately, N times after a warm-up, and
    reports p50/p95 wall time (ms) and the size of the answer. ``ratio`` = page p50 / API p50: what rendering the
    page (templates, translations, the price-index badges, the form) costs on top of the same service call
    answered as JSON. Absolute times vary on a shared machine; the ratio is the steadier figure.

Usage
    .venv/bin/python bench/web_pages.py [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADVISOR = {"kind": "llm_finetune", "params_b": "7", "tokens": "100000000", "method": "lora",
           "deadline_hours": "24", "budget_cny": "2000", "ecosystems": ["cuda", "cann", "dtk"]}
ADVISOR_API = {"workload": {"kind": "llm_finetune", "params_b": 7, "tokens": 100_000_000, "method": "lora"},
               "deadline_hours": 24, "budget_cny": "2000", "ecosystems": ["cuda", "cann", "dtk"], "limit": 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(client: httpx.Client, method: str, url: str, **kwargs) -> tuple[float, int]:
    start = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return elapsed, len(response.content)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    suanli = str(Path(sys.executable).parent / "suanli")
    home = Path(tempfile.mkdtemp(prefix="suanli-web-bench-"))
    port = free_port()
    env = {**os.environ, "SUANLI_HOME": str(home), "SUANLI_DATABASE_URL": f"sqlite:///{home / 'suanli.db'}",
           "SUANLI_PORT": str(port), "SUANLI_METER_INTERVAL_SECONDS": "0", "SUANLI_SCHEDULER_INTERVAL_SECONDS": "0"}
    subprocess.run([suanli, "demo", "--no-serve", "--no-job"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([suanli, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(100):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            product = client.get("/api/v1/products", params={"chip": "a800", "limit": 1}).json()["items"][0]["id"]
            pairs = [
                ("home", ("GET", "/", {}), ("GET", "/api/v1/stats", {})),
                ("catalog: A800 by price per PFLOPS-hour", ("GET", "/catalog?chip=a800&sort=price_per_pflops", {}),
                 ("GET", "/api/v1/products?chip=a800&sort=price_per_pflops", {})),
                ("product page", ("GET", f"/products/{product}", {}), ("GET", f"/api/v1/products/{product}", {})),
                ("price index", ("GET", "/price-index", {}), ("GET", "/api/v1/price-index", {})),
                ("advisor: LoRA 7B, 3 ecosystems", ("GET", "/advisor", {"params": ADVISOR}),
                 ("POST", "/api/v1/recommendations", {"json": ADVISOR_API})),
            ]
            print(f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
                  f"{args.requests} requests each after 5 warm-up\n")
            print(f"{'page':40} {'page p50':>9} {'p95':>7} {'KiB':>6} {'API p50':>8} {'p95':>7} {'KiB':>6} "
                  f"{'ratio':>6}")
            for name, page, api in pairs:
                for _ in range(5):
                    timed(client, page[0], page[1], **page[2])
                    timed(client, api[0], api[1], **api[2])
                page_ms, api_ms = [], []
                page_size = api_size = 0
                for _ in range(args.requests):
                    ms, page_size = timed(client, page[0], page[1], **page[2])
                    page_ms.append(ms)
                    ms, api_size = timed(client, api[0], api[1], **api[2])
                    api_ms.append(ms)
                p50, a50 = statistics.median(page_ms), statistics.median(api_ms)
                print(f"{name:40} {p50:8.1f}  {pct(page_ms, .95):6.1f} {page_size / 1024:6.1f} {a50:7.1f}  "
                      f"{pct(api_ms, .95):6.1f} {api_size / 1024:6.1f} {p50 / a50:6.2f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
