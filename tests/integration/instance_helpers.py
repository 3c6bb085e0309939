"""Shared pieces of the instance tests: real OpenSSH key pairs, machine products, and running the instance loop."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from suanli.instances.lifecycle import PassSummary, run_pass
from trading_helpers import Market


def keypair(directory: Path, name: str = "id_ed25519", kind: str = "ed25519", bits: int | None = None) -> tuple[Path, str]:
    """A real key pair made by ssh-keygen: (private key path, public key line)."""
    path = directory / f"{name}-{uuid.uuid4().hex[:6]}"
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@test", "-f", str(path)]
    if bits is not None:
        args[4:4] = ["-b", str(bits)]
    subprocess.run(args, check=True, capture_output=True)
    return path, Path(f"{path}.pub").read_text().strip()


def fingerprint_of(public_key_line: str, directory: Path) -> str:
    """What `ssh-keygen -lf` prints for the key: the reference our fingerprints must match."""
    path = directory / f"k-{uuid.uuid4().hex[:6]}.pub"
    path.write_text(public_key_line + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def add_key(market: Market, user: dict[str, Any], public_key: str, name: str | None = None) -> dict[str, Any]:
    r = market.client.post("/api/v1/ssh-keys", headers=user["headers"],
                           json={"public_key": public_key, **({"name": name} if name else {})})
    assert r.status_code == 201, r.text
    return r.json()


def machine_product(market: Market, delivery: str = "container", **overrides: Any) -> tuple[dict, dict]:
    """A seller and a listed machine product (accelerator, CUDA) of an approved data center with no cluster: its
    instances are delivered by hand."""
    overrides.setdefault("delivery", delivery)
    return market.seller_with_product(**overrides)


def instances_of(market: Market, user: dict[str, Any], order_id: str) -> list[dict[str, Any]]:
    r = market.client.get(f"/api/v1/orders/{order_id}/instances", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def loop(market: Market, orphans: bool = False) -> PassSummary:
    summary = run_pass(market.db, market.clock, orphans=orphans)
    assert not summary.errors, summary.errors
    return summary


def order_row(market: Market, order_id: str) -> dict[str, Any]:
    r = market.client.get(f"/api/v1/orders/{order_id}", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    return r.json()
