"""The ray backend against a real local Ray head (tests/harness/ray_head.py) with 4 fake GPUs."""

from __future__ import annotations

import re

import pytest
from cluster_helpers import pid_gone, wait_for, wait_until

from suanli import backends
from suanli.backends import BackendError, BackendUnavailable, JobState


def test_health_ok(ray) -> None:
    health = ray.health()
    assert health.ok, health.detail
    assert health.detail.startswith("Ray 2.")


def test_capabilities(ray) -> None:
    caps = ray.capabilities()
    assert caps.supports("logs") and caps.supports("cancel") and caps.supports("gpu_isolation")
    assert not caps.supports("time_limit") and "scheduler" in caps.reason("time_limit")
    assert not caps.supports("fractional_gpus")


def test_submit_run_succeed_with_logs_files_env_and_gpus(ray, ray_cluster, new_spec) -> None:
    spec = new_spec('echo "hello in $PWD"; cat data/input.txt; echo "FOO=$FOO"; '
                    'echo "cuda=[$CUDA_VISIBLE_DEVICES]"; echo oops >&2; sleep 1',
                    env={"FOO": "bar baz"}, files={"data/input.txt": "the input\n"}, accelerators=2, chip="a800")
    job = ray.submit(spec)
    assert job == f"suanli-{spec.run_name}"
    wait_for(ray, job, {JobState.RUNNING, JobState.SUCCEEDED})
    status = wait_for(ray, job, JobState.SUCCEEDED)
    assert status.exit_code == 0
    out = ray.logs(job)
    workdir = ray_cluster.scratch / "remote" / spec.run_name
    assert f"hello in {workdir}\nthe input\nFOO=bar baz\n" in out
    cuda = re.search(r"cuda=\[([0-9,]*)\]", out).group(1).split(",")
    assert len(cuda) == 2 and len(set(cuda)) == 2 and all(0 <= int(i) < 4 for i in cuda)  # num_gpus=2 of 4
    assert "oops" in out
    assert ray.logs(job, tail=1) == "oops\n"


def test_other_ecosystems_and_no_accelerators(ray, new_spec) -> None:
    dtk = ray.submit(new_spec('echo "hip=[$HIP_VISIBLE_DEVICES]"', accelerators=1, chip="hygon-dcu-z100"))
    cpu = ray.submit(new_spec('echo "cuda=[${CUDA_VISIBLE_DEVICES-unset}]"'))
    wait_for(ray, dtk, JobState.SUCCEEDED)
    wait_for(ray, cpu, JobState.SUCCEEDED)
    assert re.search(r"^hip=\[[0-3]\]$", ray.logs(dtk), re.M)
    assert re.search(r"^cuda=\[\]$", ray.logs(cpu), re.M)
    with pytest.raises(BackendError, match="no Ray resource for the neuware ecosystem"):
        ray.submit(new_spec("true", accelerators=1, chip="mlu370-x8"))


def test_a_shared_dir_holds_the_run(ray_cluster, new_spec) -> None:
    shared = ray_cluster.scratch / "shared"
    backend = ray_cluster.backend(shared_dir=str(shared))
    try:
        spec = new_spec(script="#!/usr/bin/env python3\nprint(open('in.txt').read().upper())\n",
                        files={"in.txt": "shared"})
        job = backend.submit(spec)
        wait_for(backend, job, JobState.SUCCEEDED)
        assert "SHARED\n" in backend.logs(job)
        assert (shared / spec.run_name / "in.txt").read_text() == "shared"
    finally:
        backend.close()


def test_failing_command_fails_with_its_exit_code(ray, new_spec) -> None:
    job = ray.submit(new_spec("echo about to fail; exit 3"))
    status = wait_for(ray, job, JobState.FAILED)
    assert status.exit_code == 3
    assert "JOB_ENTRYPOINT_COMMAND_ERROR" in status.detail
    assert "about to fail" in ray.logs(job)


def test_cancel_ends_the_job_and_its_processes(ray, ray_cluster, new_spec) -> None:
    pid_file = ray_cluster.scratch / "cancel.pid"
    job = ray.submit(new_spec(f"echo $$ > {pid_file}; sleep 300"))
    wait_for(ray, job, JobState.RUNNING)
    wait_until(pid_file.exists, "the job's pid file")
    pid = int(pid_file.read_text())
    ray.cancel(job)
    wait_for(ray, job, JobState.CANCELLED, timeout=30)
    wait_until(lambda: pid_gone(pid), f"job process {pid} to end")
    ray.cancel(job)  # already ended: a no-op


def test_submitting_the_same_attempt_twice_is_one_job(ray, new_spec) -> None:
    spec = new_spec("echo once")
    assert ray.submit(spec) == ray.submit(spec)
    wait_for(ray, f"suanli-{spec.run_name}", JobState.SUCCEEDED)


def test_unknown_jobs(ray) -> None:
    assert ray.status("suanli-nope.1").state is JobState.LOST
    ray.cancel("suanli-nope.1")
    with pytest.raises(BackendError, match="does not know"):
        ray.logs("suanli-nope.1")
    with pytest.raises(BackendError, match="not a Ray job id"):
        ray.status("../x")


# --- keep last: the head is killed mid-job, then restarted for any test after it ---------------------------


def test_head_killed_mid_job(ray_cluster, new_spec) -> None:
    backend = ray_cluster.backend()
    pid_file = ray_cluster.scratch / "crash.pid"
    job = backend.submit(new_spec(f"echo $$ > {pid_file}; sleep 300"))
    wait_for(backend, job, JobState.RUNNING)
    wait_until(pid_file.exists, "the job's pid file")
    pid = int(pid_file.read_text())

    ray_cluster.head.kill()  # SIGKILL the head's whole session: a crashed cluster
    health = backend.health()
    assert not health.ok and health.detail == "connection refused", health.detail
    with pytest.raises(BackendUnavailable):
        backend.status(job)
    wait_until(lambda: pid_gone(pid), "Ray's supervisor watcher to kill the orphaned entrypoint", timeout=15)
    backend.close()

    ray_cluster.restart()  # a new head (new ports): health is back, and it does not know the old job
    backend = ray_cluster.backend()
    try:
        assert backend.health().ok
        assert backend.status(job).state is JobState.LOST
    finally:
        backend.close()


def test_registry_endpoint_and_token(ray_cluster) -> None:
    backend = backends.create("ray", ray_cluster.url, {"token": "s3cret"})
    try:
        assert "s3cret" not in repr(backend)
        assert backend.health().ok  # a head without token auth ignores the header
    finally:
        backend.close()
