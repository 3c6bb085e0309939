"""Reference prices per accelerator-hour: real market rows where the market rents the chip, a formula elsewhere.

Pure code: no database and no I/O except reading the packaged ``data/reference_prices.csv``. Used by the demo
and synthetic networks (:mod:`suanli.catalog.demo_network`) to price products.

*Market chips* are priced from real public on-demand rental data (``reference_prices.csv``,
derived by ``scripts/derive_reference_prices.py`` from github.com/tugot17/gpu-price-tracker,
median of daily medians, 7.1 CNY/USD): A100 and its export variant A800 use the A100 80GB SXM4
row, H100 and H800 the H100 80GB SXM5 row (the PCIe rows if the chip says it is a PCIe card), H200
the H200 row.

*Every other chip* is priced relative to the A100 (``P_A100`` = the A100 SXM4 reference,
F = dense FP16/BF16 TFLOPS, M = memory GiB, B = memory bandwidth GB/s, A100 = 312 / 80 / 2039)::

    r     = sqrt( F/F_A100 * min(1, M/M_A100) * min(1, B/B_A100) )
    price = (HOSTING + (P_A100 - HOSTING) * r) * class_discount,   bounded to [LOW, HIGH]

* ``r`` is the geometric blend of compute, memory size and memory bandwidth, each entering under
  a square root: sublinear, doubling any one of them raises the price by ~41%, not 100%. Memory
  above the A100's does not raise the price (the market pays little for it: an H20 with 96 GiB at
  4 TB/s rents far below an A100), so only compute can lift a chip above the A100.
* ``HOSTING`` = 0.50 CNY: the part of a card-hour that is the same for any card (power and cooling
  share, rack, network, host): old and small cards do not go to zero.
* ``class_discount``: 0.85 for domestic chips (software-ecosystem and migration cost for a
  CUDA-first market), 0.50 for consumer cards (no ECC / NVLink, data-center licence limits, lower
  reliability), 1.00 otherwise.
* bounded to ``LOW`` = 0.60 CNY and ``HIGH`` = 2 x the H100 reference.

Result with the packaged chip table (CNY per card-hour): RTX 4090 1.92, RTX 3090 1.31, RTX 2080 Ti
0.77, T4 1.47, P100 1.28, V100 3.67, L20 4.22, L40 5.08, H20 8.72, Ascend 910B 9.25, MLU370-X8 2.82,
Kunlunxin R200 1.88, Hygon DCU Z100 1.70; market: A100/A800 12.43, H100/H800 19.10, H200 25.49.
These are inside the Chinese market bands the unit tests assert (4090 1.5-3, A100/A800 8-15,
H100/H800 15-30, 910B 6-12, L20/L40 3-6, T4 1-2, V100 2-4). As a cross-check, the formula applied
to the H100 gives 21.74 against the market's 19.10.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only attributes of ChipSpec are used
    from suanli.core.chips import ChipSpec

_A100_FP16_TFLOPS = Decimal(312)
_A100_MEMORY_GIB = Decimal(80)
_A100_BANDWIDTH_GBS = Decimal(2039)
HOSTING_FEN = 50
LOW_FEN = 60
DOMESTIC_DISCOUNT = Decimal("0.85")
CONSUMER_DISCOUNT = Decimal("0.50")

# chip key -> (gpu_type, SXM socket, PCIe socket) of reference_prices.csv
_MARKET_ROWS: dict[str, tuple[str, str, str]] = {
    "a100": ("A100_80GB", "SXM4", "PCIe"),
    "a800": ("A100_80GB", "SXM4", "PCIe"),
    "h100": ("H100_80GB", "SXM5", "PCIe"),
    "h800": ("H100_80GB", "SXM5", "PCIe"),
    "h200": ("H200_141GB", "", ""),
}


def _read_reference_text() -> str:
    try:
        return (resources.files(__package__) / "data" / "reference_prices.csv").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, TypeError):  # pragma: no cover - source tree
        return (Path(__file__).parent / "data" / "reference_prices.csv").read_text("utf-8")


@lru_cache(maxsize=1)
def market_reference_fen() -> Mapping[tuple[str, str], int]:
    """(gpu_type, socket) -> median on-demand price in fen per accelerator-hour (read-only)."""
    rows = csv.DictReader(io.StringIO(_read_reference_text()))
    return MappingProxyType({(r["gpu_type"], r["socket"]): int(r["median_fen"]) for r in rows})


def _d(value: object) -> Decimal:
    return Decimal(str(value or 0))


def _is_pcie(chip: ChipSpec) -> bool:
    for attr in ("form_factor", "socket", "interface"):
        value = getattr(chip, attr, None)
        if isinstance(value, str) and "pcie" in value.lower():
            return True
    return False


def is_consumer(chip: ChipSpec) -> bool:
    """Consumer (gaming) cards: RTX/GeForce, or a chip table that says so."""
    for attr in ("consumer", "is_consumer"):
        value = getattr(chip, attr, None)
        if isinstance(value, bool):
            return value
    segment = getattr(chip, "segment", None) or getattr(chip, "market", None)
    if isinstance(segment, str) and segment:
        return segment.lower() in {"consumer", "gaming", "desktop"}
    text = f"{chip.key} {getattr(chip, 'name', '')}".lower()
    return chip.key.startswith("rtx") or "geforce" in text


def _round_fen(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _a100_fen() -> int:
    return market_reference_fen()[("A100_80GB", "SXM4")]


def formula_price_fen(chip: ChipSpec) -> int:
    """The documented spec-based reference (used for every chip without market data)."""
    p_a100 = Decimal(_a100_fen())
    f = _d(chip.fp16_tflops) / _A100_FP16_TFLOPS
    m = min(Decimal(1), _d(chip.memory_gib) / _A100_MEMORY_GIB)
    b = min(Decimal(1), _d(chip.memory_bandwidth_gbs) / _A100_BANDWIDTH_GBS)
    r = (f * m * b).sqrt() if f > 0 and m > 0 and b > 0 else Decimal(0)
    price = HOSTING_FEN + (p_a100 - HOSTING_FEN) * r
    if is_consumer(chip):
        price *= CONSUMER_DISCOUNT
    elif getattr(chip, "domestic", False):
        price *= DOMESTIC_DISCOUNT
    high = 2 * market_reference_fen()[("H100_80GB", "SXM5")]
    return max(LOW_FEN, min(high, _round_fen(price)))


def reference_price_fen(chip: ChipSpec) -> int:
    """The market reference on-demand price of one accelerator-hour of ``chip``, in fen."""
    row = _MARKET_ROWS.get(chip.key)
    if row is not None:
        gpu_type, sxm, pcie = row
        table = market_reference_fen()
        socket = pcie if _is_pcie(chip) else sxm
        if (gpu_type, socket) in table:
            return table[(gpu_type, socket)]
    return formula_price_fen(chip)
