"""Test support shared by conftest.py and test modules (import it as ``support``, never ``conftest``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
import warnings
from decimal import Decimal
from typing import Any

import httpx

from suanli.audit.models import AuditChainHead, AuditEntryRow
from suanli.accounts.models import AccessToken, AuthThrottle, Organization, Role
from suanli.accounts.models import User
from suanli.catalog.models import (Datacenter, DatacenterStatus, GuidancePrice, PriceIndexSnapshot, Product,
                                   ProductStockChange, Region)
from suanli.demand.models import SearchMiss
from suanli.db import Database
from suanli.emergency.models import EmergencyPart, EmergencyRequest
from suanli.quotes.models import Quote, QuoteContract, QuoteRequest
from suanli.federation.models import (FederationIdentity, FederationKey, FederationNonce, FederationPeer,
                                      FederationPublished, FederationShare, RemoteOffer)
from suanli.instances.models import DatacenterImage, Instance, SshKey
from suanli.jobs.models import Cluster, Job, StrayRun
from suanli.trading.models import LedgerAccount, LedgerTransfer, Notification, Order, PlatformSettings, UsageRecord

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "correct-horse-battery"
PG_ADMIN_URL = os.environ.get("SUANLI_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""Creates and drops the test databases (conftest), and lets tests watch or disturb a database's backends."""
# Deleted after every test, children first.
TABLES_TO_CLEAN = (SearchMiss, PriceIndexSnapshot, GuidancePrice, AuditEntryRow, AuditChainHead, RemoteOffer,
                   FederationPublished, FederationShare, FederationNonce, FederationKey, FederationPeer,
                   FederationIdentity, EmergencyPart, EmergencyRequest, QuoteContract, Quote, QuoteRequest,
                   StrayRun, Job, Instance, Notification, UsageRecord, LedgerTransfer, LedgerAccount, Order,
                   PlatformSettings, ProductStockChange, Product, Cluster, DatacenterImage, Datacenter, Region,
                   AccessToken, AuthThrottle, SshKey, User, Organization)


class Factory:
    """Makes accounts and catalog objects through the API, the way users do."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client, self.db = client, db
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def user(self, role: str = "buyer", org: str | None = None) -> dict[str, Any]:
        """A user with a login token; operators are made the way the CLI makes them."""
        n = self._next()
        email = f"{role}{n}-{uuid.uuid4().hex[:6]}@example.cn"
        if role == "operator":
            from suanli.accounts.service import create_user

            with self.db.unit_of_work() as session:
                create_user(session, email=email, password=PASSWORD, display_name=f"op {n}",
                            organization_name=org or "运营中心", role=Role.OPERATOR)
        else:
            r = self.client.post("/api/v1/auth/register", json={
                "email": email, "password": PASSWORD, "display_name": f"{role} {n}",
                "organization_name": org or f"{role} org {n} {uuid.uuid4().hex[:6]}", "role": role})
            assert r.status_code == 201, r.text
        token = self.client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD}).json()
        return {"email": email, "headers": {"Authorization": f"Bearer {token['access_token']}"}}

    def region(self, province: str = "安徽", city: str = "芜湖", hub: str = "长三角",
               cluster: str | None = "芜湖集群") -> dict[str, Any]:
        with self.db.unit_of_work() as session:
            from sqlalchemy import select

            region = session.scalar(select(Region).where(Region.province == province, Region.city == city))
            if region is None:
                region = Region(province=province, city=city, hub=hub, cluster=cluster)
                session.add(region)
                session.flush()
            return {"id": str(region.id), "province": province, "city": city}

    def datacenter(self, seller: dict[str, Any], *, approved: bool = True, region: dict[str, Any] | None = None,
                   name: str | None = None, tier: int = 3) -> dict[str, Any]:
        region = region or self.region()
        r = self.client.post("/api/v1/datacenters", headers=seller["headers"], json={
            "name": name or f"数据中心 {self._next()}", "region_id": region["id"], "tier": tier, "pue": "1.25",
            "green_power_pct": 40})
        assert r.status_code == 201, r.text
        dc = r.json()
        if approved:
            with self.db.unit_of_work() as session:
                session.get_one(Datacenter, uuid.UUID(dc["id"])).status = DatacenterStatus.APPROVED
                from suanli.catalog.service import refresh_datacenter_products
                refresh_datacenter_products(session, session.get_one(Datacenter, uuid.UUID(dc["id"])))
        return dc

    def product(self, seller: dict[str, Any], datacenter: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        body = {"datacenter_id": datacenter["id"], "name": f"A800 ×8 {self._next()}", "kind": "accelerator",
                "chip": "a800", "accelerators": 8, "vcpus": 96, "memory_gib": 1024, "disk_gib": 4000,
                "network_gbps": 200, "delivery": "batch", "stock_units": 4, "price_on_demand_fen": 8000,
                "price_reserved_month_fen": 3_500_000, "price_spot_floor_fen": 3000}
        body.update(overrides)
        # Tests of other things make products at any price; the price guard is tested in test_price_guard.py.
        body.setdefault("confirm_unusual_price", True)
        r = self.client.post("/api/v1/products", headers=seller["headers"], json=body)
        assert r.status_code == 201, r.text
        return r.json()



def cny(value: str) -> Decimal:
    return Decimal(value)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """End a `suanli serve` started with ``start_new_session=True`` and everything it started: SIGTERM to its
    process group, SIGKILL after 15 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def wait_until_serving(process: Any, base_url: str, log: Any, stop: Any, timeout: float = 60.0) -> None:
    """Wait until a started `suanli serve` answers /healthz; if it exits or stays silent, ``stop()`` it and raise
    with the end of its log (``log``: the log file's path)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"suanli serve exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop()
    raise RuntimeError(f"suanli serve did not answer within {timeout:.0f} s: "
                       f"{log.read_text(errors='replace')[-3000:]}")
