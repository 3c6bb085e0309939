"""Rich tables that fit the terminal: columns by importance, whole, instead of every column cut to "…".

A command lists its columns with a priority (0 = always shown) and the width its values need; on a narrow
terminal the least important columns that do not fit are left out (``--json`` always has everything)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

BORDER = 3  # a column's separator and padding


@dataclass(frozen=True)
class Column:
    header: str
    width: int  # terminal cells its values need
    cell: Callable[[Any], str]
    priority: int = 0  # 0: always shown; higher: left out first
    justify: str = "left"
    fold: bool = False  # a long value (a command) wraps inside its cell instead of being cut
    max_width: int | None = None  # cut longer values with "…" (names)


def fitting(columns: Sequence[Column], width: int) -> list[Column]:
    """The columns that fit in ``width`` cells, most important first, kept in their given order."""
    budget, shown = width - 1, set()
    for column in sorted(columns, key=lambda c: c.priority):
        need = min(column.width, 20) if column.fold else column.width
        if column.priority > 0 and budget < need + BORDER:
            continue
        budget -= need + BORDER
        shown.add(column.header)
    return [c for c in columns if c.header in shown]


def fitted_table(console: Console, title: str, columns: Sequence[Column], rows: Sequence[Any]) -> Table:
    table = Table(title=title)
    chosen = fitting(columns, console.width)
    for column in chosen:
        table.add_column(column.header, justify=column.justify,  # type: ignore[arg-type]
                         no_wrap=not column.fold, overflow="fold" if column.fold else "ellipsis",
                         min_width=min(column.width, 8), max_width=column.max_width)
    for row in rows:
        table.add_row(*(column.cell(row) for column in chosen))
    return table
