"""Emergency compute: time to assemble 512 accelerators over the demo network under load (issue 17, point 5).

What it measures
    The demo network (30 Anhui data centers, 1,100 products) in a fresh SQLite database, loaded the way a busy
    market is: every A800 and H800 product (the emergency's chips, about 7,700 accelerators) is nearly sold out —
    on-demand leases on most units, spot leases (random bids) on some, reserved leases held by 12 buyer
    organizations on others — leaving ``--free`` accelerators free and ``--spot`` under spot leases. So the
    512 come from all three stages: free first, then spot (preempted after the 300 s notice), then idle
    reserved units whose holders are asked.

    While the emergency is declared and assembled, ``--load-threads`` threads place and release on-demand
    orders on other products (Ascend 910B) as fast as they can, in their own transactions on the same database.

    Two clocks:
    - wall: what the platform spends — the declaration request (plan + orders + notices + offers), each
      holder's acceptance (ledger transfers), and the meter runs — measured with ``time.perf_counter``;
    - market time (a ManualClock): free capacity at once, spot when the notice has run out and the meter (every
      60 s in ``suanli serve``) starts the emergency's order, reserved when each holder answers. Holders answer
      after a random delay (log-normal, median ``--answer-median`` s, seeded), all accepting.

    Writes ``docs/img/emergency_assembly.png`` (accelerators assembled over market time, per stage) when
    matplotlib can be imported, and prints the machine and its load average (``os.getloadavg``) before and after.

Usage
    PYTHONPATH=src .venv/bin/python bench/emergency_assembly.py [--accelerators 512] [--free 160] [--spot 192]
                                                               [--load-threads 2] [--answer-median 180] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scheduler_speed import machine  # noqa: E402  (the same machine line as the other figures)

CHIPS = ("a800", "h800")
HOLDERS = 12
START = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accelerators", type=int, default=512)
    parser.add_argument("--free", type=int, default=160, help="free A800/H800 accelerators left by the load")
    parser.add_argument("--spot", type=int, default=192, help="A800/H800 accelerators under spot leases")
    parser.add_argument("--load-threads", type=int, default=2)
    parser.add_argument("--answer-median", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--figure", default=str(ROOT / "docs/img/emergency_assembly.png"))
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from suanli.accounts.models import Role
    from suanli.accounts.service import create_user, issue_login_token
    from suanli.app import create_app
    from suanli.catalog.models import Product
    from suanli.core.billing import ManualClock
    from suanli.db import Database
    from suanli.demo import load_demo
    from suanli.migrate import upgrade
    from suanli.trading import service
    from suanli.trading.models import OrderMode
    from suanli.trading.schemas import OrderIn, TopupIn

    rng = random.Random(args.seed)
    print(f"machine: {machine()}")
    print(f"load average before: {load_average()}")
    home = Path(tempfile.mkdtemp(prefix="suanli-emergency-"))
    database = Database(f"sqlite:///{home / 'suanli.db'}")
    t0 = time.perf_counter()
    upgrade(database)
    with database.unit_of_work() as session:
        load_demo(session)
    print(f"demo network loaded in {time.perf_counter() - t0:.1f} s")
    clock = ManualClock(START)

    def new_user(role: Role, name: str, topup_fen: int = 0):
        with database.unit_of_work() as session:
            user = create_user(session, email=f"bench-{uuid.uuid4().hex[:12]}@bench.suanli.cn",
                               password="quartz-lantern-emergency-7319",
                               display_name=name, organization_name=f"{name} {uuid.uuid4().hex[:6]}", role=role,
                               password_hash="bench-not-a-hash")
            secret, _ = issue_login_token(session, user, dt.timedelta(days=30))
            if topup_fen:
                service.topup(session, TopupIn(organization_id=user.organization_id, amount_fen=topup_fen,
                                               reference=f"bench-{uuid.uuid4().hex}"), clock.now())
            return user.id, user.organization_id, {"Authorization": f"Bearer {secret}"}

    def place(user_id, product_id, mode, units, **extra):
        with database.unit_of_work() as session:
            from suanli.accounts.models import User
            user = session.get_one(User, user_id)
            service.place_order(session, clock, user, OrderIn(product_id=product_id, mode=mode, units=units,
                                                              **extra), deliver_instances=False)

    # ---- the load: the emergency's chips nearly sold out
    t0 = time.perf_counter()
    with database.unit_of_work(write=False) as session:
        products = list(session.execute(select(Product.id, Product.accelerators, Product.stock_units,
                                               Product.price_spot_floor_fen, Product.price_reserved_month_fen)
                                        .where(Product.chip_key.in_(CHIPS), Product.is_visible.is_(True))
                                        .order_by(Product.id)))
        others = list(session.scalars(select(Product.id).where(Product.chip_key == "ascend-910b",
                                                               Product.is_visible.is_(True)).limit(40)))
    rng.shuffle(products)
    big = 10**11
    tenant, _, _ = new_user(Role.BUYER, "租户", big)
    spotters = [new_user(Role.BUYER, f"竞价用户{i}", big)[0] for i in range(8)]
    holders = [new_user(Role.BUYER, f"包月用户{i}", big) for i in range(HOLDERS)]
    free_left, spot_left = args.free, args.spot
    counts = {"on_demand": 0, "spot": 0, "reserved": 0, "free": 0}
    for p in products:
        units = p.stock_units
        keep = min(units, max(0, math.ceil(free_left / p.accelerators)))
        free_left -= keep * p.accelerators
        counts["free"] += keep * p.accelerators
        units -= keep
        if p.price_spot_floor_fen and spot_left > 0:
            while units and spot_left > 0:
                n = min(units, rng.choice([1, 1, 2]))
                bid = p.price_spot_floor_fen + rng.randrange(0, p.price_spot_floor_fen // 2 + 1)
                place(rng.choice(spotters), p.id, OrderMode.SPOT, n, bid_hourly_fen=bid)
                units -= n
                spot_left -= n * p.accelerators
                counts["spot"] += n * p.accelerators
        if p.price_reserved_month_fen and units >= 2:
            n = units // 2
            place(rng.choice(holders)[0], p.id, OrderMode.RESERVED, n, term_months=1)
            units -= n
            counts["reserved"] += n * p.accelerators
        if units:
            place(tenant, p.id, OrderMode.ON_DEMAND, units)
            counts["on_demand"] += units * p.accelerators
    print(f"load placed in {time.perf_counter() - t0:.1f} s over {len(products)} A800/H800 products: "
          f"{counts} accelerators")

    # ---- background load during the measurement
    stop = threading.Event()
    load_orders = [0]

    def churn(worker: int) -> None:
        user_id = new_user(Role.BUYER, f"背景负载{worker}", big)[0]
        local = random.Random(worker)
        from suanli.accounts.models import User
        while not stop.is_set():
            try:
                with database.unit_of_work() as session:
                    user = session.get_one(User, user_id)
                    order, _ = service.place_order(session, clock, user, OrderIn(
                        product_id=local.choice(others), mode=OrderMode.ON_DEMAND, units=1), deliver_instances=False)
                    order_id = order.id
                with database.unit_of_work() as session:
                    user = session.get_one(User, user_id)
                    service.cancel_order(session, clock, user, order_id)
                load_orders[0] += 1
            except Exception:  # a busy database or sold-out product: keep the load going
                time.sleep(0.01)

    _, _, operator = new_user(Role.OPERATOR, "运营")
    _, payer_org, _ = new_user(Role.BUYER, "省应急管理厅", big)
    client = TestClient(create_app(database, clock=clock))
    threads = [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(args.load_threads)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    print(f"load average with the background load: {load_average()}")

    wall: dict[str, float] = {}
    t0 = time.perf_counter()
    r = client.post("/api/v1/operator/emergencies", headers=operator, json={
        "title": "台风集合预报（基准）", "accelerators": args.accelerators, "chips": list(CHIPS),
        "duration_hours": 72, "compensation_fen_per_accel_hour": 300, "payer_org_id": str(payer_org)})
    wall["declare"] = time.perf_counter() - t0
    assert r.status_code == 201, r.text
    em = r.json()
    print(f"declared in {wall['declare'] * 1000:.0f} ms: planned {em['planned']}, at once {em['assembled']}, "
          f"parts {len(em['parts'])}")

    # Holders answer after a random delay; the meter runs every 60 s of market time.
    answers = []
    holder_headers = {str(org): headers for _, org, headers in holders}
    for part in em["parts"]:
        if part["stage"] == "reserved":
            delay = rng.lognormvariate(math.log(args.answer_median), 0.8)
            answers.append((delay, part["id"], holder_headers[part["holder_org_id"]]))
    answers.sort()
    events = sorted([(a[0], "answer", a) for a in answers] + [(60.0 * k, "meter", None) for k in range(1, 31)],
                    key=lambda e: e[0])
    wall["answers"], wall["meter"], n_answers = 0.0, 0.0, 0
    assembled = em["assembled"]
    for at, kind, item in events:
        clock.advance(max(0.0, (START + dt.timedelta(seconds=at) - clock.now()).total_seconds()))
        t0 = time.perf_counter()
        if kind == "answer":
            r = client.post(f"/api/v1/emergency-offers/{item[1]}/answer", headers=item[2], json={"accept": True})
            assert r.status_code == 200, r.text
            wall["answers"] += time.perf_counter() - t0
            n_answers += 1
        else:
            r = client.post("/api/v1/operator/metering/run", headers=operator)
            assert r.status_code == 200, r.text
            wall["meter"] += time.perf_counter() - t0
        em = client.get(f"/api/v1/operator/emergencies/{em['id']}", headers=operator).json()
        assembled = em["assembled"]
        if assembled >= em["planned"] and at >= 60:
            break
    stop.set()
    for t in threads:
        t.join(timeout=10)
    after = load_average()
    done_at = max(p["at"] for p in em["progress"])
    market_seconds = (dt.datetime.fromisoformat(done_at) - START).total_seconds()
    print(f"assembled {assembled}/{args.accelerators} ({em['by_stage']}) after {market_seconds:.0f} s of market "
          f"time; wall: declare {wall['declare'] * 1000:.0f} ms, {n_answers} acceptances "
          f"{wall['answers'] * 1000:.0f} ms in all, meter runs {wall['meter'] * 1000:.0f} ms in all; "
          f"background orders placed and cancelled meanwhile: {load_orders[0]}")
    print(f"load average after: {after}")
    for point in em["progress"]:
        at = (dt.datetime.fromisoformat(point["at"]) - START).total_seconds()
        print(f"  t={at:7.0f} s  +{point['accelerators']:4d} {point['stage']:<8} = {point['assembled']}")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not importable: no figure")
        return 0
    colours = {"free": "#2a9d8f", "spot": "#e9c46a", "reserved": "#e76f51"}
    fig, ax = plt.subplots(figsize=(8, 4.2))
    xs, ys = [0.0], [0]
    for point in em["progress"]:
        at = (dt.datetime.fromisoformat(point["at"]) - START).total_seconds() / 60
        xs += [at, at]
        ys += [ys[-1], point["assembled"]]
        ax.scatter([at], [point["assembled"]], color=colours[point["stage"]], s=14, zorder=3)
    ax.plot(xs, ys, color="#264653", lw=1.5)
    for stage, colour in colours.items():
        ax.scatter([], [], color=colour, label=f"{stage}: {em['by_stage'][stage]}")
    ax.axhline(args.accelerators, color="grey", ls=":", lw=1)
    ax.set_xlabel("market time since the declaration (minutes)")
    ax.set_ylabel("accelerators assembled")
    ax.set_title(f"Assembling {args.accelerators} A800/H800 accelerators over the demo network under load\n"
                 f"wall: declare {wall['declare'] * 1000:.0f} ms, {n_answers} acceptances "
                 f"{wall['answers'] * 1000:.0f} ms; load average {after.split()[0]}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
