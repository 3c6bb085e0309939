"""Instances: what a lease of a ``container``, ``vm`` or ``bare_metal`` product delivers — a machine the buyer logs
into (SSH), works in (JupyterLab) and serves from (the ports it asked to expose).

A backend that can start instances implements :class:`InstanceBackend` next to :class:`~suanli.backends.Backend`
and declares the ``instances`` feature; one that cannot declares it unsupported, with the reason, and its data
center delivers by hand (the seller enters the access details in the console).

The platform (``suanli.instances``) owns an instance's record, its billing and its secrets; the backend owns the
running thing. Like jobs, a backend keeps nothing in memory that ``instance_status`` depends on: the run's
directory (``local``) or the cluster (``slurm``) is the record, so a restarted suanli finds its instances again,
and ``instance_runs`` lists every run the backend holds so the platform can stop the ones it no longer knows.

States (:class:`InstanceRunState`): ``starting`` (wait), ``running`` (access is known), ``stopped`` (ended on
request), ``failed`` (ended by itself or could not start; ``detail`` says why) and ``lost`` (the backend no longer
has it and cannot say how it ended).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from suanli.backends.base import InvalidJobSpec, visible_devices_var
from suanli.core.messages import Text

__all__ = [
    "RESERVED_INSTANCE_PORTS",
    "SSH_KEY_TYPES",
    "InstanceAccess",
    "InstanceBackend",
    "InstanceRunState",
    "InstanceRunStatus",
    "InstanceSpec",
    "InvalidInstanceSpec",
    "MAX_EXPOSED_PORTS",
    "PublicKey",
    "check_ports",
    "parse_public_key",
]

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMAGE_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

SSH_PORT = 22
JUPYTER_PORT = 8888
RESERVED_INSTANCE_PORTS = frozenset({SSH_PORT, JUPYTER_PORT})
"""Ports inside an instance that SSH and JupyterLab use; a buyer's exposed ports must be others."""
MAX_EXPOSED_PORTS = 8


class InvalidInstanceSpec(InvalidJobSpec):
    """The instance description itself is wrong (an unknown image, a bad key, a reserved port)."""


# ------------------------------------------------------------------------------------------------- SSH keys

SSH_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
"""The OpenSSH public key types accepted (DSA is refused: OpenSSH dropped it)."""
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class PublicKey:
    """One OpenSSH public key: ``type``, the base64 ``blob``, its ``comment``; ``fingerprint`` is OpenSSH's
    ``SHA256:...`` (what ``ssh-keygen -lf`` prints)."""

    type: str
    blob: str
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def line(self) -> str:
        """The ``authorized_keys`` line (without options)."""
        return f"{self.type} {self.blob}" + (f" {self.comment}" if self.comment else "")


