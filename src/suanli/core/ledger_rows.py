"""Ledger rows people can read: one organization's transfers turned into described rows with a running balance.

Pure: no I/O. The caller gives the organization's transfers as :class:`Movement` (what each did to the
organization's own accounts, oldest first); :func:`ledger_rows` returns the rows a statement shows.

What a row is
    - The legs of one business event are one row: the transfers with the same ``ref`` applied in one batch (same
      ``at``). A release is CAPTURE + COMMISSION + RELEASE of ``order:<id>``: for the buyer one "charge" of what
      was used (capture + commission), the rest going back from held to available.
    - Meter readings (refs ``order:<id>:tick:<n>``) of one order on one day in Beijing time are one row, with
      their count, their summed change and the first and last reading's time; ``ticks`` keeps the readings for a
      drill-down.

Running balance
    ``balance_fen`` is the organization's money on the platform after the row: a buyer's available + held, a
    seller's receivable. ``held_fen`` is the part of it held for running orders. Both are exact running sums of
    integer fen from ``opening`` over the rows in the order they are returned, so every row's balance is the
    previous row's plus its change, and the last row's is the opening plus every movement: the wallet's balance
    when the movements are all of the organization's transfers. A grouped row of charges (a buyer's readings)
    stands where its *last* reading was, and one of earnings (a seller's readings) where its *first* was, so the
    rows between its readings show a balance that has had this day's charges not yet taken off, or its earnings
    already added — higher than it was at that moment, never lower (never below zero: a seller's payout between
    two readings of a day does not show the receivable going negative).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from suanli.core.ledger import AccountKind, AccountRef, Transfer, TransferKind
from suanli.core.china_time import china_day


_TICK = re.compile(r"^order:([^:]+):tick:\d+$")
_ORDER = re.compile(r"^order:([^:]+)(?::|$)")


class RowKind(StrEnum):
    """What a row was, for the organization that reads it."""

    TOPUP = "topup"      # money paid in
    HOLD = "hold"        # money set aside for an order (available → held)
    CHARGE = "charge"    # money spent on an order (a buyer), or earned from one (a seller)
    RELEASE = "release"  # an unused hold handed back, nothing charged
    REFUND = "refund"    # a charge given back
    PAYOUT = "payout"    # money paid out to a seller
    METER = "meter"      # the meter's readings of one order in one Beijing day
    COMPENSATION = "compensation"  # emergency compute: paid to (or by) a reserved holder who lent idle units


@dataclass(frozen=True)
class Movement:
    """One transfer as it changed one organization's accounts (signed fen: + money in, − money out)."""

    seq: int
    at: dt.datetime
    kind: TransferKind
    ref: str
    change_fen: int  # on the organization's money: buyer available + held, or seller receivable
    held_change_fen: int = 0  # on the part of it held (buyer held)


@dataclass(frozen=True)
class LedgerRow:
    kind: RowKind
    ref: str  # the event's ref (a meter row: the first reading's)
    order_id: str | None
    first_at: dt.datetime
    last_at: dt.datetime
    count: int  # meter readings in the row (1 for any other event; a reading may have several legs)
    change_fen: int
    held_change_fen: int
    balance_fen: int  # after the row
    held_fen: int  # after the row
    movements: tuple[Movement, ...] = field(repr=False, default=())

    @property
    def day(self) -> dt.date:
        """The Beijing day of the row's last movement."""
        return china_day(self.last_at)


_OWN_MONEY = frozenset({AccountKind.BUYER_AVAILABLE, AccountKind.BUYER_HELD, AccountKind.SELLER_RECEIVABLE})


def _effect(account: AccountRef, owner: str) -> tuple[int, int]:
    """(counts in the owner's money, counts in its held part) for one side of a transfer: 1 or 0 each."""
    if account.owner != owner or account.kind not in _OWN_MONEY:
        return 0, 0
    return 1, int(account.kind is AccountKind.BUYER_HELD)


def movement_of(transfer: Transfer, owner: str, *, seq: int, at: dt.datetime) -> Movement | None:
    """What ``transfer`` did to organization ``owner``'s money; None when it touched none of its accounts."""
    credit, credit_held = _effect(transfer.credit, owner)
    debit, debit_held = _effect(transfer.debit, owner)
    if not (credit or debit):
        return None
    amount = transfer.amount_fen
    return Movement(seq=seq, at=at, kind=transfer.kind, ref=transfer.ref, change_fen=(credit - debit) * amount,
                    held_change_fen=(credit_held - debit_held) * amount)


def order_id_of(ref: str) -> str | None:
    """``order:<id>[:…]`` → ``<id>``; None for refs that are not an order's (top-ups, payouts, refunds)."""
    match = _ORDER.match(ref)
    return match.group(1) if match else None




def _event_kind(kinds: set[TransferKind]) -> RowKind:
    if TransferKind.COMPENSATION in kinds:
        return RowKind.COMPENSATION
    if TransferKind.TOPUP in kinds:
        return RowKind.TOPUP
    if TransferKind.PAYOUT in kinds:
        return RowKind.PAYOUT
    if TransferKind.REFUND in kinds:
        return RowKind.REFUND
    if kinds & {TransferKind.CAPTURE, TransferKind.COMMISSION}:
        return RowKind.CHARGE
    if TransferKind.HOLD in kinds:
        return RowKind.HOLD
    return RowKind.RELEASE


def _group_key(m: Movement, group_ticks: bool) -> tuple:
    tick = _TICK.match(m.ref) if group_ticks else None
    if tick is not None:
        return ("meter", tick.group(1), china_day(m.at))
    return ("event", m.ref, m.at)


def ledger_rows(movements: Iterable[Movement], *, opening_fen: int = 0, opening_held_fen: int = 0,
                group_ticks: bool = True) -> list[LedgerRow]:
    """Rows of ``movements`` (oldest first), oldest first, with running balances from the opening ones.

    A row of charges is placed where its last movement was, one of earnings where its first was; see the
    module's docstring."""
    groups: dict[tuple, list[Movement]] = {}
    first_seen: dict[tuple, int] = {}
    last_seen: dict[tuple, int] = {}
    for position, movement in enumerate(movements):
        key = _group_key(movement, group_ticks)
        groups.setdefault(key, []).append(movement)
        first_seen.setdefault(key, position)
        last_seen[key] = position

    def place(key: tuple) -> int:
        earns = sum(m.change_fen for m in groups[key]) > 0
        return first_seen[key] if earns else last_seen[key]

    rows: list[LedgerRow] = []
    balance, held = opening_fen, opening_held_fen
    for key in sorted(groups, key=place):
        members = groups[key]
        change = sum(m.change_fen for m in members)
        held_change = sum(m.held_change_fen for m in members)
        balance += change
        held += held_change
        meter = key[0] == "meter"
        rows.append(LedgerRow(
            kind=RowKind.METER if meter else _event_kind({m.kind for m in members}), ref=members[0].ref,
            order_id=order_id_of(members[0].ref), first_at=members[0].at, last_at=members[-1].at,
            count=len({m.ref for m in members}) if meter else 1, change_fen=change, held_change_fen=held_change,
            balance_fen=balance, held_fen=held, movements=tuple(members)))
    return rows
