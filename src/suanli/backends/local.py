"""The ``local`` backend: jobs run as processes on this machine, the embedded default (the demo network's data
centers use it).

Each run gets a work directory ``<base_dir>/<job_id>.<attempt>``: the job's files, and the backend's own under
``.suanli/`` (``job.sh`` the script, ``output.log`` stdout+stderr, ``state.json`` pid and start time,
``exit_code`` written by a small ``sh`` wrapper when the job ends, ``cancelled`` when it was cancelled).
Everything ``status`` needs is in that directory, so it survives a restart of suanli. A job whose process is gone
without an ``exit_code`` file was killed from outside (or the machine restarted): it is ``lost``.

The job sees the devices the scheduler allocated through its ecosystem's variable (``CUDA_VISIBLE_DEVICES``,
``ASCEND_RT_VISIBLE_DEVICES``, ...); set to the empty string when it has none. That is the runtime's own device
selection, not a cgroup: a job that resets the variable sees every device. Jobs start from a small environment
(``PATH``, ``HOME``, ``LANG``), not suanli's own, so the server's secrets do not leak into them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from suanli.backends.base import (
    RESERVED_PREFIX,
    BackendError,
    Capabilities,
    Health,
    InvalidJobSpec,
    JobSpec,
    JobState,
    JobStatus,
    job_files,
    render_job_script,
    tail_lines,
)

__all__ = ["LocalBackend"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.[0-9]+")
_TIMEOUT_EXIT = 124  # coreutils timeout's exit status when the limit was reached
MAX_LOG_READ = 16 * 1024 * 1024


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, session id, start time in clock ticks since boot) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[3]), int(fields[19])


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes in session ``sid``: the job and everything it started, even in other
    process groups (``timeout`` makes its own)."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == sid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


class LocalBackend:
    kind = "local"

    def __init__(self, base_dir: str | os.PathLike[str], *, grace_seconds: float = 10.0,
                 inherit_env: bool = False) -> None:
        if not str(base_dir):
            raise BackendError("the local backend needs a base directory for its jobs' work directories",
                               kind=self.kind)
        self.base_dir = Path(base_dir).expanduser().absolute()
        self.grace_seconds = float(grace_seconds)
        self.inherit_env = bool(inherit_env)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def __repr__(self) -> str:
        return f"LocalBackend(base_dir={str(self.base_dir)!r})"

    # ------------------------------------------------------------------------------------------- protocol

    def capabilities(self) -> Capabilities:
        return Capabilities(self.kind, {
            "instances": "not implemented yet",
            "logs_streaming": "not implemented: logs() returns a snapshot of the log file; poll it with tail=N",
            "fractional_gpus": "devices are handed out whole by index; two jobs on one device would share its "
                               "memory with no isolation",
            "memory_limit": "jobs run as plain processes without a cgroup, so memory_gib is not enforced",
        })

    def health(self) -> Health:
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return Health(False, f"cannot create {self.base_dir}: {exc.strerror}")
        if not os.access(self.base_dir, os.W_OK | os.X_OK):
            return Health(False, f"{self.base_dir} is not writable")
        free_gib = shutil.disk_usage(self.base_dir).free / 2**30
        if free_gib < 0.1:
            return Health(False, f"{self.base_dir}: only {free_gib:.2f} GiB free")
        return Health(True, f"{self.base_dir} writable, {free_gib:.1f} GiB free")

    def submit(self, spec: JobSpec) -> str:
        run = spec.run_name
        workdir = self.base_dir / run
        internal = workdir / RESERVED_PREFIX
        if (internal / "state.json").exists():
            return run  # this attempt was already started: submitting it again is a no-op
        if spec.accelerators and not spec.device_indices:
            raise InvalidJobSpec(f"the local backend needs the device indices allocated to the job's "
                                 f"{spec.accelerators} accelerator(s)", kind=self.kind)
        internal.mkdir(parents=True, exist_ok=True)
        for name, content in job_files(spec).items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        (internal / "job.sh").write_text(render_job_script(spec))

        limit = ""
        if spec.time_limit_minutes is not None:
            limit = f"timeout --kill-after={max(1, round(self.grace_seconds))}s {spec.time_limit_minutes}m "
        wrapper = (f"{limit}/bin/bash {RESERVED_PREFIX}/job.sh\n"
                   f"echo $? > {RESERVED_PREFIX}/exit_code.tmp && mv -f {RESERVED_PREFIX}/exit_code.tmp "
                   f"{RESERVED_PREFIX}/exit_code\n")
        with open(internal / "output.log", "ab") as log:
            try:
                proc = subprocess.Popen(["/bin/sh", "-c", wrapper], cwd=workdir, env=self._environment(spec, workdir),
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, close_fds=True)
            except OSError as exc:
                raise BackendError(f"could not start job {run}: {exc}", kind=self.kind) from exc
        self._children[proc.pid] = proc
        stat = _proc_stat(proc.pid)
        state = {"pid": proc.pid, "start_ticks": stat[2] if stat else None, "boot_id": _boot_id(),
                 "submitted_at": time.time(), "time_limit_minutes": spec.time_limit_minutes}
        tmp = internal / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(internal / "state.json")
        return run

    def status(self, backend_job_id: str) -> JobStatus:
        workdir = self._workdir(backend_job_id)
        state = self._state(workdir)
        if state is None:
            return JobStatus(JobState.LOST, detail=f"no job {backend_job_id} under {self.base_dir}")
        internal = workdir / RESERVED_PREFIX
        if self._alive(state):
            return JobStatus(JobState.RUNNING, detail=f"pid {state['pid']}")
        if (internal / "cancelled").exists():
            return JobStatus(JobState.CANCELLED, detail="cancelled")
        exit_code = self._exit_code(internal)
        if exit_code is None:
            return JobStatus(JobState.LOST, detail=f"process {state['pid']} ended without recording an exit "
                                                   "code (killed from outside, or the machine restarted)")
        if exit_code == 0:
            return JobStatus(JobState.SUCCEEDED, 0)
        if exit_code == _TIMEOUT_EXIT and state.get("time_limit_minutes"):
            return JobStatus(JobState.FAILED, exit_code,
                             f"time limit of {state['time_limit_minutes']} min reached")
        return JobStatus(JobState.FAILED, exit_code, f"exited with code {exit_code}")

    def logs(self, backend_job_id: str, tail: int | None = None) -> str:
        workdir = self._workdir(backend_job_id)
        path = workdir / RESERVED_PREFIX / "output.log"
        if self._state(workdir) is None:
            raise BackendError(f"no job {backend_job_id} under {self.base_dir}", kind=self.kind)
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - MAX_LOG_READ))
                data = fh.read()
        except FileNotFoundError:
            return ""
        return tail_lines(data.decode("utf-8", errors="replace"), tail)

    def cancel(self, backend_job_id: str) -> None:
        workdir = self._workdir(backend_job_id)
        state = self._state(workdir)
        if state is None or not self._alive(state):
            return
        (workdir / RESERVED_PREFIX / "cancelled").write_text(str(time.time()))
        sid = int(state["pid"])
        self._signal_session(sid, signal.SIGTERM)
        if self._wait_gone(sid, self.grace_seconds):
            return
        self._signal_session(sid, signal.SIGKILL)
        if not self._wait_gone(sid, 5.0):
            raise BackendError(f"job {backend_job_id}: processes {_session_members(sid)} survived SIGKILL",
                               kind=self.kind)

    def close(self) -> None:
        for pid in list(self._children):
            self._reap(pid)

    # ------------------------------------------------------------------------------------------- internals

    def _workdir(self, backend_job_id: str) -> Path:
        if not _RUN_NAME.fullmatch(backend_job_id):
            raise BackendError(f"{backend_job_id!r} is not a local job id (<job_id>.<attempt>)", kind=self.kind)
        return self.base_dir / backend_job_id

    @staticmethod
    def _state(workdir: Path) -> dict[str, Any] | None:
        try:
            return json.loads((workdir / RESERVED_PREFIX / "state.json").read_text())
        except FileNotFoundError:
            return None
        except OSError as exc:  # e.g. the base directory replaced or unmounted: the cluster cannot be read now
            raise BackendError(f"cannot read the state of {workdir.name}: {exc.strerror}", kind="local") from None

    @staticmethod
    def _exit_code(internal: Path) -> int | None:
        try:
            return int((internal / "exit_code").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _reap(self, pid: int) -> None:
        proc = self._children.get(pid)
        if proc is not None and proc.poll() is not None:
            del self._children[pid]

    def _alive(self, state: dict[str, Any]) -> bool:
        """Is the job's wrapper process still there (the same process: same boot, same start time)?"""
        pid = int(state["pid"])
        self._reap(pid)
        if state.get("boot_id") and state["boot_id"] != _boot_id():
            return False
        stat = _proc_stat(pid)
        if stat is None or stat[0] == "Z":
            return False
        return state.get("start_ticks") is None or stat[2] == state["start_ticks"]

    def _signal_session(self, sid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, sig)
        for pid in _session_members(sid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _wait_gone(self, sid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            self._reap(sid)
            if not _session_members(sid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _environment(self, spec: JobSpec, workdir: Path) -> dict[str, str]:
        if self.inherit_env:
            env = dict(os.environ)
        else:
            env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "HOME": os.environ.get("HOME", str(workdir)),
                   "LANG": os.environ.get("LANG", "C.UTF-8")}
        env.update(spec.env)
        env.update({"SUANLI_JOB_ID": spec.job_id, "SUANLI_ATTEMPT": str(spec.attempt),
                    "SUANLI_WORKDIR": str(workdir),
                    spec.visible_devices_var: ",".join(str(i) for i in spec.device_indices)})
        return env
