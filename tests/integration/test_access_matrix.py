"""Who may call what: every authenticated operation of the API, tried by every kind of actor.

The threat model (docs/security.md) says buyers, sellers and operators each reach only their own records and
their own role's operations. This test holds the API to it, operation by operation, as an attacker would try it:
anonymous (no token, and a forged one), a buyer and a seller of *another* organization than the one that owns the
records in the path, and each role on the other roles' operations. The operations are read from the OpenAPI, so a
new authenticated endpoint fails here until it is given its rule in ``RULES``.

Phase 1 sends every request that must be refused (before the owners change anything, so a refusal is never only
"that record is gone"); phase 2 sends the owners' and the allowed roles' requests, which must not be refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from dataclasses import dataclass, field
from typing import Any

import pytest
from instance_helpers import add_key, instances_of, keypair, machine_product
from jobs_helpers import submit
from trading_helpers import Market, checked_market, quick_user

from suanli.db import Database

# Who owns the records in an operation's path: the "owner" actor of that role may act; the same role's actor
# of another organization must get 403 or 404.
BUYER, SELLER, OPERATOR = "buyer", "seller", "operator"


@dataclass(frozen=True)
class Rule:
    """``roles``: the roles allowed at all. ``owned``: the path names records of ``buyer_a`` or ``seller_a`` (the
    buyer's order, the seller's data center, ...), so the other organization of each allowed role must be refused.
    ``public``: anonymous callers are allowed too (the catalog's shop windows). ``body``: a well-formed JSON body,
    so that a refused caller is refused for who it is, not for what it sent."""
    roles: frozenset[str]
    owned: bool = False
    public: bool = False
    body: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def rule(*roles: str, owned: bool = False, public: bool = False, body: dict[str, Any] | None = None,
         **params: Any) -> Rule:
    return Rule(frozenset(roles), owned, public, body, params)


EVERYONE = (BUYER, SELLER, OPERATOR)

_SOON = datetime.now(UTC) + timedelta(days=10)  # requests' start windows; the market's clock starts before
RFQ_BODY = {"title": "t", "chip": "a800", "units": 1, "billing_mode": "on_demand", "term_hours": 1,
            "earliest_start": _SOON.isoformat(), "latest_start": (_SOON + timedelta(days=5)).isoformat(),
            "max_unit_price_fen": 1000}
QUOTE_BODY = {"datacenter_id": "{datacenter_id}", "chip": "a800", "accelerators": 8, "presale": True,
              "unit_price_fen": 900, "start_at": (_SOON + timedelta(days=1)).isoformat(),
              "deliver_by": _SOON.isoformat(), "penalty_fen": 100}

RULES: dict[tuple[str, str], Rule] = {
    # accounts: every signed-in user, each on their own account
    ("GET", "/api/v1/auth/api-keys"): rule(*EVERYONE),
    ("POST", "/api/v1/auth/api-keys"): rule(*EVERYONE, body={"name": "ci"}),
    ("DELETE", "/api/v1/auth/api-keys/{key_id}"): rule(BUYER, owned=True),
    ("POST", "/api/v1/auth/logout"): rule(*EVERYONE),
    ("GET", "/api/v1/auth/me"): rule(*EVERYONE),
    ("POST", "/api/v1/auth/password"): rule(*EVERYONE, body={"current_password": "correct-horse-battery",
                                                               "new_password": "a-new-long-passphrase-91"}),
    # catalog: data centers and products are the shop windows; sellers run their own, operators approve
    ("GET", "/api/v1/datacenters"): rule(*EVERYONE, public=True),
    ("POST", "/api/v1/datacenters"): rule(SELLER, body={"name": "新数据中心", "region_id": "{region_id}",
                                                        "tier": 3, "pue": "1.3", "green_power_pct": 10}),
    ("GET", "/api/v1/datacenters/{datacenter_id}"): rule(*EVERYONE, public=True),
    ("PATCH", "/api/v1/datacenters/{datacenter_id}"): rule(SELLER, OPERATOR, owned=True, body={"pue": "1.2"}),
    ("POST", "/api/v1/datacenters/{datacenter_id}/approve"): rule(OPERATOR),
    ("POST", "/api/v1/datacenters/{datacenter_id}/suspend"): rule(OPERATOR),
    ("GET", "/api/v1/datacenters/{datacenter_id}/products"): rule(SELLER, OPERATOR, owned=True),
    ("POST", "/api/v1/datacenters/{datacenter_id}/clusters"): rule(SELLER, OPERATOR, owned=True, body={
        "name": "second", "kind": "slurm", "endpoint": "http://127.0.0.1:9/",
        "credentials": {"user": "u", "token": "t"}, "product_ids": ["{product_id}"]}),
    ("GET", "/api/v1/datacenters/{datacenter_id}/clusters"): rule(SELLER, OPERATOR, owned=True),
    ("GET", "/api/v1/datacenters/{datacenter_id}/clusters/{cluster_id}"): rule(SELLER, OPERATOR, owned=True),
    ("DELETE", "/api/v1/datacenters/{datacenter_id}/clusters/{cluster_id}"): rule(SELLER, OPERATOR, owned=True),
    ("POST", "/api/v1/datacenters/{datacenter_id}/clusters/{cluster_id}/disable"): rule(SELLER, OPERATOR,
                                                                                        owned=True),
    ("POST", "/api/v1/datacenters/{datacenter_id}/clusters/{cluster_id}/enable"): rule(SELLER, OPERATOR,
                                                                                       owned=True),
    ("POST", "/api/v1/datacenters/{datacenter_id}/clusters/{cluster_id}/products"): rule(
        SELLER, OPERATOR, owned=True, body={"product_ids": ["{product_id}"]}),
    ("GET", "/api/v1/datacenters/{datacenter_id}/images"): rule(SELLER, OPERATOR, owned=True),
    ("PUT", "/api/v1/datacenters/{datacenter_id}/images"): rule(SELLER, OPERATOR, owned=True, body={"images": []}),
    ("POST", "/api/v1/regions"): rule(OPERATOR, body={"province": "江西", "city": "南昌", "hub": "长三角"}),
    ("POST", "/api/v1/products"): rule(SELLER, OPERATOR, owned=True, body={
        "datacenter_id": "{datacenter_id}", "name": "910B ×8", "kind": "accelerator", "chip": "910b",
        "accelerators": 8, "vcpus": 192, "memory_gib": 1024, "disk_gib": 4000, "network_gbps": 200,
        "delivery": "batch", "stock_units": 1, "price_on_demand_fen": 6000, "confirm_unusual_price": True}),
    ("GET", "/api/v1/products/{product_id}"): rule(*EVERYONE, public=True),
    ("PATCH", "/api/v1/products/{product_id}"): rule(SELLER, OPERATOR, owned=True, body={"stock_units": 3}),
    ("POST", "/api/v1/products/bulk"): rule(SELLER, OPERATOR, owned=True, body={
        "product_ids": ["{product_id}"], "status": "listed"}),
    ("POST", "/api/v1/products/{product_id}/list"): rule(SELLER, OPERATOR, owned=True),
    ("POST", "/api/v1/products/{product_id}/unlist"): rule(SELLER, OPERATOR, owned=True),
    ("GET", "/api/v1/products/{product_id}/images"): rule(*EVERYONE, public=True),
    ("GET", "/api/v1/products/{product_id}/quote"): rule(*EVERYONE, public=True, mode="on_demand", units=1),
    ("GET", "/api/v1/operator/unusual-prices"): rule(OPERATOR),
    # trading: a buyer's orders are seen by the buyer, the seller that sells them and operators; only the buyer
    # changes them
    ("POST", "/api/v1/orders"): rule(BUYER, body={"product_id": "{product_id}", "mode": "on_demand", "units": 1,
                                                  "image": "cuda-pytorch"}),
    ("GET", "/api/v1/orders"): rule(*EVERYONE),
    ("GET", "/api/v1/orders/{order_id}"): rule(*EVERYONE, owned=True),
    ("POST", "/api/v1/orders/{order_id}/cancel"): rule(BUYER, owned=True),
    ("POST", "/api/v1/orders/{order_id}/release"): rule(BUYER, owned=True),
    ("POST", "/api/v1/orders/{order_id}/extend"): rule(BUYER, owned=True, body={"term_months": 1}),
    ("GET", "/api/v1/orders/{order_id}/usage"): rule(*EVERYONE, owned=True),
    ("GET", "/api/v1/orders/{order_id}/instances"): rule(*EVERYONE, owned=True),
    ("GET", "/api/v1/wallet"): rule(*EVERYONE),
    ("GET", "/api/v1/ledger/entries"): rule(*EVERYONE),
    ("GET", "/api/v1/invoices"): rule(*EVERYONE),
    ("GET", "/api/v1/invoices/{invoice_id}"): rule(BUYER, OPERATOR, owned=True),
    ("GET", "/api/v1/ledger/rows"): rule(*EVERYONE),
    ("GET", "/api/v1/payouts"): rule(SELLER, OPERATOR),
    ("GET", "/api/v1/refunds"): rule(*EVERYONE),
    ("GET", "/api/v1/notifications"): rule(*EVERYONE),
    ("POST", "/api/v1/notifications/read"): rule(*EVERYONE, body={"ids": []}),
    ("GET", "/api/v1/seller/orders"): rule(SELLER),
    ("GET", "/api/v1/seller/payouts"): rule(SELLER),
    ("GET", "/api/v1/seller/revenue"): rule(SELLER),
    ("GET", "/api/v1/seller/utilization"): rule(SELLER),
    ("GET", "/api/v1/seller/volume"): rule(SELLER),
    ("GET", "/api/v1/operator/dashboard"): rule(OPERATOR),
    ("GET", "/api/v1/operator/ledger/trial-balance"): rule(OPERATOR),
    ("POST", "/api/v1/operator/metering/run"): rule(OPERATOR),
    # requests for quotes: buyers own their requests, sellers their quotes; contracts belong to both sides
    ("POST", "/api/v1/rfqs"): rule(BUYER, body=RFQ_BODY),
    ("GET", "/api/v1/rfqs"): rule(BUYER, OPERATOR),
    ("GET", "/api/v1/rfqs/{rfq_id}"): rule(BUYER, OPERATOR, owned=True),
    ("POST", "/api/v1/rfqs/{rfq_id}/accept"): rule(BUYER, owned=True, body={"quote_id": "{quote_id}"}),
    ("POST", "/api/v1/rfqs/{rfq_id}/cancel"): rule(BUYER, owned=True),
    ("GET", "/api/v1/seller/rfqs"): rule(SELLER),
    ("GET", "/api/v1/seller/rfqs/{rfq_id}"): rule(SELLER),
    ("POST", "/api/v1/seller/rfqs/{rfq_id}/quotes"): rule(SELLER, body=QUOTE_BODY),
    ("POST", "/api/v1/seller/quotes/{quote_id}/withdraw"): rule(SELLER, owned=True),
    ("POST", "/api/v1/seller/contracts/{contract_id}/deliver"): rule(SELLER, owned=True,
                                                                    body={"product_id": "{product_id}"}),
    ("GET", "/api/v1/contracts"): rule(*EVERYONE),
    ("GET", "/api/v1/contracts/{contract_id}"): rule(*EVERYONE, owned=True),
    ("POST", "/api/v1/operator/rfqs/sweep"): rule(OPERATOR),
    # emergency compute: operators declare and end; buyers answer the offers made to their reserved leases
    ("POST", "/api/v1/operator/emergencies"): rule(OPERATOR, body={
        "title": "t", "accelerators": 8, "chips": ["910b"], "duration_hours": 1,
        "compensation_fen_per_accel_hour": 1, "payer_org_id": "{buyer_org_id}"}),
    ("GET", "/api/v1/operator/emergencies"): rule(OPERATOR),
    ("GET", "/api/v1/operator/emergencies/{emergency_id}"): rule(OPERATOR),
    ("POST", "/api/v1/operator/emergencies/{emergency_id}/end"): rule(OPERATOR),
    ("GET", "/api/v1/emergency-offers"): rule(BUYER),
    ("POST", "/api/v1/emergency-offers/{offer_id}/answer"): rule(BUYER, owned=True, body={"accept": False}),
    ("POST", "/api/v1/operator/orders/{order_id}/refunds"): rule(OPERATOR, body={
        "amount_fen": 1, "reason": "test", "reference": "refund-matrix"}),
    ("POST", "/api/v1/operator/payouts"): rule(OPERATOR, body={
        "organization_id": "{seller_org_id}", "amount_fen": 1, "reference": "payout-matrix"}),
    ("POST", "/api/v1/operator/topups"): rule(OPERATOR, body={
        "organization_id": "{buyer_org_id}", "amount_fen": 1, "reference": "topup-matrix"}),
    ("GET", "/api/v1/operator/settings"): rule(OPERATOR),
    # price transparency: operators take snapshots and publish guidance prices (reading them is public)
    ("POST", "/api/v1/operator/price-index/snapshots"): rule(OPERATOR),
    ("PUT", "/api/v1/operator/guidance-prices/{chip}"): rule(OPERATOR, body={"price_fen": 1000, "band_pct": 30}),
    ("DELETE", "/api/v1/operator/guidance-prices/{chip}"): rule(OPERATOR),
    # unmet demand and the procurement planner: data centers (and operators), never buyers
    ("GET", "/api/v1/seller/demand"): rule(SELLER, OPERATOR),
    ("POST", "/api/v1/seller/demand/plan"): rule(SELLER, OPERATOR, body={
        "chip": "a800", "province": "安徽", "servers": 1, "price_per_accel_hour_fen": 1000, "days": 1}),
    ("PUT", "/api/v1/operator/settings"): rule(OPERATOR, body={}),
    ("POST", "/api/v1/operator/password-resets"): rule(OPERATOR, body={"email": "{other_buyer_email}"}),
    ("GET", "/api/v1/operator/audit"): rule(OPERATOR),
    ("GET", "/api/v1/operator/audit/verify"): rule(OPERATOR),
    ("POST", "/api/v1/operator/audit/verify"): rule(OPERATOR),
    # federation: operators run the platform's identity, peers and sharing; the offers peers share are shown to all
    ("POST", "/api/v1/operator/federation/identity"): rule(OPERATOR),
    ("POST", "/api/v1/operator/federation/keys/rotate"): rule(OPERATOR),
    ("GET", "/api/v1/operator/federation/peers"): rule(OPERATOR),
    ("POST", "/api/v1/operator/federation/peers"): rule(OPERATOR, body={"card": "not-a-real-card-xxxx",
                                                                          "scopes": ["catalog"]}),
    ("POST", "/api/v1/operator/federation/peers/{peer_id}/suspend"): rule(OPERATOR),
    ("POST", "/api/v1/operator/federation/peers/{peer_id}/resume"): rule(OPERATOR),
    ("POST", "/api/v1/operator/federation/peers/{peer_id}/revoke"): rule(OPERATOR),
    ("POST", "/api/v1/operator/federation/peers/{peer_id}/sync"): rule(OPERATOR),
    ("GET", "/api/v1/operator/federation/policy"): rule(OPERATOR),
    ("PUT", "/api/v1/operator/federation/policy"): rule(OPERATOR, body={"aggregation": "datacenter"}),
    ("GET", "/api/v1/operator/federation/shares"): rule(OPERATOR),
    ("POST", "/api/v1/operator/federation/shares"): rule(OPERATOR, body={"product_id": "{product_id}"}),
    ("DELETE", "/api/v1/operator/federation/shares/{product_id}"): rule(OPERATOR),
    # jobs and instances: the buyer's own work (logs: the buyer's alone); sellers see the jobs in their data
    # centers without their commands, and deliver the instances of their own data centers
    ("POST", "/api/v1/jobs"): rule(BUYER, body={
        "name": "matrix", "command": "true", "resources": {"accelerators": 1, "chip": "A800"},
        "objective": "cost", "mode": "on_demand", "max_runtime_minutes": 10}),
    ("GET", "/api/v1/jobs"): rule(*EVERYONE),
    ("GET", "/api/v1/jobs/{job_id}"): rule(BUYER, OPERATOR, owned=True),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): rule(BUYER, OPERATOR, owned=True),
    ("GET", "/api/v1/jobs/{job_id}/logs"): rule(BUYER, owned=True),
    ("POST", "/api/v1/operator/scheduler/run"): rule(OPERATOR),
    ("GET", "/api/v1/instances"): rule(*EVERYONE),
    ("GET", "/api/v1/instances/{instance_id}"): rule(*EVERYONE, owned=True),
    ("POST", "/api/v1/instances/{instance_id}/deliver"): rule(SELLER, owned=True, body={
        "ssh_host": "203.0.113.10", "ssh_port": 22, "ssh_user": "user"}),
    ("POST", "/api/v1/instances/{instance_id}/refuse"): rule(SELLER, owned=True, body={"reason": "hardware fault"}),
    ("GET", "/api/v1/ssh-keys"): rule(*EVERYONE),
    ("POST", "/api/v1/ssh-keys"): rule(*EVERYONE, body={"public_key": "{public_key}"}),
    ("DELETE", "/api/v1/ssh-keys/{key_id}"): rule(BUYER, owned=True),
    ("POST", "/api/v1/recommendations/launch"): rule(BUYER, body={
        "workload": {"kind": "llm_finetune", "method": "lora", "params_b": 7, "tokens": 100_000_000},
        "deadline_hours": 24}),
}


@pytest.fixture
def market(db: Database, make: Any) -> Iterator[Market]:
    yield from checked_market(db, make)


@dataclass
class World:
    actors: dict[str, dict[str, str] | None]  # name -> headers (None: anonymous)
    path_values: dict[str, str]
    body_values: dict[str, str]


def _build(market: Market, tmp_path: Any) -> World:
    """Two organizations of each role; the records named in paths belong to ``buyer_a`` and ``seller_a``."""
    buyer_a, buyer_b = market.buyer(topup_fen=1_000_000), market.buyer(topup_fen=1_000_000)
    seller_a, product = machine_product(market)
    seller_b = quick_user(market.db, "seller")
    datacenter_id = product["datacenter"]["id"]
    _, public_key = keypair(tmp_path)
    key_id = add_key(market, buyer_a, public_key)["id"]
    order = market.order(buyer_a, product, image="cuda-pytorch")
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    instance_id = instances_of(market, buyer_a, order_id)[0]["id"]
    _, second_public_key = keypair(tmp_path, name="second")
    api_key = market.client.post("/api/v1/auth/api-keys", headers=buyer_a["headers"], json={"name": "a"})
    assert api_key.status_code == 201, api_key.text
    cluster = market.client.post(f"/api/v1/datacenters/{datacenter_id}/clusters", headers=seller_a["headers"],
                                 json={"name": "main", "kind": "slurm", "endpoint": "http://127.0.0.1:9/", "credentials": {"user": "u", "token": "t"},
                                       "product_ids": [product["id"]]})
    assert cluster.status_code == 201, cluster.text
    job_id = submit(market, buyer_a)["id"]
    invoices = market.client.get("/api/v1/invoices", headers=buyer_a["headers"]).json()
    invoice_id = invoices[0]["id"] if invoices else str(uuid.uuid4())
    region_id = market.client.get("/api/v1/regions").json()[0]["id"]
    market.make.datacenter(seller_b)
    rfq_ids = []
    for _ in range(2):
        r = market.client.post("/api/v1/rfqs", headers=buyer_a["headers"], json=RFQ_BODY)
        assert r.status_code == 201, r.text
        rfq_ids.append(r.json()["id"])
    quote_ids = []
    for rfq_id in rfq_ids:
        r = market.client.post(f"/api/v1/seller/rfqs/{rfq_id}/quotes", headers=seller_a["headers"],
                               json=_fill(QUOTE_BODY, {"datacenter_id": datacenter_id}))
        assert r.status_code == 201, r.text
        quote_ids.append(r.json()["id"])
    contract = market.client.post(f"/api/v1/rfqs/{rfq_ids[1]}/accept", headers=buyer_a["headers"],
                                  json={"quote_id": quote_ids[1]})
    assert contract.status_code == 201, contract.text
    return World(
        actors={"anonymous": None, "forged token": {"Authorization": "Bearer " + "x" * 43},
                "buyer_a": buyer_a["headers"], "buyer_b": buyer_b["headers"],
                "seller_a": seller_a["headers"], "seller_b": seller_b["headers"],
                # an operator of its own: the matrix logs it out at the end, the ledger check after the test
                # needs the market's
                "operator": quick_user(market.db, "operator")["headers"]},
        path_values={"datacenter_id": datacenter_id, "product_id": product["id"], "order_id": order_id,
                     "instance_id": instance_id, "key_id": key_id, "cluster_id": cluster.json()["id"],
                     "job_id": job_id, "invoice_id": invoice_id, "peer_id": str(uuid.uuid4()),
                     "emergency_id": str(uuid.uuid4()), "offer_id": str(uuid.uuid4()),
                     "rfq_id": rfq_ids[0], "quote_id": quote_ids[0], "contract_id": contract.json()["id"],
                     "chip": "a800"},
        body_values={"region_id": region_id, "datacenter_id": datacenter_id, "product_id": product["id"],
                     "seller_org_id": seller_a["org_id"],
                     "buyer_org_id": buyer_a["org_id"], "other_buyer_email": buyer_b["email"],
                     "public_key": second_public_key, "quote_id": quote_ids[0]},
    )


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in values:
        return values[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _secured_operations(market: Market) -> set[tuple[str, str]]:
    spec = market.client.app.openapi()
    return {(method.upper(), path) for path, operations in spec["paths"].items()
            for method, operation in operations.items() if operation.get("security")}


def _refusals(rule_: Rule) -> dict[str, set[int]]:
    """Each actor that must be refused, and the statuses that count as a refusal."""
    refused: dict[str, set[int]] = {} if rule_.public else {"anonymous": {401}}
    refused["forged token"] = {401}
    own = {BUYER: "buyer_a", SELLER: "seller_a", OPERATOR: "operator"}
    other = {BUYER: "buyer_b", SELLER: "seller_b"}
    for role in EVERYONE:
        if role not in rule_.roles:
            refused[own[role]] = {403, 404}
        if role in other and (role not in rule_.roles or rule_.owned):
            refused[other[role]] = {403, 404}
    return refused


def _allowed(rule_: Rule) -> list[str]:
    own = {BUYER: "buyer_a", SELLER: "seller_a", OPERATOR: "operator"}
    return [own[role] for role in sorted(rule_.roles)]


def test_every_authenticated_operation_has_an_access_rule(market: Market) -> None:
    secured = _secured_operations(market)
    assert secured - RULES.keys() == set(), "give these new operations a rule in RULES"
    assert RULES.keys() - secured == set(), "these operations are gone (or no longer need a login)"


def test_every_actor_reaches_only_what_its_role_and_organization_may(market: Market, tmp_path: Any) -> None:
    world = _build(market, tmp_path)
    client = market.client
    wrong: list[str] = []
    tried = refused_count = 0

    def send(actor: str, method: str, path: str, rule_: Rule) -> Any:
        url = path.format(**world.path_values)
        headers = world.actors[actor] or {}
        body = _fill(rule_.body, world.body_values) if rule_.body is not None else None
        return client.request(method, url, headers=headers, params=rule_.params or None,
                              json=body if method in ("POST", "PUT", "PATCH") else None)

    # Phase 1: every request that must be refused, before any owner changes anything.
    for (method, path), rule_ in sorted(RULES.items()):
        for actor, statuses in _refusals(rule_).items():
            tried += 1
            r = send(actor, method, path, rule_)
            if r.status_code not in statuses:
                wrong.append(f"{actor} {method} {path}: {r.status_code} (expected {sorted(statuses)}) "
                             f"{r.text[:160]}")
            else:
                refused_count += 1
                assert "error" in r.json() and r.json()["error"]["code"], r.text
    # Phase 2: the owners and the allowed roles are not refused (they may still get a 4xx about the request).
    # Changing the password and logging out revoke tokens: last, in that order.
    last = [("POST", "/api/v1/auth/password"), ("POST", "/api/v1/auth/logout")]
    for (method, path), rule_ in sorted(RULES.items(), key=lambda item: (last.index(item[0]) if item[0] in last
                                                                         else -1, item[0])):
        for actor in _allowed(rule_):
            tried += 1
            r = send(actor, method, path, rule_)
            if r.status_code in (401, 403) or r.status_code >= 500:
                wrong.append(f"{actor} {method} {path}: {r.status_code} (allowed) {r.text[:160]}")
    print(f"\naccess matrix: {len(RULES)} operations, {tried} requests, {refused_count} refused as they must be")
    assert not wrong, "\n".join(wrong)
