"""Federation's rules with no I/O: scopes, peer states, key ids, the compute identifier, signature time windows,
price bands and the offers a platform publishes from its shared products.

The compute identifier (统一算力标识) names one shared resource across every federated platform::

    cid:<platform-id>/<datacenter-id>/<product-id>          (per-data-center disclosure)
    cid:<platform-id>/region-<region-id>/<chip>-<n>x-<delivery>   (per-region aggregation)

The ids are the publishing platform's UUIDv7s (lower-case, hyphenated); ``<chip>`` is the chip key (or the product
kind for products without accelerators), ``<n>`` the accelerators per unit. It is stable across syncs: it is made
from ids and the offer's shape only, never from prices, stock or names.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class Scope(enum.StrEnum):
    """What a peer may do at this platform."""

    CATALOG = "catalog"  # pull the shared catalog
    ORDERS = "orders"    # order shared products as buyer of record (later)
    JOBS = "jobs"        # spill jobs here (later)
    BURST = "burst"      # emergency jobs that may preempt spot work (later)


class PeerStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # refused until resumed
    REVOKED = "revoked"      # refused for good


class PriceDisclosure(enum.StrEnum):
    EXACT = "exact"
    BAND = "band"


class Aggregation(enum.StrEnum):
    DATACENTER = "datacenter"
    REGION = "region"


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes in their canonical order; ``ValueError`` naming the valid ones for anything else."""
    wanted = set()
    for value in values:
        for part in str(value).split(","):
            part = part.strip().lower()
            if not part:
                continue
            try:
                wanted.add(Scope(part))
            except ValueError:
                raise ValueError(f"unknown scope {part!r}; valid scopes: {', '.join(s.value for s in Scope)}") from None
    return [s for s in Scope if s in wanted]


# ---------------------------------------------------------------- keys

KEY_ID_LENGTH = 32


def key_id(raw_public_key: bytes) -> str:
    """A public key's id: the first 128 bits of its SHA-256, in hex (what ``keyid`` carries in a signature)."""
    if len(raw_public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(raw_public_key).hexdigest()[:KEY_ID_LENGTH]


def endorsement_message(platform_id: uuid.UUID, new_key_id: str, new_public_key: str) -> bytes:
    """What a platform's previous key signs when it rotates: "this new key is mine". A peer that trusts the previous
    key learns the new one from the platform's identity document, without a new exchange out of band."""
    return f"suanli-federation-key:{platform_id}:{new_key_id}:{new_public_key}".encode()


# ---------------------------------------------------------------- signatures: what must be covered, and when

REQUIRED_REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest")
REQUIRED_RESPONSE_COMPONENTS = ("@status", "content-digest", '"@method";req', '"@target-uri";req',
                                '"signature";req;key="fed"')
SIGNATURE_MAX_AGE_SECONDS = 300
"""A signature older than this is stale; the nonce store keeps nonces at least this long."""
SIGNATURE_MAX_SKEW_SECONDS = 30
"""How far in the future ``created`` may be (clocks differ a little between platforms)."""


def signature_time_problem(created: int, now: float, *, max_age: int = SIGNATURE_MAX_AGE_SECONDS,
                           max_skew: int = SIGNATURE_MAX_SKEW_SECONDS) -> str | None:
    """``signature_expired``, ``signature_from_future`` or None for a signature ``created`` at that Unix time."""
    if created > now + max_skew:
        return "signature_from_future"
    if created < now - max_age:
        return "signature_expired"
    return None


# ---------------------------------------------------------------- the compute identifier

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GROUP = r"[a-z0-9_.]{1,40}-\d{1,4}x-[a-z_]{1,16}"
CID_PATTERN = re.compile(rf"^cid:(?P<platform_id>{_UUID})/(?:(?P<datacenter_id>{_UUID})/(?P<product_id>{_UUID})"
                         rf"|region-(?P<region_id>{_UUID})/(?P<group>{_GROUP}))$")


@dataclass(frozen=True)
class ComputeId:
    platform_id: uuid.UUID
    datacenter_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    region_id: uuid.UUID | None = None
    group: str | None = None

    def __str__(self) -> str:
        if self.region_id is not None:
            return f"cid:{self.platform_id}/region-{self.region_id}/{self.group}"
        return f"cid:{self.platform_id}/{self.datacenter_id}/{self.product_id}"

    @classmethod
    def parse(cls, text: str) -> ComputeId:
        match = CID_PATTERN.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a compute identifier; the format is "
                             "cid:<platform-id>/<datacenter-id>/<product-id> or "
                             "cid:<platform-id>/region-<region-id>/<chip>-<n>x-<delivery>")
        parts = match.groupdict()
        ids = {k: uuid.UUID(v) for k, v in parts.items() if v and k != "group"}
        return cls(group=parts["group"], **ids)


