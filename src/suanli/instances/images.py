"""The images each data center offers (``core.images`` keys, with the reference its clusters pull), and which of
them a product can run. No HTTP here; callers commit.

A data center that has set no images offers every image of the platform's table with its public reference
(``Image.default_reference``); one that has set some offers exactly those. A product runs the offered images that
fit its chip's ecosystem (``core.images.compatible``); storage and batch products deliver no instances, so none.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from suanli.accounts.models import User
from suanli.catalog.service import managed_datacenter
from suanli.core.images import IMAGES, Image, compatible, delivers_instances, image_by_key
from suanli.errors import InvalidInput
from suanli.instances.models import DatacenterImage

_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,299}")
MAX_IMAGES_PER_DATACENTER = 50


@dataclass(frozen=True)
class OfferedImage:
    image: Image
    reference: str


def offered_images(session: Session, datacenter_id: uuid.UUID) -> list[OfferedImage]:
    rows = session.execute(select(DatacenterImage.image_key, DatacenterImage.reference)
                           .where(DatacenterImage.datacenter_id == datacenter_id)).all()
    if not rows:
        return [OfferedImage(image, image.default_reference) for image in IMAGES]
    by_key = dict(rows)
    return [OfferedImage(image, by_key[image.key]) for image in IMAGES if image.key in by_key]


def images_for(session: Session, datacenter_id: uuid.UUID, kind: str, delivery: str,
               ecosystem: str | None) -> list[OfferedImage]:
    """The images a product (of this data center, kind, delivery form and chip ecosystem) can be rented with."""
    if not delivers_instances(kind, delivery):
        return []
    return [o for o in offered_images(session, datacenter_id) if compatible(o.image, ecosystem)]


def choose_image(session: Session, datacenter_id: uuid.UUID, kind: str, delivery: str, ecosystem: str | None,
                 image_key: str | None) -> OfferedImage:
    """The image an order asked for, if the product can run it: 422 ``image_required`` (none given),
    ``unknown_image`` or ``image_not_offered``, each listing the images this product offers."""
    offered = images_for(session, datacenter_id, kind, delivery, ecosystem)
    valid = [o.image.key for o in offered]
    if image_key is None or not image_key.strip():
        raise InvalidInput("Choose the image (software environment) to start this machine with: "
                           + ", ".join(valid) + ".", code="image_required",
                           details={"field": "image", "valid_values": valid})
    image = image_by_key(image_key)
    if image is None:
        raise InvalidInput(f"There is no image {image_key[:64]!r}; this product offers " + ", ".join(valid) + ".",
                           code="unknown_image", details={"field": "image", "valid_values": valid})
    for option in offered:
        if option.image.key == image.key:
            return option
    raise InvalidInput(f"This product does not offer the image {image.key!r}"
                       + (f" (it is for {image.ecosystem} chips)" if image.ecosystem else "")
                       + "; it offers " + (", ".join(valid) or "none") + ".", code="image_not_offered",
                       details={"field": "image", "valid_values": valid})


def set_datacenter_images(session: Session, user: User, datacenter_id: uuid.UUID,
                          wanted: list[tuple[str, str | None]], now: dt.datetime) -> list[OfferedImage]:
    """Replace the images a data center offers with ``wanted`` ((key, reference or None for the public one)).
    An empty list goes back to offering every image with its public reference."""
    datacenter = managed_datacenter(session, datacenter_id, user)
    if len(wanted) > MAX_IMAGES_PER_DATACENTER:
        raise InvalidInput(f"At most {MAX_IMAGES_PER_DATACENTER} images.", code="too_many_images")
    rows: dict[str, str] = {}
    for key, reference in wanted:
        image = image_by_key(key)
        if image is None:
            raise InvalidInput(f"There is no image {key[:64]!r}; the platform's images are "
                               + ", ".join(i.key for i in IMAGES) + ".", code="unknown_image",
                               details={"field": "images", "valid_values": [i.key for i in IMAGES]})
        if image.key in rows:
            raise InvalidInput(f"The image {image.key!r} is listed twice.", code="duplicate_image",
                               details={"field": "images"})
        ref = (reference or "").strip() or image.default_reference
        if not _REFERENCE.fullmatch(ref):
            raise InvalidInput(f"{ref[:80]!r} is not an image reference (registry/name:tag or @sha256:digest, no "
                               "spaces).", code="invalid_image_reference", details={"field": "images"})
        rows[image.key] = ref
    session.execute(delete(DatacenterImage).where(DatacenterImage.datacenter_id == datacenter.id))
    for key, ref in rows.items():
        session.add(DatacenterImage(datacenter_id=datacenter.id, image_key=key, reference=ref, created_at=now))
    session.flush()
    return offered_images(session, datacenter.id)
