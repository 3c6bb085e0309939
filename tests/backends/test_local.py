"""The local backend: real processes on this machine."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from cluster_helpers import pid_gone, wait_for, wait_until

from suanli import backends
from suanli.backends import BackendError, InvalidJobSpec, JobState, LocalBackend
from suanli.backends.local.limits import RunLimits
from suanli.backends.local.runs import Launch, RunDir
from suanli.backends.local.supervisor import processes_of


@pytest.fixture
def local(tmp_path):
    backend = backends.create("local", str(tmp_path / "jobs"), None, {"grace_seconds": 2})
    yield backend
    backend.close()


def test_submit_run_succeed_with_logs_files_and_env(local, new_spec) -> None:
    spec = new_spec('echo "hello from $SUANLI_JOB_ID"; cat input.txt; echo "FOO=$FOO"; echo err >&2; sleep 0.5',
                    env={"FOO": "bar baz"}, files={"input.txt": "the input\n"})
    job = local.submit(spec)
    assert job == f"{spec.job_id}.1"
    assert wait_for(local, job, {JobState.RUNNING, JobState.SUCCEEDED}).state in (JobState.RUNNING,
                                                                                   JobState.SUCCEEDED)
    status = wait_for(local, job, JobState.SUCCEEDED)
    assert status.exit_code == 0
    out = local.logs(job)
    assert f"hello from {spec.job_id}\nthe input\nFOO=bar baz\n" in out
    assert "err\n" in out
    assert local.logs(job, tail=1) == "err\n"


def test_allocated_devices_are_the_visible_devices(local, new_spec) -> None:
    cuda = local.submit(new_spec('echo "cuda=[$CUDA_VISIBLE_DEVICES]"', accelerators=2, chip="a800",
                                 device_indices=(3, 5)))
    ascend = local.submit(new_spec('echo "npu=[$ASCEND_RT_VISIBLE_DEVICES] cuda=[${CUDA_VISIBLE_DEVICES-unset}]"',
                                   accelerators=1, chip="ascend-910b", device_indices=(6,)))
    dtk = local.submit(new_spec('echo "hip=[$HIP_VISIBLE_DEVICES]"', accelerators=2, chip="hygon-dcu-z100",
                                device_indices=(0, 1)))
    cpu = local.submit(new_spec('echo "cuda=[${CUDA_VISIBLE_DEVICES-unset}]"'))
    for job in (cuda, ascend, dtk, cpu):
        wait_for(local, job, JobState.SUCCEEDED, timeout=30)
    assert local.logs(cuda) == "cuda=[3,5]\n"
    assert local.logs(ascend) == "npu=[6] cuda=[unset]\n"
    assert local.logs(dtk) == "hip=[0,1]\n"
    assert local.logs(cpu) == "cuda=[]\n"  # no accelerators: no device is visible


def test_accelerators_without_device_indices_are_refused(local, new_spec) -> None:
    with pytest.raises(InvalidJobSpec, match="needs the device indices"):
        local.submit(new_spec("true", accelerators=1))


def test_jobs_do_not_inherit_the_servers_environment(local, new_spec, monkeypatch) -> None:
    monkeypatch.setenv("SUANLI_DATABASE_URL", "postgresql://secret")
    job = local.submit(new_spec('echo "db=[${SUANLI_DATABASE_URL-unset}]"'))
    wait_for(local, job, JobState.SUCCEEDED)
    assert local.logs(job) == "db=[unset]\n"


def test_failing_command_fails_with_its_exit_code(local, new_spec) -> None:
    job = local.submit(new_spec("echo about to fail; exit 3"))
    status = wait_for(local, job, JobState.FAILED)
    assert status.exit_code == 3
    assert "about to fail" in local.logs(job)


def test_a_script_with_a_shebang(local, new_spec) -> None:
    job = local.submit(new_spec(script="#!/usr/bin/env python3\nimport os\nprint('py', os.getcwd())\n"))
    wait_for(local, job, JobState.SUCCEEDED)
    assert local.logs(job) == "py /home/user\n"  # the work directory, at /home/user inside the sandbox
    assert (local.workdir(job) / ".suanli" / "script").exists()


def test_cancel_kills_every_process_of_the_run(local, new_spec) -> None:
    # a job that ignores SIGTERM, starts a child of its own and one that leaves its session: cancel ends all
    job = local.submit(new_spec("trap '' TERM; sleep 300 & setsid sleep 301 & touch started; "
                                "while true; do sleep 1; done"))
    wait_for(local, job, JobState.RUNNING)
    wait_until(lambda: (local.workdir(job) / "started").exists(), "the job to start its children")
    uid = local.run_uid(job)
    members = processes_of(uid)
    assert len(members) >= 4  # the shell, two sleeps, the loop's sleep (plus bubblewrap and pasta)
    started = time.monotonic()
    local.cancel(job)
    assert time.monotonic() - started < 10  # the grace period (2 s) then SIGKILL
    assert local.status(job).state is JobState.CANCELLED
    assert all(pid_gone(pid) for pid in members) and processes_of(uid) == []
    local.cancel(job)  # cancelling again is a no-op


def test_cancel_of_a_finished_job_changes_nothing(local, new_spec) -> None:
    job = local.submit(new_spec("true"))
    wait_for(local, job, JobState.SUCCEEDED)
    local.cancel(job)
    assert local.status(job).state is JobState.SUCCEEDED


def test_status_survives_a_restart_of_suanli(tmp_path, new_spec) -> None:
    first = LocalBackend(tmp_path / "jobs")
    job = first.submit(new_spec("sleep 1; echo done"))
    assert first.status(job).state is JobState.RUNNING
    second = LocalBackend(tmp_path / "jobs")  # a new process would see exactly this: only the work dir
    assert second.status(job).state is JobState.RUNNING
    wait_for(second, job, JobState.SUCCEEDED)
    assert second.logs(job) == "done\n"
    first.close()


def test_submitting_the_same_attempt_twice_starts_it_once(local, new_spec) -> None:
    spec = new_spec("echo once")
    assert local.submit(spec) == local.submit(spec)
    wait_for(local, spec.run_name, JobState.SUCCEEDED)
    assert local.logs(spec.run_name) == "once\n"


def test_a_job_killed_from_outside_is_lost(local, new_spec) -> None:
    """The machine's data center 'dies' under the job: its processes are SIGKILLed with no exit code written."""
    job = local.submit(new_spec("sleep 300"))
    wait_for(local, job, JobState.RUNNING)
    uid = local.run_uid(job)
    supervisor = json.loads((local.base_dir / job / "state.json").read_text())["pid"]
    os.killpg(supervisor, signal.SIGKILL)  # the supervisor and its session, as a crash would
    status = wait_for(local, job, JobState.LOST, timeout=10)
    assert "without recording an exit code" in str(status.detail)
    assert processes_of(uid) == []  # nothing of the run is left running once it is known lost


