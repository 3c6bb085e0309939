"""The ``suanli`` command line: Typer commands, Rich tables and progress bars."""

from suanli.cli.main import app

__all__ = ["app"]
