"""Wire models of clusters and jobs. Credentials go in, never out (``has_credentials``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from suanli.jobs.models import ClusterKind, ClusterState, HeldCapacity, JobMode, JobObjective, JobState

MessageJson = dict[str, Any] | list[Any] | str | None
"""A sentence in translatable form (suanli.core.messages.to_json): ``{"msg": English template with %(name)s
placeholders, "args": {name: value}}`` where a value is text, a number, or such a message itself; a list is clauses
(joined with "; " in English). The template is the msgid of the web catalogs (docs/scheduling.md)."""


def _message_field(of: str) -> Any:
    return Field(default=None, description=f"{of}, translatable: {{msg, args}} or a list of them (clauses); null "
                                           "for records written before messages were stored.")


class ClusterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: ClusterKind
    endpoint: str = Field(min_length=1, max_length=500, description="local: a base directory; slurm: slurmrestd's "
                                                                     "URL; ray: the dashboard URL.")
    credentials: dict[str, str] | None = Field(default=None, description="slurm: {user, token}; ray: {token} "
                                                                           "(optional). Never shown back.")
    options: dict[str, Any] = Field(default_factory=dict, description="Backend options (see docs/backends.md).")
    product_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000,
                                         description="Products of this data center whose capacity is on it.")


class ClusterProductsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class ClusterOut(BaseModel):
    id: uuid.UUID
    datacenter_id: uuid.UUID
    name: str
    kind: ClusterKind
    endpoint: str
    options: dict[str, Any]
    has_credentials: bool
    healthy: bool
    health_detail: str = Field(description="The last health check: a status and a short fixed reason (never the "
                                           "cluster's own answer).")
    checked_at: dt.datetime | None
    consecutive_failures: int
    product_ids: list[uuid.UUID]
    created_at: dt.datetime
    state: ClusterState = Field(description="active; disabled (no new jobs or instances); draining (deletion "
                                            "asked, waits for the work on it to end); deleted.")
    deleted_at: dt.datetime | None = None


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accelerators: StrictInt = Field(default=0, ge=0, le=4096)
    chip: str | None = Field(default=None, max_length=60, description="A chip model, e.g. A800, 910B.")
    ecosystem: str | None = Field(default=None, max_length=20, description="cuda, cann, dtk, neuware, xpu, musa.")
    min_accel_memory_gib: StrictInt = Field(default=0, ge=0, le=10_000)
    min_fp16_tflops: float = Field(default=0.0, ge=0, le=1_000_000)
    vcpus: StrictInt = Field(default=0, ge=0, le=100_000)
    memory_gib: StrictInt = Field(default=0, ge=0, le=1_000_000)


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provinces: list[str] = Field(default_factory=list, max_length=50)
    datacenters: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    products: list[uuid.UUID] = Field(default_factory=list, max_length=20,
                                      description="Run only on these products (ids; duplicates are ignored); "
                                                  "empty: any product that fits.")
    ecosystems: list[str] = Field(default_factory=list, max_length=10)
    max_hourly_price_fen: StrictInt | None = Field(default=None, ge=0, le=10_000_000_000,
                                             description="The most the whole job may cost per hour, fen.")
    held_capacity: HeldCapacity = Field(
        default=HeldCapacity.PREFER, description="Capacity you already hold (your active reserved leases of batch "
        "capacity; an emergency's capacity you pay for): prefer (run there at no further charge when it has room "
        "now, else on the market), only (wait for it; never order on the market), never (always the market).")


MAX_ENV_ENTRIES = 200
MAX_ENV_VALUE_CHARS = 32 * 1024
MAX_FILES = 100
MAX_FILES_BYTES = 512 * 1024  # all working files together, UTF-8 (under SUANLI_MAX_BODY_BYTES)
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    command: str | None = Field(default=None, max_length=100_000, description="A bash command line.")
    script: str | None = Field(default=None, max_length=1_000_000, description="A whole script (its #! line runs it).")
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=MAX_ENV_VALUE_CHARS)]] = Field(
        default_factory=dict, max_length=MAX_ENV_ENTRIES,
        description=f"Environment variables: at most {MAX_ENV_ENTRIES}, values up to {MAX_ENV_VALUE_CHARS} characters.")
    files: dict[FileName, str] = Field(default_factory=dict, max_length=MAX_FILES,
                                       description=f"Working files: name → text; at most {MAX_FILES} files and "
                                                   f"{MAX_FILES_BYTES} bytes (UTF-8) in all.")
    resources: Resources
    constraints: Constraints = Field(default_factory=Constraints)
    objective: JobObjective = JobObjective.COST
    mode: JobMode = JobMode.ON_DEMAND
    bid_hourly_fen: StrictInt | None = Field(default=None, gt=0, le=10_000_000_000,
                                       description="Spot only: the most the whole job pays per hour, fen.")
    max_runtime_minutes: StrictInt = Field(gt=0, le=60 * 24 * 30)

    @model_validator(mode="after")
    def _one_of(self) -> JobIn:
        if (self.command is None) == (self.script is None):
            raise ValueError("give exactly one of command or script")
        if not (self.command or self.script or "").strip():
            raise ValueError("the command or script is empty")
        size = sum(len(name.encode()) + len(text.encode()) for name, text in self.files.items())
        if size > MAX_FILES_BYTES:
            raise ValueError(f"the working files hold {size} bytes; at most {MAX_FILES_BYTES} are accepted: fetch "
                             "large inputs from storage in the command instead")
        return self


class AttemptOut(BaseModel):
    n: int
    offer_id: str
    product_id: str
    datacenter_id: str
    cluster_id: str
    reason: str
    reason_message: MessageJson = _message_field("reason")
    at: dt.datetime
    cluster_failed: bool
    blocks: bool = Field(description="Whether this attempt keeps the job off that offer (or cluster).")
    kind: Literal["submit_failed", "lost", "preempted", "placement_failed"]


class PlacementPart(BaseModel):
    product_id: uuid.UUID
    units: int
    order_id: uuid.UUID


class PlacementOut(BaseModel):
    datacenter_id: uuid.UUID
    datacenter_name: str | None
    product_id: uuid.UUID
    product_name: str | None
    cluster_id: uuid.UUID
    backend: str | None
    units: int
    hourly_price_fen: int
    reason: str
    reason_message: MessageJson = _message_field("reason")
    held: str | None = Field(default=None, description="The placement runs on capacity you hold, not an order of "
                             "its own: lease (your reserved lease), loan (units lent to your emergency), emergency "
                             "(your emergency's order); null otherwise. order_id is that order.")
    parts: list[PlacementPart] = Field(default_factory=list, description="A gang across products: the units and "
                                       "the order of each product (empty: the placement is one product's units).")


class JobOut(BaseModel):
    id: uuid.UUID
    name: str
    state: JobState
    state_detail: str
    state_detail_message: MessageJson = _message_field("state_detail")
    command: str | None = Field(description="The command line; \"(hidden)\" for anyone but the job's buyer.")
    script: str | None = Field(description="The script; \"(hidden)\" for anyone but the job's buyer.")
    env: dict[str, str] = Field(description="Environment variables; for anyone but the job's buyer the values "
                                            "are \"(hidden)\".")
    redacted: bool = Field(default=False, description="True when the command, script and environment values are "
                                                      "hidden because the caller is not the job's buyer.")
    files: list[str] = Field(description="Names of the working files.")
    resources: dict[str, Any]
    constraints: dict[str, Any]
    objective: JobObjective
    mode: JobMode
    bid_hourly_fen: int | None
    max_runtime_minutes: int
    placement: PlacementOut | None
    attempt: int
    attempts: list[AttemptOut]
    unplaceable: dict[str, Any] | None = Field(description="Why the job could not be placed in the last round: "
                                                           "offers eliminated per constraint, and a message "
                                                           "(``message``; translatable: ``reason_message``).")
    order_id: uuid.UUID | None
    order_ids: list[uuid.UUID]
    backend_job_id: str | None
    exit_code: int | None
    submitted_at: dt.datetime
    scheduled_at: dt.datetime | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class JobLogs(BaseModel):
    job_id: uuid.UUID
    backend_job_id: str | None
    logs: str