def offer_group(chip_key: str | None, kind: str, accelerators: int, delivery: str) -> str:
    """The shape of an aggregated offer: ``a800-8x-bare_metal``."""
    base = re.sub(r"[^a-z0-9_.]", "_", (chip_key or kind).lower())[:40]
    return f"{base}-{accelerators}x-{delivery}"


# ---------------------------------------------------------------- prices

_BAND_STEPS = ((1, 2), (2, 5), (5, 10))


def price_band(fen: int) -> tuple[int, int]:
    """The 1-2-5 band a price lies in, ``[low, high)`` in fen: ¥63.50 → (¥50, ¥100). Shown instead of the
    exact price when the publisher discloses bands."""
    if fen <= 0:
        raise ValueError("a price is more than 0 fen")
    magnitude = 1
    while True:
        for low, high in _BAND_STEPS:
            if low * magnitude <= fen < high * magnitude:
                return low * magnitude, high * magnitude
        magnitude *= 10


# ---------------------------------------------------------------- offers from shared products

@dataclass(frozen=True)
class SharedProduct:
    """What the publisher knows about one shared product (read from the database by the service)."""

    product_id: uuid.UUID
    datacenter_id: uuid.UUID
    datacenter_name: str
    region_id: uuid.UUID
    province: str
    city: str
    name: str
    kind: str
    chip_key: str | None
    accelerators: int
    vcpus: int
    memory_gib: int
    delivery: str
    free_units: int
    price_on_demand_fen: int
    listed: bool


def _price_fields(low_fen: int, high_fen: int, disclosure: PriceDisclosure) -> dict[str, Any]:
    if disclosure is PriceDisclosure.EXACT:
        return {"price_exact_fen": low_fen if low_fen == high_fen else None, "price_low_fen": low_fen,
                "price_high_fen": high_fen}
    return {"price_exact_fen": None, "price_low_fen": price_band(low_fen)[0], "price_high_fen": price_band(high_fen)[1]}


def build_offers(platform_id: uuid.UUID, products: Iterable[SharedProduct], disclosure: PriceDisclosure,
                 aggregation: Aggregation) -> dict[str, dict[str, Any]]:
    """The offers to publish, by compute identifier. Only listed products with free units are offered; what is
    never published: seller organizations, clusters, buyers, orders, exact prices under band disclosure and data
    center names under region aggregation."""
    offers: dict[str, dict[str, Any]] = {}
    if aggregation is Aggregation.DATACENTER:
        for p in products:
            if not p.listed or p.free_units <= 0:
                continue
            cid = str(ComputeId(platform_id, p.datacenter_id, p.product_id))
            offers[cid] = {"cid": cid, "name": p.name, "datacenter": p.datacenter_name, "province": p.province,
                           "city": p.city, "kind": p.kind, "chip": p.chip_key, "accelerators": p.accelerators,
                           "vcpus": p.vcpus, "memory_gib": p.memory_gib, "delivery": p.delivery,
                           "available_units": p.free_units,
                           **_price_fields(p.price_on_demand_fen, p.price_on_demand_fen, disclosure)}
        return offers
    groups: dict[str, list[SharedProduct]] = {}
    for p in products:
        if p.listed and p.free_units > 0:
            key = str(ComputeId(platform_id, region_id=p.region_id,
                                group=offer_group(p.chip_key, p.kind, p.accelerators, p.delivery)))
            groups.setdefault(key, []).append(p)
    for cid, members in groups.items():
        first = members[0]
        prices = [m.price_on_demand_fen for m in members]
        offers[cid] = {"cid": cid, "name": f"{(first.chip_key or first.kind).upper()} ×{first.accelerators}",
                       "datacenter": None, "province": first.province, "city": first.city, "kind": first.kind,
                       "chip": first.chip_key, "accelerators": first.accelerators,
                       "vcpus": min(m.vcpus for m in members), "memory_gib": min(m.memory_gib for m in members),
                       "delivery": first.delivery, "available_units": sum(m.free_units for m in members),
                       **_price_fields(min(prices), max(prices), disclosure)}
    return offers


def content_hash(offer: dict[str, Any]) -> str:
    """A stable hash of an offer's content: the publisher bumps an offer in its change feed only when it changes."""
    return hashlib.sha256(json.dumps(offer, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
