"""Shared pieces of the requests-for-quotes tests: posting, quoting, delivering capacity, and the escrow check."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from trading_helpers import START, Market, assert_ledger_consistent, quick_user

from suanli.jobs.models import Cluster

assert_escrow_consistent = assert_ledger_consistent  # it counts requests' budgets and contracts' deposits

DAY = timedelta(days=1)
MAX_PRICE = 4_000_000  # per unit-month, fen
EARLIEST, LATEST = START + 10 * DAY, START + 20 * DAY


def post(market: Market, buyer: dict[str, Any], **overrides: Any):
    body: dict[str, Any] = {
        "title": "大模型预训练 64 卡", "chip": "A800", "accelerators": 8, "units": 2, "billing_mode": "reserved",
        "term_months": 1, "earliest_start": EARLIEST.isoformat(), "latest_start": LATEST.isoformat(),
        "province": "安徽", "max_unit_price_fen": MAX_PRICE}
    body.update(overrides)
    return market.client.post("/api/v1/rfqs", headers=buyer["headers"], json=body)


def posted(market: Market, buyer: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    r = post(market, buyer, **overrides)
    assert r.status_code == 201, r.text
    return r.json()


def seller_with_datacenter(market: Market) -> tuple[dict[str, Any], dict[str, Any]]:
    """A seller with an approved data center in 安徽 (芜湖) and no products: capacity to build."""
    seller = quick_user(market.db, "seller")
    return seller, market.make.datacenter(seller)


def quote(market: Market, seller: dict[str, Any], datacenter: dict[str, Any], request_id: str, **overrides: Any):
    body: dict[str, Any] = {
        "datacenter_id": datacenter["id"], "chip": "a800", "accelerators": 8, "presale": True,
        "unit_price_fen": 3_500_000, "start_at": (START + 15 * DAY).isoformat(),
        "deliver_by": (START + 14 * DAY).isoformat(), "penalty_fen": 500_000, "note": "新集群 12 月上架"}
    body.update(overrides)
    return market.client.post(f"/api/v1/seller/rfqs/{request_id}/quotes", headers=seller["headers"], json=body)


def quoted(market: Market, seller: dict[str, Any], datacenter: dict[str, Any], request_id: str,
           **overrides: Any) -> dict[str, Any]:
    r = quote(market, seller, datacenter, request_id, **overrides)
    assert r.status_code == 201, r.text
    return r.json()


def accept(market: Market, buyer: dict[str, Any], request_id: str, quote_id: str, client: Any = None):
    return (client or market.client).post(f"/api/v1/rfqs/{request_id}/accept", headers=buyer["headers"],
                                          json={"quote_id": quote_id})


def build_capacity(market: Market, seller: dict[str, Any], datacenter: dict[str, Any], *, units: int = 2,
                   healthy: bool = True, **overrides: Any) -> dict[str, Any]:
    """The seller lists the capacity it built and registers its cluster; ``healthy``: the scheduler's health
    check passed (recorded on the cluster as the scheduler does), else it has not run yet."""
    product = market.make.product(seller, datacenter, stock_units=units, price_reserved_month_fen=3_900_000,
                                  **overrides)
    r = market.client.post(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"],
                           json={"name": f"new-{uuid.uuid4().hex[:6]}", "kind": "slurm",
                                 "endpoint": "http://127.0.0.1:9/", "credentials": {"user": "u", "token": "t"},
                                 "product_ids": [product["id"]]})
    assert r.status_code == 201, r.text
    with market.db.unit_of_work() as session:
        cluster = session.get_one(Cluster, uuid.UUID(r.json()["id"]))
        cluster.healthy, cluster.checked_at = healthy, market.clock.now() if healthy else None
    return product


def deliver(market: Market, seller: dict[str, Any], contract_id: str, product_id: str):
    return market.client.post(f"/api/v1/seller/contracts/{contract_id}/deliver", headers=seller["headers"],
                              json={"product_id": product_id})


def sweep(market: Market) -> dict[str, Any]:
    r = market.client.post("/api/v1/operator/rfqs/sweep", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == 0, r.json()
    return r.json()


def contract(market: Market, user: dict[str, Any], contract_id: str) -> dict[str, Any]:
    r = market.client.get(f"/api/v1/contracts/{contract_id}", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def at(market: Market, when: Any) -> None:
    """Move the market's clock forward to ``when``."""
    market.clock.advance((when - market.clock.now()).total_seconds())
