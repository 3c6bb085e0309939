"""A sweep of bad requests: every one gets a 4xx with a JSON error body, none a 5xx.

One table, one setup per backend (a seller with a data center and a product, an operator, a buyer);
each row is checked in its own subtest.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher

from suanli.accounts import security

JSON = {"content-type": "application/json"}
UNKNOWN = "00000000-0000-7000-8000-000000000000"


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass
class Case:
    name: str
    method: str
    path: str  # may contain {product}, {datacenter}, {region}
    status: int
    code: str
    as_user: str | None = None  # "seller", "buyer", "operator"
    json: Any = None
    content: str | bytes | None = None
    data: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    fields: tuple[str, ...] = ()  # fields that details.errors must name
    extra: dict[str, Any] = field(default_factory=dict)


def product_body(**overrides: Any) -> dict[str, Any]:
    body = {"datacenter_id": "{datacenter}", "name": "x", "chip": "a800", "accelerators": 8, "vcpus": 96,
            "memory_gib": 1024, "disk_gib": 4000, "network_gbps": 200, "delivery": "bare_metal", "stock_units": 4,
            "price_on_demand_fen": 8000}
    body.update(overrides)
    return body


def dc_body(**overrides: Any) -> dict[str, Any]:
    body = {"name": "新机房", "region_id": "{region}", "tier": 3, "pue": "1.25", "green_power_pct": 40}
    body.update(overrides)
    return body


def register_body(**overrides: Any) -> dict[str, Any]:
    body = {"email": f"new-{uuid.uuid4().hex[:6]}@example.cn", "password": "long-enough-pw",
            "display_name": "新用户", "organization_name": f"新组织 {uuid.uuid4().hex[:6]}", "role": "buyer"}
    body.update(overrides)
    return body


V = "validation_error"
CASES: list[Case] = [
    # ---- malformed JSON
    Case("register: truncated JSON", "POST", "/api/v1/auth/register", 400, "malformed_json", content='{"email": '),
    Case("product: trailing comma", "POST", "/api/v1/products", 400, "malformed_json", "seller",
         content='{"name": "x",}'),
    Case("product patch: not JSON", "PATCH", "/api/v1/products/{product}", 400, "malformed_json", "seller",
         content="name=x"),
    Case("datacenter: bytes that are not UTF-8", "POST", "/api/v1/datacenters", 400, "malformed_json", "seller",
         content=b"\xff\xfe{}"),
    Case("api key: single quotes", "POST", "/api/v1/auth/api-keys", 400, "malformed_json", "seller",
         content="{'name': 'x'}"),
    Case("region: unclosed list", "POST", "/api/v1/regions", 400, "malformed_json", "operator", content="[1,"),
    Case("register: NaN is not JSON for a string", "POST", "/api/v1/auth/register", 422, V,
         content='{"email": NaN}', fields=("email",)),
    # JSON that Python's parser gives up on (recursion limit, 4300-digit int limit): a plain 400
    Case("register: nested 100000 deep", "POST", "/api/v1/auth/register", 400, "bad_request",
         content="[" * 100_000 + "]" * 100_000),
    Case("datacenter: a 5000-digit number", "POST", "/api/v1/datacenters", 400, "bad_request",
         "seller", content='{"tier": ' + "9" * 5000 + "}"),
    Case("register: empty body", "POST", "/api/v1/auth/register", 422, V, content="", fields=("body",)),
    Case("register: a list, not an object", "POST", "/api/v1/auth/register", 422, V, json=[1, 2], fields=("body",)),
    Case("register: a string, not an object", "POST", "/api/v1/auth/register", 422, V, json="hi", fields=("body",)),
    # ---- wrong types
    Case("register: email is a number", "POST", "/api/v1/auth/register", 422, V,
         json=register_body(email=123), fields=("email",)),
    Case("register: role is a list", "POST", "/api/v1/auth/register", 422, V,
         json=register_body(role=["buyer"]), fields=("role",)),
    Case("datacenter: tier is text", "POST", "/api/v1/datacenters", 422, V, "seller",
         json=dc_body(tier="three"), fields=("tier",)),
    Case("datacenter: region id is not a uuid", "POST", "/api/v1/datacenters", 422, V, "seller",
         json=dc_body(region_id="芜湖"), fields=("region_id",)),
    Case("datacenter: pue is NaN", "POST", "/api/v1/datacenters", 422, V, "seller",
         content=json.dumps(dc_body()).replace('"1.25"', "NaN"), fields=("pue",)),
    Case("datacenter: pue is Infinity", "POST", "/api/v1/datacenters", 422, V, "seller",
         content=json.dumps(dc_body()).replace('"1.25"', "Infinity"), fields=("pue",)),
    Case("product: accelerators is text", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(accelerators="eight"), fields=("accelerators",)),
    Case("product: stock is a list", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(stock_units=[1]), fields=("stock_units",)),
    Case("product: price is an object", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(price_on_demand_fen={"fen": 8000}), fields=("price_on_demand_fen",)),
    Case("product: price is a fraction", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(price_on_demand_fen=80.5), fields=("price_on_demand_fen",)),
    Case("product: datacenter id is a number", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(datacenter_id=7), fields=("datacenter_id",)),
    Case("product: several wrong fields are all named", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(vcpus="a", memory_gib="b", delivery=1), fields=("vcpus", "memory_gib", "delivery")),
    Case("product: missing required fields", "POST", "/api/v1/products", 422, V, "seller",
         json={"name": "x"}, fields=("datacenter_id", "price_on_demand_fen", "stock_units", "delivery")),
    Case("product patch: stock is text", "PATCH", "/api/v1/products/{product}", 422, V, "seller",
         json={"stock_units": "many"}, fields=("stock_units",)),
    Case("api key: name is a number", "POST", "/api/v1/auth/api-keys", 422, V, "seller",
         json={"name": 5}, fields=("name",)),
    Case("region: province is null", "POST", "/api/v1/regions", 422, V, "operator",
         json={"province": None, "city": "x", "hub": "y"}, fields=("province",)),
    Case("search: limit is text", "GET", "/api/v1/products", 422, V, params={"limit": "ten"}, fields=("limit",)),
    Case("search: limit is 1e2", "GET", "/api/v1/products", 422, V, params={"limit": "1e2"}, fields=("limit",)),
    Case("search: available_only is not a bool", "GET", "/api/v1/products", 422, V,
         params={"available_only": "perhaps"}, fields=("available_only",)),
    Case("datacenters: unknown status", "GET", "/api/v1/datacenters", 422, V, params={"status": "open"},
         fields=("status",)),
    Case("price index: by_province is not a bool", "GET", "/api/v1/price-index", 422, V,
         params={"by_province": "maybe"}, fields=("by_province",)),
    Case("token: JSON instead of a form", "POST", "/api/v1/auth/token", 422, V,
         json={"username": "a@b.cn", "password": "x"}, fields=("username", "password")),
    # ---- unknown fields in bodies
    Case("register: is_operator", "POST", "/api/v1/auth/register", 422, V,
         json=register_body(is_operator=True), fields=("is_operator",)),
    Case("product: allocated_units", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(allocated_units=0), fields=("allocated_units",)),
    Case("product: misspelled field", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(accelerator=8), fields=("accelerator",)),
    Case("datacenter patch: a seller cannot approve by PATCH", "PATCH", "/api/v1/datacenters/{datacenter}", 422, V,
         "seller", json={"status": "approved"}, fields=("status",)),
    Case("datacenter patch: owner", "PATCH", "/api/v1/datacenters/{datacenter}", 422, V, "seller",
         json={"owner_org_id": UNKNOWN}, fields=("owner_org_id",)),
    Case("product patch: is_visible", "PATCH", "/api/v1/products/{product}", 422, V, "seller",
         json={"is_visible": True}, fields=("is_visible",)),
    Case("product patch: chip", "PATCH", "/api/v1/products/{product}", 422, V, "seller",
         json={"chip": "h800"}, fields=("chip",)),
    Case("region: extra", "POST", "/api/v1/regions", 422, V, "operator",
         json={"province": "x", "city": "y", "hub": "z", "population": 1}, fields=("population",)),
    Case("api key: expires_at", "POST", "/api/v1/auth/api-keys", 422, V, "seller",
         json={"name": "k", "expires_at": "2099-01-01"}, fields=("expires_at",)),
    # ---- huge numbers
    Case("datacenter: tier 10**30", "POST", "/api/v1/datacenters", 422, V, "seller",
         json=dc_body(tier=10**30), fields=("tier",)),
    Case("datacenter: green power 10**30", "POST", "/api/v1/datacenters", 422, V, "seller",
         json=dc_body(green_power_pct=10**30), fields=("green_power_pct",)),
    Case("datacenter: pue 1e30", "POST", "/api/v1/datacenters", 422, V, "seller",
         json=dc_body(pue=1e30), fields=("pue",)),
    Case("product: price 10**30", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(price_on_demand_fen=10**30), fields=("price_on_demand_fen",)),
    Case("product: stock 10**30", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(stock_units=10**30), fields=("stock_units",)),
    Case("product: accelerators 10**30", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(accelerators=10**30), fields=("accelerators",)),
    Case("product: disk 10**30", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(disk_gib=10**30), fields=("disk_gib",)),
    Case("product: reserved price -10**30", "POST", "/api/v1/products", 422, V, "seller",
         json=product_body(price_reserved_month_fen=-(10**30)), fields=("price_reserved_month_fen",)),
    Case("product patch: stock 10**30", "PATCH", "/api/v1/products/{product}", 422, V, "seller",
         json={"stock_units": 10**30}, fields=("stock_units",)),
    Case("product patch: reserved 10**30", "PATCH", "/api/v1/products/{product}", 422, V, "seller",
         json={"price_reserved_month_fen": 10**30}, fields=("price_reserved_month_fen",)),
    Case("search: min_accelerators 10**30", "GET", "/api/v1/products", 422, V,
         params={"min_accelerators": str(10**30)}, fields=("min_accelerators",)),
    Case("search: limit 10**30", "GET", "/api/v1/products", 422, V, params={"limit": str(10**30)}, fields=("limit",)),
    Case("search: max_price 10**30", "GET", "/api/v1/products", 422, V, params={"max_price": str(10**30)},
         fields=("max_price",)),
    Case("search q: accelerators>=10**30", "GET", "/api/v1/products", 400, "out_of_range",
         params={"q": f"accelerators>={10**30}"}),
    Case("search q: price<=999 digits", "GET", "/api/v1/products", 400, "out_of_range",
         params={"q": "price<=" + "9" * 990}),
    Case("search q: pflops 10**30", "GET", "/api/v1/products", 400, "out_of_range",
         params={"q": f"pflops>{10**30}"}),
    # ---- bad path ids
    Case("datacenter id 'abc'", "GET", "/api/v1/datacenters/abc", 422, V, fields=("datacenter_id",)),
    Case("product id '123'", "GET", "/api/v1/products/123", 422, V, fields=("product_id",)),
    Case("product patch id 'xyz'", "PATCH", "/api/v1/products/xyz", 422, V, "seller", json={},
         fields=("product_id",)),
    Case("approve id 'zzz'", "POST", "/api/v1/datacenters/zzz/approve", 422, V, "operator",
         fields=("datacenter_id",)),
    Case("api key id 'nope'", "DELETE", "/api/v1/auth/api-keys/nope", 422, V, "seller", fields=("key_id",)),
    Case("datacenter products id '1'", "GET", "/api/v1/datacenters/1/products", 422, V, "seller",
         fields=("datacenter_id",)),
    Case("product id with a NUL", "GET", "/api/v1/products/%00", 422, V, fields=("product_id",)),
    # ---- unknown ids
    Case("unknown data center", "GET", f"/api/v1/datacenters/{UNKNOWN}", 404, "datacenter_not_found"),
    Case("unknown product", "GET", f"/api/v1/products/{UNKNOWN}", 404, "product_not_found"),
    Case("patch unknown product", "PATCH", f"/api/v1/products/{UNKNOWN}", 404, "product_not_found", "seller",
         json={"name": "x"}),
    Case("unlist unknown product", "POST", f"/api/v1/products/{UNKNOWN}/unlist", 404, "product_not_found", "seller"),
    Case("list unknown product", "POST", f"/api/v1/products/{UNKNOWN}/list", 404, "product_not_found", "operator"),
    Case("patch unknown data center", "PATCH", f"/api/v1/datacenters/{UNKNOWN}", 404, "datacenter_not_found",
         "seller", json={"tier": 2}),
    Case("approve unknown data center", "POST", f"/api/v1/datacenters/{UNKNOWN}/approve", 404,
         "datacenter_not_found", "operator"),
    Case("suspend unknown data center", "POST", f"/api/v1/datacenters/{UNKNOWN}/suspend", 404,
         "datacenter_not_found", "operator"),
    Case("products of an unknown data center", "GET", f"/api/v1/datacenters/{UNKNOWN}/products", 404,
         "datacenter_not_found", "seller"),
    Case("revoke unknown api key", "DELETE", f"/api/v1/auth/api-keys/{UNKNOWN}", 404, "api_key_not_found", "seller"),
    Case("data center in an unknown region", "POST", "/api/v1/datacenters", 404, "region_not_found", "seller",
         json=dc_body(region_id=UNKNOWN)),
    Case("product in an unknown data center", "POST", "/api/v1/products", 404, "datacenter_not_found", "seller",
         json=product_body(datacenter_id=UNKNOWN)),
    Case("move a data center to an unknown region", "PATCH", "/api/v1/datacenters/{datacenter}", 404,
         "region_not_found", "seller", json={"region_id": UNKNOWN}),
    # ---- unknown routes and wrong methods
    Case("unknown route", "GET", "/api/v1/nothing-here", 404, "not_found"),
    Case("unknown API version", "GET", "/api/v2/products", 404, "not_found"),
    Case("unknown route, POST", "POST", "/api/v1/products/{product}/delete", 404, "not_found", "seller"),
    Case("nowhere under /api", "GET", "/api/wp-admin/", 404, "not_found"),  # page URLs get an HTML 404 (tests/web)
    Case("DELETE /products", "DELETE", "/api/v1/products", 405, "method_not_allowed", extra={"allow": "GET"}),
    Case("PUT /datacenters", "PUT", "/api/v1/datacenters", 405, "method_not_allowed", json={}),
    Case("GET /auth/token", "GET", "/api/v1/auth/token", 405, "method_not_allowed", extra={"allow": "POST"}),
    Case("GET /auth/register", "GET", "/api/v1/auth/register", 405, "method_not_allowed"),
    Case("PATCH /chips", "PATCH", "/api/v1/chips", 405, "method_not_allowed", json={}),
    Case("POST /stats", "POST", "/api/v1/stats", 405, "method_not_allowed"),
    Case("DELETE /auth/me", "DELETE", "/api/v1/auth/me", 405, "method_not_allowed"),
    Case("DELETE a product", "DELETE", "/api/v1/products/{product}", 405, "method_not_allowed", "seller"),
    Case("search: NUL in a province", "GET", "/api/v1/products", 400, "invalid_value", params={"province": "安\x00徽"}),
    # ---- authentication and roles
    Case("create product without a login", "POST", "/api/v1/products", 401, "not_authenticated", json=product_body()),
    Case("create product as a buyer", "POST", "/api/v1/products", 403, "wrong_role", "buyer", json=product_body()),
    Case("create region as a seller", "POST", "/api/v1/regions", 403, "wrong_role", "seller",
         json={"province": "x", "city": "y", "hub": "z"}),
    Case("approve as a seller", "POST", "/api/v1/datacenters/{datacenter}/approve", 403, "wrong_role", "seller"),
    Case("bad bearer token", "GET", "/api/v1/auth/me", 401, "invalid_token", "garbage"),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    """Put the ids made by the test in place of "{product}", "{datacenter}", "{region}"."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def test_bad_input_sweep(client, make, subtests):
    seller, buyer, operator = make.user("seller"), make.user("buyer"), make.user("operator")
    region = make.region()
    dc = make.datacenter(seller, region=region)
    product = make.product(seller, dc)
    ids = {"product": product["id"], "datacenter": dc["id"], "region": region["id"]}
    headers = {"seller": seller["headers"], "buyer": buyer["headers"], "operator": operator["headers"],
               "garbage": {"Authorization": "Bearer garbage"}, None: {}}
    statuses = []
    for case in CASES:
        with subtests.test(case.name):
            kwargs: dict[str, Any] = {"headers": dict(headers[case.as_user])}
            if case.json is not None:
                kwargs["json"] = _fill(case.json, ids)
            if case.content is not None:
                kwargs["content"] = case.content
                kwargs["headers"].update(JSON)
            if case.data is not None:
                kwargs["data"] = case.data
            if case.params is not None:
                kwargs["params"] = case.params
            r = client.request(case.method, case.path.format(**ids), **kwargs)
            statuses.append(r.status_code)
            assert r.status_code < 500, r.text
            assert r.status_code == case.status, r.text
            assert r.headers["content-type"].startswith("application/json")
            body = r.json()
            assert set(body) == {"error"}
            error = body["error"]
            assert set(error) == {"code", "message", "details"}
            assert isinstance(error["code"], str) and error["code"]
            assert isinstance(error["message"], str) and error["message"]
            assert isinstance(error["details"], dict)
            assert error["code"] == case.code, error
            if case.fields:
                named = {e["field"] for e in error["details"]["errors"]}
                assert set(case.fields) <= named, named
                assert all(isinstance(e["message"], str) and e["message"] for e in error["details"]["errors"])
            if r.status_code == 401:
                assert r.headers["WWW-Authenticate"] == "Bearer"
            for header, value in case.extra.items():
                assert r.headers[header] == value
    assert len(statuses) == len(CASES)

    # Nothing in the sweep changed the seller's product or data center.
    after = client.get(f"/api/v1/products/{product['id']}").json()
    assert (after["name"], after["stock_units"], after["prices"]) == \
        (product["name"], product["stock_units"], product["prices"])
    dc_after = client.get(f"/api/v1/datacenters/{dc['id']}").json()
    assert (dc_after["name"], dc_after["status"], dc_after["region"]["id"]) == (dc["name"], "approved", region["id"])
    assert client.get("/api/v1/products").json()["total"] == 1


