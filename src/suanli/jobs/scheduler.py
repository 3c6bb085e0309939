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
   the next-best offer (``scheduling.failover.next_placement``), up to ``TRIES_PER_ROUND`` times. A job that
   cannot be placed keeps the policy's explanation (offers eliminated per constraint). Only ``active`` clusters
   of approved data centers take new work.
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

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from suanli import backends
from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, DatacenterStatus, Product
from suanli.core.billing import Clock
from suanli.core.messages import Text, msg, render, to_json
from suanli.db import Database
from suanli.errors import DomainError
from suanli.jobs.clusters import contacted_clusters, finish_draining
from suanli.jobs.models import (ACTIVE_STATES, WAITING_STATES, Cluster, ClusterKind, ClusterState, Job, JobMode,
                                JobState, detail_values, end_values, kind_word)
from suanli.jobs import strays
from suanli.jobs.service import make_backend
from suanli.scheduling.failover import next_placement
from suanli.scheduling.model import JobRequest, Offer, Placement, RunningSpot, Unplaceable
from suanli.scheduling.policy import schedule_round
from suanli.trading.models import Order, OrderMode, OrderStatus
from suanli.trading.schemas import OrderIn

log = logging.getLogger("suanli.scheduler")

UNHEALTHY_AFTER = 2
"""Failed health checks in a row that take a cluster out of placement."""
TRIES_PER_ROUND = 3
"""Placements tried per job per round when submits fail (each failure blocks that offer for the job)."""
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


# ---------------------------------------------------------------- ending and requeueing placed jobs

def _clip(text: str | None, limit: int = 1000) -> str:
    """Free text from a backend or another module (not translated): kept short enough for the columns."""
    return (text or "")[:limit]


def _release(session: Session, clock: Clock, job: Job, *, charge: bool) -> None:
    """End the job's order: charge the seconds used and release the rest (``charge``), or cancel it with nothing
    charged (a placement that never ran). An order already ended by trading (metering) is left as it is."""
    from suanli.trading.service import cancel_order, release_order

    if job.order_id is None:
        return
    order = session.get(Order, job.order_id)
    if order is None or order.status not in (OrderStatus.ACTIVE, OrderStatus.PENDING):
        return
    buyer = session.get_one(User, job.buyer_user_id)
    if order.status is OrderStatus.ACTIVE and charge:
        release_order(session, clock, buyer, order.id)
    else:
        try:
            cancel_order(session, clock, buyer, order.id)
        except DomainError:  # past the free-cancel window: charge the seconds it was held
            release_order(session, clock, buyer, order.id)


def _cancel_on_backend(session: Session, job: Job, now: dt.datetime) -> None:
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
        _cancel_on_backend(session, job, now)
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
                order_id=None, backend_job_id=None, scheduled_at=None, started_at=None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    if cancel_backend:
        _cancel_on_backend(session, job, now)
    elif kind == "lost":  # the run may still be going on a cluster we cannot reach: stop it when it is back
        strays.record(session, job, english, now)
    _release(session, clock, job, charge=charge)
    return True


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
        unreachable = msg("cluster unreachable and unhealthy: %(error)s", error=_clip(exc.message))
    else:
        unreachable = None
    with database.unit_of_work() as session:
        order_status = session.scalar(select(Order.status).where(Order.id == job.order_id)) if job.order_id else None
        if status.state is backends.JobState.LOST:
            what = unreachable or (_clip(status.detail) if status.detail else msg("the job is gone"))
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
                detail = msg("%(outcome)s: %(detail)s", outcome=detail, detail=_clip(status.detail))
            if end_placed_job(session, clock, job, state, detail, exit_code=status.exit_code):
                summary.finished.append({"job_id": str(job.id), "state": state.value, "exit_code": status.exit_code})
            return
        if order_status is OrderStatus.PREEMPTED:  # trading preempted the spot order under the job: requeue it
            reason = msg("its spot order was preempted by on-demand or reserved demand")
            if requeue(session, clock, job, "preempted", reason, charge=False, cancel_backend=True):
                summary.requeued.append({"job_id": str(job.id), "reason": str(reason)})
            return
        if order_status is not None and order_status not in (OrderStatus.ACTIVE, OrderStatus.PENDING):
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


