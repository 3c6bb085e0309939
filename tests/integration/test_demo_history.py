"""The demo's market history (``suanli.demo_history``), on SQLite and PostgreSQL: loaded once per backend into the
demo network, then checked for the ledger's and the stock's invariants, the reports the consoles draw, invoices,
the pages that show them, and determinism (the same figures from a second load into a fresh SQLite database)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from suanli.accounts.models import Organization, User
from suanli.accounts.service import authenticate
from suanli.catalog.models import Datacenter, Product, Region
from suanli.catalog.utilization import datacenter_utilization
from suanli.core.ledger import AccountKind, Ledger, TransferKind
from suanli.db import Database
from suanli.errors import NotAuthenticated
from suanli.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, DEMO_TOPUP_FEN, DEMO_TOPUP_REFERENCE, load_demo, load_history
from suanli.demo_history import ANCHOR_BUYERS, ANCHOR_DATACENTERS, HISTORY_BUYERS, HistoryReport
from suanli.migrate import upgrade
from suanli.quotes.models import QuoteRequest, RequestStatus
from suanli.trading import invoices, reports
from suanli.trading.ledger_store import account_ref, ledger_store
from suanli.trading.models import LedgerAccount, LedgerTransfer, Order, OrderMode, OrderStatus, UsageRecord
from support import TABLES_TO_CLEAN

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the pages read the system clock: the history ends now


@dataclass
class Loaded:
    db: Database
    report: HistoryReport
    history_seconds: float = 0.0  # how long playing the history took (the README states an upper bound)


def _load(database: Database) -> HistoryReport:
    return _timed_load(database)[0]


def _timed_load(database: Database) -> tuple[HistoryReport, float]:
    with database.unit_of_work() as session:
        load_demo(session)
        started = time.monotonic()
        report = load_history(session, NOW)
        return report, time.monotonic() - started


@pytest.fixture(scope="module")
def loaded(backend: Database) -> Iterator[Loaded]:
    """The demo network and its history, loaded once per backend; the tables are emptied afterwards."""
    report, seconds = _timed_load(backend)
    try:
        yield Loaded(backend, report, seconds)
    finally:
        with backend.unit_of_work() as session:
            for table in TABLES_TO_CLEAN:
                session.execute(delete(table))


def _history_orgs(session) -> dict[str, uuid.UUID]:
    return dict(session.execute(select(Organization.name, Organization.id)
                                .where(Organization.name.in_([b.organization for b in HISTORY_BUYERS]))).all())


def figures(database: Database) -> dict[str, Any]:
    """What the consoles show, keyed by stable names (ids differ between loads)."""
    with database.unit_of_work(write=False) as session:
        volume = reports.daily_volume(session, reports.last_days(NOW, 31))
        orgs = _history_orgs(session)
        balances = {name: ledger_store.balances_of(session, org_id) for name, org_id in orgs.items()}
        modes = session.execute(select(Order.mode, Order.status, func.count(), func.sum(Order.charged_fen))
                                .group_by(Order.mode, Order.status)).all()
        return {"volume": [(v.day, v.orders, v.gross_fen, v.commission_fen, v.net_fen) for v in volume],
                "balances": {name: {k.value: v for k, v in b.items()} for name, b in balances.items()},
                "modes": sorted((m.value, s.value, int(n), int(c)) for m, s, n, c in modes)}


def test_the_ledger_and_the_stock_stay_consistent(loaded):
    report = loaded.report
    assert report.buyers == len(HISTORY_BUYERS) + len(ANCHOR_BUYERS) and report.orders >= 200 and report.payouts >= 2
    with loaded.db.unit_of_work(write=False) as session:
        stored = ledger_store.trial_balance(session)
        assert stored.total_debits_fen == stored.total_credits_fen > 0
        assert all(a.balance_fen == a.journal_balance_fen for a in stored.accounts)
        replayed = Ledger.replay(ledger_store.journal(session))
        assert replayed.trial_balance().balanced
        for account in session.scalars(select(LedgerAccount)):
            assert replayed.balance(account_ref(account)) == account.balance_fen
        # no product oversold; every product's and data center's allocated units are its active orders' units
        active = dict(session.execute(select(Order.product_id, func.sum(Order.units))
                                      .where(Order.status == OrderStatus.ACTIVE).group_by(Order.product_id)).all())
        for product_id, stock, allocated in session.execute(
                select(Product.id, Product.stock_units, Product.allocated_units)):
            assert allocated == (active.get(product_id) or 0) <= stock
        by_datacenter = dict(session.execute(select(Order.datacenter_id, func.sum(Order.units))
                                             .where(Order.status == OrderStatus.ACTIVE)
                                             .group_by(Order.datacenter_id)).all())
        rows = datacenter_utilization(session)
        assert len(rows) == session.scalar(select(func.count()).select_from(Datacenter))
        for row in rows:
            assert row.allocated_units == (by_datacenter.get(row.datacenter_id) or 0), row.name
        in_use, stock = sum(r.allocated_units for r in rows), sum(r.stock_units for r in rows)
        # the anchor tenants' data centers are well used now, and the rest stay almost all free
        assert stock // 100 < in_use <= stock // 10
        busy = [r for r in rows if r.stock_units and r.allocated_units * 10 >= r.stock_units]
        assert len(busy) == ANCHOR_DATACENTERS
        assert sum(1 for r in rows if r.allocated_units * 50 <= r.stock_units) >= len(rows) - ANCHOR_DATACENTERS
        # money held is exactly what open orders hold and the budgets of open requests for quotes
        held = dict(session.execute(select(Order.buyer_org_id, func.sum(Order.held_fen))
                                    .where(Order.status.in_([OrderStatus.ACTIVE, OrderStatus.PENDING]))
                                    .group_by(Order.buyer_org_id)).all())
        for request in session.scalars(select(QuoteRequest).where(QuoteRequest.status == RequestStatus.OPEN)):
            held[request.buyer_org_id] = held.get(request.buyer_org_id, 0) + request.budget_fen
        for account in session.scalars(select(LedgerAccount).where(LedgerAccount.kind == AccountKind.BUYER_HELD)):
            assert account.balance_fen == (held.get(account.owner_org_id) or 0)
            assert account.balance_fen >= 0
        # the history buyers cannot log in
        for buyer in HISTORY_BUYERS:
            with pytest.raises(NotAuthenticated):
                authenticate(session, buyer.email, DEMO_PASSWORD)
        # the real demo buyer is untouched: its top-up only, nothing held, no order
        buyer = session.scalar(select(User).where(User.email == DEMO_ACCOUNTS[0].email))
        assert ledger_store.balances_of(session, buyer.organization_id) == {AccountKind.BUYER_AVAILABLE:
                                                                            DEMO_TOPUP_FEN}
        assert session.scalar(select(func.count()).select_from(Order)
                              .where(Order.buyer_org_id == buyer.organization_id)) == 0


def test_orders_in_all_modes_end_before_now_except_a_few(loaded):
    with loaded.db.unit_of_work(write=False) as session:
        orders = list(session.scalars(select(Order)))
        assert len(orders) == loaded.report.orders
        assert {o.mode for o in orders} == set(OrderMode)
        assert sum(o.status is OrderStatus.PREEMPTED for o in orders) == loaded.report.preempted >= 1
        running = [o for o in orders if o.status is OrderStatus.ACTIVE]
        assert len(running) == loaded.report.active_orders
        anchor_orgs = set(session.scalars(select(User.organization_id)
                                          .where(User.email.in_([b.email for b in ANCHOR_BUYERS]))))
        anchored = [o for o in running if o.buyer_org_id in anchor_orgs]
        others = [o for o in running if o.buyer_org_id not in anchor_orgs]
        assert anchored and all(o.mode is OrderMode.RESERVED and o.term_months == 1 for o in anchored)
        assert len({o.datacenter_id for o in anchored}) == ANCHOR_DATACENTERS
        assert 3 <= len(others) <= 10
        assert {o.mode for o in others} == set(OrderMode)  # reserved terms, an on-demand and a spot lease
        assert all(o.ends_at > NOW for o in running if o.mode is OrderMode.RESERVED)
        start = NOW - dt.timedelta(days=30)
        for order in orders:
            assert start <= order.created_at <= NOW
            assert order.ended_at is None if order.status is OrderStatus.ACTIVE else order.ended_at <= NOW
        assert session.scalar(select(func.max(UsageRecord.at))) <= NOW
        assert session.scalar(select(func.max(LedgerTransfer.created_at))  # (the demo buyer's top-up is real time)
                              .where(LedgerTransfer.ref != f"topup:{DEMO_TOPUP_REFERENCE}")) <= NOW
        # leases were metered: readings between start and release
        assert session.scalar(select(func.count()).select_from(UsageRecord)
                              .where(UsageRecord.event == "meter")) > loaded.report.orders


def test_the_reports_have_a_history(loaded):
    with loaded.db.unit_of_work(write=False) as session:
        days = reports.last_days(NOW, 30)
        volume = reports.daily_volume(session, days)
        assert sum(v.gross_fen > 0 for v in volume) >= 25
        assert sum(v.orders > 0 for v in volume) >= 25
        assert all(v.commission_fen + v.net_fen == v.gross_fen for v in volume)
        assert sum(v.commission_fen for v in volume) > 0
        # over the whole window (31 calendar days touch it), the volume is every order's charge: the GMV
        everything = reports.daily_volume(session, reports.last_days(NOW, 31))
        assert sum(v.gross_fen for v in everything) == loaded.report.gmv_fen > 0
        assert sum(v.orders for v in everything) == loaded.report.orders
        history = reports.utilization_history(session, days, NOW)
        busy_days = [sum(h.unit_seconds[i] for h in history) > 0 for i in range(len(days))]
        assert sum(busy_days) >= 25
        assert sum(any(h.unit_seconds) for h in history) >= 10  # a spread of data centers
        # the demo seller has sales and was paid out
        seller = session.scalar(select(User).where(User.email == DEMO_ACCOUNTS[1].email))
        own = reports.daily_volume(session, days, seller_org_id=seller.organization_id)
        assert sum(v.net_fen > 0 for v in own) >= 10
        assert invoices.seller_payouts(session, seller.organization_id)


def test_invoices_of_history_buyers_add_up_to_their_ledger(loaded):
    periods = sorted({invoices.period_of(NOW - dt.timedelta(days=31)), invoices.period_of(NOW)})
    with loaded.db.unit_of_work(write=False) as session:
        for name, org_id in _history_orgs(session).items():
            org = session.get_one(Organization, org_id)
            built = [invoices.build_invoice(session, org, period) for period in periods]
            charges = sum(invoice.totals()["charges_fen"] for invoice in built)
            topups = sum(invoice.totals()["topups_fen"] for invoice in built)
            held = session.scalar(select(LedgerAccount.id).where(LedgerAccount.owner_org_id == org_id,
                                                                 LedgerAccount.kind == AccountKind.BUYER_HELD))
            debited = session.scalar(select(func.coalesce(func.sum(LedgerTransfer.amount_fen), 0)).where(
                LedgerTransfer.debit_account_id == held,
                LedgerTransfer.kind.in_([TransferKind.CAPTURE, TransferKind.COMMISSION])))
            charged = session.scalar(select(func.coalesce(func.sum(Order.charged_fen), 0))
                                     .where(Order.buyer_org_id == org_id))
            assert charges == debited == charged > 0, name
            balances = ledger_store.balances_of(session, org_id)
            spent_or_held = charged + balances.get(AccountKind.BUYER_HELD, 0)
            assert topups == balances.get(AccountKind.BUYER_AVAILABLE, 0) + spent_or_held, name


def _chart(html: str, testid: str) -> dict[str, Any]:
    match = re.search(rf"data-testid=\"{testid}\" data-chart='([^']*)'", html)
    assert match, f"no chart {testid}"
    return json.loads(unescape(match.group(1)))


def _logged_in(database: Database, email: str) -> TestClient:
    from suanli.app import create_app

    client = TestClient(create_app(database))
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    return client


def test_the_operator_dashboard_and_the_seller_revenue_page_show_the_history(loaded):
    operator = _logged_in(loaded.db, DEMO_ACCOUNTS[2].email)
    dashboard = operator.get("/operator")
    assert dashboard.status_code == 200
    net, commission, orders = (s["data"] for s in _chart(dashboard.text, "chart-volume")["series"])
    assert len(net) == 30 and sum(n > 0 for n in net) >= 25 and sum(c > 0 for c in commission) >= 25
    assert sum(orders) >= loaded.report.orders - 15  # the first calendar day of the window is not shown
    utilization = _chart(dashboard.text, "chart-utilization")
    assert any(value > 0 for value in utilization["series"][0]["data"])

    seller = _logged_in(loaded.db, DEMO_ACCOUNTS[1].email)
    revenue = seller.get("/seller/revenue")
    assert revenue.status_code == 200
    series = _chart(revenue.text, "chart-revenue")["series"]
    assert sum(value > 0 for value in series[0]["data"]) >= 10
    overview = seller.get("/seller")
    assert overview.status_code == 200
    history = _chart(overview.text, "chart-utilization-history")
    assert any(value for s in history["series"] for value in s["data"])

    from suanli.web.i18n import format_money

    home = TestClient(operator.app).get("/")
    assert home.status_code == 200
    assert format_money(loaded.report.gmv_fen) in home.text  # the transaction volume
    assert re.search(rf"\b{loaded.report.orders}\b", home.text)  # orders placed


def test_loading_is_deterministic(loaded, tmp_path):
    """A second load into a fresh SQLite database gives the same orders, charges and balances (on the
    PostgreSQL run, the same as on SQLite)."""
    fresh = Database(f"sqlite:///{tmp_path / 'again.db'}")
    try:
        upgrade(fresh)
        again = _load(fresh)
        assert again == loaded.report
        assert figures(fresh) == figures(loaded.db)
    finally:
        fresh.dispose()


def test_utilization_history_has_stock_and_use_on_every_day_of_the_month(loaded):
    """The network is loaded "now" but its history is a month old: its stock must count from the month's start."""
    with loaded.db.unit_of_work(write=False) as session:
        days = reports.last_days(NOW, 30)
        rows = reports.utilization_history(session, days, NOW)
        in_stock_days = {i for row in rows for i, r in enumerate(row.ratios) if r is not None}
        used_days = {i for row in rows for i, r in enumerate(row.ratios) if r}
        assert in_stock_days == set(range(len(days)))
        assert len(used_days) >= 25
        busiest = max((r for row in rows for r in row.ratios if r is not None), default=0)
        assert 0.1 <= busiest <= 0.6  # an anchor tenant's data center, not more than was reserved


