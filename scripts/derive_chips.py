#!/usr/bin/env python3
"""Derive the packaged chip table from Epoch AI's "Data on Machine Learning Hardware".

Input:  ``ml_hardware.csv`` — Epoch AI, "Data on Machine Learning Hardware" (CC-BY 4.0, credit
        "Epoch AI"): one row per accelerator, throughput in FLOP/s (or OP/s), memory in bytes,
        bandwidths in byte/s, TDP in W.
Output: ``src/suanli/catalog/data/chips.csv`` — one row per chip that suanli knows, in the order of
        ``CHIPS`` below, with the columns of ``COLUMNS`` in display units:

* ``fp16_tflops``  dense FP16/BF16 *matrix* (tensor-core / cube-unit) throughput, TFLOPS, with
  FP32 accumulate where that is the datacenter convention (see "fp16 convention" below);
* ``fp32_tflops``  FP32 vector (non-tensor) throughput, TFLOPS;
* ``tf32_tflops``  dense TF32 tensor throughput, TFLOPS (blank where the chip has no TF32);
* ``int8_tops``    dense INT8 throughput, TOPS;
* ``memory_gib``   accelerator memory as the marketed number (an "80 GB" card -> 80);
* ``memory_bandwidth_gbs``  memory bandwidth, GB/s (10^9 byte/s);
* ``interconnect_gbs``      intra-node chip-to-chip fabric (NVLink, HCCS, MLU-Link), total GB/s per
  chip; blank when unknown or when the card has only PCIe;
* ``tdp_w``  board power, W;  ``release_year``  from Epoch's release date.

Selection and overrides
-----------------------
Every chip is taken from exactly one Epoch row, named by its exact "Hardware name"
(``ChipDef.source_name``). Numbers come from that row. Where the row is blank, or its figure is not
comparable with the rest of the table, an explicit ``fill`` / ``override`` (see ``Fix``) replaces
it, and the reason is written into the ``notes`` column. The script refuses to run when a fix no
longer matches the source (a ``fill`` whose source cell is now populated, an ``override`` whose
source cell is now blank or already equal), so that an updated source forces a review.

fp16 convention
---------------
* NVIDIA rows: Epoch's "Tensor-FP16/BF16 performance" column (dense tensor-core figure).
  GeForce cards quote tensor FP16 *with FP16 accumulate*, which runs at twice the rate of FP32
  accumulate on those cards; datacenter parts quote FP32 accumulate (the mode mixed-precision
  training uses). For GeForce cards the table therefore uses NVIDIA's architecture-whitepaper
  figure for FP16 with FP32 accumulate (an explicit override).
* Huawei Ascend, Cambricon, Kunlunxin and Hygon rows: Epoch puts the vendor's matrix FP16 figure
  in "FP16 (half precision) performance", so that column is used (``fp16_column="half"``).
* Chips without tensor cores (P100, Hygon DCU Z100) use their packed-FP16 vector figure.

Usage (from the repository root)::

    python scripts/derive_chips.py [SOURCE_CSV] [--output PATH] [--check]

The default input is ``../shared/data/chips/ml_hardware.csv`` relative to the repository root.
``--check`` writes nothing and exits with status 1 when the output would differ from the file on
disk. Uses the standard library only; the output is byte-for-byte deterministic (UTF-8, ``\\n``
line endings, fixed row order, fixed number formatting).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = REPO_ROOT / ".." / "shared" / "data" / "chips" / "ml_hardware.csv"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "suanli" / "catalog" / "data" / "chips.csv"

COLUMNS = (
    "key",
    "name",
    "vendor",
    "vendor_zh",
    "ecosystem",
    "form_factor",
    "fp16_tflops",
    "fp32_tflops",
    "tf32_tflops",
    "int8_tops",
    "memory_gib",
    "memory_bandwidth_gbs",
    "interconnect_gbs",
    "tdp_w",
    "release_year",
    "domestic",
    "source_name",
    "notes",
)

# Every chip row must end with these filled (the database columns are NOT NULL).
CORE_FIELDS = ("fp16_tflops", "fp32_tflops", "memory_gib", "memory_bandwidth_gbs", "tdp_w")

# Epoch column names.
SRC_NAME = "Hardware name"
SRC_MANUFACTURER = "Manufacturer"
SRC_RELEASE = "Release date"
SRC_TENSOR_FP16 = "Tensor-FP16/BF16 performance (FLOP/s)"
SRC_HALF_FP16 = "FP16 (half precision) performance (FLOP/s)"

# Numeric output field -> (Epoch column, divisor to display unit).
NUMERIC_SOURCES: dict[str, tuple[str, float]] = {
    "fp32_tflops": ("FP32 (single precision) performance (FLOP/s)", 1e12),
    "tf32_tflops": ("TF32 (TensorFloat-32) performance (FLOP/s)", 1e12),
    "int8_tops": ("INT8 performance (OP/s)", 1e12),
    "memory_gib": ("Memory (bytes)", 1e9),  # marketed GB: 80e9 bytes -> 80
    "memory_bandwidth_gbs": ("Memory bandwidth (byte/s)", 1e9),
    "interconnect_gbs": ("Intranode bandwidth (byte/s)", 1e9),
    "tdp_w": ("TDP (W)", 1.0),
}
INTEGER_FIELDS = frozenset({"memory_gib", "tdp_w", "release_year"})

# vendor -> (vendor_zh, ecosystem, domestic, substring expected in Epoch's "Manufacturer")
VENDORS: dict[str, tuple[str, str, bool, str]] = {
    "NVIDIA": ("英伟达", "cuda", False, "NVIDIA"),
    "Huawei": ("华为昇腾", "cann", True, "Huawei"),
    "Hygon": ("海光", "dtk", True, "Hygon"),
    "Cambricon": ("寒武纪", "neuware", True, "Cambricon"),
    "Kunlunxin": ("昆仑芯", "xpu", True, "Kunlunxin"),
}


@dataclass(frozen=True)
class FromRow:
    """A fill value read from another Epoch row (same column), e.g. a sibling SKU."""

    source_name: str


@dataclass(frozen=True)
class Fix:
    """One explicit change to a value taken from the selected source row.

    ``kind="fill"`` requires the source cell to be blank; ``kind="override"`` requires it to be
    present (the source figure is replaced because it is not comparable). ``note`` is written to
    the ``notes`` column, with ``{value}`` replaced by the value applied (useful with ``FromRow``).
    """

    field: str
    value: float | int | FromRow | None
    note: str
    kind: Literal["fill", "override", "clear"]


def fill(field: str, value: float | int | FromRow, note: str) -> Fix:
    """A gap fill: the source cell is blank."""
    return Fix(field, value, note, "fill")


def override(field: str, value: float | int, note: str) -> Fix:
    """An override: the source cell is present but not comparable with the rest of the table."""
    return Fix(field, value, note, "override")


def clear(field: str, note: str) -> Fix:
    """A blanking: the source cell is present but does not apply to the chip as rented (e.g. a pairwise
    NVLink bridge on a PCIe card)."""
    return Fix(field, None, note, "clear")


@dataclass(frozen=True)
class ChipDef:
    """How one chip row is built: which Epoch row, what to call it, and which fixes apply."""

    key: str
    source_name: str
    name: str
    vendor: str
    form_factor: Literal["sxm", "pcie", "module"]
    fp16_column: Literal["tensor", "half"] = "tensor"
    remark: str = ""  # why this source row (or column) was chosen; first in ``notes``
    fixes: tuple[Fix, ...] = ()


# The chip table, in output order. Every number not listed under ``fixes`` comes straight from
# the named Epoch row.
CHIPS: tuple[ChipDef, ...] = (
    # --- NVIDIA datacenter, newest first -------------------------------------------------------
    ChipDef(
        key="h200",
        source_name="NVIDIA H200 SXM",
        name="NVIDIA H200 SXM 141GB",
        vendor="NVIDIA",
        form_factor="sxm",
        fixes=(
            fill("memory_gib", 141, "memory 141 GB filled from NVIDIA H200 datasheet"),
            fill("interconnect_gbs", 900, "interconnect 900 GB/s (NVLink 4) filled from NVIDIA H200 datasheet"),
        ),
    ),
    ChipDef(
        key="h100",
        source_name="NVIDIA H100 SXM5 80GB",
        name="NVIDIA H100 SXM5 80GB",
        vendor="NVIDIA",
        form_factor="sxm",
    ),
    ChipDef(
        key="h800",
        source_name="NVIDIA H800 SXM5",
        name="NVIDIA H800 SXM5 80GB",
        vendor="NVIDIA",
        form_factor="sxm",
        fixes=(
            # The source row mixes NVIDIA's datasheet tensor figure (989 TFLOPS, identical to the
            # H100 SXM5) with TechPowerUp FP32/TF32 figures computed at a lower boost clock; the
            # H800 runs the H100 SXM5's clocks (only FP64 and NVLink are cut).
            override("fp32_tflops", 66.91,
                     "fp32 66.91 (source 59.3 is clock-derived and inconsistent with the row's own "
                     "989 FP16) set to the H100 SXM5 figure per NVIDIA H800 datasheet (67 TFLOPS)"),
            override("tf32_tflops", 494.7,
                     "tf32 494.7 (source 454.5) set to the H100 SXM5 figure per NVIDIA H800 "
                     "datasheet (989 TFLOPS sparse = 494.7 dense)"),
            fill("interconnect_gbs", 400, "interconnect 400 GB/s (NVLink, export-limited) filled from NVIDIA H800 datasheet"),
        ),
    ),
    ChipDef(
        key="h20",
        source_name="NVIDIA HGX H20",
        name="NVIDIA H20 96GB",
        vendor="NVIDIA",
        form_factor="sxm",
        fixes=(
            fill("interconnect_gbs", 900, "interconnect 900 GB/s (NVLink 4) filled from NVIDIA HGX H20 specification"),
        ),
    ),
    ChipDef(
        key="a100",
        source_name="NVIDIA A100 SXM4 80 GB",
        name="NVIDIA A100 SXM4 80GB",
        vendor="NVIDIA",
        form_factor="sxm",
    ),
    ChipDef(
        key="a800",
        source_name="NVIDIA A800 SXM",
        name="NVIDIA A800 SXM4 80GB",
        vendor="NVIDIA",
        form_factor="sxm",
        fixes=(
            # The A800 is the A100 with NVLink cut from 600 to 400 GB/s; NVIDIA's A800 datasheet
            # lists the A100's throughput figures. The source's 311.8 / 155.9 are TechPowerUp
            # clock-derived roundings of the same silicon at the same clocks.
            override("fp16_tflops", 312,
                     "fp16 312 (source 311.8, a TechPowerUp rounding) set from NVIDIA A800 datasheet, same as A100"),
            override("tf32_tflops", 156, "tf32 156 (source 155.9) set from NVIDIA A800 datasheet, same as A100"),
            fill("int8_tops", 624, "int8 624 TOPS filled from NVIDIA A800 datasheet"),
            fill("memory_gib", 80, "memory 80 GB filled from NVIDIA A800 datasheet (SXM4 80GB)"),
            fill("interconnect_gbs", 400, "interconnect 400 GB/s (NVLink, export-limited) filled from NVIDIA A800 datasheet"),
        ),
    ),
    ChipDef(
        key="l40",
        source_name="NVIDIA L40",
        name="NVIDIA L40 48GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("tf32_tflops", 90.5, "tf32 90.5 (dense; 181 sparse) filled from NVIDIA L40 datasheet"),
        ),
    ),
    ChipDef(
        key="l20",
        source_name="NVIDIA L20 PCle",  # sic: Epoch spells it "PCle"
        name="NVIDIA L20 48GB",
        vendor="NVIDIA",
        form_factor="pcie",
    ),
    ChipDef(
        key="v100",
        source_name="NVIDIA Tesla V100 SXM2 32 GB",
        name="NVIDIA V100 SXM2 32GB",
        vendor="NVIDIA",
        form_factor="sxm",
    ),
    ChipDef(
        key="t4",
        source_name="NVIDIA Tesla T4",
        name="NVIDIA T4 16GB",
        vendor="NVIDIA",
        form_factor="pcie",
        # The tensor column is blank; the FP16 column's 65.13 is the tensor-core mixed-precision
        # (FP16 in, FP32 accumulate) figure NVIDIA quotes for the T4.
        fp16_column="half",
        remark="fp16 from source FP16 column (65.13 = NVIDIA T4 datasheet mixed-precision FP16/FP32 tensor figure, 65 TFLOPS)",
        fixes=(
            fill("int8_tops", 130, "int8 130 TOPS filled from NVIDIA T4 datasheet"),
        ),
    ),
    ChipDef(
        key="p100",
        source_name="NVIDIA P100",
        name="NVIDIA P100 PCIe 16GB",
        vendor="NVIDIA",
        form_factor="pcie",
        # Pascal has no tensor cores: its best FP16 matrix rate is packed FP16 on the CUDA cores.
        fp16_column="half",
        remark=("row 'NVIDIA P100' chosen (NVIDIA P100 PCIe 16GB datasheet figures, the variant "
                "rented in clouds); fp16 from source FP16 column: no tensor cores, packed FP16 at 2x FP32"),
    ),
    ChipDef(
        key="p100-sxm2",
        source_name="NVIDIA Tesla P100 SXM2",
        name="NVIDIA P100 SXM2 16GB",
        vendor="NVIDIA",
        form_factor="sxm",
        # The NVLink variant in DGX-1, the server of the published P100 training benchmarks. No tensor cores.
        fp16_column="half",
        remark="fp16 from source FP16 column: no tensor cores, packed FP16 at 2x FP32",
        fixes=(
            fill("memory_gib", 16, "memory 16 GB filled from NVIDIA Tesla P100 datasheet"),
            fill("memory_bandwidth_gbs", 732, "bandwidth 732 GB/s filled from NVIDIA Tesla P100 datasheet"),
            fill("interconnect_gbs", 160, "interconnect 160 GB/s (NVLink 1, 4 links) filled from NVIDIA Tesla P100 "
                 "datasheet"),
        ),
    ),
    # --- NVIDIA datacenter variants and older / inference parts ------------------------------------
    ChipDef(
        key="h100-pcie",
        source_name="NVIDIA H100 PCIe",
        name="NVIDIA H100 PCIe 80GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            override("memory_bandwidth_gbs", 2000, "bandwidth 2000 GB/s (source 2040) set from NVIDIA H100 PCIe datasheet"),
            clear("interconnect_gbs", "NVLink bridge (600 GB/s) joins pairs only: the table treats the card as "
                  "PCIe-only, as an 8-card server all-reduces over PCIe Gen5"),
        ),
    ),
    ChipDef(
        key="a100-40gb",
        source_name="NVIDIA A100 SXM4 40 GB",
        name="NVIDIA A100 SXM4 40GB",
        vendor="NVIDIA",
        form_factor="sxm",
        fixes=(
            override("memory_bandwidth_gbs", 1555, "bandwidth 1555 GB/s (source 1560) set from NVIDIA A100 datasheet"),
        ),
    ),
    ChipDef(
        key="a100-pcie",
        source_name="NVIDIA A100 PCIe",
        name="NVIDIA A100 PCIe 80GB",
        vendor="NVIDIA",
        form_factor="pcie",
        remark="row 'NVIDIA A100 PCIe' (the 40 GB card) with the 80 GB card's memory and bandwidth",
        fixes=(
            override("memory_gib", 80, "memory 80 GB (source row is the 40 GB card) set from NVIDIA A100 80GB PCIe datasheet"),
            override("memory_bandwidth_gbs", 1935, "bandwidth 1935 GB/s set from NVIDIA A100 80GB PCIe datasheet"),
            clear("interconnect_gbs", "NVLink bridge joins pairs only: treated as PCIe-only"),
        ),
    ),
    ChipDef(
        key="a100-pcie-40gb",
        source_name="NVIDIA A100 PCIe",
        name="NVIDIA A100 PCIe 40GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            override("memory_bandwidth_gbs", 1555, "bandwidth 1555 GB/s (source 1940) set from NVIDIA A100 40GB PCIe datasheet"),
            override("tdp_w", 250, "tdp 250 W (source 300) set from NVIDIA A100 40GB PCIe datasheet"),
            clear("interconnect_gbs", "NVLink bridge joins pairs only: treated as PCIe-only"),
        ),
    ),
    ChipDef(
        key="v100-16gb",
        source_name="NVIDIA Tesla V100 SXM2 16 GB",
        name="NVIDIA V100 SXM2 16GB",
        vendor="NVIDIA",
        form_factor="sxm",
        fixes=(
            fill("memory_gib", 16, "memory 16 GB filled from NVIDIA V100 datasheet"),
        ),
    ),
    ChipDef(
        key="v100-pcie",
        source_name="NVIDIA Tesla V100 PCIe 16 GB",
        name="NVIDIA V100 PCIe 16GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            clear("interconnect_gbs", "source 32 GB/s is PCIe 3.0 x16, not a chip fabric: PCIe-only"),
        ),
    ),
    ChipDef(
        key="a40",
        source_name="NVIDIA A40 PCIe",
        name="NVIDIA A40 48GB",
        vendor="NVIDIA",
        form_factor="pcie",
    ),
    ChipDef(
        key="a10",
        source_name="NVIDIA A10 PCIe",
        name="NVIDIA A10 24GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 125, "fp16 125 (dense tensor, FP32 accumulate) filled from NVIDIA A10 datasheet"),
            fill("tf32_tflops", 62.5, "tf32 62.5 (dense) filled from NVIDIA A10 datasheet"),
        ),
    ),
    ChipDef(
        key="a10g",
        source_name="NVIDIA A10G",
        name="NVIDIA A10G 24GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 125, "fp16 125 filled with the A10 datasheet figure: NVIDIA publishes no tensor "
                 "figure for the AWS-only A10G, whose FP32 rate equals the A10's"),
            fill("tf32_tflops", 62.5, "tf32 62.5 filled with the A10 datasheet figure (as fp16)"),
        ),
    ),
    ChipDef(
        key="l4",
        source_name="NVIDIA L4",
        name="NVIDIA L4 24GB",
        vendor="NVIDIA",
        form_factor="pcie",
    ),
    ChipDef(
        key="k80",
        source_name="NVIDIA Tesla K80",
        name="NVIDIA K80 (one GK210, 12GB)",
        vendor="NVIDIA",
        form_factor="pcie",
        remark=("per GK210 die, as clouds rent it ('1 GPU' of a K80 board = half the board): "
                "the source row is the two-die board"),
        fixes=(
            fill("fp16_tflops", 4.063, "fp16 4.063 = fp32 (Kepler has no faster FP16 path)"),
            override("fp32_tflops", 4.063, "fp32 4.063 = half the board's 8.126 (one die)"),
            override("memory_gib", 12, "memory 12 GB = half the board's 24 GB (one die)"),
            override("memory_bandwidth_gbs", 240.5, "bandwidth 240.5 GB/s per die (NVIDIA K80 datasheet: 480 GB/s per board)"),
            override("tdp_w", 150, "tdp 150 W = half the board's 300 W"),
        ),
    ),
    ChipDef(
        key="quadro-rtx6000",
        source_name="NVIDIA Quadro RTX 6000",
        name="NVIDIA Quadro RTX 6000 24GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 130.5, "fp16 130.5 (tensor, FP32 accumulate at full rate on Quadro) filled from "
                 "NVIDIA Quadro RTX 6000 datasheet"),
        ),
    ),
    ChipDef(
        key="quadro-rtx8000",
        source_name="NVIDIA Quadro RTX 8000",
        name="NVIDIA Quadro RTX 8000 48GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 130.5, "fp16 130.5 (tensor, FP32 accumulate at full rate on Quadro) filled from "
                 "NVIDIA Quadro RTX 8000 datasheet"),
        ),
    ),
    ChipDef(
        key="rtx-a6000",
        source_name="NVIDIA RTX A6000",
        name="NVIDIA RTX A6000 48GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 154.8, "fp16 154.8 (dense tensor, FP32 accumulate; 309.7 sparse) filled from NVIDIA "
                 "RTX A6000 datasheet"),
            fill("tf32_tflops", 77.4, "tf32 77.4 (dense; 154.8 sparse) filled from NVIDIA RTX A6000 datasheet"),
        ),
    ),
    ChipDef(
        key="rtx6000-ada",
        source_name="NVIDIA RTX 6000 Ada Generation",
        name="NVIDIA RTX 6000 Ada 48GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 364.2, "fp16 364.2 (dense tensor; 1457 FP8 sparse / 4) filled from NVIDIA RTX 6000 "
                 "Ada datasheet"),
            fill("tf32_tflops", 182.1, "tf32 182.1 (dense) filled from NVIDIA RTX 6000 Ada datasheet"),
            fill("memory_gib", 48, "memory 48 GB filled from NVIDIA RTX 6000 Ada datasheet"),
            fill("memory_bandwidth_gbs", 960, "bandwidth 960 GB/s filled from NVIDIA RTX 6000 Ada datasheet"),
            fill("tdp_w", 300, "tdp 300 W filled from NVIDIA RTX 6000 Ada datasheet"),
        ),
    ),
    # --- NVIDIA GeForce ---------------------------------------------------------------------------
    ChipDef(
        key="rtx4090",
        source_name="NVIDIA GeForce RTX 4090",
        name="NVIDIA GeForce RTX 4090 24GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            override("fp16_tflops", 165.2,
                     "fp16 165.2 (source 330 is FP16-accumulate) set to dense FP16 with FP32 accumulate "
                     "from NVIDIA Ada Lovelace architecture whitepaper, comparable to datacenter figures"),
        ),
    ),
    ChipDef(
        key="rtx3090",
        source_name="NVIDIA GeForce RTX 3090",
        name="NVIDIA GeForce RTX 3090 24GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            fill("fp16_tflops", 71,
                 "fp16 71 filled (dense FP16 tensor with FP32 accumulate; 142 with FP16 accumulate) "
                 "from NVIDIA Ampere GA102 whitepaper"),
            fill("tf32_tflops", 35.6, "tf32 35.6 (dense) filled from NVIDIA Ampere GA102 whitepaper"),
        ),
    ),
    ChipDef(
        key="rtx2080ti",
        source_name="NVIDIA GeForce RTX 2080 Ti 11GB",
        name="NVIDIA GeForce RTX 2080 Ti 11GB",
        vendor="NVIDIA",
        form_factor="pcie",
        fixes=(
            override("fp16_tflops", 56.9,
                     "fp16 56.9 (source 113.8 is FP16-accumulate) set to dense FP16 with FP32 accumulate "
                     "from NVIDIA Turing architecture whitepaper (Founders Edition, as the row's INT8)"),
        ),
    ),
    # --- Domestic (made in China) ---------------------------------------------------------------
    ChipDef(
        key="ascend-910b",
        source_name="Huawei Ascend 910B2",
        name="Huawei Ascend 910B 64GB",
        vendor="Huawei",
        form_factor="module",
        fp16_column="half",
        remark=("row 'Huawei Ascend 910B2' chosen: the 910B rented in Chinese clouds is the 64 GB "
                "910B2/910B3 class, and 910B2's 376 TFLOPS is the figure usually quoted for '910B' "
                "(the generic 'Huawei Ascend 910B' row has the same FP16 but 32 GB; 910B3 is 313 TFLOPS)"),
        fixes=(
            # The 910B2 row has only FP16, memory and bandwidth; the generic 910B row (same 376
            # TFLOPS FP16, i.e. the same die bin) supplies the rest.
            fill("fp32_tflops", FromRow("Huawei Ascend 910B"),
                 "fp32 {value} filled from Epoch row 'Huawei Ascend 910B' (same FP16 figure)"),
            fill("tdp_w", FromRow("Huawei Ascend 910B"), "tdp {value} W filled from Epoch row 'Huawei Ascend 910B'"),
            fill("interconnect_gbs", FromRow("Huawei Ascend 910B"),
                 "interconnect {value} GB/s (HCCS) filled from Epoch row 'Huawei Ascend 910B'"),
            fill("release_year", FromRow("Huawei Ascend 910B"),
                 "release year {value} filled from Epoch row 'Huawei Ascend 910B'"),
        ),
    ),
    ChipDef(
        key="ascend-910",
        source_name="Huawei Ascend 910A",
        name="Huawei Ascend 910 (910A) 32GB",
        vendor="Huawei",
        form_factor="module",
        fp16_column="half",
        remark="the first-generation Ascend 910 (256 TFLOPS FP16), still rented in older Atlas 800 servers",
        fixes=(
            fill("fp32_tflops", 64, "fp32 64 filled as FP16 / 4, the ratio of the 910B rows (376 / 94); not a "
                 "vendor figure"),
        ),
    ),
    ChipDef(
        key="ascend-910b3",
        source_name="Huawei Ascend 910B3",
        name="Huawei Ascend 910B3 64GB",
        vendor="Huawei",
        form_factor="module",
        fp16_column="half",
        fixes=(
            fill("fp32_tflops", 78.3, "fp32 78.3 filled as the 910B2's 94 scaled by FP16 313/376 (same die, lower "
                 "clock); not a vendor figure"),
            fill("tdp_w", 400, "tdp 400 W filled from Epoch row 'Huawei Ascend 910B'"),
            fill("interconnect_gbs", FromRow("Huawei Ascend 910B"),
                 "interconnect {value} GB/s (HCCS) filled from Epoch row 'Huawei Ascend 910B'"),
            fill("release_year", FromRow("Huawei Ascend 910B"),
                 "release year {value} filled from Epoch row 'Huawei Ascend 910B'"),
        ),
    ),
    ChipDef(
        key="ascend-910b4",
        source_name="Huawei Ascend 910B4",
        name="Huawei Ascend 910B4 32GB",
        vendor="Huawei",
        form_factor="module",
        fp16_column="half",
        fixes=(
            fill("tdp_w", 350, "tdp 350 W filled (Atlas 800T A2 910B4 module; vendor channel figure)"),
            fill("interconnect_gbs", FromRow("Huawei Ascend 910B"),
                 "interconnect {value} GB/s (HCCS) filled from Epoch row 'Huawei Ascend 910B'"),
            fill("release_year", FromRow("Huawei Ascend 910B"),
                 "release year {value} filled from Epoch row 'Huawei Ascend 910B'"),
        ),
    ),
    ChipDef(
        key="hygon-dcu-z100",
        source_name="Shensuan-1",
        name="Hygon DCU Z100 (深算一号)",
        vendor="Hygon",
        form_factor="pcie",
        fp16_column="half",
        remark="fp16 from source FP16 column: the DCU has no matrix units, packed FP16 on the vector cores",
        fixes=(
            # The DCU is a GCN-derived GPGPU whose packed FP16 runs at exactly 2x its FP32 rate.
            fill("fp32_tflops", 12.25,
                 "fp32 12.25 derived as half the source FP16 24.5 (packed FP16 runs at 2x FP32 on "
                 "this GCN-derived DCU); not a vendor figure"),
        ),
    ),
    ChipDef(
        key="mlu370-x8",
        source_name="Cambricon MLU370-X8",
        name="Cambricon MLU370-X8 48GB",
        vendor="Cambricon",
        form_factor="pcie",
        fp16_column="half",
        remark="per card (two MLU370 chips)",
        fixes=(
            fill("interconnect_gbs", 200,
                 "interconnect 200 GB/s (MLU-Link, per card) filled from Cambricon MLU370-X8 launch specification"),
        ),
    ),
    ChipDef(
        key="kunlunxin-r200",
        source_name="Baidu Kunlun R200 (150W)",
        name="Kunlunxin R200 16GB",
        vendor="Kunlunxin",
        form_factor="pcie",
        fp16_column="half",
    ),
)

REQUIRED_KEYS = (
    "a100", "a800", "h100", "h800", "h20", "l20", "l40", "rtx4090", "ascend-910b", "hygon-dcu-z100",
    "mlu370-x8", "kunlunxin-r200", "v100", "t4", "p100", "rtx3090", "rtx2080ti",
)


class DerivationError(Exception):
    """The source does not fit the chip definitions (a row is missing or a fix is stale)."""


def parse_number(cell: str) -> float | None:
    """A source cell as a float, or ``None`` when blank."""
    cell = cell.strip()
    return float(cell) if cell else None


def format_number(value: float | int | None, *, integer: bool = False) -> str:
    """Deterministic text for a number: blank for ``None``, no trailing ``.0``, 3 decimals max."""
    if value is None:
        return ""
    if integer:
        rounded = round(float(value))
        if abs(float(value) - rounded) > 1e-6:
            raise DerivationError(f"expected an integral value, got {value!r}")
        return str(rounded)
    r = round(float(value), 3)
    return str(int(r)) if r.is_integer() else repr(r)


def source_value(row: dict[str, str], field: str, fp16_column: str = "tensor") -> float | None:
    """The value of output ``field`` in Epoch ``row``, converted to display units."""
    if field == "fp16_tflops":
        cell = row[SRC_TENSOR_FP16 if fp16_column == "tensor" else SRC_HALF_FP16]
        v = parse_number(cell)
        return None if v is None else v / 1e12
    if field == "release_year":
        date = row[SRC_RELEASE].strip()
        return float(date[:4]) if date else None
    column, divisor = NUMERIC_SOURCES[field]
    v = parse_number(row[column])
    return None if v is None else v / divisor


def read_source(path: Path) -> dict[str, dict[str, str]]:
    """The Epoch CSV as ``{Hardware name: row}``; names must be unique."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_name: dict[str, dict[str, str]] = {}
    for row in rows:
        name = row[SRC_NAME]
        if name in by_name:
            raise DerivationError(f"duplicate Hardware name in source: {name!r}")
        by_name[name] = row
    return by_name


