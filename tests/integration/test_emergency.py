"""Emergency compute (应急算力): an emergency assembled from free, spot and compensated reserved capacity, with
the ledger balanced; on-demand leases untouched; bad input at each step refused with a code and a message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trading_helpers import Market, checked_market, quick_user

from suanli.core.billing import charge_for_seconds

RATE = 500  # fen per lent accelerator-hour
HOURS = 24


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def _code(r) -> tuple[int, str]:
    body = r.json()
    assert body["error"]["message"], body
    return r.status_code, body["error"]["code"]


def declare(market: Market, payer: dict, **overrides):
    body = {"title": "台风路径集合预报", "accelerators": 48, "chips": ["a800"], "provinces": [],
            "duration_hours": HOURS, "compensation_fen_per_accel_hour": RATE, "payer_org_id": payer["org_id"]}
    body.update(overrides)
    return market.client.post("/api/v1/operator/emergencies", headers=market.operator["headers"], json=body)


def order_of(market: Market, user: dict, order: dict) -> dict:
    return market.client.get(f"/api/v1/orders/{order['id']}", headers=user["headers"]).json()


def notices(market: Market, user: dict) -> list[dict]:
    r = market.client.get("/api/v1/notifications", headers=user["headers"])
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["kind"] == "emergency"]


def network(market: Market) -> dict:
    """Three A800 ×8 products: P1 two free units; P2 two units under spot leases; P3 one unit under an on-demand
    lease and two under a reserved lease nobody runs jobs on."""
    s1, p1 = market.seller_with_product(stock_units=2)
    s2, p2 = market.seller_with_product(stock_units=2, price_spot_floor_fen=3000)
    s3, p3 = market.seller_with_product(stock_units=3)
    spot_low, spot_high = market.buyer(topup_fen=100_000), market.buyer(topup_fen=100_000)
    low = market.order(spot_low, p2, mode="spot", bid_hourly_fen=3200).json()
    high = market.order(spot_high, p2, mode="spot", bid_hourly_fen=3900).json()
    on_demand_buyer = market.buyer(topup_fen=100_000)
    on_demand = market.order(on_demand_buyer, p3).json()
    holder = market.buyer(topup_fen=10_000_000)
    r = market.order(holder, p3, mode="reserved", units=2, term_months=1)
    assert r.status_code == 201, r.text
    return {"sellers": (s1, s2, s3), "products": (p1, p2, p3), "spot": ((spot_low, low), (spot_high, high)),
            "on_demand": (on_demand_buyer, on_demand), "holder": holder, "reserved": r.json()}


def test_an_emergency_is_assembled_from_free_spot_and_compensated_reserved_capacity(market):
    net = network(market)
    payer = market.buyer(topup_fen=5_000_000)
    r = declare(market, payer)
    assert r.status_code == 201, r.text
    em = r.json()
    assert em["planned"] == 48 and em["assembled"] == 16
    assert em["by_stage"] == {"free": 16, "spot": 0, "reserved": 0}
    stages = {p["stage"]: p for p in em["parts"]}
    assert [p["stage"] for p in em["parts"]] == ["free", "spot", "reserved"]
    assert stages["free"]["state"] == "active" and stages["spot"]["state"] == "pending"
    assert stages["reserved"]["state"] == "offered" and stages["reserved"]["order_id"] == net["reserved"]["id"]
    assert stages["reserved"]["compensation"]["fen"] == RATE * 16 * HOURS

    # Both spot leases are under notice; the on-demand lease is untouched.
    for buyer, order in net["spot"]:
        assert order_of(market, buyer, order)["preempt_at"] is not None
        assert any(order["id"] == n["order_id"] for n in notices(market, buyer))
    od_buyer, od = net["on_demand"]
    after = order_of(market, od_buyer, od)
    assert after["status"] == "active" and after["preempt_at"] is None and notices(market, od_buyer) == []

    # The holder is asked in its console and over the API; it accepts and is compensated at the stated rate.
    holder = net["holder"]
    assert notices(market, holder)
    offers = market.client.get("/api/v1/emergency-offers", headers=holder["headers"]).json()
    assert [o["status"] for o in offers] == ["offered"]
    holder_before = market.wallet(holder)["available"]["fen"]
    payer_before = market.wallet(payer)["available"]["fen"]
    market.clock.advance(60)
    r = market.client.post(f"/api/v1/emergency-offers/{offers[0]['id']}/answer", headers=holder["headers"],
                           json={"accept": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    compensation = RATE * 16 * HOURS
    assert market.wallet(holder)["available"]["fen"] == holder_before + compensation
    assert market.wallet(payer)["available"]["fen"] == payer_before - compensation
    for who, change in ((holder, compensation), (payer, -compensation)):
        rows = market.client.get("/api/v1/ledger/rows", headers=who["headers"]).json()["items"]
        assert [row["change"]["fen"] for row in rows if row["kind"] == "compensation"] == [change]

    # The spot notice runs out: the meter preempts the spot leases and starts the emergency's order.
    market.clock.advance(300)
    run = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"]).json()
    assert run["preempted"] == 2 and run["activated"] == 1
    em = market.client.get(f"/api/v1/operator/emergencies/{em['id']}", headers=market.operator["headers"]).json()
    assert em["assembled"] == 48 and em["by_stage"] == {"free": 16, "spot": 16, "reserved": 16}
    assert [(p["stage"], p["accelerators"], p["assembled"]) for p in em["progress"]] == [
        ("free", 16, 16), ("reserved", 16, 32), ("spot", 16, 48)]
    assert em["compensation_paid"]["fen"] == compensation
    for seller in net["sellers"]:
        assert notices(market, seller), seller
    assert notices(market, payer)

    # The end: the payer's orders are released and charged for the time used; the lent units go back.
    market.clock.advance(3600)
    r = market.client.post(f"/api/v1/operator/emergencies/{em['id']}/end", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "ended" and ended["assembled"] == 0
    assert {p["stage"]: p["state"] for p in ended["parts"]} == {"free": "ended", "spot": "ended",
                                                                 "reserved": "returned"}
    free_order = order_of(market, payer, {"id": stages["free"]["order_id"]})
    assert free_order["charged"]["fen"] == charge_for_seconds(8000, 2, 360 + 3600)
    assert market.allocated(net["products"][0]) == 0 and market.allocated(net["products"][1]) == 0
    assert market.allocated(net["products"][2]) == 3  # the on-demand and the reserved lease still run
    assert "returned" in [o["status"] for o in market.client.get(
        "/api/v1/emergency-offers", headers=holder["headers"]).json()]


def test_a_declined_offer_lends_nothing_and_a_reserved_lease_busy_with_jobs_is_not_asked(market):
    net = network(market)
    payer = market.buyer(topup_fen=5_000_000)
    em = declare(market, payer, accelerators=16, chips=[], ecosystems=["cuda"]).json()
    assert [p["stage"] for p in em["parts"]] == ["free"]  # free capacity first: nothing else needed
    em2 = declare(market, payer, accelerators=16, chips=[], ecosystems=["CUDA"]).json()
    assert [p["stage"] for p in em2["parts"]] == ["spot"]
    em3 = declare(market, payer, accelerators=24).json()
    assert [(p["stage"], p["accelerators"]) for p in em3["parts"]] == [("reserved", 16)]
    assert em3["planned"] == 16
    offer = market.client.get("/api/v1/emergency-offers", headers=net["holder"]["headers"]).json()[0]
    before = market.wallet(net["holder"])["available"]["fen"]
    r = market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer", headers=net["holder"]["headers"],
                           json={"accept": False})
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert market.wallet(net["holder"])["available"]["fen"] == before
    # Its units are offered again to the next emergency; once declined nothing more is asked of that offer.
    assert _code(market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer",
                                    headers=net["holder"]["headers"], json={"accept": True})) == (
        409, "offer_answered")
    # A declined lease may be asked again by the next emergency; the on-demand lease is never asked.
    em4 = declare(market, payer, accelerators=24).json()
    assert [(p["stage"], p["order_id"]) for p in em4["parts"]] == [("reserved", net["reserved"]["id"])]
    for e in (em, em2, em3, em4):
        market.client.post(f"/api/v1/operator/emergencies/{e['id']}/end", headers=market.operator["headers"])


def test_bad_input_at_each_step_is_refused_with_a_code_and_a_message(market):
    net = network(market)
    payer = market.buyer(topup_fen=5_000_000)
    seller = net["sellers"][0]
    assert _code(declare(market, payer, chips=["H9000"])) == (422, "unknown_chip")
    assert _code(declare(market, payer, chips=[], ecosystems=["opencl"])) == (422, "unknown_ecosystem")
    assert _code(declare(market, payer, chips=[], ecosystems=[])) == (422, "chips_or_ecosystems_required")
    assert _code(declare(market, payer, provinces=["火星"])) == (422, "unknown_province")
    assert _code(declare(market, payer, accelerators=0)) == (422, "validation_error")
    assert _code(declare(market, payer, compensation_fen_per_accel_hour=1.5)) == (422, "validation_error")
    assert _code(declare(market, payer, duration_hours=0)) == (422, "validation_error")
    assert _code(declare(market, payer, colour="red")) == (422, "validation_error")
    assert _code(declare(market, {"org_id": seller["org_id"]})) == (422, "payer_not_buyer")
    assert _code(declare(market, {"org_id": "00000000-0000-0000-0000-000000000001"})) == (
        404, "organization_not_found")
    assert _code(declare(market, payer, chips=["910b"])) == (409, "no_capacity")
    broke = market.buyer()
    assert _code(declare(market, broke)) == (402, "insufficient_funds")
    r = market.client.post("/api/v1/operator/emergencies", headers=payer["headers"], json={})
    assert r.status_code == 403
    assert market.wallet(payer)["held"]["fen"] == 0  # nothing of the refusals was placed

    # A payer that cannot cover the compensation: the holder's acceptance is refused, nothing moves.
    thin = market.buyer(topup_fen=100_000)
    em = declare(market, thin, accelerators=48).json()
    holder = net["holder"]
    offer = market.client.get("/api/v1/emergency-offers", headers=holder["headers"]).json()[0]
    before = market.wallet(holder)["available"]["fen"]
    r = market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer", headers=holder["headers"],
                           json={"accept": True})
    assert _code(r) == (402, "insufficient_funds")
    assert market.wallet(holder)["available"]["fen"] == before
    assert _code(market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer", headers=holder["headers"],
                                    json={"accept": "yes"})) == (422, "validation_error")
    other = quick_user(market.db, "buyer")
    assert _code(market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer", headers=other["headers"],
                                    json={"accept": True})) == (404, "offer_not_found")
    assert _code(market.client.get("/api/v1/operator/emergencies/00000000-0000-0000-0000-000000000002",
                                   headers=market.operator["headers"])) == (404, "emergency_not_found")
    url = f"/api/v1/operator/emergencies/{em['id']}/end"
    assert market.client.post(url, headers=market.operator["headers"]).status_code == 200
    assert _code(market.client.post(url, headers=market.operator["headers"])) == (409, "emergency_ended")
    assert _code(market.client.post(f"/api/v1/emergency-offers/{offer['id']}/answer", headers=holder["headers"],
                                    json={"accept": True})) == (409, "offer_answered")  # withdrawn at the end


def test_racing_answers_pay_once_and_racing_declarations_never_oversell(market):
    from trading_helpers import race

    net = network(market)
    payer = market.buyer(topup_fen=5_000_000)
    em = declare(market, payer, accelerators=48).json()
    holder = net["holder"]
    offer = next(p for p in em["parts"] if p["stage"] == "reserved")
    before = market.wallet(holder)["available"]["fen"]
    url = f"/api/v1/emergency-offers/{offer['id']}/answer"
    answers = race(market, [lambda c: c.post(url, headers=holder["headers"], json={"accept": True})] * 2)
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert market.wallet(holder)["available"]["fen"] == before + RATE * 16 * HOURS
    market.client.post(f"/api/v1/operator/emergencies/{em['id']}/end", headers=market.operator["headers"])

    # Two emergencies at once for the same free units (P1, 2 units): together they never take more than there is.
    body = {"title": "t", "accelerators": 16, "chips": ["a800"], "duration_hours": 1,
            "compensation_fen_per_accel_hour": 0, "payer_org_id": payer["org_id"]}
    results = race(market, [lambda c: c.post("/api/v1/operator/emergencies", headers=market.operator["headers"],
                                             json=body)] * 2)
    assert all(r.status_code in (201, 409) for r in results), [r.text for r in results]
    assert market.allocated(net["products"][0]) <= 2
    for r in results:
        if r.status_code == 201:
            market.client.post(f"/api/v1/operator/emergencies/{r.json()['id']}/end",
                               headers=market.operator["headers"])
