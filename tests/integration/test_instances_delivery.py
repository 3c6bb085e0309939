"""A lease of a machine product delivers instances: billed from delivery, refunded in full when not delivered,
stopped when it ends; what each party sees. These products have no cluster, so their data center delivers by hand
(the automated path runs on real backends in tests/backends)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from instance_helpers import add_key, instances_of, keypair, loop, machine_product, order_row
from trading_helpers import Market, checked_market

HOUR = 3600


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def _buyer_with_key(market: Market, tmp_path: Path, topup_fen: int = 10_000_000) -> dict[str, Any]:
    buyer = market.buyer(topup_fen)
    _, public = keypair(tmp_path)
    buyer["public_key"] = public
    add_key(market, buyer, public)
    return buyer


def _deliver(market: Market, seller: dict, instance: dict, **extra: Any):
    body = {"ssh_host": "gpu-17.wuhu.example", "ssh_port": 30022, "ssh_user": "ubuntu", **extra}
    return market.client.post(f"/api/v1/instances/{instance['id']}/deliver", headers=seller["headers"], json=body)


def test_a_lease_is_held_not_billed_until_the_seller_delivers_it(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market)
    buyer = _buyer_with_key(market, tmp_path)
    r = market.order(buyer, product, units=2, image="cuda-pytorch", ports=[8080])
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "provisioning" and order["delivers_instances"] is True
    assert order["charged"]["fen"] == 0 and order["held"]["fen"] == 2 * 8000 and order["started_at"] is None
    assert market.allocated(product) == 2
    instances = instances_of(market, buyer, order["id"])
    assert [i["unit_index"] for i in instances] == [0, 1]
    assert all(i["state"] == "provisioning" and i["delivery"] == "manual" and i["access"] is None
               and i["image"] == "cuda-pytorch" and i["ports"] == [8080] for i in instances)
    assert instances[0]["authorized_keys"] == [buyer["public_key"]]

    # the seller sees what to deliver (the buyer's public keys), the waiting count, and nothing of the order's money
    seen = market.client.get("/api/v1/instances?state=provisioning", headers=seller["headers"]).json()
    assert seen["total"] == 2 and seen["items"][0]["authorized_keys"] == [buyer["public_key"]]

    market.clock.advance(1200)  # delivering takes time: not billed
    first = _deliver(market, seller, instances[0], host_key_fingerprints=["SHA256:" + "A" * 43])
    assert first.status_code == 200, first.text
    assert order_row(market, order["id"])["status"] == "provisioning"  # one of two delivered: not yet
    market.clock.advance(300)
    delivered_at = market.clock.now()
    assert _deliver(market, seller, instances[1], password="s3cret-pass-word").status_code == 200
    started = order_row(market, order["id"])
    assert started["status"] == "active"
    assert dt.datetime.fromisoformat(started["started_at"]) == delivered_at

    # the buyer sees how to get in; the seller and operators never see the access details or the password
    mine = instances_of(market, buyer, order["id"])
    assert mine[0]["access"]["ssh_command"] == "ssh -p 30022 ubuntu@gpu-17.wuhu.example"
    assert mine[1]["access"]["password"] == "s3cret-pass-word"
    for viewer in (seller, market.operator):
        assert all(i["access"] is None for i in instances_of(market, viewer, order["id"]))
    stranger = market.buyer()
    assert market.client.get(f"/api/v1/instances/{mine[0]['id']}", headers=stranger["headers"]).status_code == 404
    assert market.client.get(f"/api/v1/orders/{order['id']}/instances",
                             headers=stranger["headers"]).status_code == 404

    # billed from delivery: an hour after it, release charges exactly two unit-hours
    market.clock.advance(HOUR)
    released = market.client.post(f"/api/v1/orders/{order['id']}/release", headers=buyer["headers"]).json()
    assert released["charged"]["fen"] == 2 * 8000
    summary = loop(market)
    assert sorted(summary.stopped) == sorted(i["id"] for i in mine)
    assert all(i["state"] == "stopped" for i in instances_of(market, buyer, order["id"]))


def test_not_delivered_by_the_deadline_is_refunded_in_full(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market)
    buyer = _buyer_with_key(market, tmp_path)
    before = market.wallet(buyer)["available"]["fen"]
    r = market.client.put("/api/v1/operator/settings", headers=market.operator["headers"],
                            json={"delivery_deadline_minutes": 30})
    assert r.status_code == 200 and r.json()["delivery_deadline_minutes"] == 30
    order = market.order(buyer, product, image="cpu-python").json()
    assert market.wallet(buyer)["available"]["fen"] == before - 8000
    market.clock.advance(1740)
    assert loop(market).refunded == []
    market.clock.advance(120)
    summary = loop(market)
    assert summary.refunded == [order["id"]]
    ended = order_row(market, order["id"])
    assert ended["status"] == "cancelled" and ended["end_reason"] == "not_delivered"
    assert ended["charged"]["fen"] == 0 and ended["held"]["fen"] == 0
    assert market.wallet(buyer)["available"]["fen"] == before
    assert market.allocated(product) == 0
    (instance,) = instances_of(market, buyer, order["id"])
    assert instance["state"] == "failed" and "deadline" in instance["state_detail"]
    notes = market.client.get("/api/v1/notifications", headers=buyer["headers"]).json()["items"]
    assert any(n["kind"] == "delivery_failed" and "refunded in full" in n["message_en"] for n in notes)
    # a late delivery attempt changes nothing
    late = _deliver(market, seller, instance)
    assert late.status_code == 409 and late.json()["error"]["code"] == "instance_not_waiting"


def test_a_seller_that_cannot_deliver_refunds_the_lease(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market)
    buyer = _buyer_with_key(market, tmp_path)
    before = market.wallet(buyer)["available"]["fen"]
    order = market.order(buyer, product, units=2, image="cuda-pytorch").json()
    first, second = instances_of(market, buyer, order["id"])
    assert _deliver(market, seller, first).status_code == 200
    r = market.client.post(f"/api/v1/instances/{second['id']}/refuse", headers=seller["headers"],
                           json={"reason": "GPU 3 failed its burn-in test"})
    assert r.status_code == 200 and r.json()["state"] == "failed"
    assert order_row(market, order["id"])["end_reason"] == "not_delivered"
    assert market.wallet(buyer)["available"]["fen"] == before
    states = {i["unit_index"]: i["state"] for i in instances_of(market, buyer, order["id"])}
    assert states == {0: "stopped", 1: "failed"}  # the delivered sibling is taken back too


def test_reserved_term_is_settled_and_starts_at_delivery(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market, delivery="bare_metal")
    buyer = _buyer_with_key(market, tmp_path, topup_fen=5_000_000)
    order = market.order(buyer, product, mode="reserved", term_months=1, image="cuda-pytorch").json()
    assert order["status"] == "provisioning" and order["charged"]["fen"] == 0
    assert order["held"]["fen"] == 3_500_000 and order["ends_at"] is None
    seller_before = market.wallet(seller)["receivable"]["fen"]
    market.clock.advance(10800)
    (instance,) = instances_of(market, buyer, order["id"])
    assert _deliver(market, seller, instance).status_code == 200
    active = order_row(market, order["id"])
    assert active["status"] == "active" and active["charged"]["fen"] == 3_500_000 and active["held"]["fen"] == 0
    assert dt.datetime.fromisoformat(active["started_at"]) == market.clock.now()
    assert dt.datetime.fromisoformat(active["ends_at"]) > market.clock.now() + dt.timedelta(days=27)
    assert market.wallet(seller)["receivable"]["fen"] > seller_before


def test_release_or_cancel_before_delivery_charges_nothing(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market)
    buyer = _buyer_with_key(market, tmp_path)
    before = market.wallet(buyer)["available"]["fen"]
    for action in ("release", "cancel"):
        order = market.order(buyer, product, image="cuda-pytorch").json()
        market.clock.advance(600)  # past the 60 s free-cancel window of running leases
        r = market.client.post(f"/api/v1/orders/{order['id']}/{action}", headers=buyer["headers"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled" and r.json()["charged"]["fen"] == 0
        loop(market)
        (instance,) = instances_of(market, buyer, order["id"])
        assert instance["state"] == "stopped"
        assert _deliver(market, seller, instance).status_code == 409
    assert market.wallet(buyer)["available"]["fen"] == before
    assert market.allocated(product) == 0


def test_a_spot_lease_is_stopped_when_its_notice_runs_out(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market, stock_units=1)
    spot_buyer, od_buyer = _buyer_with_key(market, tmp_path), _buyer_with_key(market, tmp_path)
    spot = market.order(spot_buyer, product, mode="spot", bid_hourly_fen=3500, image="cuda-pytorch").json()
    (instance,) = instances_of(market, spot_buyer, spot["id"])
    assert _deliver(market, seller, instance).status_code == 200
    market.clock.advance(HOUR)
    waiting = market.order(od_buyer, product, image="cuda-pytorch")
    assert waiting.status_code == 202 and waiting.json()["status"] == "pending"
    (pending,) = instances_of(market, od_buyer, waiting.json()["id"])
    assert pending["state"] == "pending" and pending["delivery_deadline"] is None
    market.clock.advance(301)
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200 and r.json()["preempted"] == 1 and r.json()["activated"] == 1
    loop(market)
    assert instances_of(market, spot_buyer, spot["id"])[0]["state"] == "stopped"
    (now_provisioning,) = instances_of(market, od_buyer, waiting.json()["id"])
    assert now_provisioning["state"] == "provisioning" and now_provisioning["delivery_deadline"] is not None
    assert order_row(market, waiting.json()["id"])["status"] == "provisioning"


def test_bad_instance_orders_are_refused_and_change_nothing(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market)
    batch = market.make.product(seller, product["datacenter"], delivery="batch")
    buyer = market.buyer(1_000_000)
    keyless = market.order(buyer, product, image="cuda-pytorch")
    assert keyless.status_code == 422 and keyless.json()["error"]["code"] == "ssh_key_required"
    _, public = keypair(tmp_path)
    add_key(market, buyer, public)
    stranger_key = add_key(market, market.buyer(), keypair(tmp_path)[1])
    cases = [
        ({}, "image_required"),
        ({"image": "windows-11"}, "unknown_image"),
        ({"image": "cann-torch-npu"}, "image_not_offered"),
        ({"image": "cuda-pytorch", "ports": [80]}, "invalid_port"),
        ({"image": "cuda-pytorch", "ports": [22]}, "invalid_port"),
        ({"image": "cuda-pytorch", "ports": [8888]}, "invalid_port"),
        ({"image": "cuda-pytorch", "ports": [70000]}, "invalid_port"),
        ({"image": "cuda-pytorch", "ports": [9000, 9000]}, "invalid_port"),
        ({"image": "cuda-pytorch", "ssh_key_ids": [stranger_key["id"]]}, "ssh_key_not_found"),
    ]
    before = market.wallet(buyer)["available"]["fen"]
    for body, code in cases:
        r = market.order(buyer, product, **body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.json())
    wrong_kind = market.order(buyer, batch, image="cuda-pytorch")
    assert wrong_kind.status_code == 422 and wrong_kind.json()["error"]["code"] == "not_an_instance_product"
    too_many = market.order(buyer, product, image="cuda-pytorch", ports=list(range(9000, 9009)))
    assert too_many.status_code == 422
    assert market.wallet(buyer)["available"]["fen"] == before
    assert market.allocated(product) == 0
    orders = market.client.get("/api/v1/orders", headers=buyer["headers"]).json()
    assert orders["total"] == 0


def test_a_seller_cannot_deliver_what_is_not_theirs_or_with_bad_details(market: Market, tmp_path: Path) -> None:
    seller, product = machine_product(market)
    other_seller, _ = machine_product(market)
    buyer = _buyer_with_key(market, tmp_path)
    order = market.order(buyer, product, image="cuda-pytorch").json()
    (instance,) = instances_of(market, buyer, order["id"])
    assert _deliver(market, other_seller, instance).status_code == 404
    assert market.client.post(f"/api/v1/instances/{instance['id']}/deliver", headers=buyer["headers"],
                              json={"ssh_host": "x", "ssh_user": "y"}).status_code == 403
    for extra in ({"ssh_host": "bad host; rm -rf"}, {"ssh_user": "Root Admin"},
                  {"jupyter_url": "javascript:alert(1)"}, {"jupyter_url": "http://user:pw@host/"},
                  {"host_key_fingerprints": ["MD5:aa:bb"]}, {"ssh_port": 0}):
        r = _deliver(market, seller, instance, **extra)
        assert r.status_code == 422, (extra, r.text)
    assert instances_of(market, buyer, order["id"])[0]["state"] == "provisioning"
    assert order_row(market, order["id"])["status"] == "provisioning"
