"""Use cases of this platform's identity and its peers: the identity (made at first start), key rotation with a
grace period, the peer card operators exchange out of band, adding peers with scopes, suspending and revoking
them. Services never commit."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import Platform
from suanli.catalog.service import local_platform
from suanli.config import Settings
from suanli.db import utcnow
from suanli.core.federation import PeerStatus, Scope, endorsement_message, key_id, parse_scopes
from suanli.errors import Conflict, InvalidInput, NotFound
from suanli.federation import keys
from suanli.federation.models import FederationIdentity, FederationKey, FederationPeer

CARD_PREFIX = "suanli-peer:"


def identity_row(session: Session, platform: Platform) -> FederationIdentity:
    row = session.get(FederationIdentity, platform.id)
    if row is None:
        row = FederationIdentity(platform_id=platform.id)
        session.add(row)
        session.flush()
    return row


def ensure_identity(session: Session, settings: Settings) -> Platform:
    """This platform's identity, made at first start: the local platform row with its province and base URL
    (from the settings, kept up to date), its publishing row and a current key (a key file under SUANLI_HOME)."""
    platform = local_platform(session, settings.platform_name)
    if platform.province != settings.platform_province:
        platform.province = settings.platform_province
    if platform.base_url != settings.federation_base_url:
        platform.base_url = settings.federation_base_url
    identity_row(session, platform)
    if current_key(session, platform) is None:
        _add_local_key(session, settings, platform)
    return platform


def _add_local_key(session: Session, settings: Settings, platform: Platform,
                   previous: FederationKey | None = None) -> FederationKey:
    """A new key of this platform; endorsed by ``previous`` (its private key signs the new key's id and public key)."""
    kid, public = keys.generate(settings.home)
    row = FederationKey(key_id=kid, platform_id=platform.id, public_key=keys.public_text(public))
    if previous is not None:
        signature = keys.load_private(settings.home, previous.key_id).sign(
            endorsement_message(platform.id, kid, row.public_key))
        row.endorsed_by, row.endorsement = previous.key_id, base64.b64encode(signature).decode()
    session.add(row)
    session.flush()
    return row


def current_key(session: Session, platform: Platform) -> FederationKey | None:
    return session.scalar(select(FederationKey).where(FederationKey.platform_id == platform.id,
                                                      FederationKey.valid_until.is_(None))
                          .order_by(FederationKey.created_at.desc()).limit(1))


def platform_keys(session: Session, platform_id: uuid.UUID, now: dt.datetime | None = None) -> list[FederationKey]:
    """A platform's keys still valid at ``now``: the current one and those in their grace period."""
    now = now or utcnow()
    rows = session.scalars(select(FederationKey).where(FederationKey.platform_id == platform_id)
                           .order_by(FederationKey.created_at)).all()
    return [k for k in rows if k.valid_until is None or k.valid_until > now]


def rotate_key(session: Session, settings: Settings, now: dt.datetime | None = None) -> FederationKey:
    """A new current key; the keys it replaces stay valid for ``federation_key_grace_hours``, so peers that have
    not fetched the new one yet still accept what they signed (peers learn it from ``/federation/v1/identity``
    at their next sync)."""
    now = now or utcnow()
    platform = ensure_identity(session, settings)
    grace_end = now + dt.timedelta(hours=settings.federation_key_grace_hours)
    previous = current_key(session, platform)
    for row in platform_keys(session, platform.id, now):
        if row.valid_until is None:
            row.valid_until = grace_end
    session.flush()
    return _add_local_key(session, settings, platform, previous)


def signing_key(session: Session, settings: Settings) -> tuple[str, Any]:
    """The key id and private key this platform signs with now."""
    platform = local_platform(session, settings.platform_name)
    row = current_key(session, platform)
    if row is None:
        raise Conflict("This platform has no federation key yet; run `suanli federation identity` or start "
                       "`suanli serve` once.", code="federation_not_set_up")
    return row.key_id, keys.load_private(settings.home, row.key_id)


ENDORSEMENT_HEADER = "Suanli-Key-Endorsement"
"""Sent with every request signed by a rotated-in key: the key and its endorsement by the key it replaced, so a peer
that holds only the old key learns the new one from the request itself (``learn_endorsed_key``)."""


def endorsement_header(session: Session, settings: Settings) -> str | None:
    platform = local_platform(session, settings.platform_name)
    row = current_key(session, platform)
    if row is None or row.endorsement is None:
        return None
    data = {"platform_id": str(platform.id), "key_id": row.key_id, "public_key": row.public_key,
            "endorsed_by": row.endorsed_by, "endorsement": row.endorsement}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def learn_endorsed_key(session: Session, header: str | None, wanted_key_id: str,
                       now: dt.datetime) -> FederationKey | None:
    """The key ``wanted_key_id`` from a request's endorsement header, stored for its platform when a valid key of
    that platform (held here) endorsed it; None otherwise."""
    if not header or len(header) > 2000:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        platform_id = uuid.UUID(str(data["platform_id"]))
        offered = _KeyIn.model_validate({k: data.get(k) for k in ("key_id", "public_key", "endorsed_by",
                                                                   "endorsement")})
    except (ValueError, KeyError, TypeError, ValidationError):
        return None
    endorser = session.get(FederationKey, offered.endorsed_by or "")
    if offered.key_id != wanted_key_id or endorser is None or endorser.platform_id != platform_id or \
            (endorser.valid_until is not None and endorser.valid_until <= now):
        return None
    identity = IdentityIn(id=platform_id, name="-", base_url="https://-", keys=[offered])
    if offered.key_id not in endorsed_keys(identity, {endorser.key_id: endorser.public_key}):
        return None
    if key_id(keys.raw_public(keys.parse_public(offered.public_key))) != offered.key_id:
        return None
    row = FederationKey(key_id=offered.key_id, platform_id=platform_id, public_key=offered.public_key)
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- the identity document and the peer card

def identity_document(session: Session, platform: Platform, now: dt.datetime | None = None) -> dict[str, Any]:
    """What a platform says about itself to peers (and the operator's card): no secret in it."""
    return {"id": str(platform.id), "name": platform.name, "province": platform.province,
            "base_url": platform.base_url,
            "keys": [{"key_id": k.key_id, "public_key": k.public_key,
                      "valid_until": k.valid_until.isoformat() if k.valid_until else None,
                      "endorsed_by": k.endorsed_by, "endorsement": k.endorsement}
                     for k in platform_keys(session, platform.id, now)]}


def peer_card(document: dict[str, Any]) -> str:
    """One line for the operator to hand to a peer's operator out of band (it holds public keys only)."""
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return CARD_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class _KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(min_length=32, max_length=32)
    public_key: str = Field(max_length=64)
    valid_until: dt.datetime | None = None
    endorsed_by: str | None = Field(default=None, max_length=32)
    endorsement: str | None = Field(default=None, max_length=100)


class IdentityIn(BaseModel):
    """A peer's identity document, as read from its card or its /federation/v1/identity."""

    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    province: str | None = Field(default=None, max_length=40)
    base_url: str = Field(pattern=r"^https?://", max_length=300)
    keys: list[_KeyIn] = Field(min_length=1, max_length=10)


def read_identity(data: Any) -> IdentityIn:
    """A checked identity document: every key's id is its public key's fingerprint."""
    try:
        identity = IdentityIn.model_validate(data)
        for k in identity.keys:
            if key_id(keys.raw_public(keys.parse_public(k.public_key))) != k.key_id:
                raise ValueError(f"key {k.key_id} is not the fingerprint of its public key")
    except (ValidationError, ValueError) as exc:
        raise InvalidInput(f"The peer's identity is not valid: {str(exc).splitlines()[0]}",
                           code="invalid_peer_identity") from None
    return identity


def read_card(card: str) -> IdentityIn:
    text = card.strip()
    if not text.startswith(CARD_PREFIX):
        raise InvalidInput(f"A peer card starts with {CARD_PREFIX!r}; ask the peer's operator for the line "
                           "`suanli federation identity` prints.", code="invalid_peer_card")
    body = text[len(CARD_PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        raise InvalidInput("The peer card is cut or garbled; copy the whole line again.",
                           code="invalid_peer_card") from None
    return read_identity(data)


def endorsed_keys(identity: IdentityIn, trusted: dict[str, str]) -> dict[str, str]:
    """``trusted`` (key id → public key) with the identity's keys that a trusted key endorsed, directly or through
    a chain of rotations. Keys nobody trusted endorsed are left out."""
    known = dict(trusted)
    pending = [k for k in identity.keys if k.key_id not in known]
    progress = True
    while pending and progress:
        progress = False
        for k in list(pending):
            if k.endorsed_by in known and k.endorsement:
                try:
                    keys.parse_public(known[k.endorsed_by]).verify(
                        base64.b64decode(k.endorsement, validate=True),
                        endorsement_message(identity.id, k.key_id, k.public_key))
                except (ValueError, InvalidSignature):
                    pending.remove(k)
                    continue
                known[k.key_id] = k.public_key
                pending.remove(k)
                progress = True
    return known


def store_peer_keys(session: Session, platform_id: uuid.UUID, identity: IdentityIn) -> None:
    """Record the keys a peer announces (new ones added, grace periods updated). A key id already held by another
    platform is refused."""
    for k in identity.keys:
        row = session.get(FederationKey, k.key_id)
        if row is None:
            session.add(FederationKey(key_id=k.key_id, platform_id=platform_id, public_key=k.public_key,
                                      valid_until=k.valid_until))
        elif row.platform_id != platform_id:
            raise Conflict("That key belongs to another platform.", code="key_of_another_platform")
        else:
            row.valid_until = k.valid_until
    session.flush()


# ---------------------------------------------------------------- peers

def add_peer(session: Session, settings: Settings, card: str, scopes: list[str]) -> FederationPeer:
    """Federate with the platform of ``card``, letting it do what ``scopes`` allow here. Its base URL must pass the
    address policy for outbound requests (``endpoint_not_allowed`` otherwise)."""
    from suanli.backends.base import BackendError
    from suanli.backends.outbound import EndpointNotAllowed, check_endpoint

    identity = read_card(card)
    try:
        granted = parse_scopes(scopes)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="unknown_scope", details={"valid_values": [s.value for s in Scope]}) \
            from None
    if not granted:
        raise InvalidInput("Give the peer at least one scope.", code="unknown_scope",
                           details={"valid_values": [s.value for s in Scope]})
    local = ensure_identity(session, settings)
    if identity.id == local.id:
        raise Conflict("That card is this platform's own.", code="peer_is_self")
    try:
        check_endpoint(identity.base_url, kind="federation")
    except EndpointNotAllowed as exc:
        raise InvalidInput(str(exc), code="endpoint_not_allowed") from None
    except BackendError as exc:
        raise InvalidInput(str(exc), code="endpoint_invalid") from None
    platform = session.get(Platform, identity.id)
    if platform is not None and session.get(FederationPeer, identity.id) is not None:
        raise Conflict("That platform is a peer already.", code="peer_exists")
    if platform is None:
        platform = Platform(id=identity.id, name=identity.name, is_local=False)
        session.add(platform)
    platform.province, platform.base_url = identity.province, identity.base_url
    session.flush()
    store_peer_keys(session, platform.id, identity)
    peer = FederationPeer(platform_id=platform.id, scopes=",".join(s.value for s in granted))
    session.add(peer)
    session.flush()
    return peer


def get_peer(session: Session, peer_id: uuid.UUID) -> FederationPeer:
    peer = session.get(FederationPeer, peer_id)
    if peer is None:
        raise NotFound("No peer with that id; `suanli federation peers list` shows them.", code="peer_not_found")
    return peer


def list_peers(session: Session) -> list[FederationPeer]:
    return list(session.scalars(select(FederationPeer).order_by(FederationPeer.added_at)))


def set_peer_status(session: Session, peer_id: uuid.UUID, status: PeerStatus) -> FederationPeer:
    """Suspend (refused until resumed), resume or revoke (refused for good) a peer."""
    peer = get_peer(session, peer_id)
    if peer.status == PeerStatus.REVOKED and status != PeerStatus.REVOKED:
        raise Conflict("A revoked peer stays revoked.",
                       code="peer_revoked")
    if peer.status != status:
        peer.status, peer.status_changed_at = status.value, utcnow()
    session.flush()
    return peer


def peer_scopes(peer: FederationPeer) -> set[str]:
    return {s for s in peer.scopes.split(",") if s}
