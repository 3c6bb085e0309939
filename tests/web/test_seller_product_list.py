"""The seller's product list scales (TestClient, SQLite and PostgreSQL): search, filters and sorting on the server,
50 rows a page with the state in the address, and bulk price and listing changes that go through the price guard
like one product's change."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from support import PASSWORD

from suanli.web.i18n import ZH, gettext_for

zh = gettext_for(ZH)


def rows(html: str) -> list[str]:
    return re.findall(r'data-testid="product-line" data-product-id="([^"]+)"', html)


def price(client: Any, product: dict[str, Any]) -> int:
    return client.get(f"/api/v1/products/{product['id']}").json()["prices"]["on_demand_hour"]["fen"]


def listed(client: Any, products: list[dict[str, Any]]) -> int:
    return sum(client.get(f"/api/v1/products/{p['id']}").status_code == 200 for p in products)


def seller_with_products(web: Any, make: Any, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seller = make.user("seller")
    dc = make.datacenter(seller)
    products = [make.product(seller, dc, name=f"A800 批量 {i:02d}", price_on_demand_fen=8000 + i * 10,
                             price_reserved_month_fen=None, price_spot_floor_fen=None) for i in range(n)]
    web.login(seller["email"], PASSWORD)
    return seller, products


def test_fifty_a_page_searched_filtered_and_sorted_on_the_server(web, make, client):
    seller, products = seller_with_products(web, make, 53)
    first = web.get("/seller/products?sort=price")
    assert first.status_code == 200
    ids = rows(first.text)
    assert ids == [p["id"] for p in products[:50]]  # 50 a page, cheapest first
    assert "共 53 个产品" in first.text
    following = re.search(r'href="(/seller/products\?[^"]*offset=50[^"]*)"', first.text).group(1).replace("&amp;", "&")
    assert parse_qs(urlparse(following).query) == {"sort": ["price"], "offset": ["50"]}  # the state in the address
    assert rows(web.get(following).text) == [p["id"] for p in products[50:]]

    # words of a name, the catalog's words (a chip) and the query language all search
    assert rows(web.get("/seller/products?q=批量+07").text) == [products[7]["id"]]
    assert len(rows(web.get("/seller/products?q=A800&sort=-price").text)) == 50
    assert rows(web.get("/seller/products?q=price<=80.20&sort=price").text) == [p["id"] for p in products[:3]]
    client.post(f"/api/v1/products/{products[5]['id']}/unlist", headers=seller["headers"])
    assert rows(web.get("/seller/products?status=unlisted").text) == [products[5]["id"]]
    assert len(rows(web.get("/seller/products?status=listed&kind=cpu").text)) == 0
    assert web.get("/seller/products?sort=cheapest").status_code == 422  # a sort the list lacks: said, not a 500


def test_bulk_price_change_needs_the_same_confirmation_as_one_product(web, make, client):
    seller, products = seller_with_products(web, make, 4)
    other = make.user("seller")
    odc = make.datacenter(other)
    for fen in (8000, 8000, 8000):  # others' A800s make an index: median ¥10 per accelerator-hour
        make.product(other, odc, price_on_demand_fen=fen, price_reserved_month_fen=None, price_spot_floor_fen=None)
    back = "/seller/products?sort=price"
    web.get(back)
    picked = [products[0]["id"], products[1]["id"]]
    r = web.post("/seller/products/bulk", {"ids": picked, "action": "price", "price_change_pct": "10", "back": back})
    assert r.status_code == 303, r.text[:3000]
    assert r.headers["location"].startswith("/seller/products?sort=price&changed=2")
    assert [price(client, p) for p in products] == [8800, 8811, 8020, 8030]

    # far under the index: refused with each product named and the box to confirm; nothing changes
    web.get(back)
    r = web.post("/seller/products/bulk", {"ids": picked, "action": "price", "price_change_pct": "-85",
                                           "back": back})
    assert r.status_code == 400
    assert 'data-testid="price-warning"' in r.text and "A800 批量 00" in r.text
    assert zh("On-demand price under the price index") in r.text
    assert r.text.count('data-testid="pick"') == 4 and r.text.count("checked data-testid=\"pick\"") == 2  # ticks kept
    assert price(client, products[0]) == 8800
    r = web.post("/seller/products/bulk", {"ids": picked, "action": "price", "price_change_pct": "-85",
                                           "back": back, "confirm_unusual_price": "on"})
    assert r.status_code == 303
    assert price(client, products[0]) == 1320


def test_bulk_list_and_unlist_and_refusals_next_to_the_form(web, make, client):
    seller, products = seller_with_products(web, make, 3)
    web.get("/seller/products")
    ids = [p["id"] for p in products]
    r = web.post("/seller/products/bulk", {"ids": ids[:2], "action": "unlist", "back": "/seller/products"})
    assert r.status_code == 303 and "notice=products_unlisted" in r.headers["location"]
    assert listed(client, products) == 1
    page = web.get(r.headers["location"]).text
    assert zh("The products you ticked are taken out of the catalog. Running orders go on.") in page
    r = web.post("/seller/products/bulk", {"ids": ids, "action": "list", "back": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"].startswith("/seller/products?")  # never elsewhere
    assert listed(client, products) == 3

    web.get("/seller/products")
    r = web.post("/seller/products/bulk", {"action": "unlist", "back": "/seller/products"})
    assert r.status_code == 400 and zh("Tick the products to change first.") in r.text
    r = web.post("/seller/products/bulk", {"ids": ids, "action": "price", "price_change_pct": "ten"})
    assert r.status_code == 400
    assert 'data-testid="error-price_change_pct">' + zh("Type the change in percent, such as 5 or -10.") in r.text
    other = make.user("seller")
    foreign = make.product(other, make.datacenter(other))
    r = web.post("/seller/products/bulk", {"ids": [ids[0], foreign["id"]], "action": "unlist"})
    assert r.status_code == 400 and 'data-testid="form-error"' in r.text
    assert client.get(f"/api/v1/products/{foreign['id']}").json()["listed"] is True
    assert client.get(f"/api/v1/products/{ids[0]}").json()["listed"] is True  # all or nothing


def test_order_and_job_lists_search_sort_and_page_with_the_same_helper(web, make, client):
    """Buyer's orders, seller's incoming orders and buyer's jobs: words of a name, a sort, and the pager's links
    keep both (web/listing.py)."""
    seller = make.user("seller")
    dc = make.datacenter(seller)
    a800 = make.product(seller, dc, name="A800 甲", stock_units=200)
    h100 = make.product(seller, dc, name="H100 乙", chip="h100", stock_units=200)
    buyer, operator = make.user("buyer"), make.user("operator")
    org = client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    client.post("/api/v1/operator/topups", headers=operator["headers"],
                json={"organization_id": org, "amount_fen": 900_000_000, "reference": "t-lists"})
    placed = []
    for n in range(52):
        product = a800 if n % 13 else h100  # 4 orders of the H100, 48 of the A800
        r = client.post("/api/v1/orders", headers=buyer["headers"],
                        json={"product_id": product["id"], "mode": "on_demand", "units": 1 + n % 3})
        assert r.status_code == 201, r.text
        placed.append(r.json())
    web.login(buyer["email"], PASSWORD)
    page = web.get("/account/orders").text
    assert "共 52 个订单" in page and page.count('href="/account/orders/') >= 50
    following = re.search(r'href="(/account/orders\?offset=50)"', page)
    assert following, "no link to the next 50"
    only_h100 = web.get("/account/orders?q=h100").text
    assert "共 4 个订单" in only_h100 and "A800 甲" not in only_h100
    held = web.get("/account/orders?q=A800&sort=-held").text
    assert "共 48 个订单" in held
    next_link = re.search(r'href="(/account/orders\?[^"]*offset=50[^"]*)"', held)
    assert next_link is None  # 48 fit one page
    assert web.get("/account/orders?sort=sideways").status_code == 422

    web.login(seller["email"], PASSWORD)
    incoming = web.get("/seller/orders?q=H100&sort=created").text
    assert "共 4 个订单" in incoming

    web.login(operator["email"], PASSWORD)
    everything = web.get("/operator/orders?q=A800").text  # the operator sees every organization's orders
    assert "共 48 个订单" in everything and everything.count('data-testid="order-line"') == 48
    assert web.get("/operator/orders?status=cancelled").text.count('data-testid="order-line"') == 0
    assert web.get("/operator/orders").text.count('data-testid="order-line"') == 50

    for name in ("训练 resnet", "推理 llama"):
        r = client.post("/api/v1/jobs", headers=buyer["headers"], json={
            "name": name, "command": "echo hi", "resources": {"accelerators": 8, "chip": "a800"},
            "max_runtime_minutes": 30})
        assert r.status_code == 201, r.text
    web.login(buyer["email"], PASSWORD)
    jobs = web.get("/account/jobs?q=llama").text
    assert "推理 llama" in jobs and "训练 resnet" not in jobs and "共 1 个作业" in jobs
    by_name = web.get("/account/jobs?sort=name").text
    assert by_name.index("推理 llama") < by_name.index("训练 resnet")
