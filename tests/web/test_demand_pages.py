"""The demand and price-transparency pages (TestClient, SQLite and PostgreSQL): the seller's unmet demand with its
charts' tables and the planner, the operator's guidance prices (publish, refuse, withdraw), and the flag beside a
listing far from its guidance price on the product page and in the catalog."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

from support import PASSWORD
from test_seller_pages import errors_of, seller_in

from suanli.web.i18n import ZH, gettext_for

zh = gettext_for(ZH)


def chart(html: str, testid: str) -> dict[str, Any]:
    found = re.search(rf'data-testid="{testid}" data-chart=\'([^\']*)\'', html)
    assert found, testid
    return json.loads(unescape(found.group(1)))


def test_the_seller_sees_unmet_demand_and_plans_capacity(web, make, client):
    seller, datacenter = seller_in(web, make)
    make.product(seller, datacenter)  # 8×A800 in 安徽
    for params in ({"chip": "910B", "province": "安徽"}, {"chip": "910B"}, {"q": "H100 8卡"}):
        assert client.get("/api/v1/products", params=params).json()["total"] == 0
    assert client.get("/api/v1/products", params={"chip": "A800"}).json()["total"] == 1

    page = web.get("/seller/demand")
    assert page.status_code == 200
    html = page.text
    assert zh("Unmet demand") in html and 'data-testid="tab-demand"' in html
    chips = chart(html, "chart-demand-chips")
    assert chips["yAxis"]["data"] == ["Huawei Ascend 910B 64GB", "NVIDIA H100 SXM5 80GB"]
    assert chips["series"][1]["data"] == [2, 1]  # searches per chip; series 0 is jobs
    assert 'data-testid="chart-demand-chips-table"' in html  # every chart has its table
    provinces = chart(html, "chart-demand-provinces")
    assert dict(zip(provinces["yAxis"]["data"], provinces["series"][1]["data"])) == {"不限": 2, "安徽": 1}
    days = chart(html, "chart-demand-days")
    assert len(days["xAxis"]["data"]) == 30 and days["series"][1]["data"][-1] == 3
    searches = html[html.index('data-testid="empty-searches"'):]
    assert "chip=ascend-910b province=安徽" in searches and "accelerators&gt;=8 chip=h100" in searches

    # the planner: a blank price and a province that is not there are refused next to their fields
    r = web.get("/seller/demand", params={"plan": "1", "chip": "ascend-910b", "province": "安徽", "servers": "0",
                                          "price": ""})
    assert r.status_code == 200 and set(errors_of(r.text)) == {"servers", "price"}
    r = web.get("/seller/demand", params={"plan": "1", "chip": "ascend-910b", "province": "安徽", "servers": "2",
                                          "accelerators_per_server": "8", "price": "9.5", "days": "7"})
    outcome = r.text[r.text.index('data-testid="plan-outcome"'):]
    assert re.search(r'data-testid="plan-jobs-on">0<', outcome)  # no job was submitted
    assert "¥0.00" in outcome


def test_buyers_do_not_see_the_demand_page(web, make):
    buyer = make.user("buyer")
    web.login(buyer["email"], PASSWORD)
    assert web.get("/seller/demand").status_code == 403


def test_the_operator_publishes_a_guidance_price_and_far_listings_are_flagged(web, make):
    seller = make.user("seller")
    datacenter = make.datacenter(seller)
    cheap = make.product(seller, datacenter, chip="ascend-910b", price_on_demand_fen=4000,
                         price_reserved_month_fen=None, price_spot_floor_fen=None)
    fair = make.product(seller, datacenter, chip="ascend-910b", price_on_demand_fen=8000,
                        price_reserved_month_fen=None, price_spot_floor_fen=None)
    operator = make.user("operator")
    web.login(operator["email"], PASSWORD)
    page = web.get("/operator/guidance")
    assert zh("No guidance price is published yet.") in page.text
    r = web.post("/operator/guidance", {"chip": "", "price": "0", "band_pct": "200", "note": ""})
    assert r.status_code == 400 and set(errors_of(r.text)) == {"chip", "price", "band_pct"}
    r = web.post("/operator/guidance", {"chip": "ascend-910b", "price": "10", "band_pct": "30", "note": "Q4"})
    assert r.status_code == 303, errors_of(r.text)
    table = web.get("/operator/guidance").text
    row = table[table.index('data-testid="guidance-row"'):]
    assert "¥10.00" in row and "¥7.00" in row and "¥13.00" in row and "Q4" in row

    # ¥5 per accelerator-hour is 50 % under ¥10: flagged; ¥10 is not
    product_page = web.get(f"/products/{cheap['id']}").text
    assert zh("Far below guidance price") in product_page and 'data-testid="guidance-note"' in product_page
    assert 'data-testid="guidance-flag"' not in web.get(f"/products/{fair['id']}").text
    catalog = web.get("/catalog", params={"chip": "ascend-910b"}).text
    assert catalog.count('data-testid="guidance-flag"') == 1
    index = web.get("/price-index").text
    assert "±30 %" in index

    web.get("/operator/guidance")
    r = web.post("/operator/guidance/ascend-910b/withdraw", {})
    assert r.status_code == 303
    assert 'data-testid="guidance-flag"' not in web.get(f"/products/{cheap['id']}").text
    assert web.post("/operator/guidance/ascend-910b/withdraw", {}).status_code == 404
