from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from suanli.core.ledger import (
    PLATFORM_CASH,
    PLATFORM_COMMISSION,
    AccountKind,
    AccountRef,
    ConflictingTransfer,
    InsufficientFunds,
    Ledger,
    Transfer,
    TransferKind,
    buyer_available,
    buyer_held,
    commission_fen,
    leg_id,
    plan_capture,
    plan_hold,
    plan_payout,
    plan_refund,
    plan_release,
    plan_settle,
    plan_topup,
    seller_receivable,
    split_commission,
)
from suanli.core.money import round_fen

BUYER, SELLER = "org-buyer", "org-seller"


def funded(amount: int = 100_000, buyer: str = BUYER) -> Ledger:
    ledger = Ledger()
    ledger.apply_all(plan_topup(buyer, amount, f"topup-{buyer}"))
    return ledger


def state(ledger: Ledger) -> tuple:
    return ledger.balances(), ledger.journal


# --- accounts and transfers -------------------------------------------------------------------------------

def test_only_platform_cash_may_go_negative():
    assert [k for k in AccountKind if not k.non_negative] == [AccountKind.PLATFORM_CASH]
    assert {k for k in AccountKind if k.platform} == {AccountKind.PLATFORM_CASH, AccountKind.PLATFORM_COMMISSION}


def test_account_refs_name_their_owner():
    assert buyer_available("o1") == AccountRef(AccountKind.BUYER_AVAILABLE, "o1")
    assert str(buyer_held("o1")) == "buyer_held:o1"
    assert str(PLATFORM_CASH) == "platform_cash"
    assert AccountRef("seller_receivable", "o2").kind is AccountKind.SELLER_RECEIVABLE  # stored string form


@pytest.mark.parametrize(("kind", "owner"), [
    (AccountKind.BUYER_AVAILABLE, None), (AccountKind.BUYER_HELD, ""), (AccountKind.SELLER_RECEIVABLE, None),
    (AccountKind.PLATFORM_CASH, "o1"), (AccountKind.PLATFORM_COMMISSION, "o1"),
])
def test_account_owner_must_fit_the_kind(kind, owner):
    with pytest.raises(ValueError):
        AccountRef(kind, owner)


def test_unknown_account_kind_is_refused():
    with pytest.raises(ValueError):
        AccountRef("wallet", "o1")


def hold(amount=100, tid="t1", debit=None, credit=None, kind=TransferKind.HOLD):
    return Transfer(tid, debit or buyer_available(BUYER), credit or buyer_held(BUYER), amount, kind, "ref")


@pytest.mark.parametrize("amount", [0, -1])
def test_transfer_amount_must_be_positive(amount):
    with pytest.raises(ValueError, match="positive"):
        hold(amount)


@pytest.mark.parametrize("amount", [1.0, True, Decimal(1), "1"])
def test_transfer_amount_must_be_int_fen(amount):
    with pytest.raises(TypeError):
        hold(amount)


def test_transfer_needs_two_accounts():
    with pytest.raises(ValueError, match="same account"):
        hold(debit=buyer_available(BUYER), credit=buyer_available(BUYER), kind=TransferKind.TOPUP)
    with pytest.raises(TypeError):
        Transfer("t", "buyer_available", buyer_held(BUYER), 1, TransferKind.HOLD, "r")


@pytest.mark.parametrize(("kind", "debit", "credit"), [
    (TransferKind.HOLD, buyer_available(BUYER), seller_receivable(SELLER)),
    (TransferKind.CAPTURE, buyer_available(BUYER), seller_receivable(SELLER)),  # charges go through a hold
    (TransferKind.TOPUP, PLATFORM_CASH, seller_receivable(SELLER)),
    (TransferKind.PAYOUT, buyer_available(BUYER), PLATFORM_CASH),
    (TransferKind.REFUND, buyer_held(BUYER), buyer_available(BUYER)),
    (TransferKind.COMMISSION, buyer_available(BUYER), PLATFORM_COMMISSION),
])
def test_transfer_kind_fixes_its_accounts(kind, debit, credit):
    with pytest.raises(ValueError, match="cannot move money"):
        hold(debit=debit, credit=credit, kind=kind)


