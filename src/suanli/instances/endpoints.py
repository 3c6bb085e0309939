"""Instances HTTP endpoints: SSH keys, images, instances, and delivery by hand."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query as Q, Response

from suanli.catalog.service import get_product, managed_datacenter
from suanli.core.images import IMAGES
from suanli.http import CurrentUser, DbSession, OptionalUser, SellerOrOperator, SellerUser, chosen_sort
from suanli.instances import images as image_service
from suanli.instances import keys as key_service
from suanli.instances import service
from suanli.instances.images import OfferedImage
from suanli.instances.models import InstanceState, SshKey
from suanli.instances.schemas import (DatacenterImagesIn, ImageOut, InstanceOut, InstancePage, ManualDeliveryIn,
                                      RefuseDeliveryIn, SshKeyIn, SshKeyOut)
from suanli.trading.endpoints import AppClock
from suanli.trading.service import get_order

router = APIRouter(prefix="/api/v1", tags=["instances"])


def _key_out(key: SshKey) -> SshKeyOut:
    return SshKeyOut(id=key.id, name=key.name, key_type=key.key_type, fingerprint=key.fingerprint,
                     public_key=key.public_key, created_at=key.created_at)


def _image_out(offered: OfferedImage) -> ImageOut:
    image = offered.image
    return ImageOut(key=image.key, name=image.name, ecosystem=image.ecosystem, description=image.description_en,
                    description_zh=image.description_zh, packages=list(image.packages), reference=offered.reference)


# ---------------------------------------------------------------- SSH keys

@router.get("/ssh-keys", response_model=list[SshKeyOut])
def list_ssh_keys(user: CurrentUser, session: DbSession) -> list[SshKeyOut]:
    """Your SSH public keys: installed on the machines your leases deliver."""
    return [_key_out(k) for k in key_service.list_keys(session, user)]


@router.post("/ssh-keys", status_code=201, response_model=SshKeyOut,
             responses={409: {"description": "ssh_key_exists, too_many_ssh_keys"},
                        422: {"description": "invalid_ssh_key (what is wrong with it), invalid_ssh_key_name"}})
def add_ssh_key(body: SshKeyIn, user: CurrentUser, session: DbSession, clock: AppClock) -> SshKeyOut:
    """Add an OpenSSH public key (ed25519, ECDSA, RSA of 2048 bits or more). Its fingerprint is what
    `ssh-keygen -lf` prints."""
    return _key_out(key_service.add_key(session, user, body.public_key, body.name, clock.now()))


@router.delete("/ssh-keys/{key_id}", status_code=204, response_class=Response)
def delete_ssh_key(key_id: uuid.UUID, user: CurrentUser, session: DbSession) -> Response:
    """Delete one of your keys. Machines already delivered keep the keys they were given."""
    key_service.delete_key(session, user, key_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- images

@router.get("/images", response_model=list[ImageOut])
def list_images() -> list[ImageOut]:
    """The platform's images: one per chip ecosystem and a CPU one, with their public references."""
    return [_image_out(OfferedImage(image, image.default_reference)) for image in IMAGES]


@router.get("/products/{product_id}/images", response_model=list[ImageOut])
def product_images(product_id: uuid.UUID, session: DbSession, user: OptionalUser) -> list[ImageOut]:
    """The images a product can be rented with (empty for storage and batch products, which deliver no machine)."""
    product = get_product(session, product_id, user)
    return [_image_out(o) for o in image_service.images_for(session, product.datacenter_id, product.kind.value,
                                                            product.delivery.value, product.ecosystem)]


@router.get("/datacenters/{datacenter_id}/images", response_model=list[ImageOut])
def datacenter_images(datacenter_id: uuid.UUID, user: SellerOrOperator, session: DbSession) -> list[ImageOut]:
    managed_datacenter(session, datacenter_id, user)
    return [_image_out(o) for o in image_service.offered_images(session, datacenter_id)]


@router.put("/datacenters/{datacenter_id}/images", response_model=list[ImageOut],
            responses={422: {"description": "unknown_image, duplicate_image, invalid_image_reference"}})
