"""Instances on the local backend, end to end with real programs: OpenSSH's sshd inside the sandbox and the
``ssh`` client outside, JupyterLab, a buyer's own server on an exposed port, a restart of suanli (a new backend
object on the same directory), stop. One instance is shared by the module's tests (starting one takes a few
seconds, most of it JupyterLab)."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_helpers import wait_until

from suanli.backends import LocalBackend
from suanli.backends.instances import InstanceRunState, InstanceRunStatus, InstanceSpec
from suanli.backends.local.supervisor import processes_of
from suanli.db import Database

PROBE = (Path(__file__).parent / "sandbox_probe.py").read_text()
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local backend's sandbox needs root")


@dataclass
class Started:
    backend: LocalBackend
    spec: InstanceSpec
    run: str
    status: InstanceRunStatus
    key: Path
    home: Path
    seconds: float


def wait_running(backend: LocalBackend, run: str, timeout: float = 60) -> InstanceRunStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.instance_status(run)
        if status.state is not InstanceRunState.STARTING:
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"instance {run} still starting after {timeout} s: {status.detail}")
        time.sleep(0.2)


def new_key(directory: Path, name: str = "id") -> Path:
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def ssh(started: Started, command: str, key: Path | None = None, stdin: str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    access = started.status.access
    assert access is not None
    return subprocess.run(["ssh", "-i", str(key or started.key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "LogLevel=ERROR", "-p", str(access.ssh_port), f"{access.ssh_user}@{access.ssh_host}",
                           command], capture_output=True, text=True, input=stdin, timeout=60)


def start(home: Path, tmp: Path, **fields: object) -> Started:
    key = new_key(tmp)
    backend = LocalBackend(home / "jobs", grace_seconds=2)
    spec = InstanceSpec(instance_id=f"i-{secrets.token_hex(6)}", image="cpu-python",
                        authorized_keys=(key.with_suffix(".pub").read_text(),),
                        jupyter_token=secrets.token_urlsafe(32), memory_gib=2, **fields)  # type: ignore[arg-type]
    began = time.monotonic()
    run = backend.start_instance(spec)
    status = wait_running(backend, run)
    assert status.state is InstanceRunState.RUNNING, status
    return Started(backend, spec, run, status, key, home, time.monotonic() - began)


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Iterator[Started]:
    home = tmp_path_factory.mktemp("home")
    home.chmod(0o700)
    (home / "secret.key").write_text("the server's key\n")
    (home / "secret.key").chmod(0o600)
    Database(f"sqlite:///{home / 'suanli.db'}").dispose()
    started = start(home, tmp_path_factory.mktemp("keys"), ports=(9000,),
                    env={"GREETING": 'hello "quoted" world'})
    yield started
    started.backend.stop_instance(started.run)
    started.backend.close()


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_ssh_login_with_the_key_as_the_runs_own_uid(instance) -> None:
    out = ssh(instance, 'id -u; id -un; echo "$HOME"; pwd; echo "$SUANLI_IMAGE"; echo "$GREETING"')
    assert out.returncode == 0, out.stderr
    uid, user, home, cwd, image, greeting = out.stdout.splitlines()
    assert int(uid) == instance.backend.run_uid(instance.run) and int(uid) not in (0, os.getuid())
    assert (user, home, cwd, image) == ("user", "/home/user", "/home/user", "cpu-python")
    assert greeting == 'hello "quoted" world'  # the spec's environment, quoted through sshd_config


def test_another_key_is_refused(instance, tmp_path) -> None:
    out = ssh(instance, "true", key=new_key(tmp_path, "stranger"))
    assert out.returncode == 255 and "Permission denied (publickey)" in out.stderr


def test_the_host_key_fingerprints_match_what_the_server_presents(instance) -> None:
    access = instance.status.access
    scanned = subprocess.run(["ssh-keyscan", "-p", str(access.ssh_port), access.ssh_host], capture_output=True,
                             text=True, timeout=30).stdout
    printed = subprocess.run(["ssh-keygen", "-lf", "-"], input=scanned, capture_output=True, text=True).stdout
    presented = {line.split()[1] for line in printed.splitlines()}
    assert presented and presented == set(access.ssh_host_key_fingerprints)
    assert all(fp.startswith("SHA256:") for fp in access.ssh_host_key_fingerprints)


def test_from_the_ssh_shell_the_platform_is_out_of_reach(instance, new_spec) -> None:
    backend = instance.backend
    other = backend.submit(new_spec("echo secret-of-b > mine.txt; sleep 300", env={"B_TOKEN": "b-secret"}))
    wait_until(lambda: (backend.workdir(other) / "mine.txt").exists(), "another tenant's job")
    other_pid = processes_of(backend.run_uid(other))[-1]
    wanted = {"read": {"secret_key": str(instance.home / "secret.key"), "database": str(instance.home / "suanli.db"),
                       "server_environ": f"/proc/{os.getpid()}/environ",
                       "plan": str(backend.base_dir / "instances" / instance.run / "plan.json"),
                       "other_file": str(backend.workdir(other) / "mine.txt"),
                       "other_environ": f"/proc/{other_pid}/environ", "checkout": str(Path(__file__).resolve())},
              "write": {"etc": "/etc/evil", "usr": "/usr/evil", "base_dir": str(backend.base_dir / "evil")},
              "connect": {"postgres": ["127.0.0.1", 5432],
                          "own_ssh_via_host_port": ["127.0.0.1", instance.status.access.ssh_port]}}
    out = ssh(instance, f"python3 - {shlex.quote(json.dumps(wanted))}", stdin=PROBE)
    backend.cancel(other)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["uid"] == backend.run_uid(instance.run) not in (0, os.getuid(), backend.run_uid(other))
    not_there = ("secret_key", "database", "server_environ", "plan", "other_file", "other_environ", "checkout",
                 "base_dir")
    assert {k: seen[k] for k in not_there} == dict.fromkeys(not_there, "ENOENT")
    assert (seen["etc"], seen["usr"]) == ("EROFS", "EROFS")
    assert not (backend.base_dir / "evil").exists()
    # the host's ports (its own forwarded ones included) are not on the sandbox's loopback
    assert seen["postgres"] == seen["own_ssh_via_host_port"] == "ECONNREFUSED"


def test_jupyterlab_answers_with_the_token_only(instance) -> None:
    url = instance.status.access.jupyter_url
    assert url.startswith("http://127.0.0.1:") and instance.spec.jupyter_token not in url
    assert http_status(url + "api/status", {"Authorization": f"token {instance.spec.jupyter_token}"}) == 200
    assert http_status(url + "api/status") == 403
    assert http_status(url + "api/status", {"Authorization": "token wrong-token-000000000000000000000"}) == 403
    cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes_of(instance.backend.run_uid(instance.run))]
    assert not any(instance.spec.jupyter_token.encode() in line for line in cmdlines)  # not visible in `ps`


def test_an_exposed_port_reaches_a_server_started_inside(instance) -> None:
    host, port = instance.status.access.ports[9000]
    started = ssh(instance, "cd /tmp && echo served > index.html && "
                            "(setsid python3 -m http.server 9000 --bind 0.0.0.0 >/dev/null 2>&1 &)")
    assert started.returncode == 0, started.stderr

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=2) as response:
                return response.read() == b"served\n"
        except OSError:
            return False

    wait_until(answers, "the buyer's server on the exposed port")


def test_a_restarted_server_finds_the_instance_and_can_stop_it(instance, tmp_path) -> None:
    other = start(instance.home, tmp_path)  # a second instance: the one this test stops
    uid = other.backend.run_uid(other.run)
    ports = [other.status.access.ssh_port, int(other.status.access.jupyter_url.rsplit(":", 1)[1].strip("/"))]
    other.backend.close()
    restarted = LocalBackend(instance.home / "jobs", grace_seconds=2)  # nothing in memory: only the directory
    assert set(restarted.instance_runs()) == {instance.run, other.run}
    again = restarted.instance_status(other.run)
    assert again.state is InstanceRunState.RUNNING and again.access == other.status.access
    assert restarted.start_instance(other.spec) == other.run  # idempotent: started once
    started = time.monotonic()
    restarted.stop_instance(other.run)
    assert time.monotonic() - started < 15
    assert restarted.instance_status(other.run).state is InstanceRunState.STOPPED
    assert processes_of(uid) == []
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (our own connections in TIME_WAIT)
            sock.bind(("127.0.0.1", port))  # free again
    assert not (restarted.claims.directory / "uids" / str(uid)).exists()
    assert restarted.instance_runs() == [instance.run]
    restarted.stop_instance(other.run)  # stopping again is a no-op
    assert restarted.instance_status("i-never-started").state is InstanceRunState.LOST


def test_an_instance_whose_sshd_dies_has_failed(instance, tmp_path) -> None:
    other = start(instance.home, tmp_path)
    killed = ssh(other, "kill $(cat /run/sshd.pid)")
    assert killed.returncode in (0, 255)  # the session may go down with it
    deadline = time.monotonic() + 30
    while (status := other.backend.instance_status(other.run)).state is InstanceRunState.RUNNING:
        assert time.monotonic() < deadline, "the instance still runs without sshd"
        time.sleep(0.2)
    assert status.state is InstanceRunState.FAILED and str(status.detail) == "sshd exited"
    assert processes_of(other.backend.run_uid(other.run)) == []
    assert other.run not in other.backend.instance_runs()
