"""Jobs use cases: clusters of data centers, submitting, reading, cancelling jobs. No HTTP here; callers commit.

What happens as time passes (placing, polling, settling, failover, health checks) is in ``jobs.scheduler``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli import backends
from suanli.backends import outbound
from suanli.accounts.models import Role, User
from suanli.accounts.service import organizations_named
from suanli.catalog.models import Datacenter, DatacenterStatus, Product
from suanli.catalog.service import managed_datacenter
from suanli.config import CLUSTER_ALLOWED_NETWORKS
from suanli.core.billing import Clock
from suanli.core.chips import resolve_chip
from suanli.core.messages import msg
from suanli.db import contains_word, is_id, search_words
from suanli.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.jobs.credentials import UnreadableCredentials
from suanli.jobs.models import (ACTIVE_STATES, WAITING_STATES, Cluster, ClusterKind, ClusterState, Job, JobState,
                                detail_values)
from suanli.jobs.schemas import ClusterIn, ClusterOut, JobIn

log = logging.getLogger("suanli.jobs")


# ---------------------------------------------------------------- clusters

def make_backend(cluster: Cluster) -> backends.Backend:
    """The cluster's backend, with its credentials decrypted (``BackendError`` when they cannot be, or when the
    cluster was deleted). Making it contacts nothing: every request it sends is checked then (``backends.outbound``)."""
    if cluster.state is ClusterState.DELETED:
        raise backends.BackendError("the cluster was deleted", kind=cluster.kind.value, reason="cluster deleted")
    if isinstance(cluster.credentials, UnreadableCredentials):
        raise backends.BackendError("the cluster's credentials cannot be decrypted with this platform's key "
                                    "(SUANLI_SECRET_KEY or $SUANLI_HOME/secret.key); set the key they were stored "
                                    "with, or register the cluster again", kind=cluster.kind.value)
    return backends.create(cluster.kind.value, cluster.endpoint, cluster.credentials or None, cluster.options or {})


def _check_endpoint(kind: ClusterKind, endpoint: str) -> None:
    """A remote cluster's endpoint must be one the platform may send requests to (``backends.outbound``): 422
    ``endpoint_not_allowed`` saying what is allowed and how an operator allows a network."""
    if kind is ClusterKind.LOCAL:
        return
    try:
        outbound.check_endpoint(endpoint, kind=kind.value)
    except outbound.EndpointNotAllowed as exc:
        raise InvalidInput(
            f"The cluster's endpoint is not allowed: {exc.message}. Give the address where the platform reaches "
            "your cluster over the Internet, or ask the platform's operator to allow your cluster's network.",
            code="endpoint_not_allowed",
            details={"field": "endpoint", "allowed": "public (globally routable) addresses, and the networks in "
                                                     f"{CLUSTER_ALLOWED_NETWORKS}",
                     "setting": CLUSTER_ALLOWED_NETWORKS}) from None
    except backends.BackendError as exc:
        raise InvalidInput(f"The cluster's endpoint cannot be used: {exc.message}.", code="invalid_cluster",
                           details={"field": "endpoint"}) from None


NOT_CHECKED_UNTIL_APPROVED = "not checked until an operator approves the data center"
HOST_PATH_OPTIONS = ("shared_dir",)
"""Cluster options that name a path on the platform's own machine: operators only (a seller could otherwise make
the platform write into, or read logs from, any directory of its machine)."""


def register_cluster(session: Session, user: User, datacenter_id: uuid.UUID, body: ClusterIn,
                     now: dt.datetime) -> Cluster:
    """Register a cluster of a data center the user manages; its credentials and options are checked by the
    backend registry (unknown kinds, options or credential fields are 422), never echoed. ``local`` clusters run
    on the platform's own machine, and ``HOST_PATH_OPTIONS`` name its directories: operators only (403
    ``local_cluster_operator_only``, ``host_path_operator_only``). Other endpoints must be addresses the platform
    may reach (422 ``endpoint_not_allowed``)."""
    datacenter = managed_datacenter(session, datacenter_id, user)
    if body.kind is ClusterKind.LOCAL and user.role is not Role.OPERATOR:
        raise Forbidden("A local cluster runs jobs on the platform's own machine, so only an operator may register "
                        "one. Register your Slurm or Ray cluster by its URL instead.",
                        code="local_cluster_operator_only")
    host_paths = sorted(set(body.options) & set(HOST_PATH_OPTIONS))
    if host_paths and user.role is not Role.OPERATOR:
        raise Forbidden(f"The option {host_paths[0]} names a directory on the platform's own machine (the platform "
                        "writes job files there and reads their logs from it), so only an operator may set it. "
                        "Register the cluster without it, or ask the operator to register a cluster that shares a "
                        "directory with the platform.", code="host_path_operator_only",
                        details={"field": f"options.{host_paths[0]}"})
    if session.scalar(select(Cluster.id).where(Cluster.datacenter_id == datacenter.id, Cluster.name == body.name)):
        raise Conflict(f"This data center has a cluster named {body.name!r} already.", code="cluster_exists")
    try:
        make_backend(Cluster(kind=body.kind, endpoint=body.endpoint, credentials=body.credentials or {},
                             options=body.options)).close()
    except backends.BackendError as exc:
        raise InvalidInput(f"The cluster cannot be used: {exc.message}", code="invalid_cluster") from None
    _check_endpoint(body.kind, body.endpoint)
    approved = datacenter.status is DatacenterStatus.APPROVED
    cluster = Cluster(datacenter_id=datacenter.id, name=body.name, kind=body.kind, endpoint=body.endpoint,
                      credentials=dict(body.credentials or {}), options=dict(body.options), healthy=True,
                      health_detail="not checked yet" if approved else NOT_CHECKED_UNTIL_APPROVED,
                      consecutive_failures=0, created_at=now, state=ClusterState.ACTIVE)
    session.add(cluster)
    session.flush()
    if body.product_ids:
        map_products(session, cluster, body.product_ids)
    audit.record(session, user, "cluster.registered", f"cluster:{cluster.id}",  # credentials never
                 {"datacenter_id": datacenter.id, "name": body.name, "kind": body.kind, "endpoint": body.endpoint,
                  "product_ids": body.product_ids or []})
    return cluster


def map_products(session: Session, cluster: Cluster, product_ids: list[uuid.UUID]) -> None:
    """Put the capacity of these products (of the cluster's data center) on ``cluster``."""
    wanted = set(product_ids)
    found = set(session.scalars(select(Product.id).where(Product.id.in_(wanted),
                                                         Product.datacenter_id == cluster.datacenter_id)))
    missing = wanted - found
    if missing:
        raise InvalidInput("These products are not products of the cluster's data center: "
                           + ", ".join(sorted(map(str, missing))), code="product_not_in_datacenter",
                           details={"product_ids": sorted(map(str, missing))})
    session.execute(update(Product).where(Product.id.in_(wanted)).values(cluster_id=cluster.id)
                    .execution_options(synchronize_session=False))


def cluster_of(session: Session, user: User, datacenter_id: uuid.UUID, cluster_id: uuid.UUID) -> Cluster:
    managed_datacenter(session, datacenter_id, user)
    cluster = session.get(Cluster, cluster_id)
    if cluster is None or cluster.datacenter_id != datacenter_id or cluster.state is ClusterState.DELETED:
        raise NotFound(f"This data center has no cluster {cluster_id}.", code="cluster_not_found")
    return cluster


def list_clusters(session: Session, user: User, datacenter_id: uuid.UUID) -> list[Cluster]:
    managed_datacenter(session, datacenter_id, user)
    return list(session.scalars(select(Cluster).where(Cluster.datacenter_id == datacenter_id,
                                                      Cluster.state != ClusterState.DELETED)
                                .order_by(Cluster.created_at, Cluster.id)))


def cluster_out(session: Session, cluster: Cluster) -> ClusterOut:
    products = list(session.scalars(select(Product.id).where(Product.cluster_id == cluster.id).order_by(Product.id)))
    return ClusterOut(id=cluster.id, datacenter_id=cluster.datacenter_id, name=cluster.name, kind=cluster.kind,
                      endpoint=cluster.endpoint, options=dict(cluster.options or {}),
                      has_credentials=bool(cluster.credentials), healthy=cluster.healthy,
                      health_detail=cluster.health_detail, checked_at=cluster.checked_at,
                      consecutive_failures=cluster.consecutive_failures, product_ids=products,
                      created_at=cluster.created_at, state=cluster.state, deleted_at=cluster.deleted_at)


# ---------------------------------------------------------------- jobs

def _normalize_province(name: str) -> str:
    name = name.strip()
    for suffix in ("省", "市"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _pinned_products(session: Session, wanted: list[uuid.UUID]) -> list[str]:
    """The job's ``constraints.products``, deduplicated and sorted; each must be a listed product with a cluster
    behind it, else a 422 (``product_not_found``, ``product_not_schedulable``): such a job could never run."""
    ids = sorted(set(wanted))
    if not ids:
        return []
    rows = dict(session.execute(select(Product.id, Product.cluster_id)
                                .where(Product.id.in_(ids), Product.is_visible.is_(True))).all())
    missing = [str(p) for p in ids if p not in rows]
    if missing:
        raise InvalidInput("constraints.products: there is no listed product " + ", ".join(missing) + ".",
                           code="product_not_found", details={"field": "constraints.products", "product_ids": missing})
    idle = [str(p) for p in ids if rows[p] is None]
    if idle:
        raise InvalidInput("constraints.products: " + ", ".join(idle) + " can be ordered but runs no jobs (no "
                           "cluster behind the product); choose another product.", code="product_not_schedulable",
                           details={"field": "constraints.products", "product_ids": idle})
    return [str(p) for p in ids]


def submit_job(session: Session, clock: Clock, user: User, body: JobIn) -> Job:
    if user.role is not Role.BUYER:
        raise Forbidden("Only buyer accounts submit jobs (they are billed to the buyer's wallet).",
                        code="wrong_role", details={"required_roles": [Role.BUYER.value]})
    resources, constraints = body.resources, body.constraints
    chip_key = None
    if resources.chip is not None:
        chip = resolve_chip(resources.chip)
        if chip is None:
            raise InvalidInput(f"There is no chip {resources.chip!r} in the chip table.", code="unknown_chip",
                               details={"field": "resources.chip"})
        chip_key = chip.key
    ecosystems = sorted({e.strip().lower() for e in [*constraints.ecosystems,
                                                      *([resources.ecosystem] if resources.ecosystem else [])]})
    unknown = [e for e in ecosystems if e not in backends.VISIBLE_DEVICES_ENV]
    if unknown:
        raise InvalidInput(f"Unknown ecosystem(s) {', '.join(unknown)}; known: "
                           f"{', '.join(backends.VISIBLE_DEVICES_ENV)}.", code="unknown_ecosystem",
                           details={"valid_values": list(backends.VISIBLE_DEVICES_ENV)})
    if resources.accelerators == 0 and resources.vcpus == 0 and resources.memory_gib == 0:
        raise InvalidInput("A job must ask for accelerators, vCPUs or memory.", code="no_resources",
                           details={"field": "resources"})
    if body.mode.value == "spot" and body.bid_hourly_fen is None:
        raise InvalidInput("A spot job needs bid_hourly_fen: the most the whole job pays per hour.",
                           code="bid_required", details={"field": "bid_hourly_fen"})
    if body.mode.value != "spot" and body.bid_hourly_fen is not None:
        raise InvalidInput("bid_hourly_fen applies to spot jobs only.", code="bid_not_applicable",
                           details={"field": "bid_hourly_fen"})
    product_ids = _pinned_products(session, constraints.products)
    try:  # the backend rules for names, env and files, checked before the job is queued
        backends.JobSpec(job_id="check", name=body.name, command=body.command, script=body.script, env=body.env,
                         files=body.files)
    except backends.InvalidJobSpec as exc:
        raise InvalidInput(f"The job cannot run: {exc.message}", code="invalid_job") from None
    now = clock.now()
    job = Job(buyer_org_id=user.organization_id, buyer_user_id=user.id, name=body.name, command=body.command,
              script=body.script, env=dict(body.env), files=dict(body.files), accelerators=resources.accelerators,
              chip_key=chip_key, ecosystems=ecosystems, min_accel_memory_gib=resources.min_accel_memory_gib,
              min_fp16_tflops=resources.min_fp16_tflops, vcpus=resources.vcpus, memory_gib=resources.memory_gib,
              provinces=sorted({_normalize_province(p) for p in constraints.provinces}),
              datacenter_ids=sorted({str(d) for d in constraints.datacenters}),
              product_ids=product_ids,
              max_hourly_price_fen=constraints.max_hourly_price_fen, objective=body.objective, mode=body.mode,
              bid_hourly_fen=body.bid_hourly_fen, max_runtime_minutes=body.max_runtime_minutes,
              held_capacity=constraints.held_capacity.value, state=JobState.QUEUED, **detail_values(msg("waiting for the scheduler")), attempt=0, attempts=[],
              order_ids=[], cancel_requested=False, submitted_at=now,
              seq=int(now.timestamp() * 1_000_000))
    _refuse_if_never_fits(session, job)
    session.add(job)
    session.flush()
    return job


def _refuse_if_never_fits(session: Session, job: Job) -> None:
    """A job asking more accelerators than any one cluster of any data center holds, even with every unit free,
    could never run (a gang stays on one cluster of one data center): 422 ``job_too_large`` at once instead of a
    job that waits for ever. A job no product matches at all (chip, region...) is queued and explained instead:
    sellers may list one."""
    from suanli.jobs.placing import job_request, load_offers
    from suanli.scheduling.gang import never_fits

    if not job.accelerators:
        return
    per_cluster = (select(func.sum(Product.stock_units * Product.accelerators).label("held"))
                   .join(Cluster, Cluster.id == Product.cluster_id)
                   .join(Datacenter, Datacenter.id == Product.datacenter_id)
                   .where(Product.is_visible.is_(True), Cluster.state == ClusterState.ACTIVE,
                          Datacenter.status == DatacenterStatus.APPROVED)
                   .group_by(Product.cluster_id))
    if job.chip_key is not None:
        per_cluster = per_cluster.where(Product.chip_key == job.chip_key)
    largest = session.scalar(select(func.max(per_cluster.subquery().c.held)))
    if largest is None or largest >= job.accelerators:
        return  # no product of its chip yet (queued and explained), or a cluster large enough: the round decides
    too_large = never_fits(job_request(job, job.submitted_at), load_offers(session))  # no attempts yet
    if too_large is not None:
        largest, datacenter = too_large
        raise InvalidInput(f"No data center can run {job.accelerators} accelerators for this job at once: the most "
                           f"one cluster holds is {largest} (in {datacenter}). A job runs on the servers of one "
                           "cluster of one data center; ask for fewer accelerators or split the work.",
                           code="job_too_large", details={"field": "resources.accelerators",
                                                          "largest_accelerators": largest,
                                                          "datacenter": datacenter})


def _visible_jobs(user: User):
    query = select(Job)
    if user.role is Role.OPERATOR:
        return query
    if user.role is Role.BUYER:
        return query.where(Job.buyer_org_id == user.organization_id)
    # sellers see the jobs placed in their data centers
    return query.where(Job.datacenter_id.in_(select(Datacenter.id)
                                             .where(Datacenter.owner_org_id == user.organization_id)))


JOB_SORTS: dict[str, tuple[Any, ...]] = {
    "-submitted": (Job.submitted_at.desc(), Job.id.desc()), "submitted": (Job.submitted_at, Job.id),
    "name": (Job.name, Job.id),
}


def list_jobs(session: Session, user: User, *, state: JobState | None = None, text: str | None = None,
              sort: str = "-submitted", limit: int = 50, offset: int = 0) -> tuple[list[Job], int]:
    """A page of the jobs ``user`` may see, newest first (or by ``sort``); ``text``: words each of which is in the
    job's name or its buyer organization's name, or is the job's id."""
    query = _visible_jobs(user)
    if state is not None:
        query = query.where(Job.state == state)
    for word in search_words(text):
        query = query.where(or_(contains_word(Job.name, word), Job.buyer_org_id.in_(organizations_named(word)),
                                *is_id(Job.id, word)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = list(session.scalars(query.order_by(*JOB_SORTS[sort]).limit(limit).offset(offset)))
    return jobs, int(total)


def get_job(session: Session, user: User, job_id: uuid.UUID) -> Job:
    job = session.scalar(_visible_jobs(user).where(Job.id == job_id))
    if job is None:
        raise NotFound(f"You have no job {job_id}.", code="job_not_found")
    return job


def is_owner(user: User, job: Job) -> bool:
    """Whether ``user`` belongs to the buyer organization that submitted the job."""
    return user.role is Role.BUYER and user.organization_id == job.buyer_org_id


def job_logs(session: Session, user: User, job_id: uuid.UUID, tail: int | None = None) -> tuple[Job, str]:
    """The job's output, for its buyer only (a job may print what its environment carries)."""
    job = get_job(session, user, job_id)
    if not is_owner(user, job):
        raise Forbidden("Only the buyer who submitted a job reads its logs.", code="logs_owner_only")
    if job.backend_job_id is None or job.cluster_id is None:
        return job, ""
    cluster = session.get_one(Cluster, job.cluster_id)
    backend = make_backend(cluster)
    try:
        return job, backend.logs(job.backend_job_id, tail=tail)
    except backends.BackendError as exc:
        raise Conflict(f"The job's logs cannot be read from its cluster now: {exc.message}",
                       code="logs_unavailable") from None
    finally:
        backend.close()


def cancel_job(session: Session, clock: Clock, user: User, job_id: uuid.UUID) -> Job:
    """Cancel a job: a waiting one at once; a placed one is stopped on its cluster and its order released (the
    seconds it ran are charged, the rest of the hold is released). A finished job is 409."""
    from suanli.jobs.scheduler import end_placed_job

    job = get_job(session, user, job_id)
    if user.role is Role.SELLER:
        raise NotFound(f"You have no job {job_id}.", code="job_not_found")
    now = clock.now()
    result = session.execute(update(Job).where(Job.id == job.id, Job.state.in_(WAITING_STATES))
                             .values(state=JobState.CANCELLED, ended_at=now,
                                     **detail_values(msg("cancelled before it was placed")))
                             .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        session.refresh(job)
        return job
    if job.state in ACTIVE_STATES:
        if end_placed_job(session, clock, job, JobState.CANCELLED, msg("cancelled by the buyer"), cancel_backend=True):
            session.refresh(job)
            return job
    session.refresh(job)
    raise Conflict(f"Job {job.id} is {job.state.value}; only queued, scheduled or running jobs can be cancelled.",
                   code="job_not_cancellable", details={"state": job.state.value})


HIDDEN = "(hidden)"
"""What other accounts see instead of a job's command, script and environment values."""


def _placement_names(session: Session, jobs: list[Job]) -> dict[uuid.UUID, tuple[str, str, ClusterKind]]:
    """(data center name, product name, cluster kind) of every placed job, in one query for the lot."""
    placed = [j.id for j in jobs if j.product_id is not None and j.cluster_id is not None
              and j.datacenter_id is not None]
    if not placed:
        return {}
    rows = session.execute(
        select(Job.id, Datacenter.name, Product.name, Cluster.kind)
        .join(Datacenter, Datacenter.id == Job.datacenter_id).join(Product, Product.id == Job.product_id)
        .join(Cluster, Cluster.id == Job.cluster_id).where(Job.id.in_(placed)))
    return {job_id: (dc_name, product_name, kind) for job_id, dc_name, product_name, kind in rows}


def jobs_out(session: Session, jobs: list[Job], *, viewer: User) -> list[dict[str, Any]]:
    """Several jobs as ``viewer`` may see them (see `job_out`), their placements' names read in one query."""
    names = _placement_names(session, jobs)
    return [_job_out(job, names.get(job.id), viewer) for job in jobs]


def job_out(session: Session, job: Job, *, viewer: User) -> dict[str, Any]:
    """The job as ``viewer`` may see it. Its command, script and environment values may carry secrets: only its
    buyer sees them; for anyone else (the seller whose data center runs it, an operator) they are replaced
    (``redacted`` true; environment keys stay). Every caller names the viewer, so no page shows them by default."""
    return jobs_out(session, [job], viewer=viewer)[0]


def _job_out(job: Job, names: tuple[str, str, ClusterKind] | None, viewer: User) -> dict[str, Any]:
    redacted = not is_owner(viewer, job)
    placement = None
    if names is not None:
        dc_name, product_name, kind = names
        placement = {"datacenter_id": job.datacenter_id, "datacenter_name": dc_name, "product_id": job.product_id,
                     "product_name": product_name, "cluster_id": job.cluster_id,
                     "backend": kind.value, "units": job.units or 0,
                     "hourly_price_fen": job.hourly_price_fen or 0, "reason": job.placement_reason or "",
                     "reason_message": job.placement_reason_message, "parts": job.placement_parts or [],
                     "held": job.held_kind}
    unplaceable = None if job.unplaceable is None else {"reason_message": None, **job.unplaceable}
    return {
        "id": job.id, "name": job.name, "state": job.state, "state_detail": job.state_detail,
        "state_detail_message": job.state_detail_message,
        "command": HIDDEN if redacted and job.command is not None else job.command,
        "script": HIDDEN if redacted and job.script is not None else job.script,
        "env": {k: HIDDEN for k in job.env or {}} if redacted else job.env or {}, "redacted": redacted,
        "files": sorted(job.files or {}),
        "resources": {"accelerators": job.accelerators, "chip": job.chip_key, "ecosystems": job.ecosystems,
                      "min_accel_memory_gib": job.min_accel_memory_gib, "min_fp16_tflops": job.min_fp16_tflops,
                      "vcpus": job.vcpus, "memory_gib": job.memory_gib},
        "constraints": {"provinces": job.provinces, "datacenters": job.datacenter_ids,
                        "products": job.product_ids or [], "max_hourly_price_fen": job.max_hourly_price_fen,
                        "held_capacity": job.held_capacity},
        "objective": job.objective, "mode": job.mode, "bid_hourly_fen": job.bid_hourly_fen,
        "max_runtime_minutes": job.max_runtime_minutes, "placement": placement, "attempt": job.attempt,
        "attempts": [{"n": n, "reason_message": None, **a} for n, a in enumerate(job.attempts or [], 1)],
        "unplaceable": unplaceable,
        "order_id": job.order_id, "order_ids": job.order_ids or [], "backend_job_id": job.backend_job_id,
        "exit_code": job.exit_code, "submitted_at": job.submitted_at, "scheduled_at": job.scheduled_at,
        "started_at": job.started_at, "ended_at": job.ended_at,
    }
