"""Reservations of a round: the head job's (EASY backfill) and those of jobs that waited past a bound.

A job that fails for capacity may *hold* the offer where it can start soonest: ``units`` of it from
``start_minute`` on (from the offer's release times). The first on-demand job that waits, the *head*, always may
(EASY); with ``Rules.reserve_after_s`` every on-demand job that has waited at least that long may too, in queue
order, up to ``Rules.max_reservations`` holds, one per offer (a job does not reserve an offer another job holds:
it takes the next soonest). A job may use a held offer only if it does not delay the hold: it is known to end
before the hold starts (its ``max_runtime_minutes``), or it leaves enough units for the holder at that time. So
backfilling is conservative for every job that holds, and a job that waited past the bound starts no later than
its hold's start (with exact runtimes; a job that ends early only brings it forward).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli.scheduling.model import JobRequest, Mode, Reservation

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.policy import _Round

__all__ = ["Hold", "may_hold", "reserve"]


class Hold:
    """A reservation and what the round knows of its offer: free units when it was made, units released by its
    start, and units taken since by jobs that may still run at its start."""

    __slots__ = ("free0", "long", "released", "reservation")

    def __init__(self, reservation: Reservation, free0: int, released: int) -> None:
        self.reservation = reservation
        self.free0 = free0
        self.released = released
        self.long = 0

    def ends_before(self, job: JobRequest) -> bool:
        """Whether ``job`` surely ends before the hold starts. Both are whole minutes rounded up (a release at
        ``start_minute`` comes after ``start_minute - 1`` minutes), so only a runtime of fewer minutes is sure: with
        ``<=``, a job backfilled in every round could push the hold back by up to a minute each time, for ever."""
        start = self.reservation.start_minute
        return start is not None and job.max_runtime_minutes is not None and job.max_runtime_minutes < start

    def allows(self, job: JobRequest, units: int) -> bool:
        """May ``job`` take ``units`` of the held offer without delaying the holder?"""
        if self.ends_before(job):
            return True
        if self.reservation.start_minute is None:
            return False
        return self.free0 + self.released - self.long - units >= self.reservation.units


def may_hold(st: _Round, job: JobRequest) -> bool:
    """Whether ``job``, which did not fit for capacity, gets a reservation: it is on demand, the policy
    backfills with reservations, and it is the head (no reservation yet) or it waited past the bound."""
    rules = st.rules
    if job.mode is not Mode.ON_DEMAND or rules.backfill != "easy":
        return False
    if st.reservation is None:
        return True
    bound = rules.reserve_after_s
    return (bound is not None and len(st.holds) < rules.max_reservations and st.now_s is not None
            and job.submitted_s is not None and st.now_s - job.submitted_s >= bound
            and all(h.reservation.job_id != job.id for h in st.holds.values()))


def reserve(st: _Round, job: JobRequest) -> Reservation | None:
    """Hold the offer where ``job`` starts soonest, among those no other job holds (then the best score)."""
    best = None
    free, holds = st.free, st.holds
    for i, units, score, pid in st.reservable(job):
        if free[i] >= units or i in holds:
            continue
        start = st.start_minute(i, units)
        key = (start is None, start or 0, score, pid)
        if best is None or key < best[0]:
            best = (key, i, units, start)
    if best is None:
        return None
    _key, i, units, start = best
    reservation = Reservation(job.id, st.pid[i], units, start)
    released = sum(u for t, u in st.releases[i] if start is not None and t <= start)
    holds[i] = Hold(reservation, free[i], released)
    if st.reservation is None:
        st.reservation, st._res_index = reservation, i
    return reservation
