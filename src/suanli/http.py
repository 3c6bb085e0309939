"""What every endpoint shares: the unit of work, who is calling, and errors as JSON.

Error body: ``{"error": {"code": "machine_readable", "message": "What happened and what to do.", "details": {}}}``
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DataError, IntegrityError, TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanli.accounts.models import Role, User
from suanli.accounts.service import user_for_secret, valid_token
from suanli.advisor.schemas import WORKLOAD_KINDS
from suanli.audit.service import set_request_context
from suanli.db import Database
from suanli.db_faults import MESSAGES, OUTCOMES, RETRY_AFTER_SECONDS, Fault
from suanli.errors import DomainError, Forbidden, InvalidInput, NotAuthenticated, UnknownQueryParameter

log = logging.getLogger("suanli.http")


def get_database(request: Request) -> Database:
    return request.app.state.database


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed before the response is sent, rolled back on error.

    GET/HEAD/OPTIONS requests are read-only units of work; others take the write lock up front on SQLite."""
    with get_database(request).unit_of_work(write=request.method not in _READ_METHODS) as session:
        set_request_context(session, address=client_address(request))
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def get_read_session(request: Request) -> Iterator[Session]:
    """A read-only unit of work whatever the method, for a POST that only reads (an anonymous visitor's
    recommendations): on SQLite it never takes the write lock."""
    with get_database(request).unit_of_work(write=False) as session:
        yield session


ReadSession = Annotated[Session, Depends(get_read_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="A login token from /api/v1/auth/token, or an API key.")


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _declared_query_parameters(route: Any) -> frozenset[str]:
    """The query parameters an API route declares, its dependencies' included (by their wire names); worked out
    once and kept on the route (a cache keyed by ``id(route)`` could hand a freed route's names to a new one)."""
    names = getattr(route, "suanli_query_names", None)
    if names is None:
        found: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            found.update(param.alias for param in dependant.query_params)
            pending.extend(dependant.dependencies)
        names = route.suanli_query_names = frozenset(found)
    return names


def reject_unknown_query_parameters(request: Request) -> None:
    """A router dependency of the API: a query parameter the operation does not know is a 400 naming the valid
    ones, never silently ignored (``?available=true`` must not look like a filter that held)."""
    route = request.scope.get("route")
    if getattr(route, "dependant", None) is None or not request.query_params:
        return
    declared = _declared_query_parameters(route)
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        valid = sorted(declared)
        raise UnknownQueryParameter(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown[:10])}. "
            + (f"This operation takes: {', '.join(valid)}." if valid else "This operation takes none."),
            details={"unknown": unknown[:50], "valid": valid})


def chosen_sort(sort: str | None, sorts: dict[str, object] | list[str], default: str) -> str:
    """The sort a list was asked for, if it has it (422 ``invalid_sort`` naming the valid ones if not), else
    ``default``: the API's lists and the consoles' pages say the same."""
    if not sort:
        return default
    if sort not in sorts:
        raise InvalidInput(f"Unknown sort {sort!r}. Valid sorts: {', '.join(sorts)}.", code="invalid_sort",
                           details={"value": sort, "valid_sort_fields": list(sorts)})
    return sort


def client_address(request: Request) -> str:
    """The caller's address, as the server sees it (behind a reverse proxy: run uvicorn with
    ``--forwarded-allow-ips`` so it is the client's, not the proxy's)."""
    return request.client.host if request.client else "unknown"


def _user_of(session: Session, credentials: HTTPAuthorizationCredentials | None) -> User | None:
    return None if credentials is None else user_for_secret(session, credentials.credentials)


def check_token_before_writing(request: Request, secret: str) -> None:
    """On SQLite a writing request's unit of work takes the write lock at its first statement: a bad token (or
    session cookie) must not queue every writer behind it, so it is checked in a read-only transaction first
    (401 from there). Elsewhere, and for reads, nothing to do."""
    database = get_database(request)
    if database.is_sqlite and request.method not in _READ_METHODS:
        with database.unit_of_work(write=False) as probe:
            valid_token(probe, secret)


def optional_user(request: Request, session: DbSession, credentials: BearerCredentials) -> User | None:
    if credentials is None:
        return None
    check_token_before_writing(request, credentials.credentials)
    user = _user_of(session, credentials)
    set_request_context(session, actor=user)  # who the audit trail names for this request's changes
    return user


def _signed_in(user: User | None) -> User:
    if user is None:
        raise NotAuthenticated("Log in first: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token).")
    return user


def authenticated_user(session: Session, credentials: HTTPAuthorizationCredentials | None) -> User:
    """The caller, for an endpoint that reads its credentials itself (see ``trading.endpoints.place_order``)."""
    return _signed_in(_user_of(session, credentials))


# The checks below do no I/O, so they are coroutines: FastAPI runs a plain ``def`` dependency in the thread pool,
# a trip (two thread switches) per dependency per request.

async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    return _signed_in(user)


def check_role(user: User, *roles: Role) -> User:
    """``user``, if it has one of ``roles``; else 403 ``wrong_role`` naming them."""
    if user.role not in roles:
        wanted = " or ".join(r.value for r in roles)
        raise Forbidden(f"This needs a {wanted} account; you are signed in as a {user.role.value}.",
                        code="wrong_role", details={"required_roles": [r.value for r in roles]})
    return user


