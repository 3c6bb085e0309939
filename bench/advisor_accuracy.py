"""Workload-advisor accuracy: the estimates of ``suanli.core.estimates`` against published measurements.

What it does
    Reads ``bench/data/measurements.csv`` (one published figure per row; sources and the mapping of
    each figure onto the workload model are in ``bench/data/MEASUREMENTS.md``), builds the row's
    workload (``parameters`` JSON -> ``LLMTraining`` / ``LLMInference``), runs
    ``estimate(workload, chip, count)``, turns the estimate into the measured quantity and prints a
    Markdown table of measured vs estimated values with the signed error
    ``(estimated - measured) / measured``. Then the median absolute error, overall and by group.

Measured quantities and how they are derived from an estimate
    ``device_hours``                 ``hours x count``
    ``wall_hours``                   ``hours``
    ``tokens_per_s_per_device``      ``tokens / (hours x 3600 x count)``
    ``model_tflops_per_device``      ``total_flops / (hours x 3600 x count) / 1e12``
    ``output_tokens_per_s``          ``tokens_per_s`` (whole deployment)
    ``output_tokens_per_s_per_device`` ``tokens_per_s / count``
    ``ttft_ms``                      ``ttft_ms``

The parameters tuned against this data are the documented per-family efficiencies in
``FAMILY_EFFICIENCY`` (and the INT4/INT8 kernel-efficiency range); no row has its own factor.
The comparison is therefore partly in-sample: see MEASUREMENTS.md.

Usage
    .venv/bin/python bench/advisor_accuracy.py [--csv bench/data/measurements.csv] [--check]

``--check`` exits with status 1 when the median absolute error exceeds the 25% target.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from suanli.core.chips import get_chip  # noqa: E402
from suanli.core.estimates import Estimate, estimate  # noqa: E402
from suanli.core.workloads import LLMInference, LLMTraining  # noqa: E402

TARGET_MEDIAN_ABS_ERROR = 0.25
DEFAULT_CSV = ROOT / "bench" / "data" / "measurements.csv"


@dataclass(frozen=True)
class Row:
    """One measurement and its estimate."""

    id: str
    chip: str
    count: int
    kind: str
    quantity: str
    unit: str
    measured: float
    estimated: float

    @property
    def error(self) -> float:
        """Signed relative error of the estimate."""
        return (self.estimated - self.measured) / self.measured


def derive(quantity: str, est: Estimate, workload: LLMTraining | LLMInference, count: int) -> float:
    """The measured ``quantity`` as implied by ``est``."""
    if quantity == "device_hours":
        return est.hours * count
    if quantity == "wall_hours":
        return est.hours
    if quantity == "tokens_per_s_per_device":
        assert isinstance(workload, LLMTraining)
        return workload.total_tokens / (est.hours * 3600.0 * count)
    if quantity == "model_tflops_per_device":
        return est.total_flops / (est.hours * 3600.0 * count) / 1e12
    if quantity == "output_tokens_per_s":
        return est.tokens_per_s
    if quantity == "output_tokens_per_s_per_device":
        return est.tokens_per_s / count
    if quantity == "ttft_ms":
        return est.ttft_ms
    raise ValueError(f"unknown measured_quantity {quantity!r}")


def evaluate(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            params = json.loads(rec["parameters"])
            kind = rec["workload_kind"]
            workload = LLMTraining(**params) if kind == "llm_training" else LLMInference(**params)
            count = int(rec["count"])
            est = estimate(workload, get_chip(rec["chip"]), count)
            value = derive(rec["measured_quantity"], est, workload, count)
            if value is None:
                raise SystemExit(f"{rec['id']}: the estimate gives no {rec['measured_quantity']}")
            rows.append(Row(rec["id"], rec["chip"], count, kind, rec["measured_quantity"], rec["unit"],
                            float(rec["measured_value"]), float(value)))
    return rows


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def median_abs(rows: list[Row]) -> float:
    return statistics.median(abs(r.error) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--check", action="store_true", help="exit 1 if the median error misses the target")
    args = parser.parse_args(argv)
    rows = evaluate(args.csv)

    print("| id | chip | n | quantity | measured | estimated | error |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r.id} | {r.chip} | {r.count} | {r.quantity} | {_fmt(r.measured)} | {_fmt(r.estimated)} "
              f"| {r.error:+.1%} |")
    print()
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[f"kind={r.kind}"].append(r)
        groups[f"chip={r.chip}"].append(r)
    print("| group | rows | median abs error | mean signed error |")
    print("| --- | ---: | ---: | ---: |")
    for name in sorted(groups):
        g = groups[name]
        print(f"| {name} | {len(g)} | {median_abs(g):.1%} | {statistics.mean(r.error for r in g):+.1%} |")
    overall = median_abs(rows)
    within = sum(abs(r.error) <= TARGET_MEDIAN_ABS_ERROR for r in rows)
    print()
    print(f"rows: {len(rows)}; within ±25%: {within}/{len(rows)}")
    print(f"median absolute error: {overall:.1%} (target <= {TARGET_MEDIAN_ABS_ERROR:.0%}: "
          f"{'met' if overall <= TARGET_MEDIAN_ABS_ERROR else 'NOT met'})")
    if args.check and overall > TARGET_MEDIAN_ABS_ERROR:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
