"""Re-running a request whose unit of work met database contention, and 503 (never 500) when the database stays
busy or away. See ``db_faults`` for what is retried and docs/trading.md ("Locks") for why it is rare.

An ASGI middleware around the routes: a request's unit of work commits before its response starts (``http``), so
a fault raised before then left nothing stored and the whole request — authentication, the use case, the commit
— runs again with the same body and headers (an ``Idempotency-Key`` still yields one order). Once the response
has started nothing is retried. The request body is recorded as the app reads it and replayed to the next run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.db_faults import Fault, RetryPolicy, classify

log = logging.getLogger("suanli.http")

FaultResponder = Callable[[Request, Fault, int], Response]
"""The 503 for a request whose fault was not outlived: (request, fault, runs made) → response."""


class RetryDatabaseFaults:
    def __init__(self, app: ASGIApp, respond: FaultResponder, policy: RetryPolicy | None = None) -> None:
        self.app, self.respond, self.policy = app, respond, policy or RetryPolicy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body: list[Message] = []  # the request's body messages, as the first run read them
        began, runs = time.monotonic(), 0
        while True:
            replay = list(body)
            started = False

            async def receive_again() -> Message:
                if replay:
                    return replay.pop(0)
                message = await receive()
                if message["type"] == "http.request":
                    body.append(message)
                return message

            async def send_watched(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            runs += 1
            try:
                await self.app(scope, receive_again, send_watched)
                return
            except Exception as exc:
                fault = classify(exc)
                if fault is None or started:
                    raise
                delay = self.policy.delay(fault, runs - 1, time.monotonic() - began)
                if delay is None:
                    log.warning("%s %s: %s after %d run(s), answering 503: %s", scope.get("method"),
                                scope.get("path"), fault.value, runs, _first_line(exc))
                    await self.respond(Request(scope), fault, runs)(scope, receive, send)
                    return
                log.warning("%s %s: %s, running it again in %.0f ms: %s", scope.get("method"), scope.get("path"),
                         fault.value, delay * 1000, _first_line(exc))
                await asyncio.sleep(delay)


def _first_line(exc: BaseException) -> Any:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["FaultResponder", "RetryDatabaseFaults"]
