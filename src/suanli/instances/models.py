"""Instance tables: the buyers' SSH keys, the images data centers offer, and the instances leases deliver.

An order of a ``container``, ``vm`` or ``bare_metal`` accelerator or CPU product placed by a buyer delivers one
instance per unit (``orders.delivers_instances``). Its secrets (the JupyterLab token, a password a seller handed
over) are in ``instances.secrets``, encrypted like cluster credentials and never shown to anyone but the buyer.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanli.db import Base, utcnow
from suanli.ids import new_id
from suanli.jobs.credentials import EncryptedJSON


def _enum(cls: type[enum.Enum], name: str, length: int = 16) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class SshKey(Base):
    """An OpenSSH public key of a user, installed on the instances the user's orders deliver."""

    __tablename__ = "ssh_keys"
    __table_args__ = (UniqueConstraint("user_id", "fingerprint"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_type: Mapped[str] = mapped_column(String(40))
    public_key: Mapped[str] = mapped_column(Text, doc="The authorized_keys line: type, base64 blob, comment.")
    fingerprint: Mapped[str] = mapped_column(String(60), doc="OpenSSH's SHA256:... fingerprint.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatacenterImage(Base):
    """An image (``core.images``) a data center offers, and what its clusters pull for it (its own registry)."""

    __tablename__ = "datacenter_images"

    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"), primary_key=True)
    image_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InstanceState(enum.StrEnum):
    PENDING = "pending"  # its order waits for units (spot capacity under notice)
    PROVISIONING = "provisioning"  # being started by the backend, or waiting for the seller to deliver it
    RUNNING = "running"  # delivered: access details known; billed from ``delivered_at``
    STOPPING = "stopping"  # its lease ended; being stopped on the backend
    STOPPED = "stopped"
    FAILED = "failed"  # could not be delivered, or died; ``state_detail`` says why

    @property
    def terminal(self) -> bool:
        return self in (InstanceState.STOPPED, InstanceState.FAILED)


LIVE_STATES = (InstanceState.PENDING, InstanceState.PROVISIONING, InstanceState.RUNNING, InstanceState.STOPPING)


class DeliveryMethod(enum.StrEnum):
    AUTOMATED = "automated"  # the product's cluster starts instances (backends.instances)
    MANUAL = "manual"  # the seller delivers by hand: enters the access details in the console


class Instance(Base):
    """One unit of a lease, delivered as a machine the buyer logs into."""

    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("order_id", "unit_index"),
        Index("ix_instances_state", "state"),
        Index("ix_instances_buyer_created", "buyer_org_id", "created_at"),
        Index("ix_instances_seller_state", "seller_org_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    unit_index: Mapped[int] = mapped_column(Integer, doc="0 .. units-1 within its order.")
    buyer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    buyer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    seller_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    datacenter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datacenters.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    cluster_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clusters.id"), default=None)
    delivery: Mapped[DeliveryMethod] = mapped_column(_enum(DeliveryMethod, "delivery_method"))
    image_key: Mapped[str] = mapped_column(String(64))
    image_reference: Mapped[str] = mapped_column(String(300), default="")
    ports: Mapped[list[int]] = mapped_column(JSON, default=list, doc="Ports inside the instance to expose.")
    authorized_keys: Mapped[list[str]] = mapped_column(JSON, default=list,
                                                       doc="The buyer's public key lines, as of the order.")
    secrets: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict,
                                                    doc="jupyter_token; a seller's hand-delivered password.")
    state: Mapped[InstanceState] = mapped_column(_enum(InstanceState, "instance_state"))
    state_detail: Mapped[str] = mapped_column(String(500), default="")
    state_detail_message: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    backend_run_id: Mapped[str | None] = mapped_column(String(200), default=None,
                                                       doc="What the backend's start_instance returned.")
    start_claimed_at: Mapped[dt.datetime | None] = mapped_column(
        default=None, doc="When an instance loop claimed it to start it on its backend (a claim this old without a "
                          "run id is taken over: starting is idempotent).")
    access: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None,
                                                          doc="ssh_host, ssh_port, ssh_user, host key fingerprints, "
                                                              "jupyter_url (no token), ports.")
    delivery_deadline: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime]
    provisioning_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    checked_at: Mapped[dt.datetime | None] = mapped_column(default=None, doc="When its backend was last asked.")
