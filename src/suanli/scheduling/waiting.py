"""The replay's queue, indexed so that a round is given only the jobs that may start (incremental rounds).

The replay (:mod:`suanli.scheduling.replay`) runs the platform's :func:`~suanli.scheduling.policy.schedule_round`
at every event. Given the whole queue, a round at saturation spends its time confirming, job by job, that
thousands of jobs still do not fit. Most of that is known in advance: at the end of a round every job left
waiting found no offer with room for it (the round retries the jobs left after it moves any), so until units
are freed on an offer a job can use, it cannot start. :class:`WaitingJobs` keeps the waiting jobs in *groups*
of identical needs (the same candidate classes and units, from the engine's own cache) and, per class, the
groups that can use it; when units come back on an offer, only the groups that now have room there are
looked at. A round is then given:

* the jobs that just arrived;
* of each group with room on a freed offer, its first ``n + 1`` waiting jobs in queue order, where ``n`` is
  how many of its jobs the freed room can hold (whole units per offer): no more of them can start (moving
  jobs placed in the round only gives back units they took), and the ``+ 1`` is the one that waits;
* of a group too large for any one server (a gang), every job;
* the first waiting job of the queue not given for the reasons above (it cannot start, so with the whole queue
  the head job - the first that waits, which EASY reserves for - is it or a job before it) and the previous
  round's jobs with a reservation; the previously reserved offers count as freed, since the reservations that
  kept jobs off them are recomputed;
* with ``Rules.reserve_after_s``, the oldest waiting jobs that waited past the bound (up to
  ``Rules.max_reservations``), which may reserve an offer;
* after the round, for each offer it reserved from minute ``s``: the jobs that could use that
  offer by ending before ``s`` (:meth:`WaitingJobs.short_enough`, from a list per group sorted by runtime),
  however many jobs of their group before them could not; the replay then runs the round again with them (it
  decides the same head and reservation: every job before the head was given).

Strict FIFO (nothing starts behind the first job that waits) is simpler: the replay gives its round the first
jobs of the queue, more while every job given starts.

Every other job would have failed in the round anyway, so for the baselines (no relocation, no search) the
decisions are exactly those of a round over the whole queue (``tests/unit/test_replay.py`` checks it). The
production policy's relocations and whole-round search only move jobs placed in the same round, which gives
back no room to a job left out, so it cannot place them either; what can differ is that its search, bounded by
the size of a round, now runs on rounds it skipped when they carried the whole queue. The platform gives its
round the whole queue (a round there is the only one for a while); this is the replay's way to call the same
engine often. The fragmentation target of ``fgd`` is the whole queue's, kept here as counts.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Iterable

from suanli.scheduling.fits import FragmentationTarget
from suanli.scheduling.market import Market, OfferClass
from suanli.scheduling.model import JobRequest
from suanli.scheduling.policy import job_candidates

__all__ = ["WaitingJobs"]


def _runtime(request: JobRequest) -> int:
    return request.max_runtime_minutes if request.max_runtime_minutes is not None else 1 << 62


class _Group:
    """Waiting jobs with identical needs, in queue order (placed jobs are dropped lazily from the front)."""

    __slots__ = ("by_runtime", "gang", "jobs")

    def __init__(self, gang: bool) -> None:
        self.gang = gang
        self.jobs: deque[int] = deque()
        self.by_runtime: list[tuple[int, int]] = []  # (max_runtime_minutes, key) of its waiting jobs, sorted


class WaitingJobs:
    """The queue of a replay over ``market``: jobs by key (the caller's index), in the order they are added,
    which must be the queue's order (submission; equal priorities)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.requests: dict[int, JobRequest] = {}
        self._group_of: dict[int, _Group] = {}
        self._groups: dict[tuple, _Group] = {}
        self._users: dict[OfferClass, list[tuple[_Group, int]]] = {}  # class -> (group, units needed there)
        self._arrived: list[int] = []
        self._freed: set[int] = set()
        self.shapes: Counter = Counter()  # (accelerators, chip) of waiting GPU jobs: fgd's target workload

    def __len__(self) -> int:
        return len(self.requests)

    def __contains__(self, k: int) -> bool:
        return k in self.requests

    def add(self, k: int, request: JobRequest) -> None:
        key = (request.accelerators, request.chip, request.ecosystems, request.min_accel_memory_gib,
               request.min_fp16_tflops, request.vcpus, request.memory_gib, request.mode, request.objective,
               request.provinces, request.datacenters, request.products, request.max_hourly_price_fen,
               request.bid_hourly_fen, request.blocked_offers, request.blocked_clusters)
        group = self._groups.get(key)
        if group is None:
            candidates = job_candidates(self.market, request)
            group = self._groups[key] = _Group(gang=not any(c.max_total >= u for _b, c, u in candidates))
            for _bound, cls, units in candidates:
                self._users.setdefault(cls, []).append((group, units))
        group.jobs.append(k)
        insort(group.by_runtime, (_runtime(request), k))
        self._group_of[k] = group
        self.requests[k] = request
        self._arrived.append(k)
        if request.accelerators:
            self.shapes[(request.accelerators, request.chip)] += 1

    def remove(self, k: int) -> None:
        """``k`` started (its group forgets it when it reaches the front)."""
        request = self.requests.pop(k)
        group = self._group_of.pop(k)
        group.by_runtime.pop(bisect_left(group.by_runtime, (_runtime(request), k)))
        if request.accelerators:
            self.shapes[(request.accelerators, request.chip)] -= 1

    def freed(self, i: int) -> None:
        """Units came back on offer ``i`` (a job ended there, or a reservation on it lapsed)."""
        self._freed.add(i)

    def changed(self) -> bool:
        """Whether anything arrived or was freed since the last :meth:`may_start`."""
        return bool(self._arrived or self._freed)

    def chips(self) -> Counter:
        """Waiting jobs per chip they ask for by name (``Rules.spare_constrained``)."""
        return Counter({chip: n for (_acc, chip), n in self.shapes.items() if chip is not None and n > 0})

    def fragmentation(self) -> FragmentationTarget:
        return FragmentationTarget(counts=self.shapes)

    def may_start(self, free: list[int], in_order: Iterable[int], heads: Iterable[int] = ()) -> list[JobRequest]:
        """The jobs a round must be given (see the module docstring), in no particular order. ``in_order``
        iterates the waiting keys in queue order (from the first: only as far as the first job not otherwise
        given is read); ``heads`` are the previous round's jobs with a reservation (the head job, and with
        ``Rules.reserve_after_s`` those that waited past the bound, which the caller adds). Call
        :meth:`may_start_reset` after the round."""
        chosen = dict.fromkeys(k for k in self._arrived if k in self.requests)
        room: dict[_Group, int] = {}
        class_of = self.market.class_of
        for i in self._freed:
            f = free[i]
            for group, units in self._users.get(class_of[i], ()):
                if group.gang:
                    room[group] = -1
                elif f >= units and room.get(group, 0) >= 0:
                    room[group] = room.get(group, 0) + f // units
        for group, n in room.items():
            jobs = group.jobs
            while jobs and jobs[0] not in self.requests:
                jobs.popleft()
            want = len(jobs) if n < 0 else n + 1
            for k in jobs:
                if want == 0:
                    break
                if k in self.requests:
                    chosen[k] = None
                    want -= 1
        for head in heads:
            if head in self.requests:
                chosen[head] = None
        for k in in_order:  # the first job left out: it waits, so it is the head if no job before it waits
            if k in self.requests and k not in chosen:
                chosen[k] = None
                break
        return [self.requests[k] for k in chosen]

    def short_enough(self, i: int, free_units: int, minutes: int, given: set[int]) -> list[JobRequest]:
        """Waiting jobs not in ``given`` that could use offer ``i`` (``free_units`` free) by ending in fewer than
        ``minutes`` (:meth:`suanli.scheduling.holds.Hold.ends_before`): a round reserved ``i`` from then on for a
        waiting job, and a job that ends before may still use it however many jobs of its group before it could
        not."""
        out = []
        for group, units in self._users.get(self.market.class_of[i], ()):
            if units > free_units or group.gang:
                continue
            for runtime, k in group.by_runtime:
                if runtime >= minutes:
                    break
                if k not in given:
                    out.append(self.requests[k])
        return out

    def may_start_reset(self) -> None:
        """A round ran: forget the arrivals and the freed offers."""
        self._arrived.clear()
        self._freed.clear()