def require_role(*roles: Role):
    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        return check_role(user, *roles)

    dependency.roles = roles  # read by the OpenAPI error declarations (http_contract) and the contract test
    return dependency


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
SellerUser = Annotated[User, Depends(require_role(Role.SELLER))]
OperatorUser = Annotated[User, Depends(require_role(Role.OPERATOR))]
SellerOrOperator = Annotated[User, Depends(require_role(Role.SELLER, Role.OPERATOR))]


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "too_large",
               415: "unsupported_media_type", 429: "too_many_requests"}


MAX_REPORTED_ERRORS = 20


def _field_path(loc: tuple[Any, ...]) -> str:
    """The field an error names, as the client wrote it: without the request part (body, query ...) and without the
    tag pydantic puts after a discriminated union (``workload.llm_finetune.tokens`` is ``workload.tokens``)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    parts = [p for i, p in enumerate(parts)
             if not (0 < i < len(parts) - 1 and parts[i - 1] == "workload" and p in WORKLOAD_KINDS)]
    return ".".join(parts) or str(loc[0] if loc else "request")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if getattr(exc, "retry_after", None) is not None:  # 429 too_many_attempts
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body("malformed_json", "The request body is not valid JSON; check quotes, "
                                           "commas and brackets.", {"errors": [
                                               {"field": "body", "message": str(e.get("msg", ""))[:300]}
                                               for e in errors[:1]]}),
                                status_code=400)
        # At most MAX_REPORTED_ERRORS, with the total: a body with 200,000 unknown keys gets a short answer.
        fields = [{"field": _field_path(tuple(e.get("loc", ())))[:200], "message": str(e.get("msg", ""))[:300],
                   "type": e.get("type", "")} for e in errors[:MAX_REPORTED_ERRORS]]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        if len(errors) > len(fields):
            summary += f" (and {len(errors) - len(fields)} more errors; the first {len(fields)} are listed)"
        return JSONResponse(error_body("validation_error", f"Some fields are invalid. {summary}",
                                       {"errors": fields, "error_count": len(errors)}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "There is nothing at this address. See /docs for the API."
        return JSONResponse(error_body(code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def data_error(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value validation let through, e.g. text with a NUL character (PostgreSQL
        # stores none): the client's error, not the server's. The unit of work has rolled back.
        log.info("database refused a value: %s", exc.orig)
        return JSONResponse(error_body("invalid_input", "A value you sent cannot be stored or searched for "
                                       "(for example, text containing a NUL character). Remove it and try again."),
                            status_code=422)

    @app.exception_handler(IntegrityError)
    async def constraint_violation(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint the services check first was broken by a concurrent change they did not see (the unit of
        # work has rolled back): the caller can reload and act, so a 409, never a 500.
        status, code, message, details = constraint_conflict(exc)
        log.warning("constraint violation answered %s %s: %s", status, code, exc.orig)
        return JSONResponse(error_body(code, message, details), status_code=status)

    @app.exception_handler(PoolTimeout)
    async def database_busy(_request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed in use for the pool's timeout (SUANLI_DB_POOL_SIZE per worker).
        log.warning("no database connection free: %s", exc)
        return JSONResponse(error_body("database_busy", "The server is busy: every database connection is in use. "
                                       "Retry in a few seconds."), status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - last resort
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "Something went wrong on the server; it has been logged. "
                                       "Try again, and report it if it persists."), status_code=500)


def database_fault_response(_request: Request, fault: Fault, runs: int) -> JSONResponse:
    """503 for a request the database was too busy or away for (``http_retry``); ``Retry-After`` says when to
    come back, ``details.outcome`` whether anything may have been stored (``not_applied`` or ``unknown``)."""
    return JSONResponse(error_body(fault.code, MESSAGES[fault], {"outcome": OUTCOMES[fault], "attempts": runs}),
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS[fault])})


_CONSTRAINT_CONFLICTS = {
    "ck_products_allocation_within_stock": (
        "stock_below_allocated", "More units of this product are rented out now than the stock you set; reload it "
        "and set the stock to at least its allocated units."),
    "ck_ledger_accounts_non_negative": (
        "insufficient_funds", "The wallet no longer covers this; reload your balance, top up and try again."),
}


def constraint_name(exc: IntegrityError) -> str | None:
    """The violated constraint's name: PostgreSQL reports it; SQLite names CHECK constraints in its message."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return name
    text = str(exc.orig)
    if text.startswith("CHECK constraint failed: "):
        return text.removeprefix("CHECK constraint failed: ").strip()
    return None


def constraint_conflict(exc: IntegrityError) -> tuple[int, str, str, dict[str, Any]]:
    """(status, code, message, details) for a constraint violation that reached the HTTP layer."""
    name = constraint_name(exc)
    code, message = _CONSTRAINT_CONFLICTS.get(name or "", (
        "conflict", "This change conflicts with data changed at the same time; reload and try again."))
    status = 402 if code == "insufficient_funds" else 409
    return status, code, message, {"constraint": name}