# ---------------------------------------------------------------- placing queued jobs

def _province(name: str) -> str:
    from suanli.jobs.service import _normalize_province

    return _normalize_province(name)


def load_offers(session: Session) -> list[Offer]:
    """Every visible product on an active cluster of an approved data center, as an offer with its free units."""
    pending = dict(session.execute(select(Order.product_id, func.sum(Order.units))
                                   .where(Order.status == OrderStatus.PENDING).group_by(Order.product_id)).all())
    rows = session.execute(select(Product, Cluster.healthy, Datacenter.name)
                           .join(Cluster, Cluster.id == Product.cluster_id)
                           .join(Datacenter, Datacenter.id == Product.datacenter_id)
                           .where(Product.is_visible.is_(True), Cluster.state == ClusterState.ACTIVE,
                                  Datacenter.status == DatacenterStatus.APPROVED).order_by(Product.id)).all()
    offers = []
    for product, healthy, datacenter_name in rows:
        free = max(0, product.stock_units - product.allocated_units - int(pending.get(product.id) or 0))
        offers.append(Offer(
            product_id=str(product.id), datacenter_id=str(product.datacenter_id), cluster_id=str(product.cluster_id),
            province=_province(product.province), chip_key=product.chip_key or "", ecosystem=product.ecosystem or "",
            accel_memory_gib=product.accel_memory_gib or 0, fp16_tflops=product.fp16_tflops or 0.0,
            accelerators_per_unit=product.accelerators, vcpus_per_unit=product.vcpus,
            memory_gib_per_unit=product.memory_gib, free_units=free,
            price_per_unit_hour_fen=product.price_on_demand_fen, spot_floor_fen=product.price_spot_floor_fen,
            healthy=bool(healthy), total_units=max(free, product.stock_units), datacenter_name=datacenter_name,
            product_name=product.name))
    return offers


