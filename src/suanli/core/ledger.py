"""Double-entry ledger in integer fen: accounts, transfers, an in-memory reference ledger and planners.

Every movement of money is one ``Transfer`` of a positive number of fen from a *debit* account to a
*credit* account. Nothing else changes a balance.

Sign convention
    ``balance(account) = Σ credits − Σ debits`` (in fen). Crediting an account raises its balance,
    debiting lowers it. Each transfer adds ``amount`` to one balance and subtracts it from another, so the
    **sum of all balances is always 0** and total debits always equal total credits.

    Seen from the platform, buyer, seller and commission accounts are positive amounts the platform
    *holds for* someone (for the platform itself in the commission account). ``platform_cash`` is the
    counter-account of money entering and leaving the platform, so its balance is minus the money held
    for everyone: ``balance(platform_cash) = −Σ other balances ≤ 0``.

Flows (debit → credit)
    =========== ======================================= ============================================
    TOPUP       platform_cash → buyer_available          buyer pays money in
    HOLD        buyer_available → buyer_held             money reserved for an order/lease
    CAPTURE     buyer_held → seller_receivable           the seller's net part of a charge
    COMMISSION  buyer_held → platform_commission         the platform's part of the same charge
    RELEASE     buyer_held → buyer_available             unused hold handed back
    REFUND      seller_receivable → buyer_available      seller's part of a refund
    REFUND      platform_commission → buyer_available    platform's part of the same refund
    PAYOUT      seller_receivable → platform_cash        seller is paid out
    =========== ======================================= ============================================

    Any other (kind, debit kind, credit kind) combination is rejected when the ``Transfer`` is built.

Every charge goes through a hold
    There is no direct available → receivable charge. A reserved (包月/包年) upfront payment is
    ``plan_hold(price) + plan_settle(held=price, used=price)``, applied as one atomic batch. So a
    commission is split off in exactly one place (``plan_capture``), and ``buyer_held`` is the single
    place where money of an order waits between "promised" and "earned".

Idempotency and transfer ids
    ``Ledger.apply`` is idempotent by transfer id: applying an id again with equal content is a no-op,
    with different content it raises ``ConflictingTransfer``. The planners name each transfer with
    ``ids(ref, leg)``; the default ``leg_id`` gives ``f"{ref}:{leg}"`` (legs: ``topup``, ``hold``,
    ``capture``, ``commission``, ``release``, ``refund_seller``, ``refund_commission``, ``payout``). With
    deterministic ids a retried business event (same ``ref``) is harmless, and reusing a ``ref`` for a
    different event with a leg of the same name is caught as a conflict when the amounts differ — but
    silently taken for a retry when they are equal. So callers use one ``ref`` per business event (e.g.
    ``lease:<id>:tick:<n>`` for each metering capture), not one per lease; a hold and the settle that
    closes it may share a ref, since their legs differ. Pass your own ``ids`` (e.g. random UUIDs) to opt
    out of deduplication.

Rounding
    The only rounding is the commission split: ``commission_fen(amount, bp) = round_half_up(amount ×
    bp / 10000)`` in exact integer arithmetic; the seller gets ``amount − commission``, so the parts add
    up exactly. Repeated captures (and refunds) of one lease use the *cumulative* amount, so the
    commission over all of them equals the commission on their total (no drift), and a refund of
    everything reverses the split exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

BP_PER_ONE = 10_000  # basis points in 1 (100 %)


class AccountKind(StrEnum):
    """Kinds of ledger account. All but ``PLATFORM_CASH`` can never go negative."""

    BUYER_AVAILABLE = "buyer_available"
    """A buyer organization's spendable wallet balance, fen. Never negative."""
    BUYER_HELD = "buyer_held"
    """A buyer's money reserved for open orders/leases (one account per buyer; holds are told apart by
    transfer ``ref``), fen. Never negative."""
    SELLER_RECEIVABLE = "seller_receivable"
    """What the platform owes a seller organization for delivered compute, net of commission, fen.
    Never negative."""
    PLATFORM_COMMISSION = "platform_commission"
    """The platform's earned commission, fen. Never negative. Owner is None."""
    PLATFORM_CASH = "platform_cash"
    """Counter-account of money entering (top-ups) and leaving (payouts) the platform; balance is minus
    all money the platform holds, so ≤ 0. The only account allowed below zero. Owner is None."""

    @property
    def non_negative(self) -> bool:
        """True when a balance of this kind may never go below 0."""
        return self is not AccountKind.PLATFORM_CASH

    @property
    def platform(self) -> bool:
        """True for the platform's own accounts (owner None); False for organization accounts."""
        return self in (AccountKind.PLATFORM_COMMISSION, AccountKind.PLATFORM_CASH)


