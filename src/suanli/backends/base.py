"""The one protocol every cluster backend speaks, the values it exchanges, and the registry of backend kinds.

A backend runs a data center's jobs on whatever that data center runs: plain processes on one machine
(``local``), a Slurm cluster through slurmrestd (``slurm``), a Ray cluster through its Jobs API (``ray``), and
later Kubernetes. The scheduler only sees :class:`Backend`: ``submit`` a :class:`JobSpec`, poll ``status``, read
``logs``, ``cancel``, ask ``health`` (to take a failing cluster out of placement and bring it back) and
``capabilities`` (what it can and cannot do, each "cannot" with a reason a person can read, as SkyPilot does).

Job states are the six the scheduler acts on: ``pending``/``running`` (wait), ``succeeded``/``failed``/
``cancelled`` (done), and ``lost``: the cluster no longer runs the job and cannot say how it ended (its node or
the whole cluster died, or the cluster forgot the job). A lost job is the scheduler's to requeue elsewhere.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import inspect
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from suanli.core.messages import Text

__all__ = [
    "FEATURES",
    "GANG_ENV",
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
    "create",
    "kinds",
    "register",
    "tail_lines",
    "visible_devices_var",
]


# --------------------------------------------------------------------------------------------------- errors


class BackendError(Exception):
    """A backend could not do what was asked; ``message`` says what and why, in words an operator can act on.

    Never carries credentials, nor the text of a remote answer. ``reason``, when set, is a short fixed reason
    (``"timeout"``, ``"HTTP 503"``, ``"endpoint not allowed"``: ``backends.outbound``) that a health check shows.
    """

    def __init__(self, message: str, *, kind: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.reason = reason


class BackendUnavailable(BackendError):
    """The cluster could not be reached or did not answer (connection refused, timeout, 5xx without a body).

    Transient from the scheduler's point of view: the job may well still exist; ask again later, and let
    ``health()`` decide whether the cluster stays in placement. ``backend_job_id``, when set, names the run a
    submit may have started although no answer came (the request was sent, then timed out): the scheduler stops
    it once the cluster answers again (``jobs.strays``).
    """

    def __init__(self, message: str, *, kind: str | None = None, reason: str | None = None,
                 backend_job_id: str | None = None) -> None:
        super().__init__(message, kind=kind, reason=reason)
        self.backend_job_id = backend_job_id


class InvalidJobSpec(BackendError, ValueError):
    """The job description itself is wrong; retrying or another cluster will not help."""


# ----------------------------------------------------------------------------------------- value objects


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True)
class JobStatus:
    """A job's state on its cluster. ``detail``: the cluster's own words (plain text, shown as they are), or a
    sentence the backend composes itself, kept translatable (:func:`suanli.core.messages.msg`) so that the job's
    page says it in its language."""

    state: JobState
    exit_code: int | None = None
    detail: Text = ""

    @property
    def terminal(self) -> bool:
        return self.state.terminal


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


# What a backend may or may not do. Every backend declares each feature it lacks, with the reason.
FEATURES: Mapping[str, str] = MappingProxyType(
    {
        "logs": "read a job's output (stdout and stderr) through the backend",
        "logs_streaming": "follow a job's output as it is written, without polling",
        "cancel": "stop a pending or running job",
        "gpu_isolation": "a job sees only the accelerators allocated to it (visible-devices variable)",
        "fractional_gpus": "several jobs share one accelerator",
        "time_limit": "the backend ends a job that runs past time_limit_minutes",
        "memory_limit": "the backend enforces memory_gib",
        "status_after_restart": "status() still answers for jobs submitted before suanli restarted",
        "instances": "starts instances (SSH, JupyterLab, exposed ports) for leases: backends.instances",
        "multi_node": "runs a gang: one job on several servers at once, all or nothing (JobSpec.nodes > 1)",
    }
)


@dataclass(frozen=True)
class Capabilities:
    """Which :data:`FEATURES` a backend supports; for each one it does not, the reason (human-readable)."""

    kind: str
    unsupported: Mapping[str, str]
    notes: Mapping[str, str] = field(default_factory=dict)
    """How a supported feature is provided, where a person should know (e.g. which limits apply)."""

    def __post_init__(self) -> None:
        unknown = sorted((set(self.unsupported) | set(self.notes)) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {sorted(FEATURES)}")
        object.__setattr__(self, "unsupported", MappingProxyType(dict(self.unsupported)))
        object.__setattr__(self, "notes", MappingProxyType(dict(self.notes)))

    @property
    def supported(self) -> tuple[str, ...]:
        return tuple(f for f in FEATURES if f not in self.unsupported)

    def supports(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise KeyError(f"unknown feature {feature!r}; known: {', '.join(FEATURES)}")
        return feature not in self.unsupported

    def reason(self, feature: str) -> str | None:
        """Why ``feature`` is not supported, or ``None`` when it is."""
        self.supports(feature)
        return self.unsupported.get(feature)

    def require(self, feature: str) -> None:
        if not self.supports(feature):
            raise BackendError(f"the {self.kind} backend does not support {feature}: {self.unsupported[feature]}",
                               kind=self.kind)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "supported": list(self.supported), "unsupported": dict(self.unsupported),
                "notes": dict(self.notes)}


# The environment variable through which each ecosystem's runtime picks its devices.
VISIBLE_DEVICES_ENV: Mapping[str, str] = MappingProxyType(
    {
        "cuda": "CUDA_VISIBLE_DEVICES",
        "cann": "ASCEND_RT_VISIBLE_DEVICES",
        "dtk": "HIP_VISIBLE_DEVICES",
        "neuware": "MLU_VISIBLE_DEVICES",
        "xpu": "XPU_VISIBLE_DEVICES",
        "musa": "MUSA_VISIBLE_DEVICES",
    }
)


def visible_devices_var(ecosystem: str) -> str:
    try:
        return VISIBLE_DEVICES_ENV[ecosystem]
    except KeyError:
        raise InvalidJobSpec(
            f"unknown ecosystem {ecosystem!r}; known: {', '.join(VISIBLE_DEVICES_ENV)}") from None


def resolve_ecosystem(chip: str | None, ecosystem: str | None) -> str:
    """The ecosystem a job or instance runs in: the one given, else its chip's, else ``cuda``."""
    if ecosystem is not None:
        visible_devices_var(ecosystem)  # validates
        return ecosystem
    if chip is None:
        return "cuda"
    from suanli.core.chips import resolve_chip

    resolved = resolve_chip(chip)
    if resolved is None:
        raise InvalidJobSpec(f"unknown chip {chip!r}: give its ecosystem explicitly")
    return resolved.ecosystem


