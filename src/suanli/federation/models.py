"""Federation tables: this platform's publishing state, peers, keys, nonces, shared products, the change feed
this platform publishes and the offers it pulled from peers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from suanli.catalog.models import Platform
from suanli.db import Base, utcnow


class FederationIdentity(Base):
    """This platform's publishing policy and the counter of its change feed (one row, the local platform's).
    Publishing locks this row, so two peers pulling at once never give two changes the same number."""

    __tablename__ = "federation_identity"

    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"), primary_key=True)
    price_disclosure: Mapped[str] = mapped_column(String(16), default="exact")
    aggregation: Mapped[str] = mapped_column(String(16), default="datacenter")
    feed_seq: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FederationPeer(Base):
    """A platform the operator federates with: its scopes (what it may do here) and state."""

    __tablename__ = "federation_peers"

    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    scopes: Mapped[str] = mapped_column(String(100), default="")
    feed_cursor: Mapped[int] = mapped_column(default=0, doc="The last change of its feed stored here.")
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    platform: Mapped[Platform] = relationship(lazy="joined")


class FederationKey(Base):
    """An Ed25519 public key of a platform (this one's private keys are files under $SUANLI_HOME/federation).
    ``valid_until`` None: current; else the end of its grace period after a rotation."""

    __tablename__ = "federation_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64), doc="Raw 32-byte key, base64.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    endorsed_by: Mapped[str | None] = mapped_column(String(32), default=None,
                                                    doc="The key it replaced, which signed ``endorsement``.")
    endorsement: Mapped[str | None] = mapped_column(String(100), default=None, doc="Ed25519 signature, base64.")


class FederationNonce(Base):
    """A nonce seen in a signed request, kept until its signature would be stale anyway: a replay is refused by
    every worker and after a restart."""

    __tablename__ = "federation_nonces"
    __table_args__ = (Index("ix_federation_nonces_expires_at", "expires_at"),)

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime]


class FederationShare(Base):
    """A product the operator marked shareable with peers."""

    __tablename__ = "federation_shares"

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    shared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FederationPublished(Base):
    """One offer of this platform's change feed, at the number of its last change (``offer`` None: withdrawn)."""

    __tablename__ = "federation_published"

    cid: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RemoteOffer(Base):
    """An offer pulled from a peer's change feed, with the columns search filters on."""

    __tablename__ = "federation_remote_offers"

    cid: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platforms.id"), index=True)
    province: Mapped[str] = mapped_column(String(40))
    chip: Mapped[str | None] = mapped_column(String(40))
    accelerators: Mapped[int]
    price_low_fen: Mapped[int]
    available_units: Mapped[int]
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_seq: Mapped[int]
    changed_at: Mapped[dt.datetime] = mapped_column(doc="When the peer last changed it.")
    synced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    platform: Mapped[Platform] = relationship(lazy="joined")
