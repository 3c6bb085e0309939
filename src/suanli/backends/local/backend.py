"""The ``local`` backend: runs on this machine, each in a sandbox of its own (the embedded default; the demo
network's data centers use it).

Every run, job or instance, runs as an unprivileged uid of its own (``uid_range``), in its own user, mount,
PID, IPC, UTS, cgroup and network namespaces (bubblewrap), with outbound connectivity but no way to the host's
loopback services (pasta), under the limits the product promises (cgroups, else rlimits), seeing only the
device files allocated to it. Why a uid per run rather than per organization: the uid is then the run —
killing "every process of the uid" ends exactly the run, ``RLIMIT_NPROC`` is exactly its process limit, two
runs of one buyer cannot signal, trace or read each other either, and no table of organizations to uids has to
be kept (or kept consistent across restarts and machines). A uid is claimed from a machine-wide directory
(``claims_dir``) and given back when the run's last process is gone.

A run's directory is its record (``runs.py``): a restarted suanli finds its runs there, and ``status``,
``logs``, ``cancel`` and the instance methods need nothing in memory. A job whose supervisor is gone without a
result was killed from outside (or the machine restarted): it is ``lost``.

The job sees the devices the scheduler allocated as device files bound into its sandbox (``device_paths``) and
through its ecosystem's variable (``CUDA_VISIBLE_DEVICES``, ``ASCEND_RT_VISIBLE_DEVICES``, ...), empty when it has
none. Jobs start from a small environment (``PATH``, ``HOME``, ``LANG``, ``USER``), never the server's own.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from suanli.backends.base import (
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
from suanli.backends.local.claims import Claims, parse_range
from suanli.backends.local.instances import LocalInstances
from suanli.backends.local.limits import CgroupLimits, RunLimits, detect
from suanli.backends.local.runs import REQUIRED_PROGRAMS, Launch, RunDir
from suanli.backends.local.sandbox import DEFAULT_PATH, HOME, LOGIN_USER, RUN_FILES, check_device_paths, device_files
from suanli.core.messages import msg

__all__ = ["LocalBackend"]

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.[0-9]+")
_GANG_ID = re.compile(r"(?P<run>[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.[0-9]+)\.gang(?P<nodes>[0-9]{1,4})")
_TIMEOUT_EXIT = 124  # coreutils timeout's exit status when the limit was reached
MAX_LOG_READ = 16 * 1024 * 1024
DEADLINE_SLACK_SECONDS = 30  # the supervisor's hard stop, behind the sandbox's own `timeout`


class LocalBackend(LocalInstances):
    kind = "local"

    def __init__(self, base_dir: str | os.PathLike[str], *, grace_seconds: float = 10.0,
                 uid_range: str | Sequence[int] = "200000-299999", port_range: str | Sequence[int] = "61000-64999",
                 public_host: str = "127.0.0.1", listen_address: str = "127.0.0.1",
                 claims_dir: str = "/run/suanli-local", cgroup_parent: str = "",
                 device_paths: Mapping[str, Sequence[str]] | None = None, jupyter_python: str = "") -> None:
        if not str(base_dir):
            raise BackendError("the local backend needs a base directory for its runs", kind=self.kind)
        self.base_dir = Path(base_dir).expanduser().absolute()
        self.grace_seconds = float(grace_seconds)
        self.uid_range = parse_range(uid_range, "uid_range", 1000, 2**31 - 2)
        self.port_range = parse_range(port_range, "port_range", 1024, 65535)
        self.public_host = str(public_host)
        self.listen_address = str(listen_address)
        self.claims = Claims(Path(claims_dir), self.uid_range, self.port_range, self.listen_address)
        self.cgroup_parent = str(cgroup_parent)
        self.device_paths = check_device_paths(device_paths)
        self.jupyter_python = str(jupyter_python or sys.executable)
        self._cgroups: CgroupLimits | None = None
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def __repr__(self) -> str:
        return f"LocalBackend(base_dir={str(self.base_dir)!r})"

    # ------------------------------------------------------------------------------------------- protocol

    @property
    def cgroups(self) -> CgroupLimits:
        if self._cgroups is None:
            self._cgroups = detect(self.cgroup_parent)
        return self._cgroups

    def capabilities(self) -> Capabilities:
        unsupported = {
            "logs_streaming": "not implemented: logs() returns a snapshot of the log file; poll it with tail=N",
            "fractional_gpus": "devices are handed out whole by index; two runs on one device would share its "
                               "memory with no isolation",
        }
        notes_gang = ("a gang runs one sandboxed run per rank on this machine, all or nothing (a rank that fails "
                      "stops the others); each rank has a network of its own, so ranks cannot connect to each "
                      "other: it tests a gang's lifecycle, it does not train across ranks")
        if not self.cgroups.limits_memory:
            unsupported["memory_limit"] = (f"no memory cgroup on this machine ({self.cgroups.reason}); RLIMIT_AS "
                                           "would limit address space, not memory")
        missing = self._instance_programs_missing()
        if missing:
            unsupported["instances"] = missing
        notes = {
            "memory_limit": self.cgroups.describe(),
            "gpu_isolation": "only the allocated device files are bound into the run's sandbox, and the "
                             "ecosystem's visible-devices variable names them",
            "instances": self.image_note(),
            "multi_node": notes_gang,
        }
        return Capabilities(self.kind, unsupported, {k: v for k, v in notes.items() if k not in unsupported})

    def health(self) -> Health:
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            return Health(False, f"cannot create {self.base_dir}: {exc.strerror}")
        if not os.access(self.base_dir, os.W_OK | os.X_OK):
            return Health(False, f"{self.base_dir} is not writable")
        if os.geteuid() != 0:
            return Health(False, "the local backend runs each run under a uid of its own and needs root")
        missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name, path=DEFAULT_PATH) is None]
        if missing:
            return Health(False, f"missing {', '.join(missing)}: apt-get install bubblewrap passt util-linux")
        if not os.path.exists("/dev/net/tun"):
            return Health(False, "no /dev/net/tun for the runs' networks: load the tun module (modprobe tun)")
        clash = [entry.pw_name for entry in pwd.getpwall() if self.uid_range[0] <= entry.pw_uid <= self.uid_range[1]]
        if clash:
            return Health(False, f"uid_range {self.uid_range[0]}-{self.uid_range[1]} holds the users "
                                 f"{', '.join(clash[:5])}: choose a range no user or subuid mapping uses")
        free_gib = shutil.disk_usage(self.base_dir).free / 2**30
        if free_gib < 0.1:
            return Health(False, f"{self.base_dir}: only {free_gib:.2f} GiB free")
        return Health(True, f"{self.base_dir} writable, {free_gib:.1f} GiB free; limits: {self.cgroups.describe()}")

    def submit(self, spec: JobSpec) -> str:
        if spec.nodes > 1:
            return self._submit_gang(spec)
        return self._submit_run(spec, spec.run_name)

    def _submit_gang(self, spec: JobSpec) -> str:
        """One run per rank (``<job>.<attempt>.<rank>``), all or nothing: a rank that cannot start stops the ranks
        started before it. The gang's id is ``<job>.<attempt>.gang<nodes>``."""
        gang_id = f"{spec.run_name}.gang{spec.nodes}"
        low, high = self.port_range
        port = low + zlib.crc32(spec.run_name.encode()) % (high - low + 1)  # rank 0's, named the same every time
        started: list[str] = []
        try:
            for rank in range(spec.nodes):
                started.append(self._submit_run(spec.rank(rank, self.public_host, port), f"{spec.run_name}.{rank}"))
        except BaseException:
            for name in started:
                RunDir(self.base_dir / name).end("cancelled", self.grace_seconds)
            raise
        return gang_id

    def _submit_run(self, spec: JobSpec, run_name: str) -> str:
        run = RunDir(self.base_dir / run_name)
        if run.state() is not None:
            return run.name  # this attempt was already started: submitting it again is a no-op
        if spec.accelerators and not spec.device_indices:
            raise InvalidJobSpec(f"the local backend needs the device indices allocated to the job's "
                                 f"{spec.accelerators} accelerator(s)", kind=self.kind)
        assert spec.ecosystem is not None
        command = ["/bin/bash", f"{RUN_FILES}/job.sh"]
        deadline = None
        if spec.time_limit_minutes is not None:
            command = ["timeout", f"--kill-after={max(1, round(self.grace_seconds))}s",
                       f"{spec.time_limit_minutes}m", *command]
            deadline = spec.time_limit_minutes * 60 + self.grace_seconds + DEADLINE_SLACK_SECONDS
        env = {**self.base_environment(), **spec.env, "SUANLI_JOB_ID": spec.job_id,
               "SUANLI_ATTEMPT": str(spec.attempt), "SUANLI_WORKDIR": HOME,
               spec.visible_devices_var: ",".join(str(i) for i in spec.device_indices)}
        launch = Launch(command=command, env=env,
                        limits=RunLimits(spec.vcpus, spec.memory_gib, spec.max_processes),
                        files={"job.sh": (render_job_script(spec), 0o644)}, work_files=job_files(spec),
                        devices=self.devices(spec.ecosystem, spec.device_indices), deadline_seconds=deadline,
                        extra_state={"kind": "job", "time_limit_minutes": spec.time_limit_minutes,
                                     "memory_gib": spec.memory_gib})
        self.launch(run, launch, f"job-{spec.job_id[:40]}")
        return run.name

    def status(self, backend_job_id: str) -> JobStatus:
        ranks = self._gang(backend_job_id)
        if ranks is not None:
            return self._gang_status(ranks)
        run = self._job(backend_job_id)
        state = run.state()
        if state is None:
            return JobStatus(JobState.LOST, detail=f"no job {backend_job_id} under {self.base_dir}")
        self._reap()
        if run.supervisor_alive(state):
            return JobStatus(JobState.RUNNING, detail=f"uid {state.get('uid')}")
        run.settle()
        result = run.read("result.json")
        if run.marked("cancelled"):
            return JobStatus(JobState.CANCELLED, result and result.get("exit_code"))
        if result is None:
            return JobStatus(JobState.LOST, detail=msg("the run's supervisor ended without recording an exit code "
                                                       "(killed from outside, or the machine restarted)"))
        code = result.get("exit_code")
        failure = run.failure(state, result)
        if failure:
            return JobStatus(JobState.FAILED, code, failure)
        if code == 0:
            return JobStatus(JobState.SUCCEEDED, 0)
        if state.get("time_limit_minutes") and (code == _TIMEOUT_EXIT or result.get("time_limit")):
            return JobStatus(JobState.FAILED, code, msg("time limit of %(minutes)s min reached",
                                                        minutes=str(state["time_limit_minutes"])))
        return JobStatus(JobState.FAILED, code)  # the exit code says it all (the scheduler words it, translatable)

    def _gang_status(self, ranks: list[str]) -> JobStatus:
        """A gang's state: running while every rank runs; succeeded when all did; else the first rank that did
        not succeed says how the gang ended, and the other ranks are stopped (all or nothing)."""
        statuses = [self.status(name) for name in ranks]
        for rank, status in enumerate(statuses):
            if status.terminal and status.state is not JobState.SUCCEEDED:
                for name, other in zip(ranks, statuses, strict=True):
                    if not other.terminal:
                        self.cancel(name)
                detail = f"rank {rank} of {len(ranks)}: {status.detail or status.state.value}"
                if any(not other.terminal for other in statuses):
                    detail += "; the other ranks were stopped"
                return JobStatus(status.state, status.exit_code, detail)
        if all(s.state is JobState.SUCCEEDED for s in statuses):
            return JobStatus(JobState.SUCCEEDED, 0, f"{len(ranks)} ranks succeeded")
        return JobStatus(JobState.RUNNING, detail=f"{len(ranks)} ranks")

    def logs(self, backend_job_id: str, tail: int | None = None) -> str:
        ranks = self._gang(backend_job_id)
        if ranks is not None:
            return "".join(f"==> rank {k} <==\n{self.logs(name, tail)}" for k, name in enumerate(ranks))
        run = self._job(backend_job_id)
        if run.state() is None:
            raise BackendError(f"no job {backend_job_id} under {self.base_dir}", kind=self.kind)
        return tail_lines(run.logs(MAX_LOG_READ).decode("utf-8", errors="replace"), tail)

    def cancel(self, backend_job_id: str) -> None:
        ranks = self._gang(backend_job_id)
        if ranks is not None:
            for name in ranks:
                self.cancel(name)
            return
        run = self._job(backend_job_id)
        run.end("cancelled", self.grace_seconds)
        self._reap()

    def close(self) -> None:
        self._reap()

    # ------------------------------------------------------------------------------------------ helpers

    def workdir(self, run_id: str) -> Path:
        """The run's work directory on this machine (``/home/user`` inside its sandbox)."""
        return self._run(run_id).work

    def run_uid(self, run_id: str) -> int | None:
        """The uid the run's processes run as."""
        return self._run(run_id).uid()

    def base_environment(self) -> dict[str, str]:
        return {"PATH": DEFAULT_PATH, "HOME": HOME, "USER": LOGIN_USER, "LOGNAME": LOGIN_USER,
                "LANG": os.environ.get("LANG", "C.UTF-8")}

    def devices(self, ecosystem: str, indices: Sequence[int]) -> list[str]:
        """The allocated devices' files on this machine (those that exist: the demo's machine has none)."""
        return [path for path in device_files(self.device_paths.get(ecosystem, ()), indices) if os.path.exists(path)]

    def _run(self, run_id: str) -> RunDir:
        if _RUN_NAME.fullmatch(run_id):
            return RunDir(self.base_dir / run_id)
        return self._instance_run(run_id)

    @staticmethod
    def _gang(backend_job_id: str) -> list[str] | None:
        """The runs of a gang's ranks, or None when ``backend_job_id`` is one run."""
        match = _GANG_ID.fullmatch(backend_job_id)
        if match is None:
            return None
        return [f"{match['run']}.{rank}" for rank in range(int(match["nodes"]))]

    def _job(self, backend_job_id: str) -> RunDir:
        if not _RUN_NAME.fullmatch(backend_job_id):
            raise BackendError(f"{backend_job_id!r} is not a local job id (<job_id>.<attempt>)", kind=self.kind)
        return RunDir(self.base_dir / backend_job_id)

    def launch(self, run: RunDir, launch: Launch, hostname: str) -> dict[str, Any]:
        """Start ``run`` (see ``RunDir.launch``); returns its state (with ``_process``, the supervisor)."""
        self.base_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.base_dir.stat().st_uid == os.geteuid():
            self.base_dir.chmod(0o700)  # runs' records and work directories: nobody else lists or enters it
        state = run.launch(launch, self.claims, self.cgroups, hostname, self.listen_address, self.grace_seconds)
        self._children[state["_process"].pid] = state["_process"]
        return state

    def _reap(self) -> None:
        """Collect supervisors this object started that have exited (they are its children)."""
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]
