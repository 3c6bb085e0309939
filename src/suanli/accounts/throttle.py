"""Slowing down password guessing, without letting an attacker lock a user out.

The policy (docs/security.md, "Accounts"), counted in ``auth_throttles`` so every API process shares it:

- **Per account and address** (``pair:``): the first ``PAIR_FREE_FAILURES`` wrong passwords in a row cost nothing;
  each one after waits twice as long as the one before (1 s, 2 s, 4 s, ... up to ``PAIR_MAX_BLOCK``). A correct
  password resets the count and marks the address as one the account logs in from.
- **Per account** (``account:``): ``ACCOUNT_MAX_FAILURES`` wrong passwords from anywhere within ``WINDOW`` block
  the account until the window ends — but not from an address the account logged in from within
  ``KNOWN_ADDRESS_FOR``: an attacker elsewhere cannot keep the owner out. The block always expires.
- **Per address** (``address:``): ``ADDRESS_MAX_FAILURES`` wrong passwords for any accounts within ``WINDOW`` (one
  address spraying many accounts) block that address for the rest of the window, except for accounts it logged in
  to before.
- **Registrations** (``register:``): ``Settings.registrations_per_hour`` per address and hour.

A blocked attempt answers 429 ``too_many_attempts`` with ``Retry-After`` before any password is checked, for known
and unknown emails alike, and is not itself counted. The counts are read outside any write transaction and updated
in a short one after the (slow) password check, so concurrent attempts can each pass the check once before they
are counted: at most one extra guess per concurrent request.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from suanli.accounts.models import AuthThrottle
from suanli.errors import DomainError

PAIR_FREE_FAILURES = 5
PAIR_MAX_BLOCK = dt.timedelta(minutes=15)
ACCOUNT_MAX_FAILURES = 20
ADDRESS_MAX_FAILURES = 100
WINDOW = dt.timedelta(minutes=15)
KNOWN_ADDRESS_FOR = dt.timedelta(days=30)
REGISTRATION_WINDOW = dt.timedelta(hours=1)
STALE_AFTER = dt.timedelta(days=31)
PRUNE_ONE_IN = 200


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after})
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginKeys:
    pair: str
    account: str
    address: str

    @classmethod
    def of(cls, email: str, address: str) -> LoginKeys:
        return cls(pair=f"pair:{email}|{address}"[:400], account=f"account:{email}"[:400],
                   address=f"address:{address}"[:400])

    def all(self) -> list[str]:
        return sorted((self.pair, self.account, self.address))  # one lock order for every writer


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def _blocked(row: AuthThrottle | None, now: dt.datetime) -> dt.datetime | None:
    return row.blocked_until if row is not None and row.blocked_until is not None and row.blocked_until > now \
        else None


def check_login_allowed(session: Session, keys: LoginKeys, now: dt.datetime) -> None:
    """Raise ``TooManyAttempts`` when this account may not be tried from this address now. Reads only."""
    rows = {row.key: row for row in session.scalars(select(AuthThrottle).where(AuthThrottle.key.in_(keys.all())))}
    pair = rows.get(keys.pair)
    known = pair is not None and pair.last_success_at is not None and now - pair.last_success_at < KNOWN_ADDRESS_FOR
    blocks = [_blocked(pair, now)]
    if not known:
        blocks += [_blocked(rows.get(keys.account), now), _blocked(rows.get(keys.address), now)]
    until = max((b for b in blocks if b is not None), default=None)
    if until is not None:
        wait = _seconds_until(until, now)
        raise TooManyAttempts(f"Too many wrong passwords: wait {wait} seconds before trying again. If you forgot "
                              "the password, ask the platform operator to reset it.", wait)


def _locked(session: Session, key: str, now: dt.datetime) -> AuthThrottle:
    """The row of ``key``, made if missing and locked for this transaction (``FOR UPDATE`` on PostgreSQL; SQLite's
    write transaction is already exclusive)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(AuthThrottle).values(key=key, failures=0, window_started_at=now)
                    .on_conflict_do_nothing(index_elements=["key"]))
    return session.scalars(select(AuthThrottle).where(AuthThrottle.key == key).with_for_update()
                           .execution_options(populate_existing=True)).one()


def _count_in_window(row: AuthThrottle, now: dt.datetime, window: dt.timedelta, limit: int) -> None:
    if now - row.window_started_at >= window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.blocked_until = row.window_started_at + window


def record_failure(session: Session, keys: LoginKeys, now: dt.datetime) -> None:
    """A wrong password for ``keys``: count it under all three keys (in the caller's write transaction)."""
    for key in keys.all():
        row = _locked(session, key, now)
        if key == keys.pair:
            row.failures, row.window_started_at = row.failures + 1, now
            over = row.failures - PAIR_FREE_FAILURES
            if over >= 0:
                row.blocked_until = now + min(dt.timedelta(seconds=2 ** min(over, 20)), PAIR_MAX_BLOCK)
        else:
            _count_in_window(row, now, WINDOW, ACCOUNT_MAX_FAILURES if key == keys.account else ADDRESS_MAX_FAILURES)
    if random.randrange(PRUNE_ONE_IN) == 0:
        prune(session, now)


def record_success(session: Session, keys: LoginKeys, now: dt.datetime) -> None:
    """The right password: this account and address start again from zero, and the address is known."""
    row = _locked(session, keys.pair, now)
    row.failures, row.blocked_until, row.last_success_at, row.window_started_at = 0, None, now, now


def check_and_count_registration(session: Session, address: str, per_hour: int, now: dt.datetime) -> None:
    """Count a registration from ``address``; ``TooManyAttempts`` past ``per_hour`` within the hour."""
    row = _locked(session, f"register:{address}"[:400], now)
    if now - row.window_started_at >= REGISTRATION_WINDOW:
        row.failures, row.window_started_at, row.blocked_until = 0, now, None
    if row.failures >= per_hour:
        wait = _seconds_until(row.window_started_at + REGISTRATION_WINDOW, now)
        raise TooManyAttempts(f"Too many new accounts from your network: wait {wait} seconds before registering "
                              "another, or ask the platform operator to create it.", wait)
    row.failures += 1


def prune(session: Session, now: dt.datetime) -> int:
    """Forget keys with nothing to remember: no block in force, no failure and no login within ``STALE_AFTER``."""
    stale = now - STALE_AFTER
    result = session.execute(delete(AuthThrottle).where(
        AuthThrottle.window_started_at < stale,
        or_(AuthThrottle.blocked_until.is_(None), AuthThrottle.blocked_until < stale),
        or_(AuthThrottle.last_success_at.is_(None), AuthThrottle.last_success_at < stale)))
    return result.rowcount or 0
