"""The ``slurm`` backend: a Slurm cluster through slurmrestd's REST API, ``openapi/v0.0.38`` (Slurm 22.05, the
version Debian 12 ships).

Authentication is Slurm's JWT: credentials ``{"user": ..., "token": ...}`` become the ``X-SLURM-USER-NAME`` and
``X-SLURM-USER-TOKEN`` headers (a token comes from ``scontrol token username=... lifespan=...`` on the cluster).
Jobs run as that user, which must not be root (slurmrestd refuses root tokens).

Accelerators are requested as GRES, ``gpu:<type>:<n>`` (v0.0.38 takes the ``gres`` field; it rejects
``tres_per_node``). The GRES type defaults to the chip key (``a800``); ``gres_types`` maps chip keys to a
site's own names and ``gres_name`` changes ``gpu`` (some Ascend sites use ``npu``). Slurm sets
``CUDA_VISIBLE_DEVICES`` for any GPU GRES; for other ecosystems the job script derives their variable from it.

Working directory and logs. v0.0.38 has no endpoint for a job's output, so:

* with ``shared_dir`` (a directory suanli and the cluster's nodes both see at the same path, e.g. NFS), suanli
  creates the run's directory there, writes the job's files into it, hands it to the job user, and reads the
  output file back for ``logs``;
* without it, the job's files travel inside the batch script, which creates ``<remote_dir>/<run>`` on the node
  itself; the output goes to ``<remote_dir>/suanli-<run>.log`` on that node and ``logs`` is unsupported.

Instances (SSH and JupyterLab in an allocation, for leases) are ``slurm_instances.SlurmInstances``, mixed in here.

A gang (``JobSpec.nodes`` > 1) is one batch job with ``--nodes=N`` (GRES, CPUs and memory per node): its batch
script writes the rank's script, copies it to every node (``srun --bcast``) and runs it once per node
(``--ntasks-per-node=1``) with ``RANK``/``NODE_RANK`` from ``SLURM_PROCID``/``SLURM_NODEID``, ``WORLD_SIZE`` and
``MASTER_ADDR`` (the first node) set; ``--kill-on-bad-exit=1`` stops every rank when one fails, and the job fails
with that rank's exit code: all or nothing.

Jobs are submitted with ``no_requeue``: when a node fails, Slurm ends the job as ``NODE_FAIL`` (``lost``
here) instead of requeueing it behind suanli's back, so suanli's scheduler decides where it runs next.
"""

from __future__ import annotations

import math
import os
import pwd
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from suanli.backends import outbound
from suanli.backends.base import (
    RESERVED_PREFIX,
    BackendError,
    BackendUnavailable,
    Capabilities,
    Health,
    JobSpec,
    JobState,
    JobStatus,
    job_files,
    render_job_script,
    tail_lines,
)
from suanli.backends.instances import InstanceSpec
from suanli.backends.slurm_instances import SANDBOXES, SlurmInstances, parse_port_range

__all__ = ["SlurmBackend", "gang_script"]

API = "/slurm/v0.0.38"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_LOG_READ = 16 * 1024 * 1024

# Slurm error numbers (slurm_errno.h) the backend acts on.
ESLURM_INVALID_JOB_ID = 2017
ESLURM_ALREADY_DONE = 2021

_STATES: Mapping[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "COMPLETED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "TIMEOUT": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "DEADLINE": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "NODE_FAIL": JobState.LOST,
    "BOOT_FAIL": JobState.LOST,
    "PREEMPTED": JobState.LOST,
}
_USABLE_NODE_STATES = {"idle", "mixed", "allocated", "completing"}
_BAD_NODE_FLAGS = {"DRAIN", "DRAINING", "DRAINED", "NOT_RESPONDING", "FAIL", "MAINTENANCE", "POWERED_DOWN",
                   "POWERING_DOWN", "REBOOT_REQUESTED"}


