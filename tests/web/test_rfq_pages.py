"""Requests for quotes in the consoles, through FastAPI's TestClient on SQLite and PostgreSQL: a buyer posts one
from the form (Beijing time), a seller sees it without the buyer and quotes pre-sale capacity, the buyer accepts
the quote, the seller confirms delivery; in zh-CN by default and in English; bad input answered on the form."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import warnings
from typing import Any

import pytest

from suanli.app import create_app
from suanli.core.billing import ManualClock
from suanli.jobs.models import Cluster
from support import PASSWORD
from web_support import WebClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

START = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


def page(user: dict[str, Any], app: Any) -> WebClient:
    web = WebClient(TestClient(app))
    web.login(user["email"], PASSWORD)
    return web


@pytest.fixture
def world(db, make) -> dict[str, Any]:
    clock = ManualClock(START)
    app = create_app(db, clock=clock)
    buyer, seller, operator = make.user("buyer"), make.user("seller"), make.user("operator")
    datacenter = make.datacenter(seller)
    org = make.client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    r = make.client.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": org, "amount_fen": 50_000_000, "reference": f"bank-{uuid.uuid4().hex}"})
    assert r.status_code in (200, 201), r.text
    return {"clock": clock, "app": app, "make": make, "buyer": buyer, "seller": seller, "datacenter": datacenter,
            "db": db, "buyer_name": make.client.get("/api/v1/auth/me", headers=buyer["headers"]).json()[
                "organization"]["name"]}


def test_post_quote_accept_and_deliver_from_the_consoles(world):
    buyer = page(world["buyer"], world["app"])
    listing = buyer.get("/account/rfqs")
    assert listing.status_code == 200 and "询价" in listing.text and 'data-testid="tab-rfqs"' in listing.text
    form = {"title": "推理集群", "chip": "A800", "accelerators": "8", "units": "2", "billing_mode": "reserved",
            "term_months": "1", "earliest_start": "2026-12-08T08:00", "latest_start": "2026-12-18T08:00",
            "province": "安徽", "max_price": "40000"}
    bad = buyer.post("/account/rfqs", form | {"max_price": "abc"})
    assert bad.status_code == 400 and 'data-testid="error-max_price"' in bad.text
    far = buyer.post("/account/rfqs", form | {"chip": "H9000"})
    assert far.status_code == 400 and "H9000" in far.text
    r = buyer.post("/account/rfqs", form)
    assert r.status_code == 303, r.text[:3000]
    rfq_url = r.headers["location"].split("?")[0]
    rfq_id = rfq_url.rsplit("/", 1)[1]
    detail = buyer.get(r.headers["location"])
    assert "预算在钱包中冻结" in detail.text and "¥80,000.00" in detail.text  # the budget: 2 × 40,000

    seller = page(world["seller"], world["app"])
    open_list = seller.get("/seller/rfqs")
    assert open_list.status_code == 200 and "推理集群" in open_list.text
    one = seller.get(f"/seller/rfqs/{rfq_id}")
    assert world["buyer_name"] not in one.text  # anonymized
    quote = {"datacenter_id": world["datacenter"]["id"], "chip": "a800", "accelerators": "8", "presale": "on",
             "price": "35000", "start_at": "2026-12-12T08:00", "deliver_by": "2026-12-11T08:00", "penalty": "5000"}
    refused = seller.post(f"/seller/rfqs/{rfq_id}/quotes", quote | {"price": "41000"})
    assert refused.status_code == 400 and "data-testid=\"form-error\"" in refused.text
    sent = seller.post(f"/seller/rfqs/{rfq_id}/quotes", quote)
    assert sent.status_code == 303, sent.text[:3000]

    shown = buyer.get(rfq_url)
    quote_id = re.search(r'name="quote_id" value="([^"]+)"', shown.text).group(1)
    assert "预售" in shown.text and "¥35,000.00" in shown.text
    accepted = buyer.post(f"{rfq_url}/accept", {"quote_id": quote_id})
    assert accepted.status_code == 303
    signed = buyer.get(accepted.headers["location"])
    assert 'data-testid="contract"' in signed.text and "待交付" in signed.text
    english = buyer.get(rfq_url + "?lang=en")
    assert "Awaiting delivery" in english.text and "Deposit in escrow" in english.text

    # The seller lists the capacity and registers a cluster that passed its health check, then delivers.
    make = world["make"]
    product = make.product(world["seller"], world["datacenter"], stock_units=2)
    cluster = make.client.post(f"/api/v1/datacenters/{world['datacenter']['id']}/clusters",
                               headers=world["seller"]["headers"],
                               json={"name": "new", "kind": "slurm", "endpoint": "http://127.0.0.1:9/",
                                     "credentials": {"user": "u", "token": "t"}, "product_ids": [product["id"]]})
    assert cluster.status_code == 201, cluster.text
    contracts = seller.get("/seller/rfqs")
    contract_id = re.search(r'action="/seller/contracts/([^/]+)/deliver"', contracts.text).group(1)
    unchecked = seller.post(f"/seller/contracts/{contract_id}/deliver", {"product_id": product["id"]})
    assert unchecked.status_code == 409 and 'data-testid="form-error"' in unchecked.text
    with world["db"].unit_of_work() as session:
        row = session.get_one(Cluster, uuid.UUID(cluster.json()["id"]))
        row.healthy, row.checked_at = True, world["clock"].now()
    seller.get("/seller/rfqs")
    delivered = seller.post(f"/seller/contracts/{contract_id}/deliver", {"product_id": product["id"]})
    assert delivered.status_code == 303, delivered.text[:3000]
    assert "已交付" in buyer.get(rfq_url).text
