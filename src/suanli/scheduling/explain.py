"""Why a job cannot be placed: how many offers each constraint eliminated, and one sentence (translatable
clauses, :mod:`suanli.core.messages`).

Each offer is counted once, under the first constraint it fails. Static constraints are checked
first (chip, ecosystem, count, memory, compute, region, data center, product, price, blocked, unhealthy) and
``capacity_busy`` last, so ``capacity_busy`` is exactly the offers that would take the job if they
had the free units now. ``capacity_busy`` includes offers whose free units are held for the head
job's reservation (reported separately as *held* in the message).
"""

from __future__ import annotations


from bisect import bisect_right
from typing import TYPE_CHECKING

from suanli.core.messages import Message, join, msg
from suanli.core.money import format_cny
from suanli.scheduling.holds import may_hold
from suanli.scheduling.model import CONSTRAINTS, JobRequest, Mode, Reservation, Unplaceable

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.policy import _Round
    from suanli.scheduling.rules import Rules

__all__ = ["describe_job", "eliminations", "explained", "unplaceable_message", "unplaced", "waiting_behind_head"]


_BIG = 1 << 62  # stands for "no spot price" in sorted price lists


def eliminations(st: _Round, job: JobRequest, exact: bool = False) -> tuple[dict[str, int], int]:
    """Offers of round state ``st`` eliminated per constraint for ``job``, and how many are held.

    Call it only for a job the round could not place. Offers failing chip or ecosystem are counted
    per class; for the other classes a static index per (class, units) - pool size, then offers by
    province and data center with their prices sorted, split by health - is built once and cached, so
    a price limit is a bisection. Every offer left after the static constraints must be busy (else
    the job would have been placed), so ``capacity_busy`` needs no loop over free capacity.
    ``exact=True`` (and any job with a blocklist or pinned to products) walks every offer instead; the tests
    check that both agree.
    """
    if exact or job.blocked_offers or job.blocked_clusters or job.products:
        return _eliminations_exact(st, job)
    spot = job.mode is Mode.SPOT
    limit = job.price_limit_fen
    provs, dcs = job.provinces, job.datacenters
    shape = _shape(st, job, spot)
    fixed, classes, all_healthy, all_unhealthy = shape
    n_region = n_dc = n_price = n_unhealthy = n_busy = 0
    if not provs and not dcs:
        k = len(all_healthy) if limit is None else bisect_right(all_healthy, limit)
        ku = len(all_unhealthy) if limit is None else bisect_right(all_unhealthy, limit)
        n_price = (len(all_healthy) - k) + (len(all_unhealthy) - ku)
        n_unhealthy, n_busy = ku, k
    else:
        for units, rest, by_province in classes:
            threshold = _BIG - 1 if limit is None else limit // units
            groups = []
            if provs:
                inside = 0
                for province in provs:
                    node = by_province.get(province)
                    if node is not None:
                        inside += node[0]
                        groups.append(node)
                n_region += rest - inside
            else:
                groups = by_province.values()
            for size, p_lists, by_dc in groups:
                if not dcs:
                    lists = (p_lists,)
                else:
                    lists = []
                    inside = 0
                    for dc in dcs:
                        d = by_dc.get(dc)
                        if d is not None:
                            inside += d[0]
                            lists.append(d[1])
                    n_dc += size - inside
                for prices, unhealthy in lists:
                    k = bisect_right(prices, threshold)
                    ku = bisect_right(unhealthy, threshold)
                    n_price += (len(prices) - k) + (len(unhealthy) - ku)
                    n_unhealthy += ku
                    n_busy += k
    counts = dict(fixed)
    counts.update(region=n_region, datacenter=n_dc, price=n_price, unhealthy=n_unhealthy, capacity_busy=n_busy)
    held = 0
    for i in st.holds if n_busy else ():
        # A reserved offer counts as held when it passes every static constraint and has room.
        cls = st.class_of[i]
        units = _units(job, cls)
        per_unit = (st.floor if spot else st.price)[i]
        if (units is not None and st.free[i] >= units and st.total[i] >= units and st.healthy[i]
                and not (job.accelerators and (cls.apu <= 0 or (job.chip is not None and cls.chip != job.chip)))
                and not (job.ecosystems and cls.eco not in job.ecosystems)
                and cls.mem >= job.min_accel_memory_gib and cls.fp16 >= job.min_fp16_tflops
                and (not provs or st.prov[i] in provs) and (not dcs or st.dc[i] in dcs)
                and per_unit is not None and (limit is None or per_unit * units <= limit)):
            held += 1
    return counts, held


