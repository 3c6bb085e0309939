"""Database engine, sessions and the declarative base.

Services never commit: the unit of work (a request, a CLI command, a test) commits or rolls back.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, MetaData, TypeDecorator, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from suanli.config import Settings, load_settings
from suanli.db_faults import CommitInDoubt, Fault, classify

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use suanli.db.utcnow()")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def search_words(text: str | None) -> list[str]:
    """The words of a console list's search box (at most 10)."""
    return (text or "").split()[:10]


def contains_word(column: Any, word: str) -> Any:
    """A condition that ``column`` contains ``word`` (any case; ``%`` and ``_`` are plain characters)."""
    return column.icontains(word, autoescape=True)


def is_id(column: Any, word: str) -> list[Any]:
    """``[column == word]`` when ``word`` is a whole id (a UUID), else nothing: a search box finds a row by its id."""
    try:
        return [column == uuid.UUID(word)]
    except ValueError:
        return []


def contains_words(column: Any, text: str | None) -> list[Any]:
    """Conditions that ``column`` contains each word of ``text`` (any case; ``%`` and ``_`` are plain
    characters): the console lists' name search."""
    return [contains_word(column, word) for word in search_words(text)]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), int: BigInteger()}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Let SQLAlchemy, not the sqlite3 module, say when transactions begin (see _sqlite_begin): the module's own
    # handling starts them lazily before the first write, which breaks SAVEPOINTs and reads outside transactions.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection) -> None:
    """``BEGIN IMMEDIATE`` for units of work that will write, plain (deferred) ``BEGIN`` otherwise.

    A deferred transaction that reads and then writes cannot wait for a concurrent writer in WAL mode (its
    snapshot is stale, SQLite answers "database is locked" at once); taking the write lock up front makes
    concurrent writers queue on ``busy_timeout`` instead.
    """
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


DEFAULT_POOL_SIZE = 10
POOL_TIMEOUT_SECONDS = 30


def private_sqlite_file(path: Path) -> None:
    """The database file (and its -wal and -shm, which SQLite creates with the database's mode) readable by the
    server's user only: 0600, created so before SQLite opens it. Nothing else on the machine (a tenant's job on
    the ``local`` backend included) may read or write it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            info = name.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
            name.chmod(0o600)


def make_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = POOL_TIMEOUT_SECONDS) -> Engine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # A fixed pool and no overflow: under load, a request waits (up to POOL_TIMEOUT_SECONDS, then 503
    # database_busy) for one of ``pool_size`` connections. Overflow connections are closed when returned, so a
    # busy server would open a new PostgreSQL connection (a new server process) for most requests: that cost
    # PostgreSQL 1.2 ms of CPU per order at 32 clients (docs/benchmarks.md, "Orders per second").
    # No pre-ping: it costs a round trip on every checkout (each request). Connections are recycled well before
    # servers or middleboxes usually drop idle ones; a connection the server closed anyway fails one request.
    return create_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout,
                         pool_pre_ping=False, pool_recycle=1800)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE,
                 pool_timeout: float = POOL_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size, pool_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Units of work that will write: on SQLite they take the write lock when they begin (BEGIN IMMEDIATE).
        self.write_sessions = sessionmaker(self.engine.execution_options(sqlite_immediate=True),
                                           expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise.

        ``write=False`` for read-only work: on SQLite it does not queue behind writers.
        """
        session = (self.write_sessions if write else self.sessions)()
        try:
            yield session
            session.flush()  # a fault here is before the COMMIT: nothing stored, safe to run again
            try:
                session.commit()
            except DBAPIError as exc:
                if classify(exc) is Fault.UNAVAILABLE:
                    raise CommitInDoubt("the connection to the database was lost during COMMIT") from exc
                raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def exclusive(self, key: int) -> Iterator[bool]:
        """Whether this process may do the background work named by ``key`` now (a scheduler round, an instance
        pass): True for one holder at a time. PostgreSQL: ``pg_try_advisory_lock(key)`` on a connection of its
        own, held for the block and shared by every API process; SQLite: a lock per database and key in this
        process (SQLite itself runs one writer at a time). Never waits: False means someone else is at it."""
        if self.is_sqlite:
            with _local_locks_guard:
                lock = _local_locks.setdefault((self.url, key), threading.Lock())
            got = lock.acquire(blocking=False)
            try:
                yield got
            finally:
                if got:
                    lock.release()
            return
        with self.engine.connect() as connection:
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            connection.commit()
            try:
                yield got
            finally:
                if got:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()


_local_locks: dict[tuple[str, int], threading.Lock] = {}
_local_locks_guard = threading.Lock()


@cache
def default_database() -> Database:
    settings: Settings = load_settings()
    return Database(settings.database_url, settings.db_pool_size)
