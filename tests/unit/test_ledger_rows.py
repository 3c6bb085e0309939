"""Readable ledger rows: grouping of one organization's transfers and the running balance (core/ledger_rows.py)."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.core.ledger import (Ledger, TransferKind, buyer_available, buyer_held, plan_capture, plan_hold,
                                plan_payout, plan_refund, plan_settle, plan_topup, seller_receivable)
from suanli.core.china_time import CHINA_TZ, china_day
from suanli.core.ledger_rows import Movement, RowKind, ledger_rows, movement_of, order_id_of

BUYER, SELLER = "org-buyer", "org-seller"
START = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)  # 23:00 in Beijing: the first hour crosses a Beijing day


# One step of a buyer's life on the platform: (what, order number, amount, seconds later).
steps = st.lists(st.tuples(st.sampled_from(["topup", "order", "tick", "release", "refund", "payout"]),
                           st.integers(0, 3), st.integers(1, 5_000), st.integers(1, 4 * 3600)),
                 min_size=1, max_size=60)


def simulate(plan: list[tuple[str, int, int, int]]) -> tuple[Ledger, list[tuple[dt.datetime, list]]]:
    """Apply a plausible history to a core ledger: every batch it accepted, with its time. Per order the hold
    never goes below what it charged, as the meter and release do."""
    ledger = Ledger()
    batches: list[tuple[dt.datetime, list]] = []
    at = START
    held: dict[int, int] = {}  # open order → fen still held for it
    charged: dict[int, int] = {}  # order → fen charged (refundable)
    refunded: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for what, n, amount, later in plan:
        at += dt.timedelta(seconds=later)
        ref = f"order:o{n}"
        if what == "topup":
            batch = plan_topup(BUYER, amount, f"topup:t{len(batches)}")
        elif what == "order" and n not in held and n not in charged:
            batch = plan_hold(BUYER, amount, ref)
        elif what == "tick" and n in held:
            ticks[n] = ticks.get(n, 0) + 1
            top_up = amount // 3
            used = min(amount, held[n] + top_up)
            tick = f"{ref}:tick:{ticks[n]}"
            batch = (plan_hold(BUYER, top_up, tick)
                     + plan_capture(BUYER, SELLER, used, 1000, tick, already_captured_fen=charged.get(n, 0)))
        elif what == "release" and n in held:
            batch = plan_settle(BUYER, SELLER, held[n], min(amount, held[n]), 1000, ref,
                                already_captured_fen=charged.get(n, 0))
        elif what == "refund" and charged.get(n, 0) > refunded.get(n, 0) and n not in held:
            give = min(amount, charged[n] - refunded.get(n, 0))
            batch = plan_refund(BUYER, SELLER, give, 1000, f"refund:r{len(batches)}",
                                already_refunded_fen=refunded.get(n, 0))
        elif what == "payout" and ledger.balance(seller_receivable(SELLER)) > 0:
            batch = plan_payout(SELLER, min(amount, ledger.balance(seller_receivable(SELLER))), f"payout:p{len(batches)}")
        else:
            continue
        try:
            ledger.apply_all(batch)
        except Exception:  # not enough money: the platform refuses it too
            continue
        batches.append((at, batch))
        if what == "order":
            held[n] = amount
        elif what == "tick":
            held[n] += top_up - used
            charged[n] = charged.get(n, 0) + used
        elif what == "release":
            charged[n] = charged.get(n, 0) + min(amount, held[n])
            del held[n]
        elif what == "refund":
            refunded[n] = refunded.get(n, 0) + give
    return ledger, batches


def movements(batches: list[tuple[dt.datetime, list]], owner: str) -> list[Movement]:
    out, seq = [], 0
    for at, batch in batches:
        for transfer in batch:
            seq += 1
            moved = movement_of(transfer, owner, seq=seq, at=at)
            if moved is not None:
                out.append(moved)
    return out


@settings(max_examples=200, deadline=None)
@given(steps)
def test_rows_add_up_to_the_movements_and_end_at_the_wallet_balance(plan):
    ledger, batches = simulate(plan)
    for owner, balance, held in (
            (BUYER, ledger.balance(buyer_available(BUYER)) + ledger.balance(buyer_held(BUYER)),
             ledger.balance(buyer_held(BUYER))),
            (SELLER, ledger.balance(seller_receivable(SELLER)), 0)):
        raw = movements(batches, owner)
        rows = ledger_rows(raw)
        assert sum(r.change_fen for r in rows) == sum(m.change_fen for m in raw)
        assert sum(r.held_change_fen for r in rows) == sum(m.held_change_fen for m in raw)
        assert sorted(m.seq for r in rows for m in r.movements) == [m.seq for m in raw]  # each once
        previous, previous_held = 0, 0
        for row in rows:
            assert row.balance_fen == previous + row.change_fen
            assert row.held_fen == previous_held + row.held_change_fen
            assert row.balance_fen >= 0 and row.held_fen >= 0  # a reading deferred to its day's last is never lower
            previous, previous_held = row.balance_fen, row.held_fen
        assert (previous, previous_held) == (balance, held)


@settings(max_examples=100, deadline=None)
@given(steps)
def test_meter_rows_are_one_per_order_and_beijing_day(plan):
    _ledger, batches = simulate(plan)
    raw = movements(batches, BUYER)
    rows = ledger_rows(raw)
    meter = [r for r in rows if r.kind is RowKind.METER]
    keys = [(r.order_id, r.day) for r in meter]
    assert len(keys) == len(set(keys))
    readings = {(order_id_of(m.ref), china_day(m.at), m.ref) for m in raw if ":tick:" in m.ref}
    assert sum(r.count for r in meter) == len(readings)
    for row in meter:
        assert {china_day(m.at) for m in row.movements} == {row.day}
    assert not any(":tick:" in r.ref for r in rows if r.kind is not RowKind.METER)
    ungrouped = ledger_rows(raw, group_ticks=False)
    assert sum(1 for r in ungrouped if ":tick:" in r.ref) == len(readings)


def at(hours: float) -> dt.datetime:
    return START + dt.timedelta(hours=hours)


def test_a_short_lease_is_a_hold_and_a_charge_for_the_buyer():
    """The issue's 23-second lease made 5 rows (hold, capture, commission, release, tick): now a hold and a charge."""
    ledger = Ledger()
    batches = [(at(0), plan_topup(BUYER, 10_000, "topup:bank-1")), (at(1), plan_hold(BUYER, 3_000, "order:o1")),
               (at(1.01), plan_settle(BUYER, SELLER, 3_000, 20, 1000, "order:o1"))]
    for _at, batch in batches:
        ledger.apply_all(batch)
    rows = ledger_rows(movements(batches, BUYER))
    assert [(r.kind, r.change_fen, r.held_change_fen, r.balance_fen, r.held_fen) for r in rows] == [
        (RowKind.TOPUP, 10_000, 0, 10_000, 0), (RowKind.HOLD, 0, 3_000, 10_000, 3_000),
        (RowKind.CHARGE, -20, -3_000, 9_980, 0)]
    assert rows[-1].balance_fen == ledger.balance(buyer_available(BUYER))
    seller = ledger_rows(movements(batches, SELLER))
    assert [(r.kind, r.change_fen, r.order_id) for r in seller] == [(RowKind.CHARGE, 18, "o1")]


def test_readings_group_per_beijing_day_not_utc_day():
    # 23:30 and 00:30 Beijing time are the same UTC day (15:30, 16:30 UTC) but two Beijing days.
    raw = [Movement(1, at(0.5), TransferKind.CAPTURE, "order:o1:tick:1", -5),
           Movement(2, at(1.5), TransferKind.CAPTURE, "order:o1:tick:2", -7),
           Movement(3, at(1.6), TransferKind.CAPTURE, "order:o1:tick:3", -1)]
    assert at(0.5).date() == at(1.5).date()
    rows = ledger_rows(raw, opening_fen=100)
    assert [(r.count, r.change_fen, r.balance_fen, r.day) for r in rows] == [
        (1, -5, 95, dt.date(2026, 11, 30)), (2, -8, 87, dt.date(2026, 12, 1))]
    assert rows[1].first_at.astimezone(CHINA_TZ).hour == 0


def test_refs_name_their_order():
    assert order_id_of("order:abc:tick:3") == "abc"
    assert order_id_of("order:abc") == "abc"
    assert order_id_of("refund:order:abc") is None
    assert order_id_of("topup:x") is None
