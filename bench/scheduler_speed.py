"""Scheduler speed: wall time of one ``schedule_round`` over a synthetic national market.

What it measures
    A market of D data centers (default 300) in 31 provinces, each with 1-3 clusters selling 1-4
    products built from the packaged chip table (8, 4, 2 or 1 accelerators per unit), about A
    accelerators in total (default 50,000), some partly busy, some unhealthy, most with a spot floor.
    A queue of N jobs (default 10,000): 1-64 accelerators (mostly 1-8) or CPU-only; a third ask for a
    chip model, a fifth for an ecosystem, a fifth for "any chip with >= X GiB and >= Y TFLOPS"; a
    quarter restrict provinces, some data centers, a third cap the price; 20 % spot with a bid, 30 %
    objective ``time``; 5 % high priority; runtimes 10 min - 3 days; some running spot jobs to preempt.
    Demand is about the market's size, so the round both places thousands of jobs and explains
    thousands of failures (``Unplaceable`` with counts per constraint), which is the expensive part.

    The round is timed end to end (building the offer index included) with ``time.perf_counter``,
    best of R repetitions (default 3), after one warm-up. ``--sweep`` times 1k, 2k, 5k, 10k, 20k jobs
    on the same market and writes ``docs/img/scheduler_speed.png`` when matplotlib can be imported.

Usage
    .venv/bin/python bench/scheduler_speed.py [--jobs 10000] [--datacenters 300] [--accelerators 50000]
                                              [--repeat 3] [--sweep] [--gangs] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

from suanli.core.chips import load_chip_table
from suanli.scheduling.model import JobRequest, Offer, RunningSpot
from suanli.scheduling.policy import schedule_round
from suanli.scheduling.rules import PRODUCTION, Rules

PROVINCES = ("北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
             "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州",
             "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆")

# Rough on-demand CNY per accelerator-hour by chip, for a believable price spread.
_BASE_CNY = {"h200": 28.0, "h100": 22.0, "h800": 20.0, "h20": 9.0, "a100": 11.0, "a800": 9.5, "l40": 6.0,
             "l20": 4.5, "v100": 3.0, "t4": 1.2, "p100": 0.9, "rtx4090": 2.2, "rtx3090": 1.4, "rtx2080ti": 0.8,
             "ascend-910b": 7.5, "hygon-dcu-z100": 2.5, "mlu370-x8": 3.0, "kunlunxin-r200": 1.8}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} "
            f"{platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs")


def make_market(datacenters: int = 300, accelerators: int = 50_000, seed: int = 1) -> list[Offer]:
    """Synthetic offers: about ``accelerators`` accelerators over ``datacenters`` data centers."""
    rng = random.Random(seed)
    chips = [c for c in load_chip_table().values() if c.key in _BASE_CNY]
    weights = [8 if c.key in ("a800", "ascend-910b", "h800", "rtx4090", "h20") else 3 for c in chips]
    per_dc = accelerators / datacenters
    offers: list[Offer] = []
    n = 0
    for d in range(datacenters):
        province = PROVINCES[d % len(PROVINCES)] if d < len(PROVINCES) else rng.choice(PROVINCES)
        dc = f"dc-{d:03d}"
        budget = max(8, int(rng.uniform(0.4, 1.6) * per_dc))
        clusters = rng.randint(1, 3)
        products = rng.randint(1, 4)
        share = budget // products
        dc_factor = rng.uniform(0.8, 1.25)  # cheap power in the west, dear in the east
        for p in range(products):
            chip = rng.choices(chips, weights)[0]
            apu = rng.choices((8, 4, 2, 1), (6, 2, 1, 1))[0]
            total = max(1, share // apu)
            busy = rng.randint(0, total // 2) if rng.random() < 0.5 else 0
            price_cny = _BASE_CNY[chip.key] * dc_factor * rng.uniform(0.9, 1.1)
            unit_fen = int(round(price_cny * 100 * apu))
            offers.append(Offer(
                product_id=f"prod-{n:05d}", datacenter_id=dc, cluster_id=f"{dc}-c{p % clusters}", province=province,
                chip_key=chip.key, ecosystem=chip.ecosystem, accel_memory_gib=chip.memory_gib,
                fp16_tflops=chip.fp16_tflops, accelerators_per_unit=apu, vcpus_per_unit=apu * 12,
                memory_gib_per_unit=apu * 96, free_units=total - busy, total_units=total,
                price_per_unit_hour_fen=unit_fen,
                spot_floor_fen=int(unit_fen * rng.uniform(0.3, 0.6)) if rng.random() < 0.7 else None,
                healthy=rng.random() > 0.02,
                releases=tuple((rng.randint(10, 2000), 1) for _ in range(min(busy, 3))),
            ))
            n += 1
    return offers


def make_jobs(n: int, offers: list[Offer], seed: int = 2) -> list[JobRequest]:
    """``n`` synthetic jobs whose constraints refer to what the market sells."""
    rng = random.Random(seed)
    chips = sorted({o.chip_key for o in offers})
    ecos = sorted({o.ecosystem for o in offers})
    dcs = sorted({o.datacenter_id for o in offers})
    jobs = []
    for k in range(n):
        acc = rng.choices((0, 1, 2, 4, 8, 16, 32, 64), (5, 30, 15, 15, 20, 8, 5, 2))[0]
        kw: dict = {}
        r = rng.random()
        if acc and r < 0.33:
            kw["chip"] = rng.choice(chips)
        elif acc and r < 0.53:
            kw["ecosystems"] = frozenset(rng.sample(ecos, rng.randint(1, 2)))
        elif acc and r < 0.73:
            kw["min_accel_memory_gib"] = rng.choice((16, 24, 32, 48, 64, 80))
            kw["min_fp16_tflops"] = rng.choice((0, 50, 100, 150, 300))
        if rng.random() < 0.25:
            kw["provinces"] = frozenset(rng.sample(PROVINCES, rng.randint(1, 4)))
        elif rng.random() < 0.04:
            kw["datacenters"] = frozenset(rng.sample(dcs, rng.randint(1, 3)))
        per_acc = rng.uniform(3, 30) * 100
        if rng.random() < 0.33:
            kw["max_hourly_price_fen"] = int(max(acc, 1) * per_acc)
        spot = rng.random() < 0.2
        jobs.append(JobRequest(
            id=f"job-{k:05d}", accelerators=acc, vcpus=max(2, acc * rng.choice((4, 8, 12))),
            memory_gib=max(8, acc * rng.choice((32, 64, 96))),
            objective="time" if rng.random() < 0.3 else "cost", mode="spot" if spot else "on_demand",
            bid_hourly_fen=int(max(acc, 1) * per_acc * 0.5) if spot else None,
            max_runtime_minutes=rng.choice((10, 30, 60, 240, 720, 1440, 4320)),
            priority=1 if rng.random() < 0.05 else 0, submit_seq=k, **kw,
        ))
    return jobs


def make_running_spot(offers: list[Offer], seed: int = 3) -> list[RunningSpot]:
    rng = random.Random(seed)
    out = []
    for o in offers:
        busy = o.total_units - o.free_units
        if busy and o.spot_floor_fen is not None and rng.random() < 0.5:
            out.append(RunningSpot(f"spot-{o.product_id}", o.product_id, rng.randint(1, busy),
                                   o.spot_floor_fen * rng.randint(1, 2)))
    return out


def time_round(jobs, offers, running, repeat: int, rules: Rules = PRODUCTION) -> tuple[float, object]:
    schedule_round(jobs[: min(len(jobs), 500)], offers, running, rules=rules)  # warm-up
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = schedule_round(jobs, offers, running, rules=rules)
        best = min(best, time.perf_counter() - t0)
    return best, result


def gang_cost(jobs, offers, running, repeat: int) -> tuple[float, float]:
    """CPU seconds of one round without and with gangs (the platform's rules), best of ``repeat`` each, the two
    alternating (gang, plain, plain, gang, ...) so neither pays for the other's garbage or a warmer cache."""
    import gc
    from dataclasses import replace

    best = {False: float("inf"), True: float("inf")}
    order = [True, False, False, True] * ((repeat + 1) // 2)
    for gang in order[: 2 * repeat]:
        gc.collect()
        t0 = time.process_time()
        schedule_round(jobs, offers, running, rules=replace(PRODUCTION, gang=gang))
        best[gang] = min(best[gang], time.process_time() - t0)
    return best[False], best[True]


def naive_round(jobs: list[JobRequest], offers: list[Offer]) -> tuple[float, int]:
    """The in-process baseline: the textbook loop, every job scans every offer for the cheapest feasible one
    (no index, no repair, no explanations). Returns (seconds, jobs placed)."""
    from suanli.scheduling.policy import queue_order, units_needed

    t0 = time.perf_counter()
    free = [o.free_units for o in offers]
    placed = 0
    for job in queue_order(jobs):
        spot = job.mode.value == "spot"
        limit = job.price_limit_fen
        best = None
        for i, o in enumerate(offers):
            if not o.healthy or (job.accelerators and (o.accelerators_per_unit == 0 or
                                                       (job.chip and o.chip_key != job.chip))):
                continue
            if (job.ecosystems and o.ecosystem not in job.ecosystems) or o.accel_memory_gib < job.min_accel_memory_gib \
                    or o.fp16_tflops < job.min_fp16_tflops:
                continue
            if (job.provinces and o.province not in job.provinces) or (job.datacenters and
                                                                       o.datacenter_id not in job.datacenters):
                continue
            per_unit = o.spot_floor_fen if spot else o.price_per_unit_hour_fen
            units = units_needed(job, o.accelerators_per_unit, o.vcpus_per_unit, o.memory_gib_per_unit)
            if per_unit is None or units is None or free[i] < units:
                continue
            price = per_unit * units
            if (limit is None or price <= limit) and (best is None or price < best[0]):
                best = (price, i, units)
        if best is not None:
            free[best[1]] -= best[2]
            placed += 1
    return time.perf_counter() - t0, placed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--datacenters", type=int, default=300)
    ap.add_argument("--accelerators", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sweep", action="store_true", help="also time 1k..20k jobs and plot")
    ap.add_argument("--gangs", action="store_true", help="also compare the CPU time of a round with gangs on (the "
                                                         "platform's rules) and off")
    args = ap.parse_args(argv)

    print(f"machine: {machine()}")
    offers = make_market(args.datacenters, args.accelerators, args.seed)
    running = make_running_spot(offers, args.seed + 2)
    n_acc = sum(o.total_units * o.accelerators_per_unit for o in offers)
    print(f"market: {args.datacenters} data centers, {len(offers)} offers, {n_acc:,} accelerators "
          f"({sum(o.free_units * o.accelerators_per_unit for o in offers):,} free), "
          f"{len(running)} running spot jobs")
    jobs = make_jobs(args.jobs, offers, args.seed + 1)
    seconds, result = time_round(jobs, offers, running, args.repeat)
    print(f"{len(jobs):,} jobs: {seconds * 1000:.0f} ms per round (best of {args.repeat}); "
          f"{len(result.placements):,} placed, {len(result.unplaceable):,} unplaceable, "
          f"{len(result.preemptions)} preemptions, reservation: {result.reservation}")
    naive_s, naive_placed = naive_round(jobs, offers)
    print(f"in-process baseline (every job scans every offer, no repair or explanations): {naive_s * 1000:.0f} ms, "
          f"{naive_placed:,} placed; schedule_round / baseline = {seconds / naive_s:.2f}")
    if args.gangs:
        plain, gang = gang_cost(jobs, offers, running, args.repeat)
        print(f"gangs on (the platform's rules) vs off, CPU per round: {gang * 1000:.0f} ms vs {plain * 1000:.0f} ms "
              f"= {gang / plain:.3f}x")
    print("load average (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.sweep:
        sizes = (1_000, 2_000, 5_000, 10_000, 20_000)
        rows = []
        print("\n| jobs | ms per round | placed | unplaceable | µs per job |\n|---:|---:|---:|---:|---:|")
        for n in sizes:
            js = make_jobs(n, offers, args.seed + 1)
            s, r = time_round(js, offers, running, args.repeat)
            rows.append((n, s))
            print(f"| {n:,} | {s * 1000:.0f} | {len(r.placements):,} | {len(r.unplaceable):,} | "
                  f"{s / n * 1e6:.0f} |")
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("\nmatplotlib is not installed: no plot written (the table above has the figures)")
        else:
            out = Path(__file__).resolve().parent.parent / "docs" / "img" / "scheduler_speed.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot([n for n, _ in rows], [s * 1000 for _, s in rows], marker="o")
            ax.axhline(1000, color="grey", linestyle="--", linewidth=1)
            ax.set_xlabel("queued jobs per round")
            ax.set_ylabel("ms per round")
            ax.set_title(f"schedule_round over {len(offers)} offers / {n_acc:,} accelerators")
            fig.tight_layout()
            fig.savefig(out, dpi=120)
            print(f"\nplot written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