@dataclass(frozen=True)
class AccountRef:
    """One ledger account: a kind plus its owner (organization id as str; None for platform accounts)."""

    kind: AccountKind
    owner: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AccountKind(self.kind))  # accepts the stored string form too
        if self.kind.platform:
            if self.owner is not None:
                raise ValueError(f"{self.kind} is a platform account and has no owner (got {self.owner!r})")
        elif not isinstance(self.owner, str) or not self.owner:
            raise ValueError(f"{self.kind} needs an owner organization id (got {self.owner!r})")

    def __str__(self) -> str:
        return str(self.kind) if self.owner is None else f"{self.kind}:{self.owner}"


def buyer_available(owner: str) -> AccountRef:
    return AccountRef(AccountKind.BUYER_AVAILABLE, owner)


def buyer_held(owner: str) -> AccountRef:
    return AccountRef(AccountKind.BUYER_HELD, owner)


def seller_receivable(owner: str) -> AccountRef:
    return AccountRef(AccountKind.SELLER_RECEIVABLE, owner)


PLATFORM_COMMISSION = AccountRef(AccountKind.PLATFORM_COMMISSION, None)
PLATFORM_CASH = AccountRef(AccountKind.PLATFORM_CASH, None)


class TransferKind(StrEnum):
    """Why money moved; each kind allows only the debit → credit account kinds in ``ALLOWED_LEGS``."""

    TOPUP = "topup"
    HOLD = "hold"
    CAPTURE = "capture"
    COMMISSION = "commission"
    RELEASE = "release"
    REFUND = "refund"
    PAYOUT = "payout"
    COMPENSATION = "compensation"
    """Emergency compute (``suanli.emergency``): the payer's held money to a reserved holder who lent units."""


_K = AccountKind
ALLOWED_LEGS: Mapping[TransferKind, frozenset[tuple[AccountKind, AccountKind]]] = {
    TransferKind.TOPUP: frozenset({(_K.PLATFORM_CASH, _K.BUYER_AVAILABLE)}),
    TransferKind.HOLD: frozenset({(_K.BUYER_AVAILABLE, _K.BUYER_HELD)}),
    TransferKind.CAPTURE: frozenset({(_K.BUYER_HELD, _K.SELLER_RECEIVABLE)}),
    TransferKind.COMMISSION: frozenset({(_K.BUYER_HELD, _K.PLATFORM_COMMISSION)}),
    TransferKind.RELEASE: frozenset({(_K.BUYER_HELD, _K.BUYER_AVAILABLE)}),
    TransferKind.REFUND: frozenset({(_K.SELLER_RECEIVABLE, _K.BUYER_AVAILABLE),
                                    (_K.PLATFORM_COMMISSION, _K.BUYER_AVAILABLE)}),
    TransferKind.PAYOUT: frozenset({(_K.SELLER_RECEIVABLE, _K.PLATFORM_CASH)}),
    TransferKind.COMPENSATION: frozenset({(_K.BUYER_HELD, _K.BUYER_AVAILABLE)}),
}
"""(debit kind, credit kind) pairs each transfer kind may move money between."""
_SAME_OWNER = frozenset({TransferKind.HOLD, TransferKind.RELEASE})  # moves within one buyer's wallet


@dataclass(frozen=True)
class Transfer:
    """``amount_fen`` (> 0) moves from ``debit`` to ``credit``. ``id`` is unique ledger-wide; ``ref`` is the
    business reference (order, lease, settlement, payout request…) it belongs to."""

    id: str
    debit: AccountRef
    credit: AccountRef
    amount_fen: int
    kind: TransferKind
    ref: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("a transfer needs a non-empty id")
        if not isinstance(self.ref, str) or not self.ref:
            raise ValueError("a transfer needs a non-empty ref")
        if not isinstance(self.debit, AccountRef) or not isinstance(self.credit, AccountRef):
            raise TypeError("debit and credit must be AccountRefs")
        if type(self.amount_fen) is not int:
            raise TypeError(f"amount_fen must be an int number of fen, not {self.amount_fen!r}")
        if self.amount_fen <= 0:
            raise ValueError(f"amount_fen must be positive, got {self.amount_fen}")
        if self.debit == self.credit:
            raise ValueError(f"debit and credit are the same account {self.debit}")
        kind = TransferKind(self.kind)  # accepts the stored string form too
        object.__setattr__(self, "kind", kind)
        if (self.debit.kind, self.credit.kind) not in ALLOWED_LEGS[kind]:
            raise ValueError(f"a {kind} transfer cannot move money from {self.debit.kind} to {self.credit.kind}")
        if kind in _SAME_OWNER and self.debit.owner != self.credit.owner:
            raise ValueError(f"a {kind} transfer stays within one buyer ({self.debit.owner} ≠ {self.credit.owner})")


