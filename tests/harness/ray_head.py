#!/usr/bin/env python3
"""A real local Ray head (``ray[default]`` from PyPI) with 4 fake GPUs, for the backend tests.

    python tests/harness/ray_head.py start DIR   -> prints "RAY_DASHBOARD_URL=... RAY_HEAD_PID=..." and returns
    python tests/harness/ray_head.py stop DIR

or, from Python, ``head = RayHead(DIR); head.start(); ...; head.stop()``.

The head runs as ``ray start --head --block`` in a session of its own (``start_new_session``), with every port
picked free by the OS (so several heads, and other people's Ray, can share the machine) and its temp dir in DIR.
It is stopped by killing that session, found by its own process id: never ``ray stop``, which would kill every
Ray process on the machine. Ray's job supervisor kills a job's entrypoint within a second of the supervisor
dying, so killing the session also ends the jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

RAY_PIN = "2.60.0"
INSTALL_HINT = f"install Ray into the venv: .venv/bin/pip install 'ray[default]=={RAY_PIN}'"


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def ray_executable() -> Path:
    exe = Path(sys.executable).parent / "ray"
    if not exe.exists():
        raise RuntimeError(f"no `ray` next to {sys.executable}: {INSTALL_HINT}")
    return exe


class RayHead:
    def __init__(self, directory: str | os.PathLike[str], *, num_cpus: int = 2, num_gpus: int = 4) -> None:
        self.dir = Path(directory)
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.dashboard_url: str | None = None

    def start(self, timeout: float = 180.0, attempts: int = 3) -> str:
        """Start the head and wait until its Jobs API answers; returns the dashboard URL.

        Ray gives its raylet a fixed 30 s to register with the GCS (``ray/_private/node.py``, not configurable) and
        exits with "timed out during startup" when a loaded machine is slower; that start is retried, on new ports,
        up to ``attempts`` times. Any other exit fails at once."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except RuntimeError as exc:
                if attempt == attempts or "timed out during startup" not in str(exc):
                    raise
                self.stop()  # what the failed start left of its session (GCS, dashboard) goes before the next
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> str:
        exe = ray_executable()
        self.dir.mkdir(parents=True, exist_ok=True)
        temp = self.dir / "ray"  # unix socket paths must stay short: keep DIR short
        (gcs, dashboard, client, agent_http, agent_grpc, metrics, node_manager, object_manager,
         runtime_env_agent) = _free_ports(9)
        cmd = [str(exe), "start", "--head", "--block", "--disable-usage-stats",
               f"--port={gcs}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
               f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent_http}",
               f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
               f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
               f"--runtime-env-agent-port={runtime_env_agent}",
               f"--num-cpus={self.num_cpus}", f"--num-gpus={self.num_gpus}",
               "--object-store-memory=100000000", f"--temp-dir={temp}"]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("RAY_ADDRESS", None)
        log = open(self.dir / "ray-head.log", "ab")  # noqa: SIM115 - the head keeps it open
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True, close_fds=True)
        log.close()
        self.pid = self.proc.pid
        (self.dir / "ray-head.pid").write_text(str(self.pid))
        url = f"http://127.0.0.1:{dashboard}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray head exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url + "/api/jobs/", timeout=2) as response:
                    if response.status == 200:
                        self._warm_up(url, deadline)
                        self.dashboard_url = url
                        (self.dir / "ray-head.url").write_text(url)
                        return url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ray head's Jobs API did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    @staticmethod
    def _warm_up(url: str, deadline: float) -> None:
        """Run one trivial job to its end: the head starts its job agent and first worker processes lazily, and on a
        loaded machine the first submit of a test would otherwise wait for that (or time out)."""
        request = urllib.request.Request(url + "/api/jobs/", method="POST", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"entrypoint": "true", "submission_id": "warm-up"}).encode())
        while True:
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                if b"already exists" in exc.read():
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ray head did not take a job in time")
            time.sleep(1)
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url + "/api/jobs/warm-up", timeout=10) as response:
                if json.loads(response.read()).get("status") in ("SUCCEEDED", "FAILED", "STOPPED"):
                    return
            time.sleep(0.5)
        raise RuntimeError("ray head's warm-up job did not end in time")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.dir / "ray-head.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self, timeout: float = 20.0) -> None:
        """SIGKILL every process of the head's session: a crash, as far as the jobs can tell."""
        pid = self.pid or int((self.dir / "ray-head.pid").read_text())
        deadline = time.monotonic() + timeout
        while True:
            members = _session_members(pid)
            if self.proc is not None:
                self.proc.poll()
            if not members:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray head session {pid}: {members} survived SIGKILL")
            for member in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
            time.sleep(0.2)
        self.proc = None

    def stop(self) -> None:
        """Stop the head started by this harness (only its own session)."""
        self.kill()
        (self.dir / "ray-head.pid").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: ray_head.py start|stop DIR", file=sys.stderr)
        return 2
    head = RayHead(argv[1])
    if argv[0] == "start":
        url = head.start()
        print(f"RAY_DASHBOARD_URL={url} RAY_HEAD_PID={head.pid}")
    else:
        head.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
