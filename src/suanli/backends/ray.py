"""The ``ray`` backend: a Ray cluster through the Ray Jobs REST API of its dashboard (``http://head:8265``).

No ``ray`` import: plain HTTP with httpx. A job is a Ray job whose entrypoint is a bash script; its submission
id is ``suanli-<job_id>.<attempt>``, so submitting the same attempt twice returns the existing job.

Accelerators are Ray resources: ``entrypoint_num_gpus`` for CUDA and DTK (Ray then sets
``CUDA_VISIBLE_DEVICES`` for the entrypoint, and the script derives ``HIP_VISIBLE_DEVICES`` from it), the
``NPU`` resource for Ascend (Ray sets ``ASCEND_RT_VISIBLE_DEVICES``). Other ecosystems need
``accelerator_resources`` to name the cluster's custom resource; Ray sets no visible-devices variable for
custom resources, so those jobs get placement but no device isolation.

Files: with ``shared_dir`` (seen at the same path by suanli and the cluster's nodes) the run's directory is
written there; without it the files travel inside the entrypoint (no ``runtime_env`` upload), which then must
stay under ~96 KiB, and the job runs in ``<remote_dir>/<run>`` on the node that Ray chose.
"""

from __future__ import annotations

import base64
import re
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
    InvalidJobSpec,
    JobSpec,
    JobState,
    JobStatus,
    job_files,
    render_job_script,
    tail_lines,
)

__all__ = ["RayBackend"]

DEFAULT_RESOURCES: Mapping[str, str] = {"cuda": "GPU", "dtk": "GPU", "cann": "NPU"}
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
MAX_ENTRYPOINT = 96 * 1024  # a shell command line is one argument: Linux caps it at 128 KiB

_STATES: Mapping[str, JobState] = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "STOPPED": JobState.CANCELLED,
}
# Ray error types meaning "the job's supervisor (its node) went away", not "the command failed".
_LOST_ERRORS = {"JOB_SUPERVISOR_ACTOR_DIED", "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE"}


_VERSION = re.compile(r"\d{1,3}(\.\d{1,4}){1,3}([a-z]{1,5}\d{0,4})?")
_ERROR_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def _json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a Ray endpoint answers with; ``BackendError`` (``unexpected response``) for anything else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BackendError("the Ray dashboard answered with something that is not a JSON object", kind="ray",
                           reason="unexpected response")
    return body


SUBMIT_TIMEOUT_S = 30.0
"""How long a submit waits for the head (other requests: the cluster's ``timeout`` option, 10 s by default)."""


