"""Instances on the real single-node Slurm of the test session (tests/harness/slurm.sh): a batch job that runs a real
sshd and JupyterLab as the unprivileged job user ``suanlijob``, checked with the real ``ssh`` client, HTTP requests
to JupyterLab and a service the test starts on an exposed port.

The module starts one instance (``running``) that most tests share, in file order; ``test_stop_...`` stops it.
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cluster_helpers import TIMINGS, wait_until

from suanli import backends
from suanli.backends import BackendError
from suanli.backends.instances import (
    InstanceAccess,
    InstanceBackend,
    InstanceRunState,
    InstanceRunStatus,
    InstanceSpec,
    InvalidInstanceSpec,
    parse_public_key,
)

START_TIMEOUT = 180.0


@dataclass
class Key:
    private: Path
    public: str


def _new_key(directory: Path, name: str) -> Key:
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(path)],
                   check=True, timeout=30)
    return Key(path, (directory / f"{name}.pub").read_text().strip())


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Key, Key]:
    directory = tmp_path_factory.mktemp("ssh-keys")
    return _new_key(directory, "buyer"), _new_key(directory, "stranger")


@pytest.fixture(scope="module")
def instances(slurm_cluster, slurm_jupyter) -> Iterator[backends.SlurmBackend]:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [b for b in ("sshd", "ssh", "ssh-keygen", "ssh-keyscan", "bwrap") if shutil.which(b, path=path) is None]
    if missing:
        pytest.fail(f"the instance tests need {', '.join(missing)}: apt-get install -y openssh-server "
                    "openssh-client bubblewrap (or set SUANLI_TEST_SKIP_CLUSTERS=1 to skip knowingly)")
    backend = slurm_cluster.backend(jupyter_command=slurm_jupyter)
    yield backend
    backend.close()


def new_instance(key: Key, **fields: object) -> InstanceSpec:
    fields.setdefault("jupyter_token", secrets.token_urlsafe(32))
    return InstanceSpec(instance_id=f"i-{uuid.uuid4().hex[:12]}", image="cpu-python",
                        authorized_keys=(key.public,), **fields)  # type: ignore[arg-type]


def wait_for_instance(backend, run_id: str, state: InstanceRunState | None, timeout: float = START_TIMEOUT,
                      ) -> InstanceRunStatus:
    """Poll until the instance is in ``state`` (``None``: until it ended, however); fail if it ends otherwise."""
    statuses: list[InstanceRunStatus] = []

    def reached() -> bool:
        status = backend.instance_status(run_id)
        statuses.append(status)
        if state is None or status.state is state:
            return state is not None or status.terminal
        if status.terminal:
            pytest.fail(f"instance {run_id} ended as {status}, not {state.value}")
        return False

    wait_until(reached, f"instance {run_id} to be {state.value if state else 'over'}", timeout=timeout)
    return statuses[-1]


@dataclass
class Running:
    spec: InstanceSpec
    run_id: str
    access: InstanceAccess
    known_hosts: Path


def known_hosts_for(access: InstanceAccess, directory: Path) -> Path:
    """The host key sshd presents (ssh-keyscan), checked against the reported fingerprint: a known_hosts file that
    lets ``ssh -o StrictHostKeyChecking=yes`` in only if the instance is the one reported."""
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(access.ssh_port), access.ssh_host],
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in scan.stdout.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1, scan
    host, key_type, blob = lines[0].split()
    assert parse_public_key(f"{key_type} {blob}").fingerprint in access.ssh_host_key_fingerprints
    path = directory / f"known_hosts-{access.ssh_port}"
    path.write_text(f"{host} {key_type} {blob}\n")
    return path


def ssh(access: InstanceAccess, key: Key, known_hosts: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(key.private), "-p", str(access.ssh_port), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes",
         f"{access.ssh_user}@{access.ssh_host}", command],
        capture_output=True, text=True, timeout=60)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def running(instances, keys, tmp_path_factory) -> Iterator[Running]:
    spec = new_instance(keys[0], ports=(8080, 9000), accelerators=2, chip="a800",
                        env={"GREETING": 'hello "world" # $HOME \\ 你好'})
    started = time.monotonic()
    run_id = instances.start_instance(spec)
    try:
        status = wait_for_instance(instances, run_id, InstanceRunState.RUNNING)
        TIMINGS["slurm instance start → running"] = time.monotonic() - started
        assert status.access is not None
        yield Running(spec, run_id, status.access, known_hosts_for(status.access, tmp_path_factory.mktemp("kh")))
    finally:
        instances.stop_instance(run_id)


# ----------------------------------------------------------------------------------------- the running instance


def test_capabilities_declare_instances(slurm_cluster, instances) -> None:
    assert isinstance(instances, InstanceBackend) and instances.capabilities().supports("instances")
    without = backends.create("slurm", slurm_cluster.url, {"user": slurm_cluster.user, "token": slurm_cluster.token})
    try:
        assert "shared_dir" in without.capabilities().reason("instances")
        with pytest.raises(BackendError, match="does not support instances"):
            without.start_instance(new_instance(_fake_key()))
    finally:
        without.close()


def test_start_is_idempotent_by_instance_id(instances, running, slurm_cluster) -> None:
    assert instances.start_instance(running.spec) == running.run_id
    name = f"suanli-instance:{running.spec.instance_id}"
    jobs = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i %u %T"], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "SLURM_CONF": slurm_cluster.conf}, check=True)
    assert jobs.stdout.split() == [running.run_id, slurm_cluster.user, "RUNNING"]
    assert running.run_id in instances.instance_runs()


def test_access_names_the_node_the_job_user_and_no_token(running, slurm_cluster) -> None:
    access = running.access
    assert access.ssh_host == os.uname().nodename.split(".")[0]  # the harness's NodeName (NodeAddr: the same)
    assert access.ssh_user == slurm_cluster.user
    assert access.jupyter_url.startswith(f"http://{access.ssh_host}:") and access.jupyter_url.endswith("/")
    assert running.spec.jupyter_token not in repr(access)
    assert set(access.ports) == {8080, 9000}
    node_ports = {access.ssh_port, int(access.jupyter_url.split(":")[2].strip("/")),
                  *(port for _, port in access.ports.values())}
    assert len(node_ports) == 4 and all(20000 <= p <= 32767 for p in node_ports)  # distinct, from the range


def test_ssh_login_with_the_buyers_key_as_the_job_user(running, keys, slurm_cluster) -> None:
    access = running.access
    result = ssh(access, keys[0], running.known_hosts,
                 'id -u; id -un; echo "$GREETING"; echo "cuda=$CUDA_VISIBLE_DEVICES"; echo "$SUANLI_PORT_8080"; '
                 'echo "$SUANLI_INSTANCE_ID"; echo "$HOME"')
    assert result.returncode == 0, result.stderr
    uid, user, greeting, cuda, port, instance_id, home = result.stdout.splitlines()
    job_user = pwd.getpwnam(slurm_cluster.user)
    assert (int(uid), user) == (job_user.pw_uid, slurm_cluster.user) and int(uid) != 0
    assert greeting == 'hello "world" # $HOME \\ 你好'
    assert len(set(cuda.removeprefix("cuda=").split(","))) == 2  # GRES gpu:a800:2
    assert int(port) == access.ports[8080][1]
    assert instance_id == running.spec.instance_id
    assert home == job_user.pw_dir  # the instance's own home, mounted over the job user's
    # another key is refused; no password is ever asked (BatchMode would fail on a prompt)
    refused = ssh(access, keys[1], running.known_hosts, "true")
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr


def test_the_sandbox_hides_the_node_and_other_runs(running, keys, slurm_cluster) -> None:
    marker = slurm_cluster.jobs_dir / f"other-tenant-{uuid.uuid4().hex[:8]}"
    marker.mkdir()
    try:
        result = ssh(running.access, keys[0], running.known_hosts,
                     f"ls -A {slurm_cluster.jobs_dir}; echo --; ps -eo comm=; echo --; "
                     "echo private > /tmp/instance-tmp; ls -A /tmp; echo --; munge -n </dev/null >/dev/null 2>&1; "
                     "echo munge=$?")
        assert result.returncode == 0, result.stderr
        listing, processes, tmp, munge = result.stdout.split("--\n")
        # no munge credential, so no Slurm command works as the job user from inside (the test's own does)
        assert munge.strip() != "munge=0"
        assert subprocess.run(["munge", "-n"], input=b"", capture_output=True, timeout=30).returncode == 0
        assert marker.name not in listing and running.spec.instance_id not in listing.split()
        assert "slurmd" not in processes and "slurmctld" not in processes and "sshd" in processes
        assert "instance-tmp" in tmp and not Path("/tmp/instance-tmp").exists()
    finally:
        marker.rmdir()


def test_jupyter_answers_with_the_token_only(running) -> None:
    url = running.access.jupyter_url + "api/status"
    token = running.spec.jupyter_token
    assert httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=10).status_code == 200
    assert httpx.get(url, timeout=10).status_code == 403
    assert httpx.get(url, headers={"Authorization": f"token {token[:-1]}x"}, timeout=10).status_code == 403


def test_an_exposed_port_reaches_the_buyers_service(running, keys) -> None:
    host, port = running.access.ports[8080]
    # a daemonized service, the way a buyer leaves one running after logging out (stop must end it too)
    started = ssh(running.access, keys[0], running.known_hosts,
                  'cd /tmp; echo served > index.html; setsid nohup python3 -m http.server "$SUANLI_PORT_8080" '
                  '>/dev/null 2>&1 </dev/null & echo ok')
    assert started.returncode == 0 and started.stdout.strip() == "ok", started.stderr
    wait_until(lambda: port_open(host, port), f"the buyer's service on {host}:{port}")
    assert httpx.get(f"http://{host}:{port}/index.html", timeout=10).text == "served\n"


def test_the_token_is_not_visible_to_other_users(running, slurm_cluster) -> None:
    token = running.spec.jupyter_token.encode()
    run_dir = slurm_cluster.jobs_dir / "instances" / running.spec.instance_id
    info = run_dir.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == pwd.getpwnam(slurm_cluster.user).pw_uid
    assert stat.S_IMODE(run_dir.parent.stat().st_mode) == 0o711  # the instances cannot list each other
    assert not (run_dir / ".suanli" / "jupyter_token").exists()  # read once by the job, then removed
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert token not in cmdline.read_bytes(), f"the token is on the command line of {cmdline.parent}"
        except (FileNotFoundError, ProcessLookupError):
            continue
    holders = []
    for path in run_dir.rglob("*"):
        if path.is_file() and not path.is_symlink() and token in path.read_bytes():
            holders.append(path)
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is readable by others"
    assert all(".suanli" not in p.relative_to(run_dir).parts for p in holders), holders  # only Jupyter's own files


def test_a_fresh_backend_finds_the_running_instance(running, slurm_cluster, slurm_jupyter) -> None:
    fresh = slurm_cluster.backend(jupyter_command=slurm_jupyter)
    try:
        assert running.run_id in fresh.instance_runs()
        status = fresh.instance_status(running.run_id)
        assert status.state is InstanceRunState.RUNNING and status.access == running.access
    finally:
        fresh.close()


def test_stop_ends_the_job_and_closes_every_port(instances, running, keys, slurm_cluster) -> None:
    access = running.access
    ports = [access.ssh_port, int(access.jupyter_url.split(":")[2].strip("/")), access.ports[8080][1]]
    assert all(port_open(access.ssh_host, port) for port in ports)
    started = time.monotonic()
    instances.stop_instance(running.run_id)
    status = wait_for_instance(instances, running.run_id, InstanceRunState.STOPPED, timeout=30)
    assert status.access is None
    assert running.run_id not in instances.instance_runs()
    state = subprocess.run(["squeue", "-h", "-j", running.run_id, "-o", "%T"], capture_output=True, text=True,
                           timeout=30, env={**os.environ, "SLURM_CONF": slurm_cluster.conf})
    assert state.stdout.strip() in ("", "CANCELLED", "COMPLETING")
    wait_until(lambda: not any(port_open(access.ssh_host, port) for port in ports),
               "sshd, JupyterLab and the buyer's daemonized service to be gone", timeout=60)
    TIMINGS["slurm instance stop → ports closed"] = time.monotonic() - started
    instances.stop_instance(running.run_id)  # already stopped: a no-op
    assert instances.instance_status(running.run_id).state is InstanceRunState.STOPPED


# ----------------------------------------------------------------------------------------- failures and bad input


def _fake_key() -> Key:
    """A well-formed public key nobody holds (for specs that never start)."""
    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(32)).decode()
    return Key(Path("/nonexistent"), f"ssh-ed25519 {blob}")


@pytest.mark.parametrize(("env", "message"), [
    ({"NOTE": "two\nlines"}, "line breaks"),
    ({"CUDA_VISIBLE_DEVICES": "0"}, "set by the platform"),
    ({"SUANLI_PORT_8080": "1"}, "set by the platform"),
])
def test_bad_specs_are_refused_before_anything_is_submitted(instances, env, message) -> None:
    spec = new_instance(_fake_key(), env=env)
    with pytest.raises(InvalidInstanceSpec, match=message):
        instances.start_instance(spec)
    assert not (instances.shared_dir / "instances" / spec.instance_id).exists()
    assert instances._instance_jobs(spec.instance_id) == []


def test_bad_options_are_refused(slurm_cluster) -> None:
    for options, message in [({"instance_sandbox": "docker"}, "choose one of bwrap, none"),
                             ({"instance_port_range": "80-90"}, "LOW-HIGH"),
                             ({"jupyter_command": "  "}, "jupyter_command is empty"),
                             ({"instance_start_timeout": 2}, "10-3600")]:
        with pytest.raises(BackendError, match=message):
            slurm_cluster.backend(**options)


def test_a_missing_jupyter_fails_with_a_fixed_reason(slurm_cluster, keys) -> None:
    backend = slurm_cluster.backend(jupyter_command="/nonexistent/jupyter-lab --flag")
    try:
        run_id = backend.start_instance(new_instance(keys[0]))
        status = wait_for_instance(backend, run_id, None, timeout=60)
        assert status.state is InstanceRunState.FAILED
        assert str(status.detail) == ("the JupyterLab command (cluster option jupyter_command) was not found on the "
                                 "node")
        assert run_id not in backend.instance_runs()
    finally:
        backend.close()


def test_cancelled_behind_suanlis_back_is_a_failure(instances, keys, slurm_cluster) -> None:
    run_id = instances.start_instance(new_instance(keys[0]))
    subprocess.run(["scancel", run_id], check=True, timeout=30, env={**os.environ, "SLURM_CONF": slurm_cluster.conf})
    status = wait_for_instance(instances, run_id, None, timeout=60)
    assert status.state is InstanceRunState.FAILED and "not by suanli" in str(status.detail)


def test_unknown_and_foreign_runs(instances, slurm, new_spec) -> None:
    assert instances.instance_status("999999").state is InstanceRunState.LOST
    instances.stop_instance("999999")  # a no-op
    job = slurm.submit(new_spec("sleep 1"))
    with pytest.raises(BackendError, match="not a suanli instance"):
        instances.instance_status(job)
    with pytest.raises(BackendError, match="not a Slurm job id"):
        instances.instance_status("../etc")


def test_without_a_sandbox_the_instance_still_runs_and_stops(slurm_cluster, slurm_jupyter, keys, tmp_path) -> None:
    backend = slurm_cluster.backend(jupyter_command=slurm_jupyter, instance_sandbox="none")
    try:
        spec = new_instance(keys[0])
        run_id = backend.start_instance(spec)
        access = wait_for_instance(backend, run_id, InstanceRunState.RUNNING).access
        assert access is not None
        result = ssh(access, keys[0], known_hosts_for(access, tmp_path), 'id -u; echo "$HOME"')
        assert result.returncode == 0, result.stderr
        uid, home = result.stdout.split()
        assert int(uid) == pwd.getpwnam(slurm_cluster.user).pw_uid
        assert home == str(slurm_cluster.jobs_dir / "instances" / spec.instance_id / "home")
        backend.stop_instance(run_id)
        wait_for_instance(backend, run_id, InstanceRunState.STOPPED, timeout=30)
        wait_until(lambda: not port_open(access.ssh_host, access.ssh_port), "sshd to be gone")
    finally:
        backend.close()