def _shape(st: _Round, job: JobRequest, spot: bool):
    """Per job shape (what it needs, not where or at what price): the counts of chip, ecosystem,
    count, memory and compute; per remaining class (units, offers left, province index); and the
    merged sorted whole-job prices (healthy, unhealthy) of every offer left. Cached on the round."""
    acc = job.accelerators
    sig = st.units_signature(job)
    key = (acc > 0, job.chip, job.ecosystems, sig, spot, job.min_accel_memory_gib, job.min_fp16_tflops)
    shape = st._elim_shapes.get(key)
    if shape is not None:
        return shape
    fixed = dict.fromkeys(CONSTRAINTS, 0)
    classes = []
    all_healthy: list[int] = []
    all_unhealthy: list[int] = []
    for cls in st.classes:
        if acc and (cls.apu <= 0 or (job.chip is not None and cls.chip != job.chip)):
            fixed["chip"] += len(cls.members)
            continue
        if job.ecosystems and cls.eco not in job.ecosystems:
            fixed["ecosystem"] += len(cls.members)
            continue
        units = sig[cls.shape]
        if units is None:
            fixed["count"] += len(cls.members)
            continue
        ekey = (cls, units, spot)
        entry = st._elim_static.get(ekey)
        if entry is None:
            entry = st._elim_static[ekey] = _static_entry(st, cls, units, spot)
        too_small, (prices, unhealthy), by_province = entry
        fixed["count"] += too_small
        rest = len(cls.members) - too_small
        if cls.mem < job.min_accel_memory_gib:
            fixed["memory"] += rest
            continue
        if cls.fp16 < job.min_fp16_tflops:
            fixed["compute"] += rest
            continue
        classes.append((units, rest, by_province))
        all_healthy.extend(p * units for p in prices)
        all_unhealthy.extend(p * units for p in unhealthy)
    all_healthy.sort()
    all_unhealthy.sort()
    shape = st._elim_shapes[key] = (fixed, classes, all_healthy, all_unhealthy)
    return shape


def _units(job: JobRequest, cls) -> int | None:
    from suanli.scheduling.policy import units_needed

    return units_needed(job, cls.apu, cls.vpu, cls.mpu)


def _static_entry(st: _Round, cls, units: int, spot: bool):
    """(offers too small for ``units``, (healthy prices, unhealthy prices) of the rest,
    {province: (size, lists, {data center: (size, lists)})}); prices per unit, sorted."""
    per_unit = st.floor if spot else st.price
    too_small = 0
    tree: dict[str, dict[str, tuple[list[int], list[int]]]] = {}
    for i in cls.members:
        if st.total[i] < units:
            too_small += 1
            continue
        price = _BIG if per_unit[i] is None else per_unit[i]
        lists = tree.setdefault(st.prov[i], {}).setdefault(st.dc[i], ([], []))
        lists[0 if st.healthy[i] else 1].append(price)

    def merged(parts):
        healthy = sorted(p for part in parts for p in part[0])
        unhealthy = sorted(p for part in parts for p in part[1])
        return healthy, unhealthy

    by_province = {}
    for province, dcs in tree.items():
        by_dc = {dc: (len(h) + len(u), (sorted(h), sorted(u))) for dc, (h, u) in dcs.items()}
        by_province[province] = (sum(size for size, _ in by_dc.values()), merged(dcs.values()), by_dc)
    everywhere = merged([lists for dcs in tree.values() for lists in dcs.values()])
    return too_small, everywhere, by_province