class RayBackend:
    kind = "ray"

    def __init__(self, endpoint: str, *, token: str | None = None, shared_dir: str | None = None,
                 remote_dir: str = "/tmp/suanli-jobs", accelerator_resources: Mapping[str, str] | None = None,
                 timeout: float = 10.0) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise BackendError(f"ray endpoint must be the dashboard's http(s) URL, got {endpoint!r}", kind=self.kind)
        self.endpoint = endpoint.rstrip("/")
        self.shared_dir = Path(shared_dir) if shared_dir else None
        self.remote_dir = remote_dir.rstrip("/")
        self.accelerator_resources = {**DEFAULT_RESOURCES, **(accelerator_resources or {})}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = outbound.http_client(self.endpoint, kind=self.kind, timeout=timeout, headers=headers)
        self._submit_timeout = max(timeout, SUBMIT_TIMEOUT_S)

    def __repr__(self) -> str:
        return f"RayBackend(endpoint={self.endpoint!r})"

    # ------------------------------------------------------------------------------------------- protocol

    def capabilities(self) -> Capabilities:
        return Capabilities(self.kind, {
            "instances": "Ray runs tasks and jobs, not login machines: the data center of a Ray cluster delivers "
                         "instances by hand",
            "logs_streaming": "not implemented: Ray streams logs over a websocket (/api/jobs/{id}/logs/tail); "
                              "logs() returns a snapshot",
            "fractional_gpus": "Ray accepts fractional entrypoint_num_gpus but puts no limit on a share's GPU "
                               "memory, so suanli rents whole chips",
            "time_limit": "Ray jobs have no time limit; suanli's scheduler must stop jobs that overrun",
            "memory_limit": "entrypoint_memory is a scheduling hint in Ray, not an enforced limit",
            "multi_node": "not implemented: a gang would need a placement group of one bundle per server "
                          "(STRICT_SPREAD) and a driver starting one rank in each; a Ray job's entrypoint runs on "
                          "one node",
        })

    def health(self) -> Health:
        """``Ray <version>`` when the dashboard answers; else a short fixed reason (never the answer's text)."""
        try:
            version = _json(self._request("GET", "/api/version"))
        except BackendError as exc:
            return Health(False, exc.reason or "unexpected response")
        reported = str(version.get("ray_version", ""))
        return Health(True, f"Ray {reported}" if _VERSION.fullmatch(reported) else "Ray (version not reported)")

    def submit(self, spec: JobSpec) -> str:
        if spec.nodes > 1:  # the scheduler records the failed submit and places the gang elsewhere
            raise InvalidJobSpec(f"a gang of {spec.nodes} servers cannot run here: "
                                 f"{self.capabilities().reason('multi_node')}", kind=self.kind)
        submission_id = f"suanli-{spec.run_name}"
        resource = self.accelerator_resources.get(spec.ecosystem or "cuda")
        if spec.accelerators and resource is None:
            raise BackendError(f"the ray backend has no Ray resource for the {spec.ecosystem} ecosystem; name the "
                               "cluster's resource in the accelerator_resources option", kind=self.kind)
        derive = "CUDA_VISIBLE_DEVICES" if resource == "GPU" else None
        if self.shared_dir is not None:
            workdir = self.shared_dir / spec.run_name
            (workdir / RESERVED_PREFIX).mkdir(parents=True, exist_ok=True)
            for name, content in job_files(spec).items():
                path = workdir / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
            (workdir / RESERVED_PREFIX / "job.sh").write_text(render_job_script(spec, derive_visible_from=derive))
            entrypoint = f"cd {shlex.quote(str(workdir))} && exec /bin/bash {RESERVED_PREFIX}/job.sh"
        else:
            script = render_job_script(spec, workdir=f"{self.remote_dir}/{spec.run_name}", embed_files=True,
                                       derive_visible_from=derive)
            encoded = base64.b64encode(script.encode()).decode()
            entrypoint = f'exec /bin/bash -c "$(echo {encoded} | base64 -d)" suanli-job'
            if len(entrypoint) > MAX_ENTRYPOINT:
                raise InvalidJobSpec(f"job {spec.run_name}: script and files are {len(entrypoint)} bytes encoded, "
                                     f"over the {MAX_ENTRYPOINT} a Ray entrypoint can carry; configure shared_dir",
                                     kind=self.kind)
        env = {**spec.env, "SUANLI_JOB_ID": spec.job_id, "SUANLI_ATTEMPT": str(spec.attempt)}
        payload: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": submission_id,
            "runtime_env": {"env_vars": env},
            "metadata": {"suanli_job_id": spec.job_id, "suanli_attempt": str(spec.attempt),
                         "suanli_name": spec.name[:200]},
            "entrypoint_num_cpus": spec.vcpus,
        }
        if spec.accelerators:
            if resource == "GPU":
                payload["entrypoint_num_gpus"] = spec.accelerators
            else:
                payload["entrypoint_resources"] = {resource: spec.accelerators}
        if spec.memory_gib is not None:
            payload["entrypoint_memory"] = int(spec.memory_gib * 2**30)
        try:  # the head starts a supervisor process for the job before it answers: slow on a busy head
            response = self._request("POST", "/api/jobs/", json=payload, check=False,
                                     timeout=self._submit_timeout)
        except BackendUnavailable as exc:
            if isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout):
                raise  # nothing reached the head
            raise BackendUnavailable(exc.message, kind=self.kind, reason=exc.reason,
                                     backend_job_id=submission_id) from exc
        if 200 <= response.status_code < 300:
            return str(_json(response).get("submission_id") or submission_id)
        # Ray answers a second submit of the same id with HTTP 500 (its job agent's error, re-raised by the head)
        # saying the id "already exists": the text is read here, never shown
        if "already exists" in response.text:
            existing = self._job(submission_id)
            if existing is not None and (existing.get("metadata") or {}).get("suanli_job_id") == spec.job_id:
                return submission_id  # this attempt was already submitted
        self._raise_for(response, f"submit job {spec.run_name}")
        raise BackendError(f"Ray did not accept job {spec.run_name}", kind=self.kind, reason="unexpected response")

    def status(self, backend_job_id: str) -> JobStatus:
        job = self._job(backend_job_id)
        if job is None:
            return JobStatus(JobState.LOST, detail=f"Ray does not know job {backend_job_id}: the head restarted "
                                                   "or the job was deleted")
        ray_status = str(job.get("status", "")).upper()
        state = _STATES.get(ray_status, JobState.FAILED)
        error_type = str(job.get("error_type") or "")
        error_type = error_type if _ERROR_TYPE.fullmatch(error_type) else ""
        if state is JobState.FAILED and error_type in _LOST_ERRORS:
            state = JobState.LOST
        ray_status = ray_status if ray_status in _STATES else "UNKNOWN"
        message = str(job.get("message") or "").split("\n", 1)[0][:300]  # Ray's reason for the job's state
        exit_code = job.get("driver_exit_code")
        if state.terminal and exit_code is None and state is JobState.SUCCEEDED:
            exit_code = 0
        detail = ": ".join(p for p in (ray_status, error_type, message) if p)
        return JobStatus(state, exit_code if state.terminal else None, detail)

    def logs(self, backend_job_id: str, tail: int | None = None) -> str:
        response = self._request("GET", self._path(backend_job_id, "/logs"), check=False)
        if response.status_code == 404:
            raise BackendError(f"Ray does not know job {backend_job_id}", kind=self.kind)
        self._raise_for(response, "GET logs")
        return tail_lines(str(_json(response).get("logs") or ""), tail)

    def cancel(self, backend_job_id: str) -> None:
        response = self._request("POST", self._path(backend_job_id, "/stop"), check=False)
        if response.status_code == 404:
            return  # Ray does not know it: nothing to stop
        self._raise_for(response, "stop")

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------------------------- internals

    def _path(self, backend_job_id: str, suffix: str = "") -> str:
        if not _JOB_ID.fullmatch(backend_job_id):
            raise BackendError(f"{backend_job_id!r} is not a Ray job id", kind=self.kind)
        return f"/api/jobs/{backend_job_id}{suffix}"

    def _job(self, backend_job_id: str) -> dict[str, Any] | None:
        response = self._request("GET", self._path(backend_job_id), check=False)
        if response.status_code == 404:
            return None
        self._raise_for(response, "GET job")
        return _json(response)

    def _request(self, method: str, path: str, *, check: bool = True, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            reason = outbound.failure_reason(exc)
            raise BackendUnavailable(f"Ray dashboard at {self.endpoint}: {reason} ({method} {path})",
                                     kind=self.kind, reason=reason) from exc
        if check:
            self._raise_for(response, f"{method} {path}")
        return response

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        """An error for a status that is not a success: its code and a fixed reason, never the answer's text."""
        if 200 <= response.status_code < 300:
            return
        reason = outbound.status_reason(response.status_code)
        if response.status_code in (401, 403):
            raise BackendError(f"Ray dashboard at {self.endpoint} refused the request ({what}): token missing or "
                               "wrong", kind=self.kind, reason=reason)
        message = f"Ray dashboard at {self.endpoint}: {reason} for {what}"
        if response.status_code >= 502:
            raise BackendUnavailable(message, kind=self.kind, reason=reason)
        raise BackendError(message, kind=self.kind, reason=reason)
