"""RFC 9421 HTTP Message Signatures (Ed25519) with RFC 9530 Content-Digest for the federation API, on top of
``http-message-signatures``. No database here: the service resolves keys, peers and nonces.

A request's signature (label ``fed``, tag ``suanli-federation/v1``) covers ``@method``, ``@target-uri`` and
``content-digest`` (of the body, empty included) with ``created``, ``keyid``, ``alg`` and a random ``nonce``.
A response's signature covers ``@status``, its own ``content-digest`` and the request's ``@method``,
``@target-uri`` and signature (``"signature";req;key="fed"``), so a response answers that one request only and
cannot be replayed for another.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (ContentDigest, HTTPMessageSigner, HTTPMessageVerifier,
                                     HTTPMessageSignaturesException, InvalidSignature, MappingKeyResolver, algorithms)
from http_message_signatures.structures import CaseInsensitiveDict

from suanli.core.federation import (REQUIRED_REQUEST_COMPONENTS, REQUIRED_RESPONSE_COMPONENTS,
                                    SIGNATURE_MAX_SKEW_SECONDS)
from suanli.errors import DomainError

LABEL = "fed"
TAG = "suanli-federation/v1"
_RESPONSE_COVERS = ("@status", '"@method";req', '"@target-uri";req', f'"signature";req;key="{LABEL}"')


class SignatureRefused(DomainError):
    """A signed federation message this platform does not accept; ``code`` says why."""

    status = 401
    code = "signature_invalid"

    FORBIDDEN = frozenset({"peer_suspended", "peer_revoked", "scope_missing"})

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, code=code, details=details)
        if code in self.FORBIDDEN:
            self.status = 403


@dataclass(frozen=True)
class SignatureParams:
    """What a signature says about itself (read before any key is looked up)."""

    key_id: str
    created: int
    nonce: str
    components: tuple[str, ...]


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


class _Request:
    """The request view the library reads: method, absolute URL, headers."""

    def __init__(self, method: str, url: str, headers: Any) -> None:
        self.method, self.url, self.headers = method, url, headers


class _Response:
    def __init__(self, status_code: int, headers: Any, request: _Request) -> None:
        self.status_code, self.headers, self.request = status_code, headers, request


def _resolver(key_id: str, private: Ed25519PrivateKey | None = None,
              public: Ed25519PublicKey | None = None) -> MappingKeyResolver:
    return MappingKeyResolver(public_keys={key_id: public} if public else {},
                              private_keys={key_id: private} if private else {})


def sign(message: Any, *, key_id: str, private_key: Ed25519PrivateKey, body: bytes, covers: tuple[str, ...],
         nonce: str | None = None, created: dt.datetime | None = None) -> None:
    """Sign ``message`` (anything with ``headers`` and ``method``/``url`` or ``status_code``/``request``) in place,
    adding its Content-Digest."""
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_resolver(key_id, private_key))
    signer.sign(message, key_id=key_id, label=LABEL, tag=TAG, nonce=nonce or new_nonce(), created=created,
                covered_component_ids=covers, body=body)


def sign_request(request: Any, *, key_id: str, private_key: Ed25519PrivateKey, body: bytes,
                 created: dt.datetime | None = None, nonce: str | None = None) -> None:
    """Sign an outgoing request (an ``httpx.Request``) in place."""
    sign(request, key_id=key_id, private_key=private_key, body=body, covers=("@method", "@target-uri"),
         nonce=nonce, created=created)


def response_headers(*, status: int, headers: dict[str, str], body: bytes, request_method: str, request_url: str,
                     request_headers: Any, key_id: str, private_key: Ed25519PrivateKey) -> dict[str, str]:
    """``headers`` with the response's Content-Digest, Signature-Input and Signature added."""
    out = CaseInsensitiveDict(headers)
    request = _Request(request_method, request_url, request_headers)
    # An answer to a request without a readable signature (refused as such) binds to its method and target only.
    covers = _RESPONSE_COVERS if _has_signature(request_headers) else _RESPONSE_COVERS[:3]
    sign(_Response(status, out, request), key_id=key_id, private_key=private_key, body=body, covers=covers)
    return dict(out.items())