def test_the_readme_says_what_the_demo_does(loaded):
    """The README's figures about the demo are checked here, not remembered."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", readme)
    words = {"ten": 10, "eight": 8, "twelve": 12}
    buyers = re.search(r"(\w+) buyer organizations \(university labs", text)
    assert buyers and words[buyers.group(1)] == loaded.report.buyers
    orders = int(re.search(r"place about ([\d,]+) orders", text).group(1).replace(",", ""))
    assert abs(orders - loaded.report.orders) <= orders * 0.1, (orders, loaded.report.orders)
    running = int(re.search(r"about (\d+) orders still run", text).group(1))
    assert abs(running - loaded.report.active_orders) <= running * 0.15, (running, loaded.report.active_orders)
    network = re.search(r"(\d+) data centers \((\d+) in the Wuhu cluster\), ([\d,]+) products, (\d+) chip models",
                        text)
    with loaded.db.unit_of_work(write=False) as session:
        assert int(network.group(1)) == session.scalar(select(func.count()).select_from(Datacenter))
        wuhu = select(func.count()).select_from(Datacenter).join(Region, Region.id == Datacenter.region_id)
        assert int(network.group(2)) == session.scalar(wuhu.where(Region.cluster == "芜湖集群"))
        assert int(network.group(3).replace(",", "")) == session.scalar(select(func.count()).select_from(Product))
        chips = select(func.count(func.distinct(Product.chip_key))).where(Product.chip_key.is_not(None))
        assert int(network.group(4)) == session.scalar(chips)
        # the demo buyer's wallet takes no part in the history: its top-up is its only transfer
        demo_buyer = session.scalar(select(User.organization_id).where(User.email == DEMO_ACCOUNTS[0].email))
        own = select(LedgerAccount.id).where(LedgerAccount.owner_org_id == demo_buyer)
        assert session.execute(select(LedgerTransfer.kind, LedgerTransfer.amount_fen).where(
            LedgerTransfer.debit_account_id.in_(own) | LedgerTransfer.credit_account_id.in_(own))).all() == [
            (TransferKind.TOPUP, DEMO_TOPUP_FEN)]
    wallet = re.search(r"The demo buyer's own wallet \(¥([\d,]+)\) takes no part in the history", text)
    assert wallet and int(wallet.group(1).replace(",", "")) * 100 == DEMO_TOPUP_FEN
    # "in under N s": an upper bound (this machine is shared and slow; the bound holds with room to spare)
    bound = int(re.search(r"seeded, in under (\d+) s\)", text).group(1))
    assert loaded.history_seconds <= bound, (loaded.history_seconds, bound)


# Last in the module: it changes the demo (a request, a quote, a contract) that the tests above read as loaded.
def test_a_seller_in_the_demo_sees_open_requests_and_wins_one_with_a_presale_quote(loaded):
    from suanli.demo_demand import DEMO_REQUESTS

    with loaded.db.unit_of_work(write=False) as session:
        requests = session.scalars(select(QuoteRequest).order_by(QuoteRequest.created_at)).all()
        buyers = {o.id: o.name for o in session.scalars(select(Organization))}
        ah_datacenter = session.scalar(
            select(Datacenter.id).join(Region, Region.id == Datacenter.region_id)
            .join(User, User.organization_id == Datacenter.owner_org_id)
            .where(User.email == DEMO_ACCOUNTS[1].email, Region.province == "安徽").order_by(Datacenter.name))
    assert [r.title for r in requests] == [r.title for r in DEMO_REQUESTS]
    assert all(r.status.value == "open" and r.budget_fen > 0 for r in requests)
    seller = _logged_in(loaded.db, DEMO_ACCOUNTS[1].email)
    board = seller.get("/seller/rfqs").text
    assert all(r.title in board for r in requests)
    assert not any(buyers[r.buyer_org_id] in board for r in requests)  # anonymized
    demand = seller.get("/seller/demand").text
    assert "H100" in demand and 'data-testid="no-demand"' not in demand

    # The demo buyer asks for capacity nobody lists; the demo seller quotes it before buying the hardware.
    buyer = _logged_in(loaded.db, DEMO_ACCOUNTS[0].email)
    start = (NOW + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    form = {"title": "H100 试跑", "chip": "H100", "accelerators": "8", "units": "1", "billing_mode": "on_demand",
            "term_hours": "8", "earliest_start": start.strftime("%Y-%m-%dT%H:%M"),
            "latest_start": (start + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"), "province": "安徽",
            "max_price": "100"}
    posted = buyer.post("/account/rfqs", data=form | {"csrf_token": _csrf(buyer, "/account/rfqs")},
                        follow_redirects=False)
    assert posted.status_code == 303, posted.text[:3000]
    rfq_url = posted.headers["location"].split("?")[0]
    rfq_id = rfq_url.rsplit("/", 1)[1]
    assert "H100 试跑" in seller.get("/seller/rfqs").text
    quote = {"datacenter_id": str(ah_datacenter), "chip": "h100", "accelerators": "8", "presale": "on",
             "price": "88", "start_at": (start + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
             "deliver_by": (start + dt.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"), "penalty": "100"}
    sent = seller.post(f"/seller/rfqs/{rfq_id}/quotes",
                       data=quote | {"csrf_token": _csrf(seller, f"/seller/rfqs/{rfq_id}")}, follow_redirects=False)
    assert sent.status_code == 303, sent.text[:3000]
    shown = buyer.get(rfq_url).text
    quote_id = re.search(r'name="quote_id" value="([^"]+)"', shown).group(1)
    assert "预售" in shown and "¥88.00" in shown
    accepted = buyer.post(f"{rfq_url}/accept", data={"quote_id": quote_id, "csrf_token": _csrf(buyer, rfq_url)},
                          follow_redirects=False)
    assert accepted.status_code == 303, accepted.text[:3000]
    assert "待交付" in buyer.get(rfq_url).text
    assert re.search(r'action="/seller/contracts/[^/]+/deliver"', seller.get("/seller/rfqs").text)


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
