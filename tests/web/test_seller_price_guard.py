"""The price guard in the seller's product form and on the operator's pages (TestClient, SQLite and PostgreSQL):
the chip's price index beside the prices, a warning and a box to tick for unusual prices, the flag for operators,
the operator's thresholds, and a clear message for a price of 0."""

from __future__ import annotations

import re
from typing import Any

from support import PASSWORD
from test_seller_pages import PRODUCT, errors_of, seller_in

from suanli.web.i18n import ZH, format_money, gettext_for
from suanli.web.seller_price_guard import ABOVE_INDEX, RESERVED_BELOW_HOURS

zh = gettext_for(ZH)
SERVER_910B = {**PRODUCT, "chip": "ascend-910b", "price_reserved_month": "", "price_spot_floor": "", "discount_3": "",
               "discount_12": ""}


def market_of_910b(make: Any, seller: dict[str, Any], datacenter: dict[str, Any]) -> None:
    """8×910B servers listed at ¥64, ¥80 and ¥96 an hour: median ¥10 per accelerator-hour, quartiles ¥9 and ¥11."""
    for fen in (6400, 8000, 9600):
        make.product(seller, datacenter, chip="ascend-910b", price_on_demand_fen=fen, price_reserved_month_fen=None,
                     price_spot_floor_fen=None)


def flagged(client: Any, operator: dict[str, Any]) -> dict[str, list[str]]:
    r = client.get("/api/v1/operator/unusual-prices", headers=operator["headers"])
    return {item["product"]["name"]: item["checks"] for item in r.json()}


def test_the_testers_reserved_month_is_warned_about_then_confirmed_and_flagged(web, make, client):
    seller, datacenter = seller_in(web, make)
    market_of_910b(make, seller, datacenter)
    operator = make.user("operator")
    web.get("/seller/products/new")
    typed = {**SERVER_910B, "datacenter_id": datacenter["id"], "name": "8×910B 包月", "price_reserved_month": "10"}
    r = web.post("/seller/products/new", typed)
    assert r.status_code == 400
    assert errors_of(r.text) == {"price_reserved_month": zh(RESERVED_BELOW_HOURS, hours=200,
                                                             minimum=format_money(8000 * 200))}
    assert "¥16,000.00" in errors_of(r.text)["price_reserved_month"]
    assert 'data-testid="price-warning"' in r.text and 'data-testid="confirm_unusual_price"' in r.text
    reference = re.search(r'data-testid="price-reference">([^<]*)<', r.text).group(1)
    assert "¥10.00" in reference and "¥9.00" in reference and "¥11.00" in reference  # per accelerator-hour
    assert "¥72.00" in r.text and "¥88.00" in r.text  # the middle half per unit-hour of 8 accelerators
    assert flagged(client, operator) == {}

    r = web.post("/seller/products/new", {**typed, "confirm_unusual_price": "on"})
    assert r.status_code == 303, errors_of(r.text)
    assert flagged(client, operator) == {"8×910B 包月": ["reserved_below_on_demand_hours"]}

    web.login(operator["email"], PASSWORD)
    dashboard = web.get("/operator").text
    section = dashboard[dashboard.index('data-testid="unusual-prices"'):]
    assert section.count('data-testid="unusual-price"') == 1
    assert "8×910B 包月" in section and zh("Reserved month under the minimum of on-demand hours") in section


def test_the_edit_form_shows_the_index_and_guards_a_price_change(web, make, client):
    seller, datacenter = seller_in(web, make)
    market_of_910b(make, seller, datacenter)
    product = make.product(seller, datacenter, chip="ascend-910b", name="910B 改价", price_on_demand_fen=8000,
                           price_reserved_month_fen=None, price_spot_floor_fen=None)
    page = web.get(f"/seller/products/{product['id']}").text
    assert "¥10.00" in re.search(r'data-testid="price-reference">([^<]*)<', page).group(1)
    assert 'data-testid="unusual-price-flag"' not in page
    edit = {"name": "910B 改价", "stock_units": "4", "price_on_demand": "800", "price_reserved_month": "",
            "price_spot_floor": "", "discount_3": "", "discount_6": "", "discount_12": ""}
    r = web.post(f"/seller/products/{product['id']}", edit)
    assert r.status_code == 400
    assert errors_of(r.text) == {"price_on_demand": zh(ABOVE_INDEX, pct="500%", median=format_money(8000))}
    assert client.get(f"/api/v1/products/{product['id']}").json()["prices"]["on_demand_hour"]["fen"] == 8000
    r = web.post(f"/seller/products/{product['id']}", {**edit, "confirm_unusual_price": "on"})
    assert r.status_code == 303, errors_of(r.text)
    assert client.get(f"/api/v1/products/{product['id']}").json()["prices"]["on_demand_hour"]["fen"] == 80000
    flag = re.search(r'data-testid="unusual-price-flag">([^<]*)<', web.get(f"/seller/products/{product['id']}").text)
    assert zh("On-demand price over the price index") in flag.group(1)