def _decode_exit(raw: Any) -> int | None:
    """slurmrestd v0.0.38 reports the wait(2) status (``768`` = exit 3); later versions an object."""
    if raw is None:
        return None
    if isinstance(raw, dict):  # v0.0.39+: {"status": ..., "return_code": n, "signal": {...}}
        code = raw.get("return_code")
        return code if isinstance(code, int) else None
    raw = int(raw)
    signo = raw & 0x7F
    return 128 + signo if signo else (raw >> 8) & 0xFF


def _errors(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, dict)]
    return []


def _error_text(errors: list[dict[str, Any]]) -> str:
    """The errors slurmrestd listed (structured fields: Slurm's description and number), at most 3, each clipped:
    a job's rejection reason as Slurm reports it, never a whole answer."""
    parts = []
    for e in errors[:3]:
        text = str(e.get("description") or e.get("error") or "error")[:200]
        if e.get("error") and e.get("description") and str(e["error"]) not in text:
            text = f"{text} ({str(e['error'])[:100]})"
        number = e.get("error_number", e.get("error_code"))
        parts.append(f"{text} [slurm error {number}]" if isinstance(number, int) and number not in (0, -1) else text)
    return "; ".join(parts)


def _error_numbers(errors: list[dict[str, Any]]) -> set[int]:
    return {int(e.get("error_number", e.get("error_code", 0)) or 0) for e in errors}


