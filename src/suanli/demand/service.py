"""Unmet demand for data centers: recording searches that found nothing, and the report the seller console, the
API and the CLI show (by chip, province and day, from every source of ``demand.sources``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from suanli.core import demand as core
from suanli.core.query import Condition, Query, format_query
from suanli.demand.models import SearchMiss
from suanli.demand.sources import DEMAND_SOURCES
from suanli.trading.reports import china_day, last_days

log = logging.getLogger("suanli.demand")

TOP_SEARCHES = 20


def _first_int(condition: Condition) -> int | None:
    try:
        return int(condition.values[0])
    except (TypeError, ValueError, IndexError):
        return None


def record_search_miss(session: Session, conditions: Sequence[Condition], now: dt.datetime) -> None:
    """Record a search that matched nothing: its conditions in field order as the query language writes them,
    and the chip, province and accelerator count it names (resolved as the search resolved them). Never who
    searched. Best effort: a database that refuses the row (busy) leaves the search's answer as it was."""
    from suanli.catalog.search import Resolver  # the catalog imports this module

    resolver = Resolver(session)
    normalized = []
    for c in conditions:  # names as the search resolved them: 910B and 昇腾910B are one chip, 安徽省 is 安徽
        if c.field == "chip":
            c = Condition(c.field, c.op, tuple(resolver.chips(c.values)))
        elif c.field in ("province", "city", "hub"):
            c = Condition(c.field, c.op, tuple(resolver.place(c.field, c.values)))
        normalized.append(c)
    ordered = tuple(sorted(normalized, key=lambda c: (c.field, c.op, tuple(map(str, c.values)))))
    chip = province = accelerators = None
    for c in ordered:
        if c.field == "chip" and c.op == "=" and len(c.values) == 1:
            chip = str(c.values[0])
        elif c.field == "province" and c.op == "=" and len(c.values) == 1:
            province = str(c.values[0])
        elif c.field == "accelerators" and c.op in ("=", ">="):
            accelerators = _first_int(c)
    try:
        with session.begin_nested():
            session.add(SearchMiss(day=china_day(now), filters=format_query(Query(ordered))[:1000],
                                   chip_key=chip, province=province, accelerators=accelerators))
    except DBAPIError as exc:  # pragma: no cover - a busy database; the search itself succeeded
        log.warning("search miss not recorded: %s", exc.__class__.__name__)


@dataclass(frozen=True)
class EmptySearch:
    filters: str
    count: int


@dataclass(frozen=True)
class DemandReport:
    days: list[dt.date]
    cells: list[core.DemandCell]
    by_chip: list[core.DemandTotal]
    by_province: list[core.DemandTotal]
    per_day: dict[str, list[int]]
    top_searches: list[EmptySearch]
    sources: list[str]


def unmet_demand(session: Session, now: dt.datetime, days: int = 30, chip: str | None = None,
                 province: str | None = None) -> DemandReport:
    """Unmet demand of the last ``days`` days (China Standard Time, today included), optionally of one chip
    (``core.demand.ANY``: the signals that named none) or one province."""
    day_list = last_days(now, days)
    signals = [s for source in DEMAND_SOURCES for s in source.signals(session, day_list[0], day_list[-1])]
    all_cells = [c for c in core.cells(signals)
                 if (chip is None or c.chip == chip) and (province is None or c.province == province)]
    misses = select(SearchMiss.filters, func.count()).where(SearchMiss.day >= day_list[0])
    if chip is not None:
        misses = misses.where(SearchMiss.chip_key == (None if chip == core.ANY else chip))
    if province is not None:
        misses = misses.where(SearchMiss.province == (None if province == core.ANY else province))
    top = session.execute(misses.group_by(SearchMiss.filters)
                          .order_by(func.count().desc(), SearchMiss.filters).limit(TOP_SEARCHES))
    return DemandReport(days=day_list, cells=all_cells, by_chip=core.totals(all_cells, "chip"),
                        by_province=core.totals(all_cells, "province"), per_day=core.per_day(all_cells, day_list),
                        top_searches=[EmptySearch(f, n) for f, n in top],
                        sources=[s.name for s in DEMAND_SOURCES])