def test_unknown_jobs(local) -> None:
    assert local.status("nope.1").state is JobState.LOST
    with pytest.raises(BackendError, match="not a local job id"):
        local.status("../../etc")
    with pytest.raises(BackendError, match="no job"):
        local.logs("nope.1")
    local.cancel("nope.1")


def test_health(local, tmp_path) -> None:
    health = local.health()
    assert health.ok, health.detail
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    broken = LocalBackend(blocked / "jobs")
    assert not broken.health().ok


def test_capabilities(local) -> None:
    caps = local.capabilities()
    assert caps.supports("cancel") and caps.supports("logs") and caps.supports("gpu_isolation")
    assert caps.supports("status_after_restart") and caps.supports("time_limit")
    assert caps.supports("memory_limit") and "cgroup v1" in caps.notes["memory_limit"]  # this machine's
    assert caps.supports("instances") and "SUANLI_IMAGE" in caps.notes["instances"]
    assert not caps.supports("fractional_gpus")


def test_a_time_limit_runs_the_job_under_timeout(local, new_spec) -> None:
    job = local.submit(new_spec("sleep 30", time_limit_minutes=5))
    wait_for(local, job, JobState.RUNNING)
    plan = json.loads((local.base_dir / job / "plan.json").read_text())
    assert plan["bwrap"][-6:] == ["--", "timeout", "--kill-after=2s", "5m", "/bin/bash", "/run/suanli/job.sh"]
    assert plan["deadline_seconds"] == 5 * 60 + 2 + 30  # the supervisor's hard stop behind `timeout`
    local.cancel(job)
    assert local.status(job).state is JobState.CANCELLED
    # coreutils timeout exits 124 when the limit is reached: reported as such
    job = local.submit(new_spec("exit 124", time_limit_minutes=1))
    status = wait_for(local, job, JobState.FAILED)
    assert status.exit_code == 124 and "time limit of 1 min reached" in str(status.detail)


