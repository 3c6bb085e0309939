"""Polling helpers for the backend tests (bounded waits, no fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from suanli.backends import Backend, JobState, JobStatus

TIMINGS: dict[str, float] = {}
"""How long the clusters (and instances) took to start; printed at the end of the session."""


def wait_for(backend: Backend, job_id: str, states: set[JobState] | JobState, timeout: float = 60.0,
             ) -> JobStatus:
    """Poll ``status`` until the job is in one of ``states``; fail with the last status after ``timeout``."""
    wanted = {states} if isinstance(states, JobState) else set(states)
    deadline = time.monotonic() + timeout
    status = backend.status(job_id)
    while status.state not in wanted:
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {status} after {timeout:.0f} s (waiting for "
                        f"{sorted(s.value for s in wanted)})")
        if status.terminal:
            pytest.fail(f"job {job_id} ended as {status}, not {sorted(s.value for s in wanted)}")
        time.sleep(0.2)
        status = backend.status(job_id)
    return status


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def pid_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"
