"""Placing queued jobs (step 3 of a scheduler round, ``jobs.scheduler``): the queue and the offers go to the pure
policy; each placement claims its job and places its order(s) in one transaction, then submits to the backend, with
failover to the next-best offer when the submit fails. Gangs (``jobs.gangs``): a job larger than one server gets one
order per product and runs as one rank per unit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from suanli import backends
from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, DatacenterStatus, Product
from suanli.core.billing import Clock
from suanli.core.messages import Message, clip, msg, render, to_json
from suanli.db import Database
from suanli.errors import DomainError
from suanli.jobs import held, strays
from suanli.jobs.ending import cancel_on_backend, requeue
from suanli.jobs.gangs import PLATFORM_RULES, launch_shape, parts_column, place_part_orders, with_gang_reason
from suanli.jobs.models import (ACTIVE_STATES, WAITING_STATES, Cluster, ClusterKind, ClusterState, HeldCapacity, Job,
                                JobMode, JobState, detail_values, kind_word)
from suanli.jobs.service import make_backend
from suanli.scheduling.failover import next_placement
from suanli.scheduling.model import JobRequest, Offer, Placement, RunningSpot, Unplaceable
from suanli.scheduling.policy import schedule_round
from suanli.scheduling.rules import PRODUCTION
from suanli.trading.models import Order, OrderStatus

if TYPE_CHECKING:  # pragma: no cover
    from suanli.jobs.scheduler import RoundSummary

log = logging.getLogger("suanli.scheduler")

HELD_RULES = PRODUCTION
"""The policy on held capacity: the platform's, without gangs (a job runs on one held order)."""

TRIES_PER_ROUND = 3
"""Placements tried per job per round when submits fail (each failure blocks that offer for the job)."""
FIRST_RETRY_S = 300
LAST_RETRY_S = 6 * 3600
"""A failed place is tried again for the job after a back-off: 5 minutes after its first failure there, doubling with
each further failure, at most 6 hours apart. A cluster that timed out once, or lost a node, is not shut out of a job
for good, which matters most when it is the only place the job fits."""

def _province(name: str) -> str:
    from suanli.jobs.service import _normalize_province

    return _normalize_province(name)


def _offer_rows(session: Session, *where: Any) -> list[tuple[Product, bool, str]]:
    return list(session.execute(select(Product, Cluster.healthy, Datacenter.name)
                                .join(Cluster, Cluster.id == Product.cluster_id)
                                .join(Datacenter, Datacenter.id == Product.datacenter_id)
                                .where(Cluster.state == ClusterState.ACTIVE,
                                       Datacenter.status == DatacenterStatus.APPROVED, *where)
                                .order_by(Product.id)).all())


def _offer(product: Product, healthy: bool, datacenter_name: str, free: int) -> Offer:
    return Offer(
        product_id=str(product.id), datacenter_id=str(product.datacenter_id), cluster_id=str(product.cluster_id),
        province=_province(product.province), chip_key=product.chip_key or "", ecosystem=product.ecosystem or "",
        accel_memory_gib=product.accel_memory_gib or 0, fp16_tflops=product.fp16_tflops or 0.0,
        accelerators_per_unit=product.accelerators, vcpus_per_unit=product.vcpus,
        memory_gib_per_unit=product.memory_gib, free_units=free,
        price_per_unit_hour_fen=product.price_on_demand_fen, spot_floor_fen=product.price_spot_floor_fen,
        healthy=bool(healthy), total_units=max(free, product.stock_units), datacenter_name=datacenter_name,
        product_name=product.name, unit_is_server=True)


def load_offers(session: Session) -> list[Offer]:
    """Every visible product on an active cluster of an approved data center, as an offer with its free units."""
    pending = dict(session.execute(select(Order.product_id, func.sum(Order.units))
                                   .where(Order.status == OrderStatus.PENDING).group_by(Order.product_id)).all())
    return [_offer(product, healthy, name,
                   max(0, product.stock_units - product.allocated_units - int(pending.get(product.id) or 0)))
            for product, healthy, name in _offer_rows(session, Product.is_visible.is_(True))]