def test_holds_and_releases_stay_within_one_buyer():
    with pytest.raises(ValueError, match="within one buyer"):
        hold(credit=buyer_held("someone-else"))
    with pytest.raises(ValueError, match="within one buyer"):
        hold(debit=buyer_held(BUYER), credit=buyer_available("x"), kind=TransferKind.RELEASE)


def test_transfer_needs_id_and_ref():
    with pytest.raises(ValueError, match="id"):
        hold(tid="")
    with pytest.raises(ValueError, match="ref"):
        Transfer("t", buyer_available(BUYER), buyer_held(BUYER), 1, TransferKind.HOLD, "")


def test_transfer_kind_accepts_its_stored_string():
    assert hold(kind="hold").kind is TransferKind.HOLD


# --- the ledger ------------------------------------------------------------------------------------------

def test_untouched_account_has_zero_balance():
    assert Ledger().balance(buyer_available(BUYER)) == 0
    assert Ledger().trial_balance().balanced


def test_topup_credits_the_buyer_and_debits_platform_cash():
    ledger = funded(5000)
    assert ledger.balance(buyer_available(BUYER)) == 5000
    assert ledger.balance(PLATFORM_CASH) == -5000
    trial = ledger.trial_balance()
    assert (trial.total_debits, trial.total_credits, trial.balanced) == (5000, 5000, True)
    assert trial.balances == {buyer_available(BUYER): 5000, PLATFORM_CASH: -5000}


def test_apply_is_idempotent_by_id():
    ledger = funded(5000)
    transfer = hold(300)
    assert ledger.apply(transfer) is True
    assert ledger.apply(transfer) is False
    assert ledger.balance(buyer_held(BUYER)) == 300
    assert len(ledger.journal) == 2
    assert "t1" in ledger and ledger.get("t1") == transfer and ledger.get("nope") is None


def test_same_id_with_other_content_conflicts_and_changes_nothing():
    ledger = funded(5000)
    ledger.apply(hold(300))
    before = state(ledger)
    with pytest.raises(ConflictingTransfer) as error:
        ledger.apply(hold(301))
    assert error.value.existing.amount_fen == 300 and error.value.new.amount_fen == 301
    assert state(ledger) == before


def test_insufficient_funds_changes_nothing():
    ledger = funded(500)
    before = state(ledger)
    with pytest.raises(InsufficientFunds) as error:
        ledger.apply(hold(501))
    assert (error.value.account, error.value.balance, error.value.amount) == (buyer_available(BUYER), 500, 501)
    assert state(ledger) == before
    assert ledger.apply(hold(500))  # exactly all of it is fine


def test_platform_cash_is_the_only_account_that_goes_negative():
    ledger = Ledger()
    ledger.apply_all(plan_topup(BUYER, 10**12, "big"))
    assert ledger.balance(PLATFORM_CASH) == -(10**12)
    with pytest.raises(InsufficientFunds):
        ledger.apply_all(plan_payout(SELLER, 1, "p"))


def test_apply_all_is_atomic():
    ledger = funded(1000)
    before = state(ledger)
    batch = plan_hold(BUYER, 600, "h1") + plan_hold(BUYER, 600, "h2")  # second one overdraws
    with pytest.raises(InsufficientFunds) as error:
        ledger.apply_all(batch)
    assert error.value.balance == 400  # checked in order, after the first hold
    assert state(ledger) == before


def test_apply_all_sees_earlier_transfers_in_the_batch():
    ledger = Ledger()
    assert ledger.apply_all(plan_topup(BUYER, 700, "t") + plan_hold(BUYER, 700, "h")) == [True, True]


