"""The readable ledger and the payouts and refunds lists through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trading_helpers import Market, checked_market

from suanli.core.billing import charge_for_seconds
from suanli.core.ledger import commission_fen


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def get(market: Market, user: dict, path: str, status: int = 200) -> dict:
    r = market.client.get(path, headers=user["headers"])
    assert r.status_code == status, r.text
    return r.json()


def meter(market: Market) -> None:
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200, r.text


def test_a_lease_reads_as_top_up_hold_readings_per_day_and_charge(market):
    _seller, product = market.seller_with_product(price_on_demand_fen=7200, name="A800 整机 8卡")
    buyer = market.buyer()
    market.topup(buyer, 1_000_000, reference="BANK-1")
    order = market.order(buyer, product).json()
    for _ in range(3):  # three readings, 10 minutes apart: START is 16:00 in Beijing, all on one Beijing day
        market.clock.advance(600)
        meter(market)
    market.clock.advance(23)
    r = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"])
    assert r.status_code == 200, r.text

    page = get(market, buyer, "/api/v1/ledger/rows")
    rows = page["items"]
    assert [r["kind"] for r in rows] == ["charge", "meter", "hold", "topup"]  # newest first
    charge, readings, hold, topup = rows
    assert topup["reference"] == "BANK-1" and topup["change"]["fen"] == 1_000_000
    assert hold["change"]["fen"] == 0 and hold["held_change"]["fen"] == order["held"]["fen"] > 0
    assert readings["readings"] == 3 and readings["order_id"] == order["id"]
    assert readings["change"]["fen"] == -charge_for_seconds(7200, 1, 1800)
    used = charge_for_seconds(7200, 1, 1823)
    assert charge["change"]["fen"] == -(used - charge_for_seconds(7200, 1, 1800))
    assert {r["product_name"] for r in rows[:3]} == {"A800 整机 8卡"}
    assert charge["period_start"] is not None and charge["period_end"] is not None
    wallet = market.wallet(buyer)
    assert charge["balance"]["fen"] == wallet["available"]["fen"] + wallet["held"]["fen"] == 1_000_000 - used
    assert charge["held"]["fen"] == wallet["held"]["fen"] == 0
    for newer, older in zip(rows, rows[1:]):
        assert newer["balance"]["fen"] == older["balance"]["fen"] + newer["change"]["fen"]

    drill = get(market, buyer, f"/api/v1/ledger/rows?order_id={order['id']}&day={readings['day']}")["items"]
    meters = [r for r in drill if ":tick:" in r["ref"]]
    assert len(meters) == 3 and sum(r["change"]["fen"] for r in meters) == readings["change"]["fen"]
    assert get(market, buyer, "/api/v1/ledger/rows?limit=1&offset=1")["items"][0]["kind"] == "meter"
    bad = get(market, buyer, f"/api/v1/ledger/rows?order_id={order['id']}&day=7-12-2026", status=422)
    assert bad["error"]["code"] == "invalid_day"


def test_payouts_and_refunds_pages_per_role(market):
    seller, product = market.seller_with_product(price_reserved_month_fen=100_000)
    buyer = market.buyer(topup_fen=1_000_000)
    order = market.order(buyer, product, mode="reserved", term_months=1).json()
    ops = market.operator["headers"]
    r = market.client.post(f"/api/v1/operator/orders/{order['id']}/refunds", headers=ops,
                           json={"amount_fen": 10_001, "reference": "TICKET-9"})
    assert r.status_code == 201, r.text
    r = market.client.post("/api/v1/operator/payouts", headers=ops,
                           json={"organization_id": seller["org_id"], "amount_fen": 5_000, "reference": "PAY-1"})
    assert r.status_code == 201, r.text
    other_seller, _other = market.seller_with_product()

    all_refunds = get(market, market.operator, "/api/v1/refunds")["items"]
    assert [(x["reference"], x["amount"]["fen"], x["order_id"], x["organization_id"]) for x in all_refunds] == [
        ("TICKET-9", 10_001, order["id"], buyer["org_id"])]
    given = get(market, seller, "/api/v1/refunds")["items"]
    assert given[0]["amount"]["fen"] == 10_001 - commission_fen(10_001, order["commission_bp"])
    assert get(market, buyer, "/api/v1/refunds")["items"][0]["product_name"] == product["name"]
    assert get(market, other_seller, "/api/v1/refunds")["items"] == []

    assert [(x["reference"], x["amount"]["fen"]) for x in get(market, seller, "/api/v1/payouts")["items"]] == [
        ("PAY-1", 5_000)]
    assert get(market, other_seller, "/api/v1/payouts")["total"] == 0
    assert get(market, market.operator, f"/api/v1/payouts?organization_id={other_seller['org_id']}")["total"] == 0
    assert get(market, market.operator, "/api/v1/payouts?since=2026-11-28&until=2026-11-28")["total"] == 1
    assert get(market, market.operator, "/api/v1/payouts?since=2026-11-29")["total"] == 0
    assert get(market, buyer, "/api/v1/payouts", status=403)["error"]["code"] == "not_a_seller"
    # Naming another organization is an operator's filter: a seller naming one is refused, not shown its own list.
    assert get(market, seller, f"/api/v1/payouts?organization_id={other_seller['org_id']}",
               status=404)["error"]["code"] == "organization_not_found"
    assert get(market, seller, f"/api/v1/payouts?organization_id={seller['org_id']}")["total"] == 1
    assert get(market, buyer, f"/api/v1/refunds?organization_id={seller['org_id']}",
               status=404)["error"]["code"] == "organization_not_found"

    seller_rows = get(market, seller, "/api/v1/ledger/rows")["items"]
    assert [r["kind"] for r in seller_rows] == ["payout", "refund", "charge"]
    assert seller_rows[0]["balance"]["fen"] == market.wallet(seller)["receivable"]["fen"]
    assert seller_rows[1]["order_id"] == order["id"]
