"""The price guard over HTTP (SQLite and PostgreSQL): unusual prices need the seller's confirmation, confirmed ones
are flagged for operators, and the operator's thresholds are validated."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from suanli.accounts import security


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def market(make):
    """Three listed 8×910B servers at ¥64, ¥80 and ¥96 an hour: median ¥10 per accelerator-hour, quartiles ¥9/¥11."""
    seller = make.user("seller")
    dc = make.datacenter(seller)
    for fen in (6400, 8000, 9600):
        make.product(seller, dc, chip="ascend-910b", price_on_demand_fen=fen, price_reserved_month_fen=None,
                     price_spot_floor_fen=None)
    return {"seller": seller, "dc": dc, "operator": make.user("operator"), "buyer": make.user("buyer")}


def body(market, **prices):
    base = {"datacenter_id": market["dc"]["id"], "name": "910B×8", "kind": "accelerator", "chip": "ascend-910b",
            "accelerators": 8, "vcpus": 192, "memory_gib": 1024, "disk_gib": 4000, "network_gbps": 200,
            "delivery": "bare_metal", "stock_units": 2, "price_on_demand_fen": 8000}
    return base | prices


def create(client, market, **prices):
    return client.post("/api/v1/products", headers=market["seller"]["headers"], json=body(market, **prices))


def needs_confirmation(response) -> dict:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "price_needs_confirmation", error
    assert "confirm_unusual_price" in error["message"]
    return error["details"]


def flagged(client, market) -> dict[str, list[str]]:
    r = client.get("/api/v1/operator/unusual-prices", headers=market["operator"]["headers"])
    assert r.status_code == 200, r.text
    return {item["product"]["id"]: item["checks"] for item in r.json()}


def test_the_testers_reserved_month_of_ten_yuan_needs_confirmation_then_is_flagged(client, market):
    before = client.get("/api/v1/products", params={"chip": "ascend-910b"}).json()["total"]
    details = needs_confirmation(create(client, market, price_reserved_month_fen=1000))
    assert details["checks"] == ["reserved_below_on_demand_hours"]
    assert details["fields"] == ["price_reserved_month_fen"]
    assert details["reference"] == {"unit": "on-demand CNY per accelerator-hour", "count": 3,
                                    "q1": {"fen": 900, "cny": "9.00"}, "median": {"fen": 1000, "cny": "10.00"},
                                    "q3": {"fen": 1100, "cny": "11.00"}}
    assert details["thresholds"] == {"low_pct": 20, "high_pct": 500, "min_reserved_hours": 200}
    assert client.get("/api/v1/products", params={"chip": "ascend-910b"}).json()["total"] == before
    assert flagged(client, market) == {}

    r = create(client, market, price_reserved_month_fen=1000, confirm_unusual_price=True)
    assert r.status_code == 201, r.text
    assert flagged(client, market) == {r.json()["id"]: ["reserved_below_on_demand_hours"]}


@pytest.mark.parametrize(("prices", "checks"), [
    ({"price_on_demand_fen": 1600}, []),                                  # exactly 20 % of ¥10 per accelerator
    ({"price_on_demand_fen": 1599}, ["on_demand_below_index"]),
    ({"price_on_demand_fen": 40000}, []),                                 # exactly 500 %
    ({"price_on_demand_fen": 40001}, ["on_demand_above_index"]),
    ({"price_spot_floor_fen": 1599}, ["spot_below_index"]),
    ({"price_spot_floor_fen": 1600}, []),
    ({"price_reserved_month_fen": 1_600_000}, []),                        # exactly 200 on-demand hours
    ({"price_reserved_month_fen": 1_599_999}, ["reserved_below_on_demand_hours"]),
    ({"price_on_demand_fen": 100, "price_reserved_month_fen": 1000},
     ["on_demand_below_index", "reserved_below_on_demand_hours"]),
])
def test_each_check_at_its_boundary(client, market, prices, checks):
    r = create(client, market, **prices)
    if not checks:
        assert r.status_code == 201, r.text
    else:
        assert needs_confirmation(r)["checks"] == checks


def test_without_an_index_for_the_chip_only_the_reserved_month_is_checked(client, market):
    assert create(client, market, chip="h800", price_on_demand_fen=1).status_code == 201
    # its index now: a median of 1 fen / 8 accelerators, 0 fen: no reference either
    assert create(client, market, chip="h800", price_on_demand_fen=1_000_000).status_code == 201
    details = needs_confirmation(create(client, market, chip="a800", price_reserved_month_fen=100))
    assert details["reference"] is None and details["checks"] == ["reserved_below_on_demand_hours"]


def test_a_cpu_server_is_not_measured_against_a_chip(client, market):
    r = create(client, market, kind="cpu", chip=None, accelerators=0, price_on_demand_fen=1)
    assert r.status_code == 201, r.text


def test_changing_prices_is_guarded_and_the_flag_follows_the_prices(client, market):
    headers = market["seller"]["headers"]
    product = create(client, market).json()
    url = f"/api/v1/products/{product['id']}"
    needs_confirmation(client.patch(url, headers=headers, json={"price_on_demand_fen": 800}))
    assert client.get(url).json()["prices"]["on_demand_hour"]["fen"] == 8000  # unchanged
    assert client.patch(url, headers=headers, json={"price_on_demand_fen": 800,
                                                    "confirm_unusual_price": True}).status_code == 200
    assert flagged(client, market) == {product["id"]: ["on_demand_below_index"]}
    # stock, name and listing alone are not re-checked; the flag stays
    assert client.patch(url, headers=headers, json={"stock_units": 5}).status_code == 200
    assert client.post(f"{url}/unlist", headers=headers).status_code == 200
    assert flagged(client, market) == {product["id"]: ["on_demand_below_index"]}
    # back to a usual price: the flag goes
    assert client.patch(url, headers=headers, json={"price_on_demand_fen": 8800}).status_code == 200
    assert flagged(client, market) == {}


def test_a_product_is_not_measured_against_its_own_price(client, make):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    only = make.product(seller, dc, chip="mlu370-x8", accelerators=8, price_on_demand_fen=8000,
                        price_reserved_month_fen=None, price_spot_floor_fen=None)
    r = client.patch(f"/api/v1/products/{only['id']}", headers=seller["headers"], json={"price_on_demand_fen": 80000})
    assert r.status_code == 200, r.text


def test_only_operators_see_the_flagged_products(client, market):
    for who in ("seller", "buyer"):
        r = client.get("/api/v1/operator/unusual-prices", headers=market[who]["headers"])
        assert r.status_code == 403, r.text


def test_operator_thresholds_apply_to_prices_set_from_then_on(client, market):
    headers = market["operator"]["headers"]
    settings = client.get("/api/v1/operator/settings", headers=headers).json()
    assert (settings["price_guard_low_pct"], settings["price_guard_high_pct"],
            settings["price_guard_min_reserved_hours"]) == (20, 500, 200)
    r = client.put("/api/v1/operator/settings", headers=headers,
                   json={"price_guard_min_reserved_hours": 0, "price_guard_low_pct": 50})
    assert r.status_code == 200, r.text
    assert create(client, market, price_reserved_month_fen=1000).status_code == 201
    assert needs_confirmation(create(client, market, price_on_demand_fen=3999))["checks"] == ["on_demand_below_index"]


@pytest.mark.parametrize("change", [{"price_guard_low_pct": 101}, {"price_guard_low_pct": -1},
                                    {"price_guard_high_pct": 99}, {"price_guard_high_pct": 100_001},
                                    {"price_guard_min_reserved_hours": 745}, {"price_guard_min_reserved_hours": "200"},
                                    {"price_guard_low_pct": 2.5}])
def test_operator_thresholds_are_validated(client, market, change):
    headers = market["operator"]["headers"]
    r = client.put("/api/v1/operator/settings", headers=headers, json=change)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"]
    assert client.get("/api/v1/operator/settings", headers=headers).json()["price_guard_low_pct"] == 20


def test_a_seller_cannot_change_the_thresholds(client, market):
    r = client.put("/api/v1/operator/settings", headers=market["seller"]["headers"], json={"price_guard_low_pct": 0})
    assert r.status_code == 403, r.text