def test_the_supervisor_stops_a_run_at_its_hard_deadline(local) -> None:
    """A job could kill its own `timeout`: the supervisor (root, outside the sandbox) still ends it."""
    run = RunDir(local.base_dir / "deadline.1")
    launch = Launch(command=["/bin/bash", "-c", "trap '' TERM; sleep 300"], env=local.base_environment(),
                    limits=RunLimits(1, None, 64), deadline_seconds=1.0)
    state = local.launch(run, launch, "job-deadline")
    uid = state["uid"]
    state["_process"].wait(timeout=30)  # term at 1 s, ignored; the grace period (2 s); then SIGKILL
    result = json.loads((run.path / "result.json").read_text())
    assert result["time_limit"] is True and result["exit_code"] == 137
    assert processes_of(uid) == []


def test_a_sandbox_that_cannot_start_fails_with_the_reason_and_gives_its_uid_back(local, new_spec) -> None:
    run = RunDir(local.base_dir / "broken.1")
    launch = Launch(command=["true"], env=local.base_environment(), limits=RunLimits(1, None, 64),
                    devices=["/dev/no-such-device"], extra_state={"kind": "job"})
    state = local.launch(run, launch, "job-broken")
    state["_process"].wait(timeout=30)
    status = local.status("broken.1")
    assert status.state is JobState.FAILED and status.detail.startswith("could not start the sandbox")
    assert "/dev/no-such-device" in local.logs("broken.1")  # what failed, in the run's log
    assert not (local.claims.directory / "uids" / str(state["uid"])).exists()


def test_a_run_outlives_the_server_process_that_started_it(tmp_path) -> None:
    """A real restart: the process that submitted the job exits (its supervisor is reparented, not killed)."""
    import subprocess
    import sys

    script = ("import sys\nfrom suanli.backends import LocalBackend, JobSpec\n"
              "print(LocalBackend(sys.argv[1]).submit(JobSpec(job_id='outlive', name='x', "
              "command='sleep 2; echo survived')))\n")
    started = subprocess.run([sys.executable, "-c", script, str(tmp_path / "jobs")], capture_output=True, text=True,
                             timeout=60, env={**os.environ})
    assert started.returncode == 0, started.stderr
    job = started.stdout.strip()
    restarted = LocalBackend(tmp_path / "jobs")
    assert restarted.status(job).state is JobState.RUNNING  # its server is gone; the run is not
    wait_for(restarted, job, JobState.SUCCEEDED)
    assert restarted.logs(job) == "survived\n"


def test_a_run_whose_directory_is_removed_still_ends_completely(local, new_spec) -> None:
    """Its records gone (a cleaned-up temp dir, a wiped disk): nothing of the run may outlive it."""
    import shutil

    job = local.submit(new_spec("sleep 1"))
    wait_for(local, job, JobState.RUNNING)
    uid = local.run_uid(job)
    wait_until(lambda: len(processes_of(uid)) >= 3, "the sandbox and pasta")
    claim = local.claims.directory / "uids" / str(uid)
    shutil.rmtree(local.base_dir / job)
    wait_until(lambda: processes_of(uid) == [] and not claim.exists(), "the run to end and give its uid back")


