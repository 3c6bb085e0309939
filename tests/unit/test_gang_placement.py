"""Gang placement as the platform runs it (pure): products whose units are servers, gangs kept on one cluster of
one data center, all or nothing; the launch shape (ranks per placement); jobs that can never run."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.jobs.gangs import PLATFORM_RULES, launch_shape, part_list, with_gang_reason
from suanli.scheduling.gang import never_fits
from suanli.scheduling.model import JobRequest, Offer
from suanli.scheduling.policy import schedule_round


def product(pid: str, dc: str = "dc1", cluster: str = "c1", free: int = 2, total: int | None = None,
            price: int = 8000, chip: str = "a800", apu: int = 8) -> Offer:
    """A platform product: ``free`` of ``total`` units of ``apu`` accelerators, each unit a server."""
    return Offer(product_id=pid, datacenter_id=dc, cluster_id=cluster, province="安徽省", chip_key=chip,
                 ecosystem="cuda", accel_memory_gib=80, fp16_tflops=312.0, accelerators_per_unit=apu,
                 vcpus_per_unit=96, memory_gib_per_unit=1024, free_units=free,
                 total_units=free if total is None else total, price_per_unit_hour_fen=price,
                 datacenter_name=f"{dc} name", product_name=pid, unit_is_server=True)


def big(accelerators: int, job_id: str = "big", **fields) -> JobRequest:
    return JobRequest(job_id, accelerators=accelerators, chip="a800", max_runtime_minutes=60, **fields)


def test_a_job_larger_than_every_product_takes_units_of_several_products_of_one_cluster():
    offers = [product("p1", free=2), product("p2", free=1, price=9000), product("p3", cluster="c2", free=3)]
    (p,) = schedule_round([big(24)], offers, rules=PLATFORM_RULES).placements
    # p3 alone holds the job's 3 servers: a job that one product can hold is never split across products
    assert p.parts == () and p.offer_id == "p3" and p.units == 3
    offers = [product("p1", free=2), product("p2", free=1, price=9000), product("p3", cluster="c2", free=2)]
    (p,) = schedule_round([big(24)], offers, rules=PLATFORM_RULES).placements
    assert p.parts == (("p1", 2), ("p2", 1)) and p.cluster_id == "c1" and p.units == 3
    assert p.hourly_price_fen == 2 * 8000 + 9000 and p.accelerators == 24
    assert p.reason.startswith("gang of 3 servers in dc1 name, all or nothing: 24×a800 at ¥250.00/h"), p.reason
    assert part_list(p) == [("p1", 2), ("p2", 1)]


def test_a_gang_never_spans_two_clusters_nor_two_data_centers():
    split = [product("p1", free=2), product("p2", cluster="c2", free=2), product("p3", dc="dc2", cluster="c3",
                                                                                  free=2)]
    r = schedule_round([big(24)], split, rules=PLATFORM_RULES)
    assert not r.placements and r.unplaceable[0].job_id == "big"
    assert never_fits(big(24), split) == (16, "dc1 name")


def test_all_or_nothing_when_the_cluster_is_busy_now():
    busy = [product("p1", free=1, total=2), product("p2", free=1, total=1)]
    r = schedule_round([big(24)], busy, rules=PLATFORM_RULES)
    assert not r.placements  # 2 of 3 servers free: nothing is taken
    assert never_fits(big(24), busy) is None  # ... but it fits once capacity frees: it waits, it is not refused


def test_never_fits_says_the_largest_cluster_and_leaves_what_it_cannot_judge():
    offers = [product("p1", free=2), product("p2", free=1), product("p3", dc="dc2", cluster="c2", free=1)]
    assert never_fits(big(32), offers) == (24, "dc1 name")
    assert never_fits(big(24), offers) is None
    assert never_fits(big(8), offers) is None
    assert never_fits(JobRequest("cpu", vcpus=10_000), offers) is None  # not a gang question
    assert never_fits(JobRequest("x", accelerators=64, chip="ascend-910b"), offers) is None  # nobody lists it
    # a constraint narrows what counts: only dc2
    assert never_fits(big(16, datacenters=frozenset({"dc2"})), offers) == (8, "dc2 name")


def test_the_launch_shape_is_one_rank_per_server_when_the_job_needs_several():
    assert launch_shape(16, 2, 8, gang=False) == (2, 8)
    assert launch_shape(12, 2, 8, gang=False) == (2, 8)  # whole servers
    assert launch_shape(8, 1, 8, gang=False) == (1, 8)
    assert launch_shape(2, 2, 1, gang=False) == (2, 1)  # units of one accelerator: one rank each
    assert launch_shape(0, 3, 8, gang=False) == (1, 0)  # CPU work on several units: one run, as before
    assert launch_shape(1, 1, 8, gang=True) == (1, 8)


def test_one_product_several_servers_says_gang_in_its_reason():
    offers = [product("p1", free=4)]
    (p,) = schedule_round([big(16)], offers, rules=PLATFORM_RULES).placements
    assert p.parts == () and p.units == 2 and not p.reason.startswith("gang")
    named = with_gang_reason(p, {o.product_id: o for o in offers}, 16)
    assert named.reason.startswith("gang of 2 servers in dc1 name, all or nothing: 16×a800 at ¥160.00/h")
    assert named.reason.endswith(p.reason)
    (small,) = schedule_round([big(8, "small")], offers, rules=PLATFORM_RULES).placements
    assert with_gang_reason(small, {o.product_id: o for o in offers}, 8) == small


@settings(max_examples=150, deadline=None)
@given(frees=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=6),
       sizes=st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_a_round_never_takes_more_than_is_free_and_every_gang_is_whole(frees, sizes):
    """Any products (free units, cluster, data center) and any queue of jobs of 1-6 servers: no product gives more
    units than it has free, a placed job gets exactly the servers it asked for, all on one cluster."""
    offers = [product(f"p{k}", dc=f"dc{d}", cluster=f"c{d}{c}", free=free, total=4)
              for k, (free, c, d) in enumerate(frees)]
    jobs = [big(8 * n, f"j{k}") for k, n in enumerate(sizes)]
    result = schedule_round(jobs, offers, rules=PLATFORM_RULES)
    taken: dict[str, int] = {}
    by_id = {o.product_id: o for o in offers}
    for p in result.placements:
        parts = part_list(p)
        want = next(j for j in jobs if j.id == p.job_id).accelerators // 8
        assert sum(u for _pid, u in parts) == p.units == want
        assert len({(by_id[pid].datacenter_id, by_id[pid].cluster_id) for pid, _u in parts}) == 1
        for pid, units in parts:
            taken[pid] = taken.get(pid, 0) + units
    for pid, units in taken.items():
        assert units <= by_id[pid].free_units
    placed = {p.job_id for p in result.placements}
    assert placed | {u.job_id for u in result.unplaceable} == {j.id for j in jobs}


def test_the_cli_shows_a_gangs_servers_by_product_in_a_table(monkeypatch):
    from typer.testing import CliRunner

    import suanli.cli.jobs as cli_jobs
    from suanli.cli.main import app

    job = {"id": "j1", "name": "big", "state": "running", "state_detail": "running", "constraints": {},
           "placement": {"datacenter_name": "芜湖", "product_name": "A800 ×8", "backend": "local", "units": 3,
                         "hourly_price_fen": 24000, "reason": "gang of 3 servers in 芜湖, all or nothing",
                         "parts": [{"product_id": "p-one", "units": 2, "order_id": "o-one"},
                                   {"product_id": "p-two", "units": 1, "order_id": "o-two"}]},
           "unplaceable": None, "attempts": [], "exit_code": None, "order_id": "o-one"}
    monkeypatch.setattr(cli_jobs, "api", lambda *_a, **_k: job)
    out = CliRunner().invoke(app, ["jobs", "show", "j1"], env={"COLUMNS": "200"}).output
    assert "servers by product" in out
    rows = [line.split() for line in out.splitlines() if "p-one" in line or "p-two" in line]
    assert [[c for c in row if c not in "│┃"] for row in rows] == [["p-one", "2", "o-one"], ["p-two", "1", "o-two"]]
