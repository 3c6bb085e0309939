"""The trading services against the database, driven by a hypothesis state machine, on SQLite and PostgreSQL.

Random orders in every mode (on-demand, reserved, spot with bids, with and without an Idempotency-Key, retried),
releases, cancels, spot preemption by on-demand and reserved demand, reserved extensions, top-ups, refunds,
payouts, commission changes and meter runs, with a ``ManualClock`` moving time on by seconds, hours and months.
The real service functions run in their own unit of work per step, exactly as the API runs them. After every step:

- the trial balance is balanced (Σ debits == Σ credits, every stored balance equals its journal replay);
- no buyer's available (or held) balance is below zero;
- every product's free stock is its initial stock minus the units of its active orders (none lost or duplicated),
  pending orders hold money and no units;
- each buyer's available balance is what the model says: top-ups − charges + refunds − money held by orders;
- buyers' and sellers' invoices, summed over their months, add up to the orders' charges and refunds.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)
from sqlalchemy import delete, func, select, update
from trading_helpers import Market, new_market, quick_user

from suanli.accounts.models import User
from suanli.catalog.models import Product
from suanli.core.ledger import AccountKind
from suanli.errors import DomainError
from suanli.jobs.models import Job
from suanli.trading import invoices, jobs, service
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import (LedgerAccount, LedgerTransfer, Notification, Order, OrderMode, OrderStatus,
                                   UsageRecord)
from suanli.trading.schemas import ExtendIn, OrderIn, PayoutIn, RefundIn, SettingsPatch, TopupIn

STOCK = {"small": 2, "large": 4}
# Outcomes a random step may legitimately meet (anything else — or a 500 — fails the test).
EXPECTED_CODES = {
    "place": {"insufficient_funds", "insufficient_stock"},
    "release": {"order_not_active", "reserved_not_releasable"},
    "cancel": {"order_not_active", "not_cancellable", "cancel_window_passed"},
    "extend": {"insufficient_funds", "not_extendable", "order_not_active"},
    "refund": {"insufficient_receivable"},
    "payout": {"insufficient_receivable"},
}


@pytest.fixture
def market(db, make) -> Market:
    return new_market(db, make)


def _user_id(market: Market, email: str) -> uuid.UUID:
    with market.db.unit_of_work(write=False) as session:
        return session.scalar(select(User.id).where(User.email == email))


def test_random_trading_keeps_money_and_stock_consistent(market):
    db, clock = market.db, market.clock
    seller = quick_user(db, "seller")
    datacenter = market.make.datacenter(seller)
    small = market.make.product(seller, datacenter, stock_units=STOCK["small"], price_on_demand_fen=3600,
                                price_reserved_month_fen=50_000, price_spot_floor_fen=1200)
    large = market.make.product(seller, datacenter, stock_units=STOCK["large"],
                                price_on_demand_fen=7777, price_reserved_month_fen=123_457,
                                price_spot_floor_fen=2000, reserved_discounts_bp={"3": 500, "6": 1000})
    products = {"small": uuid.UUID(small["id"]), "large": uuid.UUID(large["id"])}
    buyers = [quick_user(db, "buyer") for _ in range(2)]
    buyer_users = [_user_id(market, b["email"]) for b in buyers]
    buyer_orgs = [uuid.UUID(b["org_id"]) for b in buyers]
    seller_org = uuid.UUID(seller["org_id"])
    seller_user = _user_id(market, seller["email"])

    class TradingMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with db.unit_of_work() as session:  # every example starts from an empty ledger and free stock
                for table in (Job, Notification, UsageRecord, LedgerTransfer, LedgerAccount, Order):
                    session.execute(delete(table))
                session.execute(update(Product).values(allocated_units=0))
                service.update_settings(session, SettingsPatch(commission_bp=500, spot_notice_seconds=300),
                                        clock.now())
            self.topped_up = defaultdict(int)
            self.paid_out = 0
            self.orders: list[uuid.UUID] = []
            self.reserved: list[uuid.UUID] = []
            self.keys: dict[str, tuple[int, OrderIn, uuid.UUID]] = {}
            self.n = 0
            self.outcomes: dict[str, int] = defaultdict(int)

        def next_ref(self, what: str) -> str:
            self.n += 1
            return f"{what}-{uuid.uuid4().hex[:8]}-{self.n}"

        def attempt(self, kind: str, work):
            """Run ``work(session)`` in its own unit of work; a domain error must be one this step may meet."""
            try:
                with db.unit_of_work() as session:
                    result = work(session)
            except DomainError as exc:
                assert exc.code in EXPECTED_CODES[kind], (kind, exc.code, exc.message)
                self.outcomes[f"{kind}:{exc.code}"] += 1
                return None
            self.outcomes[kind] += 1
            return result

        # ---------------------------------------------------------------- rules

        @initialize(first=st.sampled_from([60_000, 2_000_000]), second=st.sampled_from([5_000, 600_000]))
        def first_topups(self, first, second):
            self.topup(0, first)
            self.topup(1, second)

        @rule(buyer=st.integers(0, 1), amount=st.sampled_from([500, 5_000, 60_000, 2_000_000]))
        def topup(self, buyer, amount):
            body = TopupIn(organization_id=buyer_orgs[buyer], amount_fen=amount, reference=self.next_ref("bank"))
            created = self.attempt("topup", lambda s: service.topup(s, body, clock.now()).created)
            assert created
            self.topped_up[buyer] += amount

        @rule(buyer=st.integers(0, 1), product=st.sampled_from(sorted(products)), units=st.integers(1, 3),
              mode=st.sampled_from(list(OrderMode)), term=st.sampled_from([1, 3, 6]), bid_over=st.integers(0, 3000),
              keyed=st.booleans())
        def place(self, buyer, product, units, mode, term, bid_over, keyed):
            self.place_order(buyer, product, units, mode, term, bid_over, keyed)

        @rule(buyer=st.integers(0, 1), product=st.sampled_from(sorted(products)), units=st.integers(1, 2),
              bid_over=st.integers(0, 3000))
        def place_spot(self, buyer, product, units, bid_over):
            self.place_order(buyer, product, units, OrderMode.SPOT, 1, bid_over, False)

        @rule(buyer=st.integers(0, 1), product=st.sampled_from(sorted(products)), units=st.integers(1, 2),
              mode=st.sampled_from([OrderMode.ON_DEMAND, OrderMode.RESERVED]), keyed=st.booleans())
        def place_before_spot(self, buyer, product, units, mode, keyed):
            """On-demand and reserved demand preempts spot capacity when the free units are too few."""
            self.place_order(buyer, product, units, mode, 1, 0, keyed)

        @rule(spot_buyer=st.integers(0, 1), product=st.sampled_from(sorted(products)),
              mode=st.sampled_from([OrderMode.ON_DEMAND, OrderMode.RESERVED]))
        def spot_fills_then_demand_arrives(self, spot_buyer, product, mode):
            """A burst: spot bids take every free unit, then on-demand or reserved demand for one unit arrives
            (it is placed pending, with notices, if the money is there)."""
            with db.unit_of_work(write=False) as session:
                stock, allocated = session.execute(select(Product.stock_units, Product.allocated_units)
                                                   .where(Product.id == products[product])).one()
            for _ in range(stock - allocated):
                self.place_order(spot_buyer, product, 1, OrderMode.SPOT, 1, 0, False)
            self.place_order(1 - spot_buyer, product, 1, mode, 1, 0, True)

        def place_order(self, buyer, product, units, mode, term, bid_over, keyed):
            floor = 1200 if product == "small" else 2000
            body = OrderIn(product_id=products[product], mode=mode, units=units,
                           term_months=term if mode is OrderMode.RESERVED else None,
                           bid_hourly_fen=floor + bid_over if mode is OrderMode.SPOT else None)
            key = self.next_ref("key") if keyed else None

            def work(session):
                order, created = service.place_order(session, clock, session.get_one(User, buyer_users[buyer]),
                                                     body, key)
                assert created
                return order.id, order.status

            placed = self.attempt("place", work)
            if placed is not None:
                self.orders.append(placed[0])
                if mode is OrderMode.RESERVED:
                    self.reserved.append(placed[0])
                self.outcomes[f"place:{placed[1].value}"] += 1
                if key is not None:
                    self.keys[key] = (buyer, body, placed[0])

        @precondition(lambda self: self.keys)
        @rule(data=st.data())
        def retry_with_same_key(self, data):
            key = data.draw(st.sampled_from(sorted(self.keys)))
            buyer, body, order_id = self.keys[key]

            def work(session):
                order, created = service.place_order(session, clock, session.get_one(User, buyer_users[buyer]),
                                                     body, key)
                return order.id, created

            assert self.attempt("place", work) == (order_id, False)

        def pick_order(self, data, among: list[uuid.UUID] | None = None) -> tuple[uuid.UUID, int]:
            order_id = data.draw(st.sampled_from(among or self.orders))
            with db.unit_of_work(write=False) as session:
                org = session.scalar(select(Order.buyer_org_id).where(Order.id == order_id))
            return order_id, buyer_orgs.index(org)

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), action=st.sampled_from(["release", "cancel"]))
        def end_order(self, data, action):
            """Release or cancel one of the orders (whatever its state: refusals must be the expected 409s)."""
            order_id, buyer = self.pick_order(data)
            end = service.release_order if action == "release" else service.cancel_order
            self.attempt(action, lambda s: end(s, clock, s.get_one(User, buyer_users[buyer]), order_id))

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), months=st.sampled_from([1, 3]), reserved_only=st.booleans())
        def extend(self, data, months, reserved_only):
            order_id, buyer = self.pick_order(data, self.reserved if reserved_only and self.reserved else None)
            self.attempt("extend", lambda s: service.extend_order(
                s, clock, s.get_one(User, buyer_users[buyer]), order_id, ExtendIn(term_months=months)))

        @rule(seconds=st.sampled_from([1, 30, 301, 1800, 3600, 5 * 3600, 32 * 86400]))
        def advance_clock(self, seconds):
            clock.advance(seconds)

        @rule(seconds=st.sampled_from([30, 301, 3600]))
        def time_passes_and_the_meter_runs(self, seconds):
            clock.advance(seconds)
            self.run_meter()

        @rule()
        def run_meter(self):
            run = jobs.run_meter(db, clock)
            assert run.failed == 0, run
            self.outcomes["meter"] += 1
            self.outcomes["meter:preempted"] += run.preempted
            self.outcomes["meter:activated"] += run.activated
            self.outcomes["meter:stopped"] += run.stopped

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), share=st.sampled_from([1, 3, 10]))
        def refund(self, data, share):
            order_id, _ = self.pick_order(data)
            with db.unit_of_work(write=False) as session:
                charged, refunded = session.execute(select(Order.charged_fen, Order.refunded_fen)
                                                    .where(Order.id == order_id)).one()
            if charged == refunded:
                return
            body = RefundIn(amount_fen=max(1, (charged - refunded) // share), reference=self.next_ref("ticket"))
            self.attempt("refund", lambda s: service.refund_order(s, order_id, body, clock.now()))

        @rule(share=st.sampled_from([1, 2, 5]))
        def payout(self, share):
            with db.unit_of_work(write=False) as session:
                receivable = service.wallet(session, session.get_one(User, seller_user)).receivable_fen or 0
            if receivable == 0:
                return
            body = PayoutIn(organization_id=seller_org, amount_fen=max(1, receivable // share),
                            reference=self.next_ref("payout"))
            if self.attempt("payout", lambda s: service.payout(s, body, clock.now())) is not None:
                self.paid_out += body.amount_fen

        @rule(bp=st.sampled_from([0, 333, 500, 1500]), notice=st.sampled_from([0, 60, 300]))
        def change_settings(self, bp, notice):
            self.attempt("settings", lambda s: service.update_settings(
                s, SettingsPatch(commission_bp=bp, spot_notice_seconds=notice), clock.now()))

        # ---------------------------------------------------------------- invariants, after every step

        @invariant()
        def ledger_balanced_and_no_buyer_below_zero(self):
            with db.unit_of_work(write=False) as session:
                tb = ledger_store.trial_balance(session)
                assert tb.total_debits_fen == tb.total_credits_fen
                assert tb.balanced, [a for a in tb.accounts if not a.matches]
                for account in tb.accounts:
                    if account.kind in (AccountKind.BUYER_AVAILABLE, AccountKind.BUYER_HELD):
                        assert account.balance_fen >= 0, account

        @invariant()
        def stock_matches_open_allocations(self):
            with db.unit_of_work(write=False) as session:
                active = dict(session.execute(select(Order.product_id, func.sum(Order.units))
                                              .where(Order.status == OrderStatus.ACTIVE)
                                              .group_by(Order.product_id)).all())
                for name, product_id in products.items():
                    stock, allocated = session.execute(select(Product.stock_units, Product.allocated_units)
                                                       .where(Product.id == product_id)).one()
                    assert stock == STOCK[name]
                    assert allocated == (active.get(product_id) or 0), (name, allocated, active)
                    assert 0 <= stock - allocated == STOCK[name] - (active.get(product_id) or 0)
                pending_units = session.scalar(select(func.count()).select_from(Order).where(
                    Order.status == OrderStatus.PENDING, Order.started_at.is_not(None)))
                assert pending_units == 0  # a pending order never started, so it holds no units

        @invariant()
        def wallets_match_the_orders(self):
            with db.unit_of_work(write=False) as session:
                for i, org in enumerate(buyer_orgs):
                    held, charged, refunded = session.execute(
                        select(func.coalesce(func.sum(Order.held_fen), 0), func.coalesce(func.sum(Order.charged_fen), 0),
                               func.coalesce(func.sum(Order.refunded_fen), 0)).where(Order.buyer_org_id == org)).one()
                    balances = ledger_store.balances_of(session, org)
                    assert balances.get(AccountKind.BUYER_HELD, 0) == held
                    assert balances.get(AccountKind.BUYER_AVAILABLE, 0) == \
                        self.topped_up[i] - charged + refunded - held

        @invariant()
        def invoices_add_up_to_the_ledger(self):
            with db.unit_of_work(write=False) as session:
                for i, org in enumerate(buyer_orgs):
                    months = invoices.list_invoices(session, session.get_one(User, buyer_users[i]))
                    charged, refunded = session.execute(
                        select(func.coalesce(func.sum(Order.charged_fen), 0),
                               func.coalesce(func.sum(Order.refunded_fen), 0)).where(Order.buyer_org_id == org)).one()
                    assert sum(m.totals()["charges_fen"] for m in months) == charged
                    assert sum(m.totals()["refunds_fen"] for m in months) == refunded
                    assert sum(m.totals()["topups_fen"] for m in months) == self.topped_up[i]
                months = invoices.list_invoices(session, session.get_one(User, seller_user))
                gross = session.scalar(select(func.coalesce(func.sum(Order.charged_fen), 0))
                                       .where(Order.seller_org_id == seller_org))
                assert sum(m.totals()["gross_fen"] for m in months) == gross
                assert sum(m.totals()["payouts_fen"] for m in months) == self.paid_out
                for m in months:
                    assert m.totals()["gross_fen"] == m.totals()["net_fen"] + m.totals()["commission_fen"]

        def teardown(self):
            for outcome, count in self.outcomes.items():
                seen[outcome] += count

    seen: dict[str, int] = defaultdict(int)
    run_state_machine_as_test(TradingMachine, settings=settings(
        max_examples=30, stateful_step_count=50, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))
    # The random walk must have reached the interesting paths, or the invariants prove little.
    for outcome in ("place:active", "place:pending", "release", "meter:preempted", "meter:activated", "refund",
                    "place:insufficient_stock", "place:insufficient_funds", "extend"):
        assert seen.get(outcome, 0) > 0, (outcome, dict(seen))
