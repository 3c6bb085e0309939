"""The door of the federation API: every request is authenticated (signature, key, peer, time, nonce, scope)
before its endpoint runs, and every answer (errors included) is signed.

Checks, in order, each refused with its own code: ``signature_missing`` / ``signature_malformed`` /
``signature_incomplete`` (what the signature must cover), ``unknown_key``, ``peer_revoked`` / ``peer_suspended``,
``key_expired`` (a rotated-out key past its grace period), ``signature_expired`` / ``signature_from_future``,
``signature_invalid``, ``body_tampered``, ``signature_replayed`` (the nonce store, in the database: every worker
and a restarted server see it), then ``scope_missing``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from suanli.core.federation import SIGNATURE_MAX_AGE_SECONDS, SIGNATURE_MAX_SKEW_SECONDS, Scope, PeerStatus, \
    signature_time_problem
from suanli.db import Database
from suanli.errors import Conflict, DomainError
from suanli.federation import keys, signing
from suanli.federation.models import FederationKey, FederationNonce, FederationPeer
from suanli.federation.peers import (ENDORSEMENT_HEADER, ensure_identity, learn_endorsed_key, peer_scopes,
                                    signing_key)
from suanli.federation.signing import SignatureRefused


def canonical_url(request: Request) -> str:
    """The URL a peer signed: this platform's federation base URL (not the Host it was reached by, which a
    proxy may change) with the request's path and query."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return request.app.state.settings.federation_base_url + request.url.path + (f"?{query}" if query else "")


def authenticate(database: Database, *, method: str, url: str, headers: Any, body: bytes, scope: Scope | None,
                 now: dt.datetime) -> FederationPeer:
    """The active peer that signed this request, allowed ``scope``; ``SignatureRefused`` otherwise."""
    params = signing.signature_params(headers)
    with database.unit_of_work(write=False) as session:
        key = session.get(FederationKey, params.key_id)
    if key is None and headers.get(ENDORSEMENT_HEADER):
        with database.unit_of_work() as session:  # a peer's rotated-in key, endorsed by a key held here
            key = session.get(FederationKey, params.key_id) or \
                learn_endorsed_key(session, headers.get(ENDORSEMENT_HEADER), params.key_id, now)
    with database.unit_of_work(write=False) as session:
        peer = session.get(FederationPeer, key.platform_id) if key is not None else None
        if key is None or peer is None:
            raise SignatureRefused("unknown_key", "No peer of this platform has that key; its operator must add "
                                                  "your platform's card first.", key_id=params.key_id)
        session.expunge(peer)
    if peer.status == PeerStatus.REVOKED:
        raise SignatureRefused("peer_revoked", "This platform revoked your platform's federation.")
    if peer.status == PeerStatus.SUSPENDED:
        raise SignatureRefused("peer_suspended", "This platform suspended your platform's federation for now.")
    if key.valid_until is not None and key.valid_until <= now:
        raise SignatureRefused("key_expired", "That key was rotated out and its grace period is over; sign with "
                                              "your current key.", key_id=key.key_id)
    problem = signature_time_problem(params.created, now.timestamp())
    if problem is not None:
        raise SignatureRefused(problem, f"The signature's created time must be within {SIGNATURE_MAX_AGE_SECONDS} s "
                                        f"before and {SIGNATURE_MAX_SKEW_SECONDS} s after this platform's clock.",
                               created=params.created, now=int(now.timestamp()))
    signing.verify_request(method=method, url=url, headers=headers, body=body, params=params,
                           public_key=keys.parse_public(key.public_key))
    _remember_nonce(database, params.key_id, params.nonce, now)
    if scope is not None and scope.value not in peer_scopes(peer):
        raise SignatureRefused("scope_missing", f"Your platform may not use {scope.value!r} here.",
                               scope=scope.value)
    return peer


def _remember_nonce(database: Database, kid: str, nonce: str, now: dt.datetime) -> None:
    """Store the nonce (committed at once, whatever the request does next); one already stored is a replay.
    Nonces past their expiry are removed on the way (a signature that old is refused as stale anyway)."""
    expires = now + dt.timedelta(seconds=SIGNATURE_MAX_AGE_SECONDS + SIGNATURE_MAX_SKEW_SECONDS)
    try:
        with database.unit_of_work() as session:
            session.execute(delete(FederationNonce).where(FederationNonce.expires_at < now))
            session.add(FederationNonce(key_id=kid, nonce=nonce, expires_at=expires))
    except IntegrityError:
        raise SignatureRefused("signature_replayed", "This signed request was received before; sign every request "
                                                     "with a new nonce.") from None


def peer_with(scope: Scope | None) -> Callable[[Request], Coroutine[Any, Any, FederationPeer]]:
    """A dependency: the authenticated peer, allowed ``scope`` (None: any active peer)."""
    async def dependency(request: Request) -> FederationPeer:
        body = await request.body()
        app = request.app
        return await run_in_threadpool(authenticate, app.state.database, method=request.method,
                                       url=canonical_url(request), headers=request.headers, body=body, scope=scope,
                                       now=app.state.clock.now())
    return dependency


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}},
                      ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json")


def _signed(request: Request, response: Response) -> Response:
    app = request.app
    try:
        with app.state.database.unit_of_work(write=False) as session:
            kid, private = signing_key(session, app.state.settings)
    except Conflict:  # no key yet (a server that was never started with `suanli serve`): made now
        with app.state.database.unit_of_work() as session:
            ensure_identity(session, app.state.settings)
            kid, private = signing_key(session, app.state.settings)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    signed = signing.response_headers(status=response.status_code, headers=headers, body=response.body,
                                      request_method=request.method, request_url=canonical_url(request),
                                      request_headers=request.headers, key_id=kid, private_key=private)
    return Response(response.body, status_code=response.status_code, headers=signed)


class SignedRoute(APIRoute):
    """A federation endpoint: its errors are answered here (as JSON error bodies) so that every answer is
    signed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def signed_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except DomainError as exc:
                response = _error(exc.status, exc.code, exc.message, exc.details)
            except RequestValidationError as exc:
                response = _error(422, "invalid_input", "The request's parameters are not valid.",
                                  {"errors": [str(e.get("msg")) for e in exc.errors()][:10]})
            return await run_in_threadpool(_signed, request, response)

        return signed_handler
