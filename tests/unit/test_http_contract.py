"""The OpenAPI's error declarations are read from the code (suanli.http_contract); the contract test calls them."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest

from suanli.db import Database
from suanli.http_contract import ERROR_CODES_KEY, raised_errors
from suanli.trading import service as trading_service


def _spec() -> dict[str, Any]:
    from suanli.app import create_app

    return create_app(Database(f"sqlite:///{tempfile.mkdtemp()}/never-opened.db")).openapi()


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _spec()


def _errors(spec: dict[str, Any], method: str, path: str) -> dict[str, list[str]]:
    responses = spec["paths"][path][method.lower()]["responses"]
    return {status: answer.get(ERROR_CODES_KEY) for status, answer in responses.items() if status[0] in "45"}


def test_what_a_use_case_raises_is_read_through_local_imports_and_calls() -> None:
    # place_order imports trading.placement inside itself; placement raises these three levels down.
    found = raised_errors(trading_service.place_order)
    assert {(404, "product_not_found"), (409, "insufficient_stock"), (422, "invalid_term"),
            (409, "idempotency_key_reused")} <= found


def test_an_async_endpoint_declares_what_its_threadpool_callback_raises(spec: dict[str, Any]) -> None:
    # POST /orders runs its work in run_in_threadpool(place): the callback is followed like a call.
    errors = _errors(spec, "POST", "/api/v1/orders")
    assert "product_not_found" in errors["404"]
    assert {"insufficient_stock", "mode_not_offered"} <= set(errors["409"])
    assert errors["402"] == ["insufficient_funds"]  # declared on the route (the ledger raises it in its own terms)


def test_dependencies_and_inputs_bring_their_statuses(spec: dict[str, Any]) -> None:
    operator_only = _errors(spec, "POST", "/api/v1/operator/topups")
    assert "wrong_role" in operator_only["403"]
    assert {"not_authenticated", "invalid_token", "token_expired"} <= set(operator_only["401"])
    assert operator_only["413"] == ["body_too_large"] and "malformed_json" in operator_only["400"]
    assert "validation_error" in operator_only["422"]
    # A read with no inputs and no caller: only the database can fail it, and a query parameter it does not take.
    assert _errors(spec, "GET", "/api/v1/chips") == {"400": ["unknown_query_parameter"],
                                                      "503": ["database_busy", "database_unavailable"]}


def test_every_error_answer_has_the_error_model(spec: dict[str, Any]) -> None:
    assert set(spec["components"]["schemas"]["ErrorResponse"]["properties"]) == {"error"}
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status[0] in "45":
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
                    checked += 1
    assert checked > 300


def test_signed_in_optionally_is_said_in_the_security_requirement(spec: dict[str, Any]) -> None:
    assert spec["paths"]["/api/v1/datacenters"]["get"]["security"] == [{"HTTPBearer": []}, {}]
    assert spec["paths"]["/api/v1/auth/password"]["post"]["security"] == [{"HTTPBearer": []}, {}]
    assert spec["paths"]["/api/v1/orders"]["get"]["security"] == [{"HTTPBearer": []}]


def test_declaring_twice_gives_the_same_document(spec: dict[str, Any]) -> None:
    # The routers are module singletons: every create_app recomputes from what the routes were written with.
    assert _spec() == spec