class LedgerError(Exception):
    """Base of the ledger's own errors."""


class InsufficientFunds(LedgerError):
    """Applying the transfer would take a never-negative account below zero. Nothing was changed."""

    def __init__(self, account: AccountRef, balance: int, amount: int) -> None:
        super().__init__(f"{account} has {balance} fen, cannot debit {amount} fen")
        self.account, self.balance, self.amount = account, balance, amount


class ConflictingTransfer(LedgerError):
    """A transfer id was applied before with different content. Nothing was changed."""

    def __init__(self, existing: Transfer, new: Transfer) -> None:
        super().__init__(f"transfer {new.id!r} already applied with different content: {existing} ≠ {new}")
        self.existing, self.new = existing, new


@dataclass(frozen=True)
class TrialBalance:
    """Totals of the journal, fen. ``balanced``: total debits == total credits, the balances sum to 0 and
    match a replay of the journal."""

    total_debits: int
    total_credits: int
    balanced: bool
    balances: dict[AccountRef, int]


class Ledger:
    """In-memory double-entry ledger: the reference model for property tests and the database layer's checks.

    Holds the journal (transfers in application order) and one balance per touched account.
    """

    def __init__(self) -> None:
        self._balances: dict[AccountRef, int] = {}
        self._journal: list[Transfer] = []
        self._by_id: dict[str, Transfer] = {}

    @classmethod
    def replay(cls, transfers: Iterable[Transfer]) -> Ledger:
        """A ledger built by applying ``transfers`` in order (raises like ``apply`` on a bad journal)."""
        ledger = cls()
        for transfer in transfers:
            ledger.apply(transfer)
        return ledger

    def balance(self, account: AccountRef) -> int:
        """Balance of ``account`` in fen (credits − debits); 0 for an account never touched."""
        return self._balances.get(account, 0)

    def balances(self) -> dict[AccountRef, int]:
        """A copy of every touched account's balance, fen."""
        return dict(self._balances)

    @property
    def journal(self) -> tuple[Transfer, ...]:
        """Applied transfers, oldest first."""
        return tuple(self._journal)

    def get(self, transfer_id: str) -> Transfer | None:
        return self._by_id.get(transfer_id)

    def __contains__(self, transfer_id: object) -> bool:
        return transfer_id in self._by_id

    def apply(self, transfer: Transfer) -> bool:
        """Apply one transfer. True if applied; False if this exact transfer was applied before (no-op).

        Raises ``ConflictingTransfer`` (same id, other content) or ``InsufficientFunds``; either way nothing
        changes.
        """
        return self.apply_all([transfer])[0]

    def apply_all(self, transfers: Iterable[Transfer]) -> list[bool]:
        """Apply transfers in order, atomically: all of them or (on any error) none.

        Returns, per transfer, whether it was newly applied (False: a repeat of an applied transfer).
        Balances are checked after each transfer in order, as if applied one by one.
        """
        batch = list(transfers)
        pending: dict[str, Transfer] = {}
        deltas: dict[AccountRef, int] = {}
        applied: list[bool] = []
        for transfer in batch:
            if not isinstance(transfer, Transfer):
                raise TypeError(f"not a Transfer: {transfer!r}")
            existing = self._by_id.get(transfer.id) or pending.get(transfer.id)
            if existing is not None:
                if existing != transfer:
                    raise ConflictingTransfer(existing, transfer)
                applied.append(False)
                continue
            debit_balance = self.balance(transfer.debit) + deltas.get(transfer.debit, 0)
            if transfer.debit.kind.non_negative and debit_balance < transfer.amount_fen:
                raise InsufficientFunds(transfer.debit, debit_balance, transfer.amount_fen)
            deltas[transfer.debit] = deltas.get(transfer.debit, 0) - transfer.amount_fen
            deltas[transfer.credit] = deltas.get(transfer.credit, 0) + transfer.amount_fen
            pending[transfer.id] = transfer
            applied.append(True)
        for account, delta in deltas.items():
            self._balances[account] = self.balance(account) + delta
        for transfer, new in zip(batch, applied):
            if new:
                self._journal.append(transfer)
                self._by_id[transfer.id] = transfer
        return applied

    def trial_balance(self) -> TrialBalance:
        """Recompute totals and balances from the journal and check them against each other."""
        total_debits = total_credits = 0
        replayed: dict[AccountRef, int] = {}
        for transfer in self._journal:
            total_debits += transfer.amount_fen
            total_credits += transfer.amount_fen
            replayed[transfer.debit] = replayed.get(transfer.debit, 0) - transfer.amount_fen
            replayed[transfer.credit] = replayed.get(transfer.credit, 0) + transfer.amount_fen
        balanced = (total_debits == total_credits and sum(self._balances.values()) == 0
                    and replayed == self._balances)
        return TrialBalance(total_debits, total_credits, balanced, dict(self._balances))


