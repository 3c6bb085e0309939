"""The server's own files are the server's alone: the SQLite database, its -wal and -shm, and SUANLI_HOME."""

from __future__ import annotations

import stat

from sqlalchemy import text

from suanli.db import Database


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_and_shm_are_0600(tmp_path) -> None:
    path = tmp_path / "home" / "suanli.db"
    database = Database(f"sqlite:///{path}")
    with database.engine.begin() as conn:  # a write: WAL mode makes the -wal and -shm files
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _mode(path) == 0o600
        assert _mode(path.with_name("suanli.db-wal")) == 0o600
        assert _mode(path.with_name("suanli.db-shm")) == 0o600
    assert _mode(path.parent) == 0o700  # SUANLI_HOME made by suanli: not listable by others either
    database.dispose()


def test_an_existing_database_others_could_read_is_made_private(tmp_path) -> None:
    path = tmp_path / "suanli.db"
    first = Database(f"sqlite:///{path}")
    with first.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    first.dispose()
    path.chmod(0o644)
    second = Database(f"sqlite:///{path}")
    assert _mode(path) == 0o600
    with second.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    second.dispose()
