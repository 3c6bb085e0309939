"""The database ledger (``LedgerStore``) behaves exactly like the core's in-memory ``Ledger``, on both databases.

A hypothesis state machine applies random batches from the core planners — top-ups, holds, settles, refunds,
payouts, retries, conflicting retries and batches that overdraw — to both, each batch in its own unit of work,
and after every step compares outcomes, every balance and the trial balance.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import delete, select

from suanli.accounts.models import Organization, Role
from suanli.core.ledger import (ConflictingTransfer, Ledger, LedgerError, Transfer, plan_hold,
                                plan_payout, plan_refund, plan_settle, plan_topup, seller_receivable)
from suanli.db import Database
from suanli.trading.ledger_store import account_ref, ledger_store
from suanli.trading.models import LedgerAccount, LedgerTransfer

AT = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
amounts = st.integers(1, 5000)
rates = st.sampled_from([0, 1, 500, 1234, 10_000])


@dataclass
class Hold:
    buyer: str
    seller: str
    bp: int
    amount: int
    ref: str
    settled: bool = False
    used: int = 0
    refunded: int = 0


def _orgs(db: Database, role: Role, n: int) -> list[str]:
    with db.unit_of_work() as session:
        orgs = [Organization(name=f"{role.value} ledger {uuid.uuid4().hex[:8]}", kind=role) for _ in range(n)]
        session.add_all(orgs)
        session.flush()
        return [str(o.id) for o in orgs]


def test_ledger_store_matches_the_core_ledger(db):
    buyers, sellers = _orgs(db, Role.BUYER, 3), _orgs(db, Role.SELLER, 2)

    class LedgerStoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ledger = Ledger()
            self.holds: list[Hold] = []
            self.applied: list[list[Transfer]] = []
            self.n = 0
            with db.unit_of_work() as session:
                session.execute(delete(LedgerTransfer))
                session.execute(delete(LedgerAccount))

        def ref(self, what: str) -> str:
            self.n += 1
            return f"{what}:{self.n}"

        def run(self, plan: list[Transfer]) -> bool:
            """Apply to both; the outcomes must agree. True if applied."""
            try:
                expected: list[bool] | type[LedgerError] = self.ledger.apply_all(plan)
            except LedgerError as exc:
                expected = type(exc)
            try:
                with db.unit_of_work() as session:
                    got: list[bool] | type[LedgerError] = ledger_store.apply(session, plan, at=AT)
            except LedgerError as exc:
                got = type(exc)
            assert got == expected, (plan, got, expected)
            if isinstance(expected, list) and any(expected):
                self.applied.append(plan)
            return isinstance(expected, list)

        @rule(buyer=st.sampled_from(buyers), amount=amounts)
        def topup(self, buyer, amount):
            assert self.run(plan_topup(buyer, amount, self.ref("topup")))

        @rule(buyer=st.sampled_from(buyers), seller=st.sampled_from(sellers), bp=rates, amount=amounts)
        def hold(self, buyer, seller, bp, amount):
            ref = self.ref("order")
            if self.run(plan_hold(buyer, amount, ref)):
                self.holds.append(Hold(buyer, seller, bp, amount, ref))

        @precondition(lambda self: any(not h.settled for h in self.holds))
        @rule(data=st.data())
        def settle(self, data):
            hold = data.draw(st.sampled_from([h for h in self.holds if not h.settled]))
            used = data.draw(st.integers(0, hold.amount))
            assert self.run(plan_settle(hold.buyer, hold.seller, hold.amount, used, hold.bp, hold.ref))
            hold.settled, hold.used = True, used

        @precondition(lambda self: any(h.used > h.refunded for h in self.holds))
        @rule(data=st.data())
        def refund(self, data):
            hold = data.draw(st.sampled_from([h for h in self.holds if h.used > h.refunded]))
            amount = data.draw(st.integers(1, hold.used - hold.refunded))
            plan = plan_refund(hold.buyer, hold.seller, amount, hold.bp, self.ref(f"{hold.ref}:refund"),
                               already_refunded_fen=hold.refunded, settled_fen=hold.used)
            if self.run(plan):  # may fail: the seller may have been paid out meanwhile
                hold.refunded += amount

        @rule(seller=st.sampled_from(sellers), data=st.data())
        def payout(self, seller, data):
            amount = data.draw(st.integers(1, self.ledger.balance(seller_receivable(seller)) + 100))
            self.run(plan_payout(seller, amount, self.ref("payout")))

        @precondition(lambda self: self.applied)
        @rule(data=st.data())
        def retry(self, data):
            plan = data.draw(st.sampled_from(self.applied))
            assert self.run(plan)

        @precondition(lambda self: self.applied)
        @rule(data=st.data(), delta=st.integers(1, 100))
        def conflicting_retry(self, data, delta):
            old = data.draw(st.sampled_from(data.draw(st.sampled_from(self.applied))))
            changed = Transfer(old.id, old.debit, old.credit, old.amount_fen + delta, old.kind, old.ref)
            with pytest.raises(ConflictingTransfer):
                self.ledger.apply(changed)
            assert not self.run([changed])

        @rule(buyer=st.sampled_from(buyers), extra=amounts)
        def overdraft_batch(self, buyer, extra):
            """A valid top-up followed by a hold of more than there is: nothing at all happens."""
            ref = self.ref("greedy")
            available = self.ledger.balance(plan_topup(buyer, 1, "x")[0].credit)
            plan = plan_topup(buyer, 5, ref) + plan_hold(buyer, available + 5 + extra, ref)
            assert not self.run(plan)

        @invariant()
        def same_balances_and_balanced(self):
            with db.unit_of_work(write=False) as session:
                stored = {account_ref(a): a.balance_fen for a in session.scalars(select(LedgerAccount))}
                tb = ledger_store.trial_balance(session)
                journal = ledger_store.journal(session)
            core = self.ledger.balances()
            assert {k: v for k, v in stored.items() if v or k in core} == core
            assert tb.balanced
            assert [t.id for t in journal] == [t.id for t in self.ledger.journal]

    run_state_machine_as_test(LedgerStoreMachine, settings=settings(max_examples=15, stateful_step_count=25,
                                                                    deadline=None))
