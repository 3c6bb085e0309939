"""A cluster's lifecycle after registration: its seller (or an operator) disables, enables and deletes it.

* **Disable**: the cluster takes no new jobs (its offers leave placement) and no new instances (orders of machine
  products on it are refused, 409 ``cluster_disabled``); what runs there goes on and is watched and billed as
  before. **Enable** undoes it.
* **Delete** with no work on it (no job placed or running there, no instance pending, provisioning, running or
  stopping there): the cluster is deleted at once. With work on it, it is ``draining``: no new work, and the
  scheduler's round deletes it once that work has ended (``finish_draining``). Enabling a draining cluster stops
  the deletion.
* **Deleted**: its products lose their cluster (their jobs cannot be placed, their machines are delivered by
  hand), its credentials are erased, its stray runs are closed, and it is never contacted again. The row stays,
  renamed (``<name> (deleted <id>)``) so the name can be used again, because the jobs that ran there name it.

No HTTP here; callers commit.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Select, exists, select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, DatacenterStatus, Product
from suanli.errors import Conflict
from suanli.instances.models import LIVE_STATES, Instance
from suanli.jobs.models import ACTIVE_STATES, Cluster, ClusterState, Job, StrayRun
from suanli.jobs.service import cluster_of

__all__ = ["contacted_clusters", "delete_cluster", "disable_cluster", "enable_cluster", "finish_draining", "has_work"]


def contacted_clusters() -> Select[tuple[Cluster]]:
    """The clusters the platform may contact (health checks, stray runs, orphan sweeps): not deleted, of a data
    center an operator approved. A seller's cluster is never contacted before its data center is approved."""
    return (select(Cluster).join(Datacenter, Datacenter.id == Cluster.datacenter_id)
            .where(Cluster.state != ClusterState.DELETED, Datacenter.status == DatacenterStatus.APPROVED))


def has_work(session: Session, cluster_id: uuid.UUID) -> bool:
    """Whether a job is placed or running on the cluster, or an instance is waiting, starting, running or stopping
    there."""
    jobs = exists().where(Job.cluster_id == cluster_id, Job.state.in_(ACTIVE_STATES))
    instances = exists().where(Instance.cluster_id == cluster_id, Instance.state.in_(LIVE_STATES))
    return bool(session.scalar(select(jobs | instances)))


def _locked(session: Session, user: User, datacenter_id: uuid.UUID, cluster_id: uuid.UUID) -> Cluster:
    cluster = cluster_of(session, user, datacenter_id, cluster_id)
    session.refresh(cluster, with_for_update=True)
    return cluster


def disable_cluster(session: Session, user: User, datacenter_id: uuid.UUID, cluster_id: uuid.UUID) -> Cluster:
    """No new jobs or instances on the cluster (idempotent). 409 ``cluster_draining`` for one being deleted."""
    cluster = _locked(session, user, datacenter_id, cluster_id)
    if cluster.state is ClusterState.DRAINING:
        raise Conflict("This cluster is being deleted (it waits for the work on it to end); enable it first to keep "
                       "it.", code="cluster_draining")
    cluster.state = ClusterState.DISABLED
    session.flush()
    return cluster


def enable_cluster(session: Session, user: User, datacenter_id: uuid.UUID, cluster_id: uuid.UUID) -> Cluster:
    """The cluster takes work again; for a draining cluster this stops its deletion (idempotent)."""
    cluster = _locked(session, user, datacenter_id, cluster_id)
    cluster.state = ClusterState.ACTIVE
    session.flush()
    return cluster


def delete_cluster(session: Session, user: User, datacenter_id: uuid.UUID, cluster_id: uuid.UUID,
                   now: dt.datetime) -> Cluster:
    """Delete the cluster now when no work is on it, else let it drain (module docstring). The cluster as it is
    afterwards: ``deleted`` or ``draining``."""
    cluster = _locked(session, user, datacenter_id, cluster_id)
    if has_work(session, cluster.id):
        cluster.state = ClusterState.DRAINING
        session.flush()
    else:
        _delete(session, cluster, now)
    audit.record(session, user, f"cluster.{cluster.state.value}", f"cluster:{cluster.id}",
                 {"datacenter_id": datacenter_id})
    return cluster


def _delete(session: Session, cluster: Cluster, now: dt.datetime) -> None:
    session.execute(update(Product).where(Product.cluster_id == cluster.id).values(cluster_id=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(StrayRun).where(StrayRun.cluster_id == cluster.id, StrayRun.resolved_at.is_(None))
                    .values(resolved_at=now, resolution="the cluster was deleted by its data center")
                    .execution_options(synchronize_session=False))
    suffix = f" (deleted {cluster.id})"
    cluster.name = cluster.name[: 100 - len(suffix)] + suffix
    cluster.state, cluster.deleted_at = ClusterState.DELETED, now
    cluster.credentials, cluster.healthy, cluster.health_detail = {}, False, "deleted"
    session.flush()


def finish_draining(session: Session, now: dt.datetime) -> list[uuid.UUID]:
    """Delete every draining cluster whose work has ended (the scheduler's round). The ids deleted."""
    deleted = []
    for cluster in session.scalars(select(Cluster).where(Cluster.state == ClusterState.DRAINING)
                                   .order_by(Cluster.id).with_for_update()):
        if not has_work(session, cluster.id):
            _delete(session, cluster, now)
            deleted.append(cluster.id)
    for cluster_id in deleted:  # after every cluster row's lock: the audit head is the last lock taken
        audit.record(session, None, "cluster.deleted", f"cluster:{cluster_id}", {"drained": True})
    return deleted
