"""Repairs and local search for one scheduling round (used by :func:`~suanli.scheduling.policy.schedule_round`).

* :func:`relocate`  when a job does not fit, move one job placed earlier in the round (same mode) to its
  next-best offer so the new job fits, choosing the move that adds the least to the two jobs' total;
* :func:`improve`   move jobs to strictly cheaper offers that other moves freed (nobody pays more);
* :func:`exchange`  pairwise exchanges that lower the round's total hourly price: a job takes a
  cheaper offer another job holds, and that job moves to its best other offer, only when the first
  saves more than the second pays extra (within the second's own limits);
* :func:`worth_improving`  whether any of this can do better than the priority pass (most rounds of a long
  replay: no), so the round skips it;
* :func:`reassign`  on rounds small enough (``search_limit`` job-offer pairs), the whole-round assignment
  search (:mod:`suanli.scheduling.assignment`) re-places the round's on-demand ``cost`` jobs together:
  as many jobs as possible, then the least total price, never dropping a job the pass placed.

Every probe (one search for a moved job's next-best offer) spends one unit of ``st.repair_budget``,
so a round's extra work is bounded. Only jobs placed in this round move; running work never does,
and nothing moves onto or off the head job's reserved offer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli.scheduling.assignment import Option, search_assignment
from suanli.scheduling.model import JobRequest, Mode, Objective, Placement, Unplaceable

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.market import OfferClass
    from suanli.scheduling.policy import _Round

__all__ = ["exchange", "improve", "reassign", "relocate", "worth_improving"]


def relocate(st: _Round, job: JobRequest):
    """Room for ``job`` by moving one job placed earlier in this round (same mode) to its best other
    offer: the move that adds the least to the two jobs' total hourly price. Bounded by
    ``st.repair_budget`` probes per round. Returns (offer index, units, price, class, moved job,
    its old offer index, its new entry) or None."""
    if st.repair_budget <= 0:
        return None
    spot = job.mode is Mode.SPOT
    arr = st.floor if spot else st.price
    held: dict[object, list[int]] = {}  # offers holding jobs of this round (the only ones that can move), by class
    for i, entries in st.on_offer.items():
        if entries and i not in st.holds and (not spot or arr[i] is not None):
            held.setdefault(st.class_of[i], []).append(i)
    if not held:
        return None
    best = None
    for bound, cls, units in st.candidates(job):
        if best is not None and bound[-1] >= best[0]:
            break
        for i in sorted(held.get(cls, ()), key=lambda i: (arr[i], st.pid[i])):
            if st.free[i] >= units:
                continue
            if not st.passes_all_but_capacity(job, i, units):
                continue
            deficit = units - st.free[i]
            for moved, moved_units, moved_price in sorted(st.on_offer[i], key=lambda e: (e[1], e[0].id)):
                if moved_units < deficit or moved.mode is not job.mode:
                    continue
                st.repair_budget -= 1
                if st.repair_budget < 0:
                    return _apply_relocation(st, best)
                top = st.best_two(moved, exclude=i)
                if top:
                    alt = top[0]
                    delta = alt[4] - moved_price + arr[i] * units
                    if best is None or delta < best[0]:
                        best = (delta, i, units, arr[i] * units, cls, moved, moved_units, alt)
                    break
    return _apply_relocation(st, best)

def _apply_relocation(st: _Round, best):
    if best is None:
        return None
    _delta, i, units, price, cls, moved, moved_units, alt = best
    st.free[i] += moved_units
    st.on_offer[i] = [e for e in st.on_offer[i] if e[0] is not moved]
    if moved.max_runtime_minutes is not None:
        st.releases[i].remove((moved.max_runtime_minutes, moved_units))
    cls_i = st.class_of[i]
    cls_i.od_start = cls_i.spot_start = cls_i.idx_start = 0
    st.take(moved, alt[2], alt[3], alt[4])
    return i, units, price, cls, moved, alt

def improve(st: _Round) -> list[tuple[JobRequest, tuple, int]]:
    """Move jobs placed this round to cheaper offers that relocations freed (strictly cheaper for
    the job itself, so nobody pays more), until nothing improves or the repair budget is spent.
    Returns (job, new entry, old offer index) for every move."""
    moves = []
    improved = True
    while improved and st.repair_budget > 0:
        improved = False
        for i in range(len(st.offers)):
            if i in st.holds:
                continue
            for job, units, price in list(st.on_offer[i]):
                if job.objective is not Objective.COST or st.repair_budget <= 0:
                    continue
                st.repair_budget -= 1
                top = st.best_two(job, exclude=i)
                if not top or top[0][4] >= price or top[0][2] in st.holds:
                    continue
                st.free[i] += units
                st.on_offer[i] = [e for e in st.on_offer[i] if e[0] is not job]
                if job.max_runtime_minutes is not None:
                    st.releases[i].remove((job.max_runtime_minutes, units))
                cls_i = st.class_of[i]
                cls_i.od_start = cls_i.spot_start = cls_i.idx_start = 0
                st.take(job, top[0][2], top[0][3], top[0][4])
                moves.append((job, top[0], i))
                improved = True
    return moves

def _detach(st: _Round, job: JobRequest, i: int, units: int) -> None:
    """Undo ``take``: the job leaves offer ``i`` (placed this round)."""
    st.free[i] += units
    st.on_offer[i] = [e for e in st.on_offer[i] if e[0] is not job]
    if job.max_runtime_minutes is not None:
        st.releases[i].remove((job.max_runtime_minutes, units))
    cls = st.class_of[i]
    cls.od_start = cls.spot_start = cls.idx_start = 0

def exchange(st: _Round) -> list[tuple[JobRequest, tuple, JobRequest, tuple]]:
    """Pairwise exchanges that lower the total hourly price of the round: job ``u`` takes a cheaper
    offer held by job ``p``, which moves to its best other offer (possibly the one ``u`` left).
    Applied only when ``u`` saves more than ``p`` pays extra; ``p``'s own limits still hold.
    Bounded by ``st.repair_budget``. Returns (u, u's entry, p, p's entry) per exchange."""
    done = []
    arr = st.price
    entries = [(job, i, units, price) for i in range(len(st.offers)) if i not in st.holds
               for job, units, price in st.on_offer[i]
               if job.mode is Mode.ON_DEMAND and job.objective is Objective.COST]
    entries.sort(key=lambda e: (-e[3], e[0].submit_seq))
    for u, i_u, u_units, u_price in entries:
        if st.repair_budget <= 0:
            break
        if not any(e[0] is u for e in st.on_offer[i_u]):
            continue  # moved already
        found = None
        for bound, cls, units in st.candidates(u):
            if bound[-1] >= u_price or found is not None:
                break
            for o in cls.od:
                new_u = arr[o] * units
                if new_u >= u_price:
                    break
                if o == i_u or o in st.holds or not st.passes_all_but_capacity(u, o, units):
                    continue
                deficit = units - st.free[o]
                for p, p_units, p_price in list(st.on_offer[o]):
                    if deficit <= 0 or p_units < deficit or p.mode is not Mode.ON_DEMAND:
                        continue
                    st.repair_budget -= 1
                    _detach(st, u, i_u, u_units)
                    top = st.best_two(p, exclude=o)
                    if top and (new_u - u_price) + (top[0][4] - p_price) < 0 and top[0][2] not in st.holds:
                        _detach(st, p, o, p_units)
                        st.take(p, top[0][2], top[0][3], top[0][4])
                        if st.free[o] >= units:
                            st.take(u, o, units, new_u)
                            found = (u, (st.score(u, cls, new_u), st.pid[o], o, units, new_u, cls), p, top[0])
                            break
                        # could not fit after all: undo p's move
                        _detach(st, p, top[0][2], top[0][3])
                        st.take(p, o, p_units, p_price)
                    st.take(u, i_u, u_units, u_price)
                    if st.repair_budget <= 0:
                        break
                if found is not None or st.repair_budget <= 0:
                    break
        if found is not None:
            done.append(found)
    return done



def reassign(st: _Round, jobs: list[JobRequest], placed: set[str], pinned: set[str], limit: int,
             budget: int) -> tuple[list[tuple[JobRequest, tuple]], bool] | None:
    """Re-place the round's on-demand ``cost`` jobs together with the whole-round assignment search.

    Taking part: such jobs placed this round (``placed``) or not placed, except ``pinned`` ones (placed by
    preempting spot jobs), which stay where they are. With a reservation (EASY backfill), the search first runs
    with the head job taking part and its reserved offer open to all: if that places the head, the reservation
    is no longer needed (the second value is True: the caller drops it). Otherwise the head and every job on
    the reserved offer stay as they are and the reserved offer is not offered. Jobs that waited past
    ``Rules.reserve_after_s`` and hold an offer never take part, and their offers are never offered. Returns
    (job, new entry) for every job that moved or got placed, or None (nothing changed) when the round has more than ``limit``
    job-offer pairs (the offers of the unit classes that match each job's chip, ecosystem, memory and compute).
    """
    where: dict[str, tuple[int, int, int]] = {}
    for i in range(len(st.offers)):
        for job, units, price in st.on_offer[i]:
            where[job.id] = (price, i, units)
    res = st.reservation
    holders = {h.reservation.job_id for h in st.holds.values()}
    if res is not None:
        others = {i for i in st.holds if i != st._res_index}  # the holds of jobs that waited past the bound
        plan = _plan(st, jobs, where, placed, pinned | (holders - {res.job_id}), limit, budget, closed=others)
        if plan is None:
            return None
        members, _initial, result = plan
        if any(job.id == res.job_id and option is not None for job, option in zip(members, result, strict=True)):
            return _apply(st, *plan), True
    plan = _plan(st, jobs, where, placed, pinned | holders, limit, budget, closed=set(st.holds))
    if plan is None:
        return None
    return _apply(st, *plan), False


def _plan(st: _Round, jobs: list[JobRequest], where: dict[str, tuple[int, int, int]], placed: set[str],
          pinned: set[str], limit: int, budget: int, closed: set[int]):
    """The search's input and result, with the offer indexes ``closed`` (reserved offers) kept out."""
    members: list[JobRequest] = []
    options: list[list[Option]] = []
    taking_part = [job for job in jobs
                   if job.mode is Mode.ON_DEMAND and job.objective is Objective.COST and job.id not in pinned
                   and not (job.id in placed and where[job.id][1] in closed)]
    # the size check first, from the cached classes alone: offers of the classes that fit each job's shape
    pairs = 0
    for job in taking_part:
        pairs += sum(len(cls.od) for _bound, cls, _units in st.candidates(job))
        if pairs > limit:
            return None
    for job in taking_part:
        mine: list[Option] = []
        for _bound, cls, units in st.candidates(job):
            for i in cls.od:
                if i not in closed and st.passes_all_but_capacity(job, i, units):
                    mine.append((st.charged(job, cls, st.price[i] * units), i, units))
        if not mine:
            continue
        mine.sort(key=lambda o: (o[0], o[1]))
        members.append(job)
        options.append(mine)
    capacity = list(st.free)
    initial: list[Option | None] = []
    for job in members:
        option = where[job.id] if job.id in placed else None
        if option is not None:  # compared by what the job is charged (the price, or with the spare penalty)
            option = (st.charged(job, st.class_of[option[1]], option[0]), option[1], option[2])
            capacity[option[1]] += option[2]
        initial.append(option)
    result = search_assignment(options, capacity, initial, budget=budget) if members else []
    return members, initial, result


def _apply(st: _Round, members: list[JobRequest], initial: list[Option | None],
           result: list[Option | None]) -> list[tuple[JobRequest, tuple]]:
    changed = [(job, old, new) for job, old, new in zip(members, initial, result, strict=True) if new != old]
    for job, old, _new in changed:
        if old is not None:
            _detach(st, job, old[1], old[2])
    moves = []
    for job, _old, new in changed:
        if new is None:  # cannot happen: the search never drops a job the pass placed
            raise AssertionError(f"assignment search dropped job {job.id}")
        _charged, i, units = new
        price = st.price[i] * units
        cls = st.class_of[i]
        st.take(job, i, units, price)
        moves.append((job, (st.score(job, cls, price), st.pid[i], i, units, price, cls)))
    return moves


def worth_improving(st: _Round, jobs: list[JobRequest], placements: dict[str, Placement],
                unplaceable: list[Unplaceable]) -> bool:
    """Could moves or the searches do better than the priority pass? Moves only shift jobs placed this round,
    and the pass gave every job the cheapest offer with free units at its turn (later jobs only took units).
    So a job can only gain (a lower price, or a place at all) on an offer that holds a job placed this round;
    when no on-demand ``cost`` job has such an offer within its constraints, there is nothing to improve.
    Large rounds are not checked (the searches bound their own work)."""
    if not placements:
        return False
    if len(placements) + len(unplaceable) > 400:
        return True
    held: dict[OfferClass, list[int]] = {}
    for i, entries in st.on_offer.items():
        if entries:
            held.setdefault(st.class_of[i], []).append(i)
    by_id = {j.id: j for j in jobs}
    for job_id in [*placements, *(u.job_id for u in unplaceable)]:
        job = by_id[job_id]
        if job.mode is not Mode.ON_DEMAND or job.objective is not Objective.COST:
            continue
        placed = placements.get(job_id)
        if placed is not None and placed.parts:
            continue
        for _bound, cls, units in st.candidates(job):
            for i in held.get(cls, ()):
                if placed is not None and (st.pid[i] == placed.offer_id
                                           or st.price[i] * units >= placed.hourly_price_fen):
                    continue
                if st.passes_all_but_capacity(job, i, units):
                    return True
    return False