def visible_devices_exports(var: str, accelerators: int, derive_from: str | None) -> list[str]:
    """Bash lines that set the ecosystem's visible-devices variable ``var``: empty without accelerators (clusters
    leave it unset), else derived from ``derive_from`` (the variable the cluster sets) unless already set."""
    if not accelerators:
        return [f"export {var}="]
    if derive_from and var != derive_from:
        return [f'export {var}="${{{var}-${{{derive_from}-}}}}"']
    return []


_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_PREFIX = ".suanli"  # a job's work dir keeps the backend's own files under .suanli/


@dataclass(frozen=True)
class JobSpec:
    """What to run and with what. Exactly one of ``command`` (a bash command line) or ``script`` (a whole
    script; run by its ``#!`` line, else by bash).

    ``files`` are written into the job's working directory before it starts (name relative to it).
    ``chip`` is a chip-table key (``a800``); ``ecosystem`` defaults to the chip's, else ``cuda``.
    ``device_indices`` are the devices the scheduler allocated on the machine (``local`` needs them; cluster
    backends let the cluster choose). ``vcpus``, ``memory_gib`` and ``max_processes`` are what the product
    promises; a backend enforces them where it can (``capabilities``). ``attempt`` numbers re-submissions of the same suanli job: a backend
    uses ``(job_id, attempt)`` to name the run, so submitting the same attempt twice is idempotent where the
    backend can check it (``local``, ``ray``).

    ``nodes`` > 1 makes a gang: the job runs as ``nodes`` ranks on as many servers, all or nothing, each rank
    with ``accelerators`` of its own (so ``device_indices`` lists ``nodes x accelerators`` devices, rank by rank)
    and :data:`GANG_ENV` set (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, ``NODE_RANK``,
    ``LOCAL_RANK``) as ``torchrun`` and most launchers read them. If one rank fails or is lost the backend stops the
    others and reports the run failed (or lost).
    """

    job_id: str
    name: str
    command: str | None = None
    script: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    accelerators: int = 0
    chip: str | None = None
    ecosystem: str | None = None
    device_indices: tuple[int, ...] = ()
    vcpus: int = 1
    memory_gib: float | None = None
    time_limit_minutes: int | None = None
    attempt: int = 1
    max_processes: int = 4096
    nodes: int = 1

    def __post_init__(self) -> None:
        if not _JOB_ID.fullmatch(self.job_id):
            raise InvalidJobSpec(f"job_id {self.job_id!r} must be 1-128 characters of letters, digits, '.', '_', '-'")
        if (self.command is None) == (self.script is None):
            raise InvalidJobSpec("give exactly one of command (a shell command line) or script")
        if not (self.command or self.script or "").strip():
            raise InvalidJobSpec("the command or script is empty")
        for key, value in self.env.items():
            if not _ENV_NAME.fullmatch(key):
                raise InvalidJobSpec(f"environment variable name {key!r} is not valid")
            if not isinstance(value, str):
                raise InvalidJobSpec(f"environment variable {key} must be a string, got {type(value).__name__}")
        for name, content in self.files.items():
            parts = name.split("/")
            if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise InvalidJobSpec(f"file name {name!r} must be a relative path without '.', '..' or '//'")
            if parts[0].startswith(RESERVED_PREFIX):
                raise InvalidJobSpec(f"file name {name!r}: names starting with {RESERVED_PREFIX} are the backend's")
            if not isinstance(content, str):
                raise InvalidJobSpec(f"file {name!r} content must be text")
        if self.accelerators < 0:
            raise InvalidJobSpec("accelerators must be >= 0")
        if self.nodes < 1:
            raise InvalidJobSpec("nodes must be >= 1")
        indices = tuple(self.device_indices)
        object.__setattr__(self, "device_indices", indices)
        if indices:
            if len(indices) != self.accelerators * self.nodes:
                raise InvalidJobSpec(f"{len(indices)} device indices given for {self.accelerators * self.nodes} "
                                     "accelerators")
            if len(set(indices)) != len(indices) or min(indices) < 0:
                raise InvalidJobSpec(f"device indices {list(indices)} must be distinct and >= 0")
        if self.vcpus < 1:
            raise InvalidJobSpec("vcpus must be >= 1")
        if self.memory_gib is not None and self.memory_gib <= 0:
            raise InvalidJobSpec("memory_gib must be > 0")
        if self.time_limit_minutes is not None and self.time_limit_minutes < 1:
            raise InvalidJobSpec("time_limit_minutes must be >= 1")
        if self.attempt < 1:
            raise InvalidJobSpec("attempt must be >= 1")
        if self.max_processes < 16:
            raise InvalidJobSpec("max_processes must be >= 16")
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        object.__setattr__(self, "ecosystem", resolve_ecosystem(self.chip, self.ecosystem))

    @property
    def run_name(self) -> str:
        """The name of this attempt's run (work directory, Ray submission id): ``<job_id>.<attempt>``."""
        return f"{self.job_id}.{self.attempt}"

    @property
    def visible_devices_var(self) -> str:
        assert self.ecosystem is not None
        return visible_devices_var(self.ecosystem)

    def rank(self, rank: int, master_addr: str, master_port: int) -> JobSpec:
        """Rank ``rank`` of a gang as a one-node spec of its own: its devices, and the gang's variables."""
        if not 0 <= rank < self.nodes:
            raise InvalidJobSpec(f"rank {rank} of a gang of {self.nodes}")
        k = self.accelerators
        env = {**self.env, **gang_env(self.nodes, rank, master_addr, master_port)}
        return dataclasses.replace(self, nodes=1, env=env, device_indices=self.device_indices[rank * k:(rank + 1) * k])


