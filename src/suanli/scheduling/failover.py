"""Failover: when a placement or a whole cluster fails, send the job to the next-best place.

The pattern is SkyPilot's optimizer + blocklist: every failed attempt adds its offer (or, when the
cluster itself failed, its cluster) to the job's blocklist and the unchanged policy runs again. The
caller keeps the list of :class:`~suanli.scheduling.model.Attempt` records (with the time and the
reason of each failure); :func:`failure_reason` (translatable) and :func:`failure_message` (English) turn
them into the final error when nothing is left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from suanli.core.messages import Message, msg
from suanli.scheduling.model import Attempt, JobRequest, Offer, Placement, RunningSpot, Unplaceable
from suanli.scheduling.policy import schedule_round
from suanli.scheduling.rules import PRODUCTION, Rules

__all__ = ["Attempt", "blocked_for", "failure_message", "failure_reason", "next_placement"]


def blocked_for(job: JobRequest, attempts: Iterable[Attempt]) -> JobRequest:
    """``job`` with every attempted offer blocked, and every failed cluster blocked."""
    offers = set(job.blocked_offers)
    clusters = set(job.blocked_clusters)
    for a in attempts:
        if a.cluster_failed:
            clusters.add(a.cluster_id)
        else:
            offers.add(a.offer_id)
    return dataclasses.replace(job, blocked_offers=frozenset(offers), blocked_clusters=frozenset(clusters))


def next_placement(job: JobRequest, offers: Sequence[Offer], attempts: Iterable[Attempt] = (),
                   running_spot: Iterable[RunningSpot] = (), *, rules: Rules = PRODUCTION) -> Placement | Unplaceable:
    """The best place for ``job`` that none of ``attempts`` has failed on (see module docstring).

    Returns a :class:`Placement` (it may preempt spot jobs: see ``Placement.preempted``) or an
    :class:`Unplaceable` whose ``eliminated["blocked"]`` counts the offers excluded by the attempts.
    """
    result = schedule_round([blocked_for(job, attempts)], offers, running_spot, rules=rules)
    return result.placements[0] if result.placements else result.unplaceable[0]


def failure_reason(job_id: str, attempts: Sequence[Attempt], final: Unplaceable | None = None) -> Message:
    """The error for a job that ran out of places, translatable: every attempt with its time and reason, then why
    nothing is left (from the last :class:`Unplaceable`)."""
    if not attempts:
        head = msg("job %(job)s was never placed", job=job_id)
    else:
        lines = []
        for n, a in enumerate(attempts, 1):
            at = a.at.isoformat(timespec="seconds")
            if a.cluster_failed:
                lines.append(msg("%(n)s) %(at)s cluster %(cluster)s failed (cluster %(cluster)s): %(reason)s", n=n,
                                 at=at, cluster=a.cluster_id, reason=a.reason))
            else:
                lines.append(msg("%(n)s) %(at)s offer %(offer)s failed (cluster %(cluster)s): %(reason)s", n=n,
                                 at=at, offer=a.offer_id, cluster=a.cluster_id, reason=a.reason))
        head = (msg("job %(job)s failed after %(n)s attempts: %(attempts)s", job=job_id, n=len(attempts),
                    attempts=tuple(lines)) if len(attempts) != 1 else
                msg("job %(job)s failed after 1 attempt: %(attempts)s", job=job_id, attempts=tuple(lines)))
    if final is not None:
        return msg("%(failure)s. No place left: %(why)s", failure=head, why=final.reason_message)
    return head


def failure_message(job_id: str, attempts: Sequence[Attempt], final: Unplaceable | None = None) -> str:
    """:func:`failure_reason` in English."""
    return str(failure_reason(job_id, attempts, final))
