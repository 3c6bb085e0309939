"""Shared pieces of the trading tests: a market with a ManualClock, and the ledger checks run after each test."""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from suanli.accounts.models import Organization, Role, User
from suanli.accounts.security import hash_password
from suanli.accounts.service import issue_login_token
from suanli.catalog.models import Product
from suanli.core.billing import ManualClock
from suanli.core.ledger import AccountKind, Ledger
from suanli.db import Database
from suanli.trading.ledger_store import account_ref, ledger_store
from suanli.quotes.models import ContractStatus, QuoteContract, QuoteRequest, RequestStatus
from suanli.trading.models import LedgerAccount, Order, OrderStatus

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

START = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)


@dataclass
class Market:
    client: TestClient
    db: Database
    clock: ManualClock
    make: Any  # conftest.Factory
    operator: dict[str, Any]

    def buyer(self, topup_fen: int = 0) -> dict[str, Any]:
        buyer = quick_user(self.db, "buyer")
        if topup_fen:
            self.topup(buyer, topup_fen)
        return buyer

    def seller_with_product(self, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        seller = quick_user(self.db, "seller")
        datacenter = self.make.datacenter(seller)
        overrides.setdefault("price_spot_floor_fen", min(3000, overrides.get("price_on_demand_fen", 8000)))
        return seller, self.make.product(seller, datacenter, **overrides)

    def topup(self, buyer: dict[str, Any], amount_fen: int, reference: str | None = None) -> dict[str, Any]:
        r = self.client.post("/api/v1/operator/topups", headers=self.operator["headers"], json={
            "organization_id": buyer["org_id"], "amount_fen": amount_fen,
            "reference": reference or f"bank-{uuid.uuid4().hex}"})
        assert r.status_code in (200, 201), r.text
        return r.json()

    def order(self, buyer: dict[str, Any], product: dict[str, Any], key: str | None = None, **body: Any):
        headers = dict(buyer["headers"])
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = {"product_id": product["id"], "mode": "on_demand", "units": 1}
        payload.update(body)
        return self.client.post("/api/v1/orders", headers=headers, json=payload)

    def wallet(self, user: dict[str, Any]) -> dict[str, Any]:
        r = self.client.get("/api/v1/wallet", headers=user["headers"])
        assert r.status_code == 200, r.text
        return r.json()

    def allocated(self, product: dict[str, Any]) -> int:
        with self.db.unit_of_work(write=False) as session:
            return session.scalar(select(Product.allocated_units).where(Product.id == uuid.UUID(product["id"])))


_password_hash: list[str] = []


def quick_user(db: Database, role: str) -> dict[str, Any]:
    """A user in a new organization, with a login token: made in the database with one shared password hash
    (argon2 takes ~0.1 s per hash; the accounts tests cover registration and login)."""
    if not _password_hash:
        _password_hash.append(hash_password("correct-horse-battery"))
    tag = uuid.uuid4().hex[:10]
    with db.unit_of_work() as session:
        org = Organization(name=f"{role} org {tag}", kind=Role(role))
        session.add(org)
        session.flush()
        user = User(email=f"{role}-{tag}@example.cn", display_name=f"{role} {tag}", password_hash=_password_hash[0],
                    role=Role(role), organization_id=org.id)
        session.add(user)
        session.flush()
        secret, _ = issue_login_token(session, user, timedelta(hours=2))
        return {"email": user.email, "org_id": str(org.id), "headers": {"Authorization": f"Bearer {secret}"}}


def assert_ledger_consistent(market: Market) -> None:
    """The trial balance is balanced, over the API and against a replay of the journal by the core ``Ledger``."""
    r = market.client.get("/api/v1/operator/ledger/trial-balance", headers=market.operator["headers"])
    assert r.status_code == 200, r.text
    tb = r.json()
    assert tb["balanced"] is True, tb
    assert tb["total_debits_fen"] == tb["total_credits_fen"]
    with market.db.unit_of_work(write=False) as session:
        replayed = Ledger.replay(ledger_store.journal(session))
        assert replayed.trial_balance().balanced
        for account in session.scalars(select(LedgerAccount)):
            ref = account_ref(account)
            assert replayed.balance(ref) == account.balance_fen, ref
        # Inventory agrees with the orders: every product's allocated units are those of its active orders and of
        # the orders whose instances are being delivered.
        active = dict(session.execute(select(Order.product_id, func.sum(Order.units))
                                      .where(Order.status.in_([OrderStatus.ACTIVE, OrderStatus.PROVISIONING]))
                                      .group_by(Order.product_id)).all())
        for product_id, allocated in session.execute(select(Product.id, Product.allocated_units)):
            assert allocated == (active.get(product_id) or 0), product_id
        # Money held is exactly what open orders hold, plus what is in escrow for requests for quotes: the budgets
        # of open requests and the deposits of contracts not started yet (suanli.quotes).
        held: dict[Any, int] = {}
        for query in (
                select(Order.buyer_org_id, func.sum(Order.held_fen)).where(Order.status.in_(
                    [OrderStatus.ACTIVE, OrderStatus.PENDING, OrderStatus.PROVISIONING])).group_by(Order.buyer_org_id),
                select(QuoteRequest.buyer_org_id, func.sum(QuoteRequest.budget_fen))
                .where(QuoteRequest.status == RequestStatus.OPEN).group_by(QuoteRequest.buyer_org_id),
                select(QuoteContract.buyer_org_id, func.sum(QuoteContract.deposit_fen))
                .where(QuoteContract.status.in_([ContractStatus.AWAITING_DELIVERY, ContractStatus.DELIVERED]))
                .group_by(QuoteContract.buyer_org_id)):
            for org, amount in session.execute(query):
                held[org] = held.get(org, 0) + int(amount)
        for account in session.scalars(select(LedgerAccount).where(LedgerAccount.kind == AccountKind.BUYER_HELD)):
            assert account.balance_fen == (held.get(account.owner_org_id) or 0), account.owner_org_id


def race(market: Market, requests: list[Callable[[TestClient], Any]]) -> list[Any]:
    """Run each request in its own thread with its own TestClient, all released at once by a barrier."""
    barrier = threading.Barrier(len(requests))
    app = market.client.app

    def run(request: Callable[[TestClient], Any]) -> Any:
        client = TestClient(app)
        barrier.wait(timeout=60)
        return request(client)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(run, requests))


def new_market(db: Database, make: Any, start: datetime = START, first_name_number: int = 0) -> Market:
    """A market on its own app with a ManualClock at ``start`` and an operator (``make``: the conftest Factory)."""
    from suanli.app import create_app

    clock = ManualClock(start)
    client = TestClient(create_app(db, clock=clock))
    factory = type(make)(client, db)
    factory._n = first_name_number
    return Market(client=client, db=db, clock=clock, make=factory, operator=quick_user(db, "operator"))


def checked_market(db: Database, make: Any) -> Iterator[Market]:
    """The ``market`` fixture of the trading and jobs tests: :func:`new_market`, then, after the test, the ledger
    must still be consistent. Use as ``yield from checked_market(db, make)``."""
    m = new_market(db, make)
    yield m
    assert_ledger_consistent(m)
