"""Which running spot jobs an on-demand job evicts on an offer (spot preemption, step 5 of a round)."""

from __future__ import annotations

from suanli.scheduling.model import RunningSpot

__all__ = ["choose_victims"]


def choose_victims(running: list[RunningSpot], deficit: int) -> list[RunningSpot]:
    """The fewest spot jobs whose units cover ``deficit``; among those, a greedy pass for cheaper bids."""
    by_size = sorted(running, key=lambda r: (-r.units, r.bid_hourly_fen, r.job_id))
    chosen: list[RunningSpot] = []
    covered = 0
    for r in by_size:
        if covered >= deficit:
            break
        chosen.append(r)
        covered += r.units
    # Same count, cheaper: swap a chosen victim for a cheaper unchosen one while the units still cover.
    rest = sorted((r for r in running if r not in chosen), key=lambda r: (r.bid_hourly_fen, -r.units, r.job_id))
    for k in sorted(range(len(chosen)), key=lambda k: -chosen[k].bid_hourly_fen):
        for r in rest:
            if r.bid_hourly_fen < chosen[k].bid_hourly_fen and covered - chosen[k].units + r.units >= deficit:
                covered += r.units - chosen[k].units
                rest.remove(r)
                rest.append(chosen[k])
                rest.sort(key=lambda x: (x.bid_hourly_fen, -x.units, x.job_id))
                chosen[k] = r
                break
    return chosen
