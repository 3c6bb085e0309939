"""ASGI middleware that every response passes through: security headers, and a bound on request bodies.

Plain ASGI (not Starlette's ``BaseHTTPMiddleware``): it wraps ``receive`` and ``send`` without buffering, so it
sees a chunked body as it arrives and streamed responses stay streamed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# The pages load scripts, styles and images from /static only (htmx, ECharts and our own files are vendored);
# inline ``style=`` attributes are used in templates, inline scripts nowhere. The API docs (Swagger UI, ReDoc)
# start themselves with an inline script, so they get a policy without the script rule.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'")
DOCS_CSP = "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
_DOCS_PATHS = ("/docs", "/redoc")

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` (no page
    can be framed: clickjacking), ``Referrer-Policy`` (no paths or query strings leak to other sites), on every
    page, API answer, asset and error."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope.get("path", "").startswith(_DOCS_PATHS) else PAGE_CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class _BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when the body passes the limit; the middleware answers 413 in its place."""

    def __init__(self) -> None:
        super().__init__(413, "body too large")


def body_too_large_body(limit: int) -> bytes:
    return json.dumps({"error": {
        "code": "body_too_large",
        "message": f"The request body is larger than this server accepts ({limit} bytes). Send less at once: "
                   "split the request, or upload large files another way.",
        "details": {"max_body_bytes": limit}}}).encode()


class BodyLimit:
    """413 ``body_too_large`` for a request body over ``max_bytes``, before anything parses it: at once when
    ``Content-Length`` says so, and as soon as a chunked body passes the limit otherwise (the rest is not read)."""

    def __init__(self, app: App, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = body_too_large_body(self.max_bytes)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0
        state = {"too_large": False, "started": False}

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    state["too_large"] = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if state["too_large"]:
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await self._refuse(send)
                return  # the app's own answer to the exception is replaced by ours
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except _BodyTooLarge:
            if not state["started"]:
                state["started"] = True
                await self._refuse(send)
