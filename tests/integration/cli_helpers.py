"""What the `suanli` command-line tests share: a runner, a clean environment in a temporary SUANLI_HOME,
and output helpers. Import as ``cli_helpers`` (tests/integration is on the path, like ``trading_helpers``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from suanli.accounts import security
from suanli.cli import app
from suanli.cli import main as cli_main
from suanli.db import default_database
from suanli.demo import DEMO_ACCOUNTS

runner = CliRunner()
#: Settings a developer's shell may carry that would point the CLI elsewhere or change its output.
ENV_TO_CLEAR = ("SUANLI_DATABASE_URL", "SUANLI_API_URL", "SUANLI_TOKEN", "SUANLI_TOKEN_TTL_HOURS", "FORCE_COLOR",
                "NO_COLOR")
BUYER, SELLER, OPERATOR = (a.email for a in DEMO_ACCOUNTS)
WIDTH = 250


def forget_database() -> None:
    """Drop the CLI's cached engine, so the next command opens the database of the current SUANLI_HOME."""
    if default_database.cache_info().currsize:
        default_database().dispose()
    default_database.cache_clear()


def use_home(mp: pytest.MonkeyPatch, home: Path, *, fast_passwords: bool = False) -> None:
    """Point the CLI at ``home`` with a clean environment. ``fast_passwords``: argon2 at its cheapest, for tests
    that log in many times (the demo accounts are hashed when the demo loads)."""
    mp.setenv("SUANLI_HOME", str(home))
    for name in ENV_TO_CLEAR:
        mp.delenv(name, raising=False)
    # Wide enough that Rich tables and messages are not cut. The consoles were made at import, maybe with a
    # fixed width (COLUMNS set then), so set theirs too.
    mp.setenv("COLUMNS", str(WIDTH))
    for console in (cli_main.console, cli_main.err):
        mp.setattr(console, "_width", WIDTH)
    if fast_passwords:
        mp.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    forget_database()


def invoke(*args: str, input: str | None = None):
    """Run ``suanli ARGS``; an exception other than the CLI's own exit is raised, not hidden in the result."""
    result = runner.invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def flat(text: str) -> str:
    """Output with line wrapping undone, for matching messages."""
    return re.sub(r"\s+", " ", text)


@contextlib.contextmanager
def demo_home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, str]]:
    """A fresh SQLite home with the demo loaded by `suanli demo --no-serve`: (the home, what the demo printed)."""
    path = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, path, fast_passwords=True)
        result = invoke("demo", "--no-serve")
        assert result.exit_code == 0, result.output
        try:
            yield path, result.output
        finally:
            forget_database()
