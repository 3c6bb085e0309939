"""The operator console through FastAPI's TestClient, on SQLite and PostgreSQL: approving and suspending data
centers, top-ups (idempotent on the reference), the commission rate, the trial balance, the dashboard's charts,
role checks and CSRF."""

from __future__ import annotations

import re
import uuid
from typing import Any

from support import PASSWORD
from test_seller_pages import chart_option, errors_of

from suanli.web.i18n import ZH, format_money, gettext_for

zh = gettext_for(ZH)


def operator_in(web: Any, make: Any) -> dict[str, Any]:
    operator = make.user("operator")
    web.login(operator["email"], PASSWORD)
    return operator


def org_of(client: Any, user: dict[str, Any]) -> str:
    return client.get("/api/v1/auth/me", headers=user["headers"]).json()["organization"]["id"]


def a_reserved_sale(web: Any, make: Any, client: Any, units: int) -> tuple[dict, dict, dict, dict, dict]:
    """A seller's product, a topped-up buyer who rents it reserved for a month (paid upfront, so the seller has a
    receivable), and an operator logged in to the pages: (seller, buyer, operator, order, product)."""
    seller = make.user("seller")
    product = make.product(seller, make.datacenter(seller), stock_units=4)
    buyer = make.user("buyer")
    operator = operator_in(web, make)
    client.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": org_of(client, buyer), "amount_fen": 50_000_000, "reference": "TB-" + uuid.uuid4().hex})
    order = client.post("/api/v1/orders", headers=buyer["headers"],
                        json={"product_id": product["id"], "mode": "reserved", "units": units, "term_months": 1})
    assert order.status_code == 201, order.text
    return seller, buyer, operator, order.json(), product


def test_an_operator_approves_a_data_center_and_its_products_enter_the_catalog(web, make, client):
    seller = make.user("seller")
    datacenter = make.datacenter(seller, approved=False, name="待审数据中心 " + uuid.uuid4().hex[:4])
    product = make.product(seller, datacenter)
    assert client.get(f"/api/v1/products/{product['id']}").status_code == 404
    operator_in(web, make)
    pending = web.get("/operator/datacenters").text
    assert datacenter["name"] in pending
    assert re.search(r'data-testid="filter-pending">[^<(]*\(1\)', pending)  # the count per status
    r = web.post(f"/operator/datacenters/{datacenter['id']}/approve", {"back": "pending"})
    assert r.status_code == 303 and r.headers["location"].startswith("/operator/datacenters?status=pending")
    assert client.get(f"/api/v1/datacenters/{datacenter['id']}").json()["status"] == "approved"
    assert client.get(f"/api/v1/products/{product['id']}").json()["listed"] is True
    page = web.get(r.headers["location"]).text
    assert datacenter["name"] not in page  # no longer pending
    assert re.search(r'data-testid="filter-pending">[^<(]*\(0\)', page)
    assert zh("The data center is approved; its listed products are in the catalog.") in page
    assert datacenter["name"] in web.get("/operator/datacenters?status=approved").text
    assert web.post(f"/operator/datacenters/{datacenter['id']}/suspend", {"back": "approved"}).status_code == 303
    assert client.get(f"/api/v1/products/{product['id']}").status_code == 404
    assert datacenter["name"] in web.get("/operator/datacenters?status=suspended").text


