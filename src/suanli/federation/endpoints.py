"""Federation HTTP endpoints (HTTP only; the use cases are in ``peers`` and ``catalog``).

* ``/federation/v1/...``: between platforms, signed both ways (``guard.SignedRoute``), its own schemas and tag;
* ``/api/v1/operator/federation/...``: the operator's identity, keys, peers, sharing policy and syncs;
* ``/api/v1/federation/offers``: remote offers as search shows them, with their origin and freshness.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query as Q, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from suanli import audit
from suanli.catalog.service import local_platform
from suanli.core.federation import PeerStatus, Scope
from suanli.federation import catalog, peers
from suanli.federation.guard import SignedRoute, peer_with
from suanli.federation.models import FederationKey, FederationPeer
from suanli.federation.schemas import (ChangesV1, ChangeV1, IdentityOut, IdentityV1, PeerIn, PeerOut, PolicyIn,
                                       PolicyOut, RemoteOfferOut, RemoteOffersOut, ShareIn, SharesOut, SyncOut)
from fastapi.security import HTTPAuthorizationCredentials

from suanli.accounts.models import Role
from suanli.db import Database

from suanli.http import BearerCredentials, DbSession, OperatorUser, ReadSession, authenticated_user, check_role

V1_TAG = "federation v1 (signed, between platforms)"
federation_v1 = APIRouter(prefix="/federation/v1", tags=[V1_TAG], route_class=SignedRoute)
operator_router = APIRouter(prefix="/api/v1/operator/federation", tags=["federation"])
public_router = APIRouter(prefix="/api/v1/federation", tags=["federation"])

_v1_openapi: dict = {}


def federation_v1_openapi() -> dict:
    """The signed API's own OpenAPI document (served unsigned at ``/federation/v1/openapi.json``)."""
    if not _v1_openapi:
        from fastapi.openapi.utils import get_openapi

        from suanli import __version__

        _v1_openapi.update(get_openapi(
            title="suanli federation API v1", version=f"v1 (suanli {__version__})", routes=federation_v1.routes,
            description="Between platforms only. Every request and answer is signed with RFC 9421 HTTP Message "
                        "Signatures (Ed25519) over @method, @target-uri and Content-Digest, with created and a "
                        "nonce; see docs/federation.md."))
    return _v1_openapi


AnyPeer = Annotated[FederationPeer, Depends(peer_with(None))]
CatalogPeer = Annotated[FederationPeer, Depends(peer_with(Scope.CATALOG))]


# ---------------------------------------------------------------- /federation/v1

@federation_v1.get("/identity", response_model=IdentityV1)
def identity_v1(_peer: AnyPeer, request: Request, session: ReadSession) -> IdentityV1:
    """This platform's identity and keys (current and in their grace period): how peers learn a rotated key."""
    platform = local_platform(session, request.app.state.settings.platform_name)
    return IdentityV1.model_validate(peers.identity_document(session, platform, request.app.state.clock.now()))


@federation_v1.get("/catalog/changes", response_model=ChangesV1)
def catalog_changes(_peer: CatalogPeer, request: Request, session: ReadSession,
                    after: Annotated[int, Q(ge=0, description="The last change the peer stored (0: all).")] = 0,
                    limit: Annotated[int, Q(ge=1, le=catalog.FEED_PAGE_MAX)] = 500) -> ChangesV1:
    """The shared catalog's changes after ``after``, oldest first (peer scope ``catalog``). The feed is brought up
    to date when a peer starts from 0 or asks from the head; the pages of a sync in progress (0 < after < head)
    are read from the feed as it is, so a full sync of a large catalog computes the offers once, not per page."""
    settings, database = request.app.state.settings, request.app.state.database
    # Units of work of their own, before the request's session reads (on SQLite its snapshot starts then).
    with database.unit_of_work(write=False) as reading:
        head = catalog.feed_head(reading, settings)
    if after == 0 or after >= head:
        with database.unit_of_work() as writing:
            head = catalog.publish(writing, settings, request.app.state.clock.now())
    rows, more = catalog.changes(session, after, limit)
    platform = local_platform(session, settings.platform_name)
    return ChangesV1(platform_id=platform.id, head=head, more=more,
                     next_after=rows[-1].seq if rows else max(after, 0),
                     changes=[ChangeV1(seq=r.seq, cid=r.cid, offer=r.offer, changed_at=r.changed_at) for r in rows])


