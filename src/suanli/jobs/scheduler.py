"""The scheduler loop: one round places queued jobs on clusters, watches placed ones, and settles their bills.

One round (``run_round``), under a lock (PostgreSQL: a session-level advisory lock, a round that cannot get it is
skipped; SQLite: a per-process lock, SQLite itself runs one writer at a time):

1. **Health.** Every cluster of an approved data center that is not deleted is asked ``health()`` (clusters of
   data centers an operator has not approved are never contacted). ``UNHEALTHY_AFTER`` failures in a row take it out of placement
   (its offers are ``unhealthy``); one success brings it back. Then every healthy cluster's stray runs (a job's
   earlier run left there after the job moved on, ``jobs.strays``) are cancelled.
2. **Watch.** Every placed job's backend is asked ``status``: running → ``running``; succeeded / failed / cancelled →
   the job ends and its order is released (the seconds used are charged, the rest of the hold is released, the
   units return); ``lost`` (or the cluster unreachable while it is unhealthy) → the cluster is marked unhealthy,
   the attempt is recorded, the cluster is blocked for the job, its order is released, and the job is requeued.
   A job past its ``max_runtime_minutes`` (plus ``RUNTIME_GRACE_SECONDS``) is cancelled and fails.
3. **Place.** The queue (queued and preempted jobs) and the offers (products on a cluster, with their free units)
   go to the pure policy (``scheduling.schedule_round``). Spot jobs it preempts are stopped and requeued
   (``preempted``). Each placement: claim the job (``UPDATE jobs SET state='scheduled' WHERE id=… AND state IN
   ('queued','preempted')``) and place its trading order (the hold) in one transaction; then submit to the
   backend. A failed submit cancels the order (nothing charged), records the attempt, blocks the offer and tries
   the next-best offer (``scheduling.failover.next_placement``), up to ``placing.TRIES_PER_ROUND`` times. A job that
   cannot be placed keeps the policy's explanation (offers eliminated per constraint). Only ``active`` clusters
   of approved data centers take new work. This step is ``jobs.placing``; a job larger than one server is a gang
   (``jobs.gangs``: one order per product, all in the claim's transaction; one rank per server). Ending and
   requeueing placed jobs (their orders released or cancelled) is ``jobs.ending``.
4. **Drain.** Draining clusters whose jobs and instances have all ended are deleted (``jobs.clusters``).

Each job's change is its own unit of work; no transaction is held open while a backend is called. Two schedulers
racing (the lock not held, e.g. SQLite in two processes) cannot both place a job: the claim is a conditional
UPDATE, and the order is placed in the claim's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli import backends
from suanli.core.billing import Clock
from suanli.core.messages import clip, msg
from suanli.db import Database
from suanli.jobs import held, strays
from suanli.jobs.clusters import contacted_clusters, finish_draining
from suanli.jobs.ending import end_placed_job, requeue
from suanli.jobs.gangs import current_order_ids
from suanli.jobs.models import ACTIVE_STATES, Cluster, Job, JobState, detail_values, kind_word
from suanli.jobs.placing import place
from suanli.jobs.service import make_backend
from suanli.trading.models import Order, OrderStatus

log = logging.getLogger("suanli.scheduler")

__all__ = ["RoundSummary", "SchedulerThread", "end_placed_job", "requeue", "run_round"]

UNHEALTHY_AFTER = 2
"""Failed health checks in a row that take a cluster out of placement."""
RUNTIME_GRACE_SECONDS = 60
"""A job still running this long after its maximum runtime is cancelled by the scheduler."""
STALE_SUBMIT_SECONDS = 300
"""A job claimed this long ago but never submitted (its scheduler died in between) is requeued."""
LOCK_KEY = 0x5A4E_4C49_4A4F_4253 & 0x7FFF_FFFF_FFFF_FFFF  # "suanli jobs": the advisory lock of a round



@dataclass
class RoundSummary:
    skipped: bool = False
    clusters_checked: int = 0
    clusters_unhealthy: list[str] = field(default_factory=list)
    clusters_deleted: list[str] = field(default_factory=list)
    placed: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    requeued: list[dict[str, Any]] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    strays: list[dict[str, Any]] = field(default_factory=list)
    unplaceable: list[dict[str, Any]] = field(default_factory=list)
    emergencies_ended: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def round_lock(database: Database):
    """True when this process may run a round now (``Database.exclusive``: a PostgreSQL advisory lock shared by
    every API process; SQLite: a lock per database in this process)."""
    return database.exclusive(LOCK_KEY)


def run_round(database: Database, clock: Clock, *, lock: bool = True) -> RoundSummary:
    """One scheduling round (see the module docstring). ``lock=False`` only for tests of the conditional
    transitions that make double placement impossible even without the lock."""
    summary = RoundSummary()
    if not lock:
        _round(database, clock, summary)
        return summary
    with round_lock(database) as got:
        if not got:
            summary.skipped = True
            return summary
        _round(database, clock, summary)
    return summary


def _round(database: Database, clock: Clock, summary: RoundSummary) -> None:
    check_health(database, clock, summary)
    strays.reap(database, clock, summary)
    end_due_emergencies(database, clock, summary)
    watch(database, clock, summary)
    place(database, clock, summary)
    with database.unit_of_work() as session:
        summary.clusters_deleted += [str(c) for c in finish_draining(session, clock.now())]


# ---------------------------------------------------------------- health

def _health_of(cluster: Cluster) -> backends.Health:
    """The cluster's health: a status and a short fixed reason, never the text of the cluster's answers."""
    try:
        backend = make_backend(cluster)
    except backends.BackendError as exc:  # a cluster that cannot even be configured is not healthy
        return backends.Health(False, f"cannot configure the backend: {exc.message}")
    except Exception as exc:
        return backends.Health(False, f"cannot configure the backend ({type(exc).__name__})")
    try:
        return backend.health()
    except backends.BackendError as exc:  # e.g. a local cluster's machine failing
        return backends.Health(False, exc.reason or "health check failed")
    except Exception as exc:  # health() should never raise; a bug in a backend must not stop the round
        return backends.Health(False, f"health check raised {type(exc).__name__}")
    finally:
        backend.close()


def check_health(database: Database, clock: Clock, summary: RoundSummary) -> None:
    with database.unit_of_work(write=False) as session:
        clusters = list(session.scalars(contacted_clusters().order_by(Cluster.id)))
    for cluster in clusters:
        health = _health_of(cluster)
        summary.clusters_checked += 1
        with database.unit_of_work() as session:
            row = session.get(Cluster, cluster.id)
            if row is None:
                continue
            if health.ok:
                row.consecutive_failures, row.healthy = 0, True
            else:
                row.consecutive_failures += 1
                if row.consecutive_failures >= UNHEALTHY_AFTER:
                    row.healthy = False
            row.health_detail, row.checked_at = health.detail[:500], clock.now()
            if not row.healthy:
                summary.clusters_unhealthy.append(str(row.id))


def _mark_unhealthy(session: Session, cluster_id: uuid.UUID, detail: str, now: dt.datetime) -> None:
    session.execute(update(Cluster).where(Cluster.id == cluster_id)
                    .values(healthy=False, consecutive_failures=UNHEALTHY_AFTER, health_detail=detail[:500],
                            checked_at=now)
                    .execution_options(synchronize_session=False))


# ---------------------------------------------------------------- emergencies whose duration is over

def end_due_emergencies(database: Database, clock: Clock, summary: RoundSummary) -> None:
    """An emergency ends by itself when its duration is over: its orders are released and lent units go back
    (``emergency.service.end``); the watch that follows stops the jobs that ran on them (``jobs.held``)."""
    from suanli.accounts.models import User
    from suanli.emergency import service as emergencies
    from suanli.emergency.models import EmergencyRequest
    from suanli.errors import DomainError

    with database.unit_of_work(write=False) as session:
        due = emergencies.due(session, clock.now())
    for emergency_id in due:
        try:
            with database.unit_of_work() as session:
                declared_by = session.get_one(EmergencyRequest, emergency_id).declared_by_user_id
                emergencies.end(session, clock, session.get_one(User, declared_by), emergency_id, reason="duration")
            summary.emergencies_ended.append(str(emergency_id))
        except DomainError:  # ended by an operator meanwhile
            continue
        except Exception as exc:  # retried next round
            log.exception("ending emergency %s failed", emergency_id)
            summary.errors.append(f"emergency {emergency_id}: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- watching placed jobs

_FINAL = {backends.JobState.SUCCEEDED: JobState.SUCCEEDED, backends.JobState.FAILED: JobState.FAILED,
          backends.JobState.CANCELLED: JobState.CANCELLED}
# How an order that stopped under a running job ended, in the job's state detail.
_ORDER_STATUS = {OrderStatus.ENDED: msg("ended"), OrderStatus.CANCELLED: msg("cancelled")}


def watch(database: Database, clock: Clock, summary: RoundSummary) -> None:
    with database.unit_of_work(write=False) as session:
        placed = list(session.scalars(select(Job).where(Job.state.in_(ACTIVE_STATES), Job.backend_job_id.is_not(None))
                                      .order_by(Job.seq)))
        clusters = {c.id: c for c in session.scalars(select(Cluster))}
        stale = list(session.scalars(select(Job).where(
            Job.state == JobState.SCHEDULED, Job.backend_job_id.is_(None),
            Job.scheduled_at < clock.now() - dt.timedelta(seconds=STALE_SUBMIT_SECONDS))))
    for job in stale:  # claimed and ordered, but the scheduler stopped before the submit was recorded
        with database.unit_of_work() as session:
            reason = msg("the scheduler stopped between placing the job and submitting it")
            if requeue(session, clock, job, "placement_failed", reason, charge=False):
                summary.requeued.append({"job_id": str(job.id), "reason": str(reason)})
    for job in placed:
        try:
            _watch_one(database, clock, job, clusters.get(job.cluster_id), summary)
        except Exception as exc:  # one job's trouble must not stop the round; it is looked at again next round
            log.exception("watching job %s failed", job.id)
            summary.errors.append(f"job {job.id}: {type(exc).__name__}: {exc}")


def _orders_status(session: Session, job: Job) -> OrderStatus | None:
    """How the job's orders stand: preempted if one was (a gang's part too), else the first that stopped, else
    active (None: no order)."""
    ids = current_order_ids(job)
    if not ids:
        return None
    statuses = list(session.scalars(select(Order.status).where(Order.id.in_(ids))))
    if OrderStatus.PREEMPTED in statuses:
        return OrderStatus.PREEMPTED
    stopped = [s for s in statuses if s not in (OrderStatus.ACTIVE, OrderStatus.PENDING)]
    return stopped[0] if stopped else (statuses[0] if statuses else None)


def _watch_one(database: Database, clock: Clock, job: Job, cluster: Cluster | None, summary: RoundSummary) -> None:
    assert job.backend_job_id is not None
    if cluster is None:
        return
    now = clock.now()
    try:
        backend = make_backend(cluster)
        try:
            status = backend.status(job.backend_job_id)
        finally:
            backend.close()
    except backends.BackendError as exc:
        if cluster.healthy:
            return  # transient: ask again next round; health() decides whether the cluster stays in placement
        status = backends.JobStatus(backends.JobState.LOST, detail=f"cluster unreachable and unhealthy: {exc.message}")
        unreachable = msg("cluster unreachable and unhealthy: %(error)s", error=clip(exc.message))
    else:
        unreachable = None
    with database.unit_of_work() as session:
        order_status = _orders_status(session, job)
        if status.state is backends.JobState.LOST:
            what = unreachable or (clip(status.detail) if status.detail else msg("the job is gone"))
            reason = msg("lost on cluster %(cluster)s (%(kind)s): %(detail)s", cluster=cluster.name,
                         kind=kind_word(cluster.kind), detail=what)
            if requeue(session, clock, job, "lost", reason, cluster_failed=True):
                _mark_unhealthy(session, cluster.id, f"a job was lost: {status.detail}"[:500], now)
                summary.requeued.append({"job_id": str(job.id), "reason": str(reason)})
            return
        if status.state in _FINAL:
            state = _FINAL[status.state]
            detail = {JobState.SUCCEEDED: msg("finished"),
                      JobState.FAILED: msg("failed (exit code %(code)s)", code=str(status.exit_code))
                      if status.exit_code is not None else msg("failed"),
                      JobState.CANCELLED: msg("cancelled on the cluster")}[state]
            if status.detail:
                detail = msg("%(outcome)s: %(detail)s", outcome=detail, detail=clip(status.detail))
            if end_placed_job(session, clock, job, state, detail, exit_code=status.exit_code):
                summary.finished.append({"job_id": str(job.id), "state": state.value, "exit_code": status.exit_code})
            return
        lost_hold = held.lost_reason(session, job)
        if lost_hold is not None:  # its lease or loan ended under it: the units are someone else's now
            if end_placed_job(session, clock, job, JobState.CANCELLED, lost_hold, cancel_backend=True):
                summary.finished.append({"job_id": str(job.id), "state": "cancelled", "exit_code": None})
            return
        if job.held_kind is None and order_status is OrderStatus.PREEMPTED:  # trading preempted the spot order
            reason = msg("its spot order was preempted by on-demand or reserved demand")
            if requeue(session, clock, job, "preempted", reason, charge=False, cancel_backend=True):
                summary.requeued.append({"job_id": str(job.id), "reason": str(reason)})
            return
        if job.held_kind is None and order_status is not None and \
                order_status not in (OrderStatus.ACTIVE, OrderStatus.PENDING):
            # the meter stopped the order (the wallet ran dry): the job cannot go on
            stopped = msg("stopped: its order ended (%(status)s); top up the wallet and submit again",
                          status=_ORDER_STATUS.get(order_status, order_status.value))
            if end_placed_job(session, clock, job, JobState.FAILED, stopped, cancel_backend=True):
                summary.finished.append({"job_id": str(job.id), "state": "failed", "exit_code": None})
            return
        started = job.started_at or job.scheduled_at
        if started is not None and (now - started).total_seconds() > job.max_runtime_minutes * 60 + \
                RUNTIME_GRACE_SECONDS:
            if end_placed_job(session, clock, job, JobState.FAILED,
                              msg("stopped: ran past its maximum runtime of %(minutes)s min",
                                  minutes=job.max_runtime_minutes), cancel_backend=True):
                summary.finished.append({"job_id": str(job.id), "state": "failed", "exit_code": None})
            return
        if status.state is backends.JobState.RUNNING and job.state is JobState.SCHEDULED:
            result = session.execute(update(Job).where(Job.id == job.id, Job.state == JobState.SCHEDULED,
                                                       Job.attempt == job.attempt)
                                     .values(state=JobState.RUNNING, started_at=now, **detail_values(msg("running")))
                                     .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                summary.started.append(str(job.id))


# ---------------------------------------------------------------- the background thread of `suanli serve`

class SchedulerThread(threading.Thread):
    """Runs ``run_round`` every ``interval`` seconds until ``stop()``. Several API processes may each run one:
    the round lock lets one of them work at a time, and the conditional claims make double placement
    impossible even without it."""

    def __init__(self, database: Database, clock: Clock, interval: float) -> None:
        super().__init__(name="suanli-scheduler", daemon=True)
        self.database, self.clock, self.interval = database, clock, interval
        self._stopped = threading.Event()
        self.rounds = 0

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                summary = run_round(self.database, self.clock)
                self.rounds += 1
                if summary.placed or summary.finished or summary.requeued or summary.errors:
                    log.info("scheduler: placed %d, finished %d, requeued %d, errors %d", len(summary.placed),
                             len(summary.finished), len(summary.requeued), len(summary.errors))
            except Exception:  # keep scheduling: the next round retries
                log.exception("scheduler round failed")

    def stop(self) -> None:
        self._stopped.set()
