"""Stray runs: a job's earlier run left on a cluster after the job moved on, stopped once the cluster is back.

A job is requeued elsewhere when its cluster is lost (unreachable and unhealthy, or the run vanished); a spot job
is preempted, a job is cancelled, or stopped at its maximum runtime, even when its cluster cannot be reached to
stop the run. In each case the run may still be going there: after a network partition, say, the cluster comes
back with our job on it. ``record`` keeps such a run (``stray_runs``); every scheduler round, ``reap`` asks each
healthy cluster about its stray runs and cancels the ones still going. So a job never runs twice, and nobody pays
twice: the order of the abandoned placement was already ended when the job moved on.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli import backends
from suanli.core.billing import Clock
from suanli.db import Database
from suanli.jobs.clusters import contacted_clusters
from suanli.jobs.models import Cluster, Job, StrayRun
from suanli.jobs.service import make_backend

if TYPE_CHECKING:  # pragma: no cover
    from suanli.jobs.scheduler import RoundSummary

log = logging.getLogger("suanli.scheduler")

__all__ = ["reap", "record"]


def record(session: Session, job: Job, reason: str, now: dt.datetime, *, backend_job_id: str | None = None) -> None:
    """Remember the job's current run (its ``backend_job_id`` on its cluster, or the run a submit that got no answer
    may have started) as one to stop when the cluster answers again. Nothing happens for a job never submitted."""
    run = backend_job_id or job.backend_job_id
    if run is None or job.cluster_id is None:
        return
    known = session.scalar(select(StrayRun.id).where(StrayRun.cluster_id == job.cluster_id,
                                                     StrayRun.backend_job_id == run,
                                                     StrayRun.resolved_at.is_(None)))
    if known is None:
        session.add(StrayRun(job_id=job.id, cluster_id=job.cluster_id, backend_job_id=run,
                             reason=reason[:500], recorded_at=now, resolution=""))
        session.flush()


def reap(database: Database, clock: Clock, summary: RoundSummary) -> None:
    """Stop the stray runs on every healthy cluster: cancel the ones still going, close the ones that ended.
    A cluster that does not answer keeps its stray runs for the next round."""
    with database.unit_of_work(write=False) as session:
        contacted = contacted_clusters().subquery()
        rows = session.execute(select(StrayRun, Cluster).join(Cluster, Cluster.id == StrayRun.cluster_id)
                               .join(contacted, contacted.c.id == Cluster.id)
                               .where(StrayRun.resolved_at.is_(None), Cluster.healthy.is_(True))
                               .order_by(StrayRun.recorded_at, StrayRun.id)).all()
    for stray, cluster in rows:
        try:
            backend = make_backend(cluster)
        except backends.BackendError as exc:
            summary.errors.append(f"stray run {stray.backend_job_id}: {exc.message}")
            continue
        try:
            status = backend.status(stray.backend_job_id)
            if status.state.terminal and status.state is not backends.JobState.LOST:
                resolution = f"had ended on the cluster ({status.state.value})"
            else:  # running, pending, or lost: a cluster that just came back may not know its runs yet
                backend.cancel(stray.backend_job_id)
                resolution = f"cancel sent to cluster {cluster.name} (the run was {status.state.value})"
        except backends.BackendError as exc:  # not reachable after all: next round
            log.warning("stray run %s on cluster %s: %s", stray.backend_job_id, cluster.id, exc.message)
            continue
        finally:
            backend.close()
        with database.unit_of_work() as session:
            done = session.execute(update(StrayRun).where(StrayRun.id == stray.id, StrayRun.resolved_at.is_(None))
                                   .values(resolved_at=clock.now(), resolution=resolution[:500])
                                   .execution_options(synchronize_session=False))
        if done.rowcount == 1:
            summary.strays.append({"job_id": str(stray.job_id), "cluster_id": str(cluster.id),
                                   "backend_job_id": stray.backend_job_id, "resolution": resolution})
