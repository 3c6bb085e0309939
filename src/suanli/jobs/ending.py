"""Ending and requeueing placed jobs: their final state, their orders released (the seconds used charged, the
rest of the hold given back) or cancelled, their run stopped on the cluster when asked. A gang across products
has one order per part (``jobs.gangs``): every one of them ends with the job."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import update
from sqlalchemy.orm import Session

from suanli.accounts.models import User
from suanli.core.billing import Clock
from suanli.core.messages import Text, msg, render, to_json
from suanli.errors import DomainError
from suanli.jobs import strays
from suanli.jobs.gangs import current_order_ids
from suanli.jobs.models import ACTIVE_STATES, Cluster, Job, JobState, detail_values, end_values
from suanli.jobs.service import make_backend
from suanli.trading.models import Order, OrderStatus

log = logging.getLogger("suanli.scheduler")



def _release(session: Session, clock: Clock, job: Job, *, charge: bool) -> None:
    """End the orders of the job's placement (one, or one per part of a gang): charge the seconds used and release
    the rest (``charge``), or cancel them with nothing charged (a placement that never ran). An order already ended
    by trading (metering) is left as it is."""
    from suanli.trading.service import cancel_order, release_order

    if job.held_kind is not None:  # held capacity (jobs.held): the order is not the job's, it goes on
        return
    for order_id in current_order_ids(job):
        order = session.get(Order, order_id)
        if order is None or order.status not in (OrderStatus.ACTIVE, OrderStatus.PENDING):
            continue
        buyer = session.get_one(User, job.buyer_user_id)
        if order.status is OrderStatus.ACTIVE and charge:
            release_order(session, clock, buyer, order.id)
        else:
            try:
                cancel_order(session, clock, buyer, order.id)
            except DomainError:  # past the free-cancel window: charge the seconds it was held
                release_order(session, clock, buyer, order.id)


def cancel_on_backend(session: Session, job: Job, now: dt.datetime) -> None:
    if job.backend_job_id is None or job.cluster_id is None:
        return
    cluster = session.get(Cluster, job.cluster_id)
    if cluster is None:
        return
    try:
        backend = make_backend(cluster)
        try:
            backend.cancel(job.backend_job_id)
        finally:
            backend.close()
    except Exception as exc:  # the cluster may be gone; the job is ended on our side, the run stopped later
        log.warning("cancelling job %s on cluster %s failed: %s", job.id, cluster.id, exc)
        strays.record(session, job, f"cancel failed: {getattr(exc, 'message', None) or exc}", now)


def end_placed_job(session: Session, clock: Clock, job: Job, state: JobState, detail: Text, *,
                   exit_code: int | None = None, cancel_backend: bool = False) -> bool:
    """Move a scheduled/running job to a final ``state`` (conditional UPDATE: False when someone else ended or
    requeued it first) and release its order: the seconds used are charged, the rest of the hold released."""
    now = clock.now()
    result = session.execute(update(Job).where(Job.id == job.id, Job.state.in_(ACTIVE_STATES),
                                               Job.attempt == job.attempt)
                             .values(**end_values(state, detail, now, exit_code))
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    if cancel_backend:
        cancel_on_backend(session, job, now)
    _release(session, clock, job, charge=True)
    return True


def requeue(session: Session, clock: Clock, job: Job, kind: str, reason: Text, *, cluster_failed: bool = False,
            charge: bool = True, cancel_backend: bool = False) -> bool:
    """Take a placed job back to the queue after its placement failed (``submit_failed``, ``lost``) or it was
    ``preempted``: record the attempt (failures block the offer, or the whole cluster when it failed), release
    its order, and clear the placement. False when the job was no longer in that placement. ``reason`` is stored
    in English (``reason``) and translatable (``reason_message``)."""
    now = clock.now()
    english = render(reason)
    attempt = {"offer_id": str(job.product_id), "product_id": str(job.product_id),
               "datacenter_id": str(job.datacenter_id), "cluster_id": str(job.cluster_id), "reason": english[:1000],
               "reason_message": to_json(reason), "at": now.isoformat(), "cluster_failed": cluster_failed,
               "blocks": kind != "preempted", "kind": kind}
    new_state = JobState.PREEMPTED if kind == "preempted" else JobState.QUEUED
    result = session.execute(
        update(Job).where(Job.id == job.id, Job.state.in_(ACTIVE_STATES), Job.attempt == job.attempt)
        .values(state=new_state, **detail_values(msg("requeued: %(reason)s", reason=reason)),
                attempts=[*(job.attempts or []), attempt], datacenter_id=None, product_id=None, cluster_id=None,
                units=None, hourly_price_fen=None, placement_reason=None, placement_reason_message=None,
                order_id=None, placement_parts=[], backend_job_id=None, scheduled_at=None, started_at=None,
                held_kind=None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    if cancel_backend:
        cancel_on_backend(session, job, now)
    elif kind == "lost":  # the run may still be going on a cluster we cannot reach: stop it when it is back
        strays.record(session, job, english, now)
    _release(session, clock, job, charge=charge)
    return True
