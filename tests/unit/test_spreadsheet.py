"""CSV cells that no spreadsheet evaluates."""

from __future__ import annotations

import csv
import io

from hypothesis import given, strategies as st

from suanli.core.spreadsheet import SafeCsvWriter, safe_cell


def test_formula_starts_become_text():
    for text in ("=1+1", "+1-2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x")'):
        assert safe_cell(text) == "'" + text


def test_plain_text_and_numbers_are_kept():
    for value in ("昇腾 910B", "-1.50", "+3", "12", "a=b", "", 7, None, -150):
        assert safe_cell(value) == value


@given(st.lists(st.text(max_size=20), max_size=5))
def test_no_written_cell_starts_a_formula(row):
    out = io.StringIO()
    SafeCsvWriter(out).writerow(row)
    (read,) = list(csv.reader(io.StringIO(out.getvalue()))) or [[]]
    for cell in read:
        number = cell.lstrip("+-").replace(".", "", 1).isdigit()
        assert number or not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