def test_no_index_yet_is_said_and_only_the_reserved_month_is_checked(web, make):
    _, datacenter = seller_in(web, make)
    web.get("/seller/products/new")
    r = web.post("/seller/products/new", {**SERVER_910B, "datacenter_id": datacenter["id"], "name": "x",
                                          "price_on_demand": "0.01", "stock_units": ""})
    assert r.status_code == 400 and set(errors_of(r.text)) == {"stock_units"}  # no price warning without an index
    assert zh("No %(chip)s offer is listed yet, so there is no price index to compare with.",
              chip="Huawei Ascend 910B 64GB") in r.text


def test_prices_out_of_range_say_what_to_type(web, make):
    _, datacenter = seller_in(web, make)
    web.get("/seller/products/new")
    r = web.post("/seller/products/new", {**PRODUCT, "datacenter_id": datacenter["id"], "name": "x",
                                          "price_on_demand": "0", "price_reserved_month": "-5",
                                          "price_spot_floor": "abc"})
    assert r.status_code == 400
    assert errors_of(r.text) == {"price_on_demand": "价格须大于 0 元：请输入以元为单位的价格，例如 80 或 80.50。",
                                 "price_reserved_month": "价格须大于 0 元：请输入以元为单位的价格，例如 80 或 80.50。",
                                 "price_spot_floor": zh("Enter an amount in yuan, such as 80 or 80.50.")}
    r = web.post("/seller/products/new", {**PRODUCT, "datacenter_id": datacenter["id"], "name": "x",
                                          "price_on_demand": "1000000.01", "price_spot_floor": "",
                                          "price_reserved_month": "100000000"})
    assert r.status_code == 400
    assert errors_of(r.text) == {"price_on_demand": "价格最多为 ¥1,000,000.00。"}  # said in yuan, not in fen


def test_operator_sets_the_thresholds_with_errors_next_to_the_fields(web, make, client):
    operator = make.user("operator")
    web.login(operator["email"], PASSWORD)
    page = web.get("/operator/settings").text
    assert 'name="price_guard_low_pct" type="number" value="20"' in page
    base = {"commission_percent": "5", "spot_notice_seconds": "300", "delivery_deadline_minutes": "60",
            "price_guard_low_pct": "101", "price_guard_high_pct": "50", "price_guard_min_reserved_hours": "745"}
    r = web.post("/operator/settings", base)
    assert r.status_code == 400
    assert errors_of(r.text) == {"price_guard_low_pct": zh("Must be at most %(le)s.", le="100"),
                                 "price_guard_high_pct": zh("Must be at least %(ge)s.", ge="100"),
                                 "price_guard_min_reserved_hours": zh("Must be at most %(le)s.", le="744")}
    web.get("/operator/settings")
    r = web.post("/operator/settings", {**base, "price_guard_low_pct": "10", "price_guard_high_pct": "300",
                                        "price_guard_min_reserved_hours": "100"})
    assert r.status_code == 303, errors_of(r.text)
    settings = client.get("/api/v1/operator/settings", headers=operator["headers"]).json()
    assert (settings["price_guard_low_pct"], settings["price_guard_high_pct"],
            settings["price_guard_min_reserved_hours"]) == (10, 300, 100)
    web.get("/operator/settings")  # a field left empty keeps its value
    r = web.post("/operator/settings", {**base, "price_guard_low_pct": "", "price_guard_high_pct": "",
                                        "price_guard_min_reserved_hours": "0"})
    assert r.status_code == 303, errors_of(r.text)
    settings = client.get("/api/v1/operator/settings", headers=operator["headers"]).json()
    assert (settings["price_guard_low_pct"], settings["price_guard_high_pct"],
            settings["price_guard_min_reserved_hours"]) == (10, 300, 0)


def test_the_new_product_form_shows_the_chosen_chips_index_before_it_is_sent(web, make):
    """What the form's htmx asks for when the chip or the count changes: the same page with that chip, whose
    reference paragraph it swaps in beside the prices."""
    seller, datacenter = seller_in(web, make)
    market_of_910b(make, seller, datacenter)
    blank = web.get("/seller/products/new").text
    assert 'id="price-reference"' in blank and 'hx-select="#price-reference"' in blank
    assert zh("Choose the chip: its price index shows here; every chip's is on the price index page.") in blank
    chosen = web.get("/seller/products/new?chip=ascend-910b&accelerators=8")
    assert chosen.status_code == 200
    reference = re.search(r'<div id="price-reference"[^>]*>(.*?)</div>', chosen.text, re.S).group(1)
    assert "Ascend 910B" in reference and "¥10.00" in reference and "¥9.00" in reference and "¥11.00" in reference
    assert 'value="ascend-910b" selected' in chosen.text
    assert "¥80.00" in web.get("/seller/products/new?chip=ascend-910b&accelerators=8").text  # median per 8-card unit
    assert "Ascend" not in re.search(r'<div id="price-reference"[^>]*>(.*?)</div>',
                                     web.get("/seller/products/new?chip=ascend-910b&accelerators=x").text,
                                     re.S).group(1)  # a count that is not one: no reference, not an error
