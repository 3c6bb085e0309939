"""Why a round placed a job where it did: the reasons of :class:`~suanli.scheduling.model.Placement`.

A reason is a few clauses, each a translatable :class:`~suanli.core.messages.Message` (the web pages show it in
the page's language; ``str()`` is the English sentence the API and the CLI show, the clauses joined by "; ").
Money is formatted before it goes in (``format_cny``), so both languages show the same figures.

An *entry* is the policy's ``(score, product id, offer index, units, price, class)`` tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from suanli.core.messages import Message, join, msg
from suanli.core.money import format_cny
from suanli.scheduling.model import JobRequest, Mode, Objective, Placement, RunningSpot

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.policy import _Round

__all__ = ["cheaper_placement", "exchanged_placements", "made_room_placements", "placement_for", "reason_for",
           "searched_placement"]


def _what(job: JobRequest, units: int, cls) -> Message | str:
    """``8×h100`` (chip names are not translated), or ``2 units of cpu`` for a job without accelerators."""
    if job.accelerators:
        return f"{units * cls.apu}×{cls.chip}"
    if units == 1:
        return msg("%(n)s unit of %(chip)s", n=units, chip=cls.chip or "cpu")
    return msg("%(n)s units of %(chip)s", n=units, chip=cls.chip or "cpu")


def _where(st: _Round, i: int) -> Message:
    offer = st.offers[i]
    return msg("in %(province)s (%(datacenter)s)", province=offer.province,
               datacenter=offer.datacenter_name or offer.datacenter_id)


def _named(st: _Round, offer_id: str) -> str:
    """An offer as the reasons name it: its product's name, or its id when the round was given no names."""
    i = st.index_of.get(offer_id)
    return (st.offers[i].product_name or offer_id) if i is not None else offer_id


def _offer(job: JobRequest, st: _Round, entry: tuple) -> Message:
    """The offer taken: price per hour, what, where (and the speed, for a job that wants the fastest)."""
    _score, _pid, i, units, price, cls = entry
    if job.objective is Objective.COST:
        return msg("%(price)s/h for %(what)s %(where)s", price=format_cny(price), what=_what(job, units, cls),
                   where=_where(st, i))
    return msg("%(what)s (%(tflops)s FP16 TFLOPS) at %(price)s/h %(where)s", what=_what(job, units, cls),
               tflops=f"{cls.fp16 * job.accelerators:,.0f}", price=format_cny(price), where=_where(st, i))


def _headline(job: JobRequest, st: _Round, entry: tuple) -> Message:
    offer = _offer(job, st, entry)
    spot = job.mode is Mode.SPOT
    if job.objective is Objective.COST:
        return msg("cheapest feasible spot: %(offer)s", offer=offer) if spot else \
            msg("cheapest feasible: %(offer)s", offer=offer)
    return msg("fastest feasible spot: %(offer)s", offer=offer) if spot else \
        msg("fastest feasible: %(offer)s", offer=offer)


def reason_for(job: JobRequest, st: _Round, best: tuple, runner_up: tuple | None,
               victims: Sequence[RunningSpot] = (), backfilled: bool = False, *,
               compared: bool = True) -> tuple[Message, ...]:
    """The clauses: the offer taken; the runner-up (or "the only feasible offer", unless ``compared`` is
    False: the job was placed by moving others, not by comparing offers); preempted spot jobs; backfilling."""
    runner = None
    if runner_up is not None:
        alt_i, alt_price, alt_cls = runner_up[2], runner_up[4], runner_up[5]
        runner = msg("next best %(price)s/h (%(chip)s in %(province)s)", price=format_cny(alt_price),
                     chip=alt_cls.chip, province=st.offers[alt_i].province)
    elif compared:
        runner = msg("the only feasible offer")
    preempted = None
    if victims:
        ids = ", ".join(v.job_id for v in victims)
        preempted = (msg("preempted spot jobs %(jobs)s", jobs=ids) if len(victims) > 1
                     else msg("preempted spot job %(jobs)s", jobs=ids))
    around = None
    if backfilled and st.reservation is not None:
        around = msg("backfilled around job %(job)s's reservation", job=st.reservation.job_id)
    return join([_headline(job, st, best), runner, preempted, around])


