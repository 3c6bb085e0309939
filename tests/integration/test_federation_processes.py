"""Three platforms, each its own `suanli serve` process, SQLite database and SUANLI_HOME, on their own ports:
peering from cards, catalog sync (full, then incremental), forged, replayed and tampered requests refused by a
real server (a replay even after that server restarted), a missing scope and a revoked peer refused.

Network namespaces per platform (issue 16) are a later step: here the three listen on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from suanli.federation import keys, signing
from contention_helpers import free_port
from support import PASSWORD, stop_process_group, wait_until_serving

SUANLI = shutil.which("suanli", path=str(Path(sys.executable).parent)) or "suanli"
OPS = "/api/v1/operator/federation"


@dataclass
class Platform:
    name: str
    province: str
    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    card: dict[str, Any] = field(default_factory=dict)
    sync_interval: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "SUANLI_HOME": str(self.home), "SUANLI_PORT": str(self.port),
               "SUANLI_HOST": "127.0.0.1", "SUANLI_PLATFORM_NAME": self.name, "SUANLI_PLATFORM_PROVINCE": self.province,
               "SUANLI_METER_INTERVAL_SECONDS": "0", "SUANLI_SCHEDULER_INTERVAL_SECONDS": "0",
               "SUANLI_INSTANCE_INTERVAL_SECONDS": "0", "SUANLI_CLUSTER_ALLOWED_NETWORKS": "127.0.0.0/8",
               "SUANLI_FEDERATION_SYNC_INTERVAL_SECONDS": str(self.sync_interval)}
        for name in ("SUANLI_DATABASE_URL", "SUANLI_API_URL", "SUANLI_TOKEN", "SUANLI_FEDERATION_BASE_URL"):
            env.pop(name, None)
        return env

    def run(self, *args: str, token: bool = False) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **({"SUANLI_TOKEN": self.token, "SUANLI_API_URL": self.url} if token else {}),
               "COLUMNS": "250"}
        return subprocess.run([SUANLI, *args], env=env, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        log = self.home / "server.log"
        self.process = subprocess.Popen([SUANLI, "serve"], env=self.env, stdout=log.open("ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_serving(self.process, self.url, log, self.stop)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()


def _set_up(platform: Platform) -> Platform:
    platform.home.mkdir()
    for args in (("db", "upgrade"),
                 ("user", "create", f"op@{platform.port}.cn", "--role", "operator", "--password", PASSWORD,
                  "--org", f"{platform.name}运营")):
        done = platform.run(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    platform.start()
    platform.token = _token(platform, f"op@{platform.port}.cn")
    platform.card = platform.ok("POST", f"{OPS}/identity")
    return platform


def _token(platform: Platform, email: str) -> str:
    r = httpx.post(platform.url + "/api/v1/auth/token", data={"username": email, "password": PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def platforms(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("federation")
    started = [Platform("安徽省算力调度平台", "安徽", root / "anhui"), Platform("贵州算力平台", "贵州", root / "guizhou"),
               Platform("内蒙古算力平台", "内蒙古", root / "neimenggu", sync_interval=2)]
    try:
        with ThreadPoolExecutor(3) as pool:
            yield list(pool.map(_set_up, started))
    finally:
        for platform in started:
            platform.stop()


def _product(platform: Platform, province: str, city: str, price_fen: int, chip: str = "a800") -> dict[str, Any]:
    """A seller's approved product at ``platform`` (made through its API)."""
    email = f"seller{price_fen}@{platform.port}.cn"
    registered = httpx.post(platform.url + "/api/v1/auth/register", timeout=60, json={
        "email": email, "password": PASSWORD, "display_name": "卖家", "organization_name": f"卖家 {price_fen}",
        "role": "seller"})
    assert registered.status_code == 201, registered.text
    seller = _token(platform, email)
    region = platform.call("POST", "/api/v1/regions", json={"province": province, "city": city, "hub": "枢纽"})
    region_id = region.json()["id"] if region.status_code == 201 else next(
        r["id"] for r in platform.ok("GET", "/api/v1/regions") if r["city"] == city)
    dc = platform.call("POST", "/api/v1/datacenters", token=seller, json={
        "name": f"{city}数据中心 {price_fen}", "region_id": region_id, "tier": 3, "pue": "1.2", "green_power_pct": 50})
    assert dc.status_code == 201, dc.text
    platform.ok("POST", f"/api/v1/datacenters/{dc.json()['id']}/approve")
    product = platform.call("POST", "/api/v1/products", token=seller, json={
        "datacenter_id": dc.json()["id"], "name": f"{chip.upper()} ×8", "kind": "accelerator", "chip": chip,
        "accelerators": 8, "vcpus": 96, "memory_gib": 1024, "disk_gib": 4000, "network_gbps": 200,
        "delivery": "bare_metal", "stock_units": 5, "price_on_demand_fen": price_fen, "confirm_unusual_price": True})
    assert product.status_code == 201, product.text
    return {**product.json(), "datacenter_id": dc.json()["id"], "seller_token": seller}


