"""What a scheduling round remembers about jobs that found no room, so that jobs with the same needs skip the
search (capacity only shrinks during a round until units are freed, when the caller forgets it all).

A job's *signature* is everything but its id, place in the queue and runtime that decides whether it fits; the
runtime matters only on the offer reserved for the head job (EASY backfill), hence the two keys below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suanli.scheduling.model import JobRequest

if TYPE_CHECKING:  # pragma: no cover
    from suanli.scheduling.policy import _Round

__all__ = ["known_full", "remember_full", "signature"]


def signature(st: _Round, job: JobRequest) -> tuple:
    """Everything but the runtime that decides whether a job fits (not its id or its place in the queue): its
    candidate classes with the units it needs on each (one cached list per distinct need), its places, price
    limit and blocklists. The runtime matters only on the reserved offer: see :func:`_fit_key`."""
    mine = job.__dict__.get("_signature")  # (market, signature), cached like the candidates
    if mine is not None and mine[0] is st.market:
        return mine[1]
    sig = (id(st.candidates(job)), job.provinces, job.datacenters, job.products, job.price_limit_fen,
           job.blocked_offers, job.blocked_clusters)
    job.__dict__["_signature"] = (st.market, sig)
    return sig


_ELSEWHERE = "elsewhere"


def remember_full(st: _Round, full: set[tuple], sig: tuple, job: JobRequest) -> None:
    """Remember that a job of signature ``sig`` found no room. Without a reservation, jobs of one signature fit
    the same offers whatever their runtime, so the signature is enough; with one, a job known to end before the
    head starts may still use the reserved offer: the failure is remembered for this runtime, and as "no room
    anywhere but the reserved offer" for the signature. A failure remembered before the reservation stays valid
    after it: the reservation only takes room away."""
    if not st.holds:
        full.add(sig)
    else:
        full.add((sig, job.max_runtime_minutes))
        full.add((sig, _ELSEWHERE))


def known_full(st: _Round, full: set[tuple], sig: tuple, job: JobRequest) -> bool:
    """A job with the same needs found no room since the last units were freed (see :func:`remember_full`)."""
    if sig in full:
        return True
    if not st.holds:
        return False
    return (sig, job.max_runtime_minutes) in full or ((sig, _ELSEWHERE) in full and not st.may_use_reserved(job))
