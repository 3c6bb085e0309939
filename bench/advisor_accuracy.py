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
    ``tokens_per_s``                 ``tokens / (hours x 3600)`` (training, whole allocation)
    ``memory_gib``                   ``memory_needed_gib`` (peak memory per device)

The parameters tuned against this data are the documented per-family efficiencies in
``FAMILY_EFFICIENCY`` (and the INT4/INT8 kernel-efficiency range); no row has its own factor.
The comparison is therefore partly in-sample: see MEASUREMENTS.md.

Deep-learning training (``--dl``)
    ``bench/data/dl_training_measurements.csv`` (``bench/data/DL_MEASUREMENTS.md``): measured training samples/s of
    ten models on 13 chips, 1-8 GPUs, FP32/TF32/AMP. The training performance model is refitted
    (``scripts/fit_performance_model.py``) leaving out one chip at a time and one model at a time; every figure
    printed is on the part left out. The range coverage is nested: the low/high multipliers for a held-out group
    come from the held-out errors of the *other* groups. Chip-to-chip ratios compare two chips on the same model,
    precision, device count and per-device batch, both estimated with their chip left out.

Usage
    .venv/bin/python bench/advisor_accuracy.py [--llm | --dl] [--csv bench/data/measurements.csv] [--check]
    .venv/bin/python bench/advisor_accuracy.py --score bench/data/performance_model_second_pass.json

``--check`` exits with status 1 when a target is missed (LLM: median absolute error <= 25%; DL training, held out:
median <= 20%, >= 60% within 25%, chip ratios median <= 15%, >= 80% inside the range).
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
    if quantity == "tokens_per_s":
        assert isinstance(workload, LLMTraining)
        return workload.total_tokens / (est.hours * 3600.0)
    if quantity == "memory_gib":
        return est.memory_needed_gib
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