def _eliminations_exact(st: _Round, job: JobRequest) -> tuple[dict[str, int], int]:
    """The same counts as :func:`eliminations`, offer by offer."""
    from suanli.scheduling.policy import units_needed

    counts = dict.fromkeys(CONSTRAINTS, 0)
    held = 0
    spot = job.mode is Mode.SPOT
    limit = job.price_limit_fen
    provs, dcs, prods = job.provinces, job.datacenters, job.products
    b_off, b_cl = job.blocked_offers, job.blocked_clusters
    free, total, prov, dc, pid, cluster = st.free, st.total, st.prov, st.dc, st.pid, st.cluster
    healthy = st.healthy
    per_unit = st.floor if spot else st.price
    holds = st.holds
    for cls in st.classes:
        if job.accelerators and (cls.apu <= 0 or (job.chip is not None and cls.chip != job.chip)):
            counts["chip"] += len(cls.members)
            continue
        if job.ecosystems and cls.eco not in job.ecosystems:
            counts["ecosystem"] += len(cls.members)
            continue
        units = units_needed(job, cls.apu, cls.vpu, cls.mpu)
        if units is None:
            counts["count"] += len(cls.members)
            continue
        low_memory = cls.mem < job.min_accel_memory_gib
        low_compute = cls.fp16 < job.min_fp16_tflops
        for i in cls.members:
            if total[i] < units:
                counts["count"] += 1
            elif low_memory:
                counts["memory"] += 1
            elif low_compute:
                counts["compute"] += 1
            elif provs and prov[i] not in provs:
                counts["region"] += 1
            elif dcs and dc[i] not in dcs:
                counts["datacenter"] += 1
            elif prods and pid[i] not in prods:
                counts["product"] += 1
            elif per_unit[i] is None or (limit is not None and per_unit[i] * units > limit):
                counts["price"] += 1
            elif (b_off and pid[i] in b_off) or (b_cl and cluster[i] in b_cl):
                counts["blocked"] += 1
            elif not healthy[i]:
                counts["unhealthy"] += 1
            elif free[i] < units:
                counts["capacity_busy"] += 1
            elif i in holds and not holds[i].allows(job, units):
                counts["capacity_busy"] += 1
                held += 1
            else:  # pragma: no cover - the job would have been placed
                raise AssertionError(f"offer {pid[i]} fits job {job.id} but the job was not placed")
    return counts, held


def _listed(parts: list[Message | str]) -> Message | str:
    """``a, b, c`` in English (each part translated in its turn; Chinese lists with "，")."""
    if len(parts) == 1:
        return parts[0]
    return msg("%(first)s, %(rest)s", first=parts[0], rest=_listed(parts[1:]))


def describe_job(job: JobRequest) -> Message | str:
    """What the job asks for, in a few words: ``8× ascend-910b, 64 vCPUs`` / ``4× any chip (≥80 GiB)``."""
    parts: list[Message | str] = []
    if job.accelerators:
        quals = []
        if job.ecosystems:
            quals.append("/".join(sorted(job.ecosystems)))
        if job.min_accel_memory_gib:
            quals.append(f"≥{job.min_accel_memory_gib} GiB")
        if job.min_fp16_tflops:
            quals.append(f"≥{job.min_fp16_tflops:g} TFLOPS")
        chip = job.chip or msg("any chip")
        if quals:
            parts.append(msg("%(n)s× %(chip)s (%(quals)s)", n=job.accelerators, chip=chip, quals=", ".join(quals)))
        else:
            parts.append(msg("%(n)s× %(chip)s", n=job.accelerators, chip=chip))
    if job.vcpus:
        parts.append(msg("%(n)s vCPUs", n=job.vcpus))
    if job.memory_gib:
        parts.append(msg("%(n)s GiB memory", n=job.memory_gib))
    where = sorted(job.provinces) + sorted(job.datacenters)
    if where:
        parts.append(msg("in %(places)s", places="/".join(where)))
    if job.products:
        parts.append(msg("on product %(products)s", products="/".join(sorted(job.products))))
    limit = job.price_limit_fen
    if limit is not None:
        parts.append(msg("≤%(price)s/h", price=format_cny(limit)))
    if job.mode is Mode.SPOT:
        parts.append(msg("spot"))
    return _listed(parts)


# "chip 3": offers a constraint eliminated (the English keeps the constraint's name); ``n`` is filled in.
_ELIMINATED = {
    "chip": msg("chip %(n)s"),
    "ecosystem": msg("ecosystem %(n)s"),
    "count": msg("count %(n)s"),
    "memory": msg("memory %(n)s"),
    "compute": msg("compute %(n)s"),
    "region": msg("region %(n)s"),
    "datacenter": msg("datacenter %(n)s"),
    "product": msg("product %(n)s"),
    "price": msg("price %(n)s"),
    "capacity_busy": msg("capacity_busy %(n)s"),
    "blocked": msg("blocked %(n)s"),
    "unhealthy": msg("unhealthy %(n)s"),
}

