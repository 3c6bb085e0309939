"""Bounded input and the headers every response carries: request bodies over SUANLI_MAX_BODY_BYTES are refused
before anything parses them, validation errors stay short, and pages and API answers cannot be framed or sniffed."""

from __future__ import annotations

import dataclasses
import json
import time
import warnings

import pytest

from suanli.config import load_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def small_client(db):
    """An app that accepts bodies of at most 4 KiB."""
    from suanli.app import create_app

    settings = dataclasses.replace(load_settings(), max_body_bytes=4096)
    return TestClient(create_app(db, settings=settings))


def _too_large(r, limit: int) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "body_too_large"
    assert r.json()["error"]["details"] == {"max_body_bytes": limit}
    assert "Send less" in r.json()["error"]["message"]


def test_a_body_over_the_limit_is_413_before_parsing(small_client):
    body = json.dumps({"email": "a@b.cn", "padding": "x" * 5000})
    _too_large(small_client.post("/api/v1/auth/register", content=body,
                                 headers={"content-type": "application/json"}), 4096)
    # At the limit it is parsed (and refused for what it says, not for its size).
    r = small_client.post("/api/v1/auth/register", content=json.dumps({"x": "y" * 4000}),
                          headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_a_chunked_body_over_the_limit_is_413_too(small_client):
    def chunks():
        for _ in range(1000):  # 1000 × 1 KiB, no Content-Length: counted as it arrives
            yield b"[" + b"1," * 511 + b"1"

    r = small_client.post("/api/v1/auth/register", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    _too_large(r, 4096)


def test_a_form_post_over_the_limit_is_413(small_client):
    r = small_client.post("/api/v1/auth/token", data={"username": "a@b.cn", "password": "p" * 5000})
    _too_large(r, 4096)


def test_the_default_limit_is_one_mebibyte(client):
    r = client.post("/api/v1/auth/register", content=b" " * (1024 * 1024 + 1),
                    headers={"content-type": "application/json"})
    _too_large(r, 1024 * 1024)


def test_validation_errors_are_bounded(client):
    body = {f"unknown_{i}": 1 for i in range(20_000)}
    started = time.perf_counter()
    r = client.post("/api/v1/estimates", json=body)
    elapsed = time.perf_counter() - started
    assert r.status_code == 422, r.text[:300]
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert len(error["details"]["errors"]) == 20
    assert error["details"]["error_count"] >= 20_000
    assert "more errors" in error["message"]
    assert len(r.content) < 10_000
    assert elapsed < 3, elapsed


SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                    "referrer-policy": "strict-origin-when-cross-origin"}


@pytest.mark.parametrize("path", ["/api/v1/chips", "/", "/login", "/static/js/suanli.js", "/api/v1/nowhere",
                                  "/no-such-page", "/docs", "/healthz"])
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (path, name, r.headers)
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    if not path.startswith("/docs"):
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp


def test_an_error_answer_carries_them_too(small_client):
    r = small_client.post("/api/v1/auth/register", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["x-frame-options"] == "DENY"


# ---------------------------------------------------------------- strict integers, bounded offsets, job limits

HUGE = "9223372036854775808"  # 2**63: one past SQLite's largest integer


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/ledger/entries", "/api/v1/notifications",
                                  "/api/v1/jobs", "/api/v1/seller/orders", "/api/v1/instances"])
def test_offsets_are_bounded(client, make, path):
    user = make.user("seller" if "seller" in path else "buyer")
    r = client.get(path, params={"offset": HUGE}, headers=user["headers"])
    assert r.status_code == 422, (path, r.status_code, r.text[:300])
    assert r.json()["error"]["details"]["errors"][0]["field"] == "offset"
    assert client.get(path, params={"offset": "1000000"}, headers=user["headers"]).status_code == 200


@pytest.mark.parametrize("amount", [True, "100", 100.0, 1e2, None, [100]])
def test_money_must_be_a_json_integer(client, make, amount):
    operator, buyer = make.user("operator"), make.user("buyer")
    me = client.get("/api/v1/auth/me", headers=buyer["headers"]).json()
    r = client.post("/api/v1/operator/topups", headers=operator["headers"], json={
        "organization_id": me["organization"]["id"], "amount_fen": amount, "reference": f"t-{amount!r}"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["errors"][0]["field"] == "amount_fen"
    wallet = client.get("/api/v1/wallet", headers=buyer["headers"]).json()
    assert wallet["available"]["fen"] == 0  # `true` used to top up 1 fen


@pytest.mark.parametrize("units", [True, "1", 1.0])
def test_counts_must_be_json_integers(client, make, units):
    seller = make.user("seller")
    product = make.product(seller, make.datacenter(seller))
    buyer = make.user("buyer")
    r = client.post("/api/v1/orders", headers=buyer["headers"],
                    json={"product_id": product["id"], "mode": "on_demand", "units": units})
    assert r.status_code == 422 and r.json()["error"]["details"]["errors"][0]["field"] == "units", r.text


def _job(**overrides):
    body = {"name": "j", "command": "true", "resources": {"accelerators": 1}, "max_runtime_minutes": 10}
    body.update(overrides)
    return body


@pytest.mark.parametrize("overrides,field", [
    ({"env": {f"V{i}": "x" for i in range(201)}}, "env"),
    ({"env": {"V": "x" * 40_000}}, "env.V"),
    ({"files": {f"f{i}.txt": "x" for i in range(101)}}, "files"),
    ({"files": {"a.bin": "x" * 300_000, "b.bin": "y" * 300_000}}, "body"),
    ({"max_runtime_minutes": "10"}, "max_runtime_minutes"),
])
def test_job_files_and_environment_are_bounded(client, make, overrides, field):
    buyer = make.user("buyer")
    r = client.post("/api/v1/jobs", headers=buyer["headers"], json=_job(**overrides))
    assert r.status_code == 422, r.text[:300]
    if r.status_code == 422:
        fields = [e["field"] for e in r.json()["error"]["details"]["errors"]]
        assert fields[0] == field or fields[0].startswith(field), fields