# ---------------------------------------------------------------- operator

def _identity_out(session: Session, request: Request) -> IdentityOut:
    platform = peers.ensure_identity(session, request.app.state.settings)
    document = peers.identity_document(session, platform, request.app.state.clock.now())
    return IdentityOut.model_validate({**document, "card": peers.peer_card(document)})


@operator_router.post("/identity", response_model=IdentityOut)
def identity(_operator: OperatorUser, request: Request, session: DbSession) -> IdentityOut:
    """Operator: this platform's identity (made at first use: a key pair under SUANLI_HOME) and its peer card."""
    return _identity_out(session, request)


@operator_router.post("/keys/rotate", response_model=IdentityOut)
def rotate(operator: OperatorUser, request: Request, session: DbSession) -> IdentityOut:
    """Operator: a new key; the old one stays valid for SUANLI_FEDERATION_KEY_GRACE_HOURS."""
    new = peers.rotate_key(session, request.app.state.settings, request.app.state.clock.now())
    audit.record(session, operator, "federation.key_rotated", f"federation_key:{new.key_id}")
    return _identity_out(session, request)


def _peer_out(session: Session, peer: FederationPeer) -> PeerOut:
    key_ids = session.scalars(select(FederationKey.key_id).where(FederationKey.platform_id == peer.platform_id)
                              .order_by(FederationKey.created_at)).all()
    p = peer.platform
    return PeerOut(id=p.id, name=p.name, province=p.province, base_url=p.base_url, status=PeerStatus(peer.status),
                   scopes=sorted(peers.peer_scopes(peer)), key_ids=list(key_ids), feed_cursor=peer.feed_cursor,
                   last_synced_at=peer.last_synced_at, added_at=peer.added_at)


@operator_router.get("/peers", response_model=list[PeerOut])
def list_peers(_operator: OperatorUser, session: DbSession) -> list[PeerOut]:
    return [_peer_out(session, p) for p in peers.list_peers(session)]


@operator_router.post("/peers", response_model=PeerOut, status_code=201)
def add_peer(operator: OperatorUser, body: PeerIn, request: Request, session: DbSession) -> PeerOut:
    """Operator: federate with the platform of a card received out of band, with scopes."""
    peer = peers.add_peer(session, request.app.state.settings, body.card, [s.value for s in body.scopes])
    audit.record(session, operator, "federation.peer_added", f"platform:{peer.platform_id}",
                 {"scopes": peer.scopes})
    return _peer_out(session, peer)


def _set_status(operator: OperatorUser, session: Session, peer_id: uuid.UUID, status: PeerStatus) -> PeerOut:
    peer = peers.set_peer_status(session, peer_id, status)
    audit.record(session, operator, f"federation.peer_{status.value}", f"platform:{peer_id}")
    return _peer_out(session, peer)


@operator_router.post("/peers/{peer_id}/suspend", response_model=PeerOut)
def suspend_peer(operator: OperatorUser, peer_id: uuid.UUID, session: DbSession) -> PeerOut:
    """Operator: refuse the peer's requests until it is resumed (its offers leave search meanwhile)."""
    return _set_status(operator, session, peer_id, PeerStatus.SUSPENDED)


@operator_router.post("/peers/{peer_id}/resume", response_model=PeerOut)
def resume_peer(operator: OperatorUser, peer_id: uuid.UUID, session: DbSession) -> PeerOut:
    return _set_status(operator, session, peer_id, PeerStatus.ACTIVE)


@operator_router.post("/peers/{peer_id}/revoke", response_model=PeerOut)
def revoke_peer(operator: OperatorUser, peer_id: uuid.UUID, session: DbSession) -> PeerOut:
    """Operator: refuse the peer for good."""
    return _set_status(operator, session, peer_id, PeerStatus.REVOKED)


