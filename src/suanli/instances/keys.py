"""The SSH public keys of a user: added, listed, deleted; installed on the instances the user's leases deliver.
No HTTP here; callers commit."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.accounts.models import User
from suanli.backends.instances import InvalidInstanceSpec, parse_public_key
from suanli.errors import Conflict, InvalidInput, NotFound
from suanli.instances.models import SshKey

MAX_KEYS_PER_USER = 20


def add_key(session: Session, user: User, public_key: str, name: str | None, now: dt.datetime) -> SshKey:
    """Check and store a public key (422 ``invalid_ssh_key`` saying what is wrong; 409 ``ssh_key_exists`` when the
    user holds it already; 409 ``too_many_ssh_keys`` past the limit)."""
    try:
        key = parse_public_key(public_key)
    except InvalidInstanceSpec as exc:
        raise InvalidInput(f"This is not an SSH public key we can install: {exc.message}.", code="invalid_ssh_key",
                           details={"field": "public_key"}) from None
    existing = session.scalar(select(SshKey).where(SshKey.user_id == user.id, SshKey.fingerprint == key.fingerprint))
    if existing is not None:
        raise Conflict(f"You added this key already, as {existing.name!r} ({key.fingerprint}).", code="ssh_key_exists",
                       details={"ssh_key_id": str(existing.id), "fingerprint": key.fingerprint})
    count = session.scalar(select(func.count()).select_from(SshKey).where(SshKey.user_id == user.id)) or 0
    if count >= MAX_KEYS_PER_USER:
        raise Conflict(f"You have {count} SSH keys, the most an account holds; delete one you no longer use.",
                       code="too_many_ssh_keys", details={"limit": MAX_KEYS_PER_USER})
    label = (name or "").strip() or key.comment or key.type
    if len(label) > 100 or any(ord(c) < 32 for c in label):
        raise InvalidInput("The key's name must be at most 100 printable characters.", code="invalid_ssh_key_name",
                           details={"field": "name"})
    row = SshKey(user_id=user.id, name=label, key_type=key.type, public_key=key.line, fingerprint=key.fingerprint,
                 created_at=now)
    session.add(row)
    session.flush()
    return row


def list_keys(session: Session, user: User) -> list[SshKey]:
    return list(session.scalars(select(SshKey).where(SshKey.user_id == user.id)
                                .order_by(SshKey.created_at, SshKey.id)))


def delete_key(session: Session, user: User, key_id: uuid.UUID) -> None:
    """Delete one of the user's keys (404 for anyone else's). Instances already delivered keep the keys they were
    given; new ones no longer get it."""
    key = session.get(SshKey, key_id)
    if key is None or key.user_id != user.id:
        raise NotFound(f"You have no SSH key {key_id}.", code="ssh_key_not_found")
    session.delete(key)
    session.flush()


def keys_for_order(session: Session, user: User, key_ids: list[uuid.UUID] | None) -> list[str]:
    """The ``authorized_keys`` lines an order's instances get: the chosen keys of ``user`` (all of them when
    ``key_ids`` is None). 422 ``ssh_key_required`` when there are none, ``ssh_key_not_found`` for a key that is not
    the user's."""
    keys = list_keys(session, user)
    if key_ids is not None:
        wanted = list(dict.fromkeys(key_ids))
        mine = {k.id: k for k in keys}
        missing = [str(k) for k in wanted if k not in mine]
        if missing:
            raise InvalidInput("You have no SSH key " + ", ".join(missing) + "; list yours with GET "
                               "/api/v1/ssh-keys.", code="ssh_key_not_found",
                               details={"field": "ssh_key_ids", "ssh_key_ids": missing})
        keys = [mine[k] for k in wanted]
    if not keys:
        raise InvalidInput("This product is delivered as a machine you log into with SSH: add a public key to your "
                           "account first (POST /api/v1/ssh-keys, `suanli keys add ~/.ssh/id_ed25519.pub`, or "
                           "the console's SSH keys page).", code="ssh_key_required",
                           details={"field": "ssh_key_ids"})
    return [k.public_key for k in keys]
