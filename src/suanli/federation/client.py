"""Requests this platform sends to a peer: signed with its current key, sent through the checked outbound client
(``backends.outbound``: the address policy before each connection, no redirects, no proxies), and answered only
by a response the peer signed for this very request. What goes wrong is a 502 with a fixed code; a peer's own
error code (letters and underscores only) is passed on, never its text."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from suanli.backends.base import BackendError
from suanli.backends.outbound import failure_reason, http_client
from suanli.catalog.models import Platform
from suanli.config import Settings
from suanli.core.federation import signature_time_problem
from suanli.db import Database
from suanli.errors import DomainError
from suanli.federation import keys, signing
from suanli.federation.peers import ENDORSEMENT_HEADER, endorsement_header, platform_keys, signing_key
from suanli.federation.signing import SignatureRefused

TIMEOUT_SECONDS = 120.0
"""A feed page that starts a sync may wait for the peer to bring its feed up to date (seconds for 100,000 offers)."""
_CODE = re.compile(r"^[a-z_]{1,60}$")


def _with_endorsed_keys(body: bytes, known: dict[str, str]) -> dict[str, str]:
    from suanli.federation.peers import endorsed_keys, read_identity

    try:
        return endorsed_keys(read_identity(json.loads(body)), known)
    except (ValueError, DomainError):
        return known


class PeerFailed(DomainError):
    status = 502
    code = "peer_unreachable"


def signed_get(database: Database, settings: Settings, platform: Platform, path: str,
               params: dict[str, Any] | None = None, *, endorsed: bool = False) -> dict[str, Any]:
    """GET ``path`` of a peer's federation API; the verified JSON answer. ``endorsed`` (the identity document): an
    answer signed by a key this platform does not hold yet is accepted when the document shows that key endorsed
    by one it holds (the peer rotated its key)."""
    with database.unit_of_work(write=False) as session:
        kid, private = signing_key(session, settings)
        endorsement = endorsement_header(session, settings)
        known = {k.key_id: k.public_key for k in platform_keys(session, platform.id)}
    base = (platform.base_url or "").rstrip("/")
    with http_client(base, kind="federation", timeout=TIMEOUT_SECONDS) as client:
        request = client.build_request("GET", path, params=params)
        if endorsement:
            request.headers[ENDORSEMENT_HEADER] = endorsement
        signing.sign_request(request, key_id=kid, private_key=private, body=b"")
        try:
            response = client.send(request)
        except (BackendError, httpx.HTTPError) as exc:
            raise PeerFailed(f"The peer {platform.name} could not be reached ({failure_reason(exc)}).",
                             details={"reason": failure_reason(exc)}) from None
    body = response.content
    try:
        answer = signing.signature_params(response.headers)
        if answer.key_id not in known and endorsed:
            known = _with_endorsed_keys(body, known)
        if answer.key_id not in known:
            raise SignatureRefused("unknown_key", "the peer signed with a key this platform does not hold")
        problem = signature_time_problem(answer.created, time.time())
        if problem:
            raise SignatureRefused(problem, "the peer's signature is stale or from the future")
        signing.verify_response(status=response.status_code, headers=response.headers, body=body,
                                request_method="GET", request_url=str(request.url), request_headers=request.headers,
                                params=answer, public_key=keys.parse_public(known[answer.key_id]))
    except SignatureRefused as exc:
        raise PeerFailed(f"The answer of {platform.name} is not signed as it must be ({exc.code}); nothing of it "
                         "was used.", code="peer_response_refused", details={"reason": exc.code}) from None
    try:
        data = json.loads(body)
    except ValueError:
        raise PeerFailed(f"{platform.name} answered something that is not JSON.", code="peer_response_refused",
                         details={"reason": "not_json"}) from None
    if response.status_code >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        code = code if isinstance(code, str) and _CODE.match(code) else "unknown"
        raise PeerFailed(f"{platform.name} refused the request ({code}, HTTP {response.status_code}).",
                         code="peer_refused", details={"peer_code": code, "status": response.status_code})
    if not isinstance(data, dict):
        raise PeerFailed(f"{platform.name} answered an unexpected document.", code="peer_response_refused",
                         details={"reason": "not_an_object"})
    return data
