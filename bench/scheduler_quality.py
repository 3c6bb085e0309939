"""Scheduler quality: total hourly cost of our greedy round against the exact optimum (HiGHS MILP).

What it measures
    Random instances with 20-200 on-demand jobs (objective ``cost``) over 15-60 offers of five chips
    in five provinces; a job asks for 1-16 accelerators, 40 % name a chip, 25 % restrict provinces,
    20 % cap the hourly price. Offers sell 1, 2, 4 or 8 accelerators per unit, so a job's price is its
    whole units x the unit price. Demand is about ``--load`` (default 70 %) of the free accelerators.

    Each instance is solved four ways, all placing a job on whole units of one offer:
      * ``suanli``          ``schedule_round`` as shipped (priority/submit order, cheapest feasible
                            whole-job price, EASY reservation for the first job that does not fit, then
                            the whole-round assignment search: Lagrangian prices, regret construction,
                            ejection-chain local search; no exact solver);
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
    .venv/bin/python bench/scheduler_quality.py [--sizes 20,50,100,200] [--instances 5] [--first-seed 1]
                                                [--load 0.7] [--per-instance] [--plot [PNG]]
    ``--plot`` writes the cost gap per instance and policy to docs/img/scheduler_quality.png (matplotlib).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_speed import machine  # noqa: E402

from suanli.scheduling.model import JobRequest, Offer  # noqa: E402
from suanli.scheduling.policy import schedule_round, units_needed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLOT = ROOT / "docs" / "img" / "scheduler_quality.png"

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


def plot(rows: list[dict], out: Path) -> None:
    """Cost gap to the optimum per instance and policy (equal work), and instances placing fewer jobs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows[0]["policies"])
    clip = 15.0  # % (bars above are clipped and labelled)
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    xs = range(len(rows))
    width = 0.8 / len(names)
    colors = {"suanli": "tab:blue", "first-fit": "tab:orange", "cheapest-first": "tab:green"}
    for k, name in enumerate(names):
        offs = [x - 0.4 + width * (k + 0.5) for x in xs]
        gaps = [r["policies"][name]["gap"] for r in rows]
        shown = [(o, g * 100) for o, g in zip(offs, gaps, strict=True) if g is not None]
        ax.bar([o for o, _ in shown], [min(g, clip) for _, g in shown], width, label=name, color=colors.get(name))
        for o, g in shown:
            if g > clip:  # clipped: write the value
                ax.text(o, clip * 0.97, f"{g:.0f} %", rotation=90, ha="center", va="top", fontsize=7)
        ax.scatter([o for o, g in zip(offs, gaps, strict=True) if g is None], [0.5] * sum(g is None for g in gaps),
                   marker="x", color=colors.get(name), s=18)
        bx.bar(offs, [r["optimum_placed"] - r["policies"][name]["placed"] for r in rows], width,
               color=colors.get(name))
    ax.set_ylim(0, clip)
    ax.axhline(3, color="grey", linestyle="--", linewidth=1)
    ax.text(len(rows) - 0.5, 3.3, "target 3 %", ha="right", fontsize=8, color="grey")
    ax.set_ylabel("cost above optimum, % (equal work)")
    ax.set_title("Cost gap to the HiGHS optimum per instance (x: placed fewer jobs, no equal-work gap)")
    ax.legend(fontsize=8)
    bx.set_ylabel("jobs fewer\nthan optimum")
    bx.set_xticks(list(xs), [f"{r['jobs']}/{r['seed']}" for r in rows], rotation=90, fontsize=7)
    bx.set_xlabel("instance (jobs / seed)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"\nplot written to {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20,50,100,200")
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--load", type=float, default=0.7)
    ap.add_argument("--per-instance", action="store_true", help="also print one row per instance")
    ap.add_argument("--plot", type=Path, nargs="?", const=DEFAULT_PLOT, default=None,
                    help=f"write the per-instance gap plot (PNG; default {DEFAULT_PLOT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    policies = {"suanli": ours, "first-fit": first_fit, "cheapest-first": cheapest_first}
    print("\n| jobs | offers | optimum placed | policy | placed | cost gap vs optimum (equal work) | "
          "max gap | instances placing fewer | policy ms | MILP s |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    overall: dict[str, list[float]] = {name: [] for name in policies}
    fewer_total: dict[str, int] = dict.fromkeys(policies, 0)
    seconds_total: dict[str, float] = dict.fromkeys(policies, 0.0)
    rows: list[dict] = []
    for n in (int(s) for s in args.sizes.split(",")):
        results = {name: [] for name in policies}
        opt_placed = []
        milp_s = []
        n_offers = 0
        for seed in range(args.first_seed, args.first_seed + args.instances):
            offers, jobs = make_instance(n, seed, args.load)
            n_offers = len(offers)
            best_placed, best_cost, secs = optimum(offers, jobs)
            opt_placed.append(best_placed)
            milp_s.append(secs)
            row = {"jobs": n, "seed": seed, "optimum_placed": best_placed, "optimum_cost": best_cost, "policies": {}}
            for name, fn in policies.items():
                t0 = time.perf_counter()
                placed, cost = fn(offers, jobs)
                elapsed = time.perf_counter() - t0
                seconds_total[name] += elapsed
                gap = (cost - best_cost) / best_cost if placed == best_placed and best_cost else None
                results[name].append((placed, gap, placed < best_placed, elapsed))
                row["policies"][name] = {"placed": placed, "cost": cost, "gap": gap}
                fewer_total[name] += placed < best_placed
                if gap is not None:
                    overall[name].append(gap)
            rows.append(row)
        for name in policies:
            res = results[name]
            gaps = [g for _p, g, _f, _s in res if g is not None]
            mean_gap = f"{statistics.mean(gaps) * 100:+.2f} %" if gaps else "—"
            max_gap = f"{max(gaps) * 100:+.2f} %" if gaps else "—"
            print(f"| {n} | {n_offers} | {statistics.mean(opt_placed):.1f} | {name} | "
                  f"{statistics.mean(p for p, _g, _f, _s in res):.1f} | {mean_gap} | {max_gap} | "
                  f"{sum(f for _p, _g, f, _s in res)}/{len(res)} | "
                  f"{statistics.mean(s for *_, s in res) * 1000:.1f} | {statistics.mean(milp_s):.2f} |")
    if args.per_instance:
        print("\n| jobs | seed | optimum cost | " + " | ".join(f"{name} placed | {name} gap" for name in policies)
              + " |")
        print("|---:|---:|---:|" + "---:|---:|" * len(policies))
        for r in rows:
            cells = []
            for name in policies:
                p = r["policies"][name]
                cells += [f"{p['placed']}/{r['optimum_placed']}",
                          f"{p['gap'] * 100:+.2f} %" if p["gap"] is not None else "fewer"]
            print(f"| {r['jobs']} | {r['seed']} | {r['optimum_cost']:,} | " + " | ".join(cells) + " |")
    print()
    for name, gaps in overall.items():
        if gaps:
            print(f"{name}: mean cost gap {statistics.mean(gaps) * 100:+.2f} %, worst {max(gaps) * 100:+.2f} % over "
                  f"{len(gaps)} equal-work instances; {fewer_total[name]} of {len(rows)} instances placed fewer "
                  f"jobs than the optimum; {seconds_total[name]:.2f} s in all")
        else:
            print(f"{name}: placed fewer jobs than the optimum on every instance ({fewer_total[name]})")
    base = seconds_total["first-fit"]
    print(f"time ratio suanli / first-fit (in-process baseline): {seconds_total['suanli'] / base:.1f}")
    print("load average (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.plot is not None:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