def _check_operator(database: Database, credentials: HTTPAuthorizationCredentials | None) -> None:
    with database.unit_of_work(write=False) as session:
        check_role(authenticated_user(session, credentials), Role.OPERATOR)


@operator_router.post("/peers/{peer_id}/sync", response_model=SyncOut)
async def sync_peer(peer_id: uuid.UUID, request: Request, credentials: BearerCredentials) -> SyncOut:
    """Operator: pull the peer's keys and its catalog changes since the last sync (each page stored as it comes).
    No unit of work spans the calls to the peer (on SQLite it would hold the write lock meanwhile): the operator
    is checked in a read-only one, and each page is stored in its own."""
    app = request.app
    await run_in_threadpool(_check_operator, app.state.database, credentials)
    report = await run_in_threadpool(catalog.sync_peer, app.state.database, app.state.settings, peer_id)
    return SyncOut.model_validate(report)


@operator_router.get("/policy", response_model=PolicyOut)
def get_policy(_operator: OperatorUser, request: Request, session: ReadSession) -> PolicyOut:
    return PolicyOut.model_validate(catalog.policy(session, request.app.state.settings))


@operator_router.put("/policy", response_model=PolicyOut)
def put_policy(operator: OperatorUser, body: PolicyIn, request: Request, session: DbSession) -> PolicyOut:
    """Operator: exact prices or price bands; one offer per product (data center shown) or per region."""
    policy = catalog.set_policy(session, request.app.state.settings,
                                price_disclosure=body.price_disclosure and body.price_disclosure.value,
                                aggregation=body.aggregation and body.aggregation.value)
    audit.record(session, operator, "federation.policy_changed", "federation:publishing", policy)
    return PolicyOut.model_validate(policy)


def _shares_out(session: Session, request: Request) -> SharesOut:
    head = catalog.publish(session, request.app.state.settings, request.app.state.clock.now())
    return SharesOut(product_ids=catalog.shared_product_ids(session), feed_head=head)


@operator_router.get("/shares", response_model=SharesOut)
def list_shares(_operator: OperatorUser, request: Request, session: ReadSession) -> SharesOut:
    return SharesOut(product_ids=catalog.shared_product_ids(session),
                     feed_head=catalog.feed_head(session, request.app.state.settings))


@operator_router.post("/shares", response_model=SharesOut)
def add_share(operator: OperatorUser, body: ShareIn, request: Request, session: DbSession) -> SharesOut:
    """Operator: share a product with peers (published in the change feed with the current policy)."""
    catalog.share(session, body.product_id, True)
    audit.record(session, operator, "federation.product_shared", f"product:{body.product_id}")
    return _shares_out(session, request)


@operator_router.delete("/shares/{product_id}", response_model=SharesOut)
def remove_share(operator: OperatorUser, product_id: uuid.UUID, request: Request, session: DbSession) -> SharesOut:
    """Operator: stop sharing a product (peers see it withdrawn at their next sync)."""
    catalog.share(session, product_id, False)
    audit.record(session, operator, "federation.product_unshared", f"product:{product_id}")
    return _shares_out(session, request)


# ---------------------------------------------------------------- remote offers

@public_router.get("/offers", response_model=RemoteOffersOut)
def remote_offers(request: Request, session: ReadSession,
                  chip: Annotated[str | None, Q(max_length=40, description="Chip key, e.g. a800")] = None,
                  province: Annotated[str | None, Q(max_length=40)] = None,
                  min_accelerators: Annotated[int | None, Q(ge=0, le=10_000)] = None,
                  limit: Annotated[int, Q(ge=1, le=500)] = 50) -> RemoteOffersOut:
    """Products of federated platforms, cheapest first, each with its origin platform, region and freshness."""
    rows = catalog.search_remote(session, chip=chip, province=province, min_accelerators=min_accelerators,
                                 limit=limit)
    now = request.app.state.clock.now()
    return RemoteOffersOut(items=[RemoteOfferOut.of(r, now) for r in rows])
