"""The instance loop: what happens to instances as time passes. One pass (``run_pass``), under a lock like the
scheduler's round (PostgreSQL: an advisory lock shared by every API process; SQLite: one per process):

1. **Start.** Instances to be started by their cluster (``provisioning``, automated, no run yet) are claimed with a
   conditional UPDATE (``start_claimed_at``), committed, started on the backend, and the run id the backend
   returns is recorded. ``start_instance`` is idempotent by the instance id, so a loop that died mid-start is
   taken over after ``START_CLAIM_SECONDS`` and starts it once. A backend that refuses fails the delivery: the
   order is refunded in full.
2. **Watch.** Every started instance's backend is asked ``instance_status``. A provisioning instance that runs gets
   its access details; when every instance of an order runs, the order starts (``trading.delivery``: billing from
   now). One that failed or is gone fails the delivery (refund). A running one that died is ``failed``; its buyer is
   told, and a per-second order none of whose instances still runs is ended (billed up to then).
3. **Deadlines.** An instance still not delivered at its deadline (the operator's ``delivery_deadline_minutes``
   after it started provisioning) fails the delivery: stopped on its cluster, the order refunded in full.
4. **Stop.** Instances whose order ended (released, out of funds, term over, preempted, cancelled, not delivered)
   are stopped on their backend (``stopping`` → ``stopped``); hand-delivered ones are marked stopped and the seller
   reclaims the machine.
5. **Orphans** (on the first pass of a process, then every ``ORPHAN_EVERY`` passes): every run a cluster holds
   that no live instance of ours names is stopped, so a restart never leaves a machine running unbilled.

Each instance's change is its own unit of work; no transaction is held open while a backend is called.
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
from suanli.backends.instances import InstanceBackend, InstanceRunState, InstanceRunStatus, InstanceSpec
from suanli.catalog.models import Product
from suanli.core.billing import Clock
from suanli.core.messages import Text, clip, msg, render
from suanli.db import Database
from suanli.instances.models import LIVE_STATES, DeliveryMethod, Instance, InstanceState
from suanli.instances.service import detail_values, instances_of_order, set_state
from suanli.jobs.clusters import contacted_clusters
from suanli.jobs.models import Cluster, ClusterKind
from suanli.trading.delivery import locked_order, refund_undelivered, start_delivered
from suanli.trading.models import EndReason, NotificationKind, Order, OrderMode, OrderStatus, UsageEvent

log = logging.getLogger("suanli.instances")

LOCK_KEY = 0x5A4E_4C49_494E_5354 & 0x7FFF_FFFF_FFFF_FFFF  # "suanli instances": the advisory lock of a pass
START_CLAIM_SECONDS = 120
"""A claim to start an instance older than this, with no run recorded (its loop died mid-start), is taken over."""
ORPHAN_EVERY = 30
"""Passes between two sweeps for orphaned runs (and the first pass of every process)."""
ENDED_ORDER_STATES = (OrderStatus.ENDED, OrderStatus.CANCELLED, OrderStatus.PREEMPTED)

_kick = threading.Event()


def kick() -> None:
    """Ask this process's instance loop for a pass now (after an order or a release), not at its next tick."""
    _kick.set()


@dataclass
class PassSummary:
    skipped: bool = False
    started: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    orders_started: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_pass(database: Database, clock: Clock, *, orphans: bool = False) -> PassSummary:
    """One pass of the loop (see the module docstring); ``orphans`` also sweeps the clusters for orphaned runs."""
    summary = PassSummary()
    with database.exclusive(LOCK_KEY) as got:
        if not got:
            summary.skipped = True
            return summary
        with _Backends(database) as pool:
            for step in (_start_new, _watch, _enforce_deadlines, _stop_ended):
                try:
                    step(database, clock, pool, summary)
                except Exception as exc:  # one step's trouble must not stop the others; the next pass retries
                    log.exception("instance loop step %s failed", step.__name__)
                    summary.errors.append(f"{step.__name__}: {type(exc).__name__}: {exc}")
            if orphans:
                _reap_orphans(database, pool, summary)
    return summary