_HINTS = {
    "chip": msg("no offer has that chip"),
    "ecosystem": msg("no offer in those ecosystems"),
    "count": msg("no pool is big enough for the job in one place"),
    "memory": msg("accelerator memory too small"),
    "compute": msg("accelerators too slow"),
    "region": msg("outside the allowed provinces"),
    "datacenter": msg("outside the allowed data centers"),
    "product": msg("not one of the chosen products"),
    "price": msg("over the price limit"),
    "blocked": msg("already failed there"),
    "unhealthy": msg("cluster unhealthy"),
}


def unplaceable_message(job: JobRequest, counts: dict[str, int], total: int, held: int,
                        reservation: Reservation | None, reserved: Reservation | None) -> tuple[Message, ...]:
    """The clauses: what the job needs, which constraints eliminated how many offers, what next."""
    if total == 0:
        return (msg("job %(job)s (%(needs)s): no offers in the market", job=job.id, needs=describe_job(job)),)
    listed = _listed([msg(_ELIMINATED[name].template, n=counts[name]) for name in CONSTRAINTS if counts.get(name)])
    clauses: list[Message | None] = [
        msg("job %(job)s (%(needs)s): none of %(total)s offers fits", job=job.id, needs=describe_job(job),
            total=total),
        msg("eliminated by %(listed)s", listed=listed)]
    busy = counts.get("capacity_busy", 0)
    if busy:
        if held and reservation is not None:
            clauses.append(msg("%(n)s would fit once capacity frees (%(held)s held for job %(job)s)", n=busy,
                               held=held, job=reservation.job_id))
        elif held:  # several holds (Rules.reserve_after_s): not all for one job
            clauses.append(msg("%(n)s would fit once capacity frees (%(held)s held for waiting jobs)", n=busy,
                               held=held))
        else:
            clauses.append(msg("%(n)s would fit once capacity frees", n=busy))
    else:
        biggest = max((n for n in CONSTRAINTS if counts.get(n)), key=lambda n: counts[n], default=None)
        if biggest is not None and biggest in _HINTS:
            clauses.append(msg("most often: %(hint)s", hint=_HINTS[biggest]))
    if reserved is not None:
        if reserved.start_minute is None:
            clauses.append(msg("reserved %(units)s units of %(offer)s when running jobs release capacity",
                               units=reserved.units, offer=reserved.offer_id))
        else:
            clauses.append(msg("reserved %(units)s units of %(offer)s in %(minutes)s min", units=reserved.units,
                               offer=reserved.offer_id, minutes=reserved.start_minute))
    return join(clauses)


def waiting_behind_head(job: JobRequest, st: _Round, head: JobRequest) -> Unplaceable:
    """Backfill ``none`` (strict FIFO): ``job`` is not considered while ``head`` waits."""
    return Unplaceable(job_id=job.id, eliminated={}, offers_considered=len(st.offers),
                       reason_message=msg("waiting behind job %(job)s (no backfill)", job=head.id))


def _only_hold(st: _Round) -> Reservation | None:
    """The head job's reservation when it is the round's only hold (the offers held are then all its)."""
    return st.reservation if len(st.holds) <= 1 else None


def explained(job: JobRequest, st: _Round) -> Unplaceable:
    """A job left unplaced, explained against the round's final state (after a search placed the head job)."""
    counts, held = st.explain(job)
    return Unplaceable(job_id=job.id, eliminated=counts, offers_considered=len(st.offers),
                       reason_message=unplaceable_message(job, counts, len(st.offers), held, _only_hold(st), None))


def unplaced(job: JobRequest, st: _Round, rules: Rules) -> Unplaceable:
    """A job the round could not place: why, and its reservation if it gets one (:func:`.holds.may_hold`: the
    first on-demand job that waits for capacity, or one that waited past ``Rules.reserve_after_s``)."""
    reserved = None
    may_reserve = may_hold(st, job)
    counts, held = st.explain(job)
    if may_reserve and counts["capacity_busy"] > 0:
        reserved = st.reserve(job)
    return Unplaceable(job_id=job.id, eliminated=counts, offers_considered=len(st.offers), reserved=reserved,
                       reason_message=unplaceable_message(job, counts, len(st.offers), held, _only_hold(st),
                                                         reserved))