def test_apply_all_repeats_and_conflicts_within_a_batch():
    ledger = funded(1000)
    assert ledger.apply_all([hold(10), hold(10)]) == [True, False]
    assert ledger.balance(buyer_held(BUYER)) == 10
    before = state(ledger)
    with pytest.raises(ConflictingTransfer):
        ledger.apply_all([hold(10, tid="x"), hold(11, tid="x")])
    assert state(ledger) == before


def test_apply_refuses_what_is_not_a_transfer():
    with pytest.raises(TypeError):
        Ledger().apply_all(["t1"])


def test_replay_rebuilds_the_same_balances():
    ledger = funded(10_000)
    ledger.apply_all(plan_hold(BUYER, 4000, "lease") + plan_settle(BUYER, SELLER, 4000, 2500, 800, "lease"))
    ledger.apply_all(plan_payout(SELLER, 1000, "payout-1"))
    copy = Ledger.replay(ledger.journal)
    assert copy.balances() == ledger.balances()
    assert copy.trial_balance() == ledger.trial_balance()


def test_replay_of_a_bad_journal_fails():
    with pytest.raises(InsufficientFunds):
        Ledger.replay(plan_hold(BUYER, 1, "h"))


def test_trial_balance_notices_balances_that_disagree_with_the_journal():
    ledger = funded(100)
    ledger._balances[buyer_available(BUYER)] += 1  # simulate a corrupted balance
    assert not ledger.trial_balance().balanced


# --- commission ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "bp", "commission"), [
    (1000, 500, 50), (30, 500, 2), (29, 500, 1), (10, 250, 0), (1, 5000, 1), (1, 4999, 0),
    (12345, 0, 0), (12345, 10_000, 12345), (0, 700, 0),
])
def test_commission_is_rounded_half_up(amount, bp, commission):
    assert commission_fen(amount, bp) == commission


@pytest.mark.parametrize("bp", [-1, 10_001])
def test_commission_rate_is_between_0_and_100_percent(bp):
    with pytest.raises(ValueError, match="commission_bp"):
        commission_fen(100, bp)


def test_commission_rate_must_be_int_basis_points():
    with pytest.raises(TypeError):
        commission_fen(100, 5.0)
    with pytest.raises(TypeError):
        commission_fen(100.0, 5)
    with pytest.raises(ValueError):
        commission_fen(-1, 5)


def test_split_commission_on_the_cumulative_amount():
    # 30 fen at 5 %: 1.5 → 2. Split as 15 + 15 one at a time, each would round 0.75 → 1; cumulatively 1 + 1.
    assert split_commission(30, 500) == (28, 2)
    assert split_commission(15, 500) == (14, 1)
    assert split_commission(15, 500, already_fen=15) == (14, 1)
    # 10 fen at 5 %: 0.5 → 1; twice separately would be 2, cumulatively 1 (20 fen → 1).
    assert split_commission(10, 500) == (9, 1)
    assert split_commission(10, 500, already_fen=10) == (10, 0)


@given(st.integers(0, 10**15), st.integers(0, 10_000))
def test_commission_matches_round_fen(amount, bp):
    assert commission_fen(amount, bp) == round_fen(Decimal(amount) * bp / 10_000)


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10_000))
def test_split_always_adds_up_and_never_goes_negative(amount, already, bp):
    seller, platform = split_commission(amount, bp, already_fen=already)
    assert seller + platform == amount
    assert seller >= 0 and platform >= 0


@given(st.lists(st.integers(0, 10**6), max_size=30), st.integers(0, 10_000))
def test_a_series_of_splits_adds_up_to_the_split_of_the_total(amounts, bp):
    already = sellers = platforms = 0
    for amount in amounts:
        seller, platform = split_commission(amount, bp, already_fen=already)
        already, sellers, platforms = already + amount, sellers + seller, platforms + platform
    assert (sellers, platforms) == split_commission(sum(amounts), bp)


# --- planners --------------------------------------------------------------------------------------------