GANG_ENV = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "NODE_RANK", "LOCAL_RANK", "SUANLI_NODES")
"""The variables every rank of a gang sees (one rank per server: ``LOCAL_RANK`` is 0)."""


def gang_env(nodes: int, rank: int | str, master_addr: str, master_port: int | str) -> dict[str, str]:
    """The :data:`GANG_ENV` values of one rank (``rank`` may be a shell expression, e.g. ``$SLURM_NODEID``)."""
    return {"MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port), "WORLD_SIZE": str(nodes),
            "RANK": str(rank), "NODE_RANK": str(rank), "LOCAL_RANK": "0", "SUANLI_NODES": str(nodes)}


# ----------------------------------------------------------------------------------------------- protocol


@runtime_checkable
class Backend(Protocol):
    """One cluster (or machine) that runs jobs. Implementations keep no per-job state in memory that
    ``status`` depends on: the cluster (or, for ``local``, the job's work directory) is the record, so a
    restarted suanli picks up where it left off. A Kubernetes backend will map onto the same six methods
    (Job objects: create / read status / pod logs / delete with propagation)."""

    kind: str

    def capabilities(self) -> Capabilities: ...

    def health(self) -> Health:
        """Never raises for an unreachable cluster: that is ``Health(ok=False, ...)``."""
        ...

    def submit(self, spec: JobSpec) -> str:
        """Start (or queue) the job; returns the backend's job id."""
        ...

    def status(self, backend_job_id: str) -> JobStatus:
        """Raises :class:`BackendUnavailable` when the cluster cannot be asked; ``lost`` when it does not
        know the job (any more)."""
        ...

    def logs(self, backend_job_id: str, tail: int | None = None) -> str:
        """The job's combined output so far; with ``tail``, its last ``tail`` lines."""
        ...

    def cancel(self, backend_job_id: str) -> None:
        """Stop the job; a no-op for a job that already ended or that the cluster does not know."""
        ...

    def close(self) -> None:
        """Release connections. The backend must not be used afterwards."""
        ...


