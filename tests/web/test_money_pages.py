"""Money pages people can read, through FastAPI's TestClient on SQLite and PostgreSQL: the buyer's and the seller's
ledger rows (described, running balance, meter readings per order and Beijing day with a drill-down), the payouts
and refunds pages of sellers and operators, and the monthly statement (账单) in Beijing time."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from typing import Any

import pytest

from suanli.app import create_app
from suanli.core.billing import ManualClock, charge_for_seconds
from suanli.core.ledger import commission_fen
from support import PASSWORD
from web_support import WebClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

START = dt.datetime(2026, 11, 28, 15, 40, tzinfo=dt.UTC)  # 23:40 in Beijing: the lease's readings cross midnight


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def ledger_rows(html: str) -> list[tuple[str, str]]:
    """(kind, text) of each row of the ledger table, top (newest) first."""
    table = re.search(r'(?s)data-testid="ledger">(.*?)</table>', html).group(1)
    return [(kind, text_of(body).strip()) for kind, body in re.findall(r'(?s)<tr data-kind="(\w+)">(.*?)</tr>', table)]


@pytest.fixture
def market(db, make) -> dict[str, Any]:
    clock = ManualClock(START)
    client = TestClient(create_app(db, clock=clock))
    seller = make.user("seller")
    product = make.product(seller, make.datacenter(seller), name="A800 ×8 经济型", price_on_demand_fen=6000,
                           price_reserved_month_fen=100_000)
    buyer, operator = make.user("buyer"), make.user("operator")
    org = {who: make.client.get("/api/v1/auth/me", headers=u["headers"]).json()["organization"]["id"]
           for who, u in (("buyer", buyer), ("seller", seller))}
    return {"clock": clock, "client": client, "seller": seller, "product": product, "buyer": buyer,
            "operator": operator, "org": org}


def api(m: dict[str, Any], who: str, method: str, path: str, **body: Any) -> dict:
    r = m["client"].request(method, path, headers=m[who]["headers"], json=body or None)
    assert r.status_code in (200, 201), r.text
    return r.json()


def topup(m: dict[str, Any], fen: int, reference: str) -> None:
    api(m, "operator", "POST", "/api/v1/operator/topups", organization_id=m["org"]["buyer"], amount_fen=fen,
        reference=reference)


def web_as(m: dict[str, Any], who: str) -> WebClient:
    web = WebClient(m["client"])
    web.login(m[who]["email"], PASSWORD)
    return web


def test_the_buyers_wallet_reads_as_described_rows_with_a_running_balance(market):
    m = market
    topup(m, 100_000, "BANK-77")
    order = api(m, "buyer", "POST", "/api/v1/orders", product_id=m["product"]["id"], mode="on_demand", units=1)
    for _ in range(4):  # readings at 23:50, 00:00, 00:10, 00:20 Beijing time: two Beijing days
        m["clock"].advance(600)
        api(m, "operator", "POST", "/api/v1/operator/metering/run")
    m["clock"].advance(23)
    api(m, "buyer", "POST", f"/api/v1/orders/{order['id']}/release")
    web = web_as(m, "buyer")
    html = web.get("/account").text
    rows = ledger_rows(html)
    assert [k for k, _t in rows] == ["charge", "meter", "meter", "hold", "topup"]
    used = charge_for_seconds(6000, 1, 2423)
    charge, day2, day1, hold, top = (t for _k, t in rows)
    assert "扣费" in charge and "A800 ×8 经济型" in charge and order["id"][:12] in charge
    assert "¥1,000.00" in top and "BANK-77" in top and "充值" in top
    assert "计量 3 次" in day2 and "2026-11-29 00:00–00:20" in day2  # Beijing days and times
    assert "计量 1 次" in day1 and "2026-11-28 23:50" in day1
    assert "冻结 +¥60.00" in hold and "其中冻结 ¥60.00" in hold
    assert f"¥{(100_000 - used) / 100:,.2f}" in charge  # the last balance is the wallet: exact fen
    assert "—" not in charge  # a charge has its amount and balance
    assert f'href="/account/orders/{order["id"]}"' in html

    drill = re.search(r'href="([^"]+)" data-testid="drill"', html).group(1).replace("&amp;", "&")
    assert "day=2026-11-29" in drill
    readings = ledger_rows(web.get(drill).text)
    assert len(readings) == 3 and all(k == "charge" and "00:" in t for k, t in readings)

    english = web.get("/account?lang=en").text
    assert "Meter readings" in english and "3 meter readings" in english and "Top-up" in english


def test_sellers_see_their_ledger_payouts_and_the_refunds_they_gave(market):
    m = market
    topup(m, 1_000_000, "BANK-1")
    order = api(m, "buyer", "POST", "/api/v1/orders", product_id=m["product"]["id"], mode="reserved", term_months=1, units=1)
    api(m, "operator", "POST", f"/api/v1/operator/orders/{order['id']}/refunds", amount_fen=10_001,
        reference="TICKET-5")
    api(m, "operator", "POST", "/api/v1/operator/payouts", organization_id=m["org"]["seller"], amount_fen=5_000,
        reference="PAY-5")
    web = web_as(m, "seller")
    rows = ledger_rows(web.get("/seller/ledger").text)
    assert [k for k, _t in rows] == ["payout", "refund", "charge"]
    seller_part = 10_001 - commission_fen(10_001, order["commission_bp"])
    assert f"-¥{seller_part / 100:,.2f}" in rows[1][1] and "A800 ×8 经济型" in rows[1][1]
    earned = 100_000 - commission_fen(100_000, order["commission_bp"])
    assert f"¥{(earned - seller_part - 5_000) / 100:,.2f}" in rows[0][1]
    payouts = text_of(web.get("/seller/payouts").text)
    assert "PAY-5" in payouts and "¥50.00" in payouts
    refunds = text_of(web.get("/seller/refunds").text)
    assert "TICKET-5" in refunds and f"¥{seller_part / 100:,.2f}" in refunds and "A800 ×8 经济型" in refunds


def test_operators_page_through_all_payouts_and_refunds_filtered_by_organization_and_day(market, make):
    m = market
    topup(m, 1_000_000, "BANK-1")
    order = api(m, "buyer", "POST", "/api/v1/orders", product_id=m["product"]["id"], mode="reserved", term_months=1, units=1)
    for n in range(51):
        api(m, "operator", "POST", "/api/v1/operator/payouts", organization_id=m["org"]["seller"], amount_fen=100,
            reference=f"PAY-{n:03d}")
    other = make.user("seller")
    api(m, "operator", "POST", f"/api/v1/operator/orders/{order['id']}/refunds", amount_fen=500, reference="TK-1")
    web = web_as(m, "operator")
    first = web.get("/operator/payouts").text
    assert "PAY-050" in first and "PAY-000" not in first and "1–50" in text_of(first)
    assert "PAY-000" in web.get("/operator/payouts?offset=50").text
    other_org = make.client.get("/api/v1/auth/me", headers=other["headers"]).json()["organization"]["id"]
    assert "PAY-0" not in web.get(f"/operator/payouts?org={other_org}").text
    assert "PAY-050" in web.get("/operator/payouts?since=2026-11-28&until=2026-11-28").text
    later = web.get("/operator/payouts?since=2026-11-30")
    assert later.status_code == 200 and "PAY-0" not in later.text
    bad = web.get("/operator/payouts?since=30-11-2026")
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text
    refunds = text_of(web.get("/operator/refunds").text)
    assert "TK-1" in refunds and "¥5.00" in refunds and "A800 ×8 经济型" in refunds
    assert "TK-1" not in web.get(f"/operator/refunds?org={other_org}").text
    assert "TK-1" in web.get(f"/operator/refunds?org={m['org']['buyer']}").text
