"""The seller console through FastAPI's TestClient, on SQLite and PostgreSQL: data centers, products (create, edit,
unlist, list again) with errors next to the field, role checks, CSRF, incoming orders, revenue and utilization."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape
from typing import Any

from support import PASSWORD

from suanli.core.ledger import commission_fen
from suanli.web.i18n import ZH, format_money, gettext_for

zh = gettext_for(ZH)

PRODUCT = {"kind": "accelerator", "chip": "a800", "accelerators": "8", "vcpus": "96", "memory_gib": "1024",
           "disk_gib": "4000", "network_gbps": "200", "delivery": "bare_metal", "stock_units": "3",
           "price_on_demand": "80", "price_reserved_month": "35000.00", "price_spot_floor": "30.5",
           "discount_3": "5", "discount_6": "", "discount_12": "12.5", "listed": "on"}


def seller_in(web: Any, make: Any, *, approved: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """A seller with one data center, logged in on ``web``."""
    seller = make.user("seller")
    datacenter = make.datacenter(seller, approved=approved)
    web.login(seller["email"], PASSWORD)
    return seller, datacenter


def errors_of(html: str) -> dict[str, str]:
    """The errors shown next to fields: field name → message."""
    return {name: unescape(text).strip()
            for name, text in re.findall(r'data-testid="error-([\w-]+)">([^<]*)<', html)}


def chart_option(html: str, testid: str) -> dict[str, Any]:
    match = re.search(rf"data-testid=\"{testid}\" data-chart='([^']*)'", html)
    assert match, f"no chart {testid}"
    return json.loads(unescape(match.group(1)))


def create_product(web: Any, datacenter: dict[str, Any], **fields: str) -> str:
    web.get("/seller/products/new")
    r = web.post("/seller/products/new", {**PRODUCT, "datacenter_id": datacenter["id"],
                                          "name": f"8×A800 {uuid.uuid4().hex[:6]}", **fields})
    assert r.status_code == 303, errors_of(r.text) or r.text[:3000]
    return r.headers["location"].split("?")[0].rsplit("/", 1)[1]


def test_a_seller_lists_a_product_and_the_catalog_shows_it(web, make, client):
    _, datacenter = seller_in(web, make)
    product_id = create_product(web, datacenter, name="8×A800 华东精选")
    product = client.get(f"/api/v1/products/{product_id}").json()
    assert product["listed"] is True and product["name"] == "8×A800 华东精选"
    assert product["prices"]["on_demand_hour"]["fen"] == 8000
    assert product["prices"]["reserved_month"]["fen"] == 3_500_000
    assert product["prices"]["spot_floor_hour"]["fen"] == 3050
    assert {t["months"]: t["discount_bp"] for t in product["prices"]["reserved_terms"]} == {1: 0, 3: 500, 6: 0,
                                                                                          12: 1250}
    found = client.get("/api/v1/products", params={"q": "chip=A800", "datacenter_id": datacenter["id"]}).json()
    assert [p["id"] for p in found["items"]] == [product_id]
    page = web.get("/seller/products").text
    assert "8×A800 华东精选" in page and "已在市场中" in page and "¥80.00" in page


def test_product_form_shows_errors_next_to_the_fields_and_saves_nothing(web, make, client):
    _, datacenter = seller_in(web, make)
    web.get("/seller/products/new")
    r = web.post("/seller/products/new", {**PRODUCT, "datacenter_id": datacenter["id"], "name": "",
                                          "price_on_demand": "八十", "price_spot_floor": "30.123",
                                          "stock_units": "-1", "discount_3": "60", "chip": ""})
    assert r.status_code == 400
    assert errors_of(r.text) == {
        "name": zh("This field is required."), "price_on_demand": zh("Enter an amount in yuan, such as 80 or 80.50."),
        "price_spot_floor": zh("At most %(decimal_places)s decimal places.", decimal_places="2"),
        "stock_units": zh("Must be at least %(ge)s.", ge="0"),
        "discount_3": zh("Enter a percentage from 0 to %(max)s.", max=50),
        "chip": zh("An accelerator server needs a chip.")}
    assert "请输入 0 至 50 之间的百分比。" == errors_of(r.text)["discount_3"]  # in Chinese by default
    assert 'value="30.123"' in r.text  # what was typed is kept
    r = web.post("/seller/products/new", {**PRODUCT, "datacenter_id": datacenter["id"], "name": "x",
                                          "price_spot_floor": "81", "chip": ""})
    assert r.status_code == 400
    assert errors_of(r.text) == {"price_spot_floor": "竞价底价不能高于按需价格。", "chip": "加速服务器需要选择芯片。"}
    assert 'data-testid="form-error"' not in r.text  # said next to the fields, not again at the top
    r = web.post("/seller/products/new", {**PRODUCT, "datacenter_id": datacenter["id"], "name": "x",
                                          "chip": "no-such-chip"})
    assert r.status_code == 400 and errors_of(r.text) == {"chip": "请从列表中选择芯片。"}
    listing = client.get("/api/v1/products", params={"datacenter_id": datacenter["id"]}).json()
    assert listing["total"] == 0


def test_editing_stock_and_prices_unlisting_and_listing_again(web, make, client):
    seller, datacenter = seller_in(web, make)
    product_id = create_product(web, datacenter, delivery="batch")  # units that start at once (no machine to deliver)
    operator = make.user("operator")
    buyer = make.user("buyer")
    buyer_org = client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    assert client.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": buyer_org, "amount_fen": 1_000_000, "reference": f"r-{uuid.uuid4().hex}"}).status_code == 201
    order = client.post("/api/v1/orders", headers=buyer["headers"],
                        json={"product_id": product_id, "mode": "on_demand", "units": 2})
    assert order.status_code == 201, order.text

    edit = web.get(f"/seller/products/{product_id}")
    assert edit.status_code == 200 and 'value="80.00"' in edit.text and 'value="12.5"' in edit.text
    base = {"name": "8×A800 改", "stock_units": "1", "price_on_demand": "90", "price_reserved_month": "",
            "price_spot_floor": "", "discount_3": "", "discount_6": "", "discount_12": ""}
    r = web.post(f"/seller/products/{product_id}", base)
    assert r.status_code == 400 and errors_of(r.text) == {"stock_units": "当前已租出 2 份，库存不能低于此数。"}
    r = web.post(f"/seller/products/{product_id}", {**base, "stock_units": "5"})
    assert r.status_code == 303
    product = client.get(f"/api/v1/products/{product_id}").json()
    assert (product["name"], product["stock_units"], product["prices"]["on_demand_hour"]["fen"]) == ("8×A800 改", 5,
                                                                                                     9000)
    assert product["prices"]["reserved_month"] is None and product["prices"]["spot_floor_hour"] is None
    assert product["billing_modes"] == ["on_demand"]
    # The order keeps its price snapshot.
    assert client.get(f"/api/v1/orders/{order.json()['id']}", headers=buyer["headers"]).json()["unit_price"][
        "fen"] == 8000

    web.get(f"/seller/products/{product_id}")
    assert web.post(f"/seller/products/{product_id}/unlist").status_code == 303
    assert client.get(f"/api/v1/products/{product_id}").status_code == 404
    page = web.get(f"/seller/products/{product_id}?notice=product_unlisted")
    assert "产品已下架" in page.text and 'data-testid="relist"' in page.text
    assert web.post(f"/seller/products/{product_id}/list").status_code == 303
    assert client.get(f"/api/v1/products/{product_id}").json()["listed"] is True
    del seller


def test_registering_a_data_center_and_its_clusters_without_credentials(web, make, client, monkeypatch):
    # Cluster credentials are encrypted with SUANLI_SECRET_KEY, which must be a Fernet key for that.
    from cryptography.fernet import Fernet

    from suanli.jobs.credentials import reset_cipher

    monkeypatch.setenv("SUANLI_SECRET_KEY", Fernet.generate_key().decode())
    reset_cipher()
    seller, _ = seller_in(web, make)
    region = make.region(province="安徽", city="合肥", hub="长三角", cluster=None)
    web.get("/seller/datacenters")
    r = web.post("/seller/datacenters", {"name": "", "region_id": "", "tier": "5", "pue": "0.9",
                                         "green_power_pct": "101"})
    assert r.status_code == 400
    assert set(errors_of(r.text)) == {"name", "region_id", "tier", "pue", "green_power_pct"}
    r = web.post("/seller/datacenters", {"name": "合肥智算一号", "region_id": region["id"], "tier": "3",
                                         "pue": "1.2", "green_power_pct": "35"})
    assert r.status_code == 303
    datacenter_id = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    r = web.post("/seller/datacenters", {"name": "合肥智算一号", "region_id": region["id"], "tier": "3",
                                         "pue": "1.2", "green_power_pct": "35"})
    assert r.status_code == 400 and errors_of(r.text) == {"name": "贵组织已有同名的数据中心。"}

    secret = "SECRET-" + uuid.uuid4().hex
    web.get(f"/seller/datacenters/{datacenter_id}")
    cluster = {"name": "slurm-a", "kind": "slurm", "endpoint": "http://127.0.0.1:9", "user": "suanli",
               "token": secret}
    r = web.post(f"/seller/datacenters/{datacenter_id}/clusters", {**cluster, "user": "", "token": ""})
    assert r.status_code == 400  # Slurm needs credentials: said at the top, with the backend's own words
    assert zh("The cluster cannot be used with these settings: check its kind, address and credentials.") in r.text
    r = web.post(f"/seller/datacenters/{datacenter_id}/clusters", cluster)
    assert r.status_code == 303 and "notice=cluster_registered" in r.headers["location"]
    r = web.post(f"/seller/datacenters/{datacenter_id}/clusters", cluster)
    assert r.status_code == 400 and errors_of(r.text) == {"name": zh("This data center has a cluster with this "
                                                                     "name already.")}
    assert secret not in r.text  # not even typed back into the form
    api = client.get(f"/api/v1/datacenters/{datacenter_id}/clusters", headers=seller["headers"]).json()
    assert [(c["name"], c["kind"], c["has_credentials"]) for c in api] == [("slurm-a", "slurm", True)]
    page = web.get(f"/seller/datacenters/{datacenter_id}").text
    assert "合肥智算一号" in page and zh("Waiting for approval") in page and "slurm-a" in page and "凭据：已保存" in page
    assert secret not in page
    listing = web.get("/seller/datacenters").text
    assert "合肥智算一号" in listing
    reset_cipher()


def test_a_seller_puts_products_on_a_cluster_from_the_data_center_page(web, make, client):
    seller, datacenter = seller_in(web, make)
    first, second = create_product(web, datacenter), create_product(web, datacenter)
    made = client.post(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"],
                       json={"name": "ray-a", "kind": "ray", "endpoint": "http://127.0.0.1:9/", "product_ids": []})
    assert made.status_code == 201, made.text
    cluster_id = made.json()["id"]
    page = web.get(f"/seller/datacenters/{datacenter['id']}").text
    assert 'data-testid="map-products"' in page and "把产品放到此集群" in page
    url = f"/seller/datacenters/{datacenter['id']}/clusters/{cluster_id}/products"
    r = web.post(url, {})
    assert r.status_code == 400 and "请至少勾选一个产品。" in r.text
    r = web.post(url, {"product_ids": [first]})
    assert r.status_code == 303 and "notice=products_mapped" in r.headers["location"]
    api = client.get(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"]).json()
    assert api[0]["product_ids"] == [first]
    page = web.get(f"/seller/datacenters/{datacenter['id']}").text
    ticks = re.findall(r'name="product_ids" value="([^"]+)"', page.split('data-testid="map-products"')[1]
                       .split("</details>")[0])
    assert ticks == [second]  # what is on it already is not offered again
    # another seller's product, or another data center's cluster: refused, nothing moves
    other = make.user("seller")
    other_dc = make.datacenter(other, approved=True)
    foreign = make.product(other, other_dc)
    r = web.post(url, {"product_ids": [foreign["id"]]})
    assert r.status_code == 400
    r = web.post(f"/seller/datacenters/{other_dc['id']}/clusters/{cluster_id}/products", {"product_ids": [second]})
    assert r.status_code in (403, 404)
    api = client.get(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"]).json()
    assert api[0]["product_ids"] == [first]


def test_incoming_orders_revenue_net_of_commission_and_utilization(web, make, client):
    _, datacenter = seller_in(web, make)
    product_id = create_product(web, datacenter, stock_units="4", delivery="batch")
    operator = make.user("operator")
    buyer = make.user("buyer")
    buyer_org = client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    client.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": buyer_org, "amount_fen": 20_000_000, "reference": f"r-{uuid.uuid4().hex}"})
    reserved = client.post("/api/v1/orders", headers=buyer["headers"],
                           json={"product_id": product_id, "mode": "reserved", "units": 1, "term_months": 3})
    assert reserved.status_code == 201, reserved.text
    gross = reserved.json()["charged"]["fen"]
    assert gross == 3 * 3_500_000 * 95 // 100  # 5 % off for 3 months
    net = gross - commission_fen(gross, 500)

    orders = web.get("/seller/orders").text
    assert "包月" in orders and format_money(3_500_000) in orders and "运行中" in orders
    revenue = web.get("/seller/revenue").text
    assert re.search(r'data-testid="net">([^<]*)<', revenue).group(1) == format_money(net)
    assert format_money(gross) in revenue and format_money(gross - net) in revenue
    assert web.get("/seller/revenue?period=2026-13").status_code == 400

    overview = web.get("/seller")
    option = chart_option(overview.text, "chart-utilization")
    assert option["yAxis"]["data"] == [datacenter["name"]]
    assert option["series"][0]["data"] == [25.0]  # 1 of 4 units rented out
    history = chart_option(overview.text, "chart-utilization-history")
    assert history["series"][0]["name"] == datacenter["name"] and history["series"][0]["data"][-1] is not None
    assert format_money(net) in overview.text  # net of commission this month


def test_only_sellers_open_the_console_and_every_form_needs_its_csrf_token(web, make, client):
    assert web.get("/seller", follow_redirects=False).headers["location"].startswith("/login")
    buyer = make.user("buyer")
    web.login(buyer["email"], PASSWORD)
    for url in ("/seller", "/seller/products", "/seller/products/new", "/seller/orders", "/seller/revenue",
                "/seller/datacenters"):
        assert web.get(url).status_code == 403, url
    assert web.post("/seller/datacenters", {"name": "x"}).status_code == 403

    other = make.user("seller")
    other_dc = make.datacenter(other)
    other_product = make.product(other, other_dc)
    _, datacenter = seller_in(web, make)
    web.get("/seller/datacenters")
    assert web.post("/seller/datacenters", {"name": "无令牌"}, token="").status_code == 403
    assert web.post("/seller/datacenters", {"name": "假令牌"}, token="forged.token").status_code == 403
    assert web.get(f"/seller/products/{other_product['id']}").status_code in (403, 404)
    web.get("/seller/products")
    assert web.post(f"/seller/products/{other_product['id']}/unlist").status_code in (403, 404)
    assert client.get(f"/api/v1/products/{other_product['id']}").json()["listed"] is True
    assert web.get(f"/seller/datacenters/{other_dc['id']}").status_code in (403, 404)
    del datacenter
