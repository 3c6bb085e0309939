"""Offer choice by a fit rule other than the job's objective (``Rules.fit``; see :mod:`suanli.scheduling.rules`).

:meth:`~suanli.scheduling.policy._Round.best_two` calls :func:`best_two_by_fit` instead of its price-ordered scan
when the round's rules say ``first-fit``, ``best-fit`` or ``fgd``. Feasibility is the same (free units, price
limit, places, products, blocklists, the head job's reservation); only the choice among feasible offers differs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from suanli.scheduling.model import JobRequest, Mode

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.market import OfferClass
    from suanli.scheduling.policy import _Round

__all__ = ["FragmentationTarget", "best_two_by_fit"]


class FragmentationTarget:
    """The target workload of FGD: how common each (accelerators, chip) request is in the round's queue, and the
    fragmentation of an offer with ``free`` units against it, in accelerators (memoised per class and value)."""

    def __init__(self, jobs: Iterable[JobRequest] = (), counts: Counter | None = None) -> None:
        """From the queued ``jobs``, or from ``counts`` of queued jobs per (accelerators, chip) kept by a caller
        that follows its queue incrementally (the replay)."""
        if counts is None:
            counts = Counter((j.accelerators, j.chip) for j in jobs if j.accelerators)
        counts = +counts  # shapes no longer queued (count 0) carry no weight
        total = sum(counts.values()) or 1
        self.shapes = [(acc, chip, n / total) for (acc, chip), n in counts.items()]
        self._memo: dict[tuple, float] = {}

    def frag(self, cls: OfferClass, free: int) -> float:
        key = (cls.key, free)
        value = self._memo.get(key)
        if value is None:
            accel_free = free * cls.apu
            value = 0.0
            for acc, chip, p in self.shapes:
                if (chip is not None and chip != cls.chip) or -(-acc // cls.apu) > free:
                    value += p * accel_free
            self._memo[key] = value
        return value


def best_two_by_fit(st: _Round, job: JobRequest, exclude: int = -1) -> list[tuple]:
    """Up to two feasible offers, best first by the round's fit rule, as ``best_two`` entries
    ``(key, product id, offer index, units, price, class)``; ties go to the offer given first.

    Offers are scanned in the order given, from the first with free units; a class's scan stops early when
    nothing later can beat what it has (first-fit: two found; best-fit: two exact fits; fgd: every free value
    that could hold the job has been seen twice, since offers with equal free units score equally)."""
    spot = job.mode is Mode.SPOT
    free, pid = st.free, st.pid
    arr = st.floor if spot else st.price
    limit = job.price_limit_fen
    restricted = bool(job.provinces or job.datacenters or job.products or job.blocked_offers or job.blocked_clusters)
    holds = st.holds
    fit = st.rules.fit
    target = st.fragmentation_target() if fit == "fgd" else None
    first = second = None
    for _bound, cls, units in st.candidates(job):
        if spot:
            order, start = sorted(cls.spot), 0
        else:
            order, start = st.live_by_index(cls), cls.idx_start
            while start < len(order) and free[order[start]] == 0:
                start += 1
            cls.idx_start = start
        values_left = {}  # fgd: free value -> offers still worth seeing with it
        if fit == "fgd":
            values_left = dict.fromkeys(range(units, cls.max_total + 1), 2)
        found = 0
        for pos in range(start, len(order)):
            i = order[pos]
            f = free[i]
            if f < units or i == exclude:
                continue
            price = arr[i] * units
            if limit is not None and price > limit:
                continue
            if restricted and not st.allowed_place(job, i):
                continue
            if holds and i in holds and not holds[i].allows(job, units):
                continue
            if fit == "first-fit":
                key: tuple = (i,)
            elif fit == "best-fit":
                key = (f - units, i)
            else:
                left = values_left.get(f, 0)
                if left == 0:
                    continue
                values_left[f] = left - 1
                if cls.apu <= 0:
                    key = (0.0, i)  # a CPU-only offer has no accelerators to fragment
                else:
                    key = (target.frag(cls, f - units) - target.frag(cls, f), i)
            if first is None or key < first[0]:
                first, second = (key, pid[i], i, units, price, cls), first
            elif second is None or key < second[0]:
                second = (key, pid[i], i, units, price, cls)
            if fit == "first-fit" or (fit == "best-fit" and f == units):
                found += 1
                if found == 2:
                    break
            elif fit == "fgd" and not any(values_left.values()):
                break
    return [e for e in (first, second) if e is not None]