def _peer(platform: Platform, other: Platform, scopes: list[str]) -> None:
    platform.ok("POST", f"{OPS}/peers", 201, json={"card": other.card["card"], "scopes": scopes})


def test_three_platforms_federate_their_catalogs_and_refuse_what_they_must(platforms):
    anhui, guizhou, neimenggu = platforms
    assert len({p.card["id"] for p in platforms}) == 3
    assert anhui.card["base_url"] == anhui.url and anhui.card["province"] == "安徽"

    # Peering: cards exchanged out of band; 贵州 and 内蒙古 let 安徽 read their catalogs; 内蒙古 gives 贵州 orders only.
    _peer(guizhou, anhui, ["catalog"])
    _peer(neimenggu, anhui, ["catalog"])
    _peer(neimenggu, guizhou, ["orders"])
    added = anhui.run("federation", "peers", "add", guizhou.card["card"], "--scopes", "catalog", token=True)
    assert added.returncode == 0, added.stdout + added.stderr
    _peer(anhui, neimenggu, ["catalog"])
    _peer(guizhou, neimenggu, ["catalog"])

    # What 贵州 shares: two products, exact prices per data center (one more product stays private).
    cheap = _product(guizhou, "贵州", "贵安", 5800)
    dear = _product(guizhou, "贵州", "贵阳", 7600)
    _product(guizhou, "贵州", "贵阳", 4000, chip="h100")
    for shared in (cheap, dear):
        guizhou.ok("POST", f"{OPS}/shares", json={"product_id": shared["id"]})
    # What 内蒙古 shares: price bands, per region.
    steppe = _product(neimenggu, "内蒙古", "和林格尔", 6350)
    neimenggu.ok("PUT", f"{OPS}/policy", json={"price_disclosure": "band", "aggregation": "region"})
    neimenggu.ok("POST", f"{OPS}/shares", json={"product_id": steppe["id"]})

    # Full sync.
    synced = anhui.run("federation", "peers", "sync", guizhou.card["id"], "--json", token=True)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert '"changes_applied": 2' in synced.stdout and '"offers_held": 2' in synced.stdout
    assert anhui.ok("POST", f"{OPS}/peers/{neimenggu.card['id']}/sync")["changes_applied"] == 1
    offers = anhui.ok("GET", "/api/v1/federation/offers", params={"chip": "a800"})["items"]
    assert [o["price_low_fen"] for o in offers] == [5000, 5800, 7600]  # cheapest first; 内蒙古 shows a band
    banded, first, _second = offers
    assert first["cid"] == f"cid:{guizhou.card['id']}/{cheap['datacenter_id']}/{cheap['id']}"
    assert (first["origin_platform"], first["origin_province"], first["price_exact_fen"]) == ("贵州算力平台", "贵州", 5800)
    assert banded["origin_platform"] == "内蒙古算力平台"
    assert (banded["price_exact_fen"], banded["price_low_fen"], banded["price_high_fen"]) == (None, 5000, 10000)
    assert banded["datacenter"] is None and banded["province"] == "内蒙古" and banded["age_seconds"] < 60
    listed = anhui.run("federation", "offers", "--chip", "a800", token=True)
    assert listed.returncode == 0 and "贵州算力平台" in listed.stdout and "¥50.00–¥100.00" in listed.stdout

    # Incremental: one price changes, one product is no longer shared; the next sync carries exactly that.
    patched = guizhou.call("PATCH", f"/api/v1/products/{dear['id']}", token=dear["seller_token"],
                           json={"price_on_demand_fen": 7000, "confirm_unusual_price": True})
    assert patched.status_code == 200, patched.text
    guizhou.ok("DELETE", f"{OPS}/shares/{cheap['id']}")
    again = anhui.ok("POST", f"{OPS}/peers/{guizhou.card['id']}/sync")
    assert (again["changes_applied"], again["offers_held"]) == (2, 1)
    assert anhui.ok("POST", f"{OPS}/peers/{guizhou.card['id']}/sync")["changes_applied"] == 0
    [left] = [o for o in anhui.ok("GET", "/api/v1/federation/offers")["items"] if o["origin_platform"] == "贵州算力平台"]
    assert (left["cid"].endswith(dear["id"]), left["price_exact_fen"]) == (True, 7000)

    # Rotation: 贵州 makes a new key and signs with it at once; 安徽 learns it at its next sync, because 贵州's old
    # key (which 安徽 trusts) endorsed it.
    old_kid = next(k["key_id"] for k in guizhou.card["keys"] if k["valid_until"] is None)
    guizhou.card = guizhou.ok("POST", f"{OPS}/keys/rotate")
    new_kid = next(k["key_id"] for k in guizhou.card["keys"] if k["valid_until"] is None)
    assert new_kid != old_kid
    assert anhui.ok("POST", f"{OPS}/peers/{guizhou.card['id']}/sync")["changes_applied"] == 0
    held = next(p for p in anhui.ok("GET", f"{OPS}/peers") if p["id"] == guizhou.card["id"])["key_ids"]
    assert {old_kid, new_kid} <= set(held)

    # 贵州's feed behind 安徽's cursor (as after 贵州 restored its database from an old backup): the next sync forgets
    # 贵州's offers and reads its feed again from the start.
    with sqlite3.connect(anhui.home / "suanli.db") as db:
        db.execute("UPDATE federation_peers SET feed_cursor = 1000000")
    report = anhui.ok("POST", f"{OPS}/peers/{guizhou.card['id']}/sync")
    assert (report["restarted"], report["offers_held"], report["cursor"]) == (True, 1, 4)

    # A missing scope: 内蒙古 lets 贵州 order, not read its catalog.
    refused = guizhou.call("POST", f"{OPS}/peers/{neimenggu.card['id']}/sync")
    assert refused.status_code == 502 and refused.json()["error"]["details"]["peer_code"] == "scope_missing"

    # 内蒙古's `suanli serve` syncs its peers by itself (every 2 s here): 贵州's one shared offer arrives unasked.
    _wait_for(lambda: [o["price_exact_fen"] for o in neimenggu.ok("GET", "/api/v1/federation/offers")["items"]]
              == [7000])

    _forged_replayed_tampered(anhui, guizhou)

    # Revocation: 贵州 revokes 安徽; 安徽's next sync is refused by 贵州's server.
    revoked = guizhou.run("federation", "peers", "revoke", anhui.card["id"], token=True)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    refused = anhui.call("POST", f"{OPS}/peers/{guizhou.card['id']}/sync")
    assert refused.status_code == 502, refused.text
    assert refused.json()["error"]["code"] == "peer_refused"
    assert refused.json()["error"]["details"]["peer_code"] == "peer_revoked"


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within 60 s"
        time.sleep(0.5)


