"""A failed place blocks a job only for a back-off (``jobs.placing.blocked_places``): 5 minutes after the first
failure there, doubling with each further failure, at most 6 hours; preemptions never block."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from suanli.jobs.placing import FIRST_RETRY_S, LAST_RETRY_S, blocked_places

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


def failed(at_s: float, *, offer: str = "o1", cluster: str = "c1", cluster_failed: bool = False,
           blocks: bool = True) -> dict:
    return {"offer_id": offer, "cluster_id": cluster, "cluster_failed": cluster_failed, "blocks": blocks,
            "at": (T0 + dt.timedelta(seconds=at_s)).isoformat()}


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_one_failure_blocks_its_offer_for_five_minutes():
    attempts = [failed(0)]
    assert blocked_places(attempts, at(0)) == ({"o1"}, set())
    assert blocked_places(attempts, at(299)) == ({"o1"}, set())
    assert blocked_places(attempts, at(300)) == (set(), set())


def test_each_failure_there_doubles_the_wait_from_the_latest():
    attempts = [failed(0), failed(400)]  # second failure after the first back-off: 600 s from 400
    assert blocked_places(attempts, at(999)) == ({"o1"}, set())
    assert blocked_places(attempts, at(1000)) == (set(), set())


def test_a_lost_cluster_blocks_the_cluster_and_other_offers_keep_their_own_clock():
    attempts = [failed(0, offer="o1", cluster="c1", cluster_failed=True), failed(200, offer="o2", cluster="c2")]
    assert blocked_places(attempts, at(250)) == ({"o2"}, {"c1"})
    assert blocked_places(attempts, at(350)) == ({"o2"}, set())
    assert blocked_places(attempts, at(500)) == (set(), set())


def test_preemptions_do_not_block():
    assert blocked_places([failed(0, blocks=False)], at(0)) == (set(), set())


def test_naive_times_as_sqlite_returns_them_are_utc():
    attempts = [{**failed(0), "at": T0.replace(tzinfo=None).isoformat()}]
    assert blocked_places(attempts, at(299)) == ({"o1"}, set())
    assert blocked_places(attempts, at(300)) == (set(), set())


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=10 * LAST_RETRY_S))
def test_the_wait_never_passes_six_hours_and_never_falls_below_five_minutes(failures, after):
    attempts = [failed(i) for i in range(failures)]  # all close together: the latest is at failures - 1
    blocked = bool(blocked_places(attempts, at(failures - 1 + after))[0])
    wait = min(FIRST_RETRY_S * 2 ** (failures - 1), LAST_RETRY_S)
    assert blocked == (after < wait)
    latest = failures - 1  # whatever the count: blocked for at least 5 minutes, free after 6 hours
    assert blocked_places(attempts, at(latest + FIRST_RETRY_S - 1))[0] == {"o1"}
    assert blocked_places(attempts, at(latest + LAST_RETRY_S))[0] == set()