def _namespace_without_routes():
    """A process in a network namespace of its own with no default route, like a sandbox's before pasta
    configures it."""
    import subprocess

    process = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{process.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        assert time.monotonic() < deadline, "unshare did not enter a namespace of its own"
        time.sleep(0.02)
    return process


def test_a_pasta_that_does_not_configure_the_network_is_replaced(tmp_path, monkeypatch) -> None:
    """A pasta that has not configured the sandbox's interface in time is killed and a fresh one attached; the
    attempts are noted in the run's supervisor.log; after the last attempt the start fails with the reason."""
    import subprocess

    from suanli.backends.local import supervisor

    monkeypatch.setattr(supervisor, "PASTA_WAIT_S", 0.5)
    sandbox = _namespace_without_routes()
    try:
        import tempfile
        from pathlib import Path

        # Outside /tmp: pasta runs in a mount namespace of its own whose /tmp is a tmpfs.
        tries = Path(tempfile.mkdtemp(dir="/var/tmp")) / "tries"
        # The stand-in for pasta: the first start does nothing; the second gives the namespace a default route.
        configure = (f"echo x >> {tries}; [ $(wc -l < {tries}) -lt 2 ] && exec sleep 60; "
                     f"nsenter --net=/proc/{sandbox.pid}/ns/net sh -c 'ip link set lo up && ip route add default "
                     "dev lo' && exec sleep 60")
        plan = {"pasta": ["sh", "-c", configure], "env": {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}}
        netns = os.open(f"/proc/{sandbox.pid}/ns/net", os.O_RDONLY)
        try:
            pasta = supervisor._attach_pasta(plan, tmp_path, 0, [], sandbox.pid, netns, netns)
        finally:
            os.close(netns)
        pasta.kill()
        pasta.wait()
        assert tries.read_text().count("x") == 2
        log = (tmp_path / "supervisor.log").read_text()
        assert f"pasta attempt 1 of {supervisor.PASTA_ATTEMPTS}: pasta did not configure" in log

        sandbox.kill()
        sandbox.wait()
        sandbox = _namespace_without_routes()  # a fresh one: the first has a route now
        plan = {"pasta": ["sleep", "60"], "env": {}}  # never configures
        netns = os.open(f"/proc/{sandbox.pid}/ns/net", os.O_RDONLY)
        (tmp_path / "supervisor.log").unlink()
        try:
            with pytest.raises(OSError, match="did not configure"):
                supervisor._attach_pasta(plan, tmp_path, 0, [], sandbox.pid, netns, netns)
        finally:
            os.close(netns)
        assert (tmp_path / "supervisor.log").read_text().count("pasta attempt") == supervisor.PASTA_ATTEMPTS
    finally:
        sandbox.kill()
        sandbox.wait()


def test_a_sandbox_whose_network_cannot_be_set_up_is_replaced_by_a_fresh_one(local, new_spec, monkeypatch) -> None:
    """Every pasta of the first sandbox fails to configure its network; the supervisor kills that sandbox and
    starts a fresh one, whose pasta does: the run succeeds, and its supervisor.log says what happened."""
    import tempfile
    from pathlib import Path

    from suanli.backends.local import runs, supervisor

    tries = Path(tempfile.mkdtemp(dir="/var/tmp")) / "tries"  # outside /tmp: pasta's /tmp is a tmpfs of its own
    first_sandbox = supervisor.PASTA_ATTEMPTS  # pastas started for the first sandbox; the next one configures
    stand_in = ["sh", "-c", f"echo x >> {tries}; [ $(wc -l < {tries}) -le {first_sandbox} ] && exec sleep 60; "
                "nsenter --net=/proc/self/fd/{netns} sh -c 'ip link set lo up && ip route add default dev lo' "
                "&& exec sleep 60"]
    monkeypatch.setattr(runs, "pasta_argv", lambda uid, forwards=(): stand_in)
    job = local.submit(new_spec("echo set up"))
    status = wait_for(local, job, {JobState.SUCCEEDED, JobState.FAILED}, timeout=30 + 10 * first_sandbox)
    assert status.state is JobState.SUCCEEDED, status
    log = (local.base_dir / job / "supervisor.log").read_text()
    assert f"sandbox attempt 1 of {supervisor.SANDBOX_ATTEMPTS} could not be set up" in log
    assert tries.read_text().count("x") == first_sandbox + 1