# --- planners: pure functions from a business event to the transfers that record it -----------------

IdFactory = Callable[[str, str], str]
"""``ids(ref, leg) -> transfer id``."""


def leg_id(ref: str, leg: str) -> str:
    """The default, deterministic transfer id: ``f"{ref}:{leg}"``."""
    return f"{ref}:{leg}"


def _fen(name: str, value: int) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int number of fen, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _bp(value: int) -> int:
    if type(value) is not int:
        raise TypeError(f"commission_bp must be an int number of basis points, not {value!r}")
    if not 0 <= value <= BP_PER_ONE:
        raise ValueError(f"commission_bp must be between 0 and {BP_PER_ONE}, got {value}")
    return value


def commission_fen(amount_fen: int, commission_bp: int) -> int:
    """The platform's part of ``amount_fen``: round_half_up(amount × bp / 10000), exact integer arithmetic.

    Equals ``money.round_fen(Decimal(amount) * bp / 10000)``; never more than ``amount_fen``.
    """
    amount, bp = _fen("amount_fen", amount_fen), _bp(commission_bp)
    return (2 * amount * bp + BP_PER_ONE) // (2 * BP_PER_ONE)


def split_commission(amount_fen: int, commission_bp: int, *, already_fen: int = 0) -> tuple[int, int]:
    """``(seller_fen, commission_fen)`` of ``amount_fen``, adding up to it exactly.

    ``already_fen`` is what was split before in the same series (earlier captures of the same lease, or
    earlier refunds of it): the commission is taken on the cumulative amount, ``commission_fen(already +
    amount) − commission_fen(already)``, so a series of splits adds up to the split of its total.
    """
    _fen("amount_fen", amount_fen)
    _fen("already_fen", already_fen)
    commission = commission_fen(already_fen + amount_fen, commission_bp) - commission_fen(already_fen, commission_bp)
    return amount_fen - commission, commission


def plan_topup(buyer: str, amount_fen: int, ref: str, ids: IdFactory = leg_id) -> list[Transfer]:
    """Money paid in by ``buyer``: TOPUP platform_cash → buyer_available. Empty for 0 fen."""
    if not _fen("amount_fen", amount_fen):
        return []
    return [Transfer(ids(ref, "topup"), PLATFORM_CASH, buyer_available(buyer), amount_fen, TransferKind.TOPUP, ref)]


def plan_hold(buyer: str, amount_fen: int, ref: str, ids: IdFactory = leg_id) -> list[Transfer]:
    """Reserve ``amount_fen`` of ``buyer``'s wallet: HOLD available → held. Empty for 0 fen."""
    if not _fen("amount_fen", amount_fen):
        return []
    return [Transfer(ids(ref, "hold"), buyer_available(buyer), buyer_held(buyer), amount_fen, TransferKind.HOLD, ref)]


def plan_release(buyer: str, amount_fen: int, ref: str, ids: IdFactory = leg_id) -> list[Transfer]:
    """Hand back ``amount_fen`` of a hold unused: RELEASE held → available. Empty for 0 fen."""
    if not _fen("amount_fen", amount_fen):
        return []
    return [Transfer(ids(ref, "release"), buyer_held(buyer), buyer_available(buyer), amount_fen,
                     TransferKind.RELEASE, ref)]


