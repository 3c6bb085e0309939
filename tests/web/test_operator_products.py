"""The operator's list of every product on the platform (TestClient, SQLite and PostgreSQL): every seller's
products, listed or not, searched, filtered (data center, listing, kind, flagged prices) and sorted on the server,
50 rows a page with the state in the address; the dashboard's short list of flagged prices links to it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from support import PASSWORD

from suanli.web.i18n import ZH, gettext_for

zh = gettext_for(ZH)


def rows(html: str) -> list[str]:
    return re.findall(r'data-testid="product-line" data-product-id="([^"]+)"', html)


def test_every_product_searched_filtered_sorted_and_paged(web, make, client):
    plain = {"price_reserved_month_fen": None, "price_spot_floor_fen": None}
    first, second = make.user("seller"), make.user("seller")
    dc_first = make.datacenter(first, name="芜湖一号")
    dc_second = make.datacenter(second, name="庆阳二号")
    mine = [make.product(first, dc_first, name=f"A800 芜湖 {i:02d}", price_on_demand_fen=8000 + i * 10, **plain)
            for i in range(46)]
    theirs = [make.product(second, dc_second, name=f"910B 庆阳 {i}", chip="ascend-910b", price_on_demand_fen=9000,
                           **plain) for i in range(3)]
    cheap = make.product(second, dc_second, name="A800 庆阳 特价", price_on_demand_fen=800, **plain)  # ¥0.10/卡时
    cpu = make.product(second, dc_second, name="通用计算 64 核", kind="cpu", chip=None, accelerators=0,
                       price_on_demand_fen=400, **plain)
    r = client.post(f"/api/v1/products/{theirs[0]['id']}/unlist", headers=second["headers"])
    assert r.status_code == 200, r.text
    operator = make.user("operator")
    web.login(operator["email"], PASSWORD)

    page = web.get("/operator/products?sort=price")
    assert page.status_code == 200 and zh("Products") in page.text
    assert "共 51 个产品" in page.text
    ids = rows(page.text)
    assert len(ids) == 50 and ids[:2] == [cpu["id"], cheap["id"]] and theirs[0]["id"] in ids  # unlisted ones too
    following = re.search(r'href="(/operator/products\?[^"]*offset=50[^"]*)"', page.text).group(1).replace("&amp;", "&")
    assert parse_qs(urlparse(following).query) == {"sort": ["price"], "offset": ["50"]}
    assert len(rows(web.get(following).text)) == 1

    # the catalog's words (chips, places), words of a name and the query language all search
    assert set(rows(web.get("/operator/products?q=昇腾 910B").text)) == {p["id"] for p in theirs}
    assert rows(web.get("/operator/products?q=芜湖+07").text) == [mine[7]["id"]]
    assert rows(web.get("/operator/products?q=price<=8&sort=price").text) == [cpu["id"], cheap["id"]]
    assert rows(web.get(f"/operator/products?datacenter={dc_first['id']}&sort=-price").text)[0] == mine[-1]["id"]
    assert rows(web.get("/operator/products?status=unlisted").text) == [theirs[0]["id"]]
    assert rows(web.get("/operator/products?kind=cpu").text) == [cpu["id"]]

    # the price the guard flagged (its seller confirmed it) is one filter away, with why it was flagged
    flagged = web.get("/operator/products?flagged=yes")
    assert cheap["id"] in rows(flagged.text) and mine[0]["id"] not in rows(flagged.text)
    assert 'data-testid="flagged"' in flagged.text and zh("On-demand price under the price index") in flagged.text
    assert 'data-testid="all-flagged"' in web.get("/operator").text

    # filters the list does not have are ignored, a sort it lacks is refused (not a 500), others may not look
    assert len(rows(web.get("/operator/products?datacenter=nope&status=gone&kind=x&flagged=maybe").text)) == 50
    assert web.get("/operator/products?sort=cheapest").status_code == 422
    english = web.get("/operator/products?lang=en&q=特价")
    assert "1 products" in english.text or "1 product" in english.text
    web.login(first["email"], PASSWORD)
    assert web.get("/operator/products").status_code == 403