def dl_report(splits: tuple[str, ...] = ("chip", "model"), architecture: bool = True,
              layer_types: tuple[str, ...] | None = None) -> bool:
    """Held-out accuracy of the training performance model; prints Markdown, returns whether every target is met.

    ``splits`` narrows the evaluation to one split (quicker while iterating); ``architecture=False`` describes the
    models without their architecture class (the model as it was before the architecture input)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import fit_performance_model as fpm

    fpm.USE_ARCHITECTURE = architecture
    if layer_types is not None:
        fpm.FITTED_LAYER_TYPES = layer_types
    rows = fpm.load_rows()
    held = {split: fpm.cross_validate(rows, split) for split in splits}
    print("## Deep-learning training: held-out accuracy of the performance model")
    print()
    print(f"{len(rows)} measured configurations, {len({r.model for r in rows})} models, "
          f"{len({r.chip.key for r in rows})} chips, 1-{max(r.count for r in rows)} GPUs.")
    print()
    print("| split | rows | median abs error | within ±25% | inside the range (nested) | median chip-ratio error |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    results = {}
    for split, items in held.items():
        errors = [abs(h.ratio - 1.0) for h in items]
        coverage = _nested_coverage(fpm, items, split)
        ratios = _ratio_errors(items)
        results[split] = (statistics.median(errors), sum(e <= 0.25 for e in errors) / len(errors), coverage,
                          statistics.median(ratios) if ratios else float("nan"))
        med, within, cov, ratio = results[split]
        name = "leave-one-chip-out" if split == "chip" else "leave-one-model-out"
        print(f"| {name} | {len(items)} | {med:.1%} | {within:.0%} | {cov:.0%} | {ratio:.1%} ({len(ratios)} pairs) |")
    print()
    for split, items in held.items():
        print(f"### {'Leave-one-chip-out' if split == 'chip' else 'Leave-one-model-out'}, by "
              f"{'chip' if split == 'chip' else 'model'} and precision")
        print()
        print("| group | rows | median estimated/measured | median abs error |")
        print("| --- | ---: | ---: | ---: |")
        groups: dict[str, list] = defaultdict(list)
        for h in items:
            groups[fpm.group_of(h.row, split)].append(h)
            groups[f"precision={h.row.precision}"].append(h)
            groups[f"GPUs={h.row.count}"].append(h)
        for name in sorted(groups):
            g = groups[name]
            print(f"| {name} | {len(g)} | {statistics.median(h.ratio for h in g):.2f} | "
                  f"{statistics.median(abs(h.ratio - 1) for h in g):.1%} |")
        print()
    _domestic_report()
    speech = ("tacotron2", "waveglow")
    rest = [abs(h.ratio - 1) for items in held.values() for h in items if h.row.model not in speech]
    print(f"Without the two speech models (Tacotron 2, WaveGlow: throughput independent of precision in these runs), "
          f"median abs error over both splits: {statistics.median(rest):.1%}.")
    print()
    targets = {"median abs error <= 20%": all(r[0] <= 0.20 for r in results.values()),
               ">= 60% within ±25%": all(r[1] >= 0.60 for r in results.values()),
               "chip ratios median <= 15%": all(r[3] <= 0.15 for r in results.values()),
               ">= 80% inside the range": all(r[2] >= 0.80 for r in results.values())}
    for name, met in targets.items():
        print(f"- {name}: {'met' if met else 'NOT met'}")
    print()
    return all(targets.values())


def score_report(params_path: Path) -> None:
    """The error of a packaged parameter file (no refit) on each measurement file: how a model fitted before a
    file existed does on it (the "never fitted first" figures of docs/benchmarks.md)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import fit_performance_model as fpm
    from suanli.core.estimates.performance import PerformanceParams

    params = PerformanceParams.from_json(json.loads(params_path.read_text(encoding="utf-8"))["params"])
    print(f"## `{params_path.name}` scored on each measurement file (no refit)")
    print()
    print("| file | rows | median abs error | within ±25% | inside the stated range |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for path in fpm.DATA:
        ratios = [fpm.predict(row, params) / row.measured for row in fpm.load_rows([path])]
        errors = [abs(r - 1.0) for r in ratios]
        inside = sum(params.range_low <= 1.0 / r <= params.range_high for r in ratios)
        print(f"| {path.name} | {len(ratios)} | {statistics.median(errors):.1%} | "
              f"{sum(e <= 0.25 for e in errors) / len(errors):.0%} | {inside / len(ratios):.0%} |")
    print()
    print(f"A file the parameters were fitted on ({params_path.name}: `summary.fit_rows` rows) gives the fit error, "
          "not accuracy; only files added after the fit are held out.")
    print()


def _domestic_report() -> None:
    """Published domestic-accelerator measurements, never used in a fit, through the public estimate()."""
    from suanli.core.workloads import GenericTraining

    path = ROOT / "bench" / "data" / "dl_training_domestic.csv"
    print("### Domestic accelerators (never fitted: the packaged parameters, through `estimate()`)")
    print()
    print("| model | chip | GPUs | measured | estimated (low–high) | error | inside |")
    print("| --- | --- | ---: | ---: | ---: | ---: | :---: |")
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            job = GenericTraining(model=rec["model"], seq_len=int(rec["seq_len"]) if rec["seq_len"] else None,
                                  batch_size=int(rec["batch_per_device"]), precision=rec["precision"],
                                  servers=int(rec["servers"]))
            est = estimate(job, get_chip(rec["chip"]), int(rec["count"]))
            measured = float(rec["samples_per_s"])
            inside = est.samples_per_s_low <= measured <= est.samples_per_s_high
            print(f"| {rec['model']} | {rec['chip']} | {rec['count']} | {measured:,.0f} {rec['unit']} | "
                  f"{est.samples_per_s:,.0f} ({est.samples_per_s_low:,.0f}–{est.samples_per_s_high:,.0f}) | "
                  f"{est.samples_per_s / measured - 1:+.0%} | {'yes' if inside else 'no'} |")
    print()


def _nested_coverage(fpm, items, split: str) -> float:
    """Share of held-out measurements inside [estimate x low, estimate x high], with low/high the 10th/90th
    percentiles of measured/estimated over the held-out estimates of the other groups."""
    inside = 0
    by_group: dict[str, list] = defaultdict(list)
    for h in items:
        by_group[fpm.group_of(h.row, split)].append(h)
    for name, group in by_group.items():
        others = [h for h in items if fpm.group_of(h.row, split) != name]
        low, high = fpm.range_multipliers(others)
        inside += sum(h.estimate * low <= h.row.measured <= h.estimate * high for h in group)
    return inside / len(items)


def _ratio_errors(items) -> list[float]:
    """|estimated ratio / measured ratio - 1| for every pair of chips on the same model, precision, GPUs and batch,
    measured by the same publisher (the same software)."""
    cells: dict[tuple, dict[str, object]] = defaultdict(dict)
    for h in items:
        r = h.row
        cells[(r.family, r.model, r.precision, r.count, r.batch)].setdefault(r.chip.key, h)
    errors = []
    for cell in cells.values():
        chips = sorted(cell)
        for i, a in enumerate(chips):
            for b in chips[i + 1:]:
                ha, hb = cell[a], cell[b]
                measured = ha.row.measured / hb.row.measured
                estimated = ha.estimate / hb.estimate
                errors.append(abs(estimated / measured - 1.0))
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--llm", action="store_true", help="only the LLM measurements")
    parser.add_argument("--dl", action="store_true", help="only the deep-learning training measurements")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--split", choices=("chip", "model"), help="--dl: only this held-out split (quicker)")
    parser.add_argument("--no-architecture", action="store_true",
                        help="--dl: describe the models without their architecture class")
    parser.add_argument("--score", type=Path, metavar="PARAMS_JSON",
                        help="score a packaged parameter file on each measurement file, without refitting "
                             "(bench/data/performance_model_second_pass.json: the model fitted before the NVIDIA "
                             "and TensorFlow files were added)")
    parser.add_argument("--fit-layer-types", metavar="TYPES",
                        help="--dl: also fit a speed factor for these layer types (comma-separated: conv3x3, conv, "
                             "dense, attention, recurrent; the packaged model fits none)")
    args = parser.parse_args(argv)
    if args.score:
        score_report(args.score)
        return 0
    ok = True
    if not args.llm:
        layer_types = tuple(t.strip() for t in args.fit_layer_types.split(",") if t.strip()) \
            if args.fit_layer_types else None
        ok = dl_report((args.split,) if args.split else ("chip", "model"), architecture=not args.no_architecture,
                       layer_types=layer_types)
        if args.dl:
            return 1 if args.check and not ok else 0
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
    if args.check and (overall > TARGET_MEDIAN_ABS_ERROR or not ok):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