NUL = [  # name, method, path, as_user, request, status on SQLite (which stores NUL characters)
    ("register: NUL in the names", "POST", "/api/v1/auth/register", None,
     {"json": register_body(display_name="a\x00b", organization_name="org\x00")}, 201),
    ("register: NUL in the email", "POST", "/api/v1/auth/register", None,
     {"json": register_body(email="a\x00b@example.cn")}, 201),
    ("login: NUL in the email", "POST", "/api/v1/auth/token", None,
     {"data": {"username": "a\x00b@example.cn", "password": "whatever-pw"}}, 401),
    ("data center: NUL in the name", "POST", "/api/v1/datacenters", "seller", {"json": dc_body(name="机房\x00")}, 201),
    ("product: NUL in the name", "PATCH", "/api/v1/products/{product}", "seller", {"json": {"name": "a\x00b"}}, 200),
    ("api key: NUL in the name", "POST", "/api/v1/auth/api-keys", "seller", {"json": {"name": "k\x00"}}, 201),
    ("search: NUL in a data-center name", "GET", "/api/v1/products", None,
     {"params": {"q": 'datacenter="a\x00b"'}}, 400),
]


def test_text_the_database_cannot_store_is_a_client_error(client, make, db, subtests):
    """PostgreSQL refuses NUL characters in text: that is the client's 422, not a server error."""
    seller = make.user("seller")
    region = make.region()
    product = make.product(seller, make.datacenter(seller, region=region))
    ids = {"product": product["id"], "region": region["id"], "datacenter": product["datacenter"]["id"]}
    for name, method, path, as_user, request, sqlite_status in NUL:
        with subtests.test(name):
            headers = seller["headers"] if as_user else {}
            r = client.request(method, path.format(**ids), headers=headers, **_fill(request, ids))
            assert r.status_code < 500, r.text
            if db.is_sqlite:
                assert r.status_code == sqlite_status, r.text
            else:
                assert r.status_code == 422, r.text
                assert r.json()["error"]["code"] == "invalid_input"
                assert r.json()["error"]["message"]