# ------------------------------------------------------------------------------------------------ helpers


def tail_lines(text: str, tail: int | None) -> str:
    """The last ``tail`` lines of ``text`` (all of it for ``None``); a final newline does not count as a line."""
    if tail is None:
        return text
    if tail < 0:
        raise BackendError("tail must be >= 0")
    if tail == 0:
        return ""
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:])


USER_SCRIPT = f"{RESERVED_PREFIX}/script"


def job_files(spec: JobSpec) -> dict[str, str]:
    """The files the job's work directory needs: the spec's, plus the user script when there is one."""
    files = dict(spec.files)
    if spec.script is not None:
        files[USER_SCRIPT] = spec.script
    return files


def render_job_script(spec: JobSpec, *, workdir: str | None = None, embed_files: bool = False,
                      derive_visible_from: str | None = None) -> str:
    """The bash script a backend runs for ``spec``.

    ``workdir``: create it and change into it first (when the cluster cannot see suanli's filesystem).
    ``embed_files``: the job's files travel inside the script (base64 here-documents) instead of being
    written beforehand. ``derive_visible_from``: the variable the cluster sets (Slurm and Ray set
    ``CUDA_VISIBLE_DEVICES`` for any GPU GRES / ``num_gpus``); the ecosystem's own variable is derived from it
    when the cluster has not set it itself.
    """
    lines = ["#!/bin/bash", f"# suanli job {spec.job_id} attempt {spec.attempt}"]
    lines += visible_devices_exports(spec.visible_devices_var, spec.accelerators, derive_visible_from)
    if workdir is not None:
        q = shlex.quote(workdir)
        lines += [f"mkdir -p {q} && cd {q} || exit 111"]
    if embed_files:
        for name, content in job_files(spec).items():
            q = shlex.quote(name)
            if "/" in name:
                lines.append(f"mkdir -p {shlex.quote(name.rsplit('/', 1)[0])}")
            encoded = base64.b64encode(content.encode()).decode()
            wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
            lines += [f"base64 -d > {q} <<'SUANLI_EOF'", wrapped, "SUANLI_EOF"]
    if spec.script is not None:
        lines.append(f"chmod +x {USER_SCRIPT}")
        if spec.script.startswith("#!"):
            lines.append(f"exec ./{USER_SCRIPT}")
        else:
            lines.append(f"exec /bin/bash ./{USER_SCRIPT}")
    else:
        assert spec.command is not None
        lines.append(spec.command)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- registry

Factory = Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], Backend]
_REGISTRY: dict[str, Factory] = {}


def register(kind: str, factory: Factory) -> None:
    """Make ``kind`` creatable: ``factory(endpoint, credentials, options)`` returns a :class:`Backend`."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
        raise ValueError(f"backend kind {kind!r} must be lowercase letters, digits, '_' or '-'")
    _REGISTRY[kind] = factory


def kinds() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def create(kind: str, endpoint: str, credentials: Mapping[str, Any] | None = None,
           options: Mapping[str, Any] | None = None) -> Backend:
    try:
        factory = _REGISTRY[kind]
    except KeyError:
        raise BackendError(f"unknown backend kind {kind!r}; known kinds: {', '.join(kinds()) or '(none)'}",
                           kind=kind) from None
    return factory(endpoint, credentials, options)


def options_factory(cls: type, *, credentials: Callable[[Mapping[str, Any] | None], dict[str, Any]],
                    credential_names: tuple[str, ...] = ()) -> Factory:
    """A registry factory for ``cls(endpoint, **credentials(creds), **options)`` that rejects unknown options
    by listing the valid ones (the constructor's keyword-only parameters that are not credentials)."""
    params = inspect.signature(cls).parameters
    valid = sorted(name for name, p in params.items()
                   if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in credential_names)

    def factory(endpoint: str, creds: Mapping[str, Any] | None, options: Mapping[str, Any] | None) -> Backend:
        cred_kwargs = credentials(creds)
        allowed = valid
        unknown = sorted(set(options or {}) - set(allowed))
        if unknown:
            raise BackendError(f"unknown option(s) {', '.join(unknown)} for the {cls.kind} backend; "
                               f"valid options: {', '.join(allowed) or '(none)'}", kind=cls.kind)
        return cls(endpoint, **cred_kwargs, **dict(options or {}))

    return factory
