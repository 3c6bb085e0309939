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

CONTRACT_EXAMPLES = int(os.environ.get("SUANLI_CONTRACT_EXAMPLES", "3"))

# Rules still enforced outside the schema (found by this test, not fixed yet): the one place the positive check is
# relaxed. Remove an entry when its rule is in the schema.
KNOWN_SCHEMA_GAPS = {
    # OAuth2PasswordRequestForm (FastAPI's) documents username/password as strings, and reads "" as missing.
    ("POST", "/api/v1/auth/token"),
    # budget_cny: the OpenAPI allows any string; parse_budget takes only an amount ("2000", "1999.50").
    ("POST", "/api/v1/recommendations"),
    ("POST", "/api/v1/recommendations/launch"),
}


def _body_level_only(error: dict[str, Any]) -> bool:
    """A ``validation_error`` from the body's own validators (``field`` is ``body``): a rule across fields."""
    fields = [e.get("field") for e in error.get("details", {}).get("errors", [])]
    return bool(fields) and all(field == "body" for field in fields)


@schemathesis.check
def valid_requests_pass_or_meet_a_documented_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, where a 400/422 passes only for a rule the schema cannot state: its error code
    is one the operation documents for that status (``x-error-codes``), and it is not a field-level
    ``validation_error`` (that one is a rule the schema could and should state). Cross-field rules of a body
    (``validation_error`` on ``body`` itself) and domain rules (``common_password``) are such documented rules."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Exception:
        if response.status_code not in (400, 422):
            raise
        if (case.method.upper(), case.operation.path) in KNOWN_SCHEMA_GAPS:
            return None
        error = (response.json() or {}).get("error", {})
        operation = APP.openapi()["paths"][case.operation.path][case.method.lower()]
        declared = operation["responses"].get(str(response.status_code), {}).get("x-error-codes", [])
        code = error.get("code")
        if code in declared and (code != "validation_error" or _body_level_only(error)):
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
    """The app over an SQLite file, built at import (schemathesis makes one test per operation from its schema); the
    database is migrated and the demo loaded by the ``contract_database`` fixture, before the first call."""
    import tempfile

    from suanli.app import create_app

    database = Database(f"sqlite:///{tempfile.mkdtemp(prefix='suanli-contract-')}/suanli.db")
    app = create_app(database)
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


@schema.parametrize()
@settings(max_examples=CONTRACT_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: Any, callers: Callers) -> None:
    method, path = case.method.upper(), case.operation.path
    headers = callers.headers(APP.state.roles.get((method, path), ()), method, path)
    case.call_and_validate(headers=headers, checks=CHECKS)
