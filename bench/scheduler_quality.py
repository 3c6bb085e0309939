"""Scheduler quality: total hourly cost of our greedy round against the exact optimum (HiGHS MILP).

What it measures
    Random instances with 20-200 on-demand jobs (objective ``cost``) over 15-60 offers of five chips
    in five provinces; a job asks for 1-16 accelerators, 40 % name a chip, 25 % restrict provinces,
    20 % cap the hourly price. Offers sell 1, 2, 4 or 8 accelerators per unit, so a job's price is its
    whole units x the unit price. Demand is about ``--load`` (default 70 %) of the free accelerators.

    Each instance is solved four ways, all placing a job on whole units of one offer:
      * ``suanli``          ``schedule_round`` as shipped (priority/submit order, cheapest feasible
                            whole-job price, EASY reservation for the first job that does not fit);
      * ``first-fit``       the first feasible offer in catalog order;
      * ``cheapest-first``  the feasible offer with the lowest price per accelerator-hour (ignoring that
                            whole units may cost more);
      * ``optimum``         the MILP: binary x[j,o] for every statically feasible pair,
                            sum_o x[j,o] <= 1, sum_j units[j,o] x[j,o] <= free[o]; lexicographic
                            objective "place as many jobs as possible, then minimise the total hourly
                            price" (weight M > any total price on the count), solved to optimality by
                            HiGHS.
    Reported per size: mean jobs placed and the mean cost gap to the optimum over the instances where
    the policy placed as many jobs as the optimum (cost of equal work); and how often it placed fewer.

Usage
    .venv/bin/python bench/scheduler_quality.py [--sizes 20,50,100,200] [--instances 5] [--load 0.7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_speed import machine  # noqa: E402

from suanli.scheduling.policy import JobRequest, Offer, schedule_round, units_needed  # noqa: E402

CHIPS = (("h100", "cuda", 80, 989.4, 2200), ("a800", "cuda", 80, 312.0, 950), ("ascend-910b", "cann", 64, 376.0, 750),
         ("rtx4090", "cuda", 24, 165.2, 220), ("l20", "cuda", 48, 119.5, 450))
PROVINCES = ("北京", "安徽", "贵州", "内蒙古", "广东")


def make_instance(n_jobs: int, seed: int, load: float) -> tuple[list[Offer], list[JobRequest]]:
    rng = random.Random(seed)
    n_offers = max(15, min(60, n_jobs // 3))
    offers = []
    for k in range(n_offers):
        chip, eco, mem, tflops, base = rng.choice(CHIPS)
        apu = rng.choice((1, 2, 4, 8, 8))
        free = rng.randint(1, 6)
        offers.append(Offer(
            product_id=f"o{k:03d}", datacenter_id=f"dc{k % 12}", cluster_id=f"c{k}", province=rng.choice(PROVINCES),
            chip_key=chip, ecosystem=eco, accel_memory_gib=mem, fp16_tflops=tflops, accelerators_per_unit=apu,
            vcpus_per_unit=apu * 16, memory_gib_per_unit=apu * 128, free_units=free,
            price_per_unit_hour_fen=int(base * apu * rng.uniform(0.75, 1.3)),
        ))
    capacity = sum(o.free_units * o.accelerators_per_unit for o in offers)
    jobs: list[JobRequest] = []
    demand = 0
    k = 0
    while len(jobs) < n_jobs:
        acc = rng.choice((1, 1, 2, 2, 4, 4, 8, 8, 16))
        kw: dict = {}
        if rng.random() < 0.4:
            kw["chip"] = rng.choice(CHIPS)[0]
        if rng.random() < 0.25:
            kw["provinces"] = frozenset(rng.sample(PROVINCES, 2))
        if rng.random() < 0.2:
            kw["max_hourly_price_fen"] = int(acc * rng.uniform(300, 2500))
        job = JobRequest(f"j{k:03d}", accelerators=acc, vcpus=acc * 8, memory_gib=acc * 64, submit_seq=k, **kw)
        k += 1
        if any(statically_feasible(job, o) is not None for o in offers):  # only jobs the market can take
            jobs.append(job)
            demand += acc
    # Scale the market so that demand is about `load` of its capacity, then grow it until the
    # optimum places every job ("all jobs must be placed when feasible").
    scale = demand / (load * capacity)
    while True:
        scaled = [Offer(**{**o.__dict__, "free_units": max(1, round(o.free_units * scale)),
                           "total_units": max(1, round(o.free_units * scale))}) for o in offers]
        if optimum(scaled, jobs)[0] == len(jobs):
            return scaled, jobs
        scale *= 1.1


def statically_feasible(job: JobRequest, o: Offer) -> int | None:
    """Units of ``o`` the job needs if every constraint but free capacity holds, else None."""
    if job.accelerators and (o.accelerators_per_unit <= 0 or (job.chip and o.chip_key != job.chip)):
        return None
    if job.ecosystems and o.ecosystem not in job.ecosystems:
        return None
    if o.accel_memory_gib < job.min_accel_memory_gib or o.fp16_tflops < job.min_fp16_tflops:
        return None
    if job.provinces and o.province not in job.provinces:
        return None
    units = units_needed(job, o.accelerators_per_unit, o.vcpus_per_unit, o.memory_gib_per_unit)
    if units is None or units > o.total_units:
        return None
    if job.max_hourly_price_fen is not None and units * o.price_per_unit_hour_fen > job.max_hourly_price_fen:
        return None
    return units


def greedy(offers: list[Offer], jobs: list[JobRequest], pick) -> tuple[int, int]:
    free = {o.product_id: o.free_units for o in offers}
    placed = cost = 0
    for job in sorted(jobs, key=lambda j: j.submit_seq):
        options = []
        for pos, o in enumerate(offers):
            units = statically_feasible(job, o)
            if units is not None and free[o.product_id] >= units:
                options.append((pick(pos, o, units), o, units))
        if options:
            _key, o, units = min(options, key=lambda t: t[0])
            free[o.product_id] -= units
            placed += 1
            cost += units * o.price_per_unit_hour_fen
    return placed, cost


def first_fit(offers, jobs):
    return greedy(offers, jobs, lambda pos, o, units: pos)


def cheapest_first(offers, jobs):
    return greedy(offers, jobs, lambda pos, o, units: (o.price_per_unit_hour_fen / o.accelerators_per_unit, pos))


def ours(offers, jobs):
    result = schedule_round(jobs, offers)
    return len(result.placements), sum(p.hourly_price_fen for p in result.placements)


def optimum(offers, jobs) -> tuple[int, int, float]:
    import highspy

    h = highspy.Highs()
    h.silent()
    h.setOptionValue("mip_rel_gap", 0.0)
    pairs = []
    for j in jobs:
        for o in offers:
            units = statically_feasible(j, o)
            if units is not None and units <= o.free_units:
                pairs.append((j.id, o.product_id, units, units * o.price_per_unit_hour_fen))
    big = sum(c for *_, c in pairs) + 1
    x = [h.addBinary(obj=cost - big) for _j, _o, _u, cost in pairs]
    by_job: dict[str, list] = {}
    by_offer: dict[str, list] = {}
    for var, (jid, oid, units, _c) in zip(x, pairs, strict=True):
        by_job.setdefault(jid, []).append(var)
        by_offer.setdefault(oid, []).append((units, var))
    for vars_ in by_job.values():
        h.addConstr(h.qsum(vars_) <= 1)
    free = {o.product_id: o.free_units for o in offers}
    for oid, terms in by_offer.items():
        h.addConstr(h.qsum(u * v for u, v in terms) <= free[oid])
    t0 = time.perf_counter()
    h.minimize()
    seconds = time.perf_counter() - t0
    chosen = [p for var, p in zip(x, pairs, strict=True) if h.val(var) > 0.5]
    return len(chosen), sum(c for *_, c in chosen), seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20,50,100,200")
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--load", type=float, default=0.7)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    policies = {"suanli": ours, "first-fit": first_fit, "cheapest-first": cheapest_first}
    print("\n| jobs | offers | optimum placed | policy | placed | cost gap vs optimum (equal work) | "
          "max gap | instances placing fewer | MILP s |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    overall: dict[str, list[float]] = {name: [] for name in policies}
    for n in (int(s) for s in args.sizes.split(",")):
        results = {name: [] for name in policies}
        opt_placed = []
        milp_s = []
        n_offers = 0
        for seed in range(1, args.instances + 1):
            offers, jobs = make_instance(n, seed, args.load)
            n_offers = len(offers)
            best_placed, best_cost, secs = optimum(offers, jobs)
            opt_placed.append(best_placed)
            milp_s.append(secs)
            for name, fn in policies.items():
                placed, cost = fn(offers, jobs)
                gap = (cost - best_cost) / best_cost if placed == best_placed and best_cost else None
                results[name].append((placed, gap, placed < best_placed))
                if gap is not None:
                    overall[name].append(gap)
        for name in policies:
            rows = results[name]
            gaps = [g for _p, g, _f in rows if g is not None]
            mean_gap = f"{statistics.mean(gaps) * 100:+.2f} %" if gaps else "—"
            max_gap = f"{max(gaps) * 100:+.2f} %" if gaps else "—"
            print(f"| {n} | {n_offers} | {statistics.mean(opt_placed):.1f} | {name} | "
                  f"{statistics.mean(p for p, _g, _f in rows):.1f} | {mean_gap} | {max_gap} | "
                  f"{sum(f for *_, f in rows)}/{len(rows)} | {statistics.mean(milp_s):.2f} |")
    print()
    for name, gaps in overall.items():
        if gaps:
            print(f"{name}: mean cost gap {statistics.mean(gaps) * 100:+.2f} % over {len(gaps)} equal-work instances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
