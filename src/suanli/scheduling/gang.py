"""Gang placement: a job larger than any one server runs on several servers of one data center, all or nothing.

A job is a gang only when no offer that passes its static constraints could hold it even when idle (a job that
fits one server waits for one instead of being split). Then, per class of identical unit shape (so every part
is the same chip and the same unit), the data centers whose offers together have the job's units free are
candidates; in each, the parts take the offers with the most free units first (fewest servers), then the
cheapest. The data center chosen is the cheapest in total (fit ``objective``), else the one with the fewest
servers. Either every part is placed or none. The reserved offer of the head job is never a part.

A gang stays on one cluster of its data center (offers are grouped by data center and cluster): the platform
starts it as one multi-node run there (Slurm ``--nodes``, local ranks), and the replay's data centers are one
cluster each. How many servers a part is depends on the offer (``Offer.unit_is_server``): a platform product's
unit is a machine (one rank per unit), a replay node is one machine whose units are its GPUs.

Both the platform (``jobs.scheduler``) and the trace replay run with ``Rules.gang`` on. :func:`never_fits` tells a
job that no cluster could hold even idle (refused at submit) from one that waits for capacity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from suanli.core.messages import Message, msg
from suanli.core.money import format_cny
from suanli.scheduling.model import JobRequest, Mode, Offer, Placement

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.market import OfferClass
    from suanli.scheduling.policy import _Round

__all__ = ["find_gang", "gang_placement", "gang_reason", "never_fits"]


def _passes_static(st: _Round, job: JobRequest, i: int) -> bool:
    per_unit = st.floor[i] if job.mode is Mode.SPOT else st.price[i]
    return per_unit is not None and st.healthy[i] and i != st._res_index and st.allowed_place(job, i)


def find_gang(st: _Round, job: JobRequest) -> tuple[list[tuple[int, int]], int, OfferClass] | None:
    """``([(offer index, units), ...], total hourly price, class)`` for a job larger than one server, or None
    (the job fits one server, or no data center has enough free units now)."""
    if not job.accelerators:
        return None
    candidates = st.candidates(job)
    if any(cls.max_total >= units for _b, cls, units in candidates):
        return None
    spot = job.mode is Mode.SPOT
    arr = st.floor if spot else st.price
    limit = job.price_limit_fen
    best = None
    for _bound, cls, units in candidates:
        by_dc: dict[tuple[str, str], list[int]] = {}
        for i in (cls.spot if spot else cls.od):
            if st.free[i] > 0 and _passes_static(st, job, i):
                by_dc.setdefault((st.dc[i], st.cluster[i]), []).append(i)
        for dc, members in by_dc.items():
            if sum(st.free[i] for i in members) < units:
                continue
            parts = []
            left = units
            for i in sorted(members, key=lambda i: (-st.free[i], arr[i], i)):
                k = min(left, st.free[i])
                parts.append((i, k))
                left -= k
                if left == 0:
                    break
            price = sum(arr[i] * k for i, k in parts)
            if limit is not None and price > limit:
                continue
            key = (price, len(parts), dc) if st.rules.fit == "objective" else (len(parts), min(parts)[0], dc)
            if best is None or key < best[0]:
                best = (key, parts, price, cls)
    if best is None:
        return None
    _key, parts, price, cls = best
    return parts, price, cls


def gang_placement(job: JobRequest, st: _Round, parts: list[tuple[int, int]], price: int,
                   cls: OfferClass) -> Placement:
    """The placement of a gang (its units already taken); ``parts`` lists (offer id, units) per server."""
    first = parts[0][0]
    units = sum(k for _i, k in parts)
    offer = st.offers[first]
    servers = units if offer.unit_is_server else len(parts)
    reason = (gang_reason(servers, offer, units * cls.apu, cls.chip, price), msg("no single server can hold the job"))
    return Placement(job_id=job.id, offer_id=st.pid[first], datacenter_id=st.dc[first], cluster_id=st.cluster[first],
                     units=units, accelerators=units * cls.apu, hourly_price_fen=price, mode=job.mode,
                     reason_message=reason, parts=tuple((st.pid[i], k) for i, k in parts))


def gang_reason(servers: int, offer: Offer, accelerators: int, chip: str, price: int) -> Message:
    """The clause that says a job runs as a gang: how many servers, where, what, at what price per hour."""
    return msg("gang of %(servers)s servers in %(datacenter)s, all or nothing: %(what)s at %(price)s/h",
               servers=servers, datacenter=offer.datacenter_name or offer.datacenter_id,
               what=f"{accelerators}×{chip}", price=format_cny(price))


def never_fits(job: JobRequest, offers: Sequence[Offer]) -> tuple[int, str] | None:
    """For a job asking accelerators that no cluster of any data center could hold even with every unit free:
    ``(the most accelerators of a kind the job accepts that one cluster holds, that data center's name)``.
    None when some offer, or a gang on one cluster, could hold it once capacity frees, and when no offer passes
    the job's static constraints at all (chip, memory, region...: the scheduler's explanation says which; the
    catalog may yet list one). Prices and health are not considered: they change."""
    from suanli.scheduling.policy import _Round

    if not job.accelerators:
        return None
    idle = [dataclasses.replace(o, free_units=o.total_units or 0, healthy=True, releases=()) for o in offers]
    st = _Round(idle, ())
    largest: tuple[int, str] | None = None
    for _bound, cls, units in st.candidates(job):
        held: dict[tuple[str, str], int] = {}
        for i in cls.members:
            if st.allowed_place(job, i):
                key = (st.dc[i], st.cluster[i])
                held[key] = held.get(key, 0) + st.total[i]
        for key, total in held.items():
            if total >= units:
                return None
            offer = next(idle[i] for i in cls.members if (st.dc[i], st.cluster[i]) == key)
            accelerators = total * cls.apu
            if largest is None or accelerators > largest[0]:
                largest = (accelerators, offer.datacenter_name or offer.datacenter_id)
    return largest
