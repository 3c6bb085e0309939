"""The procurement planner: recent demand (the jobs buyers submitted over the last days) replayed with
``suanli replay``'s engine against the market as listed now, without and with the capacity a seller proposes.

The market is every listed accelerator product with free units, one trace node per free unit (a server). Jobs
keep their chip, accelerators, vCPUs and memory, their submission times relative to the first, and their
duration (the time they ran, or their maximum runtime when they never ran). The replay does not model provinces
(its trace format has none): the proposal competes on chip, size and price. Searches that found nothing carry
no duration and are not replayed; requests for quotes, when installed, join as jobs of their term.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import Product, ProductKind
from suanli.jobs.models import Job
from suanli.scheduling.procurement import PlanOutcome, Proposal, market_nodes, outcome
from suanli.scheduling.replay import ReplayOptions, replay
from suanli.scheduling.traces import TraceJob
from suanli.trading.reports import day_start, last_days

MAX_JOBS = 5000
MAX_NODES_PER_PRODUCT = 16  # servers per product in the replayed market: bounds the replay on large markets


def recent_jobs(session: Session, now: dt.datetime, days: int) -> list[TraceJob]:
    """The accelerator jobs submitted over the last ``days`` days (China Standard Time), the newest
    ``MAX_JOBS``, as trace jobs."""
    since = day_start(last_days(now, days)[0])
    rows = list(session.execute(
        select(Job.id, Job.submitted_at, Job.started_at, Job.ended_at, Job.max_runtime_minutes, Job.accelerators,
               Job.chip_key, Job.vcpus, Job.memory_gib)
        .where(Job.submitted_at >= since, Job.accelerators > 0)
        .order_by(Job.submitted_at.desc(), Job.id).limit(MAX_JOBS)))
    if not rows:
        return []
    origin = min(r.submitted_at for r in rows)
    jobs = []
    for r in sorted(rows, key=lambda r: (r.submitted_at, r.id)):
        ran = (r.ended_at - r.started_at).total_seconds() if r.started_at and r.ended_at else None
        duration = ran if ran and ran > 0 else r.max_runtime_minutes * 60.0
        jobs.append(TraceJob(id=str(r.id), submit_time_s=(r.submitted_at - origin).total_seconds(),
                             duration_s=duration, accelerators=r.accelerators, chip=r.chip_key, vcpus=r.vcpus,
                             memory_gib=r.memory_gib))
    return jobs


def plan(session: Session, proposal: Proposal, now: dt.datetime, days: int = 14) -> PlanOutcome:
    """Replay the last ``days`` days of jobs without and with ``proposal``; what it would have taken."""
    jobs = recent_jobs(session, now, days)
    products = session.execute(
        select(Product.id, Product.datacenter_id, Product.province, Product.chip_key, Product.accelerators,
               Product.vcpus, Product.memory_gib, Product.stock_units - Product.allocated_units,
               Product.price_on_demand_fen)
        .where(Product.is_visible.is_(True), Product.kind == ProductKind.ACCELERATOR, Product.accelerators > 0,
               Product.stock_units > Product.allocated_units)
        .order_by(Product.id))
    market = market_nodes([(str(p[0]), str(p[1]), *p[2:]) for p in products], MAX_NODES_PER_PRODUCT)
    options = ReplayOptions()
    without = replay(jobs, market, options)
    with_ = replay(jobs, market + proposal.nodes(), options)
    return outcome(proposal, without, with_)
