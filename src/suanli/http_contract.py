"""The OpenAPI says which errors each operation answers: derived from the code, not written by hand.

For every API operation, :func:`declare_error_responses` adds to its OpenAPI ``responses`` each 4xx/5xx it can
answer, with the error model (``{"error": {"code", "message", "details"}}``) and the machine-readable codes
(``x-error-codes``, also listed in the description):

- from its dependencies: a signed-in caller → 401; a role → 403; a database session → 503 (``http_retry``);
- from its inputs: any parameter or body → 422 ``validation_error``; a body → 400 ``malformed_json`` and 413
  ``body_too_large`` (``middleware.BodyLimit``); a write → 409 ``conflict`` (a constraint met a concurrent change,
  ``http.constraint_conflict``);
- from what it raises: the endpoint function and, transitively, every suanli function it calls are read
  (``ast``) for ``raise SomeDomainError(..., code="...")``; the class gives the status, ``code=`` the code.

Calls through objects (``self.x()``) are not followed; ``responses=`` given on the route are merged in, for what the
reading cannot see. The contract test (tests/integration/test_openapi_contract.py) calls every operation and fails
on any status not declared here (the codes are checked only where a schema-valid request is refused).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
import types
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import BaseModel, Field

from suanli.errors import DomainError

ERROR_CODES_KEY = "x-error-codes"
ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable: what went wrong (this operation's codes are listed per status).")
    message: str = Field(description="Human-readable: what happened and what to do.")
    details: dict[str, Any] = Field(default_factory=dict, description="Facts about the error, by code.")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorDetail


_STATUS_TITLES = {400: "Bad request", 401: "Not signed in", 402: "Payment required", 403: "Forbidden",
                  404: "Not found", 409: "Conflict", 413: "Body too large", 422: "Invalid input",
                  429: "Too many attempts", 503: "Database busy or unavailable"}


# --- what a function raises, read from its source -------------------------------------------------------------------

def _source_tree(func: Callable[..., Any]) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return None


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a name or ``module.name`` refers to in the function's module, or None."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        if isinstance(owner, types.ModuleType | type):
            return getattr(owner, node.attr, None)
    return None


def _literal_code(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "code" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            return keyword.value.value
    return None


def _own_function(value: Any) -> Callable[..., Any] | None:
    function = inspect.unwrap(value) if callable(value) else None
    if isinstance(function, types.FunctionType) and function.__module__.startswith("suanli."):
        return function
    return None


def _local_imports(tree: ast.AST) -> dict[str, Any]:
    """Names a function imports inside itself (``from suanli.x import f``, kept local against import cycles)."""
    names: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("suanli") and not node.level:
            try:
                module = importlib.import_module(node.module)
            except ImportError:
                continue
            for alias in node.names:
                names[alias.asname or alias.name] = getattr(module, alias.name, None)
    return names


@functools.cache
def _direct(func: Callable[..., Any]) -> tuple[frozenset[tuple[int, str]], tuple[Callable[..., Any], ...]]:
    """(status, code) pairs ``func`` raises itself, and the suanli functions it calls or passes on."""
    tree = _source_tree(func)
    if tree is None:
        return frozenset(), ()
    namespace = {**vars(inspect.getmodule(func) or types.ModuleType("none")),
                 **inspect.getclosurevars(func).nonlocals}
    namespace.update(_local_imports(tree))
    raised: set[tuple[int, str]] = set()
    callees: list[Callable[..., Any]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            error = _resolve(node.exc.func, namespace)
            if isinstance(error, type) and issubclass(error, DomainError):
                raised.add((error.status, _literal_code(node.exc) or error.code))
        elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            # Called, or handed on to be called (``run_in_threadpool(place, ...)``): followed either way.
            callee = _own_function(_resolve(node, namespace))
            if callee is not None and callee is not func:
                callees.append(callee)
    return frozenset(raised), tuple(callees)


@functools.cache
def raised_errors(func: Callable[..., Any]) -> frozenset[tuple[int, str]]:
    """Every (status, code) ``func`` can raise as a DomainError, itself or through the suanli functions it calls."""
    seen: set[Callable[..., Any]] = set()
    pending, found = [inspect.unwrap(func)], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        raised, callees = _direct(current)
        found |= raised
        pending.extend(callees)
    return frozenset(found)


# --- what an operation answers ---------------------------------------------------------------------------------------

def _dependencies(dependant: Dependant) -> Iterable[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _has_inputs(dependant: Dependant) -> bool:
    return any((d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params)
               for d in (dependant, *_dependencies(dependant)))


def _reads_caller_optionally(route: APIRoute) -> bool:
    names = {getattr(d.call, "__name__", "") for d in _dependencies(route.dependant)}
    return "optional_user" in names and "current_user" not in names


def operation_errors(route: APIRoute) -> dict[int, set[str]]:
    """status → error codes this operation can answer."""
    errors: dict[int, set[str]] = defaultdict(set)
    calls = [route.endpoint, *(d.call for d in _dependencies(route.dependant) if d.call is not None)]
    for call in calls:
        if getattr(call, "roles", None):
            errors[403].add("wrong_role")
        function = _own_function(call)
        for status, code in raised_errors(function) if function else ():
            errors[status].add(code)
    if _has_inputs(route.dependant):
        errors[422].add("validation_error")
    if route.body_field is not None:
        errors[400].add("malformed_json")
        errors[413].add("body_too_large")
        errors[422].add("invalid_input")  # a value the database refuses (http.data_error)
    if set(route.methods) & _WRITE_METHODS:
        errors[409].add("conflict")
    errors[400].add("unknown_query_parameter")  # http.reject_unknown_query_parameters, on every API router
    errors[503].update({"database_busy", "database_unavailable"})
    return errors


def _merge(responses: dict[int | str, Any], status: int, codes: set[str]) -> None:
    entry = dict(responses.get(status) or responses.get(str(status)) or {})
    responses.pop(str(status), None)
    codes = codes | set(entry.get(ERROR_CODES_KEY, ()))
    listed = ", ".join(f"`{code}`" for code in sorted(codes))
    said = entry.get("description") or _STATUS_TITLES.get(status, "Error")
    entry["description"] = f"{said}: {listed}" if listed else said
    if entry.get("model") in (None, ErrorResponse):
        # A reference to the one ErrorResponse schema (``document_error_schema``), not a model: FastAPI builds a
        # serialization field per model answer per operation for every app (0.5 s an app at 800 error answers)
        entry.pop("model", None)
        entry["content"] = {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}}
    entry[ERROR_CODES_KEY] = sorted(codes)
    responses[status] = entry


def declare_error_responses(router: APIRouter) -> None:
    """Add every API operation's error answers to its OpenAPI responses. Call before ``include_router`` (FastAPI
    copies a router's routes when the app first routes or documents them); calling again recomputes the same."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if not hasattr(route, "declared_responses"):
            route.declared_responses = dict(route.responses)  # as written on the route, before this adds to it
        responses = dict(route.declared_responses)
        errors = operation_errors(route)
        for status in route.declared_responses:  # declared by hand (what the reading cannot see): the model too
            if str(status).isdigit() and int(status) >= 400:
                errors.setdefault(int(status), set())
        for status, codes in sorted(errors.items()):
            _merge(responses, status, codes)
        route.responses = responses
        if _reads_caller_optionally(route):
            # Signed in or not (what you see may differ): the OpenAPI says no credentials is a valid request too
            # (FastAPI appends this to the bearer requirement it writes: [{"HTTPBearer": []}, {}]).
            route.openapi_extra = {**(route.openapi_extra or {}), "security": [{}]}
        route.response_fields = {
            status: create_model_field(name=f"Response_{status}_{route.unique_id}", type_=entry["model"],
                                       mode="serialization")
            for status, entry in responses.items() if entry.get("model")}


def document_error_schema(app: FastAPI) -> None:
    """Put the ErrorResponse schema that every operation's error answers refer to (``ERROR_SCHEMA_REF``) into the
    app's OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = generate().setdefault("components", {}).setdefault("schemas", {})
            error = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
            for name, schema in error.pop("$defs", {}).items():
                schemas.setdefault(name, schema)
            schemas.setdefault(ErrorResponse.__name__, error)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