def _signed_by_anhui(anhui: Platform, target: Platform, path: str, body: bytes = b"",
                     key: Ed25519PrivateKey | None = None) -> httpx.Request:
    kid = next(k["key_id"] for k in anhui.card["keys"] if k["valid_until"] is None)
    request = httpx.Request("GET", target.url + path, content=body)
    signing.sign_request(request, key_id=kid, body=body, private_key=key or keys.load_private(anhui.home, kid))
    return request


def _send(target: Platform, request: httpx.Request) -> tuple[int, str | None]:
    """Send to the target's real server; its answer must be signed by the target for this request."""
    with httpx.Client(timeout=30) as client:
        response = client.send(request)
    params = signing.signature_params(response.headers)
    public = {k["key_id"]: k["public_key"] for k in target.card["keys"]}
    signing.verify_response(status=response.status_code, headers=response.headers, body=response.content,
                            request_method=request.method, request_url=str(request.url),
                            request_headers=request.headers, params=params,
                            public_key=keys.parse_public(public[params.key_id]))
    return response.status_code, (response.json().get("error") or {}).get("code")


def _forged_replayed_tampered(anhui: Platform, guizhou: Platform) -> None:
    path = "/federation/v1/catalog/changes?after=0"
    genuine = _signed_by_anhui(anhui, guizhou, path)
    assert _send(guizhou, genuine) == (200, None)
    assert _send(guizhou, genuine) == (401, "signature_replayed")
    forged = _signed_by_anhui(anhui, guizhou, path, key=Ed25519PrivateKey.generate())
    assert _send(guizhou, forged) == (401, "signature_invalid")
    tampered = _signed_by_anhui(anhui, guizhou, path, body=b'{"after": 0}')
    tampered = httpx.Request("GET", tampered.url, headers=tampered.headers, content=b'{"after": 9}')
    assert _send(guizhou, tampered) == (401, "body_tampered")
    stale = _signed_by_anhui(anhui, guizhou, path)
    stale_created = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    stale = httpx.Request("GET", stale.url)
    kid = next(k["key_id"] for k in anhui.card["keys"] if k["valid_until"] is None)
    signing.sign_request(stale, key_id=kid, body=b"", private_key=keys.load_private(anhui.home, kid),
                         created=stale_created)
    assert _send(guizhou, stale) == (401, "signature_expired")
    # The nonce store is in 贵州's database: a restarted server still refuses the replay.
    guizhou.stop()
    guizhou.start()
    assert _send(guizhou, genuine) == (401, "signature_replayed")
