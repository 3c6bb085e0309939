"""A Ray submit that reached the head but got no answer in time may have started the run: the error names the
submission, so the scheduler can stop it once the head answers (``jobs.strays``). A submit that never reached the
head names nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from suanli.backends import BackendUnavailable, JobSpec
from suanli.backends import ray as ray_module


@pytest.fixture
def silent_head() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def spec() -> JobSpec:
    return JobSpec(job_id="j-1", name="n", command="true", attempt=2)


def test_no_answer_names_the_run_it_may_have_started(silent_head, monkeypatch):
    monkeypatch.setattr(ray_module, "SUBMIT_TIMEOUT_S", 0.3)
    backend = ray_module.RayBackend(silent_head, timeout=0.3)
    with pytest.raises(BackendUnavailable) as caught:
        backend.submit(spec())
    assert caught.value.reason == "timeout" and caught.value.backend_job_id == "suanli-j-1.2"


def test_a_refused_connection_names_nothing():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused
        with pytest.raises(BackendUnavailable) as caught:
            ray_module.RayBackend(closed, timeout=1).submit(spec())
    assert caught.value.reason == "connection refused" and caught.value.backend_job_id is None
