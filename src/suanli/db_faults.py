"""Database faults a request outlives: which errors mean "run it again", which mean "the database is away", and
how often and how long to retry. Pure decisions on exceptions; ``http_retry`` acts on them.

- **Contention**: PostgreSQL's deadlock (SQLSTATE 40P01), serialization failure (40001) and lock timeout (55P03),
  SQLite's "database is locked". The database rolled the whole transaction back, so running the request's unit of work again is safe
  (an ``Idempotency-Key`` still finds the one order). Retried a few times with a short random back-off; then 503
  ``database_busy``.
- **Unavailable**: a lost or refused connection (``OperationalError``/``InterfaceError`` that is not contention;
  SQLite: the file cannot be opened or written). Before the COMMIT was sent nothing was stored: retried once or
  twice (the pool has thrown the dead connections away by then, SQLAlchemy invalidates every connection older
  than the failure), then 503 ``database_unavailable``. Lost *during* the COMMIT (``CommitInDoubt``) the outcome
  is unknown: never retried by the server, 503 ``database_unavailable`` saying so.
"""

from __future__ import annotations

import enum
import random
import sqlite3
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

CONTENTION_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock_timeout
_SQLITE_BUSY = ("database is locked", "database table is locked")
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk i/o error", "database or disk is full",
                       "readonly database")


class CommitInDoubt(Exception):
    """The connection was lost while the COMMIT was on its way: the unit of work may or may not be stored."""


class Fault(enum.Enum):
    CONTENTION = "contention"
    UNAVAILABLE = "unavailable"
    IN_DOUBT = "in_doubt"

    @property
    def code(self) -> str:
        return "database_busy" if self is Fault.CONTENTION else "database_unavailable"


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def classify(exc: BaseException) -> Fault | None:
    """What kind of database fault ``exc`` is; None for anything else (a bug, a refusal with its own answer)."""
    exc = _unwrap(exc)
    if isinstance(exc, CommitInDoubt):
        return Fault.IN_DOUBT
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in CONTENTION_SQLSTATES:
        return Fault.CONTENTION
    if isinstance(orig, sqlite3.Error):
        text = str(orig).lower()
        if any(s in text for s in _SQLITE_BUSY):
            return Fault.CONTENTION
        if exc.connection_invalidated or any(s in text for s in _SQLITE_UNAVAILABLE):
            return Fault.UNAVAILABLE
        return None  # e.g. "no such table": a bug, not the database being away
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        return Fault.UNAVAILABLE
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How a request's unit of work is run again after a fault."""

    contention_retries: int = 6  # 7 runs in all
    unavailable_retries: int = 2
    first_delay: float = 0.01  # seconds; doubled each time, ×0.5–1.5 at random (concurrent losers spread out)
    max_delay: float = 0.5
    budget: float = 10.0  # no new run once this many seconds have passed since the first began

    def delay(self, fault: Fault, retries_so_far: int, elapsed: float) -> float | None:
        """Seconds to wait before the next run, or None: answer 503 now."""
        allowed = {Fault.CONTENTION: self.contention_retries, Fault.UNAVAILABLE: self.unavailable_retries}.get(fault, 0)
        if retries_so_far >= allowed or elapsed >= self.budget:
            return None
        base = self.first_delay * 2 ** retries_so_far if fault is Fault.CONTENTION else 0.1 * (retries_so_far + 1)
        return min(self.max_delay, base) * random.uniform(0.5, 1.5)


RETRY_AFTER_SECONDS = {Fault.CONTENTION: 1, Fault.UNAVAILABLE: 2, Fault.IN_DOUBT: 2}

MESSAGES = {
    Fault.CONTENTION: "The database is busy with conflicting changes; this request was tried several times and "
                      "nothing was changed. Retry in a moment (with the same Idempotency-Key for an order).",
    Fault.UNAVAILABLE: "The database cannot be reached right now; nothing was changed. Retry in a few seconds.",
    Fault.IN_DOUBT: "The connection to the database was lost while saving: the change may or may not have been "
                    "stored. Retry with the same Idempotency-Key (it never places a second order), or look before "
                    "repeating (e.g. GET /api/v1/orders).",
}
OUTCOMES = {Fault.CONTENTION: "not_applied", Fault.UNAVAILABLE: "not_applied", Fault.IN_DOUBT: "unknown"}

__all__ = ["CommitInDoubt", "Fault", "RetryPolicy", "classify", "RETRY_AFTER_SECONDS", "MESSAGES", "OUTCOMES"]
