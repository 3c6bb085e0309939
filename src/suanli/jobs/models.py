"""Jobs tables: the clusters behind data centers' products, and the jobs placed on them.

``clusters.credentials`` is stored for the scheduler to reach the cluster, encrypted (``jobs.credentials``); it is
never serialized out (the API shows ``has_credentials``). ``products.cluster_id`` (in ``catalog.models``) says which
cluster a product's capacity is on. ``stray_runs`` are runs left on a cluster after their job moved on.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (JSON, CheckConstraint, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        func)
from sqlalchemy.orm import Mapped, mapped_column

from suanli.core import messages
from suanli.db import Base, utcnow
from suanli.jobs.credentials import EncryptedJSON
from suanli.ids import new_id


def _enum(cls: type[enum.Enum], name: str, length: int = 16) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class ClusterKind(enum.StrEnum):
    LOCAL = "local"
    SLURM = "slurm"
    RAY = "ray"


class ClusterState(enum.StrEnum):
    """``active``: takes work. ``disabled`` (by its seller): takes no new jobs or instances, finishes what runs.
    ``draining``: deletion asked while work runs there; no new work, deleted by the scheduler once it ended.
    ``deleted``: gone (the row stays for the jobs that ran there), no credentials, no products, never contacted."""

    ACTIVE = "active"
    DISABLED = "disabled"
    DRAINING = "draining"
    DELETED = "deleted"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"  # a spot job whose capacity went to on-demand work; requeued by the next round

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


WAITING_STATES = (JobState.QUEUED, JobState.PREEMPTED)
ACTIVE_STATES = (JobState.SCHEDULED, JobState.RUNNING)


class JobMode(enum.StrEnum):
    ON_DEMAND = "on_demand"
    SPOT = "spot"


class JobObjective(enum.StrEnum):
    COST = "cost"
    TIME = "time"


class HeldCapacity(enum.StrEnum):
    """Whether a job runs on capacity its buyer already holds (``suanli.jobs.held``): reserved leases, an
    emergency's orders and the units reserved holders lent it."""

    PREFER = "prefer"  # held capacity when it has room now, else the market
    ONLY = "only"  # wait for held capacity; never place an order on the market
    NEVER = "never"  # always the market (keep the held capacity for something else)


