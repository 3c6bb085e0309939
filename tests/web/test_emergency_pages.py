"""Emergency compute in the consoles, through FastAPI's TestClient on SQLite and PostgreSQL: the operator follows an
emergency's parts and progress and ends it; the holder of a reserved lease accepts the offer from its console and
is compensated; in zh-CN by default and in English; a second answer is refused on the page."""

from __future__ import annotations

import uuid
import warnings

from suanli.app import create_app
from suanli.core.billing import ManualClock
from test_rfq_pages import START, page  # log in to the consoles as the requests-for-quotes pages do

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_operator_follows_and_ends_an_emergency_and_the_holder_accepts_in_its_console(db, make):
    app = create_app(db, clock=ManualClock(START))
    api = TestClient(app)
    seller, holder, payer, operator = make.user("seller"), make.user("buyer"), make.user("buyer"), make.user("operator")
    orgs = {}
    for name, user in (("holder", holder), ("payer", payer)):
        orgs[name] = api.get("/api/v1/auth/me", headers=user["headers"]).json()["organization"]["id"]
        r = api.post("/api/v1/operator/topups", headers=operator["headers"], json={
            "organization_id": orgs[name], "amount_fen": 50_000_000, "reference": f"bank-{uuid.uuid4().hex}"})
        assert r.status_code in (200, 201), r.text
    product = make.product(seller, make.datacenter(seller), stock_units=2)
    r = api.post("/api/v1/orders", headers=holder["headers"], json={
        "product_id": product["id"], "mode": "reserved", "units": 2, "term_months": 1})
    assert r.status_code == 201, r.text
    r = api.post("/api/v1/operator/emergencies", headers=operator["headers"], json={
        "title": "台风路径预报", "accelerators": 16, "chips": ["a800"], "duration_hours": 10,
        "compensation_fen_per_accel_hour": 100, "payer_org_id": orgs["payer"]})
    assert r.status_code == 201, r.text
    em = r.json()

    ops = page(operator, app)
    listing = ops.get("/operator/emergencies")
    assert listing.status_code == 200 and "台风路径预报" in listing.text and 'data-testid="tab-emergencies"' in listing.text
    detail = ops.get(f"/operator/emergencies/{em['id']}")
    assert detail.status_code == 200 and "尚未调集到算力" in detail.text and "待答复" in detail.text

    owner = page(holder, app)
    offers = owner.get("/account/emergency-offers")
    assert offers.status_code == 200 and "台风路径预报" in offers.text and "¥160.00" in offers.text  # 100 fen × 16 × 10 h
    offer_id = em["parts"][0]["id"]
    before = api.get("/api/v1/wallet", headers=holder["headers"]).json()["available"]["fen"]
    r = owner.post(f"/account/emergency-offers/{offer_id}/answer", {"accept": "1"})
    assert r.status_code == 303, r.text[:2000]
    done = owner.get(r.headers["location"])
    assert "已接受邀约" in done.text and "已借出" in done.text and "包月订单" in done.text
    assert api.get("/api/v1/wallet", headers=holder["headers"]).json()["available"]["fen"] == before + 16_000
    again = owner.post(f"/account/emergency-offers/{offer_id}/answer", {"accept": "0"})
    assert again.status_code == 409 and "该邀约已答复过" in again.text
    overview = owner.get("/account")
    assert "应急算力「台风路径预报」" in overview.text  # the notice on the console overview

    detail = ops.get(f"/operator/emergencies/{em['id']}")
    assert 'data-testid="chart-emergency-progress"' in detail.text and "16 / 16" in detail.text
    english = ops.get(f"/operator/emergencies/{em['id']}?lang=en")
    assert "Accelerators assembled" in english.text and "Reserved, lent" in english.text
    r = ops.post(f"/operator/emergencies/{em['id']}/end", {})
    assert r.status_code == 303
    ended = ops.get(r.headers["location"])
    assert "应急任务已结束" in ended.text and 'data-testid="end-emergency"' not in ended.text
    r = ops.post(f"/operator/emergencies/{em['id']}/end", {})
    assert r.status_code == 409 and "该应急任务已结束" in r.text


def test_operator_declares_an_emergency_from_the_console_and_bad_input_is_shown_on_the_form(db, make):
    app = create_app(db, clock=ManualClock(START))
    api = TestClient(app)
    seller, payer, operator = make.user("seller"), make.user("buyer"), make.user("operator")
    payer_org = api.get("/api/v1/auth/me", headers=payer["headers"]).json()["organization"]["id"]
    r = api.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": payer_org, "amount_fen": 50_000_000, "reference": f"bank-{uuid.uuid4().hex}"})
    assert r.status_code in (200, 201), r.text
    datacenter = make.datacenter(seller)
    make.product(seller, datacenter, stock_units=3)
    ops = page(operator, app)
    shown = ops.get("/operator/emergencies").text
    assert 'data-testid="declare-form"' in shown and payer_org in shown and "CANN" in shown
    form = {"title": "台风路径预报", "accelerators": "16", "duration_hours": "6", "rate": "1.50",
            "payer_org_id": payer_org, "chips": "A800", "provinces": ""}
    bad = ops.post("/operator/emergencies", form | {"rate": "abc", "accelerators": "0"})
    assert bad.status_code == 400
    assert 'data-testid="error-rate"' in bad.text and 'data-testid="error-accelerators"' in bad.text
    unknown = ops.post("/operator/emergencies", form | {"chips": "H9000"})
    assert unknown.status_code == 400 and 'data-testid="form-error"' in unknown.text
    assert api.get("/api/v1/operator/emergencies", headers=operator["headers"]).json()["total"] == 0
    r = ops.post("/operator/emergencies", form | {"chips": "A800，910B", "ecosystems": ["cuda"]})
    assert r.status_code == 303, r.text[:3000]
    detail = ops.get(r.headers["location"]).text
    assert "应急任务已发布" in detail and "台风路径预报" in detail
    (declared,) = api.get("/api/v1/operator/emergencies", headers=operator["headers"]).json()["items"]
    assert declared["accelerators"] == 16 and declared["compensation_per_accel_hour"]["fen"] == 150
    assert declared["chips"][0] == "a800" and len(declared["chips"]) == 2 and declared["ecosystems"] == ["cuda"]
    assert declared["planned"] == 16 and declared["by_stage"].get("free") == 16  # 2 of the 3 free 8×A800 units
