"""Shared pieces of the jobs tests: clusters, jobs, scheduler rounds driven through the API with a ManualClock."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from trading_helpers import Market

from suanli.backends.local.supervisor import processes_of


def register_cluster(market: Market, seller: dict[str, Any], datacenter_id: str, products: list[dict[str, Any]],
                     endpoint: str, kind: str = "local", name: str = "main", **extra: Any) -> dict[str, Any]:
    """Register a cluster of the seller's data center: a ``local`` one, or one with a ``shared_dir`` on the
    platform's machine, through the operator (only operators may); any other as the seller."""
    body = {"name": name, "kind": kind, "endpoint": endpoint, "product_ids": [p["id"] for p in products], **extra}
    on_platform = kind == "local" or "shared_dir" in (extra.get("options") or {})
    registrar = market.operator if on_platform else seller
    r = market.client.post(f"/api/v1/datacenters/{datacenter_id}/clusters", headers=registrar["headers"], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def submit(market: Market, buyer: dict[str, Any], expect: int = 201, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "resnet", "command": "echo hello from $SUANLI_JOB_ID",
                            "resources": {"accelerators": 1, "chip": "A800"}, "objective": "cost",
                            "mode": "on_demand", "max_runtime_minutes": 120}
    body.update(overrides)
    r = market.client.post("/api/v1/jobs", headers=buyer["headers"], json=body)
    assert r.status_code == expect, r.text
    return r.json()


def run_round(market: Market) -> dict[str, Any]:
    r = market.client.post("/api/v1/operator/scheduler/run", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    summary = r.json()
    assert not summary["errors"], summary
    return summary


def race_rounds(market: Market, threads: int, *, lock: bool) -> list[Any]:
    """``threads`` scheduler rounds started at the same moment (``lock=False``: without the round lock, so only the
    conditional claims keep a job from being placed twice); their summaries."""
    from suanli.jobs.scheduler import run_round as scheduler_round

    barrier = threading.Barrier(threads)
    results, errors = [], []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(scheduler_round(market.db, market.clock, lock=lock))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join(timeout=120)
    assert not errors, errors
    return results


def get_job(market: Market, user: dict[str, Any], job_id: str) -> dict[str, Any]:
    r = market.client.get(f"/api/v1/jobs/{job_id}", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(market: Market, user: dict[str, Any], job_id: str, states: set[str], timeout: float = 60.0,
             pause: float = 0.2) -> dict[str, Any]:
    """Run scheduler rounds until the job is in one of ``states`` (the ManualClock does not move)."""
    deadline = time.monotonic() + timeout
    while True:
        run_round(market)
        job = get_job(market, user, job_id)
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            tried = "; ".join(f"{a['kind']}: {a['reason']}" for a in job.get("attempts") or []) or "none"
            pytest.fail(f"job {job_id} still {job['state']} ({job['state_detail']}) after {timeout:.0f} s; "
                        f"attempts: {tried}")
        time.sleep(pause)


def order_of(market: Market, user: dict[str, Any], order_id: str) -> dict[str, Any]:
    r = market.client.get(f"/api/v1/orders/{order_id}", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def wait_pid(run_dir: Path, timeout: float = 10.0) -> int:
    """The host pid of a local job's shell, which wrote ``echo $$ > pid`` into its working directory: that is its
    pid inside its sandbox's PID namespace, so find the run's process (its uid) with that namespace pid."""
    pid_file = run_dir / "work" / "pid"
    deadline = time.monotonic() + timeout
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the job never wrote its pid"
        time.sleep(0.1)
    inside = pid_file.read_text().strip()
    uid = json.loads((run_dir / "plan.json").read_text())["uid"]
    for pid in processes_of(uid):
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        if status["NSpid"].split()[-1] == inside:
            return pid
    raise AssertionError(f"no process of uid {uid} has pid {inside} in its namespace")
