"""Catalog exchange: the products an operator shares, the change feed this platform publishes from them, and the
pull of a peer's feed into local remote offers (shown in search with their origin and freshness).

The feed: every offer (``core.federation.build_offers``) is stored with the number of its last change; an offer
whose content changed, or that disappeared (withdrawn: ``offer`` null), gets the next number. A peer asks for the
changes after the last number it stored (its cursor) and stores each page before asking for the next one, so a
sync cut short resumes where it stopped and nothing is applied twice. Publishing locks this platform's
``federation_identity`` row, so the numbers of concurrent publishers never collide.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from suanli.catalog.models import Datacenter, Product, ProductStatus, Region
from suanli.catalog.service import local_platform
from suanli.config import Settings
from suanli.core.federation import (Aggregation, ComputeId, PriceDisclosure, SharedProduct, build_offers,
                                    content_hash)
from suanli.db import Database, utcnow
from suanli.errors import InvalidInput, NotFound
from suanli.federation.client import PeerFailed, signed_get
from suanli.federation.models import FederationIdentity, FederationPeer, FederationPublished, FederationShare, RemoteOffer
from suanli.federation.peers import get_peer, identity_row, read_identity, store_peer_keys

FEED_PAGE_MAX = 1000


# ---------------------------------------------------------------- what the operator shares, and how

def share(session: Session, product_id: uuid.UUID, shared: bool) -> bool:
    """Mark a product shareable with peers (or not); whether it is shared now."""
    if session.get(Product, product_id) is None:
        raise NotFound("No product with that id.", code="product_not_found")
    row = session.get(FederationShare, product_id)
    if shared and row is None:
        session.add(FederationShare(product_id=product_id))
    elif not shared and row is not None:
        session.delete(row)
    session.flush()
    return shared


def shared_product_ids(session: Session) -> list[uuid.UUID]:
    return list(session.scalars(select(FederationShare.product_id).order_by(FederationShare.shared_at)))


def policy(session: Session, settings: Settings) -> dict[str, str]:
    platform = local_platform(session, settings.platform_name)
    identity = session.get(FederationIdentity, platform.id)
    if identity is None:
        return {"price_disclosure": PriceDisclosure.EXACT.value, "aggregation": Aggregation.DATACENTER.value}
    return {"price_disclosure": identity.price_disclosure, "aggregation": identity.aggregation}


def set_policy(session: Session, settings: Settings, *, price_disclosure: str | None,
               aggregation: str | None) -> dict[str, str]:
    """How much the feed shows: exact prices or bands, per data center or per region."""
    identity = identity_row(session, local_platform(session, settings.platform_name))
    try:
        if price_disclosure is not None:
            identity.price_disclosure = PriceDisclosure(price_disclosure).value
        if aggregation is not None:
            identity.aggregation = Aggregation(aggregation).value
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_policy",
                           details={"valid_values": [*(p.value for p in PriceDisclosure),
                                                     *(a.value for a in Aggregation)]}) from None
    identity.updated_at = utcnow()
    session.flush()
    return {"price_disclosure": identity.price_disclosure, "aggregation": identity.aggregation}


# ---------------------------------------------------------------- publishing

def _shared_products(session: Session) -> list[SharedProduct]:
    rows = session.execute(
        select(Product.id, Product.datacenter_id, Datacenter.name, Datacenter.region_id, Region.province, Region.city,
               Product.name, Product.kind, Product.chip_key, Product.accelerators, Product.vcpus, Product.memory_gib,
               Product.delivery, Product.stock_units - Product.allocated_units, Product.price_on_demand_fen,
               Product.status, Product.is_visible)
        .join(FederationShare, FederationShare.product_id == Product.id)
        .join(Datacenter, Datacenter.id == Product.datacenter_id)
        .join(Region, Region.id == Datacenter.region_id)).all()
    return [SharedProduct(product_id=r[0], datacenter_id=r[1], datacenter_name=r[2], region_id=r[3], province=r[4],
                          city=r[5], name=r[6], kind=r[7].value, chip_key=r[8], accelerators=r[9], vcpus=r[10],
                          memory_gib=r[11], delivery=r[12].value, free_units=r[13], price_on_demand_fen=r[14],
                          listed=r[15] == ProductStatus.LISTED and r[16])
            for r in rows]


WITHDRAWN = ""
"""The content hash of a withdrawn offer."""


def publish(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Bring the feed up to date with the shared products; the number of its last change. Compares content hashes
    only (no stored offer is read back) and writes the changes in bulk."""
    now = now or utcnow()
    platform = local_platform(session, settings.platform_name)
    identity = identity_row(session, platform)
    session.refresh(identity, with_for_update=True)
    offers = build_offers(platform.id, _shared_products(session), PriceDisclosure(identity.price_disclosure),
                          Aggregation(identity.aggregation))
    published = {cid: digest for cid, digest in session.execute(select(FederationPublished.cid,
                                                                        FederationPublished.content_hash))}
    seq = identity.feed_seq
    inserts, updates = [], []
    for cid, offer in offers.items():
        digest = content_hash(offer)
        if published.get(cid) == digest:
            continue
        seq += 1
        row = {"cid": cid, "seq": seq, "content_hash": digest, "offer": offer, "changed_at": now}
        (updates if cid in published else inserts).append(row)
    for cid, digest in published.items():
        if cid not in offers and digest != WITHDRAWN:
            seq += 1
            updates.append({"cid": cid, "seq": seq, "content_hash": WITHDRAWN, "offer": None, "changed_at": now})
    if inserts:
        session.execute(insert(FederationPublished), inserts)
    if updates:
        session.execute(update(FederationPublished), updates)
    identity.feed_seq = seq
    session.flush()
    return seq


