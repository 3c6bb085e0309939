"""Bad input at each step of a request for quotes: a clear 4xx with its code, and nothing moved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rfq_helpers import (DAY, EARLIEST, accept, assert_escrow_consistent, build_capacity, deliver, post, posted,
                         quote, quoted, seller_with_datacenter)
from trading_helpers import START, Market, new_market, quick_user

TOPUP = 20_000_000


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, first_name_number=7500)
    yield m
    assert_escrow_consistent(m)


def _code(r) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def test_posting_refuses_bad_needs(market):
    buyer = market.buyer(topup_fen=TOPUP)
    assert _code(post(market, buyer, chip="H9000")) == (422, "unknown_chip")
    assert _code(post(market, buyer, chip=None)) == (422, "need_unspecified")
    assert _code(post(market, buyer, term_months=2)) == (422, "invalid_term")
    assert _code(post(market, buyer, term_hours=10)) == (422, "invalid_term_hours")  # reserved takes months
    assert _code(post(market, buyer, billing_mode="on_demand")) == (422, "invalid_term")  # on demand takes hours
    assert _code(post(market, buyer, billing_mode="on_demand", term_months=None)) == (422, "invalid_term_hours")
    assert _code(post(market, buyer, latest_start=START.isoformat())) == (422, "invalid_window")
    assert _code(post(market, buyer, earliest_start=START.isoformat(),
                      latest_start=(START + DAY).isoformat())) == (422, "start_in_the_past")
    assert _code(post(market, buyer, latest_start=(START + 400 * DAY).isoformat())) == (422, "start_too_far")
    assert _code(post(market, buyer, auction_closes_at=(EARLIEST + DAY).isoformat())) == (
        422, "invalid_auction_deadline")
    assert _code(post(market, buyer, max_unit_price_fen=0)) == (422, "validation_error")
    assert _code(post(market, buyer, earliest_start="2026-12-10T00:00:00")) == (422, "validation_error")  # no zone
    assert _code(post(market, buyer, colour="red")) == (422, "validation_error")
    assert _code(post(market, buyer, max_unit_price_fen=TOPUP)) == (402, "insufficient_funds")
    seller = quick_user(market.db, "seller")
    assert post(market, seller).status_code == 403
    # Only a chip-less need by compute and memory is fine; nothing of the refusals was frozen.
    assert market.wallet(buyer)["held"]["fen"] == 0
    r = post(market, buyer, chip=None, min_fp16_tflops=300.0, min_memory_gib=64)
    assert r.status_code == 201, r.text
    market.client.post(f"/api/v1/rfqs/{r.json()['id']}/cancel", headers=buyer["headers"])


def test_quoting_refuses_what_does_not_meet_the_request(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer)
    seller, datacenter = seller_with_datacenter(market)
    rid = request["id"]
    assert _code(quote(market, seller, datacenter, rid, unit_price_fen=4_000_001)) == (422, "price_above_maximum")
    assert _code(quote(market, seller, datacenter, rid, chip="910b")) == (422, "chip_mismatch")
    assert _code(quote(market, seller, datacenter, rid, accelerators=4)) == (422, "too_few_accelerators")
    assert _code(quote(market, seller, datacenter, rid, start_at=(START + 30 * DAY).isoformat())) == (
        422, "start_outside_window")
    assert _code(quote(market, seller, datacenter, rid, deliver_by=(START + 16 * DAY).isoformat())) == (
        422, "delivery_after_start")
    assert _code(quote(market, seller, datacenter, rid, deliver_by=START.isoformat())) == (
        422, "delivery_in_the_past")
    r = quote(market, seller, datacenter, rid, unit_price_fen=4_000_001, chip="910b")
    assert r.json()["error"]["details"]["shortfalls"] == ["chip_mismatch", "price_above_maximum"]
    elsewhere = market.make.datacenter(seller, region=market.make.region("贵州", "贵安", "贵州", "贵安集群"))
    assert _code(quote(market, seller, elsewhere, rid)) == (422, "region_mismatch")
    pending = market.make.datacenter(seller, approved=False)
    assert _code(quote(market, seller, pending, rid)) == (409, "datacenter_not_approved")
    other, other_dc = seller_with_datacenter(market)
    assert _code(quote(market, seller, other_dc, rid)) == (404, "datacenter_not_found")
    assert _code(quote(market, seller, datacenter, "0190d0c0-0000-7000-8000-000000000000")) == (
        404, "request_not_found")
    assert _code(quote(market, seller, datacenter, rid, penalty_fen=-1)) == (422, "validation_error")
    assert quote(market, buyer, datacenter, rid).status_code == 403
    quoted(market, seller, datacenter, rid)
    assert _code(quote(market, seller, datacenter, rid)) == (409, "already_quoted")
    # Sellers never reach the buyer's view.
    assert market.client.get(f"/api/v1/rfqs/{rid}", headers=seller["headers"]).status_code == 403
    market.client.post(f"/api/v1/rfqs/{rid}/cancel", headers=buyer["headers"])
    assert _code(quote(market, other, other_dc, rid)) == (404, "request_not_found")


def test_accepting_and_delivering_refuse_what_cannot_be(market):
    buyer, stranger = market.buyer(topup_fen=TOPUP), market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer)
    seller, datacenter = seller_with_datacenter(market)
    second, second_dc = seller_with_datacenter(market)
    offer = quoted(market, seller, datacenter, request["id"])
    withdrawn = quoted(market, second, second_dc, request["id"])
    assert market.client.post(f"/api/v1/seller/quotes/{withdrawn['id']}/withdraw",
                              headers=second["headers"]).status_code == 200
    assert _code(market.client.post(f"/api/v1/seller/quotes/{withdrawn['id']}/withdraw",
                                    headers=second["headers"])) == (409, "quote_not_standing")
    assert _code(accept(market, buyer, request["id"], withdrawn["id"])) == (409, "quote_withdrawn")
    assert _code(accept(market, stranger, request["id"], offer["id"])) == (404, "request_not_found")
    assert _code(accept(market, buyer, request["id"], request["id"])) == (404, "quote_not_found")
    signed = accept(market, buyer, request["id"], offer["id"]).json()
    assert _code(accept(market, buyer, request["id"], offer["id"])) == (409, "request_closed")

    # Delivery: a product elsewhere, then one whose cluster has not passed a health check, then the wrong chip.
    other_product = build_capacity(market, second, second_dc)
    assert _code(deliver(market, seller, signed["id"], other_product["id"])) == (404, "product_not_found")
    assert _code(deliver(market, second, signed["id"], other_product["id"])) == (404, "contract_not_found")
    unchecked = build_capacity(market, seller, datacenter, healthy=False)
    assert _code(deliver(market, seller, signed["id"], unchecked["id"])) == (409, "cluster_unhealthy")
    wrong_chip = build_capacity(market, seller, datacenter, chip="h800")
    assert _code(deliver(market, seller, signed["id"], wrong_chip["id"])) == (409, "capacity_mismatch")
    too_small = build_capacity(market, seller, datacenter, units=1)
    assert _code(deliver(market, seller, signed["id"], too_small["id"])) == (409, "stock_below_contract")
    bare = market.make.product(seller, datacenter, stock_units=2)  # no cluster registered
    assert _code(deliver(market, seller, signed["id"], bare["id"])) == (409, "cluster_not_registered")
    assert market.client.get(f"/api/v1/contracts/{signed['id']}", headers=stranger["headers"]).status_code == 404
    good = build_capacity(market, seller, datacenter)
    assert deliver(market, seller, signed["id"], good["id"]).status_code == 200
    assert _code(deliver(market, seller, signed["id"], good["id"])) == (409, "contract_not_awaiting_delivery")
    # Start it, so the escrow check after the test sees it settled into an order.
    from rfq_helpers import at, sweep

    at(market, START + 15 * DAY)
    assert sweep(market)["started"] == 1
