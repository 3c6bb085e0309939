"""How often a request is run again after a database fault (``db_faults.RetryPolicy``): contention a few times
with growing, jittered waits; a lost connection twice; a COMMIT in doubt never; nothing past the time budget."""

from __future__ import annotations

from suanli.db_faults import Fault, RetryPolicy


def test_contention_is_rerun_a_few_times_with_growing_jittered_waits():
    policy = RetryPolicy()
    waits = [policy.delay(Fault.CONTENTION, n, elapsed=0.0) for n in range(policy.contention_retries + 1)]
    assert all(w is not None for w in waits[:-1]) and waits[-1] is None
    for n, wait in enumerate(waits[:-1]):
        base = min(policy.max_delay, policy.first_delay * 2 ** n)
        assert 0.5 * base <= wait <= 1.5 * base
    assert len({policy.delay(Fault.CONTENTION, 0, 0.0) for _ in range(20)}) > 1  # concurrent losers spread out


def test_a_lost_connection_is_rerun_twice_and_a_commit_in_doubt_never():
    policy = RetryPolicy()
    assert policy.delay(Fault.UNAVAILABLE, 0, 0.0) is not None
    assert policy.delay(Fault.UNAVAILABLE, 1, 0.0) is not None
    assert policy.delay(Fault.UNAVAILABLE, 2, 0.0) is None
    assert policy.delay(Fault.IN_DOUBT, 0, 0.0) is None


def test_no_new_run_once_the_time_budget_is_spent():
    policy = RetryPolicy(budget=10.0)
    assert policy.delay(Fault.CONTENTION, 0, elapsed=9.9) is not None
    assert policy.delay(Fault.CONTENTION, 0, elapsed=10.0) is None
    assert policy.delay(Fault.CONTENTION, 0, elapsed=31.0) is None  # e.g. SQLite busy after its 30 s timeout