def _read_string(data: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(data):
        raise ValueError("truncated")
    length = int.from_bytes(data[offset:offset + 4], "big")
    end = offset + 4 + length
    if end > len(data):
        raise ValueError("truncated")
    return data[offset + 4:end], end


def parse_public_key(text: str) -> PublicKey:
    """Parse one OpenSSH public key line (``ssh-ed25519 AAAA... comment``), checking that the blob decodes and
    names the same type as the line. Raises :class:`InvalidInstanceSpec` with what is wrong: several lines, a
    private key, options before the type, an unknown type, a blob that does not decode, an RSA key under 2048 bits.
    """
    text = text.strip()
    if not text:
        raise InvalidInstanceSpec("the public key is empty; paste one line such as 'ssh-ed25519 AAAA... you@host'")
    if "PRIVATE KEY" in text:
        raise InvalidInstanceSpec("this is a private key; paste the public key (the .pub file) and keep the "
                                  "private key to yourself")
    if "\n" in text or "\r" in text:
        raise InvalidInstanceSpec("give one public key per entry (one line)")
    parts = text.split(None, 2)
    if parts[0] not in SSH_KEY_TYPES:
        raise InvalidInstanceSpec(f"unsupported key type {parts[0][:40]!r}; accepted: {', '.join(SSH_KEY_TYPES)}")
    if len(parts) < 2:
        raise InvalidInstanceSpec("the key has a type but no key data after it")
    key_type, blob = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) > 2 else ""
    if len(blob) > 16384 or len(comment) > 200:
        raise InvalidInstanceSpec("the key is too long (at most 16 KiB of key data and 200 characters of comment)")
    try:
        data = base64.b64decode(blob, validate=True)
        inner_type, offset = _read_string(data, 0)
    except (ValueError, base64.binascii.Error):
        raise InvalidInstanceSpec("the key data is not valid base64 of an OpenSSH public key") from None
    if inner_type.decode(errors="replace") != key_type:
        raise InvalidInstanceSpec(f"the key data is a {inner_type.decode(errors='replace')[:40]!r} key but the "
                                  f"line says {key_type!r}")
    if key_type == "ssh-rsa":
        try:
            _exponent, offset = _read_string(data, offset)
            modulus, _ = _read_string(data, offset)
        except ValueError:
            raise InvalidInstanceSpec("the RSA key data is truncated") from None
        bits = int.from_bytes(modulus, "big").bit_length()
        if bits < MIN_RSA_BITS:
            raise InvalidInstanceSpec(f"RSA keys need at least {MIN_RSA_BITS} bits (this one has {bits}); "
                                      "an ed25519 key is better: ssh-keygen -t ed25519")
    elif key_type == "ssh-ed25519":
        try:
            raw, _ = _read_string(data, offset)
        except ValueError:
            raise InvalidInstanceSpec("the ed25519 key data is truncated") from None
        if len(raw) != 32:
            raise InvalidInstanceSpec("an ed25519 key is 32 bytes; this one is not")
    if any(ord(c) < 32 for c in comment):
        raise InvalidInstanceSpec("the key comment contains control characters")
    return PublicKey(key_type, blob, comment)


# --------------------------------------------------------------------------------------------- the contract


def check_ports(ports: object) -> tuple[int, ...]:
    """The ports inside an instance a buyer asks to expose, checked: whole numbers 1024-65535, not 22 or 8888
    (SSH and JupyterLab), no repeats, at most ``MAX_EXPOSED_PORTS``."""
    ports = tuple(ports)  # type: ignore[arg-type]
    if len(ports) > MAX_EXPOSED_PORTS:
        raise InvalidInstanceSpec(f"at most {MAX_EXPOSED_PORTS} ports can be exposed")
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            raise InvalidInstanceSpec(f"port {port!r} is out of range: expose ports 1024-65535")
        if port in RESERVED_INSTANCE_PORTS:
            raise InvalidInstanceSpec(f"port {port} is taken by SSH or JupyterLab inside the instance")
    if len(set(ports)) != len(ports):
        raise InvalidInstanceSpec("a port is listed twice")
    return ports



class InstanceRunState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self in (InstanceRunState.STOPPED, InstanceRunState.FAILED, InstanceRunState.LOST)