def same(a: float, b: float) -> bool:
    """Equality at the table's display precision (3 decimals)."""
    return round(a, 3) == round(b, 3)


def derive_row(chip: ChipDef, source: dict[str, dict[str, str]]) -> dict[str, str]:
    """Build one output row (all cells as text) from its source row and fixes."""
    try:
        row = source[chip.source_name]
    except KeyError:
        raise DerivationError(f"{chip.key}: no source row named {chip.source_name!r}") from None
    vendor_zh, ecosystem, domestic, manufacturer = VENDORS[chip.vendor]
    if manufacturer not in row[SRC_MANUFACTURER]:
        raise DerivationError(
            f"{chip.key}: source manufacturer {row[SRC_MANUFACTURER]!r} does not match vendor {chip.vendor!r}"
        )

    values: dict[str, float | None] = {"fp16_tflops": source_value(row, "fp16_tflops", chip.fp16_column)}
    for field in (*NUMERIC_SOURCES, "release_year"):
        values[field] = source_value(row, field)

    notes = [chip.remark] if chip.remark else []
    for fix in chip.fixes:
        if fix.field not in values:
            raise DerivationError(f"{chip.key}: unknown field {fix.field!r} in fix")
        current = values[fix.field]
        if fix.kind == "clear":
            if current is None:
                raise DerivationError(f"{chip.key}: stale clear of {fix.field}: the source cell is blank now")
            values[fix.field] = None
            notes.append(fix.note)
            continue
        if isinstance(fix.value, FromRow):
            if fix.value.source_name not in source:
                raise DerivationError(f"{chip.key}: no source row named {fix.value.source_name!r}")
            new = source_value(source[fix.value.source_name], fix.field, chip.fp16_column)
            if new is None:
                raise DerivationError(f"{chip.key}: {fix.value.source_name!r} has no {fix.field} either")
        else:
            new = float(fix.value)
        if fix.kind == "fill" and current is not None:
            raise DerivationError(
                f"{chip.key}: stale fill of {fix.field}: the source now has {current!r}; review the fix"
            )
        if fix.kind == "override" and (current is None or same(current, new)):
            raise DerivationError(
                f"{chip.key}: stale override of {fix.field}: source has {current!r}; review the fix"
            )
        values[fix.field] = new
        notes.append(fix.note.format(value=format_number(new, integer=fix.field in INTEGER_FIELDS)))

    out = {
        "key": chip.key,
        "name": chip.name,
        "vendor": chip.vendor,
        "vendor_zh": vendor_zh,
        "ecosystem": ecosystem,
        "form_factor": chip.form_factor,
    }
    for field, value in values.items():
        out[field] = format_number(value, integer=field in INTEGER_FIELDS)
    out["domestic"] = "true" if domestic else "false"
    out["source_name"] = chip.source_name
    out["notes"] = "; ".join(notes)

    missing = [f for f in CORE_FIELDS if not out[f]]
    if missing:
        raise DerivationError(f"{chip.key}: blank core field(s) {missing}; add a documented fill")
    return {c: out[c] for c in COLUMNS}


