"""Jobs HTTP endpoints: clusters of data centers, jobs, their logs, cancel, and the operator's scheduler round."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query as Q, Request

from suanli.core.billing import Clock
from suanli.db import Database
from suanli.http import CurrentUser, DbSession, OperatorUser, SellerOrOperator, chosen_sort, get_database
from suanli.jobs import clusters, scheduler, service
from suanli.jobs.models import JobState
from suanli.jobs.schemas import ClusterIn, ClusterOut, ClusterProductsIn, JobIn, JobLogs, JobOut, JobPage

router = APIRouter(prefix="/api/v1", tags=["jobs"])


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


AppClock = Annotated[Clock, Depends(get_clock)]


@router.post("/datacenters/{datacenter_id}/clusters", response_model=ClusterOut, status_code=201)
def register_cluster(datacenter_id: uuid.UUID, body: ClusterIn, user: SellerOrOperator, session: DbSession,
                     clock: AppClock) -> ClusterOut:
    """Register a cluster behind the data center's products (kind local, slurm or ray; endpoint; credentials,
    which are stored for the scheduler and never shown back) and, optionally, put products on it."""
    cluster = service.register_cluster(session, user, datacenter_id, body, clock.now())
    return service.cluster_out(session, cluster)


@router.get("/datacenters/{datacenter_id}/clusters", response_model=list[ClusterOut])
def list_clusters(datacenter_id: uuid.UUID, user: SellerOrOperator, session: DbSession) -> list[ClusterOut]:
    return [service.cluster_out(session, c) for c in service.list_clusters(session, user, datacenter_id)]


@router.get("/datacenters/{datacenter_id}/clusters/{cluster_id}", response_model=ClusterOut)
def get_cluster(datacenter_id: uuid.UUID, cluster_id: uuid.UUID, user: SellerOrOperator,
                session: DbSession) -> ClusterOut:
    return service.cluster_out(session, service.cluster_of(session, user, datacenter_id, cluster_id))


@router.post("/datacenters/{datacenter_id}/clusters/{cluster_id}/products", response_model=ClusterOut)
def map_products(datacenter_id: uuid.UUID, cluster_id: uuid.UUID, body: ClusterProductsIn, user: SellerOrOperator,
                 session: DbSession) -> ClusterOut:
    """Put these products' capacity on the cluster (a product is on one cluster at a time)."""
    cluster = service.cluster_of(session, user, datacenter_id, cluster_id)
    service.map_products(session, cluster, body.product_ids)
    return service.cluster_out(session, cluster)


@router.post("/datacenters/{datacenter_id}/clusters/{cluster_id}/disable", response_model=ClusterOut)
def disable_cluster(datacenter_id: uuid.UUID, cluster_id: uuid.UUID, user: SellerOrOperator,
                    session: DbSession) -> ClusterOut:
    """No new jobs or instances on the cluster; what runs there goes on (409 ``cluster_draining`` while it is
    being deleted)."""
    return service.cluster_out(session, clusters.disable_cluster(session, user, datacenter_id, cluster_id))


@router.post("/datacenters/{datacenter_id}/clusters/{cluster_id}/enable", response_model=ClusterOut)
def enable_cluster(datacenter_id: uuid.UUID, cluster_id: uuid.UUID, user: SellerOrOperator,
                   session: DbSession) -> ClusterOut:
    """The cluster takes work again (for a draining cluster: its deletion is called off)."""
    return service.cluster_out(session, clusters.enable_cluster(session, user, datacenter_id, cluster_id))


@router.delete("/datacenters/{datacenter_id}/clusters/{cluster_id}", response_model=ClusterOut)
def delete_cluster(datacenter_id: uuid.UUID, cluster_id: uuid.UUID, user: SellerOrOperator, session: DbSession,
                   clock: AppClock) -> ClusterOut:
    """Delete the cluster: at once (``state`` ``deleted``) when no work is on it; else it is ``draining`` (no new
    work) and the scheduler deletes it once its jobs and instances have ended. Its products lose their cluster."""
    cluster = clusters.delete_cluster(session, user, datacenter_id, cluster_id, clock.now())
    return service.cluster_out(session, cluster)


@router.post("/jobs", response_model=JobOut, status_code=201)
def submit_job(body: JobIn, user: CurrentUser, session: DbSession, clock: AppClock) -> dict[str, Any]:
    """Queue a job; the scheduler places it (and holds its money) in its next round."""
    return service.job_out(session, service.submit_job(session, clock, user, body), viewer=user)


@router.get("/jobs", response_model=JobPage)
def list_jobs(user: CurrentUser, session: DbSession, state: JobState | None = None,
              q: Annotated[str | None, Q(max_length=200, description="Words each of which is in the job's name or "
                                                                     "its buyer organization's name, or is the "
                                                                     "job's id")] = None,
              sort: Annotated[str | None, Q(max_length=40, json_schema_extra={"enum": list(service.JOB_SORTS)},
                                            description="-submitted (newest first, the default), submitted or "
                                                        "name")] = None,
              limit: Annotated[int, Q(ge=1, le=200)] = 50, offset: Annotated[int, Q(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    """Buyers: their organization's jobs; sellers: the jobs placed in their data centers (without commands);
    operators: all. Searched by ``q``, sorted by ``sort``, a page of ``limit`` from ``offset``."""
    order = chosen_sort(sort, service.JOB_SORTS, "-submitted")
    jobs, total = service.list_jobs(session, user, state=state, text=q, sort=order, limit=limit, offset=offset)
    return {"items": service.jobs_out(session, jobs, viewer=user), "total": total, "limit": limit, "offset": offset}


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: uuid.UUID, user: CurrentUser, session: DbSession) -> dict[str, Any]:
    return service.job_out(session, service.get_job(session, user, job_id), viewer=user)


@router.get("/jobs/{job_id}/logs", response_model=JobLogs)
def job_logs(job_id: uuid.UUID, user: CurrentUser, session: DbSession,
             tail: Annotated[int | None, Q(ge=1, le=100_000)] = None) -> JobLogs:
    """The job's output so far (its buyer only: output may echo what the environment carries)."""
    job, text = service.job_logs(session, user, job_id, tail)
    return JobLogs(job_id=job.id, backend_job_id=job.backend_job_id, logs=text)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: uuid.UUID, user: CurrentUser, session: DbSession, clock: AppClock) -> dict[str, Any]:
    """Cancel a job. A placed job is stopped on its cluster; its order is released (seconds used are charged)."""
    return service.job_out(session, service.cancel_job(session, clock, user, job_id), viewer=user)


@router.post("/operator/scheduler/run")
def run_scheduler(_operator: OperatorUser, session: DbSession, clock: AppClock,
                  database: Annotated[Database, Depends(get_database)]) -> dict[str, Any]:
    """Operator (or tests): run one scheduler round now and return what it did (``skipped`` when another process
    is running one)."""
    session.commit()  # end the request's write transaction: the round's units of work must not queue behind it
    return scheduler.run_round(database, clock).as_dict()
