"""Sellers change many products at once (SQLite and PostgreSQL): prices by a percentage and listing, all or nothing,
through the same price guard as one product's change, each changed product audited as one change is."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from suanli.accounts import security


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def shop(make):
    """Three listed 8×910B servers at ¥64, ¥80 and ¥96 an hour (price index median ¥10 per accelerator-hour)."""
    seller = make.user("seller")
    dc = make.datacenter(seller)
    products = [make.product(seller, dc, chip="ascend-910b", price_on_demand_fen=fen,
                             price_reserved_month_fen=fen * 300, price_spot_floor_fen=fen // 2)
                for fen in (6400, 8000, 9600)]
    return {"seller": seller, "products": products, "operator": make.user("operator")}


def bulk(client, user, **body):
    return client.post("/api/v1/products/bulk", headers=user["headers"], json=body)


def prices(client, user, product_id):
    p = client.get(f"/api/v1/products/{product_id}", headers=user["headers"]).json()["prices"]
    return (p["on_demand_hour"]["fen"], (p["reserved_month"] or {}).get("fen"), (p["spot_floor_hour"] or {}).get("fen"))


def audit(client, operator):
    r = client.get("/api/v1/operator/audit", headers=operator["headers"], params={"action": "product.changed"})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_percentage_changes_every_price_of_the_chosen_products_and_is_audited_per_product(client, shop):
    seller, (a, b, c) = shop["seller"], shop["products"]
    r = bulk(client, seller, product_ids=[a["id"], b["id"]], price_change_pct="7.5")
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == 2
    # 6400 × 1.075 = 6880; 3200 × 1.075 = 3440; 1,920,000 × 1.075 = 2,064,000 (half-up to the fen)
    assert prices(client, seller, a["id"]) == (6880, 2_064_000, 3440)
    assert prices(client, seller, b["id"]) == (8600, 2_580_000, 4300)
    assert prices(client, seller, c["id"]) == (9600, 2_880_000, 4800)  # not chosen: unchanged
    # the catalog's copies follow: the price per PFLOPS-hour sorts by the new price
    listed = client.get("/api/v1/products", params={"chip": "ascend-910b", "sort": "price"}).json()["items"]
    assert [p["prices"]["on_demand_hour"]["fen"] for p in listed] == [6880, 8600, 9600]
    entries = audit(client, shop["operator"])
    assert sorted(e["target"] for e in entries) == sorted(f"product:{p['id']}" for p in (a, b))
    assert all(e["details"]["bulk"] == 2 for e in entries)
    changed = {e["target"]: e["details"]["changes"] for e in entries}
    assert changed[f"product:{a['id']}"]["price_on_demand_fen"] == [6400, 6880]


def test_prices_far_from_the_index_need_the_same_confirmation_and_nothing_changes_without_it(client, shop):
    seller, (a, b, c) = shop["seller"], shop["products"]
    r = bulk(client, seller, product_ids=[a["id"], b["id"], c["id"]], price_change_pct="-80")
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "price_needs_confirmation" and "confirm_unusual_price" in error["message"]
    # Each against the index of the others, as one product's change: a (¥12.80) is under 20 % of the ¥11 median
    # of b and c; b (¥16) is exactly 20 % of a and c's ¥10; every spot floor (half the price) is under.
    unusual = {p["product_id"]: p["checks"] for p in error["details"]["products"]}
    assert unusual == {a["id"]: ["on_demand_below_index", "spot_below_index"], b["id"]: ["spot_below_index"],
                       c["id"]: ["spot_below_index"]}
    assert error["details"]["products"][0]["thresholds"]["low_pct"] == 20
    assert [prices(client, seller, p["id"])[0] for p in (a, b, c)] == [6400, 8000, 9600]  # all or nothing
    assert audit(client, shop["operator"]) == []

    r = bulk(client, seller, product_ids=[a["id"], b["id"], c["id"]], price_change_pct="-80",
             confirm_unusual_price=True)
    assert r.status_code == 200, r.text
    assert [prices(client, seller, p["id"])[0] for p in (a, b, c)] == [1280, 1600, 1920]
    flagged = client.get("/api/v1/operator/unusual-prices", headers=shop["operator"]["headers"]).json()
    assert {f["product"]["id"]: f["checks"] for f in flagged} == unusual


def test_list_and_unlist_many_and_another_sellers_product_refuses_the_whole_change(client, make, shop):
    seller, (a, b, c) = shop["seller"], shop["products"]
    r = bulk(client, seller, product_ids=[a["id"], b["id"]], status="unlisted")
    assert r.status_code == 200, r.text
    assert {p["status"] for p in r.json()["products"]} == {"unlisted"}
    listed = client.get("/api/v1/products", params={"chip": "ascend-910b"}).json()["items"]
    assert [p["id"] for p in listed] == [c["id"]]

    other = make.user("seller")
    theirs = make.product(other, make.datacenter(other), chip="ascend-910b")
    r = bulk(client, seller, product_ids=[a["id"], theirs["id"]], status="listed")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner"
    assert client.get("/api/v1/products", params={"chip": "ascend-910b"}).json()["total"] == 2  # a stays unlisted

    r = bulk(client, seller, product_ids=[a["id"], b["id"]], status="listed", price_change_pct="1")
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/products", params={"chip": "ascend-910b"}).json()["total"] == 4
    assert prices(client, seller, a["id"])[0] == 6464
    statuses = [e["details"]["changes"].get("status") for e in audit(client, shop["operator"])]
    assert statuses.count(["listed", "unlisted"]) == 2 and statuses.count(["unlisted", "listed"]) == 2


@pytest.mark.parametrize("body", [
    {"product_ids": [], "status": "unlisted"},
    {"product_ids": ["00000000-0000-7000-8000-000000000000"]},
    {"product_ids": ["00000000-0000-7000-8000-000000000000"], "price_change_pct": "0"},
    {"product_ids": ["00000000-0000-7000-8000-000000000000"], "price_change_pct": "-95"},
    {"product_ids": ["00000000-0000-7000-8000-000000000000"], "price_change_pct": "1.005"},
    {"product_ids": ["00000000-0000-7000-8000-000000000000"] * 201, "status": "listed"},
])
def test_a_bulk_change_that_says_nothing_or_too_much_is_a_4xx_with_a_code(client, shop, body):
    r = bulk(client, shop["seller"], **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"]


def test_buyers_cannot_change_products(client, make, shop):
    r = bulk(client, make.user("buyer"), product_ids=[shop["products"][0]["id"]], status="unlisted")
    assert r.status_code == 403