def _has_signature(headers: Any) -> bool:
    try:
        return LABEL in http_sf.parse(CaseInsensitiveDict(headers.items())["signature"].encode(), tltype="dictionary")
    except (KeyError, ValueError, TypeError, AttributeError):
        return False


def _component(name: str, params: dict[str, Any]) -> str:
    """A covered component as it is written in the required lists: ``"signature";req;key="fed"``."""
    return f'"{name}"' + "".join(f";{k}" if v is True else f';{k}="{v}"' for k, v in params.items())


def signature_params(headers: Any) -> SignatureParams:
    """The ``fed`` signature's parameters; ``SignatureRefused`` when it is missing, malformed or covers too little."""
    fields = CaseInsensitiveDict(headers.items())
    if "signature-input" not in fields or "signature" not in fields:
        raise SignatureRefused("signature_missing", "Federation requests are signed (RFC 9421): the Signature and "
                                                    "Signature-Input headers are missing.")
    try:
        inputs = http_sf.parse(fields["signature-input"].encode(), tltype="dictionary")
        entry = inputs[LABEL]
        members, params = entry
        components = tuple(_component(name, flags) for name, flags in members)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        raise SignatureRefused("signature_malformed", f"Signature-Input has no well-formed {LABEL!r} signature.") \
            from None
    key_id, created, nonce = params.get("keyid"), params.get("created"), params.get("nonce")
    if not isinstance(key_id, str) or type(created) is not int or not isinstance(nonce, str) or not nonce \
            or len(nonce) > 64 or params.get("tag") != TAG:
        raise SignatureRefused("signature_incomplete", f"The signature needs keyid, created, a nonce (at most 64 "
                                                       f"characters) and tag {TAG!r}.")
    return SignatureParams(key_id, created, nonce, components)


def _require(params: SignatureParams, required: tuple[str, ...]) -> None:
    missing = [c for c in required if (c if c.startswith('"') else f'"{c}"') not in params.components]
    if missing:
        raise SignatureRefused("signature_incomplete", f"The signature must cover {', '.join(required)}; it "
                                                       f"leaves out {', '.join(missing)}.", missing=missing)


def _verify(message: Any, params: SignatureParams, public_key: Ed25519PublicKey, body: bytes,
            required: tuple[str, ...]) -> None:
    _require(params, required)
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519,
                                   key_resolver=_resolver(params.key_id, public=public_key))
    verifier.max_clock_skew = dt.timedelta(seconds=SIGNATURE_MAX_SKEW_SECONDS)
    try:
        results = verifier.verify(message, max_age=None, expect_tag=TAG, expect_label=LABEL,
                                  require_components=required)
    except (InvalidSignature, HTTPMessageSignaturesException):
        raise SignatureRefused("signature_invalid", "The signature does not match the message (method, target, "
                                                    "digest or parameters changed, or another key signed it).") \
            from None
    digest = results[0].covered_components.get('"content-digest"')
    try:
        ContentDigest.verify(digest or "", body)
    except (InvalidSignature, HTTPMessageSignaturesException):
        raise SignatureRefused("body_tampered", "The body does not match its signed Content-Digest.") from None


def verify_request(*, method: str, url: str, headers: Any, body: bytes, params: SignatureParams,
                   public_key: Ed25519PublicKey) -> None:
    """Check an incoming request's signature and body against the signer's key (times, nonces and peers are the
    service's)."""
    _verify(_Request(method, url, headers), params, public_key, body, REQUIRED_REQUEST_COMPONENTS)


def verify_response(*, status: int, headers: Any, body: bytes, request_method: str, request_url: str,
                    request_headers: Any, params: SignatureParams, public_key: Ed25519PublicKey) -> None:
    """Check a peer's response: signed by its key, over its body, answering exactly this request."""
    request = _Request(request_method, request_url, request_headers)
    _verify(_Response(status, headers, request), params, public_key, body, REQUIRED_RESPONSE_COMPONENTS)