def test_default_ids_are_ref_and_leg():
    assert leg_id("lease-1", "hold") == "lease-1:hold"
    [topup] = plan_topup(BUYER, 100, "pay-1")
    assert topup == Transfer("pay-1:topup", PLATFORM_CASH, buyer_available(BUYER), 100, TransferKind.TOPUP, "pay-1")


def test_single_leg_planners():
    assert plan_hold(BUYER, 5, "h") == [Transfer("h:hold", buyer_available(BUYER), buyer_held(BUYER), 5,
                                                 TransferKind.HOLD, "h")]
    assert plan_release(BUYER, 5, "h") == [Transfer("h:release", buyer_held(BUYER), buyer_available(BUYER), 5,
                                                    TransferKind.RELEASE, "h")]
    assert plan_payout(SELLER, 5, "p") == [Transfer("p:payout", seller_receivable(SELLER), PLATFORM_CASH, 5,
                                                    TransferKind.PAYOUT, "p")]


@pytest.mark.parametrize("planner", [plan_topup, plan_hold, plan_release, plan_payout])
def test_single_leg_planners_skip_zero_and_refuse_negative(planner):
    assert planner("org", 0, "r") == []
    with pytest.raises(ValueError):
        planner("org", -1, "r")
    with pytest.raises(TypeError):
        planner("org", 1.5, "r")


def test_custom_ids():
    counter = iter(range(100))
    plan = plan_settle(BUYER, SELLER, 100, 50, 1000, "s", ids=lambda ref, leg: f"{next(counter)}-{leg}")
    assert [t.id for t in plan] == ["0-capture", "1-commission", "2-release"]


def test_settle_captures_commission_and_releases_the_rest():
    plan = plan_settle(BUYER, SELLER, 10_000, 6000, 1000, "lease-1")
    assert [(t.id, t.kind, t.debit, t.credit, t.amount_fen) for t in plan] == [
        ("lease-1:capture", TransferKind.CAPTURE, buyer_held(BUYER), seller_receivable(SELLER), 5400),
        ("lease-1:commission", TransferKind.COMMISSION, buyer_held(BUYER), PLATFORM_COMMISSION, 600),
        ("lease-1:release", TransferKind.RELEASE, buyer_held(BUYER), buyer_available(BUYER), 4000),
    ]
    ledger = funded(10_000)
    ledger.apply_all(plan_hold(BUYER, 10_000, "lease-1") + plan)
    assert ledger.balance(buyer_held(BUYER)) == 0
    assert ledger.balance(buyer_available(BUYER)) == 4000
    assert ledger.balance(seller_receivable(SELLER)) == 5400
    assert ledger.balance(PLATFORM_COMMISSION) == 600


def test_settle_omits_zero_legs():
    assert [t.kind for t in plan_settle(BUYER, SELLER, 100, 100, 1000, "a")] == [TransferKind.CAPTURE,
                                                                                TransferKind.COMMISSION]
    assert [t.kind for t in plan_settle(BUYER, SELLER, 100, 0, 1000, "b")] == [TransferKind.RELEASE]
    assert [t.kind for t in plan_settle(BUYER, SELLER, 100, 100, 0, "c")] == [TransferKind.CAPTURE]
    assert [t.kind for t in plan_settle(BUYER, SELLER, 100, 100, 10_000, "d")] == [TransferKind.COMMISSION]
    assert plan_settle(BUYER, SELLER, 0, 0, 500, "e") == []


def test_settle_cannot_use_more_than_was_held():
    with pytest.raises(ValueError, match="more than"):
        plan_settle(BUYER, SELLER, 100, 101, 500, "x")
    with pytest.raises(ValueError):
        plan_settle(BUYER, SELLER, -1, 0, 500, "x")
    with pytest.raises(ValueError):
        plan_settle(BUYER, SELLER, 100, 50, 10_001, "x")


