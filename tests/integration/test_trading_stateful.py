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
- buyers' and sellers' invoices, summed over their months, add up to the orders' charges and refunds;
- leases of a machine product (delivered by hand) hold units and money but charge nothing until every instance is
  delivered, start billing exactly then, and are refunded in full when refused or past the delivery deadline.
"""

from __future__ import annotations

import os

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
from suanli.instances import service as instances
from suanli.instances.lifecycle import run_pass
from suanli.instances.models import Instance, InstanceState
from suanli.instances.schemas import ManualDeliveryIn
from suanli.jobs.models import Job
from suanli.trading import invoices, jobs, service
from suanli.trading.ledger_store import ledger_store
from suanli.trading.models import (LedgerAccount, LedgerTransfer, Notification, Order, OrderMode, OrderStatus,
                                   UsageRecord)
from suanli.trading.schemas import ExtendIn, OrderIn, PayoutIn, RefundIn, SettingsPatch, TopupIn

STOCK = {"small": 2, "large": 4, "machine": 3}
# Outcomes a random step may legitimately meet (anything else — or a 500 — fails the test).
EXPECTED_CODES = {
    "place": {"insufficient_funds", "insufficient_stock"},
    "release": {"order_not_active", "reserved_not_releasable"},
    "cancel": {"order_not_active", "not_cancellable", "cancel_window_passed"},
    "extend": {"insufficient_funds", "not_extendable", "order_not_active"},
    "refund": {"insufficient_receivable"},
    "payout": {"insufficient_receivable"},
    "deliver": set(),
    "refuse": set(),
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
    machine = market.make.product(seller, datacenter, stock_units=STOCK["machine"], delivery="container",
                                  price_on_demand_fen=5000, price_reserved_month_fen=90_000, price_spot_floor_fen=1500)
    products = {"small": uuid.UUID(small["id"]), "large": uuid.UUID(large["id"])}
    machine_id = uuid.UUID(machine["id"])
    buyers = [quick_user(db, "buyer") for _ in range(2)]
    for i, buyer in enumerate(buyers):  # machine leases install the buyer's keys
        r = market.client.post("/api/v1/ssh-keys", headers=buyer["headers"], json={"public_key": (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + ("A" * 42 + str(i))[-43:] + " b@x")})
        assert r.status_code == 201, r.text
    buyer_users = [_user_id(market, b["email"]) for b in buyers]
    buyer_orgs = [uuid.UUID(b["org_id"]) for b in buyers]
    seller_org = uuid.UUID(seller["org_id"])
    seller_user = _user_id(market, seller["email"])

    class TradingMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with db.unit_of_work() as session:  # every example starts from an empty ledger and free stock
                for table in (Job, Instance, Notification, UsageRecord, LedgerTransfer, LedgerAccount, Order):
                    session.execute(delete(table))
                session.execute(update(Product).values(allocated_units=0))
                service.update_settings(session, SettingsPatch(commission_bp=500, spot_notice_seconds=300,
                                                               delivery_deadline_minutes=30), clock.now())
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

        @rule(buyer=st.integers(0, 1), units=st.integers(1, 2), mode=st.sampled_from(list(OrderMode)),
              term=st.sampled_from([1, 3]), bid_over=st.integers(0, 3000), keyed=st.booleans())
        def place_machine(self, buyer, units, mode, term, bid_over, keyed):
            """A lease of a machine product: provisioning (held, not billed) until its instances are delivered."""
            self.place_order(buyer, "machine", units, mode, term, bid_over, keyed)

        def place_order(self, buyer, product, units, mode, term, bid_over, keyed):
            floor = {"small": 1200, "large": 2000, "machine": 1500}[product]
            body = OrderIn(product_id=machine_id if product == "machine" else products[product], mode=mode,
                           units=units, term_months=term if mode is OrderMode.RESERVED else None,
                           bid_hourly_fen=floor + bid_over if mode is OrderMode.SPOT else None,
                           image="cpu-python" if product == "machine" else None)
            key = self.next_ref("key") if keyed else None

            def work(session):
                order, created = service.place_order(session, clock, session.get_one(User, buyer_users[buyer]),
                                                     body, key)
                assert created
                return order.id, order.status

            placed = self.attempt("place", work)
            if placed is not None:
                self.orders.append(placed[0])
                if mode is OrderMode.RESERVED and product != "machine":  # (a machine's term starts at delivery)
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

        def waiting_instance(self, data) -> uuid.UUID | None:
            with db.unit_of_work(write=False) as session:
                waiting = sorted(session.scalars(select(Instance.id).where(
                    Instance.state == InstanceState.PROVISIONING)))
            return data.draw(st.sampled_from(waiting)) if waiting else None

        def machines_wait(self) -> bool:
            with db.unit_of_work(write=False) as session:
                return session.scalar(select(Instance.id).where(Instance.state == InstanceState.PROVISIONING)
                                      .limit(1)) is not None

        @precondition(lambda self: self.machines_wait())
        @rule(data=st.data())
        def seller_delivers(self, data):
            instance_id = self.waiting_instance(data)
            if instance_id is None:
                return
            body = ManualDeliveryIn(ssh_host="node-1.example", ssh_port=2222, ssh_user="ubuntu")
            self.attempt("deliver", lambda s: instances.deliver_by_hand(s, clock, s.get_one(User, seller_user),
                                                                        instance_id, body))

        @precondition(lambda self: self.machines_wait())
        @rule(data=st.data())
        def seller_refuses(self, data):
            instance_id = self.waiting_instance(data)
            if instance_id is not None:
                self.attempt("refuse", lambda s: instances.refuse_delivery(
                    s, clock, s.get_one(User, seller_user), instance_id, "no capacity after all"))

        @rule(seconds=st.sampled_from([1, 60, 3600]), action=st.sampled_from(["release", "cancel"]))
        def machines_delivered_used_and_given_back(self, seconds, action):
            """The seller delivers every waiting machine, time passes, and the buyer ends the lease (release, or
            cancel, which a started lease past its free minute refuses); the loop then stops its machines."""
            with db.unit_of_work(write=False) as session:
                waiting = list(session.execute(select(Instance.id, Instance.order_id).where(
                    Instance.state == InstanceState.PROVISIONING)).all())
            body = ManualDeliveryIn(ssh_host="node-2.example", ssh_port=22, ssh_user="root2")
            for instance_id, _order in waiting:
                self.attempt("deliver", lambda s, i=instance_id: instances.deliver_by_hand(
                    s, clock, s.get_one(User, seller_user), i, body))
            clock.advance(seconds)
            for order_id in sorted({o for _, o in waiting}):
                with db.unit_of_work(write=False) as session:
                    org = session.scalar(select(Order.buyer_org_id).where(Order.id == order_id))
                end = service.release_order if action == "release" else service.cancel_order
                self.attempt(action, lambda s, o=order_id: end(s, clock, s.get_one(User, buyer_users[
                    buyer_orgs.index(org)]), o))
            self.instance_loop(0)

        @rule(buyer=st.integers(0, 1), mode=st.sampled_from([OrderMode.ON_DEMAND, OrderMode.RESERVED]))
        def machine_never_delivered(self, buyer, mode):
            """A machine lease nobody delivers: past its deadline the loop refunds it in full."""
            self.topup(buyer, 200_000)
            self.place_order(buyer, "machine", 1, mode, 1, 0, False)
            self.instance_loop(1801)

        @rule(seconds=st.sampled_from([0, 600, 1801]))
        def instance_loop(self, seconds):
            """Time passes and the instance loop runs: deadlines refund, ended leases stop their machines."""
            clock.advance(seconds)
            summary = run_pass(db, clock)
            assert not summary.errors, summary.errors
            self.outcomes["loop:refunded"] += len(summary.refunded)
            self.outcomes["loop:stopped"] += len(summary.stopped)

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
        def machines_are_billed_from_delivery(self):
            with db.unit_of_work(write=False) as session:
                for order in session.scalars(select(Order).where(Order.delivers_instances.is_(True))):
                    rows = list(session.scalars(select(Instance).where(Instance.order_id == order.id)))
                    assert len(rows) == order.units
                    if order.status in (OrderStatus.PROVISIONING, OrderStatus.PENDING):
                        assert order.charged_fen == 0 and order.started_at is None
                    if order.started_at is not None:  # it started: every instance was delivered, the last one then
                        assert all(i.delivered_at is not None for i in rows)
                        assert order.started_at == max(i.delivered_at for i in rows)
                    if order.end_reason is not None and order.end_reason.value == "not_delivered":
                        assert order.charged_fen == 0 and order.held_fen == 0

        @invariant()
        def stock_matches_open_allocations(self):
            with db.unit_of_work(write=False) as session:
                active = dict(session.execute(select(Order.product_id, func.sum(Order.units))
                                              .where(Order.status.in_([OrderStatus.ACTIVE, OrderStatus.PROVISIONING]))
                                              .group_by(Order.product_id)).all())
                for name, product_id in [*products.items(), ("machine", machine_id)]:
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
        max_examples=int(os.environ.get("SUANLI_STATEFUL_EXAMPLES", "20")), stateful_step_count=50, deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))
    # The random walk must have reached the interesting paths, or the invariants prove little.
    for outcome in ("place:active", "place:pending", "release", "meter:preempted", "meter:activated", "refund",
                    "place:insufficient_stock", "place:insufficient_funds", "extend", "place:provisioning",
                    "deliver", "refuse", "loop:refunded", "loop:stopped"):
        assert seen.get(outcome, 0) > 0, f"{outcome} never reached: {sorted(seen.items())}"
