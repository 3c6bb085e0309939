"""Wire models: the operator's federation API (``/api/v1/operator/federation``), the public view of remote offers
(``/api/v1/federation/offers``) and the signed federation API between platforms (``/federation/v1``, versioned
on its own: its models are never the public API's)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from suanli.core.federation import Aggregation, PeerStatus, PriceDisclosure, Scope


# ---------------------------------------------------------------- operator

class KeyOut(BaseModel):
    key_id: str
    public_key: str
    valid_until: dt.datetime | None
    endorsed_by: str | None = None
    endorsement: str | None = None


class IdentityOut(BaseModel):
    id: uuid.UUID
    name: str
    province: str | None
    base_url: str | None
    keys: list[KeyOut]
    card: str
    """The line to hand to a peer's operator out of band (public keys only)."""


class PeerIn(BaseModel):
    card: str = Field(min_length=12, max_length=4000, description="The peer's card (`suanli federation identity`).")
    scopes: list[Scope] = Field(min_length=1, max_length=4, description="What the peer may do here.")


class PeerOut(BaseModel):
    id: uuid.UUID
    name: str
    province: str | None
    base_url: str | None
    status: PeerStatus
    scopes: list[str]
    key_ids: list[str]
    feed_cursor: int
    last_synced_at: dt.datetime | None
    added_at: dt.datetime


class PolicyIn(BaseModel):
    price_disclosure: PriceDisclosure | None = None
    aggregation: Aggregation | None = None


class PolicyOut(BaseModel):
    price_disclosure: PriceDisclosure
    aggregation: Aggregation


class ShareIn(BaseModel):
    product_id: uuid.UUID


class SharesOut(BaseModel):
    product_ids: list[uuid.UUID]
    feed_head: int


class SyncOut(BaseModel):
    peer_id: uuid.UUID
    changes_applied: int
    pages: int
    cursor: int
    offers_held: int
    restarted: bool = False
    """The peer's feed was behind the stored cursor (restored from a backup): read again from the start."""


# ---------------------------------------------------------------- remote offers, as search shows them

class RemoteOfferOut(BaseModel):
    cid: str
    origin_platform_id: uuid.UUID
    origin_platform: str
    origin_province: str | None
    name: str
    datacenter: str | None
    province: str
    city: str
    chip: str | None
    accelerators: int
    delivery: str
    available_units: int
    price_exact_fen: int | None
    price_low_fen: int
    price_high_fen: int
    changed_at: dt.datetime
    synced_at: dt.datetime
    age_seconds: int
    """Freshness: how long ago this platform last heard from the origin about it."""

    @classmethod
    def of(cls, row: Any, now: dt.datetime) -> RemoteOfferOut:
        """From a stored ``RemoteOffer`` (its origin platform loaded)."""
        o = row.offer
        return cls(cid=row.cid, origin_platform_id=row.platform_id, origin_platform=row.platform.name,
                   origin_province=row.platform.province, name=o["name"], datacenter=o.get("datacenter"),
                   province=o["province"], city=o["city"], chip=o.get("chip"), accelerators=o["accelerators"],
                   delivery=o["delivery"], available_units=o["available_units"],
                   price_exact_fen=o.get("price_exact_fen"), price_low_fen=o["price_low_fen"],
                   price_high_fen=o["price_high_fen"], changed_at=row.changed_at, synced_at=row.synced_at,
                   age_seconds=max(0, int((now - row.synced_at).total_seconds())))


class RemoteOffersOut(BaseModel):
    items: list[RemoteOfferOut]


# ---------------------------------------------------------------- /federation/v1 (between platforms)

class FederationKeyV1(BaseModel):
    key_id: str
    public_key: str
    valid_until: dt.datetime | None
    endorsed_by: str | None = None
    """The key this one replaced, which signed ``endorsement`` (core.federation.endorsement_message)."""
    endorsement: str | None = None


class IdentityV1(BaseModel):
    id: uuid.UUID
    name: str
    province: str | None
    base_url: str | None
    keys: list[FederationKeyV1]


class ChangeV1(BaseModel):
    seq: int
    cid: str
    offer: dict[str, Any] | None
    """None: withdrawn (no longer shared, sold out or unlisted)."""
    changed_at: dt.datetime


class ChangesV1(BaseModel):
    platform_id: uuid.UUID
    head: int
    """The number of the feed's last change; a peer whose cursor is here is up to date."""
    changes: list[ChangeV1]
    next_after: int
    more: bool