def test_capture_keeps_the_hold_open_and_does_not_drift():
    ledger = funded(1000)
    ledger.apply_all(plan_hold(BUYER, 1000, "lease"))
    captured = 0
    for tick in range(3):  # 10 fen per tick at 5 %: 0.5 each, but 1 fen on 20 and 2 fen on 30 in total
        ledger.apply_all(plan_capture(BUYER, SELLER, 10, 500, f"lease:tick:{tick}", already_captured_fen=captured))
        captured += 10
    ledger.apply_all(plan_settle(BUYER, SELLER, 970, 0, 500, "lease:end", already_captured_fen=captured))
    assert ledger.balance(PLATFORM_COMMISSION) == commission_fen(30, 500) == 2
    assert ledger.balance(seller_receivable(SELLER)) == 28
    assert ledger.balance(buyer_available(BUYER)) == 970


def test_reserved_upfront_payment_is_a_hold_and_a_full_settle_in_one_batch():
    price = 7_140_000
    ledger = funded(price)
    ledger.apply_all(plan_hold(BUYER, price, "order-9") + plan_settle(BUYER, SELLER, price, price, 500, "order-9"))
    assert ledger.balance(seller_receivable(SELLER)) + ledger.balance(PLATFORM_COMMISSION) == price
    assert ledger.balance(PLATFORM_COMMISSION) == 357_000
    assert ledger.balance(buyer_held(BUYER)) == ledger.balance(buyer_available(BUYER)) == 0


def test_refund_comes_back_in_the_proportions_of_the_split():
    plan = plan_refund(BUYER, SELLER, 1000, 1000, "refund-1")
    assert [(t.id, t.debit, t.credit, t.amount_fen) for t in plan] == [
        ("refund-1:refund_commission", PLATFORM_COMMISSION, buyer_available(BUYER), 100),
        ("refund-1:refund_seller", seller_receivable(SELLER), buyer_available(BUYER), 900),
    ]
    assert all(t.kind is TransferKind.REFUND for t in plan)
    assert [t.debit for t in plan_refund(BUYER, SELLER, 1000, 0, "r")] == [seller_receivable(SELLER)]
    assert plan_refund(BUYER, SELLER, 0, 500, "r") == []


def test_refunding_everything_in_parts_reverses_the_settlement_exactly():
    ledger = funded(1000)
    ledger.apply_all(plan_hold(BUYER, 1000, "l") + plan_settle(BUYER, SELLER, 1000, 30, 500, "l"))
    assert ledger.balance(PLATFORM_COMMISSION) == 2
    refunded = 0
    for n, amount in enumerate([10, 10, 10]):
        ledger.apply_all(plan_refund(BUYER, SELLER, amount, 500, f"l:refund:{n}", already_refunded_fen=refunded,
                                     settled_fen=30))
        refunded += amount
    assert ledger.balance(PLATFORM_COMMISSION) == ledger.balance(seller_receivable(SELLER)) == 0
    assert ledger.balance(buyer_available(BUYER)) == 1000


def test_refund_cannot_exceed_what_was_settled():
    with pytest.raises(ValueError, match="exceeds"):
        plan_refund(BUYER, SELLER, 11, 500, "r", already_refunded_fen=20, settled_fen=30)
    assert plan_refund(BUYER, SELLER, 10, 500, "r", already_refunded_fen=20, settled_fen=30)
    with pytest.raises(ValueError):
        plan_refund(BUYER, SELLER, -1, 500, "r")
    with pytest.raises(ValueError):
        plan_refund(BUYER, SELLER, 1, 500, "r", already_refunded_fen=-1)


def test_refund_after_the_seller_was_paid_out_fails_whole():
    ledger = funded(1000)
    ledger.apply_all(plan_hold(BUYER, 1000, "l") + plan_settle(BUYER, SELLER, 1000, 1000, 1000, "l"))
    ledger.apply_all(plan_payout(SELLER, 900, "p"))
    before = state(ledger)
    with pytest.raises(InsufficientFunds) as error:  # the commission leg alone would have been fine
        ledger.apply_all(plan_refund(BUYER, SELLER, 1000, 1000, "r"))
    assert error.value.account == seller_receivable(SELLER)
    assert state(ledger) == before