def plan_capture(buyer: str, seller: str, amount_fen: int, commission_bp: int, ref: str, ids: IdFactory = leg_id,
                 *, already_captured_fen: int = 0) -> list[Transfer]:
    """Charge ``amount_fen`` out of ``buyer``'s hold, keeping the rest of the hold open.

    CAPTURE held → seller_receivable (seller's net) and COMMISSION held → platform_commission, split by
    ``split_commission(amount, bp, already_fen=already_captured_fen)``; zero legs are omitted. Pass the
    amount captured earlier for the same lease as ``already_captured_fen`` so the commission does not
    drift over many small captures.
    """
    seller_part, platform_part = split_commission(amount_fen, commission_bp, already_fen=already_captured_fen)
    plan = []
    if seller_part:
        plan.append(Transfer(ids(ref, "capture"), buyer_held(buyer), seller_receivable(seller), seller_part,
                             TransferKind.CAPTURE, ref))
    if platform_part:
        plan.append(Transfer(ids(ref, "commission"), buyer_held(buyer), PLATFORM_COMMISSION, platform_part,
                             TransferKind.COMMISSION, ref))
    return plan


def plan_settle(buyer: str, seller: str, held_amount: int, used_amount: int, commission_bp: int, ref: str,
                ids: IdFactory = leg_id, *, already_captured_fen: int = 0) -> list[Transfer]:
    """Close a hold of ``held_amount`` of which ``used_amount`` was used (both fen, used ≤ held).

    CAPTURE (seller's net of ``used``) + COMMISSION (platform's part of ``used``) + RELEASE (held − used);
    zero-amount legs omitted. After it the hold is fully resolved. ``already_captured_fen``: see
    ``plan_capture``.
    """
    _fen("held_amount", held_amount)
    _fen("used_amount", used_amount)
    if used_amount > held_amount:
        raise ValueError(f"used {used_amount} fen is more than the {held_amount} fen held")
    return (plan_capture(buyer, seller, used_amount, commission_bp, ref, ids, already_captured_fen=already_captured_fen)
            + plan_release(buyer, held_amount - used_amount, ref, ids))


def plan_refund(buyer: str, seller: str, amount_fen: int, commission_bp: int, ref: str, ids: IdFactory = leg_id,
                *, already_refunded_fen: int = 0, settled_fen: int | None = None) -> list[Transfer]:
    """Give ``amount_fen`` of a settled charge back to ``buyer``'s available balance.

    The refund comes back from the seller and the platform in the proportions the charge was split:
    REFUND seller_receivable → available (``amount − c``) and REFUND platform_commission → available
    (``c``), with ``(amount − c, c) = split_commission(amount, bp, already_fen=already_refunded_fen)``,
    so the parts add up to ``amount`` exactly, and refunding everything that was settled (in one go or
    many, passing the running ``already_refunded_fen``) reverses the commission split exactly. Use the
    ``commission_bp`` in force when the charge was settled. ``settled_fen``, if given, caps
    ``already_refunded_fen + amount_fen`` (ValueError beyond). Zero legs omitted.
    """
    _fen("amount_fen", amount_fen)
    _fen("already_refunded_fen", already_refunded_fen)
    if settled_fen is not None and already_refunded_fen + amount_fen > _fen("settled_fen", settled_fen):
        raise ValueError(f"refunding {amount_fen} fen after {already_refunded_fen} fen exceeds the "
                         f"{settled_fen} fen settled")
    seller_part, platform_part = split_commission(amount_fen, commission_bp, already_fen=already_refunded_fen)
    plan = []
    if platform_part:
        plan.append(Transfer(ids(ref, "refund_commission"), PLATFORM_COMMISSION, buyer_available(buyer),
                             platform_part, TransferKind.REFUND, ref))
    if seller_part:
        plan.append(Transfer(ids(ref, "refund_seller"), seller_receivable(seller), buyer_available(buyer),
                             seller_part, TransferKind.REFUND, ref))
    return plan


def plan_payout(seller: str, amount_fen: int, ref: str, ids: IdFactory = leg_id) -> list[Transfer]:
    """Pay ``amount_fen`` out to ``seller``: PAYOUT seller_receivable → platform_cash. Empty for 0 fen."""
    if not _fen("amount_fen", amount_fen):
        return []
    return [Transfer(ids(ref, "payout"), seller_receivable(seller), PLATFORM_CASH, amount_fen,
                     TransferKind.PAYOUT, ref)]