def _epoch_s(at: dt.datetime) -> float:
    """Seconds since the epoch (a naive time, as SQLite returns it, is UTC)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)).timestamp()


def job_request(job: Job) -> JobRequest:
    blocked_offers, blocked_clusters = set(), set()
    for a in job.attempts or []:
        if not a.get("blocks"):
            continue
        (blocked_clusters if a.get("cluster_failed") else blocked_offers).add(
            a["cluster_id"] if a.get("cluster_failed") else a["offer_id"])
    return JobRequest(
        id=str(job.id), accelerators=job.accelerators, chip=job.chip_key, ecosystems=frozenset(job.ecosystems or ()),
        min_accel_memory_gib=job.min_accel_memory_gib, min_fp16_tflops=job.min_fp16_tflops, vcpus=job.vcpus,
        memory_gib=job.memory_gib, provinces=frozenset(job.provinces or ()),
        datacenters=frozenset(job.datacenter_ids or ()), products=frozenset(job.product_ids or ()),
        max_hourly_price_fen=job.max_hourly_price_fen,
        objective=job.objective.value, mode=job.mode.value, bid_hourly_fen=job.bid_hourly_fen,
        max_runtime_minutes=job.max_runtime_minutes, submit_seq=job.seq, blocked_offers=frozenset(blocked_offers),
        blocked_clusters=frozenset(blocked_clusters), submitted_s=_epoch_s(job.submitted_at))


def _running_spot(session: Session) -> list[RunningSpot]:
    jobs = session.scalars(select(Job).where(Job.state.in_(ACTIVE_STATES), Job.mode == JobMode.SPOT,
                                             Job.product_id.is_not(None)))
    return [RunningSpot(job_id=str(j.id), offer_id=str(j.product_id), units=j.units or 1,
                        bid_hourly_fen=j.bid_hourly_fen or 0) for j in jobs]


def place(database: Database, clock: Clock, summary: RoundSummary) -> None:
    with database.unit_of_work(write=False) as session:
        queue = list(session.scalars(select(Job).where(Job.state.in_(WAITING_STATES)).order_by(Job.seq, Job.id)))
        if not queue:
            return
        offers = load_offers(session)
        running = _running_spot(session)
    requests = [job_request(j) for j in queue]
    result = schedule_round(requests, offers, running, now_s=_epoch_s(clock.now()))
    for pre in result.preemptions:
        _preempt(database, clock, uuid.UUID(pre.job_id), pre.for_job_id, summary)
    for placement in result.placements:
        try:
            _place_with_failover(database, clock, placement, summary)
        except Exception as exc:
            log.exception("placing job %s failed", placement.job_id)
            summary.errors.append(f"job {placement.job_id}: {type(exc).__name__}: {exc}")
    for unplaceable in result.unplaceable:
        _record_unplaceable(database, unplaceable, summary)


def _preempt(database: Database, clock: Clock, job_id: uuid.UUID, for_job_id: str, summary: RoundSummary) -> None:
    with database.unit_of_work() as session:
        job = session.get(Job, job_id)
        if job is None or job.state not in ACTIVE_STATES:
            return
        if requeue(session, clock, job, "preempted",
                   msg("spot capacity taken by on-demand job %(job)s", job=for_job_id), cancel_backend=True):
            summary.preempted.append(str(job_id))


def _record_unplaceable(database: Database, u: Unplaceable, summary: RoundSummary) -> None:
    explanation = {"eliminated": {k: v for k, v in u.eliminated.items() if v}, "message": u.message,
                   "reason_message": to_json(u.reason_message), "offers_considered": u.offers_considered}
    with database.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == uuid.UUID(u.job_id), Job.state.in_(WAITING_STATES))
                        .values(unplaceable=explanation,
                                **detail_values(msg("not placed: %(why)s", why=u.reason_message)))
                        .execution_options(synchronize_session=False))
    summary.unplaceable.append({"job_id": u.job_id, **explanation})


def _place_with_failover(database: Database, clock: Clock, placement: Placement, summary: RoundSummary) -> None:
    job_id = uuid.UUID(placement.job_id)
    for _ in range(TRIES_PER_ROUND):
        outcome = _place_one(database, clock, job_id, placement, summary)
        if outcome != "retry":
            return
        with database.unit_of_work(write=False) as session:
            job = session.get(Job, job_id)
            if job is None or job.state not in WAITING_STATES:
                return
            request, offers, running = job_request(job), load_offers(session), _running_spot(session)
        nxt = next_placement(request, offers, (), running)
        if isinstance(nxt, Unplaceable):
            _record_unplaceable(database, nxt, summary)
            return
        for victim in nxt.preempted:
            _preempt(database, clock, uuid.UUID(victim), nxt.job_id, summary)
        placement = nxt


def _place_one(database: Database, clock: Clock, job_id: uuid.UUID, p: Placement, summary: RoundSummary) -> str:
    """Claim the job and place its order (one transaction), then submit it. ``placed``, ``skip`` (someone else has
    it, or the order could not be placed: the next round tries again) or ``retry`` (the submit failed)."""
    from suanli.trading.service import cancel_order, place_order

    now = clock.now()
    with database.unit_of_work() as session:
        job = session.get(Job, job_id)
        if job is None or job.state not in WAITING_STATES:
            return "skip"
        n = job.attempt + 1
        claimed = session.execute(
            update(Job).where(Job.id == job.id, Job.state.in_(WAITING_STATES), Job.attempt == job.attempt)
            .values(state=JobState.SCHEDULED, attempt=n, datacenter_id=uuid.UUID(p.datacenter_id),
                    product_id=uuid.UUID(p.offer_id), cluster_id=uuid.UUID(p.cluster_id), units=p.units,
                    hourly_price_fen=p.hourly_price_fen, placement_reason=p.reason[:2000],
                    placement_reason_message=to_json(p.reason_message), unplaceable=None, scheduled_at=now,
                    **detail_values(msg("placed; submitting to the cluster")))
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return "skip"  # another scheduler placed it first
        buyer = session.get_one(User, job.buyer_user_id)
        spot = p.mode.value == "spot"
        body = OrderIn(product_id=uuid.UUID(p.offer_id), mode=OrderMode.SPOT if spot else OrderMode.ON_DEMAND,
                       units=p.units, bid_hourly_fen=max(1, p.hourly_price_fen // p.units) if spot else None)
        try:
            with session.begin_nested():
                order, _ = place_order(session, clock, buyer, body, idempotency_key=f"job:{job.id}:{n}",
                                       hold_seconds=job.max_runtime_minutes * 60, deliver_instances=False)
                if order.status is not OrderStatus.ACTIVE:  # would wait for spot notices: not now
                    cancel_order(session, clock, buyer, order.id)
                    raise DomainError("the product's free units are held for other orders", code="not_free")
        except DomainError as exc:
            session.rollback()
            with database.unit_of_work() as s2:
                s2.execute(update(Job).where(Job.id == job_id, Job.state.in_(WAITING_STATES))
                           .values(**detail_values(msg("not placed: the order failed: %(error)s",
                                                       error=_clip(exc.message))))
                           .execution_options(synchronize_session=False))
            summary.unplaceable.append({"job_id": str(job_id), "message": f"order failed: {exc.message}",
                                        "eliminated": {}, "offers_considered": 0})
            return "skip"
        session.execute(update(Job).where(Job.id == job.id)
                        .values(order_id=order.id, order_ids=[*(job.order_ids or []), str(order.id)])
                        .execution_options(synchronize_session=False))
        session.refresh(job)
        cluster = session.get_one(Cluster, job.cluster_id)
        product = session.get_one(Product, job.product_id)
        spec_fields = _spec_fields(job, product, p, cluster.kind, n)

    try:
        spec = backends.JobSpec(**spec_fields)
        backend = make_backend(cluster)
        try:
            backend_job_id = backend.submit(spec)
        finally:
            backend.close()
    except Exception as exc:  # a backend error, or the cluster's machine failing (e.g. OSError)
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        reason = msg("submit to cluster %(cluster)s (%(kind)s) failed: %(error)s", cluster=cluster.name,
                     kind=kind_word(cluster.kind), error=_clip(message))
        with database.unit_of_work() as session:
            job = session.get_one(Job, job_id)
            requeue(session, clock, job, "submit_failed", reason, charge=False)
        summary.requeued.append({"job_id": str(job_id), "reason": str(reason)})
        return "retry"
    with database.unit_of_work() as session:
        done = session.execute(update(Job).where(Job.id == job_id, Job.state == JobState.SCHEDULED, Job.attempt == n)
                               .values(backend_job_id=backend_job_id,
                                       **detail_values(msg("submitted to %(kind)s cluster %(cluster)s",
                                                           kind=kind_word(cluster.kind), cluster=cluster.name)))
                               .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # cancelled while it was being submitted: stop it there too
            job = session.get_one(Job, job_id)
            job.backend_job_id = backend_job_id
            _cancel_on_backend(session, job, now)
            session.expunge(job)
            return "skip"
    summary.placed.append({"job_id": str(job_id), "product_id": p.offer_id, "datacenter_id": p.datacenter_id,
                           "cluster_id": p.cluster_id, "units": p.units, "backend_job_id": backend_job_id,
                           "reason": p.reason})
    return "placed"


def _spec_fields(job: Job, product: Product, p: Placement, kind: ClusterKind, attempt: int) -> dict[str, Any]:
    accelerators = p.accelerators
    return {
        "job_id": str(job.id), "name": job.name, "command": job.command, "script": job.script,
        "env": dict(job.env or {}), "files": dict(job.files or {}), "accelerators": accelerators,
        "chip": product.chip_key if accelerators else None,
        # local is not a real GPU pool: the job sees devices 0..n-1 of this machine (see docs/scheduling.md)
        "device_indices": tuple(range(accelerators)) if kind is ClusterKind.LOCAL else (),
        "vcpus": max(1, job.vcpus), "memory_gib": job.memory_gib or None,
        "time_limit_minutes": job.max_runtime_minutes, "attempt": attempt,
    }


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