def derive(source_path: Path) -> str:
    """The complete output CSV text for the Epoch file at ``source_path``."""
    source = read_source(source_path)
    keys = [c.key for c in CHIPS]
    if len(set(keys)) != len(keys):
        raise DerivationError("duplicate chip keys in CHIPS")
    absent = [k for k in REQUIRED_KEYS if k not in keys]
    if absent:
        raise DerivationError(f"required chips missing from CHIPS: {absent}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for chip in CHIPS:
        row = derive_row(chip, source)
        writer.writerow([row[c] for c in COLUMNS])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("source", nargs="?", type=Path, default=None,
                        help=f"Epoch ml_hardware.csv (default: {DEFAULT_INPUT})")
    parser.add_argument("--input", dest="input_opt", type=Path, default=None, help="same as SOURCE")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="chips.csv to write")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if OUTPUT differs from what would be written")
    args = parser.parse_args(argv)
    source_path: Path = args.source or args.input_opt or DEFAULT_INPUT
    if not source_path.is_file():
        print(f"error: source CSV not found: {source_path}", file=sys.stderr)
        return 2
    try:
        text = derive(source_path)
    except DerivationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = text.encode("utf-8")
    if args.check:
        current = args.output.read_bytes() if args.output.is_file() else b""
        if current != data:
            print(f"{args.output} is out of date; run scripts/derive_chips.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {len(CHIPS)} chips to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
