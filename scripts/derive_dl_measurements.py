#!/usr/bin/env python3
"""Derive ``bench/data/dl_training_measurements.csv`` from Lambda's published PyTorch training benchmarks.

Input: ``../shared/data/dl-benchmarks/lambda/`` — github.com/lambdal/deeplearning-benchmark, folder ``pytorch/``
(commit aa5addb6), "Lambda GPU benchmarks": measured training throughput of ten NVIDIA DeepLearningExamples models
(NGC PyTorch containers) on 1-8 GPUs, FP16 automatic mixed precision and FP32 (TF32 on Ampere and newer, the
containers' default), with the global batch size of every run (``*-bs-*.csv``); the ``-v2-`` files are newer runs
without batch files (the v1 per-GPU batch of the same chip is assumed for them).

Batch sizes are converted to the unit of the throughput (``samples_per_item`` of the reference model: tokens per
sentence pair, frames per clip, audio samples per segment), so that ``batch_per_device`` and ``samples_per_s``
count the same samples.

Output: one row per distinct configuration (model, chip, GPUs, precision, per-GPU batch): the median of the
repeated measurements of that configuration (Lambda measured the same H100 SXM5 server from several vendors),
with how many runs it summarises. Zeros ("not measured") are dropped; so are chips outside ``chips.csv``
(GH200, B200). Usage::

    python scripts/derive_dl_measurements.py [LAMBDA_DIR] [--output PATH] [--check]
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from suanli.core.estimates.reference_models import reference_model  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = Path("/work/shared/data/dl-benchmarks/lambda")
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "data" / "dl_training_measurements.csv"
SOURCE = "Lambda GPU benchmarks (github.com/lambdal/deeplearning-benchmark pytorch/, commit aa5addb6)"

# Lambda's model column -> (reference model key in suanli.core.estimates.reference_models, unit)
MODELS = {
    "ssd": ("ssd300", "images/s"), "bert_base_squad": ("bert_base", "sequences/s"),
    "bert_large_squad": ("bert_large", "sequences/s"), "gnmt": ("gnmt", "tokens/s"), "ncf": ("ncf", "samples/s"),
    "resnet50": ("resnet50", "images/s"), "tacotron2": ("tacotron2", "mel frames/s"),
    "transformerxlbase": ("transformerxl_base", "tokens/s"), "transformerxllarge": ("transformerxl_large", "tokens/s"),
    "waveglow": ("waveglow", "audio samples/s"),
}
# (pattern on the setup name, chip key, PyTorch FP32 runs use TF32 tensor cores)
CHIPS = (
    (r"Quadro RTX 8000", "quadro-rtx8000", False),
    (r"V100 16GB", "v100-16gb", False),
    (r"RTX 3090", "rtx3090", True),
    (r"\bA10\b", "a10", True),
    (r"A100 40GB PCIe", "a100-pcie-40gb", True),
    (r"A100 80GB PCIe", "a100-pcie", True),
    (r"A100 80GB SXM4", "a100", True),
    (r"RTX 6000 Ada", "rtx6000-ada", True),
    (r"RTX A6000", "rtx-a6000", True),
    (r"RTX 4090", "rtx4090", True),
    (r"H100[ _]80GB[ _]PCIe", "h100-pcie", True),
    (r"H100[ _]80GB[ _]SXM5", "h100", True),
    (r"H200", "h200", True),
)
COLUMNS = ("source", "setup", "model", "unit", "chip", "count", "servers", "precision", "batch_per_device",
           "samples_per_s", "runs")


def chip_of(setup: str) -> tuple[str, bool] | None:
    for pattern, key, tf32 in CHIPS:
        if re.search(pattern, setup):
            return key, tf32
    return None


def count_of(setup: str, v2: bool) -> int:
    if v2:  # "LambdaOD_8x_Texas_4xH100_...": the GPUs used are the last "Nx" before the chip name
        found = re.findall(r"(\d+)x(?:H100|H200|GH200|B200)", setup)
        return int(found[-1]) if found else 1
    found = re.search(r"(\d+)x ?", setup)
    return int(found.group(1)) if found else 1


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def derive(lambda_dir: Path) -> str:
    groups: dict[tuple, list[float]] = defaultdict(list)
    v1_batch: dict[tuple[str, str, str], float] = {}  # (chip, precision file, model) -> per-GPU batch
    for precision_file in ("fp16", "fp32"):
        batches = {row["name_gpu"]: row for row in read(lambda_dir / f"pytorch-train-bs-{precision_file}.csv")}
        for row in read(lambda_dir / f"pytorch-train-throughput-{precision_file}.csv"):
            setup = row["name_gpu"]
            chip = chip_of(setup)
            if chip is None:
                continue
            count = int(float(row["num_gpu"]))
            for column, (model, unit) in MODELS.items():
                value = float(row[column] or 0)
                batch = float(batches[setup][column] or 0) / count * reference_model(model).samples_per_item
                if value <= 0 or batch <= 0:
                    continue
                precision = "amp" if precision_file == "fp16" else ("tf32" if chip[1] else "fp32")
                v1_batch.setdefault((chip[0], precision_file, model), batch)
                groups[("lambda-v1", model, unit, chip[0], count, precision, batch)].append(value)
    for precision_file in ("fp16", "fp32"):
        for row in read(lambda_dir / f"pytorch-train-throughput-v2-{precision_file}.csv"):
            setup = row[""]
            chip = chip_of(setup)
            if chip is None or setup.endswith("_bk"):
                continue
            count = count_of(setup, v2=True)
            for column, (model, unit) in MODELS.items():
                value = float(row.get(column) or 0)
                batch = v1_batch.get((chip[0], precision_file, model)) or v1_batch.get(("h100", precision_file, model))
                if value <= 0 or not batch:
                    continue
                precision = "amp" if precision_file == "fp16" else ("tf32" if chip[1] else "fp32")
                groups[("lambda-v2", model, unit, chip[0], count, precision, batch)].append(value)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for key in sorted(groups, key=lambda k: (k[1], k[3], k[4], k[5], k[0])):
        source, model, unit, chip, count, precision, batch = key
        values = groups[key]
        writer.writerow([SOURCE if source == "lambda-v1" else SOURCE + ", v2 runs", source, model, unit, chip, count,
                         1, precision, f"{batch:g}", f"{statistics.median(values):.6g}", len(values)])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if OUTPUT differs from what would be written")
    args = parser.parse_args(argv)
    text = derive(args.source)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is out of date; run scripts/derive_dl_measurements.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10)) - 1} configurations to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