def feed_head(session: Session, settings: Settings) -> int:
    """The number of the feed's last change (0: nothing published yet)."""
    identity = session.get(FederationIdentity, local_platform(session, settings.platform_name).id)
    return identity.feed_seq if identity is not None else 0


def changes(session: Session, after: int, limit: int) -> tuple[list[FederationPublished], bool]:
    """The feed's changes after ``after``, oldest first, and whether more follow."""
    rows = list(session.scalars(select(FederationPublished).where(FederationPublished.seq > after)
                                .order_by(FederationPublished.seq).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


# ---------------------------------------------------------------- pulling a peer's feed

class _OfferIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    cid: str = Field(max_length=200)
    name: str = Field(max_length=200)
    datacenter: str | None = Field(default=None, max_length=200)
    province: str = Field(max_length=40)
    city: str = Field(max_length=40)
    kind: str = Field(max_length=16)
    chip: str | None = Field(default=None, max_length=40)
    accelerators: int = Field(ge=0, le=10_000)
    vcpus: int = Field(ge=0, le=100_000)
    memory_gib: int = Field(ge=0, le=100_000_000)
    delivery: str = Field(max_length=16)
    available_units: int = Field(ge=0, le=10_000_000)
    price_exact_fen: int | None = Field(default=None, gt=0)
    price_low_fen: int = Field(gt=0)
    price_high_fen: int = Field(gt=0)


class _ChangeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seq: int = Field(ge=1)
    cid: str = Field(max_length=200)
    offer: _OfferIn | None
    changed_at: dt.datetime


class _PageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    platform_id: uuid.UUID
    head: int = Field(ge=0)
    changes: list[_ChangeIn] = Field(max_length=FEED_PAGE_MAX)
    more: bool


def _checked_page(data: dict[str, Any], peer_id: uuid.UUID, cursor: int) -> _PageIn:
    """A page of a peer's feed, refused whole if anything in it is wrong: a peer may only publish offers in its
    own name, in increasing order after the cursor asked for."""
    try:
        page = _PageIn.model_validate(data)
    except ValidationError:
        raise PeerFailed("The peer's change feed is not valid; nothing of it was stored.",
                         code="peer_response_refused", details={"reason": "invalid_feed"}) from None
    last = cursor
    for change in page.changes:
        try:
            cid = ComputeId.parse(change.cid)
        except ValueError:
            cid = None
        if cid is None or cid.platform_id != peer_id or change.seq <= last or \
                (change.offer is not None and change.offer.cid != change.cid):
            raise PeerFailed("The peer's change feed names offers it may not publish, or is out of order; nothing "
                             "of it was stored.", code="peer_response_refused", details={"reason": "invalid_feed"})
        last = change.seq
    if page.platform_id != peer_id:
        raise PeerFailed("The feed is another platform's.", code="peer_response_refused",
                         details={"reason": "invalid_feed"})
    return page


def _store_page(session: Session, peer_id: uuid.UUID, page: _PageIn, now: dt.datetime) -> int:
    held = {row.cid: row for row in session.scalars(
        select(RemoteOffer).where(RemoteOffer.cid.in_([c.cid for c in page.changes])))} if page.changes else {}
    for change in page.changes:
        if change.offer is None:
            if change.cid in held:
                session.delete(held.pop(change.cid))
            continue
        offer = change.offer.model_dump()
        row = held.get(change.cid)
        values = dict(platform_id=peer_id, province=offer["province"], chip=offer["chip"],
                      accelerators=offer["accelerators"], price_low_fen=offer["price_low_fen"],
                      available_units=offer["available_units"], offer=offer, source_seq=change.seq,
                      changed_at=change.changed_at, synced_at=now)
        if row is None:
            held[change.cid] = RemoteOffer(cid=change.cid, **values)
            session.add(held[change.cid])
        else:
            for name, value in values.items():
                setattr(row, name, value)
    return page.changes[-1].seq if page.changes else 0


def sync_peer(database: Database, settings: Settings, peer_id: uuid.UUID) -> dict[str, Any]:
    """Pull a peer's keys (``/federation/v1/identity``) and the changes of its feed since the last sync. Each page
    is stored in its own transaction with the cursor, so an interrupted sync loses nothing and repeats nothing."""
    with database.unit_of_work(write=False) as session:
        peer = get_peer(session, peer_id)
        platform, cursor = peer.platform, peer.feed_cursor
        session.expunge(platform)
    identity = read_identity(signed_get(database, settings, platform, "/federation/v1/identity", endorsed=True))
    if identity.id != platform.id:
        raise PeerFailed("The peer answered with another platform's identity.", code="peer_response_refused",
                         details={"reason": "identity_mismatch"})
    with database.unit_of_work() as session:
        store_peer_keys(session, platform.id, identity)
    applied, pages, restarted = 0, 0, False
    while True:
        data = signed_get(database, settings, platform, "/federation/v1/catalog/changes",
                          {"after": cursor, "limit": FEED_PAGE_MAX})
        page = _checked_page(data, platform.id, cursor)
        if page.head < cursor and not restarted:
            # The peer's feed is behind what was stored from it (its database was restored from a backup): forget
            # its offers and read its feed again from the start.
            with database.unit_of_work() as session:
                session.execute(delete(RemoteOffer).where(RemoteOffer.platform_id == platform.id))
                get_peer(session, peer_id).feed_cursor = 0
            cursor, restarted = 0, True
            continue
        now = utcnow()
        with database.unit_of_work() as session:
            last = _store_page(session, platform.id, page, now)
            peer = get_peer(session, peer_id)
            cursor = max(cursor, last)
            peer.feed_cursor, peer.last_synced_at = cursor, now
        applied, pages = applied + len(page.changes), pages + 1
        if not page.more:
            break
    with database.unit_of_work(write=False) as session:
        held = session.scalar(select(func.count()).select_from(RemoteOffer)
                              .where(RemoteOffer.platform_id == platform.id))
    return {"peer_id": str(platform.id), "changes_applied": applied, "pages": pages, "cursor": cursor,
            "offers_held": held, "restarted": restarted}


# ---------------------------------------------------------------- remote offers in search

def search_remote(session: Session, *, chip: str | None, province: str | None, min_accelerators: int | None,
                  limit: int) -> list[RemoteOffer]:
    """Offers pulled from active peers, cheapest first."""
    query = (select(RemoteOffer).join(FederationPeer, FederationPeer.platform_id == RemoteOffer.platform_id)
             .where(FederationPeer.status == "active", RemoteOffer.available_units > 0))
    if chip:
        query = query.where(RemoteOffer.chip == chip.lower())
    if province:
        query = query.where(RemoteOffer.province == province.removesuffix("省"))
    if min_accelerators is not None:
        query = query.where(RemoteOffer.accelerators >= min_accelerators)
    return list(session.scalars(query.order_by(RemoteOffer.price_low_fen, RemoteOffer.cid).limit(limit)))
