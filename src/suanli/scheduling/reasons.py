"""Why a round placed a job where it did: the one-sentence reasons of :class:`~suanli.scheduling.model.Placement`.

An *entry* is the policy's ``(score, product id, offer index, units, price, class)`` tuple.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from suanli.core.money import format_cny
from suanli.scheduling.model import JobRequest, Mode, Objective, Placement, RunningSpot

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.policy import _Round

__all__ = ["moved_reason", "placement_for", "reason_for", "searched_placement"]


def reason_for(job: JobRequest, st: _Round, best: tuple, runner_up: tuple | None,
                victims: Sequence[RunningSpot] = (), backfilled: bool = False) -> str:
    _score, _pid, i, units, price, cls = best
    offer = st.offers[i]
    what = (f"{units * cls.apu}×{cls.chip}" if job.accelerators else
            f"{units} unit{'s' if units != 1 else ''} of {cls.chip or 'cpu'}")
    where = f"in {offer.province} ({offer.datacenter_id})"
    spot = " spot" if job.mode is Mode.SPOT else ""
    if job.objective is Objective.COST:
        text = f"cheapest feasible{spot}: {format_cny(price)}/h for {what} {where}"
    else:
        tflops = cls.fp16 * job.accelerators
        text = f"fastest feasible{spot}: {what} ({tflops:,.0f} FP16 TFLOPS) at {format_cny(price)}/h {where}"
    if runner_up is None:
        text += "; the only feasible offer"
    else:
        alt_i, alt_price, alt_cls = runner_up[2], runner_up[4], runner_up[5]
        text += f"; next best {format_cny(alt_price)}/h ({alt_cls.chip} in {st.offers[alt_i].province})"
    if victims:
        text += f"; preempted spot job{'s' if len(victims) > 1 else ''} {', '.join(v.job_id for v in victims)}"
    if backfilled and st.reservation is not None:
        res = st.reservation
        text += f"; backfilled around job {res.job_id}'s reservation"
    return text


def placement_for(job: JobRequest, st: _Round, best: tuple, runner_up: tuple | None,
                  victims: Sequence[RunningSpot] = ()) -> Placement:
    _score, _pid, i, units, price, cls = best
    backfilled = st.reservation is not None and st.reservation.job_id != job.id
    return Placement(
        job_id=job.id, offer_id=st.pid[i], datacenter_id=st.dc[i], cluster_id=st.cluster[i], units=units,
        accelerators=units * cls.apu, hourly_price_fen=price, mode=job.mode,
        reason=reason_for(job, st, best, runner_up, victims, backfilled),
        preempted=tuple(v.job_id for v in victims), backfilled=backfilled,
    )


def searched_placement(job: JobRequest, st: _Round, entry: tuple, old: Placement | None) -> Placement:
    """The placement of a job the whole-round assignment search moved (``old``) or placed (``old`` None)."""
    where = reason_for(job, st, entry, None).split(": ", 1)[1].replace("; the only feasible offer", "")
    if old is None:
        text = (f"whole-round search: {where}; placed by moving other jobs of this round to offers that cost "
                "the round less in total")
    else:
        text = (f"whole-round search: {where} instead of {format_cny(old.hourly_price_fen)}/h on {old.offer_id}, "
                "so that the round's jobs together cost less")
    return dataclasses.replace(placement_for(job, st, entry, None), reason=text)


def moved_reason(job: JobRequest, st: _Round, new: tuple, old: Placement, for_job: str) -> str:
    i, price = new[2], new[4]
    offer = st.offers[i]
    return (f"moved to {format_cny(price)}/h in {offer.province} ({offer.datacenter_id}) from "
            f"{format_cny(old.hourly_price_fen)}/h on {old.offer_id} to make room for job {for_job}; "
            f"before: {old.reason}")
