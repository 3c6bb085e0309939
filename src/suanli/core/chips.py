"""Accelerator chips and their software ecosystems (pure domain: no database, no web).

The chip table is packaged as ``suanli/catalog/data/chips.csv`` (derived from Epoch AI's
"Data on Machine Learning Hardware", CC-BY 4.0; see ``CHIPS_SOURCE.md`` beside it and
``scripts/derive_chips.py``). Units, per accelerator (one GPU / NPU / card as rented):

* ``fp16_tflops``  dense FP16/BF16 *matrix* (tensor-core / cube-unit) throughput, 10^12 FLOP/s,
  FP32 accumulate where that is the datacenter convention (GeForce figures are converted);
* ``fp32_tflops``  FP32 vector throughput, 10^12 FLOP/s;
* ``tf32_tflops``  dense TF32 tensor throughput, 10^12 FLOP/s (``None`` if none / unknown);
* ``int8_tops``    dense INT8 throughput, 10^12 OP/s (``None`` if unknown);
* ``memory_gib``   accelerator memory as the marketed figure (an "80 GB" card -> 80);
* ``memory_bandwidth_gbs``  memory bandwidth, GB/s (10^9 byte/s);
* ``interconnect_gbs``      intra-node chip-to-chip fabric bandwidth (NVLink, HCCS, MLU-Link),
  GB/s total per chip (``None`` if unknown or PCIe only);
* ``tdp_w``  board power in watts.

Throughputs and bandwidths are physical quantities, so they are ``float`` (money elsewhere in
suanli is never a float).
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

__all__ = [
    "CHIP_COLUMNS",
    "ECOSYSTEMS",
    "ChipSpec",
    "Ecosystem",
    "get_chip",
    "load_chip_table",
    "resolve_chip",
]


@dataclass(frozen=True)
class Ecosystem:
    """A vendor software stack that workloads must target (CUDA, CANN, ...)."""

    key: str
    name: str
    name_zh: str
    vendor: str
    frameworks: tuple[str, ...]
    notes: str


ECOSYSTEMS: Mapping[str, Ecosystem] = MappingProxyType(
    {
        "cuda": Ecosystem(
            key="cuda",
            name="CUDA",
            name_zh="英伟达 CUDA",
            vendor="NVIDIA",
            frameworks=("PyTorch", "TensorFlow", "JAX", "vLLM", "SGLang", "TensorRT-LLM", "DeepSpeed",
                        "PaddlePaddle"),
            notes="The reference ecosystem: upstream builds of every major framework target CUDA first.",
        ),
        "cann": Ecosystem(
            key="cann",
            name="Huawei CANN",
            name_zh="华为昇腾 CANN",
            vendor="Huawei",
            frameworks=("torch_npu", "MindSpore", "MindIE", "vLLM-Ascend", "PaddlePaddle"),
            notes="Compute Architecture for Neural Networks; PyTorch runs through the torch_npu adapter, "
                  "inference serving through MindIE or vLLM-Ascend.",
        ),
        "dtk": Ecosystem(
            key="dtk",
            name="Hygon DTK",
            name_zh="海光 DTK",
            vendor="Hygon",
            frameworks=("PyTorch (DTK build)", "HIP", "PaddlePaddle", "vLLM (DTK build)"),
            notes="DCU Toolkit, ROCm/HIP-compatible: CUDA code ports via HIP; frameworks come as DTK builds.",
        ),
        "neuware": Ecosystem(
            key="neuware",
            name="Cambricon Neuware",
            name_zh="寒武纪 Neuware",
            vendor="Cambricon",
            frameworks=("torch_mlu", "MagicMind", "PaddlePaddle"),
            notes="Cambricon's SDK (CNToolkit, CNNL, BANG C); PyTorch runs through the torch_mlu plug-in.",
        ),
        "xpu": Ecosystem(
            key="xpu",
            name="Kunlunxin XPU runtime",
            name_zh="昆仑芯 XPU",
            vendor="Kunlunxin",
            frameworks=("PaddlePaddle", "torch_xpu"),
            notes="Kunlunxin's XPU runtime and SDK; PaddlePaddle has first-class support, PyTorch via "
                  "Kunlunxin's torch_xpu plug-in (not Intel's 'xpu' device).",
        ),
    }
)

CHIP_COLUMNS: tuple[str, ...] = (
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


@dataclass(frozen=True)
class ChipSpec:
    """One accelerator model, per chip / card as rented (units in the module docstring)."""

    key: str
    name: str
    vendor: str
    vendor_zh: str
    ecosystem: str
    form_factor: str  # "sxm", "pcie" or "module" (vendor mezzanine module)
    fp16_tflops: float
    fp32_tflops: float
    tf32_tflops: float | None
    int8_tops: float | None
    memory_gib: int
    memory_bandwidth_gbs: float
    interconnect_gbs: float | None
    tdp_w: int
    release_year: int | None
    domestic: bool  # designed by a Chinese vendor (国产)
    source_name: str  # the exact Epoch AI "Hardware name" the figures come from
    notes: str  # gap fills and overrides applied to the source figures

    @property
    def ecosystem_info(self) -> Ecosystem:
        """The :class:`Ecosystem` this chip belongs to."""
        return ECOSYSTEMS[self.ecosystem]


def _req_float(row: Mapping[str, str], col: str) -> float:
    text = row[col].strip()
    if not text:
        raise ValueError(f"chips.csv: {row['key']}: {col} is blank")
    return float(text)


def _opt_float(row: Mapping[str, str], col: str) -> float | None:
    text = row[col].strip()
    return float(text) if text else None


def _req_int(row: Mapping[str, str], col: str) -> int:
    text = row[col].strip()
    if not text:
        raise ValueError(f"chips.csv: {row['key']}: {col} is blank")
    return int(text)


def _opt_int(row: Mapping[str, str], col: str) -> int | None:
    text = row[col].strip()
    return int(text) if text else None


def _parse_bool(row: Mapping[str, str], col: str) -> bool:
    text = row[col].strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"chips.csv: {row['key']}: {col} must be true/false, got {row[col]!r}")
    return text == "true"


def parse_chip_table(text: str) -> dict[str, ChipSpec]:
    """Parse chip-table CSV ``text`` (the packaged format) into ``{key: ChipSpec}``, in file order.

    Raises ``ValueError`` on a wrong header, a duplicate key, an unknown ecosystem or a blank
    required figure.
    """
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CHIP_COLUMNS:
        raise ValueError(f"chips.csv: unexpected header {reader.fieldnames!r}; expected {CHIP_COLUMNS!r}")
    table: dict[str, ChipSpec] = {}
    for row in reader:
        key = row["key"].strip()
        if key in table:
            raise ValueError(f"chips.csv: duplicate key {key!r}")
        if row["ecosystem"] not in ECOSYSTEMS:
            raise ValueError(f"chips.csv: {key}: unknown ecosystem {row['ecosystem']!r}")
        table[key] = ChipSpec(
            key=key,
            name=row["name"],
            vendor=row["vendor"],
            vendor_zh=row["vendor_zh"],
            ecosystem=row["ecosystem"],
            form_factor=row["form_factor"],
            fp16_tflops=_req_float(row, "fp16_tflops"),
            fp32_tflops=_req_float(row, "fp32_tflops"),
            tf32_tflops=_opt_float(row, "tf32_tflops"),
            int8_tops=_opt_float(row, "int8_tops"),
            memory_gib=_req_int(row, "memory_gib"),
            memory_bandwidth_gbs=_req_float(row, "memory_bandwidth_gbs"),
            interconnect_gbs=_opt_float(row, "interconnect_gbs"),
            tdp_w=_req_int(row, "tdp_w"),
            release_year=_opt_int(row, "release_year"),
            domestic=_parse_bool(row, "domestic"),
            source_name=row["source_name"],
            notes=row["notes"],
        )
    return table


@functools.cache
def load_chip_table() -> dict[str, ChipSpec]:
    """The packaged chip table, ``{key: ChipSpec}`` in file order.

    Read once and cached: the same dict is returned to every caller, so treat it as read-only.
    """
    text = (resources.files("suanli.catalog") / "data" / "chips.csv").read_text(encoding="utf-8")
    return parse_chip_table(text)


def get_chip(key: str) -> ChipSpec:
    """The chip with table key ``key`` (exact, e.g. ``"a800"``); ``KeyError`` lists the valid keys."""
    table = load_chip_table()
    try:
        return table[key]
    except KeyError:
        raise KeyError(f"unknown chip key {key!r}; valid keys: {', '.join(table)}") from None


# Common ways users name chips, beyond each chip's key, display name and Epoch source name.
# Matching ignores case, spaces and punctuation, and a leading vendor word (see _VENDOR_WORDS).
_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "a100": ("A100 80GB", "A100 SXM", "A100 SXM4", "A100 SXM4 80GB", "A100-SXM4-80GB", "A100 80GB SXM4"),
        "a100-40gb": ("A100 40GB", "A100 SXM4 40GB", "A100-SXM4-40GB", "A100 40GB SXM4", "A100 40GB SXM"),
        "a100-pcie": ("A100 PCIe", "A100 PCIe 80GB", "A100 80GB PCIe", "A100-PCIE-80GB"),
        "a100-pcie-40gb": ("A100 PCIe 40GB", "A100 40GB PCIe", "A100-PCIE-40GB"),
        "a800": ("A800 80GB", "A800 SXM", "A800 SXM4"),
        "h100": ("H100 SXM", "H100 SXM5", "H100 80GB", "H100 80GB SXM5", "H100-SXM5-80GB"),
        "h100-pcie": ("H100 PCIe", "H100 PCIe 80GB", "H100 80GB PCIe", "H100-PCIE-80GB", "H100 PCIe Gen5"),
        "h800": ("H800 SXM", "H800 SXM5", "H800 80GB"),
        "h20": ("HGX H20", "H20 96GB"),
        "h200": ("H200 SXM", "H200 141GB"),
        "l20": ("L20 48GB",),
        "l40": ("L40 48GB",),
        "rtx4090": ("4090", "RTX 4090", "RTX4090 24GB"),
        "rtx3090": ("3090", "RTX 3090"),
        "rtx2080ti": ("2080Ti", "2080 Ti", "RTX 2080 Ti"),
        "v100": ("V100 32GB", "V100 SXM2", "V100 SXM2 32GB", "V100-SXM2-32GB"),
        "v100-16gb": ("V100 16GB", "V100 SXM2 16GB", "V100-SXM2-16GB", "V100 16GB SXM2"),
        "v100-pcie": ("V100 PCIe", "V100 PCIe 16GB", "V100-PCIE-16GB", "V100 16GB PCIe"),
        "a40": ("A40 48GB",),
        "a10": ("A10 24GB", "A10 PCIe"),
        "a10g": ("A10G 24GB",),
        "l4": ("L4 24GB",),
        "k80": ("K80 12GB", "Tesla K80", "GK210"),
        "quadro-rtx6000": ("Quadro RTX 6000", "Quadro RTX6000", "RTX 6000 Quadro"),
        "quadro-rtx8000": ("Quadro RTX 8000", "Quadro RTX8000", "RTX 8000"),
        "rtx-a6000": ("A6000", "RTX A6000", "RTXA6000"),
        "rtx6000-ada": ("RTX 6000 Ada", "6000 Ada", "RTX 6000 Ada Generation", "RTX6000 Ada"),
        "t4": ("T4 16GB",),
        "p100": ("P100 16GB", "P100 PCIe"),
        "p100-sxm2": ("P100 SXM2", "P100 NVLink", "P100-SXM2-16GB", "P100 SXM2 16GB"),
        "ascend-910b": ("910B", "Ascend 910B", "Ascend910B", "昇腾910B", "910B2", "Ascend 910B2", "昇腾910B2"),
        "ascend-910": ("Ascend 910", "Ascend 910A", "910A", "昇腾910", "昇腾910A"),
        "ascend-910b3": ("910B3", "Ascend 910B3", "昇腾910B3"),
        "ascend-910b4": ("910B4", "Ascend 910B4", "昇腾910B4"),
        "hygon-dcu-z100": ("DCU", "Z100", "DCU Z100", "Hygon DCU", "深算一号", "深算1号", "Shensuan-1",
                           "海光DCU"),
        "mlu370-x8": ("MLU370", "MLU370-X8", "MLU370X8", "思元370"),
        "kunlunxin-r200": ("R200", "Kunlun R200", "Kunlunxin R200", "昆仑芯R200"),
    }
)

# Vendor / brand words a user may put in front of a model name ("NVIDIA A800", "华为 910B").
_VENDOR_WORDS: tuple[str, ...] = (
    "nvidia", "英伟达", "geforce", "tesla", "huawei", "华为", "昇腾", "ascend", "hygon", "海光",
    "cambricon", "寒武纪", "kunlunxin", "昆仑芯", "baidu", "百度",
)


def _norm(text: str) -> str:
    """Case-, width- and punctuation-insensitive form of ``text`` ("RTX 4090" -> "rtx4090")."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _alias_index() -> dict[str, str]:
    """Normalised alias -> chip key. Raises ``ValueError`` if an alias would name two chips."""
    index: dict[str, str] = {}

    def add(alias: str, key: str) -> None:
        norm = _norm(alias)
        if not norm:
            return
        if index.setdefault(norm, key) != key:
            raise ValueError(f"chip alias {alias!r} is ambiguous: {index[norm]!r} and {key!r}")

    table = load_chip_table()
    sources = Counter(chip.source_name for chip in table.values())
    for key, chip in table.items():
        # an Epoch source row behind two variants (A100 PCIe 40/80GB) names neither
        source = (chip.source_name,) if sources[chip.source_name] == 1 else ()
        for alias in (key, chip.name, *source, *_ALIASES.get(key, ())):
            add(alias, key)
    return index


def resolve_chip(text: str) -> ChipSpec | None:
    """The chip a user means by ``text`` (e.g. ``"A800"``, ``"910B"``, ``"4090"``), or ``None``.

    Matches, ignoring case, spaces and punctuation, a chip's key, display name, Epoch source name
    or a common short name; a leading vendor word ("NVIDIA", "华为", ...) is ignored.
    """
    norm = _norm(text)
    if not norm:
        return None
    index = _alias_index()
    table = load_chip_table()
    candidates = [norm]
    stripped = norm
    changed = True
    while changed:
        changed = False
        for word in _VENDOR_WORDS:
            if stripped.startswith(word) and len(stripped) > len(word):
                stripped = stripped[len(word):]
                candidates.append(stripped)
                changed = True
    for candidate in candidates:
        key = index.get(candidate)
        if key is not None:
            return table[key]
    return None
