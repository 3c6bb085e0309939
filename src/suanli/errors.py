"""Errors a client can act on: every one carries an HTTP status, a machine-readable code and a message.

The HTTP layer turns them (and framework validation errors) into
``{"error": {"code": ..., "message": ..., "details": {...}}}``; nothing reaches a client as a bare 500.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class UnknownQueryParameter(DomainError):
    status = 400
    code = "unknown_query_parameter"


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PaymentRequired(DomainError):
    """The wallet does not cover what the action costs; top up and try again."""

    status = 402
    code = "insufficient_funds"
