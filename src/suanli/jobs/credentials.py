"""Cluster credentials at rest: encrypted in the database with Fernet (AES-128-CBC + HMAC-SHA256).

The column stays JSON; it holds ``{"fernet": TOKEN}``, the token of the credentials' JSON (no table rebuild on
SQLite, the same column type on both databases).

The key
    * ``SUANLI_SECRET_KEY``: one Fernet key (``suanli.jobs.credentials.new_key()`` or
      ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``), or several
      separated by commas for a rotation: the first encrypts, every one decrypts;
    * otherwise the key file ``$SUANLI_HOME/secret.key``, created on first use with mode 0600 (a key file that
      other users can read is refused). Every process of one platform must use the same key.

Rotation and its limits: put the new key first and the old one after it in ``SUANLI_SECRET_KEY``; a cluster's
credentials are encrypted with the new key the next time they are written (``reencrypt_all`` rewrites every row
at once). Only drop the old key after that. A lost key cannot be recovered: the clusters must be registered
again with their credentials. Back the key up apart from the database (a database backup alone must not
reveal the credentials).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON
from sqlalchemy.types import TypeDecorator

from suanli.config import SettingsError, load_settings

__all__ = ["EncryptedJSON", "UnreadableCredentials", "cipher", "new_key", "reencrypt_all", "reset_cipher", "seal",
           "unseal"]

log = logging.getLogger("suanli.credentials")

KEY_FILE = "secret.key"
_lock = threading.Lock()
_cipher: MultiFernet | None = None
_cipher_source: tuple[str, str] | None = None


class UnreadableCredentials(dict):
    """Credentials stored with a key this process does not have (empty: nothing can be used)."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str, where: str) -> Fernet:
    try:
        return Fernet(key.strip().encode())
    except (ValueError, TypeError):
        raise SettingsError(f"{where} is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
                            "`python -c \"from cryptography.fernet import Fernet; "
                            "print(Fernet.generate_key().decode())\"`.") from None


def _write_new_key(path: Path) -> None:
    """Make the key file whole or not at all: the key is written and synced to a temporary file next to it, which
    is then linked into place (``link`` fails if another process made the file first: its key is kept). A full
    disk leaves nothing behind — not an empty key file the next start would refuse."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
        log.info("created the credentials key %s (mode 0600); back it up apart from the database", path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SettingsError(f"No space left to write the key file {path} ({exc.strerror}); nothing was "
                                f"written. Free space in {path.parent} (SUANLI_HOME) and start again.") from None
        raise
    finally:
        temporary.unlink(missing_ok=True)


def _key_file(home: Path) -> str:
    path = home / KEY_FILE
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        _write_new_key(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(f"{path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                            f"run `chmod 600 {path}`.")
    for _ in range(50):  # another process may be writing it right now
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise SettingsError(f"{path} is empty; remove it (a new key is made) only if no credentials were stored with it.")


def cipher() -> MultiFernet:
    """The process's cipher: ``SUANLI_SECRET_KEY`` or the key file (see the module docstring). Cached for the
    key's source, so a process whose ``SUANLI_HOME`` or ``SUANLI_SECRET_KEY`` changes never uses a stale key."""
    global _cipher, _cipher_source
    raw = os.environ.get("SUANLI_SECRET_KEY", "").strip()
    home = None if raw else load_settings().home
    source = ("env", raw) if raw else ("file", str(home))
    with _lock:
        if _cipher is None or _cipher_source != source:
            if raw:
                keys = [_fernet(k, f"SUANLI_SECRET_KEY (key {n})") for n, k in enumerate(raw.split(","), 1)
                        if k.strip()]
            else:
                keys = [_fernet(_key_file(home), str(home / KEY_FILE))]
            _cipher, _cipher_source = MultiFernet(keys), source
        return _cipher


def reset_cipher() -> None:
    """Forget the cached cipher (after ``SUANLI_SECRET_KEY`` or ``SUANLI_HOME`` changed)."""
    global _cipher
    with _lock:
        _cipher = None


def encrypt(value: dict[str, Any]) -> str:
    return cipher().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    try:
        return json.loads(cipher().decrypt(token.encode()))
    except InvalidToken:
        log.error("cluster credentials cannot be decrypted with this process's key (SUANLI_SECRET_KEY or "
                  "$SUANLI_HOME/secret.key)")
        return UnreadableCredentials()


TOKEN_FIELD = "fernet"


def seal(value: dict[str, Any]) -> dict[str, str]:
    """What the column stores for ``value``."""
    return {TOKEN_FIELD: encrypt(value)}


def unseal(stored: Any) -> dict[str, Any]:
    """The credentials from what the column holds (a row written before encryption is read as it is)."""
    if isinstance(stored, str):
        stored = json.loads(stored) if stored else {}
    if isinstance(stored, dict) and set(stored) == {TOKEN_FIELD} and isinstance(stored[TOKEN_FIELD], str):
        return decrypt(stored[TOKEN_FIELD])
    return dict(stored or {})


class EncryptedJSON(TypeDecorator):
    """A JSON object stored encrypted as ``{"fernet": TOKEN}`` in a JSON column. ``None`` stays NULL."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Any) -> dict[str, str] | None:
        return None if value is None else seal(dict(value))

    def process_result_value(self, value: Any, dialect: Any) -> dict[str, Any] | None:
        return None if value is None else unseal(value)


def reencrypt_all(session: Any) -> int:
    """Rewrite every cluster's credentials with the first key (after a rotation). Returns how many rows."""
    from sqlalchemy import select, update

    from suanli.jobs.models import Cluster

    n = 0
    for cluster_id, credentials in session.execute(select(Cluster.id, Cluster.credentials)).all():
        if isinstance(credentials, UnreadableCredentials):
            raise SettingsError(f"cluster {cluster_id}: its credentials cannot be decrypted with any key in "
                                "SUANLI_SECRET_KEY; add the key they were stored with.")
        session.execute(update(Cluster).where(Cluster.id == cluster_id).values(credentials=credentials)
                        .execution_options(synchronize_session=False))
        n += 1
    return n
