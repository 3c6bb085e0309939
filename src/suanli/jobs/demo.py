"""The demo's clusters and its end-to-end job.

The demo's data centers are not real: every one of them gets a ``local`` cluster, so their jobs run as plain
subprocesses **on the machine that runs suanli**, in ``$SUANLI_HOME/jobs/``. ``local`` is not a real GPU pool: a job
sees device indices 0..n-1 of this machine for the n accelerators it rents, whatever the machine has.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, Product, ProductKind
from suanli.core.billing import Clock
from suanli.db import Database, utcnow
from suanli.jobs.models import Cluster, ClusterKind, Job
from suanli.jobs.scheduler import run_round

DEMO_JOB_COMMAND = ("python3 -c \"import os, time; print('你好 from a suanli job', os.environ['SUANLI_JOB_ID']); "
                    "print('devices:', os.environ.get('CUDA_VISIBLE_DEVICES')); time.sleep(2)\"")


def demo_clusters(session: Session, base_dir: Path) -> int:
    """A ``local`` cluster for every data center that has none, with its accelerator and CPU products on it.
    Returns the number of clusters made (0 when the demo already has them)."""
    made = 0
    have = set(session.scalars(select(Cluster.datacenter_id)))
    for datacenter_id in session.scalars(select(Datacenter.id).order_by(Datacenter.id)):
        if datacenter_id in have:
            continue
        cluster = Cluster(datacenter_id=datacenter_id, name="local", kind=ClusterKind.LOCAL, endpoint=str(base_dir),
                          credentials={}, options={}, healthy=True, health_detail="not checked yet",
                          consecutive_failures=0, created_at=utcnow())
        session.add(cluster)
        session.flush()
        session.execute(update(Product).where(Product.datacenter_id == datacenter_id, Product.cluster_id.is_(None),
                                              Product.kind.in_([ProductKind.ACCELERATOR, ProductKind.CPU]))
                        .values(cluster_id=cluster.id).execution_options(synchronize_session=False))
        made += 1
    return made


@dataclass(frozen=True)
class DemoJobResult:
    job_id: uuid.UUID
    state: str
    detail: str
    placement: str | None
    logs: str
    charged_fen: int | None
    order_id: uuid.UUID | None


def run_demo_job(database: Database, clock: Clock, buyer_email: str, timeout: float = 60.0) -> DemoJobResult:
    """Submit a small job as the demo buyer and run scheduler rounds until it ends: placed, run as a local
    process, settled through the trading ledger."""
    from suanli.jobs.schemas import JobIn
    from suanli.jobs.service import job_logs, submit_job
    from suanli.trading.models import Order

    with database.unit_of_work() as session:
        buyer = session.scalar(select(User).where(User.email == buyer_email))
        if buyer is None:
            raise RuntimeError(f"no demo buyer {buyer_email}")
        job = submit_job(session, clock, buyer, JobIn.model_validate({
            "name": "demo: hello", "command": DEMO_JOB_COMMAND, "resources": {"accelerators": 1, "chip": "A800"},
            "constraints": {"provinces": ["安徽"]}, "objective": "cost", "mode": "on_demand",
            "max_runtime_minutes": 10}))
        job_id = job.id
    deadline = time.monotonic() + timeout
    while True:
        run_round(database, clock)
        with database.unit_of_work(write=False) as session:
            job = session.get_one(Job, job_id)
            if job.state.terminal or job.unplaceable or time.monotonic() > deadline:
                break
        time.sleep(0.3)
    with database.unit_of_work(write=False) as session:
        job = session.get_one(Job, job_id)
        buyer = session.get_one(User, job.buyer_user_id)
        logs = job_logs(session, buyer, job.id)[1] if job.backend_job_id else ""
        order_id = uuid.UUID(job.order_ids[-1]) if job.order_ids else None
        charged = session.scalar(select(Order.charged_fen).where(Order.id == order_id)) if order_id else None
        placement = None
        if job.datacenter_id is not None:
            placement = session.scalar(select(Datacenter.name).where(Datacenter.id == job.datacenter_id))
        return DemoJobResult(job.id, job.state.value, job.state_detail, placement, logs, charged, order_id)
