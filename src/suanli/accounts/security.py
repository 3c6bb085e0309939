"""Password hashing (argon2id) and bearer secrets."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
TOKEN_PREFIX = "sl_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy_hashes: dict[int, str] = {}


def verify_against_nothing(password: str) -> bool:
    """Spend the time a real check takes (an unknown email must answer as slowly as a known one), then say no.

    The dummy hash is made once per hasher, with its parameters, so the work is the same as for a stored hash."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash(new_secret())
    verify_password(_dummy_hashes[key], password)
    return False


def new_secret() -> str:
    """A fresh bearer secret: ``sl_`` and 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