def test_top_ups_validate_and_are_idempotent_on_the_reference(web, make, client):
    buyer = make.user("buyer")
    seller = make.user("seller")
    buyer_org, seller_org = org_of(client, buyer), org_of(client, seller)
    operator_in(web, make)
    form = web.get("/operator/topups").text
    assert buyer_org in form and seller_org not in form  # only buyers have wallets
    r = web.post("/operator/topups", {"organization_id": "", "amount": "-5", "reference": ""})
    assert r.status_code == 400
    assert errors_of(r.text) == {"organization_id": zh("This field is required."),
                                 "amount": zh("The amount must be more than 0 yuan: type it in yuan, such as 80 or 80.50."),
                                 "reference": zh("This field is required.")}
    r = web.post("/operator/topups", {"organization_id": seller_org, "amount": "100", "reference": "bad ref!"})
    assert r.status_code == 400 and set(errors_of(r.text)) == {"reference"}
    r = web.post("/operator/topups", {"organization_id": seller_org, "amount": "100", "reference": "BANK-S1"})
    assert r.status_code == 400
    assert errors_of(r.text) == {"organization_id": zh("Only buyer organizations have a wallet to top up.")}

    reference = "BANK-" + uuid.uuid4().hex[:8]
    # a valid top-up is shown back for confirmation first; nothing is credited yet
    r = web.post("/operator/topups", {"organization_id": buyer_org, "amount": "1,234.56", "reference": reference})
    assert r.status_code == 200 and 'data-testid="confirm-step"' in r.text
    assert format_money(123_456) in r.text and reference in r.text
    assert client.get("/api/v1/wallet", headers=buyer["headers"]).json()["available"]["fen"] == 0
    r = web.post("/operator/topups", {"organization_id": buyer_org, "amount": "1,234.56", "reference": reference,
                                      "confirmed": "1"})
    assert r.status_code == 303 and "notice=topup_recorded" in r.headers["location"]
    assert client.get("/api/v1/wallet", headers=buyer["headers"]).json()["available"]["fen"] == 123_456
    page = web.get(r.headers["location"]).text
    assert reference in page and format_money(123_456) in page
    r = web.post("/operator/topups", {"organization_id": buyer_org, "amount": "1234.56", "reference": reference,
                                      "confirmed": "1"})
    assert r.status_code == 303 and "notice=topup_repeated" in r.headers["location"]
    web.get("/operator/topups")
    r = web.post("/operator/topups", {"organization_id": buyer_org, "amount": "99", "reference": reference,
                                      "confirmed": "1"})
    assert r.status_code == 400
    assert errors_of(r.text) == {"reference": zh("This reference was used for another top-up; each payment needs "
                                                 "its own reference.")}
    assert client.get("/api/v1/wallet", headers=buyer["headers"]).json()["available"]["fen"] == 123_456


def test_the_commission_rate_is_set_in_percent(web, make, client):
    operator = operator_in(web, make)
    assert 'value="5"' in web.get("/operator/settings").text  # the default, 500 basis points
    for bad, message in (("abc", zh("Enter a percentage, such as 5 or 7.5.")),
                         ("101", zh("Enter a percentage from 0 to %(max)s.", max=100)),
                         ("", zh("This field is required."))):
        r = web.post("/operator/settings", {"commission_percent": bad, "spot_notice_seconds": "300"})
        assert r.status_code == 400 and errors_of(r.text) == {"commission_percent": message}, bad
    r = web.post("/operator/settings", {"commission_percent": "7.25", "spot_notice_seconds": "-1"})
    assert r.status_code == 400 and set(errors_of(r.text)) == {"spot_notice_seconds"}
    r = web.post("/operator/settings", {"commission_percent": "7.25", "spot_notice_seconds": "120"})
    assert r.status_code == 303
    settings = client.get("/api/v1/operator/settings", headers=operator["headers"]).json()
    assert (settings["commission_bp"], settings["spot_notice_seconds"]) == (725, 120)
    assert 'value="7.25"' in web.get("/operator/settings").text


def test_trial_balance_and_dashboard_show_the_books_and_the_market(web, make, client):
    seller, buyer, operator, order, product = a_reserved_sale(web, make, client, units=2)
    charged = order["charged"]["fen"]

    ledger = web.get("/operator/ledger").text
    tb = client.get("/api/v1/operator/ledger/trial-balance", headers=operator["headers"]).json()
    assert tb["balanced"] is True
    assert zh("Balanced: debits equal credits, every stored balance equals the journal's, and the balances sum "
              "to zero.") in ledger
    assert format_money(tb["total_debits_fen"]) in ledger
    assert zh("Seller receivables") in ledger and zh("Platform commission") in ledger

    dashboard = web.get("/operator")
    assert dashboard.status_code == 200
    volume = chart_option(dashboard.text, "chart-volume")
    net, commission, orders = (s["data"] for s in volume["series"])
    assert len(net) == 30 and orders[-1] == 1
    assert round((net[-1] + commission[-1]) * 100) == charged  # today's bars add up to the charge
    utilization = chart_option(dashboard.text, "chart-utilization")
    names = utilization["yAxis"]["data"]
    assert utilization["series"][0]["data"][names.index(product["datacenter"]["name"])] == 50.0  # 2 of 4 units
    prices = chart_option(dashboard.text, "chart-price-index")
    a800 = next(c["name"] for c in client.get("/api/v1/chips").json() if c["key"] == "a800")
    assert prices["xAxis"]["data"] == [a800]  # the only chip listed
    assert prices["series"][0]["data"] == [[10.0] * 5]  # ¥80 per hour for 8 accelerators: ¥10 each
    assert "echarts.min.js" in dashboard.text
    english = web.get("/operator?lang=en").text
    assert "Platform dashboard" in english
    assert chart_option(english, "chart-volume")["series"][0]["name"] == "Sellers' net"
    assert volume["series"][0]["name"] == zh("Sellers' net") != "Sellers' net"