def placement_for(job: JobRequest, st: _Round, best: tuple, runner_up: tuple | None,
                  victims: Sequence[RunningSpot] = (), reason: Sequence[Message] | None = None) -> Placement:
    """The placement of ``job`` on ``best``; ``reason`` replaces the comparison reason (moves, searches)."""
    _score, _pid, i, units, price, cls = best
    backfilled = st.reservation is not None and st.reservation.job_id != job.id
    return Placement(
        job_id=job.id, offer_id=st.pid[i], datacenter_id=st.dc[i], cluster_id=st.cluster[i], units=units,
        accelerators=units * cls.apu, hourly_price_fen=price, mode=job.mode,
        reason_message=tuple(reason) if reason is not None else
        reason_for(job, st, best, runner_up, victims, backfilled),
        preempted=tuple(v.job_id for v in victims), backfilled=backfilled,
    )


def searched_placement(job: JobRequest, st: _Round, entry: tuple, old: Placement | None) -> Placement:
    """The placement of a job the whole-round assignment search moved (``old``) or placed (``old`` None)."""
    offer = _offer(job, st, entry)
    if old is None:
        reason = (msg("whole-round search: %(offer)s", offer=offer),
                  msg("placed by moving other jobs of this round to offers that cost the round less in total"))
    else:
        reason = (msg("whole-round search: %(offer)s instead of %(old_price)s/h on %(old_offer)s, so that the "
                      "round's jobs together cost less", offer=offer,
                      old_price=format_cny(old.hourly_price_fen), old_offer=_named(st, old.offer_id)),)
    return placement_for(job, st, entry, None, reason=reason)


def made_room_placements(job: JobRequest, best: tuple, other: JobRequest, alt: tuple, old: Placement,
                         st: _Round) -> tuple[Placement, Placement]:
    """``job`` fits on ``best`` after ``other`` moved from its ``old`` placement to ``alt``: both placements."""
    i, price = alt[2], alt[4]
    moved = (msg("moved to %(price)s/h %(where)s from %(old_price)s/h on %(old_offer)s to make room for job "
                 "%(job)s", price=format_cny(price), where=_where(st, i), old_price=format_cny(old.hourly_price_fen),
                 old_offer=_named(st, old.offer_id), job=job.id),
             msg("before: %(before)s", before=old.reason_message))
    placed = (*reason_for(job, st, best, None, compared=False), msg("made room by moving job %(job)s", job=other.id))
    return placement_for(other, st, alt, None, reason=moved), placement_for(job, st, best, None, reason=placed)


def cheaper_placement(job: JobRequest, st: _Round, entry: tuple, old: Placement) -> Placement:
    """``job`` moved by the local search to ``entry``, cheaper than its ``old`` placement."""
    reason = msg("cheaper after other moves: %(price)s/h %(where)s instead of %(old_price)s/h on %(old_offer)s",
                 price=format_cny(entry[4]), where=_where(st, entry[2]), old_price=format_cny(old.hourly_price_fen),
                 old_offer=_named(st, old.offer_id))
    return placement_for(job, st, entry, None, reason=(reason,))


def exchanged_placements(st: _Round, u: JobRequest, u_entry: tuple, u_old: Placement, p: JobRequest,
                         p_entry: tuple, p_old: Placement) -> tuple[Placement, Placement]:
    """Jobs ``u`` and ``p`` exchanged by the local search, the round's total lower: both new placements."""
    u_reason = msg("exchanged with job %(job)s: %(price)s/h on %(offer)s instead of %(old_price)s/h on "
                   "%(old_offer)s (round total lower)", job=p.id, price=format_cny(u_entry[4]), offer=_named(st, u_entry[1]),
                   old_price=format_cny(u_old.hourly_price_fen), old_offer=_named(st, u_old.offer_id))
    p_reason = msg("moved for job %(job)s: %(price)s/h on %(offer)s instead of %(old_price)s/h on %(old_offer)s "
                   "(round total lower)", job=u.id, price=format_cny(p_entry[4]), offer=_named(st, p_entry[1]),
                   old_price=format_cny(p_old.hourly_price_fen), old_offer=_named(st, p_old.offer_id))
    return (placement_for(u, st, u_entry, None, reason=(u_reason,)),
            placement_for(p, st, p_entry, None, reason=(p_reason,)))
