"""Whole-round assignment search: the cheapest way to give a set of jobs whole units of offers.

The problem (a generalised assignment problem): job ``j`` may take ``option = (price, offer, units)`` from its
list ``options[j]``; every offer has ``capacity[offer]`` units; a job takes at most one option. The goal is
lexicographic: place as many jobs as possible, then the least total price. It is NP-hard; this module finds good
solutions quickly without an exact solver:

1. **Lagrangian prices.** The capacity constraints are relaxed with a price per unit of each offer (a
   Lagrange multiplier, ``scarcity``). Each job alone picks its option of least ``price + scarcity x units``;
   offers asked for more units than they have get dearer (a subgradient step), offers left idle get cheaper.
   The scarcity prices tell each job where it will hurt the others least.
2. **Regret construction.** Every few iterations a feasible assignment is built from the priced costs: the job
   that would lose the most if it did not get its best option left (its *regret*: the second-best minus the
   best priced cost) goes first.
3. **Local search** on the real prices: jobs left over are inserted through ejection chains (a placed job moves
   to its next-best offer, or a second one moves for it, to make room); a job moves to a cheaper offer with free
   units, or takes a cheaper offer held by another job which moves elsewhere, when the total goes down.

The best assignment seen wins, and it never places fewer jobs than ``initial`` (the caller's own, e.g. the
priority-order pass): a result that drops a job placed in ``initial`` is not taken. The work is bounded by
``budget`` (option evaluations); no randomness, so a round is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Option", "search_assignment"]

Option = tuple[int, int, int]
"""(price, offer index, units): a job takes ``units`` units of the offer for ``price`` (per hour, fen)."""

_NO_SECOND = float("inf")
LONG_CHAIN_DEPTH = 4
"""Jobs an ejection chain may move to place one more job, when one or two moves are not enough."""
LONG_CHAIN_PROBES = 2_000
"""Tries of one long ejection chain search."""


class _Assignment:
    """A (partial) assignment with free units per offer; ``work`` counts option evaluations."""

    def __init__(self, options: Sequence[Sequence[Option]], capacity: Sequence[int],
                 keep: frozenset[int] = frozenset()) -> None:
        self.options = options
        self.keep = keep  # jobs that must stay placed
        self.free = list(capacity)
        self.chosen: list[Option | None] = [None] * len(options)
        self.holders: list[set[int]] = [set() for _ in capacity]
        self.work = 0

    def put(self, job: int, option: Option) -> None:
        self.chosen[job] = option
        self.free[option[1]] -= option[2]
        self.holders[option[1]].add(job)

    def pull(self, job: int) -> Option:
        option = self.chosen[job]
        assert option is not None
        self.chosen[job] = None
        self.free[option[1]] += option[2]
        self.holders[option[1]].discard(job)
        return option

    def quality(self) -> tuple[int, int]:
        """Smaller is better: (-jobs placed, total price)."""
        placed = [o for o in self.chosen if o is not None]
        return -len(placed), sum(o[0] for o in placed)

    def cheapest_free(self, job: int, exclude: int = -1, below: float = _NO_SECOND) -> Option | None:
        for option in self.options[job]:
            self.work += 1
            if option[0] >= below:
                return None
            if option[1] != exclude and self.free[option[1]] >= option[2]:
                return option
        return None

    def _cheapest_after(self, job: int, below: float, freed: tuple[int, int],
                        changed: tuple[int, int]) -> Option | None:
        """``cheapest_free`` as if offer ``freed[0]`` had ``freed[1]`` more free units and ``changed[0]``
        ``changed[1]`` more (without moving anything); only options priced below ``below``."""
        free = self.free
        (a, da), (b, db) = freed, changed
        for price, offer, units in self.options[job]:
            if price >= below:
                return None
            have = free[offer] + (da if offer == a else 0) + (db if offer == b else 0)
            if have >= units:
                return price, offer, units
        return None

    # ---------------------------------------------------------------- construction

    def construct(self, jobs: Sequence[int], priced: Sequence[Sequence[tuple[float, Option]]]) -> None:
        """Place ``jobs`` by largest regret on the priced costs (``priced[j]`` sorted by priced cost). A job's
        best two options are recomputed only when an offer among them loses units."""
        watchers: dict[int, set[int]] = {}
        top: dict[int, tuple[float, Option]] = {}

        def evaluate(job: int) -> None:
            first = second = None
            for cost, option in priced[job]:
                self.work += 1
                if self.free[option[1]] >= option[2]:
                    if first is None:
                        first = (cost, option)
                    else:
                        second = (cost, option)
                        break
            if first is None:
                top.pop(job, None)
                return
            regret = (second[0] if second is not None else _NO_SECOND) - first[0]
            top[job] = (regret, first[1])
            watchers.setdefault(first[1][1], set()).add(job)
            if second is not None:
                watchers.setdefault(second[1][1], set()).add(job)

        for job in jobs:
            evaluate(job)
        while top:
            job = max(top, key=lambda j: (top[j][0], -j))
            _regret, option = top.pop(job)
            self.put(job, option)
            for other in watchers.pop(option[1], set()):
                if other in top:
                    evaluate(other)

    # ---------------------------------------------------------------- local search

    def insert(self, job: int) -> bool:
        """Place an unplaced job: on free units, else by an ejection chain of one or two moved jobs (the chain
        that adds the least to the total)."""
        option = self.cheapest_free(job)
        if option is not None:
            self.put(job, option)
            return True
        best = None  # (added price, [(moved job, its new option), ...], the job's option)
        for option in self.options[job]:
            offer, units = option[1], option[2]
            for moved in sorted(self.holders[offer]):
                old = self.chosen[moved]
                if self.free[offer] + old[2] < units:
                    continue
                self.pull(moved)
                self.put(job, option)
                new = self.cheapest_free(moved)
                if new is not None:
                    added = option[0] + new[0] - old[0]
                    if best is None or added < best[0]:
                        best = (added, [(moved, new)], option)
                else:
                    best = self._second_link(job, option, moved, old, best)
                self.pull(job)
                self.put(moved, old)
        if best is None:
            return self._long_chain(job, LONG_CHAIN_DEPTH, {job}, [LONG_CHAIN_PROBES])
        _added, moves, option = best
        for moved, _new in moves:
            self.pull(moved)
        self.put(job, option)
        for moved, new in reversed(moves):
            self.put(moved, new)
        return True

    def _long_chain(self, job: int, depth: int, chain: set[int], probes: list[int]) -> bool:
        """Place ``job`` (unplaced) by a longer ejection chain, the first one found: it takes units another
        job holds, which is placed the same way, ``depth`` jobs deep at most, within ``probes[0]`` tries.
        Left placed when it works; everything undone when not."""
        option = self.cheapest_free(job)
        if option is not None:
            self.put(job, option)
            return True
        if depth == 0:
            return False
        for option in self.options[job]:
            offer, units = option[1], option[2]
            for moved in sorted(self.holders[offer] - chain):
                old = self.chosen[moved]
                if self.free[offer] + old[2] < units:
                    continue
                if probes[0] <= 0:
                    return False
                probes[0] -= 1
                self.work += 1
                self.pull(moved)
                self.put(job, option)
                if self._long_chain(moved, depth - 1, chain | {moved}, probes):
                    return True
                self.pull(job)
                self.put(moved, old)
        return False

    def _second_link(self, job: int, option: Option, moved: int, old: Option, best):
        """``moved`` left ``option``'s offer for ``job`` and finds no free units: it may take another job's
        place, if that job then finds free units."""
        for alt in self.options[moved]:
            offer = alt[1]
            if offer == option[1]:
                continue
            for second in sorted(self.holders[offer]):
                second_old = self.chosen[second]
                if self.free[offer] + second_old[2] < alt[2]:
                    continue
                self.pull(second)
                self.put(moved, alt)
                new = self.cheapest_free(second)
                if new is not None:
                    added = option[0] + alt[0] - old[0] + new[0] - second_old[0]
                    if best is None or added < best[0]:
                        best = (added, [(second, new), (moved, alt)], option)
                self.pull(moved)
                self.put(second, second_old)
        return best

    def lower_cost(self) -> None:
        """Move jobs to cheaper free units, or onto a cheaper offer whose holder moves elsewhere, while the total
        goes down."""
        changed = True
        while changed:
            changed = False
            for job in sorted((j for j, o in enumerate(self.chosen) if o is not None),
                              key=lambda j: (-self.chosen[j][0], j)):
                current = self.chosen[job]
                cheaper = self.cheapest_free(job, exclude=current[1], below=current[0])
                if cheaper is not None:
                    self.pull(job)
                    self.put(job, cheaper)
                    changed = True
                    continue
                best = None
                for option in self.options[job]:
                    if option[0] >= current[0]:
                        break
                    offer = option[1]
                    if offer == current[1]:
                        continue
                    for other in sorted(self.holders[offer]):
                        other_old = self.chosen[other]
                        if self.free[offer] + other_old[2] < option[2]:
                            continue
                        # ``other`` must land below this price for the total to go down (and beat ``best``)
                        below = other_old[0] + current[0] - option[0] + (best[0] if best is not None else 0)
                        if self.options[other][0][0] >= below:
                            continue
                        self.work += len(self.options[other])
                        new = self._cheapest_after(other, below, (current[1], current[2]),
                                                   (offer, other_old[2] - option[2]))
                        if new is not None:
                            best = (option[0] - current[0] + new[0] - other_old[0], option, other, new)
                if best is not None:
                    _saved, option, other, new = best
                    self.pull(job)
                    self.pull(other)
                    self.put(job, option)
                    self.put(other, new)
                    changed = True

    def trade_for_more(self) -> bool:
        """Take a placed job out when the units it frees place more jobs than it (it may move elsewhere too):
        the move that makes the count grow, then the total shrink, most."""
        waiting = [j for j, o in enumerate(self.chosen) if o is None and self.options[j]]
        if not waiting:
            return False
        best = None  # ((-gain, added price), removed job, [(job, option), ...])
        # a job the caller placed is never traded away (moving it elsewhere is ``insert``'s ejection chain)
        for out in [j for j, o in enumerate(self.chosen) if o is not None and j not in self.keep]:
            old = self.pull(out)
            added = []
            for job in waiting:
                option = self.cheapest_free(job)
                if option is not None:
                    self.put(job, option)
                    added.append((job, option))
            back = self.cheapest_free(out)
            if back is not None:
                self.put(out, back)
                added.append((out, back))
            gain = len(added) - 1
            cost = sum(o[0] for _j, o in added) - old[0]
            if gain > 0 and (best is None or (-gain, cost) < best[0]):
                best = ((-gain, cost), out, list(added))
            for job, _option in reversed(added):
                self.pull(job)
            self.put(out, old)
        if best is None:
            return False
        _key, out, added = best
        self.pull(out)
        for job, option in added:
            self.put(job, option)
        return True

    def polish(self) -> None:
        for job in range(len(self.chosen)):
            if self.chosen[job] is None and self.options[job]:
                self.insert(job)
        while self.trade_for_more():
            pass
        self.lower_cost()
        for job in range(len(self.chosen)):
            if self.chosen[job] is None and self.options[job]:
                self.insert(job)


def search_assignment(options: Sequence[Sequence[Option]], capacity: Sequence[int],
                      initial: Sequence[Option | None], *, iterations: int = 60, construct_every: int = 10,
                      budget: int = 5_000_000) -> list[Option | None]:
    """The best assignment found (see the module docstring); ``initial`` when nothing better is found.

    ``options[j]`` must be sorted by price (ties by offer); ``initial`` must fit ``capacity``. A result never
    leaves unplaced a job that ``initial`` placed. ``budget`` bounds the option evaluations of the whole search
    (the last construction may overrun it by one construction's work).
    """
    n_offers = len(capacity)
    must = frozenset(j for j, o in enumerate(initial) if o is not None)
    start = _Assignment(options, capacity, must)
    for job, option in enumerate(initial):
        if option is not None:
            start.put(job, option)
    if any(f < 0 for f in start.free):
        raise ValueError("initial: the assignment does not fit the capacity")
    best_quality, best = start.quality(), list(initial)
    start.polish()
    spent = start.work
    if start.quality() < best_quality:
        best_quality, best = start.quality(), list(start.chosen)
    pairs = sum(len(o) for o in options)
    if not pairs:
        return best
    # the step size scales with a typical price per unit
    scale = sum(o[0] / o[2] for opts in options for o in opts) / pairs
    scarcity = [0.0] * n_offers
    jobs = [j for j in range(len(options)) if options[j]]
    for it in range(iterations):
        if spent > budget:
            break
        used = [0] * n_offers
        for job in jobs:
            _cost, _offer, option = min((o[0] + scarcity[o[1]] * o[2], o[1], o) for o in options[job])
            used[option[1]] += option[2]
        spent += pairs
        if it % construct_every == construct_every - 1 or it == iterations - 1:
            priced = [[(cost, o) for cost, _offer, o in sorted((o[0] + scarcity[o[1]] * o[2], o[1], o) for o in opts)]
                      for opts in options]
            trial = _Assignment(options, capacity, must)
            trial.construct(jobs, priced)
            trial.polish()
            spent += trial.work + pairs
            quality = trial.quality()
            if quality < best_quality and all(trial.chosen[j] is not None for j in must):
                best_quality, best = quality, list(trial.chosen)
        excess = [used[o] - capacity[o] for o in range(n_offers)]
        norm = max(1.0, sum(x * x for x in excess) ** 0.5)
        step = scale * 0.5 * n_offers ** 0.5 / (norm * (1 + it) ** 0.5)
        scarcity = [max(0.0, scarcity[o] + step * excess[o]) for o in range(n_offers)]
    return best
