"""Instances on the wire: SSH keys, images, instances, and what a seller enters to deliver one by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from suanli.instances.models import DeliveryMethod, InstanceState


class SshKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(max_length=20_000, description="One OpenSSH public key line, e.g. the contents of "
                                                           "~/.ssh/id_ed25519.pub. Never the private key.")
    name: str | None = Field(default=None, max_length=100, description="A label (default: the key's comment).")


class SshKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    key_type: str
    fingerprint: str = Field(description="SHA256:..., as `ssh-keygen -lf` prints it.")
    public_key: str
    created_at: dt.datetime


class ImageOut(BaseModel):
    key: str
    name: str
    ecosystem: str | None = Field(description="The chips it runs on (None: any product, CPU only).")
    description: str
    description_zh: str
    packages: list[str]
    reference: str = Field(description="What the data center pulls for it (its own registry, or the public image).")


class DatacenterImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=64)
    reference: str | None = Field(default=None, max_length=300,
                                  description="The image in your registry (default: the public reference).")


class DatacenterImagesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: list[DatacenterImageIn] = Field(max_length=50, description="Empty: offer every image of the "
                                                                       "platform with its public reference.")


class PortTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class ManualDeliveryIn(BaseModel):
    """What a seller delivering an instance by hand gives the buyer: where to log in (with the buyer's public keys,
    which the instance lists, installed for ``ssh_user``), and optionally JupyterLab and exposed ports."""

    model_config = ConfigDict(extra="forbid")
    ssh_host: str = Field(min_length=1, max_length=253)
    ssh_port: int = Field(default=22, ge=1, le=65535)
    ssh_user: str = Field(min_length=1, max_length=32)
    host_key_fingerprints: list[str] = Field(default_factory=list, max_length=4,
                                             description="SHA256:... of the host's keys, so the buyer can check "
                                                         "them on first login.")
    password: str | None = Field(default=None, min_length=8, max_length=200,
                                 description="Only if the machine also takes a password; shown to the buyer only, "
                                             "stored encrypted.")
    jupyter_url: str | None = Field(default=None, max_length=500)
    jupyter_token: str | None = Field(default=None, min_length=8, max_length=200)
    ports: dict[int, PortTarget] = Field(default_factory=dict, max_length=8,
                                         description="Each exposed port inside the instance → where it is reached.")
    note: str | None = Field(default=None, max_length=500)


class RefuseDeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200, description="Why it cannot be delivered; the buyer is told.")


class AccessOut(BaseModel):
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_command: str = Field(description="What to type: ssh -p PORT USER@HOST (or `suanli ssh ORDER_ID`).")
    ssh_host_key_fingerprints: list[str]
    jupyter_url: str | None = Field(default=None, description="JupyterLab's address, without the token.")
    jupyter_link: str | None = Field(default=None, description="JupyterLab with its token: open it in a browser. "
                                                               "A secret: do not share it.")
    password: str | None = None
    ports: dict[str, list[Any]] = Field(description="Exposed port inside → [host, port] to reach it.")
    note: str = ""


class InstanceOut(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    unit_index: int
    product_id: uuid.UUID
    datacenter_id: uuid.UUID
    delivery: DeliveryMethod = Field(description="automated (the data center's cluster starts it) or manual (the "
                                                 "seller delivers it by hand).")
    image: str
    ports: list[int]
    state: InstanceState
    state_detail: str
    state_detail_message: Any = None
    authorized_keys: list[str] = Field(description="The public keys installed (the buyer's; the seller sees them "
                                                   "while it delivers by hand).")
    access: AccessOut | None = Field(description="How to reach it: the buyer's only, once it runs.")
    delivery_deadline: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    ended_at: dt.datetime | None


class InstancePage(BaseModel):
    items: list[InstanceOut]
    total: int
    limit: int
    offset: int
