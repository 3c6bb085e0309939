"""Cluster backends behind one protocol (see ``base``) and a registry of backend kinds.

    from suanli import backends
    backend = backends.create("slurm", "http://slurmrestd:6820", {"user": "suanli", "token": jwt},
                              {"shared_dir": "/shared/suanli"})
    job = backend.submit(backends.JobSpec(job_id=..., name="train", command="python train.py", accelerators=2,
                                          chip="a800"))

Built-in kinds: ``local`` (processes on this machine, the embedded default), ``slurm`` (slurmrestd
openapi/v0.0.38) and ``ray`` (Ray Jobs API). A Kubernetes backend will register as ``kubernetes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suanli.backends.base import (
    FEATURES,
    VISIBLE_DEVICES_ENV,
    Backend,
    BackendError,
    BackendUnavailable,
    Capabilities,
    Health,
    InvalidJobSpec,
    JobSpec,
    JobState,
    JobStatus,
    create,
    kinds,
    options_factory,
    register,
    visible_devices_var,
)
from suanli.backends.local import LocalBackend
from suanli.backends.ray import RayBackend
from suanli.backends.slurm import SlurmBackend

__all__ = [
    "FEATURES",
    "VISIBLE_DEVICES_ENV",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Capabilities",
    "Health",
    "InvalidJobSpec",
    "JobSpec",
    "JobState",
    "JobStatus",
    "LocalBackend",
    "RayBackend",
    "SlurmBackend",
    "create",
    "kinds",
    "register",
    "visible_devices_var",
]


def _no_credentials(kind: str):  # noqa: ANN202
    def check(credentials: Mapping[str, Any] | None) -> dict[str, Any]:
        if credentials:
            raise BackendError(f"the {kind} backend takes no credentials", kind=kind)
        return {}
    return check


def _slurm_credentials(credentials: Mapping[str, Any] | None) -> dict[str, Any]:
    credentials = dict(credentials or {})
    missing = [key for key in ("user", "token") if not credentials.get(key)]
    if missing:
        raise BackendError(f"slurm credentials need {' and '.join(repr(k) for k in missing)} "
                           "(the job user and a JWT from `scontrol token`)", kind="slurm")
    extra = sorted(set(credentials) - {"user", "token"})
    if extra:
        raise BackendError(f"unknown slurm credential field(s) {', '.join(extra)}; valid: user, token", kind="slurm")
    return {"user": credentials["user"], "token": credentials["token"]}


def _ray_credentials(credentials: Mapping[str, Any] | None) -> dict[str, Any]:
    credentials = dict(credentials or {})
    extra = sorted(set(credentials) - {"token"})
    if extra:
        raise BackendError(f"unknown ray credential field(s) {', '.join(extra)}; valid: token", kind="ray")
    return {"token": credentials["token"]} if credentials.get("token") else {}


def _local_endpoint(endpoint: str) -> str:
    return endpoint.removeprefix("file://")


_local_factory = options_factory(LocalBackend, credentials=_no_credentials("local"))
register("local", lambda endpoint, creds, options: _local_factory(_local_endpoint(endpoint), creds, options))
register("slurm", options_factory(SlurmBackend, credentials=_slurm_credentials, credential_names=("user", "token")))
register("ray", options_factory(RayBackend, credentials=_ray_credentials, credential_names=("token",)))
