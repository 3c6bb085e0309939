"""Unmet demand, aggregated: what buyers asked for and the market did not give them, by chip, province and day.

Pure: the sources (``suanli.demand.sources``: queued jobs that cannot be placed, searches that found nothing,
open requests for quotes) turn their rows into :class:`DemandSignal`; this module counts them. A signal that names
no chip counts under ``ANY``, one that names several provinces once under each (a job allowed in 安徽 or 浙江 is
demand in both), none under ``ANY``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

ANY = "*"
"""A chip or province the signal leaves open."""

JOBS = "jobs"
SEARCHES = "searches"
REQUESTS = "requests"
SOURCES = (JOBS, SEARCHES, REQUESTS)
"""The kinds of signal, in the order they are reported (``requests``: requests for quotes, when that source is
installed)."""


@dataclass(frozen=True)
class DemandSignal:
    """One thing a buyer wanted and did not get: from ``source``, on ``day`` (China Standard Time), for
    ``accelerators`` of ``chip`` (``ANY``) in ``provinces`` (empty: anywhere); ``reason`` why not (a job's
    constraint that eliminated the most offers, ``capacity_busy`` when it only waits for capacity; empty for a
    search)."""

    source: str
    day: dt.date
    chip: str
    provinces: tuple[str, ...]
    accelerators: int
    reason: str = ""


@dataclass
class DemandCell:
    """The signals of one (day, chip, province): how many from each source, the accelerators they asked for, and
    the reasons."""

    day: dt.date
    chip: str
    province: str
    signals: Counter[str] = field(default_factory=Counter)
    accelerators: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.signals.values())


@dataclass(frozen=True)
class DemandTotal:
    """One chip's (or province's) unmet demand over the whole period."""

    key: str
    signals: dict[str, int]
    accelerators: int
    reasons: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.signals.values())


def cells(signals: Iterable[DemandSignal]) -> list[DemandCell]:
    """Signals counted per (day, chip, province), ordered by day, then the most signals first."""
    out: dict[tuple[dt.date, str, str], DemandCell] = {}
    for s in signals:
        if s.source not in SOURCES:
            raise ValueError(f"source: unknown {s.source!r}; valid: {', '.join(SOURCES)}")
        for province in s.provinces or (ANY,):
            key = (s.day, s.chip or ANY, province)
            cell = out.get(key)
            if cell is None:
                cell = out[key] = DemandCell(*key)
            cell.signals[s.source] += 1
            cell.accelerators += s.accelerators
            if s.reason:
                cell.reasons[s.reason] += 1
    return sorted(out.values(), key=lambda c: (c.day, -c.total, c.chip, c.province))


def totals(all_cells: Iterable[DemandCell], by: str) -> list[DemandTotal]:
    """The cells summed per ``by`` (``"chip"`` or ``"province"``), the most signals first."""
    if by not in ("chip", "province"):
        raise ValueError("by: chip or province")
    signals: dict[str, Counter[str]] = defaultdict(Counter)
    accelerators: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for c in all_cells:
        key = getattr(c, by)
        signals[key].update(c.signals)
        accelerators[key] += c.accelerators
        reasons[key].update(c.reasons)
    rows = [DemandTotal(k, {s: signals[k][s] for s in SOURCES if signals[k][s]}, accelerators[k],
                        dict(reasons[k].most_common())) for k in signals]
    return sorted(rows, key=lambda t: (-t.total, -t.accelerators, t.key))


def per_day(all_cells: Iterable[DemandCell], days: list[dt.date]) -> dict[str, list[int]]:
    """Signals per source on each of ``days`` (zeros where none): the series of a chart."""
    counts: dict[str, Counter[dt.date]] = {s: Counter() for s in SOURCES}
    for c in all_cells:
        for source, n in c.signals.items():
            counts[source][c.day] += n
    return {s: [counts[s][d] for d in days] for s in SOURCES}


def main_reason(eliminated: dict[str, int]) -> str:
    """A job's reason in one word: ``capacity_busy`` when some offer would take it once capacity frees, else the
    constraint that eliminated the most offers (ties: the first in name order), ``no_offers`` when none."""
    if eliminated.get("capacity_busy"):
        return "capacity_busy"
    named = {k: v for k, v in eliminated.items() if v}
    if not named:
        return "no_offers"
    return max(sorted(named), key=lambda k: named[k])
