"""Claims on machine-wide resources of the ``local`` backend: a uid per run, host ports per instance.

A claim is a file ``<claims_dir>/uids/<uid>`` or ``<claims_dir>/ports/<port>`` created with ``O_EXCL``, holding
the run directory that owns it and the boot id. The claims directory is machine-wide (default
``/run/suanli-local``), not per base directory: two backends with different base directories on one machine
must never hand out the same uid. Claiming happens under an ``flock`` on ``<claims_dir>/lock`` (released by
the kernel if the process dies), so taking back a stale claim cannot race with a new one.

A claim is stale, and is taken back, when it is from another boot, or when its run is over (the run's
supervisor is gone, or the run never got one within ``SETUP_SECONDS``) and nothing holds the resource any
more (no process of that uid; the port can be bound).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from suanli.backends.base import BackendError
from suanli.backends.local.supervisor import alive, boot_id, processes_of

__all__ = ["Claims", "parse_range"]

SETUP_SECONDS = 120.0


def parse_range(value: str | tuple[int, int] | list[int], what: str, low: int, high: int) -> tuple[int, int]:
    """``"200000-299999"`` (or a pair) → (200000, 299999), checked to lie within ``low``..``high``."""
    try:
        if isinstance(value, str):
            first, last = (int(part) for part in value.split("-", 1))
        else:
            first, last = (int(part) for part in value)
    except (TypeError, ValueError):
        raise BackendError(f"{what} {value!r} is not a range such as '{low}-{high}'", kind="local") from None
    if not low <= first <= last <= high:
        raise BackendError(f"{what} {first}-{last} must lie within {low}-{high}", kind="local")
    return first, last


def run_over(run_dir: Path, claimed_at: float) -> bool:
    """Has the run that owns a claim ended (or never started)?"""
    try:
        state = json.loads((run_dir / "state.json").read_text())
    except FileNotFoundError:
        return not run_dir.exists() or time.time() - claimed_at > SETUP_SECONDS
    except (OSError, ValueError):
        return False  # cannot tell: keep the claim
    if state.get("boot_id") and state["boot_id"] != boot_id():
        return True
    return not alive(state.get("pid"), state.get("start_ticks"))


class Claims:
    def __init__(self, directory: Path, uids: tuple[int, int], ports: tuple[int, int], listen_address: str) -> None:
        self.directory = directory
        self.uids = uids
        self.ports = ports
        self.listen_address = listen_address

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        for sub in ("uids", "ports"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.chmod(0o700)
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _take(self, path: Path, owner: Path, free: Callable[[], bool]) -> bool:
        """Claim ``path`` for ``owner`` if it is unclaimed or stale and the resource is ``free()``."""
        if path.exists() and not self._stale(path):
            return False
        if not free():
            return False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{owner}\n{boot_id()}\n")
        return True

    def claim_uid(self, owner: Path) -> tuple[int, str]:
        """A uid of the range that no run holds and no process uses; returns (uid, claim file)."""
        with self._locked():
            for uid in range(self.uids[0], self.uids[1] + 1):
                path = self.directory / "uids" / str(uid)
                if self._take(path, owner, free=lambda: not processes_of(uid)):  # noqa: B023
                    return uid, str(path)
        raise BackendError(f"every uid of {self.uids[0]}-{self.uids[1]} is in use by a run: widen uid_range",
                           kind="local")

    def _stale(self, path: Path) -> bool:
        try:
            holder, holder_boot = (path.read_text().split("\n") + ["", ""])[:2]
            return holder_boot != boot_id() or run_over(Path(holder), path.stat().st_mtime)
        except FileNotFoundError:
            return True

    def claim_ports(self, owner: Path, count: int) -> list[tuple[int, str]]:
        """``count`` host ports of the range that no run holds and that can be bound now."""
        taken: list[tuple[int, str]] = []
        with self._locked():
            for port in range(self.ports[0], self.ports[1] + 1):
                if len(taken) == count:
                    return taken
                path = self.directory / "ports" / str(port)
                if self._take(path, owner, free=lambda: self._bindable(port)):  # noqa: B023
                    taken.append((port, str(path)))
            if len(taken) == count:
                return taken
            for _, path in taken:
                os.unlink(path)
        raise BackendError(f"fewer than {count} free ports in {self.ports[0]}-{self.ports[1]}: widen port_range",
                           kind="local")

    def _bindable(self, port: int) -> bool:
        family = socket.AF_INET6 if ":" in self.listen_address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as pasta binds: TIME_WAIT is no owner
            try:
                sock.bind((self.listen_address, port))
            except OSError:
                return False
        return True