@dataclass(frozen=True)
class InstanceSpec:
    """What to start.

    ``instance_id`` names the run (idempotent: starting the same id twice starts it once). ``image`` is a key of
    the platform's image table (``suanli.core.images``); ``image_reference`` what the data center pulls for it
    (an OCI reference, or empty where the backend does not run images). ``authorized_keys`` are OpenSSH public
    key lines installed for the login user. ``jupyter_token`` protects JupyterLab. ``ports`` are ports inside the
    instance to expose (not 22 or 8888, which SSH and JupyterLab use). Resources as in :class:`JobSpec`:
    ``device_indices`` are the devices allocated on the machine (``local`` needs them); ``vcpus``, ``memory_gib``
    and ``max_processes`` are what the product promises and the backend enforces where it can.
    """

    instance_id: str
    image: str
    authorized_keys: tuple[str, ...]
    jupyter_token: str
    image_reference: str = ""
    ports: tuple[int, ...] = ()
    accelerators: int = 0
    chip: str | None = None
    ecosystem: str | None = None
    device_indices: tuple[int, ...] = ()
    vcpus: int = 1
    memory_gib: float | None = None
    disk_gib: float | None = None
    max_processes: int = 4096
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _RUN_NAME.fullmatch(self.instance_id):
            raise InvalidInstanceSpec(f"instance_id {self.instance_id!r} must be 1-128 letters, digits, '.', '_', '-'")
        if not _IMAGE_KEY.fullmatch(self.image):
            raise InvalidInstanceSpec(f"image {self.image!r} is not an image key")
        keys = tuple(self.authorized_keys)
        if not keys:
            raise InvalidInstanceSpec("an instance needs at least one SSH public key to log in with")
        for line in keys:
            parse_public_key(line)
        object.__setattr__(self, "authorized_keys", keys)
        if not _TOKEN.fullmatch(self.jupyter_token):
            raise InvalidInstanceSpec("jupyter_token must be 32-128 URL-safe characters")
        object.__setattr__(self, "ports", check_ports(self.ports))
        indices = tuple(self.device_indices)
        if indices and (len(indices) != self.accelerators or len(set(indices)) != len(indices) or min(indices) < 0):
            raise InvalidInstanceSpec(f"device indices {list(indices)} do not match {self.accelerators} accelerators")
        object.__setattr__(self, "device_indices", indices)
        if self.accelerators < 0 or self.vcpus < 1 or self.max_processes < 16:
            raise InvalidInstanceSpec("accelerators >= 0, vcpus >= 1 and max_processes >= 16 are required")
        if self.memory_gib is not None and self.memory_gib <= 0:
            raise InvalidInstanceSpec("memory_gib must be > 0")
        for key, value in self.env.items():
            if not _ENV_NAME.fullmatch(key) or not isinstance(value, str):
                raise InvalidInstanceSpec(f"environment variable {key!r} is not valid")
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        if self.ecosystem is not None:
            visible_devices_var(self.ecosystem)

    def __repr__(self) -> str:  # the token is a secret: never in logs
        return f"InstanceSpec(instance_id={self.instance_id!r}, image={self.image!r}, ports={self.ports!r})"


@dataclass(frozen=True)
class InstanceAccess:
    """How the buyer reaches a running instance. ``ssh_host_key_fingerprints`` (``SHA256:...``) let the buyer
    check the host key on first login. ``jupyter_url`` is JupyterLab's base URL without the token (the platform
    adds it for the buyer only). ``ports`` maps each exposed port inside the instance to ``(host, port)``."""

    ssh_host: str
    ssh_port: int
    ssh_user: str
    jupyter_url: str = ""
    ssh_host_key_fingerprints: tuple[str, ...] = ()
    ports: Mapping[int, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", MappingProxyType(dict(self.ports)))
        object.__setattr__(self, "ssh_host_key_fingerprints", tuple(self.ssh_host_key_fingerprints))


@dataclass(frozen=True)
class InstanceRunStatus:
    """A machine's state on its cluster. ``detail``: the cluster's own words (plain text, shown as they are), or a
    sentence the backend composes itself, kept translatable (:func:`suanli.core.messages.msg`) so that the buyer's
    machine page says it in its language."""

    state: InstanceRunState
    access: InstanceAccess | None = None
    detail: Text = ""

    @property
    def terminal(self) -> bool:
        return self.state.terminal


@runtime_checkable
class InstanceBackend(Protocol):
    """The instance half of a backend (declared by the ``instances`` feature)."""

    kind: str

    def start_instance(self, spec: InstanceSpec) -> str:
        """Start the instance (or find it started); returns the backend's run id. Does not wait for it to run."""
        ...

    def instance_status(self, run_id: str) -> InstanceRunStatus:
        """Raises :class:`~suanli.backends.BackendUnavailable` when the backend cannot be asked now."""
        ...

    def stop_instance(self, run_id: str) -> None:
        """Stop every process of the instance (a grace period, then kill) and free its ports and devices; a
        no-op for a run that already ended or that the backend does not know."""
        ...

    def instance_runs(self) -> list[str]:
        """Every instance run this backend holds that has not been stopped (running or starting)."""
        ...
