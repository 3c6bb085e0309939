"""The API does what its OpenAPI says (issue 12, point 6): schemathesis over every operation, in process.

The app runs on SQLite with the demo network and its accounts loaded; every operation is called as the role it
needs (buyer, seller or operator; a buyer where any signed-in user will do), with examples drawn from its schema,
schema-valid (positive) and schema-invalid (negative). It must answer:

- no 5xx (``not_a_server_error``);
- only statuses its OpenAPI declares (``status_code_conformance``), with bodies and content types as declared
  (``response_schema_conformance``, ``content_type_conformance``);
- schema-valid requests not rejected by a rule the schema does not state (``positive_data_acceptance``: a 400
  or 422 for a request the schema allows fails), schema-invalid ones rejected (``negative_data_rejection``).

Bounded and deterministic: ``CONTRACT_EXAMPLES`` drawn examples per operation, derandomized, so CI is not flaky.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               positive_data_acceptance, response_schema_conformance,
                                               status_code_conformance)

from suanli.accounts.models import Role, User
from suanli.accounts.service import create_api_key
from suanli.db import Database
from suanli.demo import DEMO_ACCOUNTS, load_demo
from suanli.migrate import upgrade

SECONDS_PER_OPERATION: dict[str, float] = {}  # where the time goes (printed with SUANLI_CONTRACT_TIMES=1)
CONTRACT_EXAMPLES = int(os.environ.get("SUANLI_CONTRACT_EXAMPLES", "2"))



def _rule_schema_cannot_state(error: dict[str, Any]) -> bool:
    """A ``validation_error`` whose every error is a rule JSON Schema cannot state: the body's own validators
    (``field`` is ``body``: a rule across fields), or a strict integer refusing ``100.0`` (money and counts are
    JSON integers, docs/security.md "Input limits"; JSON Schema counts ``100.0`` as an integer)."""
    errors = error.get("details", {}).get("errors", [])
    return bool(errors) and all(e.get("field") == "body" or e.get("type") == "int_type" for e in errors)


@schemathesis.check
def valid_requests_pass_or_meet_a_documented_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, where a 400/402/422 passes only for a rule the schema cannot state: its code
    is one the operation documents for that status (``x-error-codes``), and it is not a field-level
    ``validation_error`` (that one is a rule the schema could and should state), unless JSON Schema cannot state
    it either (``_rule_schema_cannot_state``). Domain rules (``common_password``, a reserved order without a term)
    are such documented rules."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Exception:
        if response.status_code not in (400, 402, 422):
            raise
        error = (response.json() or {}).get("error", {})
        operation = APP.openapi()["paths"][case.operation.path][case.method.lower()]
        declared = operation["responses"].get(str(response.status_code), {}).get("x-error-codes", [])
        code = error.get("code")
        if code in declared and (code != "validation_error" or _rule_schema_cannot_state(error)):
            return None
        raise


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          valid_requests_pass_or_meet_a_documented_rule, negative_data_rejection]


def roles_needed(route: APIRoute) -> tuple[Role, ...]:
    """The roles an operation admits (``require_role`` marks its dependency); () when any caller will do."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        roles = getattr(dependency.call, "roles", None)
        if roles:
            return tuple(roles)
        pending.extend(dependency.dependencies)
    return ()


class Callers:
    """A bearer API key per demo role, and a fresh throwaway one for the operation that revokes its own."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.keys = {account.role: self._new_key(account.email) for account in DEMO_ACCOUNTS}

    def _new_key(self, email: str) -> str:
        from sqlalchemy import select

        with self.database.unit_of_work() as session:
            user = session.scalar(select(User).where(User.email == email))
            secret, _token = create_api_key(session, user, f"contract {uuid.uuid4().hex[:8]}")
        return secret

    def headers(self, roles: tuple[Role, ...], method: str, path: str) -> dict[str, str]:
        if (method, path) == ("POST", "/api/v1/auth/logout"):
            return {"Authorization": f"Bearer {self._new_key(DEMO_ACCOUNTS[0].email)}"}
        role = roles[0] if roles else Role.BUYER
        return {"Authorization": f"Bearer {self.keys[role]}"}


def _contract_app() -> Any:
    """The app over an SQLite file, built at import: schemathesis makes one test per operation from its schema (its
    lazy ``from_fixture`` schema fails under pytest 9). The database is migrated and the demo loaded by the
    ``callers`` fixture, before the first call."""
    import tempfile

    from suanli.app import create_app

    directory = tempfile.mkdtemp(prefix="suanli-contract-")
    database = Database(f"sqlite:///{directory}/suanli.db")
    app = create_app(database)
    app.state.contract_directory = directory  # removed by the ``callers`` fixture (empty if no test ran)
    app.state.roles = {(method, route.path): roles_needed(route) for route in app.routes
                       if isinstance(route, APIRoute) for method in route.methods}
    return app


APP = _contract_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def callers() -> Any:
    database = APP.state.database
    upgrade(database)
    with database.unit_of_work() as session:
        load_demo(session)
    yield Callers(database)
    database.dispose()
    shutil.rmtree(APP.state.contract_directory, ignore_errors=True)
    if os.environ.get("SUANLI_CONTRACT_TIMES"):
        for name, seconds in sorted(SECONDS_PER_OPERATION.items(), key=lambda item: -item[1])[:15]:
            print(f"{seconds:6.1f} s  {name}")


@schema.parametrize()
@settings(max_examples=CONTRACT_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: Any, callers: Callers) -> None:
    method, path = case.method.upper(), case.operation.path
    headers = callers.headers(APP.state.roles.get((method, path), ()), method, path)
    started = time.perf_counter()
    try:
        case.call_and_validate(headers=headers, checks=CHECKS)
    finally:
        SECONDS_PER_OPERATION[f"{method} {path}"] = (SECONDS_PER_OPERATION.get(f"{method} {path}", 0.0)
                                                     + time.perf_counter() - started)

