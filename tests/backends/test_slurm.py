"""The slurm backend against a real single-node Slurm 22.05 (slurmrestd openapi/v0.0.38, JWT) with 8 fake A800
GPUs (tests/harness/slurm.sh). Jobs run as the unprivileged user ``suanlijob``."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from cluster_helpers import pid_gone, wait_for, wait_until

from suanli import backends
from suanli.backends import BackendError, BackendUnavailable, JobState


def test_health_ok(slurm) -> None:
    health = slurm.health()
    assert health.ok, health.detail
    assert "1/1 node(s) usable" in health.detail


def test_capabilities(slurm) -> None:
    caps = slurm.capabilities()
    assert caps.supports("logs") and caps.supports("cancel") and caps.supports("gpu_isolation")
    assert caps.supports("status_after_restart")
    assert "v0.0.38" in caps.reason("logs_streaming")


def test_submit_run_succeed_with_logs_files_env_and_gres(slurm, slurm_cluster, new_spec) -> None:
    spec = new_spec('echo "hello as $(id -un) in $PWD"; cat input.txt; echo "FOO=$FOO"; '
                    'echo "cuda=[$CUDA_VISIBLE_DEVICES]"; echo oops >&2; sleep 1',
                    env={"FOO": "bar baz"}, files={"input.txt": "the input\n"}, accelerators=2, chip="a800",
                    vcpus=1, memory_gib=0.5, time_limit_minutes=5)
    job = slurm.submit(spec)
    assert job.isdigit()
    wait_for(slurm, job, {JobState.RUNNING, JobState.SUCCEEDED})
    status = wait_for(slurm, job, JobState.SUCCEEDED)
    assert status.exit_code == 0
    out = slurm.logs(job)
    workdir = slurm_cluster.jobs_dir / spec.run_name
    assert f"hello as {slurm_cluster.user} in {workdir}\nthe input\nFOO=bar baz\n" in out
    cuda = re.search(r"cuda=\[([0-9,]*)\]", out).group(1).split(",")
    assert len(cuda) == 2 and len(set(cuda)) == 2 and all(0 <= int(i) < 8 for i in cuda)  # GRES gpu:a800:2
    assert "oops" in out
    assert slurm.logs(job, tail=1) == "oops\n"


def test_other_ecosystems_get_their_variable_from_the_gres(slurm, new_spec) -> None:
    # a site whose Ascend nodes register their NPUs as GRES gpu:a800 (the only type this cluster has)
    job = slurm.submit(new_spec('echo "npu=[$ASCEND_RT_VISIBLE_DEVICES]"', accelerators=1, chip="a800",
                                ecosystem="cann"))
    wait_for(slurm, job, JobState.SUCCEEDED)
    assert re.fullmatch(r"npu=\[[0-7]\]\n", slurm.logs(job))
    cpu = slurm.submit(new_spec('echo "cuda=[${CUDA_VISIBLE_DEVICES-unset}]"'))
    wait_for(slurm, cpu, JobState.SUCCEEDED)
    assert slurm.logs(cpu) == "cuda=[]\n"


def test_failing_command_fails_with_its_exit_code(slurm, new_spec) -> None:
    job = slurm.submit(new_spec("echo about to fail; exit 3"))
    status = wait_for(slurm, job, JobState.FAILED)
    assert status.exit_code == 3
    assert "NonZeroExitCode" in status.detail
    assert "about to fail" in slurm.logs(job)


def test_cancel_ends_the_job_and_its_processes(slurm, slurm_cluster, new_spec) -> None:
    spec = new_spec("echo $$ > job.pid; sleep 300")
    job = slurm.submit(spec)
    wait_for(slurm, job, JobState.RUNNING)
    pid_file = slurm_cluster.jobs_dir / spec.run_name / "job.pid"
    wait_until(pid_file.exists, "the job's pid file")
    pid = int(pid_file.read_text())
    slurm.cancel(job)
    status = wait_for(slurm, job, JobState.CANCELLED, timeout=30)
    assert status.terminal
    wait_until(lambda: pid_gone(pid), f"job process {pid} to end")
    slurm.cancel(job)  # already ended: a no-op


def test_without_a_shared_dir_files_travel_in_the_script(slurm_cluster, new_spec, tmp_path) -> None:
    remote = slurm_cluster.dir / "remote"
    remote.mkdir(exist_ok=True)
    remote.chmod(0o1777)
    backend = backends.create("slurm", slurm_cluster.url, {"user": slurm_cluster.user, "token": slurm_cluster.token},
                              {"remote_dir": str(remote)})
    try:
        spec = new_spec("cat data/in.txt; pwd", files={"data/in.txt": "embedded\n"})
        job = backend.submit(spec)
        wait_for(backend, job, JobState.SUCCEEDED)
        with pytest.raises(BackendError, match="does not support logs"):
            backend.logs(job)
        # the node wrote the output next to the run's directory (readable here: it is the same machine)
        assert (remote / f"suanli-{spec.run_name}.log").read_text() == f"embedded\n{remote / spec.run_name}\n"
    finally:
        backend.close()


def test_errors_from_slurm_carry_its_description(slurm, new_spec) -> None:
    with pytest.raises(BackendError, match="Requested node configuration is not available"):
        slurm.submit(new_spec("true", accelerators=20, chip="a800"))
    with pytest.raises(BackendError, match="not a Slurm job id"):
        slurm.status("abc")


def test_unknown_job_is_lost_and_cancel_is_a_no_op(slurm) -> None:
    status = slurm.status("999999")
    assert status.state is JobState.LOST
    slurm.cancel("999999")


def test_a_bad_token_is_an_error_not_a_crash(slurm_cluster) -> None:
    backend = backends.create("slurm", slurm_cluster.url, {"user": slurm_cluster.user, "token": "not-a-jwt"})
    try:
        assert not backend.health().ok
        with pytest.raises(BackendError):
            backend.status("1")
    finally:
        backend.close()


# --- cluster failures: keep these last in the file (they restart the cluster) ---------------------------


def test_node_failure_mid_job_is_lost_and_health_follows_the_node(slurm, slurm_cluster, new_spec) -> None:
    spec = new_spec("echo $$ > job.pid; sleep 300")
    job = slurm.submit(spec)
    wait_for(slurm, job, JobState.RUNNING)
    pid_file = slurm_cluster.jobs_dir / spec.run_name / "job.pid"
    wait_until(pid_file.exists, "the job's pid file")
    # the node dies: its slurmd is gone, and the controller marks it DOWN (as it would after SlurmdTimeout;
    # done here at once). With ReturnToService=2 the node comes back as soon as its slurmd registers again.
    node = os.uname().nodename.split(".")[0]  # the harness's NodeName is `hostname -s`
    os.kill(slurm_cluster.pid("slurmd"), signal.SIGKILL)
    slurm_cluster.scontrol("update", f"NodeName={node}", "State=DOWN", "Reason=suanli-test-node-failure")
    try:
        status = wait_for(slurm, job, JobState.LOST, timeout=30)
        assert "NODE_FAIL" in status.detail
        health = slurm.health()
        assert not health.ok, health.detail
        assert health.detail == "0/1 node(s) usable"  # the node's reason is Slurm's text: not shown
    finally:
        slurm_cluster.restart_slurmd()
    wait_until(lambda: slurm.health().ok, "the node to come back")
    # the restarted slurmd ends what is left of a job its controller has given up on
    wait_until(lambda: pid_gone(int(pid_file.read_text())), "the lost job's process to be killed")


def test_controller_death_makes_health_fail_and_recovers(slurm_cluster, new_spec) -> None:
    # slurmrestd keeps retrying a dead slurmctld for a while: a short client timeout keeps the test short
    slurm = slurm_cluster.backend(timeout=3)
    job = slurm.submit(new_spec("sleep 6; echo survived"))
    wait_for(slurm, job, JobState.RUNNING)
    # slurmctld saves its state every few seconds: wait for a save that knows the job runs (a job submitted
    # after the last save is forgotten by a crashed controller: then status() says lost, see the test above)
    running_since = time.time()
    state_file = slurm_cluster.dir / "state" / "job_state"
    wait_until(lambda: state_file.exists() and state_file.stat().st_mtime > running_since, "a state save")
    # slurmctld dies: slurmrestd still answers, but cannot reach it
    os.kill(slurm_cluster.pid("slurmctld"), signal.SIGKILL)
    wait_until(lambda: not slurm.health().ok, "health to notice slurmctld is gone")
    with pytest.raises(BackendUnavailable):
        slurm.status(job)
    # then the whole cluster is down: nothing answers
    slurm_cluster.crash()
    health = slurm.health()
    assert not health.ok and health.detail == "connection refused", health.detail
    with pytest.raises(BackendUnavailable, match="connection refused"):
        slurm.status(job)
    # it comes back (state saved in StateSaveLocation): health recovers and the job is known again
    slurm_cluster.start()
    wait_until(lambda: slurm.health().ok, "health to recover", timeout=60)
    status = wait_for(slurm, job, JobState.SUCCEEDED, timeout=60)
    assert status.exit_code == 0
    assert "survived" in slurm.logs(job)
    slurm.close()