def test_retrying_a_plan_is_harmless():
    ledger = funded(1000)
    plan = plan_hold(BUYER, 400, "l") + plan_settle(BUYER, SELLER, 400, 100, 300, "l")
    assert all(ledger.apply_all(plan))
    before = state(ledger)
    assert ledger.apply_all(plan) == [False] * len(plan)
    assert state(ledger) == before
    with pytest.raises(ConflictingTransfer):  # the same ref reused for another event is caught
        ledger.apply_all(plan_hold(BUYER, 500, "l"))


# --- state machine ---------------------------------------------------------------------------------------

BUYERS = ("b1", "b2", "b3")
SELLERS = ("s1", "s2")
amounts = st.one_of(st.integers(0, 50), st.integers(0, 200_000))
rates = st.one_of(st.sampled_from([0, 1, 500, 5000, 9999, 10_000]), st.integers(0, 10_000))


@dataclass
class Lease:
    """The model's view of one hold (a lease or an order)."""

    buyer: str
    seller: str
    bp: int
    remaining: int  # still held
    captured: int = 0
    refunded: int = 0
    open: bool = True


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.leases: list[Lease] = []
        self.payouts = dict.fromkeys(SELLERS, 0)
        self.applied: list[list[Transfer]] = []
        self.n = 0

    def ref(self, what: str) -> str:
        self.n += 1
        return f"{what}-{self.n}"

    def run(self, plan: list[Transfer], should_fail: bool) -> bool:
        """Apply a plan; it must fail with InsufficientFunds exactly when the model says so."""
        before = state(self.ledger)
        try:
            self.ledger.apply_all(plan)
        except InsufficientFunds as error:
            assert should_fail, plan
            event(f"insufficient {error.account.kind}")
            assert state(self.ledger) == before
            return False
        assert not should_fail, plan
        if plan:
            self.applied.append(plan)
        return True

    def available(self, buyer: str) -> int:
        return self.ledger.balance(buyer_available(buyer))

    @rule(buyer=st.sampled_from(BUYERS), amount=amounts)
    def topup(self, buyer, amount):
        self.run(plan_topup(buyer, amount, self.ref("topup")), should_fail=False)

    @rule(buyer=st.sampled_from(BUYERS), seller=st.sampled_from(SELLERS), bp=rates, amount=amounts)
    def hold(self, buyer, seller, bp, amount):
        if self.run(plan_hold(buyer, amount, self.ref("hold")), should_fail=amount > self.available(buyer)):
            self.leases.append(Lease(buyer, seller, bp, amount))

    def open_lease(self, data) -> Lease:
        return data.draw(st.sampled_from([lease for lease in self.leases if lease.open]))

    @precondition(lambda self: any(lease.open for lease in self.leases))
    @rule(data=st.data())
    def capture(self, data):
        lease = self.open_lease(data)
        amount = data.draw(st.integers(0, lease.remaining))
        plan = plan_capture(lease.buyer, lease.seller, amount, lease.bp, self.ref("capture"),
                            already_captured_fen=lease.captured)
        self.run(plan, should_fail=False)
        lease.remaining -= amount
        lease.captured += amount

    @precondition(lambda self: any(lease.open for lease in self.leases))
    @rule(data=st.data())
    def settle(self, data):
        lease = self.open_lease(data)
        used = data.draw(st.integers(0, lease.remaining))
        plan = plan_settle(lease.buyer, lease.seller, lease.remaining, used, lease.bp, self.ref("settle"),
                           already_captured_fen=lease.captured)
        self.run(plan, should_fail=False)
        lease.captured += used
        lease.remaining, lease.open = 0, False

    @precondition(lambda self: any(lease.open for lease in self.leases))
    @rule(data=st.data())
    def release(self, data):
        lease = self.open_lease(data)
        self.run(plan_release(lease.buyer, lease.remaining, self.ref("release")), should_fail=False)
        lease.remaining, lease.open = 0, False

    @precondition(lambda self: any(lease.captured > lease.refunded for lease in self.leases))
    @rule(data=st.data())
    def refund(self, data):
        lease = data.draw(st.sampled_from([lease for lease in self.leases if lease.captured > lease.refunded]))
        amount = data.draw(st.integers(1, lease.captured - lease.refunded))
        plan = plan_refund(lease.buyer, lease.seller, amount, lease.bp, self.ref("refund"),
                           already_refunded_fen=lease.refunded, settled_fen=lease.captured)
        seller_part, platform_part = split_commission(amount, lease.bp, already_fen=lease.refunded)
        assert platform_part <= self.ledger.balance(PLATFORM_COMMISSION)  # commission is never paid out
        short = seller_part > self.ledger.balance(seller_receivable(lease.seller))  # seller was paid out
        if self.run(plan, should_fail=short):
            lease.refunded += amount

    @rule(seller=st.sampled_from(SELLERS), data=st.data())
    def payout(self, seller, data):
        receivable = self.ledger.balance(seller_receivable(seller))
        amount = data.draw(st.integers(0, receivable + 100))  # sometimes more than there is
        if self.run(plan_payout(seller, amount, self.ref("payout")), should_fail=amount > receivable):
            self.payouts[seller] += amount

    @precondition(lambda self: self.applied)
    @rule(data=st.data())
    def retry(self, data):
        plan = data.draw(st.sampled_from(self.applied))
        before = state(self.ledger)
        assert self.ledger.apply_all(plan) == [False] * len(plan)
        assert state(self.ledger) == before

    @precondition(lambda self: self.applied)
    @rule(data=st.data(), delta=st.integers(1, 100))
    def conflict(self, data, delta):
        plan = data.draw(st.sampled_from(self.applied))
        old = data.draw(st.sampled_from(plan))
        forged = Transfer(old.id, old.debit, old.credit, old.amount_fen + delta, old.kind, old.ref)
        before = state(self.ledger)
        with pytest.raises(ConflictingTransfer):
            self.ledger.apply_all(plan_topup("b1", 1, self.ref("topup")) + [forged])
        assert state(self.ledger) == before

    @rule(buyer=st.sampled_from(BUYERS), extra=st.integers(1, 1000))
    def failing_batch(self, buyer, extra):
        """A valid leg followed by an overdraft: nothing at all happens."""
        plan = plan_topup(buyer, 5, self.ref("topup")) + plan_hold(buyer, self.available(buyer) + 5 + extra,
                                                                   self.ref("hold"))
        self.run(plan, should_fail=True)

    @invariant()
    def books_balance(self):
        trial = self.ledger.trial_balance()
        assert trial.balanced
        assert trial.total_debits == trial.total_credits
        assert sum(trial.balances.values()) == 0

    @invariant()
    def nothing_below_zero(self):
        for account, balance in self.ledger.balances().items():
            if account.kind.non_negative:
                assert balance >= 0, account
            else:
                assert balance <= 0, account

    @invariant()
    def held_is_the_sum_of_open_holds(self):
        for buyer in BUYERS:
            open_holds = sum(lease.remaining for lease in self.leases if lease.buyer == buyer and lease.open)
            assert self.ledger.balance(buyer_held(buyer)) == open_holds
        assert all(lease.remaining == 0 for lease in self.leases if not lease.open)

    @invariant()
    def splits_never_drift(self):
        commission = sum(commission_fen(lease.captured, lease.bp) - commission_fen(lease.refunded, lease.bp)
                         for lease in self.leases)
        assert self.ledger.balance(PLATFORM_COMMISSION) == commission
        for seller in SELLERS:
            net = sum(split_commission(lease.captured, lease.bp)[0] - split_commission(lease.refunded, lease.bp)[0]
                      for lease in self.leases if lease.seller == seller)
            assert self.ledger.balance(seller_receivable(seller)) == net - self.payouts[seller]


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
