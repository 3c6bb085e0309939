"""Catalog over HTTP: data-center approval, ownership, product validation, normalized prices, product changes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from suanli.accounts import security
from suanli.catalog.models import Datacenter, Product


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same algorithm (argon2id), cheap parameters: the production ones are checked in test_accounts_api."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def search_ids(client, **params) -> set[str]:
    page = client.get("/api/v1/products", params={"limit": 100, **params})
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


def product_count(db) -> int:
    with db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Product))


def set_allocated(db, product_id: str, units: int) -> None:
    with db.unit_of_work() as session:
        session.execute(update(Product).where(Product.id == uuid.UUID(product_id)).values(allocated_units=units))


# ---------------------------------------------------------------- data centers: approval and visibility

def test_pending_datacenter_is_hidden_until_an_operator_approves_it(client, make):
    seller, buyer, operator = make.user("seller"), make.user("buyer"), make.user("operator")
    dc = make.datacenter(seller, approved=False, name="芜湖一号")
    assert dc["status"] == "pending" and dc["approved_at"] is None
    assert dc["region"]["province"] == "安徽" and dc["region"]["city"] == "芜湖"
    product = make.product(seller, dc)
    assert product["listed"] is False and product["status"] == "listed"

    def visible_ids(headers=None, **params):
        r = client.get("/api/v1/datacenters", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()]

    # Anonymous and other users: not listed, 404 on the detail.
    assert visible_ids() == []
    assert visible_ids(buyer["headers"]) == []
    error(client.get(f"/api/v1/datacenters/{dc['id']}"), 404, "datacenter_not_found")
    error(client.get(f"/api/v1/datacenters/{dc['id']}", headers=buyer["headers"]), 404, "datacenter_not_found")
    assert search_ids(client) == set()
    error(client.get(f"/api/v1/products/{product['id']}"), 404, "product_not_found")
    # The owner and operators see it.
    assert visible_ids(seller["headers"]) == [dc["id"]]
    assert visible_ids(seller["headers"], mine="true") == [dc["id"]]
    assert client.get(f"/api/v1/datacenters/{dc['id']}", headers=seller["headers"]).json()["status"] == "pending"
    assert visible_ids(operator["headers"], status="pending") == [dc["id"]]
    assert visible_ids(operator["headers"], status="approved") == []

    r = client.post(f"/api/v1/datacenters/{dc['id']}/approve", headers=operator["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["approved_at"] is not None

    assert visible_ids() == [dc["id"]]
    public = client.get(f"/api/v1/datacenters/{dc['id']}")
    assert public.status_code == 200 and public.json()["name"] == "芜湖一号"
    assert search_ids(client) == {product["id"]}
    assert client.get(f"/api/v1/products/{product['id']}").json()["listed"] is True
    assert visible_ids(operator["headers"], status="pending") == []


def test_only_operators_approve_or_suspend(client, make):
    seller, buyer = make.user("seller"), make.user("buyer")
    dc = make.datacenter(seller, approved=False)
    for action in ("approve", "suspend"):
        err = error(client.post(f"/api/v1/datacenters/{dc['id']}/{action}", headers=buyer["headers"]), 403,
                    "wrong_role")
        assert err["details"]["required_roles"] == ["operator"]
        error(client.post(f"/api/v1/datacenters/{dc['id']}/{action}", headers=seller["headers"]), 403, "wrong_role")
        error(client.post(f"/api/v1/datacenters/{dc['id']}/{action}"), 401, "not_authenticated")
    assert client.get(f"/api/v1/datacenters/{dc['id']}", headers=seller["headers"]).json()["status"] == "pending"


def test_approving_an_unknown_datacenter_is_404(client, make):
    operator = make.user("operator")
    error(client.post(f"/api/v1/datacenters/{uuid.uuid4()}/approve", headers=operator["headers"]), 404,
          "datacenter_not_found")


def test_buyers_cannot_create_datacenters_or_products(client, make):
    seller, buyer = make.user("seller"), make.user("buyer")
    dc = make.datacenter(seller)
    region = make.region()
    r = client.post("/api/v1/datacenters", headers=buyer["headers"], json={
        "name": "买家机房", "region_id": region["id"], "tier": 3, "pue": "1.3", "green_power_pct": 10})
    error(r, 403, "wrong_role")
    r = client.post("/api/v1/products", headers=buyer["headers"], json={
        "datacenter_id": dc["id"], "name": "x", "kind": "cpu", "vcpus": 8, "memory_gib": 16, "disk_gib": 100,
        "network_gbps": 10, "delivery": "vm", "stock_units": 1, "price_on_demand_fen": 100})
    error(r, 403, "wrong_role")
    assert product_count(make.db) == 0


def test_other_sellers_cannot_change_a_datacenter_or_its_products(client, make):
    a, b = make.user("seller"), make.user("seller")
    dc = make.datacenter(a, name="A 的机房")
    product = make.product(a, dc)

    error(client.patch(f"/api/v1/datacenters/{dc['id']}", headers=b["headers"], json={"name": "B 的机房"}), 403,
          "not_owner")
    error(client.patch(f"/api/v1/products/{product['id']}", headers=b["headers"],
                       json={"price_on_demand_fen": 1}), 403, "not_owner")
    error(client.post(f"/api/v1/products/{product['id']}/unlist", headers=b["headers"]), 403, "not_owner")
    error(client.get(f"/api/v1/datacenters/{dc['id']}/products", headers=b["headers"]), 403, "not_owner")
    r = client.post("/api/v1/products", headers=b["headers"], json={
        "datacenter_id": dc["id"], "name": "B 的产品", "kind": "cpu", "vcpus": 8, "memory_gib": 16, "disk_gib": 100,
        "network_gbps": 10, "delivery": "vm", "stock_units": 1, "price_on_demand_fen": 100})
    error(r, 403, "not_owner")

    # Nothing changed.
    assert client.get(f"/api/v1/datacenters/{dc['id']}").json()["name"] == "A 的机房"
    same = client.get(f"/api/v1/products/{product['id']}").json()
    assert same["prices"]["on_demand_hour"]["fen"] == 8000 and same["listed"] is True
    assert product_count(make.db) == 1

    # The owner can.
    r = client.patch(f"/api/v1/datacenters/{dc['id']}", headers=a["headers"], json={"name": "A 的新机房", "tier": 4})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["tier"]) == ("A 的新机房", 4)


def test_another_sellers_pending_datacenter_is_not_found(client, make):
    a, b = make.user("seller"), make.user("seller")
    dc = make.datacenter(a, approved=False)
    product = make.product(a, dc)
    error(client.patch(f"/api/v1/datacenters/{dc['id']}", headers=b["headers"], json={"tier": 1}), 404,
          "datacenter_not_found")
    error(client.patch(f"/api/v1/products/{product['id']}", headers=b["headers"], json={"stock_units": 1}), 404,
          "product_not_found")
    error(client.get(f"/api/v1/products/{product['id']}", headers=b["headers"]), 404, "product_not_found")


def test_datacenter_create_validation(client, make):
    seller = make.user("seller")
    region = make.region()
    good = {"name": "合肥二号", "region_id": region["id"], "tier": 3, "pue": "1.25", "green_power_pct": 40}
    assert client.post("/api/v1/datacenters", headers=seller["headers"], json=good).status_code == 201
    error(client.post("/api/v1/datacenters", headers=seller["headers"], json=good), 409, "datacenter_exists")
    error(client.post("/api/v1/datacenters", headers=seller["headers"],
                      json={**good, "name": "x", "region_id": str(uuid.uuid4())}), 404, "region_not_found")
    for bad in ({"tier": 0}, {"tier": 5}, {"pue": "0.9"}, {"pue": "3.5"}, {"pue": "1.255"}, {"green_power_pct": 101},
                {"green_power_pct": -1}, {"name": ""}, {"name": "x" * 201}, {"owner_org_id": str(uuid.uuid4())}):
        err = error(client.post("/api/v1/datacenters", headers=seller["headers"], json={**good, "name": "y", **bad}),
                    422, "validation_error")
        assert set(bad) & {e["field"] for e in err["details"]["errors"]}, (bad, err)
    with make.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Datacenter)) == 1


def test_regions_are_made_by_operators(client, make):
    seller, operator = make.user("seller"), make.user("operator")
    body = {"province": "四川", "city": "成都", "hub": "成渝", "cluster": "天府集群"}
    error(client.post("/api/v1/regions", headers=seller["headers"], json=body), 403, "wrong_role")
    r = client.post("/api/v1/regions", headers=operator["headers"], json=body)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in body} == body
    error(client.post("/api/v1/regions", headers=operator["headers"], json=body), 409, "region_exists")
    assert [(x["province"], x["city"]) for x in client.get("/api/v1/regions").json()] == [("四川", "成都")]


# ---------------------------------------------------------------- product validation

CPU = {"kind": "cpu", "chip": None, "accelerators": 0, "vcpus": 64, "memory_gib": 256, "delivery": "vm"}
A800_NODE = {"name": "x", "chip": "a800", "accelerators": 8, "vcpus": 96, "memory_gib": 1024, "disk_gib": 4000,
             "network_gbps": 200, "delivery": "bare_metal", "stock_units": 4, "price_on_demand_fen": 8000,
             "price_reserved_month_fen": 3_500_000, "price_spot_floor_fen": 3000}

SPEC_RULES = [
    ({"chip": None}, "chip_required", "chip"),
    ({"accelerators": 0}, "accelerators_required", "accelerators"),
    ({**CPU, "chip": "a800"}, "chip_not_allowed", "chip"),
    ({**CPU, "accelerators": 2}, "chip_not_allowed", "chip"),
    ({"kind": "storage", "chip": "a800", "accelerators": 0}, "chip_not_allowed", "chip"),
]


def test_product_spec_rules(client, make, subtests):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    for overrides, code, field in SPEC_RULES:
        with subtests.test(code=code, overrides=overrides):
            body = {**A800_NODE, "datacenter_id": dc["id"], **overrides}
            err = error(client.post("/api/v1/products", headers=seller["headers"], json=body), 422, code)
            assert err["details"]["field"] == field
    assert product_count(make.db) == 0


def test_unknown_chip_lists_the_valid_chips(client, make):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    r = client.post("/api/v1/products", headers=seller["headers"],
                    json={**A800_NODE, "datacenter_id": dc["id"], "chip": "b200"})
    err = error(r, 422, "unknown_chip")
    valid = err["details"]["valid_values"]
    assert {"a800", "h800", "ascend-910b", "hygon-dcu-z100", "rtx4090"} <= set(valid)
    assert valid == [c["key"] for c in client.get("/api/v1/chips").json()]
    assert "b200" in err["message"] and "a800" in err["message"]
    assert product_count(make.db) == 0


FIELD_ERRORS = [
    ({"price_spot_floor_fen": 8001}, None),  # spot floor above on-demand: a whole-body rule
    ({"price_on_demand_fen": -100}, "price_on_demand_fen"),
    ({"price_on_demand_fen": 0}, "price_on_demand_fen"),
    ({"price_on_demand_fen": 100_000_001}, "price_on_demand_fen"),
    ({"price_on_demand_fen": 10**30}, "price_on_demand_fen"),
    ({"price_on_demand_fen": 80.5}, "price_on_demand_fen"),
    ({"price_on_demand_fen": "eighty"}, "price_on_demand_fen"),
    ({"price_on_demand_fen": None}, "price_on_demand_fen"),
    ({"price_reserved_month_fen": 0}, "price_reserved_month_fen"),
    ({"price_reserved_month_fen": 10_000_000_001}, "price_reserved_month_fen"),
    ({"price_spot_floor_fen": -1}, "price_spot_floor_fen"),
    ({"stock_units": -1}, "stock_units"),
    ({"stock_units": 1_000_001}, "stock_units"),
    ({"accelerators": 65}, "accelerators"),
    ({"accelerators": -8}, "accelerators"),
    ({"vcpus": -1}, "vcpus"),
    ({"memory_gib": 65537}, "memory_gib"),
    ({"network_gbps": 100_000}, "network_gbps"),
    ({"delivery": "teleport"}, "delivery"),
    ({"kind": "gpu"}, "kind"),
    ({"status": "deleted"}, "status"),
    ({"name": "   "}, "name"),
    ({"allocated_units": 0}, "allocated_units"),
    ({"is_visible": True}, "is_visible"),
]


def test_product_field_validation(client, make, subtests):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    for overrides, field in FIELD_ERRORS:
        with subtests.test(overrides=overrides):
            body = {**A800_NODE, "datacenter_id": dc["id"], **overrides}
            err = error(client.post("/api/v1/products", headers=seller["headers"], json=body), 422,
                        "validation_error")
            if field is not None:
                assert field in [e["field"] for e in err["details"]["errors"]]
            else:
                assert "price_spot_floor_fen" in err["message"]
    assert product_count(make.db) == 0


def test_spot_floor_equal_to_on_demand_is_allowed(make):
    seller = make.user("seller")
    product = make.product(seller, make.datacenter(seller), price_spot_floor_fen=8000)
    assert product["prices"]["spot_floor_hour"] == {"fen": 8000, "cny": "80.00"}


def test_product_in_an_unknown_datacenter_is_404(client, make):
    seller = make.user("seller")
    r = client.post("/api/v1/products", headers=seller["headers"], json={
        "datacenter_id": str(uuid.uuid4()), "name": "x", "chip": "a800", "accelerators": 8, "vcpus": 96,
        "memory_gib": 1024, "disk_gib": 4000, "network_gbps": 200, "delivery": "bare_metal", "stock_units": 4,
        "price_on_demand_fen": 8000})
    error(r, 404, "datacenter_not_found")


# ---------------------------------------------------------------- normalized compute and prices

def test_normalized_compute_and_prices_of_an_8x_a800_node(client, make):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    p = make.product(seller, dc, name="A800×8 裸金属", chip="a800", accelerators=8, price_on_demand_fen=8000,
                     price_reserved_month_fen=3_500_000, price_spot_floor_fen=3000)
    for got in (p, client.get(f"/api/v1/products/{p['id']}").json(),
                client.get("/api/v1/products").json()["items"][0]):
        assert got["chip"]["key"] == "a800" and got["chip"]["fp16_tflops"] == 312
        assert got["compute"] == {"fp16_pflops": 2.496, "fp32_tflops": 155.92, "accel_memory_gib": 80}
        prices = got["prices"]
        assert prices["on_demand_hour"] == {"fen": 8000, "cny": "80.00"}
        assert prices["reserved_month"] == {"fen": 3_500_000, "cny": "35000.00"}
        assert prices["spot_floor_hour"] == {"fen": 3000, "cny": "30.00"}
        assert prices["per_accelerator_hour"] == {"fen": 1000, "cny": "10.00"}
        # 8000 fen / 2.496 PFLOPS = 3205.128... -> 3205 fen
        assert prices["per_fp16_pflops_hour"] == {"fen": 3205, "cny": "32.05"}
        assert got["billing_modes"] == ["on_demand", "reserved", "spot"]
        assert got["stock_units"] == 4 and got["available_units"] == 4
        assert got["datacenter"]["id"] == dc["id"] and got["region"]["city"] == "芜湖"


ROUNDING = [  # chip, accelerators, on-demand fen, per accelerator-hour, unit PFLOPS, per PFLOPS-hour
    ("a800", 8, 8004, 1001, 2.496, 3207),         # 1000.5 rounds half-up; 8004/2.496 = 3206.73
    ("a800", 8, 8003, 1000, 2.496, 3206),         # 1000.375; 3206.33
    ("ascend-910b", 8, 7400, 925, 3.008, 2460),   # 7400/3.008 = 2460.106
    ("ascend-910b", 1, 999, 999, 0.376, 2657),    # 2656.91
    ("hygon-dcu-z100", 4, 680, 170, 0.098, 6939),  # 6938.78
    ("rtx4090", 1, 192, 192, 0.1652, 1162),       # 1162.23
    ("h800", 8, 15280, 1910, 7.912, 1931),        # 1931.24
    ("a800", 3, 100, 33, 0.936, 107),             # 33.33; 106.84
    ("a800", 2, 1, 1, 0.624, 2),                  # 0.5 -> 1; 1.60 -> 2
]


def test_normalized_prices_round_half_up_to_the_fen(make, subtests):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    for chip, accelerators, price, per_accel, pflops, per_pflops in ROUNDING:
        with subtests.test(chip=chip, accelerators=accelerators, price=price):
            p = make.product(seller, dc, chip=chip, accelerators=accelerators, price_on_demand_fen=price,
                             price_spot_floor_fen=None, price_reserved_month_fen=None)
            assert p["compute"]["fp16_pflops"] == pflops
            assert p["prices"]["per_accelerator_hour"]["fen"] == per_accel
            assert p["prices"]["per_fp16_pflops_hour"]["fen"] == per_pflops
            assert p["billing_modes"] == ["on_demand"]


def test_cpu_and_storage_products_have_no_accelerator_prices(make):
    seller = make.user("seller")
    dc = make.datacenter(seller)
    for kind in ("cpu", "storage"):
        p = make.product(seller, dc, kind=kind, chip=None, accelerators=0, price_on_demand_fen=576,
                         price_spot_floor_fen=None)
        assert p["chip"] is None
        assert p["compute"] == {"fp16_pflops": 0.0, "fp32_tflops": 0.0, "accel_memory_gib": 0}
        assert p["prices"]["per_accelerator_hour"] is None and p["prices"]["per_fp16_pflops_hour"] is None
        assert p["prices"]["on_demand_hour"] == {"fen": 576, "cny": "5.76"}
        assert p["billing_modes"] == ["on_demand", "reserved"]


# ---------------------------------------------------------------- product changes

def test_price_change_updates_the_normalized_prices_and_search(client, make):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller))
    assert search_ids(client, q="price_per_accel=10") == {p["id"]}
    r = client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={"price_on_demand_fen": 9600})
    assert r.status_code == 200, r.text
    for got in (r.json(), client.get(f"/api/v1/products/{p['id']}").json()):
        assert got["prices"]["on_demand_hour"] == {"fen": 9600, "cny": "96.00"}
        assert got["prices"]["per_accelerator_hour"] == {"fen": 1200, "cny": "12.00"}
        assert got["prices"]["per_fp16_pflops_hour"]["fen"] == 3846  # 9600 / 2.496 = 3846.15
        assert got["prices"]["spot_floor_hour"]["fen"] == 3000  # untouched
    assert search_ids(client, q="price_per_accel=10") == set()
    assert search_ids(client, q="price_per_accel=12") == {p["id"]}
    assert search_ids(client, q="price=96") == {p["id"]}
    assert search_ids(client, q="price_per_pflops=38.46") == {p["id"]}


def test_patch_changes_only_the_given_fields(client, make):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller), name="旧名字")
    r = client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={"name": "新名字"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == "新名字"
    for key in ("prices", "stock_units", "billing_modes", "compute", "status", "listed"):
        assert got[key] == p[key], key


def test_clearing_reserved_and_spot_modes(client, make):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller))
    assert search_ids(client, mode="spot") == {p["id"]}
    r = client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={"clear_spot": True})
    assert r.json()["billing_modes"] == ["on_demand", "reserved"] and r.json()["prices"]["spot_floor_hour"] is None
    assert search_ids(client, mode="spot") == set()
    r = client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={"clear_reserved": True})
    assert r.json()["billing_modes"] == ["on_demand"]
    assert search_ids(client, mode="reserved") == set()
    assert search_ids(client, mode="on_demand") == {p["id"]}


@pytest.mark.parametrize("patch", [{"price_spot_floor_fen": 8001}, {"price_on_demand_fen": 2999}])
def test_patch_cannot_put_the_spot_floor_above_on_demand(client, make, patch):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller))
    err = error(client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={**patch, "name": "改"}),
                422, "spot_above_on_demand")
    assert err["details"]["field"] == "price_spot_floor_fen"
    got = client.get(f"/api/v1/products/{p['id']}").json()
    assert got["name"] == p["name"] and got["prices"] == p["prices"]  # the whole change was rolled back


PATCH_ERRORS = [{"stock_units": -1}, {"price_on_demand_fen": 0}, {"price_spot_floor_fen": 10**30},
                {"status": "gone"}, {"datacenter_id": str(uuid.uuid4())}, {"chip": "h800"}, {"accelerators": 1},
                {"allocated_units": 0}, {"clear_spot": "maybe"}]


def test_patch_validation(client, make, subtests):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller))
    for patch in PATCH_ERRORS:
        with subtests.test(patch=patch):
            err = error(client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json=patch), 422,
                        "validation_error")
            assert set(patch) & {e["field"] for e in err["details"]["errors"]}
    assert client.get(f"/api/v1/products/{p['id']}").json()["prices"] == p["prices"]


def test_unlist_hides_and_list_brings_back(client, make):
    seller, other = make.user("seller"), make.user("seller")
    dc = make.datacenter(seller)
    p = make.product(seller, dc)
    keep = make.product(seller, dc)
    assert search_ids(client) == {p["id"], keep["id"]}

    r = client.post(f"/api/v1/products/{p['id']}/unlist", headers=seller["headers"])
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["listed"]) == ("unlisted", False)
    assert search_ids(client) == {keep["id"]}
    assert client.get("/api/v1/products").json()["total"] == 1
    error(client.get(f"/api/v1/products/{p['id']}"), 404, "product_not_found")
    error(client.get(f"/api/v1/products/{p['id']}", headers=other["headers"]), 404, "product_not_found")
    mine = client.get(f"/api/v1/products/{p['id']}", headers=seller["headers"])
    assert mine.status_code == 200 and mine.json()["listed"] is False
    operator = make.user("operator")
    assert client.get(f"/api/v1/products/{p['id']}", headers=operator["headers"]).status_code == 200
    listing = client.get(f"/api/v1/datacenters/{dc['id']}/products", headers=seller["headers"]).json()
    assert {x["id"]: x["listed"] for x in listing} == {p["id"]: False, keep["id"]: True}

    r = client.post(f"/api/v1/products/{p['id']}/list", headers=seller["headers"])
    assert (r.json()["status"], r.json()["listed"]) == ("listed", True)
    assert search_ids(client) == {p["id"], keep["id"]}
    assert client.get(f"/api/v1/products/{p['id']}").status_code == 200

    # status through PATCH works the same way
    client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={"status": "unlisted"})
    assert search_ids(client) == {keep["id"]}


def test_product_created_unlisted_stays_out_of_the_catalog(client, make):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller), status="unlisted")
    assert p["listed"] is False
    assert search_ids(client) == set()


def test_stock_cannot_go_below_allocated_units(client, make):
    seller = make.user("seller")
    p = make.product(seller, make.datacenter(seller), stock_units=4)
    set_allocated(make.db, p["id"], 3)
    assert client.get(f"/api/v1/products/{p['id']}").json()["available_units"] == 1
    err = error(client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"],
                             json={"stock_units": 2, "name": "不应改名"}), 409, "stock_below_allocated")
    assert err["details"]["allocated_units"] == 3
    got = client.get(f"/api/v1/products/{p['id']}").json()
    assert (got["stock_units"], got["name"]) == (4, p["name"])
    r = client.patch(f"/api/v1/products/{p['id']}", headers=seller["headers"], json={"stock_units": 3})
    assert r.status_code == 200, r.text
    assert (r.json()["stock_units"], r.json()["available_units"]) == (3, 0)
    assert search_ids(client, q="available=true") == set()
    assert search_ids(client, available_only="true") == set()
    assert search_ids(client, q="available=false") == {p["id"]}


# ---------------------------------------------------------------- data-center status and moves

def test_suspending_a_datacenter_hides_its_products(client, make):
    seller, operator = make.user("seller"), make.user("operator")
    dc, other_dc = make.datacenter(seller), make.datacenter(seller)
    p1, p2 = make.product(seller, dc), make.product(seller, dc)
    unlisted = make.product(seller, dc, status="unlisted")
    elsewhere = make.product(seller, other_dc)
    assert search_ids(client) == {p1["id"], p2["id"], elsewhere["id"]}

    r = client.post(f"/api/v1/datacenters/{dc['id']}/suspend", headers=operator["headers"])
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert search_ids(client) == {elsewhere["id"]}
    error(client.get(f"/api/v1/products/{p1['id']}"), 404, "product_not_found")
    error(client.get(f"/api/v1/datacenters/{dc['id']}"), 404, "datacenter_not_found")
    owner_view = client.get(f"/api/v1/products/{p1['id']}", headers=seller["headers"]).json()
    assert owner_view["listed"] is False and owner_view["status"] == "listed"
    assert client.get("/api/v1/stats").json()["products_listed"] == 1

    # The seller's own edits do not bring a product back while the data center is suspended.
    r = client.patch(f"/api/v1/products/{p1['id']}", headers=seller["headers"], json={"price_on_demand_fen": 7000})
    assert r.status_code == 200 and r.json()["listed"] is False
    r = client.post(f"/api/v1/products/{p2['id']}/list", headers=seller["headers"])
    assert r.status_code == 200 and r.json()["listed"] is False
    assert search_ids(client) == {elsewhere["id"]}

    # Approval again: listed products return, the unlisted one stays out.
    client.post(f"/api/v1/datacenters/{dc['id']}/approve", headers=operator["headers"])
    assert search_ids(client) == {p1["id"], p2["id"], elsewhere["id"]}
    assert unlisted["id"] not in search_ids(client)


def test_moving_a_datacenter_moves_its_products_in_search(client, make):
    seller = make.user("seller")
    wuhu = make.region("安徽", "芜湖", "长三角")
    chengdu = make.region("四川", "成都", "成渝", "天府集群")
    dc = make.datacenter(seller, region=wuhu)
    p = make.product(seller, dc)
    assert search_ids(client, province="安徽") == {p["id"]}
    r = client.patch(f"/api/v1/datacenters/{dc['id']}", headers=seller["headers"], json={"region_id": chengdu["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["region"]["city"] == "成都"
    assert search_ids(client, province="安徽") == set()
    assert search_ids(client, province="四川") == {p["id"]}
    assert search_ids(client, city="成都") == {p["id"]}
    assert search_ids(client, hub="成渝") == {p["id"]}
    assert client.get(f"/api/v1/products/{p['id']}").json()["region"]["city"] == "成都"
    error(client.patch(f"/api/v1/datacenters/{dc['id']}", headers=seller["headers"],
                       json={"region_id": str(uuid.uuid4())}), 404, "region_not_found")


def test_product_created_in_a_pending_datacenter_appears_on_approval_with_its_region(client, make):
    seller, operator = make.user("seller"), make.user("operator")
    dc = make.datacenter(seller, approved=False, region=make.region("安徽", "合肥", "长三角", None))
    p = make.product(seller, dc)
    client.post(f"/api/v1/datacenters/{dc['id']}/approve", headers=operator["headers"])
    assert search_ids(client, city="合肥") == {p["id"]}
    assert Decimal(client.get(f"/api/v1/products/{p['id']}").json()["datacenter"]["pue"]) == Decimal("1.25")
