"""This platform's Ed25519 private keys: one PEM file per key in ``$SUANLI_HOME/federation/`` (directory 0700,
files 0600, written whole or not at all). The database holds only public keys. Back the directory up apart from
the database; a lost key is replaced by rotating (peers must then learn the new key out of band)."""

from __future__ import annotations

import base64
import os
import stat
import threading
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from suanli.config import SettingsError
from suanli.core.federation import key_id

KEY_DIR = "federation"
_cache: dict[Path, Ed25519PrivateKey] = {}
_lock = threading.Lock()


def key_path(home: Path, kid: str) -> Path:
    return home / KEY_DIR / f"{kid}.pem"


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_text(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(public_key)).decode()


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from its base64 text; ``ValueError`` if it is not 32 bytes of base64."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ValueError("a public key is 32 bytes in base64") from None
    if len(raw) != 32:
        raise ValueError("a public key is 32 bytes in base64")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate(home: Path) -> tuple[str, Ed25519PublicKey]:
    """A new key pair: the private key written to its file (0600), its id and public key returned."""
    private = Ed25519PrivateKey.generate()
    kid = key_id(raw_public(private.public_key()))
    path = key_path(home, kid)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return kid, private.public_key()


def load_private(home: Path, kid: str) -> Ed25519PrivateKey:
    """The private key of ``kid``; ``SettingsError`` when its file is missing or readable by other users."""
    path = key_path(home, kid)
    with _lock:
        if path in _cache:
            return _cache[path]
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SettingsError(f"the federation key file {path} is missing; restore it from a backup, or run "
                            "`suanli federation rotate` to make a new key (peers must then be given it).") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(f"{path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                            f"run `chmod 600 {path}`.")
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise SettingsError(f"{path} does not hold an Ed25519 key")
    with _lock:
        _cache[path] = private
    return private