def test_only_operators_open_the_console_and_forms_need_csrf(web, make, client):
    assert web.get("/operator", follow_redirects=False).headers["location"].startswith("/login")
    for role in ("buyer", "seller"):
        user = make.user(role)
        web.login(user["email"], PASSWORD)
        for url in ("/operator", "/operator/datacenters", "/operator/topups", "/operator/settings",
                    "/operator/ledger"):
            assert web.get(url).status_code == 403, (role, url)
        web.client.cookies.clear()
    seller = make.user("seller")
    datacenter = make.datacenter(seller, approved=False)
    web.login(seller["email"], PASSWORD)
    web.get("/seller")
    assert web.post(f"/operator/datacenters/{datacenter['id']}/approve").status_code == 403
    web.client.cookies.clear()
    operator_in(web, make)
    web.get("/operator/datacenters")
    assert web.post(f"/operator/datacenters/{datacenter['id']}/approve", token="").status_code == 403
    assert web.post(f"/operator/datacenters/{datacenter['id']}/approve", token="x.y.z").status_code == 403
    assert client.get(f"/api/v1/datacenters/{datacenter['id']}", headers=seller["headers"]).json()[
        "status"] == "pending"
    assert web.post(f"/operator/datacenters/{uuid.uuid4()}/approve").status_code == 404


def test_the_top_up_form_lists_fifty_buyers_at_once_and_finds_the_others_by_name_or_email(web, make, db):
    from suanli.accounts.models import Organization, Role, User
    from suanli.web.operator import BUYER_CHOICES

    with db.unit_of_work() as session:  # 60 buyer organizations, named so that the last ones sort last
        for n in range(60):
            org = Organization(name=f"买家机构 {n:03d}", kind=Role.BUYER)
            session.add(org)
            session.flush()
            session.add(User(email=f"member{n:03d}@lab{n:03d}.example", display_name=f"m{n}", password_hash="!",
                             role=Role.BUYER, organization_id=org.id))
    operator_in(web, make)
    page = web.get("/operator/topups").text
    listed = re.findall(r'<option value="[0-9a-f-]{36}"[^>]*>(买家机构 \d{3})<', page)
    assert len(listed) == BUYER_CHOICES and "买家机构 059" not in listed
    assert "仅列出前 50 个" in page
    found = web.get("/operator/topups?find=机构 059").text  # by name
    assert re.findall(r'>(买家机构 \d{3})<', found) == ["买家机构 059"] and "有 1 个机构" in found
    by_email = web.get("/operator/topups?find=LAB058.example").text  # by a member's email, any case
    assert re.findall(r'>(买家机构 \d{3})<', by_email) == ["买家机构 058"]
    literal = web.get("/operator/topups?find=0%25").text  # "%" is a character to find, not a wildcard
    assert re.findall(r'>(买家机构 \d{3})<', literal) == [] and "有 0 个机构" in literal


def test_payouts_are_confirmed_with_the_receivable_and_never_exceed_it(web, make, client):
    seller, buyer, _operator, _order, _product = a_reserved_sale(web, make, client, units=1)
    receivable = client.get("/api/v1/wallet", headers=seller["headers"]).json()["receivable"]["fen"]
    assert receivable > 0
    seller_org = org_of(client, seller)
    page = web.get("/operator/payouts").text
    assert seller_org in page and format_money(receivable) in page
    # more than is owed: refused next to the amount, before any confirmation
    r = web.post("/operator/payouts", {"organization_id": seller_org, "amount": str(receivable / 100 + 1),
                                       "reference": "BANK-P0"})
    assert r.status_code == 400 and set(errors_of(r.text)) == {"amount"}
    # a payout shows what is owed now and after, and records nothing until confirmed
    fields = {"organization_id": seller_org, "amount": "100", "reference": "BANK-P1"}
    r = web.post("/operator/payouts", fields)
    assert r.status_code == 200 and 'data-testid="confirm-step"' in r.text
    assert format_money(receivable) in r.text and format_money(receivable - 10_000) in r.text
    assert client.get("/api/v1/wallet", headers=seller["headers"]).json()["receivable"]["fen"] == receivable
    r = web.post("/operator/payouts", {**fields, "confirmed": "1"})
    assert r.status_code == 303 and "notice=payout_recorded" in r.headers["location"]
    assert client.get("/api/v1/wallet", headers=seller["headers"]).json()["receivable"]["fen"] == receivable - 10_000
    # the buyer has no receivable to pay out
    r = web.post("/operator/payouts", {"organization_id": org_of(client, buyer), "amount": "1", "reference": "BANK-P2"})
    assert r.status_code == 400 and set(errors_of(r.text)) == {"organization_id"}