class _Backends:
    """The backends of the clusters a pass talks to, made once per pass and closed at its end."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._made: dict[uuid.UUID, Any] = {}

    def __enter__(self) -> _Backends:
        return self

    def __exit__(self, *exc: object) -> None:
        for backend in self._made.values():
            try:
                backend.close()
            except Exception:  # closing must not hide the pass's own outcome
                log.warning("closing a backend failed", exc_info=True)

    def get(self, cluster_id: uuid.UUID) -> InstanceBackend:
        backend = self._made.get(cluster_id)
        if backend is None:
            from suanli.jobs.service import make_backend

            with self.database.unit_of_work(write=False) as session:
                cluster = session.get(Cluster, cluster_id)
                if cluster is None:
                    raise backends.BackendError("the instance's cluster was deleted")
                backend = make_backend(cluster)
            if not isinstance(backend, InstanceBackend) or not backend.capabilities().supports("instances"):
                backend.close()
                raise backends.BackendError(f"the {backend.kind} backend cannot start instances")
            self._made[cluster_id] = backend
        return backend


# ---------------------------------------------------------------- transitions (used by the service too)

def mark_running(session: Session, instance: Instance, access: dict[str, Any], now: dt.datetime, *,
                 secrets_update: dict[str, Any] | None = None, detail: Text | None = None) -> bool:
    """A provisioning instance runs: its access details are recorded; when it is the last of its order to run, the
    order starts (billing from ``now``) and the buyer is told. False if it was no longer provisioning."""
    values: dict[str, Any] = {"state": InstanceState.RUNNING, "access": access, "delivered_at": now,
                              "checked_at": now, **detail_values(detail or msg("running"))}
    if secrets_update:
        current = instance.secrets if isinstance(instance.secrets, dict) else {}
        values["secrets"] = {**current, **secrets_update}
    if not set_state(session, instance.id, (InstanceState.PROVISIONING,), **values):
        return False
    session.refresh(instance)
    siblings = instances_of_order(session, instance.order_id)
    if all(s.state is InstanceState.RUNNING for s in siblings):
        if start_delivered(session, instance.order_id, now):
            from suanli.trading.service import notify

            order = session.get_one(Order, instance.order_id)
            notify(session, order.buyer_org_id, NotificationKind.INSTANCE_READY, order.id,
                   f"订单 {order.id} 的 {order.units} 个实例已交付，可以登录使用；自现在起计费。",
                   f"The {order.units} instance(s) of order {order.id} are ready to log into; billing starts now.",
                   now)
    return True


def fail_delivery(session: Session, instance: Instance, now: dt.datetime, reason: Text) -> bool:
    """An instance could not be delivered: it fails, its order's other instances are stopped, and the order is
    refunded in full (``trading.delivery.refund_undelivered``). False if it was not waiting for delivery."""
    if not set_state(session, instance.id, (InstanceState.PROVISIONING, InstanceState.PENDING),
                     state=InstanceState.FAILED, ended_at=now, **detail_values(reason)):
        return False
    for sibling in instances_of_order(session, instance.order_id):
        if sibling.id != instance.id and sibling.state in LIVE_STATES:
            _begin_stop(session, sibling, now, msg("stopped: another instance of the lease could not be delivered"))
    refund_undelivered(session, instance.order_id, now, render(reason)[:200], _zh(reason))
    return True


def _zh(text: Text) -> str:
    """The Chinese of an engine sentence, for a notification (the web's gettext catalogs)."""
    from suanli.web.i18n import ZH, say

    return say(text, ZH)[:200]


def _begin_stop(session: Session, instance: Instance, now: dt.datetime, detail: Text) -> InstanceState | None:
    """Take a live instance towards ``stopped``: through ``stopping`` when a backend run must be stopped (the
    state it moved to, None if it was no longer live). A hand-delivered one is stopped at once: its seller
    reclaims the machine."""
    if instance.delivery is DeliveryMethod.AUTOMATED and instance.backend_run_id is not None:
        moved = set_state(session, instance.id, LIVE_STATES[:3], state=InstanceState.STOPPING,
                          **detail_values(detail))
        return InstanceState.STOPPING if moved else None
    moved = set_state(session, instance.id, LIVE_STATES, state=InstanceState.STOPPED, ended_at=now,
                      **detail_values(detail))
    return InstanceState.STOPPED if moved else None


def _end_order_after_failure(session: Session, order_id: uuid.UUID, now: dt.datetime) -> None:
    """A per-second lease none of whose instances runs any more is ended now: billed up to now, the rest released.
    A reserved term is paid for: it stays, and the buyer (told) may ask the operator for a refund."""
    from suanli.trading.service import audit_order_ended, close_order, finish_per_second, record_order_usage

    order = locked_order(session, order_id)
    if order is None or order.status is not OrderStatus.ACTIVE or order.mode is OrderMode.RESERVED:
        return
    if any(s.state in (InstanceState.RUNNING, InstanceState.PROVISIONING)
           for s in instances_of_order(session, order_id)):
        return
    close_order(session, order, OrderStatus.ENDED, now, EndReason.INSTANCE_FAILED)
    finish_per_second(session, order, now)
    record_order_usage(session, order, UsageEvent.STOP, now, note="instance_failed")
    audit_order_ended(session, order)


# ---------------------------------------------------------------- steps

def _start_new(database: Database, clock: Clock, pool: _Backends, summary: PassSummary) -> None:
    now = clock.now()
    stale = now - dt.timedelta(seconds=START_CLAIM_SECONDS)
    unclaimed = Instance.start_claimed_at.is_(None) | (Instance.start_claimed_at < stale)
    with database.unit_of_work(write=False) as session:
        ids = list(session.scalars(select(Instance.id).where(
            Instance.state == InstanceState.PROVISIONING, Instance.delivery == DeliveryMethod.AUTOMATED,
            Instance.backend_run_id.is_(None), unclaimed).order_by(Instance.created_at, Instance.unit_index)))
    for instance_id in ids:
        with database.unit_of_work() as session:
            claimed = session.execute(update(Instance).where(
                Instance.id == instance_id, Instance.state == InstanceState.PROVISIONING,
                Instance.backend_run_id.is_(None), unclaimed).values(start_claimed_at=clock.now())
                .execution_options(synchronize_session=False))
            if claimed.rowcount != 1:  # another process claimed it between our read and UPDATE
                continue
            instance = session.get_one(Instance, instance_id)
            spec_or_error = _spec(session, instance)
        try:
            if isinstance(spec_or_error, Exception):
                raise spec_or_error
            assert instance.cluster_id is not None
            run_id = pool.get(instance.cluster_id).start_instance(spec_or_error)
        except Exception as exc:
            reason = msg("the cluster could not start it: %(error)s", error=_error_text(exc))
            _fail_and_stop(database, clock, pool, instance_id, reason, summary)
            continue
        with database.unit_of_work() as session:
            recorded = session.execute(update(Instance).where(Instance.id == instance_id,
                                                              Instance.backend_run_id.is_(None),
                                                              Instance.state == InstanceState.PROVISIONING)
                                       .values(backend_run_id=run_id).execution_options(synchronize_session=False))
        if recorded.rowcount != 1:  # ended (cancelled, past its deadline) while it was being started
            _stop_run(pool, instance.cluster_id, run_id, summary)
            continue
        summary.started.append(str(instance_id))


def _fail_and_stop(database: Database, clock: Clock, pool: _Backends, instance_id: uuid.UUID, reason: Text,
                   summary: PassSummary) -> None:
    """Fail an instance's delivery (its order refunded in full), then stop whatever of its run was started."""
    with database.unit_of_work() as session:
        instance = session.get_one(Instance, instance_id)
        if not fail_delivery(session, instance, clock.now(), reason):
            return
        summary.failed.append({"instance_id": str(instance_id), "reason": render(reason)})
        summary.refunded.append(str(instance.order_id))
    if instance.backend_run_id is not None and instance.cluster_id is not None:
        _stop_run(pool, instance.cluster_id, instance.backend_run_id, summary)


def _error_text(exc: Exception) -> str:
    """A backend's own words (``BackendError.message``: written by suanli, never a remote body), else the kind."""
    message = getattr(exc, "message", None)
    return (message if isinstance(message, str) and message else type(exc).__name__)[:300]


def _spec(session: Session, instance: Instance) -> InstanceSpec | Exception:
    product = session.get_one(Product, instance.product_id)
    cluster = session.get(Cluster, instance.cluster_id) if instance.cluster_id else None
    token = instance.secrets.get("jupyter_token") if isinstance(instance.secrets, dict) else None
    if not token:
        return backends.BackendError("the instance's secrets cannot be read with this platform's key")
    local = cluster is not None and cluster.kind is ClusterKind.LOCAL
    try:
        return InstanceSpec(
            instance_id=str(instance.id), image=instance.image_key, image_reference=instance.image_reference,
            authorized_keys=tuple(instance.authorized_keys or ()), jupyter_token=token,
            ports=tuple(instance.ports or ()), accelerators=product.accelerators,
            chip=product.chip_key if product.accelerators else None,
            ecosystem=product.ecosystem if product.accelerators else None,
            device_indices=tuple(range(product.accelerators)) if local else (), vcpus=max(1, product.vcpus),
            memory_gib=product.memory_gib or None, disk_gib=product.disk_gib or None,
            env={"SUANLI_INSTANCE_ID": str(instance.id), "SUANLI_ORDER_ID": str(instance.order_id)})
    except backends.BackendError as exc:
        return exc


def _watch(database: Database, clock: Clock, pool: _Backends, summary: PassSummary) -> None:
    with database.unit_of_work(write=False) as session:
        rows = list(session.execute(select(Instance.id, Instance.cluster_id, Instance.backend_run_id, Instance.state)
                                    .where(Instance.delivery == DeliveryMethod.AUTOMATED,
                                           Instance.backend_run_id.is_not(None),
                                           Instance.state.in_((InstanceState.PROVISIONING, InstanceState.RUNNING)))
                                    .order_by(Instance.created_at)).all())
    for instance_id, cluster_id, run_id, state in rows:
        try:
            status = pool.get(cluster_id).instance_status(run_id)
        except backends.BackendUnavailable:
            continue  # ask again next pass; a provisioning one still has its deadline
        except backends.BackendError as exc:
            status = InstanceRunStatus(InstanceRunState.LOST, detail=exc.message)
        try:
            _apply_status(database, clock, pool, instance_id, state, status, summary)
        except Exception as exc:
            log.exception("recording the status of instance %s failed", instance_id)
            summary.errors.append(f"instance {instance_id}: {type(exc).__name__}: {exc}")


def _apply_status(database: Database, clock: Clock, pool: _Backends, instance_id: uuid.UUID, state: InstanceState,
                  status: InstanceRunStatus, summary: PassSummary) -> None:
    now = clock.now()
    if status.terminal and state is InstanceState.PROVISIONING:
        what = msg("it stopped on its cluster: %(detail)s", detail=clip(status.detail or status.state.value, 300))
        _fail_and_stop(database, clock, pool, instance_id, what, summary)
        return
    with database.unit_of_work() as session:
        instance = session.get_one(Instance, instance_id)
        if instance.state is not state:
            return
        if status.state is InstanceRunState.RUNNING and state is InstanceState.PROVISIONING:
            if status.access is None:
                return
            if mark_running(session, instance, _access_dict(status.access), now):
                summary.running.append(str(instance_id))
                order = session.get_one(Order, instance.order_id)
                if order.status is OrderStatus.ACTIVE and order.started_at == now:
                    summary.orders_started.append(str(order.id))
        elif status.terminal:
            what = msg("it stopped on its cluster: %(detail)s", detail=clip(status.detail or status.state.value, 300))
            if set_state(session, instance_id, (InstanceState.RUNNING,), state=InstanceState.FAILED, ended_at=now,
                         **detail_values(what)):
                from suanli.trading.service import notify

                summary.failed.append({"instance_id": str(instance_id), "reason": render(what)})
                notify(session, instance.buyer_org_id, NotificationKind.INSTANCE_FAILED, instance.order_id,
                       f"订单 {instance.order_id} 的实例 {instance.id} 已停止运行（{_zh(what)}）。",
                       f"Instance {instance.id} of order {instance.order_id} stopped running ({render(what)[:200]}).",
                       now)
                _end_order_after_failure(session, instance.order_id, now)
        else:
            session.execute(Instance.__table__.update().where(Instance.__table__.c.id == instance_id)
                            .values(checked_at=now))


def _access_dict(access: Any) -> dict[str, Any]:
    return {"ssh_host": access.ssh_host, "ssh_port": int(access.ssh_port), "ssh_user": access.ssh_user,
            "ssh_host_key_fingerprints": list(access.ssh_host_key_fingerprints),
            "jupyter_url": access.jupyter_url or "",
            "ports": {str(inner): [host, int(port)] for inner, (host, port) in access.ports.items()}, "note": ""}


def _enforce_deadlines(database: Database, clock: Clock, pool: _Backends, summary: PassSummary) -> None:
    now = clock.now()
    with database.unit_of_work(write=False) as session:
        late = list(session.scalars(select(Instance.id).where(Instance.state == InstanceState.PROVISIONING,
                                                              Instance.delivery_deadline <= now)))
    for instance_id in late:
        _fail_and_stop(database, clock, pool, instance_id, msg("not delivered by its deadline"), summary)


def _stop_run(pool: _Backends, cluster_id: uuid.UUID, run_id: str, summary: PassSummary) -> bool:
    try:
        pool.get(cluster_id).stop_instance(run_id)
        return True
    except Exception as exc:  # tried again: by the next pass (stopping) or by the orphan sweep
        log.warning("stopping instance run %s failed: %s", run_id, exc)
        summary.errors.append(f"stop {run_id}: {_error_text(exc)}")
        return False


def _stop_ended(database: Database, clock: Clock, pool: _Backends, summary: PassSummary) -> None:
    now = clock.now()
    with database.unit_of_work() as session:
        ending = list(session.scalars(select(Instance).join(Order, Order.id == Instance.order_id).where(
            Instance.state.in_((InstanceState.PENDING, InstanceState.PROVISIONING, InstanceState.RUNNING)),
            Order.status.in_(ENDED_ORDER_STATES))))
        for instance in ending:
            if _begin_stop(session, instance, now, msg("stopped: the lease ended")) is InstanceState.STOPPED:
                summary.stopped.append(str(instance.id))
    with database.unit_of_work(write=False) as session:
        stopping = list(session.execute(select(Instance.id, Instance.cluster_id, Instance.backend_run_id)
                                        .where(Instance.state == InstanceState.STOPPING)).all())
    for instance_id, cluster_id, run_id in stopping:
        if cluster_id is not None and run_id is not None and not _stop_run(pool, cluster_id, run_id, summary):
            continue
        with database.unit_of_work() as session:
            if set_state(session, instance_id, (InstanceState.STOPPING,), state=InstanceState.STOPPED,
                         ended_at=clock.now(), **detail_values(msg("stopped: the lease ended"))):
                summary.stopped.append(str(instance_id))


def _reap_orphans(database: Database, pool: _Backends, summary: PassSummary) -> None:
    with database.unit_of_work(write=False) as session:
        clusters = [c.id for c in session.scalars(contacted_clusters().where(Cluster.kind.in_(
            [ClusterKind.LOCAL, ClusterKind.SLURM])))]
        live = set(session.scalars(select(Instance.backend_run_id).where(
            Instance.state.in_(LIVE_STATES), Instance.backend_run_id.is_not(None))))
    for cluster_id in clusters:
        try:
            runs = pool.get(cluster_id).instance_runs()
        except backends.BackendError:
            continue  # a cluster that cannot start instances, or cannot be reached now
        for run_id in runs:
            if run_id not in live and _stop_run(pool, cluster_id, run_id, summary):
                summary.orphans.append(run_id)


# ---------------------------------------------------------------- the background thread of `suanli serve`

class InstanceThread(threading.Thread):
    """Runs ``run_pass`` every ``interval`` seconds, or at once when kicked (an order placed or released in this
    process), until ``stop()``. The first pass sweeps for orphaned runs (instances left by a crash)."""

    def __init__(self, database: Database, clock: Clock, interval: float) -> None:
        super().__init__(name="suanli-instances", daemon=True)
        self.database, self.clock, self.interval = database, clock, interval
        self._stopped = threading.Event()
        self.passes = 0

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                summary = run_pass(self.database, self.clock, orphans=self.passes % ORPHAN_EVERY == 0)
                self.passes += 1
                if summary.started or summary.running or summary.failed or summary.stopped or summary.orphans:
                    log.info("instances: started %d, running %d, failed %d, stopped %d, orphans %d",
                             len(summary.started), len(summary.running), len(summary.failed),
                             len(summary.stopped), len(summary.orphans))
            except Exception:  # keep going: the next pass retries
                log.exception("instance pass failed")
            _kick.wait(self.interval)
            _kick.clear()

    def stop(self) -> None:
        self._stopped.set()
        _kick.set()
