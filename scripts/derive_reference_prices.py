#!/usr/bin/env python3
"""Derive the packaged market reference prices from the public GPU price tracker data.

Input:  ``gpu_hourly_prices_daily.csv`` — daily medians (and p10/p90) of public on-demand
        GPU rental prices in USD per GPU-hour, one row per (date, gpu_type, socket).
        Source: github.com/tugot17/gpu-price-tracker, MIT (c) 2025 Piotr Mazurek.
Output: ``src/suanli/catalog/data/reference_prices.csv`` — one row per (gpu_type, socket):

* ``median_usd``  the median over days of the daily median price;
* ``p10_usd`` / ``p90_usd``  the median over days of the daily p10 / p90 prices (a typical
  cheap offer and a typical expensive offer on a typical day);
* the same three figures converted to CNY at 7.1 CNY/USD, as integer fen (1 CNY = 100 fen)
  per accelerator-hour, rounded ROUND_HALF_UP.

All arithmetic is ``Decimal``; the output is deterministic (rows sorted by gpu_type, socket).

Usage (from the repository root)::

    python scripts/derive_reference_prices.py [--input PATH] [--output PATH]

The default input is ``../shared/data/prices/gpu_hourly_prices_daily.csv`` relative to the
repository root. ``suanli.catalog.reference_prices`` reads the output file; the unit tests check
that running this derivation again reproduces the packaged file exactly.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = REPO_ROOT / ".." / "shared" / "data" / "prices" / "gpu_hourly_prices_daily.csv"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "suanli" / "catalog" / "data" / "reference_prices.csv"

CNY_PER_USD = Decimal("7.1")
FEN_PER_CNY = 100

COLUMNS = (
    "gpu_type",
    "socket",
    "days",
    "first_date",
    "last_date",
    "median_usd",
    "p10_usd",
    "p90_usd",
    "median_fen",
    "p10_fen",
    "p90_fen",
)


def decimal_median(values: list[Decimal]) -> Decimal:
    """The median of ``values`` (mean of the two middle values for an even count)."""
    if not values:
        raise ValueError("median of an empty sequence")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def usd_to_fen(usd: Decimal) -> int:
    """USD per hour -> integer CNY fen per hour (7.1 CNY/USD, ROUND_HALF_UP)."""
    return int((usd * CNY_PER_USD * FEN_PER_CNY).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def derive_rows(daily_csv_text: str) -> list[dict[str, str]]:
    """Aggregate the daily CSV text into the reference-price rows (as strings, sorted)."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(daily_csv_text)):
        if not row.get("median_usd"):
            continue
        groups[(row["gpu_type"].strip(), (row.get("socket") or "").strip())].append(row)

    out: list[dict[str, str]] = []
    for (gpu_type, socket), rows in sorted(groups.items()):
        dates = sorted(r["date"] for r in rows)
        med = decimal_median([Decimal(r["median_usd"]) for r in rows])
        p10 = decimal_median([Decimal(r["p10_usd"]) for r in rows if r.get("p10_usd")])
        p90 = decimal_median([Decimal(r["p90_usd"]) for r in rows if r.get("p90_usd")])
        out.append(
            {
                "gpu_type": gpu_type,
                "socket": socket,
                "days": str(len(set(dates))),
                "first_date": dates[0],
                "last_date": dates[-1],
                "median_usd": _fmt_usd(med),
                "p10_usd": _fmt_usd(p10),
                "p90_usd": _fmt_usd(p90),
                "median_fen": str(usd_to_fen(med)),
                "p10_fen": str(usd_to_fen(p10)),
                "p90_fen": str(usd_to_fen(p90)),
            }
        )
    return out


def _fmt_usd(value: Decimal) -> str:
    # Keep the precision of the data (it has up to 4 decimals; an even-count median may add one).
    return format(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP), "f")


def render_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def derive(input_path: Path) -> str:
    """The full output CSV text for the daily CSV at ``input_path``."""
    return render_csv(derive_rows(input_path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not args.input.is_file():
        print(f"input not found: {args.input}", file=sys.stderr)
        return 1
    text = derive(args.input)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({text.count(chr(10)) - 1} rows)")
    for row in csv.DictReader(io.StringIO(text)):
        cny = (Decimal(row["median_fen"]) / FEN_PER_CNY).quantize(Decimal("0.01"))
        print(f"  {row['gpu_type']:<12} {row['socket'] or '-':<5} {row['median_usd']:>7} USD/h -> {cny} CNY/h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
