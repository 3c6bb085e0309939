"""Requests for quotes and pre-sale contracts end to end, on SQLite and PostgreSQL, with a ManualClock: request →
quote → accept → deliver → run → settle; a failed delivery refunded with the penalty; a reverse auction closed by
its deadline with a tie. After each test the ledger is balanced and held money is exactly what is in escrow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from rfq_helpers import (DAY, at, MAX_PRICE, accept, assert_escrow_consistent, build_capacity, contract, deliver, post,
                         posted, quote, quoted, seller_with_datacenter, sweep)
from trading_helpers import START, Market, new_market

from suanli.core.billing import add_months, reserved_price
from suanli.core.ledger import split_commission

TOPUP = 20_000_000


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, first_name_number=7000)
    yield m
    assert_escrow_consistent(m)


def test_request_quote_accept_deliver_run_settle(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer)
    budget = reserved_price(MAX_PRICE, 2, 1, {})
    assert request["budget"]["fen"] == budget and request["status"] == "open"
    assert market.wallet(buyer)["held"]["fen"] == budget
    assert_escrow_consistent(market)

    # Sellers see the need without the buyer.
    seller, datacenter = seller_with_datacenter(market)
    seen = market.client.get("/api/v1/seller/rfqs", headers=seller["headers"]).json()
    mine = next(r for r in seen["items"] if r["id"] == request["id"])
    assert mine["buyer_org_id"] is None and mine["budget"] is None and mine["chip"] == "a800"
    one = market.client.get(f"/api/v1/seller/rfqs/{request['id']}", headers=seller["headers"]).json()
    assert one["buyer_org_id"] is None and one["budget"] is None

    # A pre-sale quote for capacity the seller does not have yet.
    offer = quoted(market, seller, datacenter, request["id"])
    assert offer["presale"] is True and offer["total"]["fen"] == reserved_price(3_500_000, 2, 1, {})
    market.clock.advance(3600)
    r = accept(market, buyer, request["id"], offer["id"])
    assert r.status_code == 201, r.text
    signed = r.json()
    deposit = reserved_price(3_500_000, 2, 1, {})
    assert signed["status"] == "awaiting_delivery" and signed["deposit"]["fen"] == deposit
    wallet = market.wallet(buyer)
    assert wallet["held"]["fen"] == deposit and wallet["available"]["fen"] == TOPUP - deposit
    mine = market.client.get(f"/api/v1/rfqs/{request['id']}", headers=buyer["headers"]).json()
    assert mine["status"] == "awarded" and mine["contract_id"] == signed["id"]
    assert mine["quotes"][0]["status"] == "won" and mine["quotes"][0]["seller_name"]
    assert_escrow_consistent(market)

    # The seller builds it: listed, cluster registered, health check passed; delivered before the start.
    market.clock.advance(5 * 86_400)
    product = build_capacity(market, seller, datacenter)
    r = deliver(market, seller, signed["id"], product["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["order_id"] is None
    assert sweep(market)["started"] == 0  # not yet the start
    assert_escrow_consistent(market)

    # The start: the order is placed at the contract's price (not the product's 3.9 M), paid by the deposit.
    at(market, START + 15 * DAY)
    assert sweep(market)["started"] == 1
    started = contract(market, buyer, signed["id"])
    assert started["status"] == "started" and started["order_id"]
    order = market.client.get(f"/api/v1/orders/{started['order_id']}", headers=buyer["headers"]).json()
    assert order["mode"] == "reserved" and order["unit_price"]["fen"] == 3_500_000 and order["status"] == "active"
    assert order["charged"]["fen"] == deposit and order["held"]["fen"] == 0
    wallet = market.wallet(buyer)
    assert wallet["held"]["fen"] == 0 and wallet["available"]["fen"] == TOPUP - deposit
    assert sweep(market)["started"] == 0  # a second pass starts nothing twice
    assert_escrow_consistent(market)

    # Run to the end of the term: the meter ends it; the seller is paid its net of the contract's price.
    at(market, add_months(START + 15 * DAY, 1) + DAY)
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200 and r.json()["terms_ended"] == 1, r.text
    assert market.client.get(f"/api/v1/orders/{started['order_id']}",
                             headers=buyer["headers"]).json()["status"] == "ended"
    net, _commission = split_commission(deposit, 500)
    assert market.wallet(seller)["receivable"]["fen"] == net
    # The buyer and the seller follow it in their notifications.
    notes = market.client.get("/api/v1/notifications", headers=buyer["headers"]).json()["items"]
    assert sum(n["kind"] == "rfq" for n in notes) >= 3


def _seller_with_earnings(market: Market, amount_fen: int) -> tuple[dict, dict]:
    """A seller whose receivable holds ``amount_fen`` net from an earlier reserved order, and its data center."""
    seller, product = market.seller_with_product(stock_units=1, price_reserved_month_fen=amount_fen)
    other = market.buyer(topup_fen=amount_fen * 2)
    assert market.order(other, product, mode="reserved", units=1, term_months=1).status_code == 201
    return seller, product["datacenter"]


def test_a_missed_delivery_refunds_the_deposit_and_pays_the_penalty(market):
    buyer = market.buyer(topup_fen=TOPUP)
    seller, datacenter = _seller_with_earnings(market, 2_000_000)
    receivable = market.wallet(seller)["receivable"]["fen"]
    request = posted(market, buyer)
    offer = quoted(market, seller, datacenter, request["id"], penalty_fen=300_000)
    signed = accept(market, buyer, request["id"], offer["id"]).json()
    assert market.wallet(buyer)["held"]["fen"] == signed["deposit"]["fen"]

    at(market, START + 14 * DAY)  # the delivery date itself: not yet late
    assert sweep(market)["failed"] == 0
    market.clock.advance(60)
    product = build_capacity(market, seller, datacenter)
    r = deliver(market, seller, signed["id"], product["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "delivery_overdue"
    assert sweep(market)["failed"] == 1
    failed = contract(market, buyer, signed["id"])
    assert failed["status"] == "failed" and failed["failure_reason"] == "not_delivered"
    assert failed["penalty_paid"]["fen"] == 300_000 and failed["penalty_unpaid"]["fen"] == 0
    wallet = market.wallet(buyer)
    assert wallet["held"]["fen"] == 0 and wallet["available"]["fen"] == TOPUP + 300_000
    assert market.wallet(seller)["receivable"]["fen"] == receivable - 300_000
    assert sweep(market)["failed"] == 0  # idempotent: nothing moves twice
    assert market.wallet(buyer)["available"]["fen"] == TOPUP + 300_000
    # The penalty is a refund on both statements' ledgers.
    rows = market.client.get("/api/v1/ledger/rows", headers=buyer["headers"]).json()["items"]
    assert any(row["kind"] == "refund" and row["change"]["fen"] == 300_000 for row in rows), rows


def test_a_penalty_beyond_the_sellers_receivable_is_recorded_as_owed(market):
    buyer = market.buyer(topup_fen=TOPUP)
    seller, datacenter = seller_with_datacenter(market)  # has earned nothing yet
    request = posted(market, buyer)
    signed = accept(market, buyer, request["id"],
                    quoted(market, seller, datacenter, request["id"], penalty_fen=250_000)["id"]).json()
    at(market, START + 15 * DAY)
    assert sweep(market)["failed"] == 1
    failed = contract(market, seller, signed["id"])
    assert failed["penalty_paid"]["fen"] == 0 and failed["penalty_unpaid"]["fen"] == 250_000
    assert market.wallet(buyer)["available"]["fen"] == TOPUP


def test_reverse_auction_closes_at_its_deadline_lowest_compliant_wins_ties_go_to_the_earliest(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer, auction_closes_at=(START + 3 * DAY).isoformat())
    sellers = [seller_with_datacenter(market) for _ in range(4)]
    first = quoted(market, *sellers[0], request["id"], unit_price_fen=3_000_000)
    market.clock.advance(60)
    tied = quoted(market, *sellers[1], request["id"], unit_price_fen=3_000_000)
    # Cheaper, but its delivery date passes before the deadline: no longer compliant when the auction closes.
    stale = quoted(market, *sellers[2], request["id"], unit_price_fen=2_800_000,
                   deliver_by=(START + 2 * DAY).isoformat())
    withdrawn = quoted(market, *sellers[3], request["id"], unit_price_fen=2_900_000)
    r = market.client.post(f"/api/v1/seller/quotes/{withdrawn['id']}/withdraw", headers=sellers[3][0]["headers"])
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"

    at(market, START + 3 * DAY - timedelta(seconds=1))
    assert sweep(market)["auctions_awarded"] == 0
    at(market, START + 3 * DAY)
    r = quote(market, *sellers[3], request["id"], unit_price_fen=2_000_000)
    assert r.status_code == 409 and r.json()["error"]["code"] == "auction_closed"
    assert sweep(market)["auctions_awarded"] == 1
    closed = market.client.get(f"/api/v1/rfqs/{request['id']}", headers=buyer["headers"]).json()
    statuses = {q["id"]: q["status"] for q in closed["quotes"]}
    assert statuses == {first["id"]: "won", tied["id"]: "lost", stale["id"]: "lost", withdrawn["id"]: "withdrawn"}
    won = contract(market, buyer, closed["contract_id"])
    assert won["quote_id"] == first["id"] and won["unit_price"]["fen"] == 3_000_000
    assert market.wallet(buyer)["held"]["fen"] == reserved_price(3_000_000, 2, 1, {})
    # The contract is then failed in time, so the escrow check sees it settled.
    at(market, START + 15 * DAY)
    sweep(market)


def test_an_auction_without_quotes_expires_and_releases_the_budget(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer, auction_closes_at=(START + DAY).isoformat())
    at(market, START + DAY)
    assert sweep(market)["expired"] == 1
    assert market.client.get(f"/api/v1/rfqs/{request['id']}",
                             headers=buyer["headers"]).json()["status"] == "expired"
    assert market.wallet(buyer) | {} and market.wallet(buyer)["held"]["fen"] == 0


def test_on_demand_contract_bills_per_second_from_the_deposit(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer, billing_mode="on_demand", term_months=None, term_hours=100,
                     max_unit_price_fen=9000)
    seller, datacenter = seller_with_datacenter(market)
    offer = quoted(market, seller, datacenter, request["id"], unit_price_fen=7000, presale=False)
    signed = accept(market, buyer, request["id"], offer["id"]).json()
    assert signed["deposit"]["fen"] == 7000 * 2 * 100
    product = build_capacity(market, seller, datacenter)
    assert deliver(market, seller, signed["id"], product["id"]).status_code == 200
    at(market, START + 15 * DAY)
    assert sweep(market)["started"] == 1
    order_id = contract(market, buyer, signed["id"])["order_id"]
    market.clock.advance(3600)
    assert market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]).status_code == 200
    r = market.client.post(f"/api/v1/orders/{order_id}/release", headers=buyer["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["charged"]["fen"] == 7000 * 2 and r.json()["unit_price"]["fen"] == 7000
    assert market.wallet(buyer)["available"]["fen"] == TOPUP - 7000 * 2


def test_cancelling_an_open_request_releases_its_budget(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer)
    seller, datacenter = seller_with_datacenter(market)
    offer = quoted(market, seller, datacenter, request["id"])
    r = market.client.post(f"/api/v1/rfqs/{request['id']}/cancel", headers=buyer["headers"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert market.wallet(buyer)["held"]["fen"] == 0
    r = accept(market, buyer, request["id"], offer["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_closed"
    assert post(market, buyer).status_code == 201  # money free again for a new one
    market.client.post(f"/api/v1/rfqs/{market.client.get('/api/v1/rfqs', headers=buyer['headers']).json()['items'][0]['id']}/cancel",
                       headers=buyer["headers"])