class Cluster(Base):
    """A cluster of a data center: where its products' capacity runs jobs."""

    __tablename__ = "clusters"
    __table_args__ = (UniqueConstraint("datacenter_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[ClusterKind] = mapped_column(_enum(ClusterKind, "cluster_kind"))
    endpoint: Mapped[str] = mapped_column(String(500))
    credentials: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    healthy: Mapped[bool] = mapped_column(default=True)
    health_detail: Mapped[str] = mapped_column(String(500), default="")
    checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[ClusterState] = mapped_column(_enum(ClusterState, "cluster_state"), default=ClusterState.ACTIVE,
                                                server_default=ClusterState.ACTIVE.value)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Job(Base):
    """A buyer's job: what to run, what it needs, where it may run; then where it ran and how it ended."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("max_runtime_minutes > 0", name="runtime_positive"),
        Index("ix_jobs_state_submitted", "state", "submitted_at"),
        Index("ix_jobs_org_submitted", "buyer_org_id", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(default=0, doc="Submission order (microseconds since the epoch).")
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    buyer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    command: Mapped[str | None] = mapped_column(Text)
    script: Mapped[str | None] = mapped_column(Text)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # resources
    accelerators: Mapped[int] = mapped_column(Integer, default=0)
    chip_key: Mapped[str | None] = mapped_column(String(40))
    ecosystems: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_accel_memory_gib: Mapped[int] = mapped_column(Integer, default=0)
    min_fp16_tflops: Mapped[float] = mapped_column(Float, default=0.0)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_gib: Mapped[int] = mapped_column(Integer, default=0)
    # constraints
    provinces: Mapped[list[str]] = mapped_column(JSON, default=list)
    datacenter_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    product_ids: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]",
                                                   doc="Products the job is pinned to (empty: any).")
    max_hourly_price_fen: Mapped[int | None] = mapped_column(default=None)
    objective: Mapped[JobObjective] = mapped_column(_enum(JobObjective, "job_objective"))
    mode: Mapped[JobMode] = mapped_column(_enum(JobMode, "job_mode"))
    bid_hourly_fen: Mapped[int | None] = mapped_column(default=None)
    max_runtime_minutes: Mapped[int] = mapped_column(Integer)
    held_capacity: Mapped[str] = mapped_column(String(10), default=HeldCapacity.PREFER.value,
                                               server_default=HeldCapacity.PREFER.value,
                                               doc="prefer, only or never: see HeldCapacity.")
    # lifecycle
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"))
    state_detail: Mapped[str] = mapped_column(String(2000), default="")
    state_detail_message: Mapped[Any] = mapped_column(JSON, nullable=True, default=None,
                                                      doc="state_detail, translatable (messages.to_json).")
    attempt: Mapped[int] = mapped_column(Integer, default=0, doc="Placements so far (the backend run is <id>.<n>).")
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    unplaceable: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # placement (the current or last one)
    datacenter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("datacenters.id"), default=None)
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id"), default=None)
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clusters.id"), default=None)
    units: Mapped[int | None] = mapped_column(default=None)
    hourly_price_fen: Mapped[int | None] = mapped_column(default=None)
    placement_reason: Mapped[str | None] = mapped_column(String(2000), default=None)
    placement_reason_message: Mapped[Any] = mapped_column(JSON, nullable=True, default=None,
                                                          doc="placement_reason, translatable (messages.to_json).")
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), default=None)
    order_ids: Mapped[list[str]] = mapped_column(JSON, default=list, doc="Every order placed for the job.")
    held_kind: Mapped[str | None] = mapped_column(
        String(20), default=None, doc="The placement runs on held capacity (order_id is not the job's own order): "
                                      "lease, loan or emergency (suanli.jobs.held.HeldKind); null otherwise.")
    placement_parts: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default="[]",
        doc="A gang on several products: {product_id, units, order_id} per product, one order each (empty: the "
            "placement is one product's units and its order is order_id).")
    backend_job_id: Mapped[str | None] = mapped_column(String(200), default=None)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    submitted_at: Mapped[dt.datetime]
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def detail_values(detail: messages.Text) -> dict[str, Any]:
    """The values of a job's ``state_detail`` columns for ``detail``: the English text (what the API and the CLI
    show) and its translatable form (what the web pages show, :mod:`suanli.core.messages`)."""
    return {"state_detail": messages.render(detail)[:2000], "state_detail_message": messages.to_json(detail)}


def kind_word(kind: ClusterKind) -> messages.Message | str:
    """A cluster's kind inside an engine sentence: ``local`` as a word the pages translate (the platform's own
    sandbox), the others (slurm, ray: names) as they are."""
    return messages.msg("local") if kind is ClusterKind.LOCAL else kind.value


def end_values(state: JobState, detail: messages.Text, now: dt.datetime, exit_code: int | None) -> dict[str, Any]:
    """The values of a job that ends in ``state``. One that exited (an exit code) ran, whether a round saw it
    running or not (a short job can end between two rounds): it keeps its start, or gets the time it was handed to
    the cluster, so a page never shows a job that ran without a start time."""
    values = {"state": state, **detail_values(detail), "ended_at": now, "exit_code": exit_code}
    if exit_code is not None:
        values["started_at"] = func.coalesce(Job.started_at, Job.scheduled_at)
    return values


class StrayRun(Base):
    """A backend run of ours that may still be going on a cluster after its job moved on (the cluster was lost,
    or could not be reached to cancel it). When the cluster is healthy again, the scheduler stops it there, so a
    job never runs (and is never paid for) twice."""

    __tablename__ = "stray_runs"
    __table_args__ = (Index("ix_stray_runs_open", "resolved_at", "cluster_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    cluster_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clusters.id"))
    backend_job_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    recorded_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resolution: Mapped[str] = mapped_column(String(500), default="")