class SlurmBackend(SlurmInstances):
    kind = "slurm"

    def __init__(self, endpoint: str, *, user: str, token: str, shared_dir: str | None = None,
                 remote_dir: str = "/tmp", partition: str | None = None, gres_name: str = "gpu",
                 gres_types: Mapping[str, str] | None = None, path: str = DEFAULT_PATH,
                 timeout: float = 10.0, jupyter_command: str = "jupyter lab", instance_sandbox: str = "bwrap",
                 instance_port_range: str = "20000-32767", instance_start_timeout: int = 300) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise BackendError(f"slurm endpoint must be slurmrestd's http(s) URL, got {endpoint!r}", kind=self.kind)
        if not user or not token:
            raise BackendError("slurm credentials need 'user' and 'token' (a JWT from `scontrol token`)",
                               kind=self.kind)
        self.endpoint = endpoint.rstrip("/")
        self.user = user
        self.shared_dir = Path(shared_dir) if shared_dir else None
        self.remote_dir = remote_dir
        self.partition = partition
        self.gres_name = gres_name
        self.gres_types = dict(gres_types or {})
        self.path = path
        self.jupyter_command = tuple(shlex.split(jupyter_command))
        if not self.jupyter_command:
            raise BackendError("jupyter_command is empty: give the command that starts JupyterLab on the nodes "
                               "(e.g. 'jupyter lab' or '/opt/python/bin/python -m jupyterlab')", kind=self.kind)
        if instance_sandbox not in SANDBOXES:
            raise BackendError(f"instance_sandbox {instance_sandbox!r}: choose one of {', '.join(SANDBOXES)}",
                               kind=self.kind)
        self.instance_sandbox = instance_sandbox
        self.instance_ports = parse_port_range(instance_port_range)
        if isinstance(instance_start_timeout, bool) or not isinstance(instance_start_timeout, int) \
                or not 10 <= instance_start_timeout <= 3600:
            raise BackendError("instance_start_timeout must be 10-3600 seconds", kind=self.kind)
        self.instance_start_timeout = instance_start_timeout
        # The token lives only in the client's headers: never in an attribute that a repr could show.
        self._http = outbound.http_client(self.endpoint, kind=self.kind, timeout=timeout, path=API,
                                          headers={"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token})

    def __repr__(self) -> str:
        return f"SlurmBackend(endpoint={self.endpoint!r}, user={self.user!r})"

    # ------------------------------------------------------------------------------------------- protocol

    def capabilities(self) -> Capabilities:
        unsupported = {
            "logs_streaming": "slurmrestd v0.0.38 has no output endpoint; logs() reads the output file from the "
                              "shared directory",
            "fractional_gpus": "GPU GRES are whole devices (Slurm's MPS or shard GRES are not configured for suanli)",
        }
        if reason := self._instances_unsupported():
            unsupported["instances"] = reason
        if self.shared_dir is None:
            unsupported["logs"] = ("slurmrestd v0.0.38 has no endpoint for a job's output, and no shared_dir was "
                                   "configured to read the output file from")
        return Capabilities(self.kind, unsupported)

    def health(self) -> Health:
        """``<usable>/<all> node(s) usable`` when slurmctld answers; else a short fixed reason. Node names, states
        and reasons are not shown: they are the text of a remote answer."""
        try:
            pings = self._request("GET", "/ping").get("pings") or []
            if not isinstance(pings, list) or not pings \
                    or not all(isinstance(p, dict) and str(p.get("ping", "")).upper() == "UP" for p in pings):
                return Health(False, "slurmctld not answering")
            nodes = self._request("GET", "/nodes").get("nodes") or []
        except BackendError as exc:
            return Health(False, exc.reason or "unexpected response")
        nodes = [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []
        if self.partition:
            nodes = [n for n in nodes if self.partition in (n.get("partitions") or [])]
        usable = 0
        for node in nodes:
            state = str(node.get("state", "")).lower()
            flags = {str(f).upper() for f in node.get("state_flags") or []}
            usable += state in _USABLE_NODE_STATES and not flags & _BAD_NODE_FLAGS
        return Health(usable > 0, f"{usable}/{len(nodes)} node(s) usable")

    def submit(self, spec: JobSpec) -> str:
        run = spec.run_name
        if self.shared_dir is not None:
            workdir = self.shared_dir / run
            self._prepare_shared_workdir(spec, workdir)
            cwd = str(workdir)
            output = str(workdir / RESERVED_PREFIX / "output.log")
            script = render_job_script(spec, derive_visible_from="CUDA_VISIBLE_DEVICES")
        else:
            cwd = self.remote_dir
            output = f"{self.remote_dir.rstrip('/')}/suanli-{run}.log"
            script = render_job_script(spec, workdir=f"{self.remote_dir.rstrip('/')}/{run}", embed_files=True,
                                       derive_visible_from="CUDA_VISIBLE_DEVICES")
        if spec.nodes > 1:
            script = gang_script(spec, script)
        env = {"PATH": self.path, "LANG": "C.UTF-8", **spec.env, "SUANLI_JOB_ID": spec.job_id,
               "SUANLI_ATTEMPT": str(spec.attempt)}
        job: dict[str, Any] = {
            "name": f"suanli-{run}",
            "comment": f"suanli job {spec.job_id} attempt {spec.attempt}: {spec.name}"[:250],
            "environment": env,
            "current_working_directory": cwd,
            "standard_output": output,
            "standard_error": output,
            # v0.0.38 maps its keys onto sbatch's options: "requeue" is the --requeue flag whatever its value,
            # so "requeue": false would turn requeueing ON. "no_requeue" (--no-requeue) works, unlisted in the spec.
            "no_requeue": True,
            **self._resource_fields(spec),
        }
        if spec.time_limit_minutes is not None:
            job["time_limit"] = spec.time_limit_minutes
        body = self._request("POST", "/job/submit", json={"script": script, "job": job})
        job_id = body.get("job_id")
        if job_id is None:
            raise BackendError(f"slurmrestd accepted job {run} but returned no job_id", kind=self.kind)
        return str(job_id)

    def status(self, backend_job_id: str) -> JobStatus:
        job = self._job(backend_job_id)
        if job is None:
            return JobStatus(JobState.LOST, detail=f"Slurm does not know job {backend_job_id} (any more): the "
                                                   "controller lost its state or purged the job")
        return self._job_status(job)

    @staticmethod
    def _job_status(job: Mapping[str, Any]) -> JobStatus:
        """A job's state as slurmrestd reports it; ``detail`` starts with Slurm's state name."""
        raw_state = job.get("job_state")
        if isinstance(raw_state, list):  # later API versions: a list of state and flags
            raw_state = raw_state[0] if raw_state else ""
        slurm_state = str(raw_state or "").upper()
        state = _STATES.get(slurm_state, JobState.FAILED)
        reason = job.get("state_reason")
        parts = [slurm_state]
        if reason and reason != "None":
            parts.append(str(reason))
        if job.get("state_description"):
            parts.append(str(job["state_description"]))
        exit_code = _decode_exit(job.get("exit_code")) if state.terminal else None
        return JobStatus(state, exit_code, ": ".join(parts))

    def logs(self, backend_job_id: str, tail: int | None = None) -> str:
        self.capabilities().require("logs")
        assert self.shared_dir is not None
        job = self._job(backend_job_id)
        if job is None:
            raise BackendError(f"Slurm does not know job {backend_job_id} (any more)", kind=self.kind)
        output = Path(str(job.get("standard_output") or ""))
        shared = self.shared_dir.resolve()
        if not output.is_absolute() or not output.resolve().is_relative_to(shared):
            raise BackendError(f"job {backend_job_id} writes its output to {output}, outside the shared "
                               f"directory {shared}", kind=self.kind)
        try:
            with open(output, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - MAX_LOG_READ))
                data = fh.read()
        except FileNotFoundError:
            return ""  # not started yet: Slurm creates the file when the job starts
        return tail_lines(data.decode("utf-8", errors="replace"), tail)

    def cancel(self, backend_job_id: str) -> None:
        self._check_id(backend_job_id)
        self._unless_ended("DELETE", f"/job/{backend_job_id}")

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------------------------- internals

    def _resource_fields(self, spec: JobSpec | InstanceSpec) -> dict[str, Any]:
        """CPUs, memory, accelerators (GRES) and partition of a job or an instance, as v0.0.38 job fields."""
        fields: dict[str, Any] = {"cpus_per_task": spec.vcpus}
        if getattr(spec, "nodes", 1) > 1:  # a gang: GRES, CPUs and memory are per node (sbatch --nodes)
            fields["nodes"] = str(spec.nodes)
        if spec.accelerators:
            fields["gres"] = self._gres(spec)
        if spec.memory_gib is not None:
            fields["memory_per_node"] = math.ceil(spec.memory_gib * 1024)
        if self.partition:
            fields["partition"] = self.partition
        return fields

    def _gres(self, spec: JobSpec | InstanceSpec) -> str:
        gres_type = self.gres_types.get(spec.chip or "", spec.chip)
        if gres_type:
            return f"{self.gres_name}:{gres_type.lower()}:{spec.accelerators}"
        return f"{self.gres_name}:{spec.accelerators}"

    def _prepare_shared_workdir(self, spec: JobSpec, workdir: Path) -> None:
        """Create the run's directory with its files and hand it to the job user, who runs the job: chown when
        suanli runs as root and the user exists here, else make it world-writable (the cluster's job user
        cannot otherwise write its output)."""
        internal = workdir / RESERVED_PREFIX
        internal.mkdir(parents=True, exist_ok=True)
        for name, content in job_files(spec).items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        try:
            owner = pwd.getpwnam(self.user) if os.geteuid() == 0 else None
        except KeyError:
            owner = None
        for root, dirs, files in os.walk(workdir):
            for entry in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                is_dir = os.path.isdir(entry)
                if owner is not None:
                    os.chown(entry, owner.pw_uid, owner.pw_gid)
                    os.chmod(entry, 0o755 if is_dir else 0o644)
                else:
                    os.chmod(entry, 0o777 if is_dir else 0o666)

    def _check_id(self, backend_job_id: str) -> None:
        if not backend_job_id.isdigit():
            raise BackendError(f"{backend_job_id!r} is not a Slurm job id", kind=self.kind)

    def _job(self, backend_job_id: str) -> dict[str, Any] | None:
        self._check_id(backend_job_id)
        try:
            body = self._request("GET", f"/job/{backend_job_id}")
        except _SlurmErrors as exc:
            if ESLURM_INVALID_JOB_ID in exc.numbers:
                return None
            raise
        jobs = body.get("jobs") or []
        return jobs[0] if jobs else None

    def _unless_ended(self, method: str, path: str, **kwargs: Any) -> None:
        """A request about one job that is a no-op when the job is gone or already ended."""
        try:
            self._request(method, path, **kwargs)
        except _SlurmErrors as exc:
            if not exc.numbers & {ESLURM_INVALID_JOB_ID, ESLURM_ALREADY_DONE}:
                raise

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """slurmrestd's JSON answer. Errors say what failed with a fixed reason, or with the errors slurmrestd
        listed (Slurm's own error descriptions and numbers, clipped); never with the raw text of an answer."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            reason = outbound.failure_reason(exc)
            raise BackendUnavailable(f"slurmrestd at {self.endpoint}: {reason} ({method} {path})", kind=self.kind,
                                     reason=reason) from exc
        if response.status_code in (401, 403):
            raise BackendError(f"slurmrestd at {self.endpoint} rejected the credentials of user {self.user!r} "
                               "(missing or malformed token)", kind=self.kind, reason="authentication failed")
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = _errors(body)
        if errors:
            numbers = _error_numbers(errors)
            text = _error_text(errors)
            if "unable to load" in text and ESLURM_INVALID_JOB_ID not in numbers:
                # slurmrestd answers this when slurmctld is down, or when it refused the token
                raise _SlurmUnavailable(f"slurmctld behind {self.endpoint} did not answer, or refused the token "
                                        f"of user {self.user!r}: {text}", numbers)
            raise _SlurmErrors(f"slurm: {method} {path}: {text}", numbers)
        if response.status_code >= 300 or body is None:
            # a success without JSON is what a proxy or a restarting slurmrestd answers: transient, like a 5xx
            reason = outbound.status_reason(response.status_code) if response.status_code >= 300 \
                else "unexpected response"
            error = BackendUnavailable if response.status_code >= 500 or body is None else BackendError
            raise error(f"slurmrestd at {self.endpoint}: {reason} for {method} {path}", kind=self.kind, reason=reason)
        if not isinstance(body, dict):
            raise BackendError(f"slurmrestd at {self.endpoint} answered {method} {path} with something that is not "
                               "a JSON object", kind=self.kind, reason="unexpected response")
        return body


class _SlurmErrors(BackendError):
    """Errors slurmrestd listed in the response body; ``numbers`` are Slurm's error numbers."""

    reason_text = "slurm reported an error"

    def __init__(self, message: str, numbers: set[int]) -> None:
        super().__init__(message, kind="slurm", reason=self.reason_text)
        self.numbers = numbers


class _SlurmUnavailable(_SlurmErrors, BackendUnavailable):
    """slurmrestd answered, but the controller behind it did not."""

    reason_text = "slurmctld not answering"


def gang_script(spec: JobSpec, rank_script: str) -> str:
    """The batch script of a gang: every node runs ``rank_script`` (the one-node script of the job) as one rank,
    with the gang's variables (:data:`suanli.backends.base.GANG_ENV`); one failing rank ends them all."""
    import base64
    import zlib

    first, _, rest = rank_script.partition("\n")
    rank = f"{first}\nexport RANK=\"$SLURM_PROCID\" NODE_RANK=\"$SLURM_NODEID\" LOCAL_RANK=0\n{rest}"
    encoded = base64.b64encode(rank.encode()).decode()
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    port = 29500 + zlib.crc32(spec.run_name.encode()) % 10000
    n = spec.nodes
    return "\n".join([
        "#!/bin/bash", f"# suanli job {spec.job_id} attempt {spec.attempt}: a gang of {n} ranks, one per node",
        'rank_script=$(mktemp "${TMPDIR:-/tmp}/suanli-rank-XXXXXX") || exit 111',
        "base64 -d > \"$rank_script\" <<'SUANLI_EOF'", wrapped, "SUANLI_EOF",
        'chmod 700 "$rank_script"',
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        f"export MASTER_ADDR MASTER_PORT={port} WORLD_SIZE={n} SUANLI_NODES={n}",
        f'srun --nodes={n} --ntasks={n} --ntasks-per-node=1 --kill-on-bad-exit=1 --bcast="$rank_script" '
        '"$rank_script"',
        "code=$?", 'rm -f "$rank_script"', "exit $code", ""])
