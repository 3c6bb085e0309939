"""The ledger in the database: applies transfers planned by ``suanli.core.ledger`` inside the caller's transaction.

What it guarantees (on SQLite and PostgreSQL)
    - A batch is applied atomically (a SAVEPOINT, or the caller's): every touched account's balance moved
      by one ``UPDATE ledger_accounts SET balance_fen = balance_fen + :net WHERE kind = :kind AND owner_org_id =
      :owner [AND balance_fen + :low >= 0] RETURNING id`` (the unique (kind, owner) index; no id lookup) —
      concurrent writers serialise on the account row, and the guard (``:low`` is the lowest running delta of
      the account within the batch, so the check equals applying the legs one by one, like
      ``Ledger.apply_all``) turns an overdraft into ``InsufficientFunds`` with nothing changed. The CHECK
      constraint on ``ledger_accounts`` is the last line of defence. Then the transfer rows are inserted, in one
      statement.
    - Accounts are updated (and made, if missing) in (kind, owner) order by every batch, so two batches touching
      the same accounts cannot deadlock. Callers lock a product row (inventory) before applying transfers.
    - Idempotent by transfer id: a transfer already stored with equal content is a no-op, with other content
      ``ConflictingTransfer``. If a concurrent transaction inserts the same id first, the batch is retried once
      against what it committed.
    - ``trial_balance`` recomputes every balance from the journal and compares it with the stored one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Uuid, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from suanli.core.ledger import AccountKind, AccountRef, ConflictingTransfer, InsufficientFunds, Transfer
from suanli.ids import new_id
from suanli.trading.models import LedgerAccount, LedgerTransfer


@dataclass(frozen=True)
class AccountBalance:
    account_id: uuid.UUID
    kind: AccountKind
    owner_org_id: uuid.UUID | None
    balance_fen: int  # stored running balance
    journal_balance_fen: int  # Σ credits − Σ debits from ledger_transfers

    @property
    def matches(self) -> bool:
        return self.balance_fen == self.journal_balance_fen


@dataclass(frozen=True)
class StoredTrialBalance:
    total_debits_fen: int
    total_credits_fen: int
    accounts: list[AccountBalance]

    @property
    def balanced(self) -> bool:
        """Debits equal credits, every stored balance equals its replay, and the balances sum to zero."""
        return (self.total_debits_fen == self.total_credits_fen and all(a.matches for a in self.accounts)
                and sum(a.balance_fen for a in self.accounts) == 0)


def _owner(ref: AccountRef) -> uuid.UUID | None:
    return None if ref.owner is None else uuid.UUID(ref.owner)


_accounts = LedgerAccount.__table__
_INSERT_TRANSFER = insert(LedgerTransfer.__table__)


def _move_statement(guarded: bool, platform: bool):
    """``UPDATE ledger_accounts SET balance_fen = balance_fen + :a_net WHERE kind = :a_kind AND owner_org_id = :a_owner
    [AND balance_fen + :a_low >= 0] RETURNING id``, built once per variant (Core, bind parameters)."""
    statement = update(_accounts).where(_accounts.c.kind == bindparam("a_kind"))
    statement = statement.where(_accounts.c.owner_org_id.is_(None) if platform else
                                # Typed here: built at import, the foreign-key column may not know its type yet
                                # (before the organizations table is loaded), and SQLite cannot bind a bare UUID.
                                _accounts.c.owner_org_id == bindparam("a_owner", type_=Uuid()))
    if guarded:
        statement = statement.where(_accounts.c.balance_fen + bindparam("a_low") >= 0)
    return statement.values(balance_fen=_accounts.c.balance_fen + bindparam("a_net")).returning(_accounts.c.id)


_MOVE = {(guarded, platform): _move_statement(guarded, platform) for guarded in (False, True)
         for platform in (False, True)}


def _lock_order(ref: AccountRef) -> tuple[str, str]:
    return ref.kind.value, ref.owner or ""


def account_ref(account: LedgerAccount) -> AccountRef:
    return AccountRef(account.kind, None if account.owner_org_id is None else str(account.owner_org_id))


class LedgerStore:
    """Stateless; every method works in the session it is given and never commits."""

    # ------------------------------------------------------------------ accounts

    def _account_query(self, ref: AccountRef):
        owner = _owner(ref)
        query = select(LedgerAccount.id).where(LedgerAccount.kind == ref.kind)
        return query.where(LedgerAccount.owner_org_id.is_(None) if owner is None else
                           LedgerAccount.owner_org_id == owner)

    def account_id(self, session: Session, ref: AccountRef, *, create: bool = True) -> uuid.UUID | None:
        """The id of ``ref``'s row, made (race-free: INSERT ... ON CONFLICT DO NOTHING) if it is missing."""
        account_id = session.scalar(self._account_query(ref))
        if account_id is not None or not create:
            return account_id
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        session.execute(dialect_insert(LedgerAccount).values(
            id=new_id(), kind=ref.kind, owner_org_id=_owner(ref), balance_fen=0,
            created_at=dt.datetime.now(dt.UTC)).on_conflict_do_nothing())
        return session.scalar(self._account_query(ref))

    def balance(self, session: Session, ref: AccountRef) -> int:
        """Stored balance of ``ref`` in fen; 0 for an account that has no row yet."""
        value = session.scalar(select(LedgerAccount.balance_fen).where(
            LedgerAccount.id == self._account_query(ref).scalar_subquery()))
        return int(value or 0)

    def balances_of(self, session: Session, org_id: uuid.UUID) -> dict[AccountKind, int]:
        rows = session.execute(select(LedgerAccount.kind, LedgerAccount.balance_fen)
                               .where(LedgerAccount.owner_org_id == org_id))
        return {AccountKind(kind): int(balance) for kind, balance in rows}

    # ------------------------------------------------------------------ applying transfers

    def apply(self, session: Session, transfers: Iterable[Transfer], *, at: dt.datetime, new_ids: bool = False,
              savepoint: bool = True) -> list[bool]:
        """Apply ``transfers`` atomically; per transfer, True if newly applied, False if it was applied before.

        Raises ``InsufficientFunds`` or ``ConflictingTransfer``; either way nothing is changed.

        ``new_ids``: the transfer ids were never used (their ref holds an id made just now), so they are not looked
        up first; a duplicate would still fail on the unique index. ``savepoint=False`` (the order placement's hot
        path): no SAVEPOINT is opened; the batch may then guard (overdraft-check) only the first account it
        locks, so that ``InsufficientFunds`` still means nothing was written (ValueError otherwise).
        """
        batch = list(transfers)
        if not batch:
            return []
        if not savepoint:
            return self._apply(session, batch, at, new_ids=new_ids, unprotected=True)
        try:
            with session.begin_nested():
                return self._apply(session, batch, at, new_ids=new_ids)
        except IntegrityError:
            # A concurrent transaction stored one of these ids first (and has committed, or we would still be
            # waiting): apply again, now against its rows.
            with session.begin_nested():
                return self._apply(session, batch, at)

    def _stored_refs(self, session: Session, stored: dict[str, LedgerTransfer]) -> dict[uuid.UUID, AccountRef]:
        ids = {r.debit_account_id for r in stored.values()} | {r.credit_account_id for r in stored.values()}
        return {a.id: account_ref(a) for a in session.scalars(select(LedgerAccount).where(LedgerAccount.id.in_(ids)))}

    def _apply(self, session: Session, batch: list[Transfer], at: dt.datetime, *, new_ids: bool = False,
               unprotected: bool = False) -> list[bool]:
        stored: dict[str, LedgerTransfer] = {}
        if not new_ids:
            stored = {row.id: row for row in
                      session.scalars(select(LedgerTransfer).where(LedgerTransfer.id.in_({t.id for t in batch})))}
        refs_by_id = self._stored_refs(session, stored) if stored else {}

        applied: list[bool] = []
        new: dict[str, Transfer] = {}
        for transfer in batch:
            prior = new.get(transfer.id)
            if prior is None and transfer.id in stored:
                row = stored[transfer.id]
                prior = Transfer(row.id, refs_by_id[row.debit_account_id], refs_by_id[row.credit_account_id],
                                 int(row.amount_fen), row.kind, row.ref)
            if prior is not None:
                if prior != transfer:
                    raise ConflictingTransfer(prior, transfer)
                applied.append(False)
                continue
            new[transfer.id] = transfer
            applied.append(True)
        if not new:
            return applied

        running: dict[AccountRef, int] = {}
        lowest: dict[AccountRef, int] = {}
        for t in new.values():
            running[t.debit] = running.get(t.debit, 0) - t.amount_fen
            lowest[t.debit] = min(lowest.get(t.debit, 0), running[t.debit])
            running[t.credit] = running.get(t.credit, 0) + t.amount_fen
        # Accounts are locked (updated, or made if missing) in one fixed order, (kind, owner), by every batch: two
        # transactions touching the same accounts wait for each other, never deadlock.
        order = sorted(running, key=_lock_order)
        if unprotected and any(r.kind.non_negative and lowest.get(r, 0) < 0 for r in order[1:]):
            raise ValueError("without a savepoint only the first account locked may be checked for an overdraft")
        account_ids: dict[AccountRef, uuid.UUID] = {}
        for ref in order:
            account_ids[ref] = self._move(session, ref, running[ref], lowest.get(ref, 0))
        # Inserted after the balance updates, under the accounts' row locks: see LedgerTransfer.seq. One statement;
        # its rows get their seq in the batch's order.
        session.execute(_INSERT_TRANSFER, [
            {"id": t.id, "debit_account_id": account_ids[t.debit], "credit_account_id": account_ids[t.credit],
             "amount_fen": t.amount_fen, "kind": t.kind, "ref": t.ref, "created_at": at} for t in new.values()])
        return applied

    def _move(self, session: Session, ref: AccountRef, net: int, low: int) -> uuid.UUID:
        """Add ``net`` to ``ref``'s balance (guarded: never below zero on the way, for non-negative kinds) with one
        ``UPDATE ... RETURNING id`` by (kind, owner); the account is made first if it is missing. Its id."""
        owner = _owner(ref)
        guarded = ref.kind.non_negative and low < 0
        statement = _MOVE[guarded, owner is None]
        params = {"a_kind": ref.kind, "a_owner": owner, "a_net": net, "a_low": low}
        account_id = session.execute(statement, params).scalar_one_or_none()
        if account_id is not None:
            return account_id
        account_id = self.account_id(session, ref)  # missing (made now), or too little money on it
        assert account_id is not None
        if guarded:
            balance = int(session.scalar(select(LedgerAccount.balance_fen).where(LedgerAccount.id == account_id)) or 0)
            if balance + low < 0:
                raise InsufficientFunds(ref, balance, -low)
        moved = session.execute(statement.where(_accounts.c.id == bindparam("a_id")),
                                params | {"a_id": account_id}).scalar_one_or_none()
        if moved is None:
            balance = int(session.scalar(select(LedgerAccount.balance_fen).where(LedgerAccount.id == account_id)) or 0)
            raise InsufficientFunds(ref, balance, -low)
        return moved

    # ------------------------------------------------------------------ reading

    def journal(self, session: Session) -> list[Transfer]:
        """Every stored transfer as a core ``Transfer``, in insertion-time order (for checks and replays)."""
        accounts = {a.id: account_ref(a) for a in session.scalars(select(LedgerAccount))}
        rows = session.scalars(select(LedgerTransfer).order_by(LedgerTransfer.seq))
        return [Transfer(r.id, accounts[r.debit_account_id], accounts[r.credit_account_id], int(r.amount_fen),
                         r.kind, r.ref) for r in rows]

    def entries_for(self, session: Session, org_id: uuid.UUID, *, limit: int, offset: int
                    ) -> tuple[list[LedgerTransfer], int, dict[uuid.UUID, LedgerAccount]]:
        """An organization's transfers (either side in one of its accounts), newest first; total; its accounts."""
        own = select(LedgerAccount.id).where(LedgerAccount.owner_org_id == org_id)
        condition = or_(LedgerTransfer.debit_account_id.in_(own), LedgerTransfer.credit_account_id.in_(own))
        total = session.scalar(select(func.count()).select_from(LedgerTransfer).where(condition)) or 0
        rows = list(session.scalars(select(LedgerTransfer).where(condition)
                                    .order_by(LedgerTransfer.seq.desc())
                                    .limit(limit).offset(offset)))
        account_ids = {r.debit_account_id for r in rows} | {r.credit_account_id for r in rows}
        accounts = {a.id: a for a in session.scalars(select(LedgerAccount).where(LedgerAccount.id.in_(account_ids)))}
        return rows, int(total), accounts

    def trial_balance(self, session: Session) -> StoredTrialBalance:
        debits = dict(session.execute(select(LedgerTransfer.debit_account_id, func.sum(LedgerTransfer.amount_fen))
                                      .group_by(LedgerTransfer.debit_account_id)).all())
        credits = dict(session.execute(select(LedgerTransfer.credit_account_id, func.sum(LedgerTransfer.amount_fen))
                                       .group_by(LedgerTransfer.credit_account_id)).all())
        accounts = [
            AccountBalance(a.id, a.kind, a.owner_org_id, int(a.balance_fen),
                           int(credits.get(a.id, 0) or 0) - int(debits.get(a.id, 0) or 0))
            for a in session.scalars(select(LedgerAccount).order_by(LedgerAccount.kind, LedgerAccount.id))
        ]
        return StoredTrialBalance(total_debits_fen=sum(int(v or 0) for v in debits.values()),
                                  total_credits_fen=sum(int(v or 0) for v in credits.values()), accounts=accounts)


ledger_store = LedgerStore()
