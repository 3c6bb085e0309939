"""Globally unique, time-ordered identifiers (UUIDv7).

Products and data centers travel between federated platforms later, so their ids must never collide
across platforms; UUIDv7 also sorts by creation time, which keeps B-tree inserts local and gives
cursor pagination a stable tie-breaker.
"""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
