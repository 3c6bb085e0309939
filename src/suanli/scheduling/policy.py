"""One scheduling round: place queued jobs on feasible capacity across every data center.

The algorithm (``schedule_round``)
    1. Offers are grouped into *classes* of identical unit shape (chip, ecosystem, accelerators /
       vCPUs / memory per unit, accelerator memory, FP16 TFLOPS); inside a class offers are sorted by
       price, so a job needs the same number of units on every offer of a class and the first
       feasible offer is the class's cheapest. Free units live in one list indexed by offer.
    2. Jobs go in priority order (higher ``priority`` first, then earlier ``submit_seq``): every
       on-demand job, then every spot job, so spot only takes what on-demand work left.
    3. For a job, the classes that pass its chip / ecosystem / memory / compute constraints (cached
       per job shape) are visited in order of a lower bound on the objective's score - cost: the
       job's units x the class's cheapest price; time: (-FP16 TFLOPS of the job's accelerators, that
       price) - and scanning stops once no class can beat the runner-up. The best feasible offer wins;
       the runner-up goes into the placement's reason. Capacity is decremented as jobs are placed.
    4. Backfill (EASY): a job that does not fit does not block later jobs. The first on-demand job
       that fails only for capacity becomes the *head* and gets a reservation on the offer where it
       can start soonest (from ``Offer.releases`` and the ``max_runtime_minutes`` of jobs placed
       earlier in the round). A later job may use the reserved offer only if it is known to finish
       before the head's start (its ``max_runtime_minutes``) or if it leaves enough units for the head
       at that time; without release times nothing is backfilled there. Jobs of equal priority keep
       their submission order, so the head stays the head in the next round and is not starved.
    5. Spot preemption: an on-demand job that does not fit, but would after evicting running spot
       jobs on one offer, evicts the fewest of them (then the cheapest bids) on the offer that needs
       the fewest evictions (then the best score). The evicted jobs are returned in ``preemptions``
       for the caller to requeue.
    6. Repair (:mod:`suanli.scheduling.repair`, bounded by ``repair_budget`` probes per round): before
       preempting, a job that does not fit may get room by moving one job placed earlier in the round
       to its next-best offer. After the pass, a round of at most ``search_limit`` job-offer pairs gets
       the whole-round assignment search (:mod:`suanli.scheduling.assignment`: Lagrangian prices,
       regret construction, ejection chains) over its on-demand ``cost`` jobs: as many jobs as possible,
       then the least total price, never dropping a job the pass placed (it may place the reservation's
       head, which then needs no reservation). Larger rounds get a bounded local search instead (moves to
       strictly cheaper offers, pairwise exchanges that lower the total). Then the jobs left are retried.
    7. A job that still cannot be placed gets an :class:`Unplaceable` with the number of offers each
       constraint eliminated (:mod:`suanli.scheduling.explain`).

A job takes whole units of one offer; with ``Rules.gang`` (the replay; not yet the platform) a job larger than
any one server takes units of several offers of one data center, all or nothing (:mod:`suanli.scheduling.gang`).
Spot jobs pay the offer's spot floor per unit-hour; their bid must cover it. Rules (:mod:`.rules`): the platform
runs ``PRODUCTION``, the algorithm above; the replay's baselines change steps 3, 4 and 6.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from suanli.scheduling.explain import describe_job, eliminations, explained, unplaced, waiting_behind_head
from suanli.scheduling.victims import choose_victims
from suanli.scheduling.fits import FragmentationTarget, best_two_by_fit
from suanli.scheduling.gang import find_gang, gang_placement
from suanli.scheduling.holds import Hold, may_hold, reserve
from suanli.scheduling.market import LazyLists, Market, OfferClass
from suanli.scheduling.reasons import (cheaper_placement, exchanged_placements, made_room_placements, placement_for,
                                       searched_placement)
from suanli.scheduling.repair import exchange, improve, reassign, relocate, worth_improving
from suanli.scheduling.model import (
    JobRequest,
    Mode,
    Objective,
    Offer,
    Placement,
    Preemption,
    Reservation,
    RoundResult,
    RunningSpot,
    Unplaceable,
)
from suanli.scheduling.no_room import known_full as _known_full
from suanli.scheduling.no_room import remember_full as _remember_full
from suanli.scheduling.no_room import signature as _signature
from suanli.scheduling.rules import PRODUCTION, Rules

# The value types live in (and are imported from) suanli.scheduling.model.
__all__ = [
    "Market",
    "job_candidates",
    "queue_order",
    "schedule_round",
    "units_needed",
]


SEARCH_LIMIT = 25_000
"""Rounds with at most this many job-offer pairs (on-demand ``cost`` jobs) get the whole-round assignment search."""
SEARCH_BUDGET = 5_000_000
"""Option evaluations the whole-round assignment search may spend (about 0.3 s on a 200-job round)."""


def units_needed(job: JobRequest, accelerators_per_unit: int, vcpus_per_unit: int,
                 memory_gib_per_unit: int) -> int | None:
    """Whole units of a product that cover the job's accelerators, vCPUs and memory (at least 1).

    ``None`` when the product cannot cover one of them at all (e.g. no vCPUs in the unit).
    """
    units = 1
    for need, per_unit in ((job.accelerators, accelerators_per_unit), (job.vcpus, vcpus_per_unit),
                           (job.memory_gib, memory_gib_per_unit)):
        if need:
            if per_unit <= 0:
                return None
            units = max(units, -(-need // per_unit))
    return units


def queue_order(jobs: Iterable[JobRequest]) -> list[JobRequest]:
    """The order a round considers jobs: on-demand before spot, higher priority, earlier submission."""
    return sorted(jobs, key=lambda j: (j.mode is Mode.SPOT, -j.priority, j.submit_seq, j.id))


class _Round:
    """Mutable state of one round: free units per offer, running spot jobs, the reservation.

    The static part (classes, prices, caches) is the :class:`~suanli.scheduling.market.Market`, shared by
    every round over the same offers; ``free`` and ``releases`` (default: the offers' own) are this round's."""

    def __init__(self, market: Market | Sequence[Offer], running_spot: Iterable[RunningSpot],
                 rules: Rules = PRODUCTION, free: Sequence[int] | None = None,
                 releases: Sequence[Sequence[tuple[int, int]]] | None = None) -> None:
        if not isinstance(market, Market):
            market = Market(market)
        market.reset_cursors()
        self.market = market
        self.rules = rules
        offers = self.offers = market.offers
        self.index_of, self.pid, self.total = market.index_of, market.pid, market.total
        self.price, self.floor, self.prov, self.dc = market.price, market.floor, market.prov, market.dc
        self.cluster, self.healthy = market.cluster, market.healthy
        self.classes, self.unit_shapes, self.class_of = market.classes, market.unit_shapes, market.class_of
        self._static, self._unit_sigs, self._cands = market.static_cache, market.unit_sigs, market.cands
        self._elim_static, self._elim_shapes = market.elim_static, market.elim_shapes
        if free is None:
            self.free = [o.free_units for o in offers]
        else:
            if len(free) != len(offers):
                raise ValueError(f"free: {len(free)} values for {len(offers)} offers")
            self.free = list(free)
        # Offers that had free units when the round began, per class (price order / order given), made when the
        # round first looks at the class: only these can have room during the round (moves give back only units
        # taken in the round; preemption, which frees more, widens them).
        self._had_free = self.free[:]
        self._live_od: dict[OfferClass, list[int]] = {}
        self._live_idx: dict[OfferClass, list[int]] = {}
        # Per offer, made when the round first touches the offer (most rounds touch few offers). A source of
        # releases may also answer start_minute itself for offers the round has not touched (the replay).
        self._release_source = releases if hasattr(releases, "start_minute") else None
        self.releases: LazyLists = (LazyLists(lambda i: list(offers[i].releases)) if releases is None
                                    else LazyLists(lambda i: list(releases[i])))
        self.spot_jobs: defaultdict[int, list[RunningSpot]] = defaultdict(list)
        self.spot_units: defaultdict[int, int] = defaultdict(int)
        self.on_offer: defaultdict[int, list[tuple[JobRequest, int, int]]] = defaultdict(list)  # placed this round
        self.repair_budget = 0
        for rs in running_spot:
            i = self.index_of.get(rs.offer_id)
            if i is None:
                raise ValueError(f"running_spot: job {rs.job_id} runs on unknown offer {rs.offer_id!r}")
            self.spot_jobs[i].append(rs)
            self.spot_units[i] += rs.units
        self.spot_offers = {i for i, u in self.spot_units.items() if u > 0}  # offers with spot to preempt
        self.reservation: Reservation | None = None  # the head job's (EASY backfill)
        self._res_index = -1  # its offer
        self.holds: dict[int, Hold] = {}  # offer index -> reservation there (the head's and the long waiters')
        self.now_s: float | None = None  # the round's time, against JobRequest.submitted_s
        self.waiting_chips: Counter = Counter()  # chip -> waiting jobs that ask for it by name (spare_constrained)
        self._started: set[str] = set()  # constrained jobs placed (no longer counted in waiting_chips)

    # ------------------------------------------------------------------ candidates

    def static_classes(self, job: JobRequest) -> list[OfferClass]:
        """Classes passing the job's chip / ecosystem / memory / compute constraints (cached)."""
        spot = job.mode is Mode.SPOT
        key = (job.accelerators > 0, job.chip, job.ecosystems, job.min_accel_memory_gib, job.min_fp16_tflops,
               spot)
        cached = self._static.get(key)
        if cached is None:
            cached = self._static[key] = [
                cls for cls in self.classes
                if not (job.accelerators and (cls.apu <= 0 or (job.chip is not None and cls.chip != job.chip)))
                and not (job.ecosystems and cls.eco not in job.ecosystems)
                and cls.mem >= job.min_accel_memory_gib and cls.fp16 >= job.min_fp16_tflops
                and (cls.spot if spot else cls.od)
            ]
        return cached

    def units_signature(self, job: JobRequest) -> tuple[int | None, ...]:
        """Units the job needs per distinct unit shape (accelerators, vCPUs, memory per unit)."""
        key = (job.accelerators, job.vcpus, job.memory_gib)
        sig = self._unit_sigs.get(key)
        if sig is None:
            sig = self._unit_sigs[key] = tuple(units_needed(job, a, v, m) for a, v, m in self.unit_shapes)
        return sig

    def candidates(self, job: JobRequest) -> list[tuple[tuple, OfferClass, int]]:
        """(score lower bound, class, units) for the classes passing the job's static constraints,
        best bound first."""
        mine = job.__dict__.get("_candidates")  # (market, list): a job object queued in many rounds (replay)
        if mine is not None and mine[0] is self.market:
            return mine[1]
        spot = job.mode is Mode.SPOT
        cost = job.objective is Objective.COST
        sig = self.units_signature(job)
        key = (job.accelerators > 0, job.chip, job.ecosystems, job.min_accel_memory_gib, job.min_fp16_tflops,
               spot, sig, cost, 0 if cost else job.accelerators)
        cached = self._cands.get(key)
        if cached is not None:
            job.__dict__["_candidates"] = (self.market, cached)
            return cached
        acc = job.accelerators
        out = []
        for cls in self.static_classes(job):
            units = sig[cls.shape]
            if units is None:
                continue
            lb = units * (cls.spot_min if spot else cls.od_min)
            out.append(((lb,) if cost else (-cls.fp16 * acc, lb), cls, units))
        out.sort(key=lambda c: (c[0], c[1].key))
        self._cands[key] = out
        job.__dict__["_candidates"] = (self.market, out)
        return out

    def live_od(self, cls: OfferClass) -> list[int]:
        """The class's healthy offers by price, among those with free units when the round began."""
        return self._live(self._live_od, cls, cls.od)

    def live_by_index(self, cls: OfferClass) -> list[int]:
        """The class's healthy offers in the order given, among those with free units when the round began."""
        return self._live(self._live_idx, cls, cls.by_index)

    def _live(self, cache: dict[OfferClass, list[int]], cls: OfferClass, order: list[int]) -> list[int]:
        got = cache.get(cls)
        if got is None:
            had = self._had_free
            got = cache[cls] = [i for i in order if had[i]]
        return got

    def score(self, job: JobRequest, cls: OfferClass, price: int) -> tuple:
        if job.objective is Objective.COST:
            return (self.charged(job, cls, price),)
        return (-cls.fp16 * job.accelerators, price)

    def spares(self, job: JobRequest) -> bool:
        """Whether ``job`` is flexible (any chip) and some waiting job asks for a chip by name (``spare_constrained``):
        it then pays a penalty on the offers of those chips when it chooses by price."""
        return (self.rules.spare_constrained is not None and job.accelerators > 0 and job.chip is None
                and job.objective is Objective.COST and bool(self.waiting_chips))

    def charged(self, job: JobRequest, cls: OfferClass, price: int) -> int:
        """The price a ``cost`` job compares offers by: the price, plus the ``spare_constrained`` penalty on an offer
        of a chip a waiting job asks for by name, if ``job`` is flexible."""
        if self.waiting_chips.get(cls.chip, 0) > 0 and self.spares(job):
            return price + int(price * self.rules.spare_constrained)
        return price

    # ------------------------------------------------------------------ search

    def best_two(self, job: JobRequest, exclude: int = -1) -> list[tuple[tuple, str, int, int, int, OfferClass]]:
        """Up to two feasible offers, best first: (score, product id, offer index, units, price, class).

        ``exclude`` is an offer index not to consider (the one a relocated job leaves)."""
        if self.rules.fit != "objective":
            return best_two_by_fit(self, job, exclude)
        spot = job.mode is Mode.SPOT
        free, pid, prov, dc, cluster = self.free, self.pid, self.prov, self.dc, self.cluster
        arr = self.floor if spot else self.price
        limit = job.price_limit_fen
        provs, dcs, prods = job.provinces, job.datacenters, job.products
        b_off, b_cl = job.blocked_offers, job.blocked_clusters
        holds = self.holds
        cost = job.objective is Objective.COST
        spares, waiting_chips, penalty = self.spares(job), self.waiting_chips, self.rules.spare_constrained
        first = second = None  # (score, pid, i, units, price, cls)
        live = self._live_od
        for bound, cls, units in self.candidates(job):
            if second is not None and bound > second[0]:
                break
            penalised = spares and waiting_chips.get(cls.chip, 0) > 0
            order = cls.spot if spot else (live.get(cls) or self.live_od(cls))
            start = cls.spot_start if spot else cls.od_start
            n = len(order)
            while start < n and free[order[start]] == 0:
                start += 1
            if spot:
                cls.spot_start = start
            else:
                cls.od_start = start
            found = 0
            for pos in range(start, n):
                i = order[pos]
                if free[i] < units or i == exclude:
                    continue
                price = arr[i] * units
                if limit is not None and price > limit:
                    break
                if provs and prov[i] not in provs:
                    continue
                if dcs and dc[i] not in dcs:
                    continue
                if prods and pid[i] not in prods:
                    continue
                if (b_off and pid[i] in b_off) or (b_cl and cluster[i] in b_cl):
                    continue
                if holds and i in holds and not holds[i].allows(job, units):
                    continue
                charged = price + int(price * penalty) if penalised else price
                entry = ((charged,) if cost else (-cls.fp16 * job.accelerators, price), pid[i], i, units, price, cls)
                if first is None or entry[:2] < first[:2]:
                    first, second = entry, first
                elif second is None or entry[:2] < second[:2]:
                    second = entry
                found += 1
                if found == 2:
                    break
        return [e for e in (first, second) if e is not None]

    def passes_all_but_capacity(self, job: JobRequest, i: int, units: int) -> bool:
        spot = job.mode is Mode.SPOT
        if self.total[i] < units or not self.healthy[i]:
            return False
        per_unit = self.floor[i] if spot else self.price[i]
        if per_unit is None:
            return False
        limit = job.price_limit_fen
        if limit is not None and per_unit * units > limit:
            return False
        return self.allowed_place(job, i)

    def allowed_place(self, job: JobRequest, i: int) -> bool:
        """Offer ``i`` is in a province, data center and product the job allows, and not on its blocklist."""
        if job.provinces and self.prov[i] not in job.provinces:
            return False
        if job.datacenters and self.dc[i] not in job.datacenters:
            return False
        if job.products and self.pid[i] not in job.products:
            return False
        return not (self.pid[i] in job.blocked_offers or self.cluster[i] in job.blocked_clusters)

    # ------------------------------------------------------------------ reservation (EASY backfill)

    def start_minute(self, i: int, units: int) -> int | None:
        """Earliest minute at which ``units`` are free on offer ``i``, from the known releases."""
        available = self.free[i]
        if available >= units:
            return 0
        if self._release_source is not None and i not in self.releases.lists:
            return self._release_source.start_minute(i, units - available)
        for minute, released in sorted(self.releases[i]):
            available += released
            if available >= units:
                return minute
        return None

    def reservable(self, job: JobRequest) -> list[tuple[int, int, tuple, str]]:
        """(offer index, units, score, product id) of the offers the job could use but for their free units:
        where it may reserve (static, so cached per job signature)."""
        key = _signature(self, job)
        cached = self.market.reservable.get(key)
        if cached is None:
            cached = self.market.reservable[key] = [
                (i, units, self.score(job, cls, self.price[i] * units), self.pid[i])
                for _bound, cls, units in self.candidates(job) for i in cls.od
                if self.passes_all_but_capacity(job, i, units)]
        return cached

    def reserve(self, job: JobRequest) -> Reservation | None:
        """Hold the offer where ``job`` starts soonest (:func:`suanli.scheduling.holds.reserve`)."""
        return reserve(self, job)

    def may_use_reserved(self, job: JobRequest) -> bool:
        """Whether a reserved offer has room the job may take (by units and the reservation; the rest of
        its constraints are not checked)."""
        cands = self.candidates(job)
        units_by_class = self.market.units_by_class.get(id(cands))
        if units_by_class is None:
            units_by_class = self.market.units_by_class[id(cands)] = {cls: units for _b, cls, units in cands}
        for i, hold in self.holds.items():
            units = units_by_class.get(self.class_of[i])
            if units is not None and self.free[i] >= units and hold.allows(job, units):
                return True
        return False

    # ------------------------------------------------------------------ applying decisions

    def take(self, job: JobRequest, i: int, units: int, price: int) -> None:
        self.free[i] -= units
        if self.waiting_chips and job.chip is not None and job.id not in self._started:
            self._started.add(job.id)  # a constrained job placed no longer waits for its chip
            left = self.waiting_chips[job.chip] - 1
            if left > 0:
                self.waiting_chips[job.chip] = left
            else:
                self.waiting_chips.pop(job.chip, None)
        self.on_offer[i].append((job, units, price))
        hold = self.holds.get(i)
        if hold is not None and not hold.ends_before(job):
            hold.long += units
        if job.max_runtime_minutes is not None:
            self.releases[i].append((job.max_runtime_minutes, units))

    def take_part(self, job: JobRequest, i: int, units: int) -> None:
        """A gang's part: like ``take``, but the part is not a move candidate for repairs (gangs move whole)."""
        self.free[i] -= units
        if job.max_runtime_minutes is not None:
            self.releases[i].append((job.max_runtime_minutes, units))

    def fragmentation_target(self) -> FragmentationTarget:
        """FGD's target workload: the round's queue (set by ``schedule_round``)."""
        return self.target

    def preempt(self, job: JobRequest) -> tuple[int, int, list[RunningSpot], OfferClass, int] | None:
        """The offer and victims for an on-demand job that fits only by evicting spot jobs."""
        best = None
        if not self.spot_offers:
            return None
        units_by_class = {cls: units for _bound, cls, units in self.candidates(job)}
        for i in sorted(self.spot_offers):
            cls = self.class_of[i]
            units = units_by_class.get(cls)
            if units is None or i in self.holds or self.free[i] >= units:
                continue
            deficit = units - self.free[i]
            if self.spot_units[i] < deficit or not self.passes_all_but_capacity(job, i, units):
                continue
            victims = choose_victims(self.spot_jobs[i], deficit)
            price = self.price[i] * units
            key = (len(victims), sum(v.bid_hourly_fen for v in victims), self.score(job, cls, price), self.pid[i])
            if best is None or key < best[0]:
                best = (key, i, units, victims, cls, price)
        if best is None:
            return None
        _key, i, units, victims, cls, price = best
        for v in victims:
            self.spot_jobs[i].remove(v)
            self.spot_units[i] -= v.units
            self.free[i] += v.units
        if self.spot_units[i] <= 0:
            self.spot_offers.discard(i)
        self._had_free[i] = max(self._had_free[i], self.free[i])
        self._live_od.pop(cls, None)
        self._live_idx.pop(cls, None)
        cls.od_start = cls.spot_start = cls.idx_start = 0
        return i, units, victims, cls, price

    def explain(self, job: JobRequest) -> tuple[dict[str, int], int]:
        """Offers eliminated per constraint for a job that could not be placed, and how many are held."""
        return eliminations(self, job)


def job_candidates(market: Market, job: JobRequest) -> list[tuple[tuple, OfferClass, int]]:
    """(score lower bound, class, units) for the classes passing the job's static constraints, best bound first:
    the list every round of ``market`` uses for the job (cached per job shape)."""
    return _Round(market, ()).candidates(job)


def schedule_round(queue: Iterable[JobRequest], offers: Sequence[Offer] | Market,
                   running_spot: Iterable[RunningSpot] = (), repair_budget: int = 2_000,
                   search_limit: int = SEARCH_LIMIT, *, rules: Rules = PRODUCTION,
                   free: Sequence[int] | None = None,
                   releases: Sequence[Sequence[tuple[int, int]]] | None = None,
                   fragmentation: FragmentationTarget | None = None, now_s: float | None = None,
                   constrained: Counter | None = None) -> RoundResult:
    """Place the queued jobs on ``offers`` for one round (see the module docstring for the algorithm).

    ``running_spot`` are spot jobs running now, which on-demand jobs may preempt. ``repair_budget``
    bounds the relocation probes (one probe = one search for a moved job's next-best offer) spent
    making room for jobs that do not fit; 0 turns relocation and the searches off. ``search_limit`` is the
    largest round (job-offer pairs of its on-demand ``cost`` jobs) given the whole-round assignment search;
    larger rounds use the bounded local search; 0 turns the whole-round search off. ``rules`` choose the policy
    (:mod:`suanli.scheduling.rules`; the platform's is ``PRODUCTION``). ``offers`` may be a :class:`Market`
    built once for many rounds, with this round's ``free`` units and ``releases`` per offer (default: the
    offers' own). ``fragmentation`` is the workload the ``fgd`` fit packs against (default: this round's queue; a
    caller that gives the round only part of its queue passes the whole queue's). ``now_s`` is the round's time
    against each job's ``submitted_s`` (``Rules.reserve_after_s``); ``constrained`` counts the waiting jobs per chip
    they ask for by name (``Rules.spare_constrained``; default: this round's queue). Returns the placements (in the
    order decided), the jobs that could not be placed with the reason, the spot jobs preempted (requeue them), the
    head job's reservation, if any, and every reservation (the head's first).
    """
    jobs = queue_order(queue)
    ids = [j.id for j in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("queue: job ids must be unique")
    market = offers if isinstance(offers, Market) else Market(offers)
    st = _Round(market, running_spot, rules, free, releases)
    st.repair_budget = repair_budget if rules.improve else 0
    st.now_s = now_s
    if rules.spare_constrained is not None:
        st.waiting_chips = Counter(constrained if constrained is not None
                                   else (j.chip for j in jobs if j.chip is not None and j.accelerators))
    waited_holds = rules.reserve_after_s is not None and rules.backfill == "easy"
    if not rules.improve:
        search_limit = 0
    if rules.fit == "fgd":
        st.target = fragmentation if fragmentation is not None else FragmentationTarget(jobs)
    placements: dict[str, Placement] = {}
    unplaceable: list[Unplaceable] = []
    preemptions: list[Preemption] = []
    moves_made = False  # units freed during the round (relocation, preemption, moves): retry the jobs left
    no_room: dict[tuple, int] = {}  # signature -> placements in the round when relocation last failed for it
    full: set[tuple] = set()  # signatures that found no free offer (capacity only shrinks until units are freed)
    waiting_behind: JobRequest | None = None  # backfill "none": the on-demand job everything waits behind
    for job in jobs:
        if waiting_behind is not None:
            if not rules.explain:
                break
            unplaceable.append(waiting_behind_head(job, st, waiting_behind))
            continue
        sig = _signature(st, job)
        known_full = _known_full(st, full, sig, job)
        if known_full and st.repair_budget <= 0 and not rules.explain and not (
                waited_holds and st.reservation is not None and may_hold(st, job)):
            continue  # the fast path of the replay's long queues: nothing can change for this job
        if not known_full:
            top = st.best_two(job)
            if top:
                best = top[0]
                st.take(job, best[2], best[3], best[4])
                placements[job.id] = placement_for(job, st, best, top[1] if len(top) > 1 else None)
                continue
            _remember_full(st, full, sig, job)
        moved = None
        if no_room.get(sig) != len(placements):  # placements since its last try may be movable now
            moved = relocate(st, job)  # (what it finds does not depend on the job's runtime)
            if moved is None:
                no_room[sig] = len(placements)
        if moved is not None:
            i, units, price, cls, other, alt = moved
            st.take(job, i, units, price)
            best = (st.score(job, cls, price), st.pid[i], i, units, price, cls)
            placements[other.id], placements[job.id] = made_room_placements(job, best, other, alt,
                                                                            placements[other.id], st)
            full.clear()  # the moved job may have left more units than this one took
            moves_made = True  # ... which a job that failed earlier may fit in
            continue
        if not known_full and job.mode is Mode.ON_DEMAND:
            evicted = st.preempt(job)
            if evicted is not None:
                i, units, victims, cls, price = evicted
                st.take(job, i, units, price)
                best = (st.score(job, cls, price), st.pid[i], i, units, price, cls)
                placements[job.id] = placement_for(job, st, best, None, victims)
                preemptions.extend(Preemption(v.job_id, v.offer_id, v.units, job.id) for v in victims)
                full.clear()  # the evicted units are free for others too
                moves_made = True
                continue
        if not known_full and rules.gang:
            gang = find_gang(st, job)
            if gang is not None:
                parts, price, cls = gang
                for i, units in parts:
                    st.take_part(job, i, units)
                placements[job.id] = gang_placement(job, st, parts, price, cls)
                continue
        if rules.explain:
            unplaceable.append(unplaced(job, st, rules))
        elif may_hold(st, job):
            st.reserve(job)
        if rules.backfill == "none" and job.mode is Mode.ON_DEMAND:
            waiting_behind = job
    by_id = {j.id: j for j in jobs}
    searched = None
    if not worth_improving(st, jobs, placements, unplaceable):
        st.repair_budget = 0  # every job got the cheapest price it could have anywhere: nothing to improve
    if st.repair_budget > 0 and search_limit > 0:
        pinned = {p.job_id for p in placements.values() if p.preempted or p.parts}
        searched = reassign(st, jobs, set(placements), pinned, search_limit, SEARCH_BUDGET)
    if searched is not None:
        moves, head_placed = searched
        if head_placed:  # the head job fits after all: no reservation to keep
            st.holds.pop(st._res_index, None)
            st.reservation, st._res_index = None, -1
            unplaceable = [explained(by_id[u.job_id], st) for u in unplaceable]
        moves_made = moves_made or bool(moves)
        for job, entry in moves:
            placements[job.id] = searched_placement(job, st, entry, placements.get(job.id))
        unplaceable = [u for u in unplaceable if u.job_id not in placements]
    elif st.repair_budget > 0 and placements:
        for _pass in range(8):  # local search: single moves, then pairwise exchanges, until stable
            changed = False
            for job, entry, _old_i in improve(st):
                changed = moves_made = True
                placements[job.id] = cheaper_placement(job, st, entry, placements[job.id])
            for u, u_entry, p, p_entry in exchange(st):
                changed = moves_made = True
                placements[u.id], placements[p.id] = exchanged_placements(st, u, u_entry, placements[u.id], p,
                                                                          p_entry, placements[p.id])
            if not changed or st.repair_budget <= 0:
                break
    if moves_made and rules.backfill != "none":
        # Units freed may now take jobs that did not fit (all not placed: without explanations, no unplaceable).
        full.clear()
        holders = {h.reservation.job_id for h in st.holds.values()}
        for job in jobs:
            if job.id in placements or job.id in holders:
                continue
            sig = _signature(st, job)
            top = st.best_two(job) if not _known_full(st, full, sig, job) else []
            if top:
                st.take(job, top[0][2], top[0][3], top[0][4])
                placements[job.id] = placement_for(job, st, top[0], top[1] if len(top) > 1 else None)
            else:
                _remember_full(st, full, sig, job)
        unplaceable = [u for u in unplaceable if u.job_id not in placements]
    return RoundResult(tuple(placements.values()), tuple(unplaceable), tuple(preemptions), st.reservation,
                       tuple(h.reservation for h in st.holds.values()))


def describe(job: JobRequest) -> str:
    """A short human description of what the job asks for (English)."""
    return str(describe_job(job))
