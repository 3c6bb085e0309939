"""The audit trail's chain: hashing and verification, pure (no I/O).

Each entry stores its sequence number (1, 2, 3, … without gaps), the previous entry's hash (``GENESIS_HASH`` for
the first) and its own hash: SHA-256 over a canonical JSON of its fields and the previous hash. Editing any field
changes the entry's hash; removing or inserting an entry leaves a gap in the sequence or a link that does not
match; removing the newest entries is caught against the chain head (the last sequence number and hash, stored
apart from the entries and moved in the same transaction as each append).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

GENESIS_HASH = "0" * 64
"""The "previous hash" of entry 1."""

SECRET_WORDS = ("password", "secret", "api_key", "credential", "private_key")
"""Detail keys containing these, or naming a token (``token``, ``…_token``), would put a secret in the trail:
refused (an audit trail is read by operators). Counts such as ``revoked_tokens`` are fine."""


class SecretInDetails(ValueError):
    """A detail key names a secret; the caller must leave it out."""


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8 text as it is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_details(details: dict[str, Any]) -> None:
    """Refuse detail keys (at any depth) that name a secret."""
    for key, value in details.items():
        name = key.lower()
        if any(word in name for word in SECRET_WORDS) or name == "token" or name.endswith("_token"):
            raise SecretInDetails(f"audit details may not carry {key!r}")
        _check_nested(value)


def _check_nested(value: Any) -> None:
    if isinstance(value, dict):
        check_details(value)
    elif isinstance(value, list):
        for item in value:
            _check_nested(item)


def timestamp(at: dt.datetime) -> str:
    """``at`` as hashed: UTC, microseconds (what both databases keep)."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: dt.datetime
    actor_user_id: str | None
    actor_org_id: str | None
    address: str | None
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str = ""

    def hashed_fields(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": timestamp(self.at), "actor_user_id": self.actor_user_id,
                "actor_org_id": self.actor_org_id, "address": self.address, "action": self.action,
                "target": self.target, "details": self.details, "prev_hash": self.prev_hash}


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 (hex) of the canonical JSON of the entry's fields, the previous hash among them."""
    return hashlib.sha256(canonical_json(entry.hashed_fields()).encode("utf-8")).hexdigest()


def sealed(entry: AuditEntry) -> AuditEntry:
    """``entry`` with its hash."""
    return replace(entry, hash=entry_hash(entry))


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


@dataclass(frozen=True)
class Verification:
    checked: int
    """Entries read."""
    first_broken_seq: int | None
    """The first sequence number where the chain is broken; None when it is intact."""
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


def verify_chain(entries: Iterable[AuditEntry], head: ChainHead | None) -> Verification:
    """Walk ``entries`` in sequence order: each must be the next number, link to the previous hash and carry its
    own hash; the last must be the head (``None`` head: no entry was ever written)."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for entry in entries:
        checked += 1
        if entry.seq != expected_seq:
            return Verification(checked, min(entry.seq, expected_seq),
                                f"sequence number {expected_seq} expected, found {entry.seq} (an entry removed or "
                                "inserted)")
        if entry.prev_hash != prev_hash:
            return Verification(checked, entry.seq, "its previous hash does not match the entry before it")
        if entry_hash(entry) != entry.hash:
            return Verification(checked, entry.seq, "its hash does not match its fields (the entry was edited)")
        expected_seq, prev_hash = expected_seq + 1, entry.hash
    last_seq = expected_seq - 1
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    if head_seq != last_seq:
        return Verification(checked, min(head_seq, last_seq) + 1,
                            f"the chain head is at {head_seq} but the entries end at {last_seq} (entries removed "
                            "or the head edited)")
    if head_hash != prev_hash:
        return Verification(checked, last_seq, "the chain head's hash does not match the last entry")
    return Verification(checked, None, None)
