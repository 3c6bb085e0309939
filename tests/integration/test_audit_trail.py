"""The audit trail over the API, on SQLite and PostgreSQL: what the services record (who, from where, what),
that a refused change records nothing, that the operator lists and verifies it, that tampering through SQL is
found, and that concurrent appenders leave one unbroken chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from trading_helpers import Market, checked_market, quick_user, race

from suanli.accounts.models import User
from suanli.audit.models import AuditChainHead, AuditEntryRow


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def entries(market: Market, **params: Any) -> list[dict[str, Any]]:
    r = market.client.get("/api/v1/operator/audit", headers=market.operator["headers"],
                          params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def verification(market: Market) -> dict[str, Any]:
    r = market.client.get("/api/v1/operator/audit/verify", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def user_id(market: Market, email: str) -> str:
    with market.db.unit_of_work(write=False) as session:
        return str(session.scalar(select(User.id).where(User.email == email)))


def test_money_orders_and_admin_actions_are_recorded_with_who_and_from_where(market: Market) -> None:
    buyer = market.buyer(topup_fen=100_000)
    seller, product = market.seller_with_product()
    operator_id = user_id(market, market.operator["email"])
    buyer_id = user_id(market, buyer["email"])

    released = market.order(buyer, product).json()
    market.clock.advance(seconds=3600)
    assert market.client.post(f"/api/v1/orders/{released['id']}/release", headers=buyer["headers"]).status_code == 200
    cancelled = market.order(buyer, product).json()
    assert market.client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=buyer["headers"]).status_code == 200
    r = market.client.post(f"/api/v1/operator/orders/{released['id']}/refunds", headers=market.operator["headers"],
                           json={"amount_fen": 1000, "reference": "refund-1"})
    assert r.status_code == 201, r.text
    r = market.client.post("/api/v1/operator/payouts", headers=market.operator["headers"],
                           json={"organization_id": released["seller_org_id"], "amount_fen": 500,
                                 "reference": "payout-1"})
    assert r.status_code == 201, r.text
    assert market.client.put("/api/v1/operator/settings", headers=market.operator["headers"],
                             json={"commission_bp": 700}).status_code == 200
    r = market.client.post("/api/v1/operator/password-resets", headers=market.operator["headers"],
                           json={"email": buyer["email"]})
    assert r.status_code == 201, r.text
    one_time = r.json()["one_time_password"]

    trail = entries(market)
    actions = [e["action"] for e in reversed(trail)]
    assert actions == ["money.topup", "order.placed", "order.released", "order.placed", "order.cancelled",
                       "money.refund", "money.payout", "settings.changed", "user.password_reset"]
    by_action = {e["action"]: e for e in trail}
    topup = by_action["money.topup"]
    assert topup["actor_user_id"] == operator_id and topup["address"] == "testclient"
    assert topup["target"] == f"organization:{buyer['org_id']}" and topup["details"]["amount_fen"] == 100_000
    placed = [e for e in trail if e["action"] == "order.placed"][-1]  # the first order
    assert placed["actor_user_id"] == buyer_id and placed["address"] == "testclient"
    assert placed["target"] == f"order:{released['id']}"
    assert placed["details"]["units"] == 1 and placed["details"]["unit_price_fen"] == 8000
    assert placed["details"]["held_fen"] == 8000 and placed["details"]["mode"] == "on_demand"
    assert by_action["order.released"]["details"] == {"charged_fen": 8000}
    assert by_action["order.cancelled"]["details"] == {"released_fen": 8000}
    assert by_action["money.refund"]["details"]["amount_fen"] == 1000
    assert by_action["money.payout"]["details"] == {"amount_fen": 500, "reference": "payout-1"}
    assert by_action["settings.changed"]["details"] == {"commission_bp": 700}
    reset = by_action["user.password_reset"]
    assert reset["target"] == f"user:{buyer_id}" and reset["actor_user_id"] == operator_id
    assert one_time not in str(trail) and "password_hash" not in str(trail)
    assert [e["seq"] for e in trail] == list(range(len(trail), 0, -1))
    assert verification(market) == {"intact": True, "checked": len(trail), "first_broken_seq": None,
                                    "reason": None, "head_seq": len(trail)}


def test_registration_approval_and_clusters_are_recorded(market: Market, make) -> None:
    seller = make.user("seller")
    seller_id = user_id(market, seller["email"])
    created = entries(market, action="user.created")
    assert [e["target"] for e in created] == [f"user:{seller_id}"]
    assert created[0]["actor_user_id"] is None and created[0]["details"]["role"] == "seller"
    datacenter = make.datacenter(seller, approved=False)
    r = market.client.post(f"/api/v1/datacenters/{datacenter['id']}/approve", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    (approved,) = entries(market, action="datacenter.approved")
    assert approved["target"] == f"datacenter:{datacenter['id']}"
    assert approved["actor_user_id"] == user_id(market, market.operator["email"])
    r = market.client.post(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"],
                           json={"name": "ray-a", "kind": "ray", "endpoint": "http://127.0.0.1:1"})
    assert r.status_code == 201, r.text
    cluster = r.json()
    r = market.client.delete(f"/api/v1/datacenters/{datacenter['id']}/clusters/{cluster['id']}",
                             headers=seller["headers"])
    assert r.status_code == 200, r.text
    (registered,) = entries(market, action="cluster.registered")
    assert registered["actor_user_id"] == seller_id and registered["details"]["kind"] == "ray"
    assert "credentials" not in registered["details"]
    (deleted,) = entries(market, action="cluster.deleted")
    assert deleted["target"] == f"cluster:{cluster['id']}"
    assert verification(market)["intact"]


def test_a_refused_or_repeated_change_records_nothing(market: Market) -> None:
    buyer = market.buyer()
    _seller, product = market.seller_with_product()
    assert market.order(buyer, product).status_code == 402  # no money: nothing placed, nothing recorded
    market.topup(buyer, 10_000, reference="bank-1")
    market.topup(buyer, 10_000, reference="bank-1")  # the same payment again: a no-op
    assert [e["action"] for e in entries(market)] == ["money.topup"]
    first = market.order(buyer, product, key="k-1")
    again = market.order(buyer, product, key="k-1")
    assert first.status_code == 201 and again.status_code == 200
    assert [e["action"] for e in entries(market)] == ["order.placed", "money.topup"]


def test_only_operators_read_the_trail_and_pages_go_back_in_time(market: Market) -> None:
    buyer = market.buyer()
    for n in range(5):
        market.topup(buyer, 100 + n)
    assert market.client.get("/api/v1/operator/audit", headers=buyer["headers"]).status_code == 403
    assert market.client.get("/api/v1/operator/audit/verify", headers=buyer["headers"]).status_code == 403
    r = market.client.get("/api/v1/operator/audit", headers=market.operator["headers"], params={"limit": 2})
    page = r.json()
    assert [e["seq"] for e in page["items"]] == [5, 4] and page["total"] == 5 and page["next_before_seq"] == 4
    r = market.client.get("/api/v1/operator/audit", headers=market.operator["headers"],
                          params={"limit": 2, "before_seq": 2})
    assert [e["seq"] for e in r.json()["items"]] == [1] and r.json()["next_before_seq"] is None
    assert market.client.get("/api/v1/operator/audit", headers=market.operator["headers"],
                             params={"limit": 0}).status_code == 422
    r = market.client.post("/api/v1/operator/audit/verify", headers=market.operator["headers"])
    assert r.status_code == 200 and r.json()["intact"] is True


def _five_entries(market: Market) -> None:
    buyer = market.buyer()
    for n in range(5):
        market.topup(buyer, 1000 + n)


def _sql(market: Market, statement) -> None:
    with market.db.unit_of_work() as session:
        session.execute(statement)


@pytest.mark.parametrize("tamper, broken_at", [
    (update(AuditEntryRow).where(AuditEntryRow.seq == 3).values(details='{"amount_fen":1,"reference":"x"}'), 3),
    (update(AuditEntryRow).where(AuditEntryRow.seq == 2).values(address="198.51.100.7"), 2),
    (update(AuditEntryRow).where(AuditEntryRow.seq == 4).values(actor_user_id=None), 4),
    (delete(AuditEntryRow).where(AuditEntryRow.seq == 2), 2),
    (delete(AuditEntryRow).where(AuditEntryRow.seq == 5), 5),
    (update(AuditChainHead).values(seq=4), 5),
    (delete(AuditChainHead), 1),
], ids=["details", "address", "actor", "removed", "newest removed", "head moved back", "head removed"])
def test_tampering_through_sql_is_found_at_the_first_broken_entry(market: Market, tamper, broken_at: int) -> None:
    _five_entries(market)
    assert verification(market)["intact"]
    _sql(market, tamper)
    result = verification(market)
    assert result["intact"] is False and result["first_broken_seq"] == broken_at, result
    assert result["reason"]



def test_without_its_head_the_trail_refuses_changes_instead_of_forking(market: Market) -> None:
    _five_entries(market)
    _sql(market, delete(AuditChainHead))
    r = market.client.post("/api/v1/operator/topups", headers=market.operator["headers"], json={
        "organization_id": market.buyer()["org_id"], "amount_fen": 100, "reference": "after-the-head"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "audit_head_missing", r.text
    assert "suanli audit verify" in r.json()["error"]["message"]
    assert len(entries(market)) == 5  # and the top-up was not stored either (checked by the market's ledger check)


def test_an_inserted_entry_is_found(market: Market) -> None:
    _five_entries(market)
    with market.db.unit_of_work() as session:
        row = session.get_one(AuditEntryRow, 5)
        forged = {c.name: getattr(row, c.key) for c in AuditEntryRow.__table__.columns}
    _sql(market, update(AuditEntryRow).where(AuditEntryRow.seq == 5).values(seq=6))
    _sql(market, insert(AuditEntryRow).values({**forged, "target": f"organization:{uuid.uuid4()}"}))
    result = verification(market)
    assert result["intact"] is False and result["first_broken_seq"] == 5


def test_concurrent_appenders_leave_one_unbroken_chain(market: Market) -> None:
    buyers = [market.buyer() for _ in range(4)]
    _seller, product = market.seller_with_product(stock_units=40)
    for b in buyers:
        market.topup(b, 1_000_000)
    topups = [lambda c, b=b, n=n: c.post("/api/v1/operator/topups", headers=market.operator["headers"], json={
        "organization_id": b["org_id"], "amount_fen": 100 + n, "reference": f"race-{n}"})
        for n, b in enumerate(buyers * 2)]
    orders = [lambda c, b=b: c.post("/api/v1/orders", headers=b["headers"],
                                    json={"product_id": product["id"], "mode": "on_demand", "units": 1})
              for b in buyers * 2]
    answers = race(market, topups + orders)
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers if r.status_code != 201]
    trail = entries(market)
    assert sorted(e["seq"] for e in trail) == list(range(1, 4 + 16 + 1))
    assert sum(e["action"] == "order.placed" for e in trail) == 8
    result = verification(market)
    assert result["intact"] and result["head_seq"] == 20


def test_operator_users_made_outside_a_request_are_recorded_without_an_actor(market: Market) -> None:
    extra = quick_user(market.db, "operator")  # made in the database directly: no service, no entry
    assert entries(market) == []
    assert extra["email"]


def test_orders_the_platform_ends_are_recorded(market: Market) -> None:
    _seller, product = market.seller_with_product(price_on_demand_fen=3600, price_spot_floor_fen=None)
    buyer = market.buyer(topup_fen=3_700_000)
    leased = market.order(buyer, product).json()
    reserved = market.order(buyer, product, mode="reserved", term_months=1).json()
    market.clock.advance(40 * 86400)  # the lease outruns the money left; the reserved term is over
    r = market.client.post("/api/v1/operator/metering/run", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    ended = {e["target"]: e for e in entries(market, action="order.ended")}
    assert ended[f"order:{leased['id']}"]["details"]["reason"] == "out_of_funds"
    assert ended[f"order:{reserved['id']}"]["details"] == {"reason": "term_ended",
                                                           "charged_fen": reserved["charged"]["fen"]}
    # the meter works in units of work of its own, whoever asked for the run: the platform is the actor
    assert {(e["actor_user_id"], e["address"]) for e in ended.values()} == {(None, None)}
    assert verification(market)["intact"]


def test_two_appending_threads_never_fork_the_chain(db) -> None:
    """Straight through the service, no HTTP: two threads, each appending 40 entries in transactions of their
    own (with a little work between the append and the commit, so the transactions overlap)."""
    import threading

    from suanli.audit.service import record, verify

    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def append(name: str) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(40):
                with db.unit_of_work() as session:
                    record(session, None, "test.append", f"{name}:{n}", {"n": n})
                    session.execute(select(AuditEntryRow.seq).limit(1))  # still holding the head
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    with db.unit_of_work(write=False) as session:
        report = verify(session)
        targets = set(session.scalars(select(AuditEntryRow.target)))
    assert report.verification.intact and report.verification.checked == 80 and report.head.seq == 80
    assert targets == {f"{name}:{n}" for name in "ab" for n in range(40)}
