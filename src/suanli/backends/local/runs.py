"""A sandboxed run of the ``local`` backend on disk: its directory, how it is launched, how it ends.

``<base_dir>/<run>/`` (root, 0700) is the run's record; the tenant can reach none of it:

- ``plan.json``: what the supervisor runs (the sandbox's and pasta's command lines, the environment, the uid,
  cgroups, claims); ``state.json``: the supervisor's pid, start time and boot id (is it still that process?);
- ``sandbox.json``: pids of the sandbox (its PID-namespace init, bubblewrap, pasta), once it is up;
- ``result.json``: exit code, whether the memory limit killed something or the hard deadline was reached, or
  why the sandbox could not start; ``released.json``: its uid, ports and cgroups were given back;
- ``cancelled`` / ``stopped``: ended on request; ``output.log``: the sandbox's stdout and stderr;
  ``supervisor.log``: the supervisor's and pasta's own messages;
- ``files/`` (root, 0755): what the sandbox sees read-only at ``/run/suanli`` (its script, its ``etc/``, sshd's
  config and host keys); ``work/`` (the run's uid, 0700): the tenant's HOME and cwd, ``/home/user`` inside.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suanli.backends.base import BackendError
from suanli.backends.local import supervisor
from suanli.backends.local.claims import Claims
from suanli.backends.local.limits import CgroupLimits, RunLimits
from suanli.backends.local.sandbox import DEFAULT_PATH, HOME, bwrap_argv, etc_files, pasta_argv
from suanli.core.messages import Text, msg

__all__ = ["Launch", "RunDir"]

REQUIRED_PROGRAMS = ("bwrap", "pasta", "setpriv")
PACKAGES = "apt-get install bubblewrap passt util-linux"


@dataclass
class Launch:
    """Everything a run needs to start: what to run in the sandbox and with what."""

    command: list[str]
    env: dict[str, str]
    limits: RunLimits
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # name under files/ → (text, mode)
    tenant_files: set[str] = field(default_factory=set)  # names under files/ owned by the run's uid
    work_files: dict[str, str] = field(default_factory=dict)  # relative path in work/ → text
    devices: list[str] = field(default_factory=list)  # host device files, bound at the same path
    read_only: list[str] = field(default_factory=list)  # host directories bound read-only at the same path
    inside_ports: list[int] = field(default_factory=list)  # ports inside the sandbox forwarded from host ports
    low_ports: bool = False  # the tenant may bind ports < 1024 in its network namespace (sshd on 22)
    deadline_seconds: float | None = None
    extra_state: dict[str, Any] = field(default_factory=dict)


class RunDir:
    """One run's directory; every question about the run is answered from it (nothing in memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.work = path / "work"
        self.files = path / "files"

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / name).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # being replaced right now: ask again
        except OSError as exc:  # the base directory replaced or unmounted: the machine cannot be read now
            raise BackendError(f"cannot read {name} of run {self.name}: {exc.strerror}", kind="local") from None

    def state(self) -> dict[str, Any] | None:
        return self.read("state.json")

    def plan(self) -> dict[str, Any]:
        return self.read("plan.json") or {}

    def mark(self, name: str) -> None:
        (self.path / name).write_text(str(time.time()))

    def marked(self, name: str) -> bool:
        return (self.path / name).exists()

    def supervisor_alive(self, state: dict[str, Any] | None = None) -> bool:
        state = state if state is not None else self.state()
        if state is None:
            return False
        if state.get("boot_id") and state["boot_id"] != supervisor.boot_id():
            return False
        return supervisor.alive(state.get("pid"), state.get("start_ticks"))

    def uid(self) -> int | None:
        uid = self.plan().get("uid")
        return int(uid) if uid is not None else None

    # ------------------------------------------------------------------------------------------ launch

    def launch(self, launch: Launch, claims: Claims, cgroups: CgroupLimits, hostname: str,
               forward_address: str, grace_seconds: float = 10.0) -> dict[str, Any]:
        """Prepare the run's directory and start its supervisor. Returns the state written to ``state.json``."""
        missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name, path=DEFAULT_PATH) is None]
        if missing:
            raise BackendError(f"the local backend runs tenant work in a sandbox and needs {', '.join(missing)}: "
                               f"{PACKAGES}", kind="local")
        if os.geteuid() != 0:
            raise BackendError("the local backend runs each run under a uid of its own and needs root for that; "
                               "run suanli as root or use another backend", kind="local")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.mkdir(exist_ok=True, mode=0o700)
        self.path.chmod(0o700)
        claimed: list[str] = []
        made_cgroups: list[str] = []
        try:
            uid, claim = claims.claim_uid(self.path)
            claimed.append(claim)
            ports = claims.claim_ports(self.path, len(launch.inside_ports)) if launch.inside_ports else []
            claimed += [path for _, path in ports]
            self._write_files(launch, uid, hostname)
            made_cgroups, oom_counter = cgroups.create(self.name.replace(".", "_") + f"-{uid}", launch.limits)
            forwards = [(forward_address, port, inside) for (port, _), inside in zip(ports, launch.inside_ports)]
            stage = [[str(self.work), "work"], [str(self.files), "files"]]
            devices, read_only = [], []
            for n, device in enumerate(launch.devices):
                stage.append([device, f"dev{n}"])
                devices.append((f"dev{n}", device))
            for n, directory in enumerate(launch.read_only):
                stage.append([directory, f"ro{n}"])
                read_only.append((f"ro{n}", directory))
            rlimits = {"NPROC": launch.limits.max_processes}
            plan = {"run": self.name, "uid": uid, "env": launch.env, "stage": stage, "cgroups": made_cgroups,
                    "oom_counter": oom_counter, "rlimits": rlimits, "claims": claimed,
                    "bwrap": bwrap_argv(uid, hostname, launch.command, devices=devices, read_only=read_only,
                                        sshd=launch.low_ports),
                    "pasta": pasta_argv(uid, forwards), "low_ports": launch.low_ports,
                    "deadline_seconds": launch.deadline_seconds, "grace_seconds": grace_seconds,
                    "forwards": {str(inside): port for (port, _), inside in zip(ports, launch.inside_ports)}}
            supervisor.write_json(self.path / "plan.json", plan)
            os.close(os.open(self.path / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            with open(self.path / "supervisor.log", "ab") as log:
                proc = subprocess.Popen([sys.executable, "-I", "-S", supervisor.__file__, str(self.path)],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/",
                                        env={"PATH": DEFAULT_PATH}, start_new_session=True, close_fds=True)
        except BaseException as exc:
            supervisor.release({"cgroups": made_cgroups, "claims": claimed}, self.path)
            (self.path / "released.json").unlink(missing_ok=True)
            if isinstance(exc, BackendError):
                raise
            if isinstance(exc, OSError):
                raise BackendError(f"could not start run {self.name}: {exc}", kind="local") from exc
            raise
        stat = supervisor.proc_stat(proc.pid)
        state = {"pid": proc.pid, "start_ticks": stat[1] if stat else None, "boot_id": supervisor.boot_id(),
                 "submitted_at": time.time(), "uid": uid, **launch.extra_state}
        supervisor.write_json(self.path / "state.json", state)
        return {**state, "_process": proc}

    def _write_files(self, launch: Launch, uid: int, hostname: str) -> None:
        self.work.mkdir(mode=0o700, exist_ok=True)
        for name, content in launch.work_files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        for directory, _, names in os.walk(self.work):  # the tenant's alone: it may change and remove them
            os.chown(directory, uid, uid)
            os.chmod(directory, 0o700)
            for name in names:
                os.chown(os.path.join(directory, name), uid, uid)
                os.chmod(os.path.join(directory, name), 0o600)
        (self.files / "etc").mkdir(parents=True, exist_ok=True)
        self.files.chmod(0o755)
        (self.files / "etc").chmod(0o755)
        contents = {f"etc/{name}": (text, 0o644) for name, text in etc_files(uid, hostname).items()}
        for name, (text, mode) in {**contents, **launch.files}.items():
            path = self.files / name
            path.write_text(text)
            path.chmod(mode)
            if name in launch.tenant_files:
                os.chown(path, uid, uid)

    # --------------------------------------------------------------------------------------------- end

    def end(self, marker: str, grace_seconds: float) -> None:
        """End the run on request: SIGTERM to the tenant's processes, ``grace_seconds``, then SIGKILL to
        everything of the run's uid; then give back its uid, ports and cgroups. Works from the records alone
        (after a restart of suanli, or when the supervisor itself is gone)."""
        state = self.state()
        plan = self.plan()
        if state is None or not plan:
            return
        uid = int(plan["uid"])
        if self.supervisor_alive(state):
            self.mark(marker)
            sandbox = self.read("sandbox.json") or {}
            keep = {sandbox.get("init_pid") or 0, sandbox.get("bwrap_pid") or 0, sandbox.get("pasta_pid") or 0}
            supervisor.signal_run(uid, signal.SIGTERM, exclude=keep)
            if not self._wait_supervisor(state, grace_seconds):
                survivors = supervisor.kill_run(uid, sandbox.get("init_pid"))
                if survivors or not self._wait_supervisor(state, 10.0):
                    raise BackendError(f"run {self.name}: processes {survivors} survived SIGKILL", kind="local")
        self.settle(plan)

    def _wait_supervisor(self, state: dict[str, Any], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.supervisor_alive(state):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def settle(self, plan: dict[str, Any] | None = None) -> None:
        """A run whose supervisor is gone: kill what is left of its uid and give back what it held (once)."""
        if self.marked("released.json"):
            return
        plan = plan or self.plan()
        if not plan or self.supervisor_alive():
            return
        if not self._holds_uid(plan):  # after a reboot its uid may already be another run's: leave it alone
            supervisor.write_json(self.path / "released.json", {"at": time.time()})
            return
        sandbox = self.read("sandbox.json") or {}
        if not supervisor.kill_run(int(plan["uid"]), sandbox.get("init_pid")):
            supervisor.release(plan, self.path)

    def _holds_uid(self, plan: dict[str, Any]) -> bool:
        """Does the uid claim (the first claim) still name this run?"""
        claims = plan.get("claims") or []
        try:
            return bool(claims) and Path(claims[0]).read_text().split("\n", 1)[0] == str(self.path)
        except FileNotFoundError:
            return False

    @staticmethod
    def failure(state: dict[str, Any], result: dict[str, Any]) -> Text | None:
        """Why an ended run failed whatever its exit code says: its sandbox could not start, or the memory
        limit killed one of its processes."""
        if result.get("error"):
            return str(result["error"])
        if result.get("oom_kills"):
            return msg("killed by the memory limit of %(memory)s GiB (exit code %(code)s)",
                       memory=str(state.get("memory_gib")), code=str(result.get("exit_code")))
        return None

    def logs(self, limit: int) -> bytes:
        with contextlib.suppress(FileNotFoundError), open(self.path / "output.log", "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - limit))
            return fh.read()
        return b""