def load_held(session: Session, org_ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[list[Offer], list[held.Holding]]]:
    """Per organization with queued jobs: its held capacity (``jobs.held``) as offers at price 0, and the holdings
    behind them. Products a seller no longer lists still run the leases already sold (their cluster must be
    active, as for any placement)."""
    holdings = held.holdings(session, org_ids)
    if not holdings:
        return {}
    market = [_offer(product, healthy, name, 0) for product, healthy, name in
              _offer_rows(session, Product.id.in_({h.product_id for h in holdings}))]
    out: dict[uuid.UUID, tuple[list[Offer], list[held.Holding]]] = {}
    for org_id in sorted({h.org_id for h in holdings}, key=str):
        mine = [h for h in holdings if h.org_id == org_id]
        org_offers = held.offers(market, mine)
        if org_offers:
            out[org_id] = (org_offers, mine)
    return out


def _epoch_s(at: dt.datetime) -> float:
    """Seconds since the epoch (a naive time, as SQLite returns it, is UTC)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)).timestamp()


def blocked_places(attempts: list[dict[str, Any]], now: dt.datetime) -> tuple[set[str], set[str]]:
    """(offers, clusters) the job's failed attempts still block at ``now``: each until its back-off has passed
    since the latest failure there (``FIRST_RETRY_S`` doubled per earlier failure, at most ``LAST_RETRY_S``)."""
    failures: dict[tuple[bool, str], list[dt.datetime]] = {}
    for a in attempts:
        if a.get("blocks"):
            place = (bool(a.get("cluster_failed")), a["cluster_id"] if a.get("cluster_failed") else a["offer_id"])
            failures.setdefault(place, []).append(dt.datetime.fromisoformat(a["at"]))
    offers, clusters = set(), set()
    for (cluster_failed, place), times in failures.items():
        back_off = min(FIRST_RETRY_S * 2 ** (len(times) - 1), LAST_RETRY_S)
        if _epoch_s(now) < _epoch_s(max(times)) + back_off:
            (clusters if cluster_failed else offers).add(place)
    return offers, clusters


def job_request(job: Job, now: dt.datetime) -> JobRequest:
    blocked_offers, blocked_clusters = blocked_places(job.attempts or [], now)
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
    """Spot jobs running now, one entry per product they hold (every part of a gang: evicting one part requeues
    the whole gang)."""
    jobs = session.scalars(select(Job).where(Job.state.in_(ACTIVE_STATES), Job.mode == JobMode.SPOT,
                                             Job.product_id.is_not(None), Job.held_kind.is_(None)))
    running = []
    for j in jobs:
        parts = [(p["product_id"], p["units"]) for p in j.placement_parts or []] or [(str(j.product_id), j.units or 1)]
        for product_id, units in parts:
            running.append(RunningSpot(job_id=str(j.id), offer_id=product_id, units=units,
                                       bid_hourly_fen=j.bid_hourly_fen or 0))
    return running


def place(database: Database, clock: Clock, summary: RoundSummary) -> None:
    """Held capacity first (each organization's queued jobs against what it holds, ``jobs.held``), then the
    market round for the rest; both are the same policy."""
    with database.unit_of_work(write=False) as session:
        queue = list(session.scalars(select(Job).where(Job.state.in_(WAITING_STATES)).order_by(Job.seq, Job.id)))
        if not queue:
            return
        offers = load_offers(session)
        running = _running_spot(session)
        holding = load_held(session, {j.buyer_org_id for j in queue
                                      if j.held_capacity != HeldCapacity.NEVER.value})
    now = clock.now()
    requests = [job_request(j, now) for j in queue]
    org_of = {str(j.id): j.buyer_org_id for j in queue}
    only = {str(j.id) for j in queue if j.held_capacity == HeldCapacity.ONLY.value}
    never = {str(j.id) for j in queue if j.held_capacity == HeldCapacity.NEVER.value}
    on_held: list[tuple[Placement, held.Holding]] = []
    waiting_for_held: dict[str, Unplaceable] = {}
    for org_id, (org_offers, org_holdings) in holding.items():
        mine = [r for r in requests if org_of[r.id] == org_id and r.id not in never]
        if not mine:
            continue
        held_round = schedule_round(mine, org_offers, (), rules=HELD_RULES, now_s=_epoch_s(now))
        taken: dict[uuid.UUID, int] = {}
        for p in held_round.placements:
            h = held.choose([dataclasses.replace(h, busy=h.busy + taken.get(h.order_id, 0)) for h in org_holdings],
                            org_id, p.offer_id, p.units)
            if h is not None:
                taken[h.order_id] = taken.get(h.order_id, 0) + p.units
                on_held.append((held.on_held(p, h), h))
        waiting_for_held.update({u.job_id: u for u in held_round.unplaceable if u.job_id in only})
    placed_on_held = {p.job_id for p, _h in on_held}
    market = [r for r in requests if r.id not in placed_on_held and r.id not in only]
    result = schedule_round(market, offers, running, rules=PLATFORM_RULES, now_s=_epoch_s(now))
    for pre in {p.job_id: p for p in result.preemptions}.values():  # a gang's parts: requeued once
        _preempt(database, clock, uuid.UUID(pre.job_id), pre.for_job_id, summary)
    for placement, holding_used in on_held:
        try:
            _place_one(database, clock, uuid.UUID(placement.job_id), placement, summary, holding_used)
        except Exception as exc:
            log.exception("placing job %s on held capacity failed", placement.job_id)
            summary.errors.append(f"job {placement.job_id}: {type(exc).__name__}: {exc}")
    by_product = {o.product_id: o for o in offers}
    asked = {r.id: r.accelerators for r in requests}
    for placement in result.placements:
        placement = with_gang_reason(placement, by_product, asked[placement.job_id])
        try:
            _place_with_failover(database, clock, placement, summary)
        except Exception as exc:
            log.exception("placing job %s failed", placement.job_id)
            summary.errors.append(f"job {placement.job_id}: {type(exc).__name__}: {exc}")
    for unplaceable in result.unplaceable:
        _record_unplaceable(database, unplaceable, summary)
    for job_id in sorted(only - placed_on_held):
        _record_unplaceable(database, _waiting_for_held(job_id, waiting_for_held.get(job_id)), summary)


def _waiting_for_held(job_id: str, u: Unplaceable | None) -> Unplaceable:
    """A job that runs only on held capacity and was not placed there: why, in the engine's words when it looked."""
    if u is None:
        return Unplaceable(job_id=job_id, eliminated={}, reason_message=msg(
            "it runs only on capacity you hold, and you hold none it can use now (an active reserved lease of "
            "batch capacity on an active cluster, or an emergency's capacity you pay for)"))
    return dataclasses.replace(u, reason_message=(msg("waiting for capacity you hold"),
                                                  *((u.reason_message,) if isinstance(u.reason_message, Message)
                                                    else tuple(u.reason_message))))


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
            request, offers, running = job_request(job, clock.now()), load_offers(session), _running_spot(session)
        nxt = next_placement(request, offers, (), running, rules=PLATFORM_RULES)
        if isinstance(nxt, Unplaceable):
            _record_unplaceable(database, nxt, summary)
            return
        for victim in nxt.preempted:
            _preempt(database, clock, uuid.UUID(victim), nxt.job_id, summary)
        placement = with_gang_reason(nxt, {o.product_id: o for o in offers}, request.accelerators)


def _place_one(database: Database, clock: Clock, job_id: uuid.UUID, p: Placement, summary: RoundSummary,
               holding: held.Holding | None = None) -> str:
    """Claim the job and place its order (one transaction), then submit it. ``placed``, ``skip`` (someone else has
    it, or the order could not be placed: the next round tries again) or ``retry`` (the submit failed).

    On held capacity (``holding``) no order is placed: the held order is locked and its free units counted again
    in the claim's transaction, so two rounds cannot both fill its last units."""
    now = clock.now()
    with database.unit_of_work() as session:
        claimed = _claim(database, session, clock, job_id, p, summary, holding)
        if isinstance(claimed, str):
            return claimed
        n, cluster, spec_fields = claimed

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
                     kind=kind_word(cluster.kind), error=clip(message))
        with database.unit_of_work() as session:
            job = session.get_one(Job, job_id)
            maybe_started = getattr(exc, "backend_job_id", None)  # sent, but no answer: stop it when it answers
            if maybe_started is not None:
                strays.record(session, job, render(reason), now, backend_job_id=maybe_started)
            # A gang's submit failing is the cluster's failure to run it (its backend may not run gangs at all,
            # or one of its servers would not start): the whole cluster is blocked for the job, not one product,
            # so the failover does not try the same cluster's other products next.
            requeue(session, clock, job, "submit_failed", reason, charge=False,
                    cluster_failed=spec_fields["nodes"] > 1)
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
            cancel_on_backend(session, job, now)
            session.expunge(job)
            return "skip"
    summary.placed.append({"job_id": str(job_id), "product_id": p.offer_id, "datacenter_id": p.datacenter_id,
                           "cluster_id": p.cluster_id, "units": p.units, "backend_job_id": backend_job_id,
                           "reason": p.reason})
    return "placed"