def set_datacenter_images(datacenter_id: uuid.UUID, body: DatacenterImagesIn, user: SellerOrOperator,
                          session: DbSession, clock: AppClock) -> list[ImageOut]:
    """Seller: the images your data center offers, each with the reference your clusters pull (your registry).
    An empty list offers every platform image with its public reference."""
    offered = image_service.set_datacenter_images(session, user, datacenter_id,
                                                  [(i.key, i.reference) for i in body.images], clock.now())
    return [_image_out(o) for o in offered]


# ---------------------------------------------------------------- instances

@router.get("/instances", response_model=InstancePage)
def list_instances(user: CurrentUser, session: DbSession, state: InstanceState | None = None,
                   order_id: uuid.UUID | None = None, live: bool = False,
                   q: Annotated[str | None, Q(max_length=200, description="Words each of which is in the product's "
                                                                          "name, the image's name or the buyer's or "
                                                                          "seller's organization name, or is the "
                                                                          "machine's or its order's id")] = None,
                   sort: Annotated[str | None, Q(max_length=40,
                                                 json_schema_extra={"enum": list(service.INSTANCE_SORTS)},
                                                 description="-created (newest first, the default) or "
                                                             "created")] = None,
                   limit: Annotated[int, Q(ge=1, le=200)] = 50,
                   offset: Annotated[int, Q(ge=0, le=1_000_000)] = 0) -> InstancePage:
    """Buyers: the machines their leases delivered, with how to reach them. Sellers: the instances in their data
    centers (without access details). Operators: all (without access details). Newest first, or by ``sort``;
    searched by ``q``."""
    order = chosen_sort(sort, service.INSTANCE_SORTS, "-created")
    rows, total = service.list_instances(session, user, state=state, order_id=order_id, live=live, text=q,
                                         sort=order, limit=limit, offset=offset)
    return InstancePage(items=[InstanceOut(**service.instance_out(i, user)) for i in rows], total=total,
                        limit=limit, offset=offset)


@router.get("/orders/{order_id}/instances", response_model=list[InstanceOut])
def order_instances(order_id: uuid.UUID, user: CurrentUser, session: DbSession) -> list[InstanceOut]:
    """The instances an order delivers, one per unit (empty for orders of units only)."""
    order = get_order(session, user, order_id)
    return [InstanceOut(**service.instance_out(i, user)) for i in service.instances_of_order(session, order.id)]


@router.get("/instances/{instance_id}", response_model=InstanceOut)
def get_instance(instance_id: uuid.UUID, user: CurrentUser, session: DbSession) -> InstanceOut:
    return InstanceOut(**service.instance_out(service.get_instance(session, user, instance_id), user))


@router.post("/instances/{instance_id}/deliver", response_model=InstanceOut,
             responses={409: {"description": "not_manual_delivery, instance_not_waiting"},
                        422: {"description": "invalid_access_details"}})
def deliver_instance(instance_id: uuid.UUID, body: ManualDeliveryIn, user: SellerUser, session: DbSession,
                     clock: AppClock) -> InstanceOut:
    """Seller: deliver an instance by hand. Install the buyer's public keys (listed on the instance) for
    `ssh_user`, then give where to log in. The instance runs from now; when every instance of the lease runs, its
    billing starts."""
    return InstanceOut(**service.instance_out(service.deliver_by_hand(session, clock, user, instance_id, body), user))


@router.post("/instances/{instance_id}/refuse", response_model=InstanceOut,
             responses={409: {"description": "not_manual_delivery, instance_not_waiting"}})
def refuse_instance(instance_id: uuid.UUID, body: RefuseDeliveryIn, user: SellerUser, session: DbSession,
                    clock: AppClock) -> InstanceOut:
    """Seller: you cannot deliver this instance. The lease is cancelled and refunded in full; the buyer is told
    your reason."""
    return InstanceOut(**service.instance_out(service.refuse_delivery(session, clock, user, instance_id,
                                                                      body.reason), user))
