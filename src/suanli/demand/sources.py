"""Where unmet demand is read from: each source turns its rows of a period into pure
:class:`~suanli.core.demand.DemandSignal` s.

A source is anything with a ``name`` (one of ``core.demand.SOURCES``) and ``signals(session, since, until)``.
Open requests for quotes are the third source: capacity a buyer asked the market for and nobody has yet been
awarded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.core.demand import ANY, JOBS, REQUESTS, SEARCHES, DemandSignal, main_reason
from suanli.demand.models import SearchMiss
from suanli.jobs.models import WAITING_STATES, Job
from suanli.quotes.models import QuoteRequest, RequestStatus
from suanli.core.china_time import china_day, day_start


class DemandSource(Protocol):
    name: str

    def signals(self, session: Session, since: dt.date, until: dt.date) -> Iterator[DemandSignal]:
        """The signals of the days ``since`` to ``until`` (China Standard Time), both included."""
        ...


class UnplaceableJobs:
    """Queued jobs the scheduler could not place in its last round, on the day they were submitted, with the
    constraint that eliminated the most offers (``capacity_busy``: they only wait for capacity to free)."""

    name = JOBS

    def signals(self, session: Session, since: dt.date, until: dt.date) -> Iterator[DemandSignal]:
        rows = session.execute(
            select(Job.submitted_at, Job.chip_key, Job.provinces, Job.accelerators, Job.unplaceable)
            .where(Job.state.in_(WAITING_STATES), Job.unplaceable.is_not(None),
                   Job.submitted_at >= day_start(since), Job.submitted_at < day_start(until + dt.timedelta(days=1))))
        for submitted_at, chip, provinces, accelerators, unplaceable in rows:
            yield DemandSignal(JOBS, china_day(submitted_at), chip or ANY, tuple(sorted(set(provinces or ()))),
                               accelerators, main_reason((unplaceable or {}).get("eliminated") or {}))


class EmptySearches:
    """Catalog searches that matched nothing (``search_misses``)."""

    name = SEARCHES

    def signals(self, session: Session, since: dt.date, until: dt.date) -> Iterator[DemandSignal]:
        rows = session.execute(select(SearchMiss.day, SearchMiss.chip_key, SearchMiss.province,
                                      SearchMiss.accelerators)
                               .where(SearchMiss.day >= since, SearchMiss.day <= until))
        for day, chip, province, accelerators in rows:
            yield DemandSignal(SEARCHES, day, chip or ANY, (province,) if province else (), accelerators or 0)


class OpenRequests:
    """Requests for quotes still open (no quote awarded yet), on the day they were posted: their chip (``ANY`` when
    they asked for compute and memory instead), province and accelerators (per unit × units). Who asked is never
    read."""

    name = REQUESTS

    def signals(self, session: Session, since: dt.date, until: dt.date) -> Iterator[DemandSignal]:
        rows = session.execute(
            select(QuoteRequest.created_at, QuoteRequest.chip_key, QuoteRequest.province, QuoteRequest.accelerators,
                   QuoteRequest.units)
            .where(QuoteRequest.status == RequestStatus.OPEN, QuoteRequest.created_at >= day_start(since),
                   QuoteRequest.created_at < day_start(until + dt.timedelta(days=1))))
        for created_at, chip, province, accelerators, units in rows:
            yield DemandSignal(REQUESTS, china_day(created_at), chip or ANY, (province,) if province else (),
                               accelerators * units)


DEMAND_SOURCES: list[DemandSource] = [UnplaceableJobs(), EmptySearches(), OpenRequests()]
"""The sources read, in order."""