def _claim(database: Database, session: Session, clock: Clock, job_id: uuid.UUID, p: Placement,
           summary: RoundSummary, holding: held.Holding | None) -> str | tuple[int, Cluster, dict[str, Any]]:
    """The claim's transaction: the job moves to ``scheduled`` with its placement and its order(s) (or its held
    order); the attempt number, the cluster and the backend's job description, or ``skip``."""
    now = clock.now()
    job = session.get(Job, job_id)
    if job is None or job.state not in WAITING_STATES:
        return "skip"
    if holding is not None:
        session.scalar(select(Order.id).where(Order.id == holding.order_id).with_for_update())
        still = next((h for h in held.holdings(session, [job.buyer_org_id])
                      if h.order_id == holding.order_id and h.kind is holding.kind), None)
        if still is None or still.free < p.units:
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
    if holding is not None:
        session.execute(update(Job).where(Job.id == job.id)
                        .values(order_id=holding.order_id, placement_parts=[], held_kind=holding.kind.value)
                        .execution_options(synchronize_session=False))
    else:
        buyer = session.get_one(User, job.buyer_user_id)
        try:
            with session.begin_nested():  # every part's order, or none
                placed = place_part_orders(session, clock, buyer, job, p, n)
        except DomainError as exc:
            session.rollback()
            with database.unit_of_work() as s2:
                s2.execute(update(Job).where(Job.id == job_id, Job.state.in_(WAITING_STATES))
                           .values(**detail_values(msg("not placed: the order failed: %(error)s",
                                                       error=clip(exc.message))))
                           .execution_options(synchronize_session=False))
            summary.unplaceable.append({"job_id": str(job_id), "message": f"order failed: {exc.message}",
                                        "eliminated": {}, "offers_considered": 0})
            return "skip"
        session.execute(update(Job).where(Job.id == job.id)
                        .values(order_id=placed[0][2].id, placement_parts=parts_column(placed), held_kind=None,
                                order_ids=[*(job.order_ids or []), *(str(order.id) for _p, _u, order in placed)])
                        .execution_options(synchronize_session=False))
    session.refresh(job)
    cluster = session.get_one(Cluster, job.cluster_id)
    product = session.get_one(Product, job.product_id)
    return n, cluster, _spec_fields(job, product, p, cluster.kind, n)


def _spec_fields(job: Job, product: Product, p: Placement, kind: ClusterKind, attempt: int) -> dict[str, Any]:
    """The backend's job description: one run, or one rank per unit for a job larger than one server (a gang);
    vCPUs and memory are per rank then, the job's share of each unit."""
    nodes, accelerators = launch_shape(job.accelerators, p.units, product.accelerators, bool(p.parts))
    if not job.accelerators:
        accelerators = 0
    return {
        "job_id": str(job.id), "name": job.name, "command": job.command, "script": job.script,
        "env": dict(job.env or {}), "files": dict(job.files or {}), "accelerators": accelerators,
        "chip": product.chip_key if accelerators else None, "nodes": nodes,
        # local is not a real GPU pool: the job sees devices 0..n-1 of this machine (see docs/scheduling.md)
        "device_indices": tuple(range(accelerators * nodes)) if kind is ClusterKind.LOCAL else (),
        "vcpus": max(1, -(-job.vcpus // nodes)),
        "memory_gib": (job.memory_gib / nodes if nodes > 1 else job.memory_gib) or None,
        "time_limit_minutes": job.max_runtime_minutes, "attempt": attempt,
    }
