"""The whole-round assignment search on its own: feasible, never worse than its start, close to exhaustive."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.scheduling.assignment import search_assignment


@st.composite
def instances(draw):
    n_offers = draw(st.integers(1, 4))
    capacity = [draw(st.integers(0, 4)) for _ in range(n_offers)]
    options = []
    for _job in range(draw(st.integers(1, 6))):
        mine = []
        for offer in range(n_offers):
            if draw(st.booleans()):
                units = draw(st.integers(1, 3))
                mine.append((units * draw(st.integers(1, 20)), offer, units))
        options.append(sorted(mine, key=lambda o: (o[0], o[1])))
    return options, capacity


def quality(assignment):
    placed = [o for o in assignment if o is not None]
    return -len(placed), sum(o[0] for o in placed)


def exhaustive(options, capacity):
    best = None
    for combo in itertools.product(*[[None, *mine] for mine in options]):
        used = [0] * len(capacity)
        for o in combo:
            if o is not None:
                used[o[1]] += o[2]
        if all(u <= c for u, c in zip(used, capacity, strict=True)):
            q = quality(combo)
            best = q if best is None or q < best else best
    return best


def greedy(options, capacity):
    free, out = list(capacity), []
    for mine in options:
        pick = next((o for o in mine if free[o[1]] >= o[2]), None)
        if pick is not None:
            free[pick[1]] -= pick[2]
        out.append(pick)
    return out


@settings(max_examples=300, deadline=None)
@given(instances())
def test_result_fits_keeps_every_job_of_the_start_and_is_never_worse(instance):
    options, capacity = instance
    start = greedy(options, capacity)
    result = search_assignment(options, capacity, start)
    used = [0] * len(capacity)
    for job, option in enumerate(result):
        if option is not None:
            assert option in options[job]
            used[option[1]] += option[2]
    assert all(u <= c for u, c in zip(used, capacity, strict=True))
    assert all(result[j] is not None for j, o in enumerate(start) if o is not None)
    assert quality(result) <= quality(start)


@settings(max_examples=300, deadline=None)
@given(instances())
def test_places_every_job_when_every_job_fits_and_stays_close_to_the_optimum(instance):
    options, capacity = instance
    best = exhaustive(options, capacity)
    if -best[0] < len(options):
        return  # the benchmark's regime: the market can take every job
    result = search_assignment(options, capacity, [None] * len(options))
    assert quality(result)[0] == best[0]
    assert quality(result)[1] <= best[1] * 1.10


def test_a_start_that_does_not_fit_is_refused():
    import pytest

    with pytest.raises(ValueError, match="does not fit"):
        search_assignment([[(10, 0, 2)], [(10, 0, 2)]], [3], [(10, 0, 2), (10, 0, 2)])
