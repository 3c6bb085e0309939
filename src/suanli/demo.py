"""The demo: a realistic Anhui platform with demo accounts and 30 days of market history, loaded into an empty
database."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization, Role, User
from suanli.accounts.service import add_member, create_user
from suanli.catalog.demo_network import demo_network
from suanli.catalog.models import Product
from suanli.catalog.seeding import LoadReport, load_network
from suanli.core.chips import load_chip_table
from suanli.demo_demand import load_demand_history
from suanli.demo_history import HistoryReport, load_demo_history

DEMO_PASSWORD = "suanli-demo"
DEMO_TOPUP_FEN = 500_000  # ¥5,000 for the demo buyer, so a new user can order at once
DEMO_TOPUP_REFERENCE = "demo-initial-topup"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: Role
    display_name: str
    organization: str | None  # None: the first seller organization of the demo network


DEMO_ACCOUNTS = (
    DemoAccount("buyer@demo.suanli.cn", Role.BUYER, "演示买家", "芜湖智能制造研究院"),
    DemoAccount("seller@demo.suanli.cn", Role.SELLER, "演示卖家", None),
    DemoAccount("operator@demo.suanli.cn", Role.OPERATOR, "平台运营", "安徽省算力调度平台运营中心"),
)


def database_is_empty(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Product)) or 0) == 0


def load_demo(session: Session, progress: Callable[[int], None] | None = None) -> LoadReport:
    """Load the demo network and its accounts. The last data center waits for approval, so the operator
    has something to approve."""
    network = demo_network(load_chip_table())
    report = load_network(session, network, pending_datacenters=frozenset({network.datacenters[-1].key}),
                          progress=progress)
    first_seller = network.orgs[0].name
    for account in DEMO_ACCOUNTS:
        if session.scalar(select(User.id).where(User.email == account.email)):
            continue
        org_name = account.organization or first_seller
        org = session.scalar(select(Organization).where(Organization.name == org_name))
        if org is not None:
            add_member(session, org, email=account.email, password=DEMO_PASSWORD, display_name=account.display_name)
        else:
            create_user(session, email=account.email, password=DEMO_PASSWORD, display_name=account.display_name,
                        organization_name=org_name, role=account.role)
    demo_topup(session)
    return report


def load_history(session: Session, now: dt.datetime | None = None,
                 progress: Callable[[int, int], None] | None = None) -> HistoryReport:
    """Play the demo market's last 30 days up to ``now`` (default: the current time) through the trading services
    (``suanli.demo_history``): demo buyer organizations' top-ups, orders in all three modes, seller payouts; then
    the price index's daily snapshots, guidance prices and searches that found nothing (``suanli.demo_demand``). Call
    once, right after ``load_demo`` loaded the network into an empty database; the demo seller's products get a
    larger share of the orders."""
    seller_org_id = session.scalar(select(User.organization_id).where(User.email == DEMO_ACCOUNTS[1].email))
    now = now or dt.datetime.now(dt.UTC)
    report = load_demo_history(session, now, seller_org_id=seller_org_id, progress=progress)
    load_demand_history(session, now)  # price snapshots, guidance prices, empty searches (suanli.demo_demand)
    return report


def demo_topup(session: Session) -> int | None:
    """Top the demo buyer's wallet up with ``DEMO_TOPUP_FEN`` (a proper top-up, reference
    ``demo-initial-topup``: done once, a repeat is a no-op). Returns the buyer's available fen (None: no buyer)."""
    from suanli.trading.schemas import TopupIn
    from suanli.trading.service import topup

    buyer = session.scalar(select(User).where(User.email == DEMO_ACCOUNTS[0].email))
    if buyer is None:
        return None
    return topup(session, TopupIn(organization_id=buyer.organization_id, amount_fen=DEMO_TOPUP_FEN,
                                  reference=DEMO_TOPUP_REFERENCE), dt.datetime.now(dt.UTC)).available_fen


DEMO_KEY_NAME = "demo key (make demo)"


def demo_ssh_key(session: Session, home: Path) -> Path | None:
    """An SSH key pair for the demo buyer, so `make demo` can log into the machines it rents at once: the private
    key in ``$SUANLI_HOME/demo-ssh/id_ed25519`` (0600, made once), its public key on the demo buyer's account.
    Returns the private key's path (None: no demo buyer). Add your own key with `suanli keys add`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from suanli.backends.instances import parse_public_key
    from suanli.instances.keys import add_key
    from suanli.instances.models import SshKey

    buyer = session.scalar(select(User).where(User.email == DEMO_ACCOUNTS[0].email))
    if buyer is None:
        return None
    directory = home / "demo-ssh"
    private = directory / "id_ed25519"
    if not private.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        (directory / "id_ed25519.pub").write_text(public.decode() + " buyer@demo.suanli.cn\n", encoding="utf-8")
    public_line = (directory / "id_ed25519.pub").read_text(encoding="utf-8").strip()
    have = set(session.scalars(select(SshKey.fingerprint).where(SshKey.user_id == buyer.id)))
    if parse_public_key(public_line).fingerprint not in have:
        add_key(session, buyer, public_line, DEMO_KEY_NAME, dt.datetime.now(dt.UTC))
    return private