def test_the_app_still_works_after_a_database_error(client, make):
    """A request the database refuses must not poison the connection for the next one (PostgreSQL aborts the
    transaction on an error; the unit of work must roll it back)."""
    seller = make.user("seller")
    product = make.product(seller, make.datacenter(seller))
    for _ in range(3):
        r = client.patch(f"/api/v1/products/{product['id']}", headers=seller["headers"], json={"name": "a\x00b"})
        assert r.status_code < 500
        ok = client.patch(f"/api/v1/products/{product['id']}", headers=seller["headers"], json={"name": "好名字"})
        assert ok.status_code == 200 and ok.json()["name"] == "好名字"


def test_validation_error_lists_every_field_with_a_message(client):
    r = client.post("/api/v1/auth/register", json={"email": "x", "password": "short", "role": "admin"})
    assert r.status_code == 422
    error = r.json()["error"]
    fields = {e["field"] for e in error["details"]["errors"]}
    assert fields == {"email", "password", "role", "display_name", "organization_name"}
    assert all(e["message"] and e["type"] for e in error["details"]["errors"])
    assert error["message"].startswith("Some fields are invalid.")


@pytest.mark.parametrize(("path", "unknown", "valid"), [
    ("/api/v1/products?available=true", ["available"], "available_only"),  # a filter that would silently not hold
    ("/api/v1/products?chip=a800&sortby=price&Limit=5", ["Limit", "sortby"], "sort"),
    ("/api/v1/chips?vendor=nvidia", ["vendor"], None),  # an operation that takes no query parameters
    ("/api/v1/price-index?by_province=true&x=1", ["x"], "by_province"),
])
def test_unknown_query_parameters_are_a_400_naming_the_valid_ones(client, path, unknown, valid):
    r = client.get(path)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_query_parameter"
    assert error["details"]["unknown"] == unknown
    if valid is None:
        assert error["details"]["valid"] == [] and "takes none" in error["message"]
    else:
        assert valid in error["details"]["valid"] and valid in error["message"]


def test_known_query_parameters_and_authenticated_operations_still_work(client, make):
    buyer = make.user("buyer")
    assert client.get("/api/v1/products?chip=a800&limit=5&sort=price").status_code == 200
    assert client.get("/api/v1/orders?limit=5&offset=0", headers=buyer["headers"]).status_code == 200
    r = client.get("/api/v1/orders?status=active&bogus=1", headers=buyer["headers"])
    assert r.status_code == 400 and r.json()["error"]["details"]["unknown"] == ["bogus"]
