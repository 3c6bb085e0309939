"""Achievable efficiency per chip family, peak throughput per precision, and multi-device scaling.

Multi-device scaling (:func:`scaling_efficiency`)
    1 device: 1.0. Within one 8-device node: 0.95 with a chip fabric (NVLink, HCCS, MLU-Link),
    0.85 over PCIe only. Beyond 8 devices (multi-node): a further x0.92 with a fabric (we assume the
    RDMA network such nodes ship with: InfiniBand/RoCE 200-400 Gb/s per device, as Llama 2 §2.2.1
    and Llama 3 §3.3.1 describe), x0.80 for PCIe-only boxes (typically 25-100 GbE). The family
    utilisations are single-node figures, so published at-scale MFUs (LLaMA 2048 x A100: ~48%) are
    matched by ``u_family x 0.95 x 0.92``.

Uncertainty
    Every efficiency is a :class:`Range`; the low/high estimates use its ends. The ranges for
    Hygon, Cambricon and Kunlunxin are wide and conservative because almost nothing is published
    about LLM efficiency on them (see :data:`FAMILY_EFFICIENCY`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from suanli.core.chips import ChipSpec
from suanli.core.messages import Message, msg

GIB = float(1 << 30)
MAX_DEVICES = 4096
NODE_SIZE = 8  # devices per server (8-GPU HGX/DGX, Atlas 800T A2, 8-card PCIe servers)
BOTTLENECKS = ("compute", "memory_bandwidth", "memory_capacity", "interconnect", "overhead", "input_pipeline")


# --------------------------------------------------------------------------------------------
# Efficiency tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """An uncertain dimensionless factor: ``low <= central <= high``."""

    low: float
    central: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.central <= self.high:
            raise ValueError(f"Range needs 0 < low <= central <= high, got {self}")

    def pick(self, which: str) -> float:
        """``"low"``, ``"central"`` or ``"high"``."""
        return {"low": self.low, "central": self.central, "high": self.high}[which]


@dataclass(frozen=True)
class FamilyEfficiency:
    """What a chip family achieves in practice, as fractions of its datasheet peaks.

    ``mfu``: fraction of dense peak achieved on executed training FLOPs (= MFU without
    recomputation) for LLM training on one node with a well-tuned stack. ``decode_bandwidth``:
    fraction of memory bandwidth achieved by batch-1 decoding. ``inference_compute``: fraction of
    dense peak achieved by prefill / large-batch decode matmuls.
    """

    key: str
    description: str
    mfu: Range
    decode_bandwidth: Range
    inference_compute: Range
    sources: tuple[str, ...]


FAMILY_EFFICIENCY: Mapping[str, FamilyEfficiency] = MappingProxyType({
    "nvidia-hopper": FamilyEfficiency(
        key="nvidia-hopper",
        description="NVIDIA Hopper SXM (H100, H800, H200, H20) with NVLink 4",
        mfu=Range(0.35, 0.45, 0.55),
        decode_bandwidth=Range(0.55, 0.70, 0.85),
        inference_compute=Range(0.40, 0.60, 0.75),
        sources=(
            "Dubey et al. 2024, 'The Llama 3 Herd of Models', §3.3.2 Table 4: 38-43% BF16 MFU for "
            "405B on 8,192-16,384 H100 (= 0.42-0.47 per node after our x0.92 multi-node factor)",
            "Llama 3.1 model card: 30.84M H100 GPU-hours for 405B on 15.6T tokens (~36% incl. restarts)",
            "H100's BF16 peak grew 3.2x over A100 but memory bandwidth only 1.6x, so it is harder to "
            "saturate: we put Hopper slightly below Ampere",
            "H20 (148 TFLOPS, 4 TB/s) is bandwidth-rich and likely sits above this range: unmeasured",
        ),
    ),
    "nvidia-ampere-sxm": FamilyEfficiency(
        key="nvidia-ampere-sxm",
        description="NVIDIA Ampere SXM (A100, A800) with NVLink 3",
        mfu=Range(0.38, 0.50, 0.58),
        decode_bandwidth=Range(0.55, 0.70, 0.85),
        inference_compute=Range(0.40, 0.60, 0.75),
        sources=(
            "Touvron et al. 2023a (LLaMA) §2.4: 380 tokens/s/GPU for 65B on 2,048 A100-80GB = 48% MFU; "
            "Table 15 GPU-hours imply 43-51% for 7B-65B",
            "Touvron et al. 2023b (Llama 2) Table 2 GPU-hours imply 37-45% MFU (with attention FLOPs)",
            "Korthikanti et al. 2022: 54.2% MFU for 530B on 2,240 A100 with selective recomputation "
            "(best case, Megatron-LM)",
            "gpt-fast (PyTorch, 2023): batch-1 decode of Llama-2-7B at 1,397 GB/s of 2,039 (0.69)",
        ),
    ),
    "nvidia-volta": FamilyEfficiency(
        key="nvidia-volta",
        description="NVIDIA Volta V100 SXM2 (NVLink 2; no BF16, no FlashAttention-2)",
        mfu=Range(0.25, 0.35, 0.45),
        decode_bandwidth=Range(0.55, 0.70, 0.85),
        inference_compute=Range(0.35, 0.50, 0.65),
        sources=(
            "Shoeybi et al. 2019 (Megatron-LM): the 1.2B-parameter single-V100 baseline sustains "
            "39 TFLOP/s, 30% of peak",
            "no BF16 and no FlashAttention-2 (Ampere+): FP16 with loss scaling, stored attention scores",
        ),
    ),
    "nvidia-ada-pcie": FamilyEfficiency(
        key="nvidia-ada-pcie",
        description="NVIDIA Ada and Ampere datacenter/workstation PCIe (L40, L20, L4, RTX 6000 Ada, A40, A10, "
                    "RTX A6000): GDDR6, no NVLink",
        mfu=Range(0.30, 0.45, 0.60),
        decode_bandwidth=Range(0.60, 0.80, 0.90),
        inference_compute=Range(0.40, 0.60, 0.75),
        sources=(
            "torchtune README (commit 0031bfb0): Llama 3.1 8B LoRA 4,699 and full fine-tune 2,579 tokens/s on one "
            "RTX A6000 (bench/data/measurements.csv): above what any utilisation of the A6000's 155 TFLOPS allows "
            "under the standard FLOP count, so they are kept as measurements, not fitted; the range is raised "
            "towards them from the earlier 0.28-0.48",
            "GDDR bandwidth efficiency from the RTX 4090 decode measurements (consumer family)",
        ),
    ),
    "nvidia-consumer": FamilyEfficiency(
        key="nvidia-consumer",
        description="NVIDIA GeForce (RTX 4090, 3090, 2080 Ti): 24 GB or less, PCIe only",
        mfu=Range(0.35, 0.50, 0.65),
        decode_bandwidth=Range(0.60, 0.80, 0.90),
        inference_compute=Range(0.35, 0.55, 0.70),
        sources=(
            "GeForce FP16-with-FP32-accumulate peak is already halved in chips.csv, yet the RTX 4090 runs PyTorch "
            "training faster than that peak suggests: Lambda's DeepLearningExamples runs put it 1.5x an RTX A6000 "
            "(same nominal peak) on BERT, and torchtune measures Llama 3.1 8B LoRA at 3,083 and full fine-tuning "
            "at 1,650 tokens/s on one card (bench/data/measurements.csv)",
            "MLC LLM llm-perf-bench (2023): Llama-2-7B INT4 at 204.8 tok/s on RTX 4090 (~0.8 of "
            "1,008 GB/s)",
        ),
    ),
    "nvidia-legacy-pcie": FamilyEfficiency(
        key="nvidia-legacy-pcie",
        description="NVIDIA T4 / P100 PCIe: power-limited or without tensor cores",
        mfu=Range(0.15, 0.25, 0.35),
        decode_bandwidth=Range(0.55, 0.70, 0.85),
        inference_compute=Range(0.25, 0.40, 0.55),
        sources=(
            "T4 runs at 70 W and throttles below its boost clock under sustained tensor load; P100 "
            "has no tensor cores (packed FP16 on CUDA cores); no FlashAttention-2 on either",
        ),
    ),
    "ascend": FamilyEfficiency(
        key="ascend",
        description="Huawei Ascend 910B (CANN, HCCS)",
        mfu=Range(0.30, 0.45, 0.55),
        decode_bandwidth=Range(0.45, 0.60, 0.75),
        inference_compute=Range(0.30, 0.50, 0.65),
        sources=(
            "Huawei ModelLink (now MindSpeed-LLM) README v1.1, 'Atlas 900 A2 PODc' table: LLaMA2-7B "
            "4,672, 13B 2,016, 70B 420, LLaMA3-8B 2,483 tokens/s/NPU = 34-54% MFU of 376 TFLOPS",
            "those are Huawei's own tuned MindSpeed runs (best case); torch_npu + Hugging Face runs are "
            "lower, and the 910B variant behind the table (B1-B4, 280-414 TFLOPS) is not stated",
            "decode and inference efficiencies: no comparable public measurement; set below NVIDIA",
        ),
    ),
    "hygon-dcu": FamilyEfficiency(
        key="hygon-dcu",
        description="Hygon DCU Z100 (DTK, ROCm/HIP-compatible), PCIe",
        mfu=Range(0.20, 0.30, 0.40),
        decode_bandwidth=Range(0.40, 0.55, 0.70),
        inference_compute=Range(0.25, 0.40, 0.55),
        sources=(
            "No public LLM-training MFU. Z100 has no matrix units (FP16 runs on vector ALUs), DTK "
            "builds of fused kernels (FlashAttention etc.) lag CUDA, and cards are PCIe-only: we "
            "take a wide range below the NVIDIA PCIe parts",
        ),
    ),
    "cambricon-mlu": FamilyEfficiency(
        key="cambricon-mlu",
        description="Cambricon MLU370-X8 (Neuware, MLU-Link)",
        mfu=Range(0.20, 0.30, 0.40),
        decode_bandwidth=Range(0.40, 0.55, 0.70),
        inference_compute=Range(0.25, 0.40, 0.55),
        sources=(
            "No public LLM-training MFU (BAAI FlagPerf publishes Cambricon runs anonymised). PyTorch "
            "runs through the torch_mlu plug-in with fewer fused LLM kernels than CUDA: wide range",
        ),
    ),
    "kunlunxin": FamilyEfficiency(
        key="kunlunxin",
        description="Kunlunxin R200 (XPU runtime), PCIe, 16 GB",
        mfu=Range(0.18, 0.28, 0.35),
        decode_bandwidth=Range(0.40, 0.55, 0.70),
        inference_compute=Range(0.25, 0.40, 0.55),
        sources=(
            "No public LLM-training MFU. Best supported through PaddlePaddle; 16 GB forces heavy "
            "sharding and small micro-batches: the lowest, widest range",
        ),
    ),
    "unknown": FamilyEfficiency(
        key="unknown",
        description="A chip outside the calibrated families",
        mfu=Range(0.15, 0.30, 0.45),
        decode_bandwidth=Range(0.40, 0.60, 0.80),
        inference_compute=Range(0.25, 0.45, 0.65),
        sources=("No calibration: the widest range",),
    ),
})

CHIP_FAMILY: Mapping[str, str] = MappingProxyType({
    "h200": "nvidia-hopper", "h100": "nvidia-hopper", "h800": "nvidia-hopper", "h20": "nvidia-hopper",
    "h100-pcie": "nvidia-hopper",
    "a100": "nvidia-ampere-sxm", "a800": "nvidia-ampere-sxm", "a100-40gb": "nvidia-ampere-sxm",
    "a100-pcie": "nvidia-ampere-sxm", "a100-pcie-40gb": "nvidia-ampere-sxm",
    "v100": "nvidia-volta", "v100-16gb": "nvidia-volta", "v100-pcie": "nvidia-volta",
    "l40": "nvidia-ada-pcie", "l20": "nvidia-ada-pcie", "l4": "nvidia-ada-pcie", "rtx6000-ada": "nvidia-ada-pcie",
    "a40": "nvidia-ada-pcie", "a10": "nvidia-ada-pcie", "a10g": "nvidia-ada-pcie", "rtx-a6000": "nvidia-ada-pcie",
    "rtx4090": "nvidia-consumer", "rtx3090": "nvidia-consumer", "rtx2080ti": "nvidia-consumer",
    "t4": "nvidia-legacy-pcie", "p100": "nvidia-legacy-pcie", "p100-sxm2": "nvidia-legacy-pcie",
    "k80": "nvidia-legacy-pcie",
    "quadro-rtx6000": "nvidia-legacy-pcie", "quadro-rtx8000": "nvidia-legacy-pcie",
    "ascend-910b": "ascend", "ascend-910b3": "ascend", "ascend-910b4": "ascend", "ascend-910": "ascend",
    "hygon-dcu-z100": "hygon-dcu",
    "mlu370-x8": "cambricon-mlu",
    "kunlunxin-r200": "kunlunxin",
})

_ECOSYSTEM_FAMILY = {"cann": "ascend", "dtk": "hygon-dcu", "neuware": "cambricon-mlu", "xpu": "kunlunxin"}

#: Chips with FP8 tensor cores (Hopper, Ada Lovelace).
FP8_CHIPS = frozenset({"h200", "h100", "h800", "h20", "h100-pcie", "l40", "l20", "l4", "rtx6000-ada", "rtx4090"})
#: NVIDIA chips without BF16 tensor cores (BF16 arrived with Ampere; NVIDIA A100 whitepaper).
NO_BF16_CHIPS = frozenset({"v100", "v100-16gb", "v100-pcie", "t4", "p100", "p100-sxm2", "k80", "rtx2080ti",
                           "quadro-rtx6000", "quadro-rtx8000"})
#: Chips whose BF16 support our specification sources do not confirm.
_BF16_UNCONFIRMED = frozenset({"hygon-dcu-z100", "kunlunxin-r200"})

#: QLoRA executed-FLOPs multiplier for NF4 dequantisation (module docstring).
QLORA_OVERHEAD = Range(1.2, 1.3, 1.4)
#: Weight-only dequantisation kernel efficiency for decode (module docstring).
_QUANT_KERNEL = Range(0.60, 0.85, 1.00)
#: End-to-end FP8 training runs at about 0.7 x the family utilisation of the (2x) FP8 peak.
_FP8_TRAINING_FACTOR = 0.7

_INTRA_NODE_FABRIC = 0.95
_INTRA_NODE_PCIE = 0.85
_INTER_NODE_FABRIC = 0.92
_INTER_NODE_PCIE = 0.80

_ALLREDUCE_LATENCY_S = {"fabric": 25e-6, "pcie": 50e-6, "network": 100e-6}
_PCIE_GBS = 25.0  # achieved PCIe 4.0 x16 per direction
_NETWORK_GBS = 40.0  # 400 Gb/s RDMA NIC per device, achieved


def chip_family(chip: ChipSpec) -> FamilyEfficiency:
    """The efficiency family of ``chip`` (by key, else by ecosystem, else ``unknown``)."""
    key = CHIP_FAMILY.get(chip.key) or _ECOSYSTEM_FAMILY.get(chip.ecosystem) or "unknown"
    return FAMILY_EFFICIENCY[key]


def _has_fabric(chip: ChipSpec) -> bool:
    return chip.interconnect_gbs is not None


def scaling_efficiency(chip: ChipSpec, count: int) -> float:
    """Multi-device scaling factor (module docstring): 1.0, 0.95/0.85 in a node, x0.92/x0.80 beyond."""
    _check_count(count)
    if count == 1:
        return 1.0
    fabric = _has_fabric(chip)
    factor = _INTRA_NODE_FABRIC if fabric else _INTRA_NODE_PCIE
    if count > NODE_SIZE:
        factor *= _INTER_NODE_FABRIC if fabric else _INTER_NODE_PCIE
    return factor


def _check_count(count: object, name: str = "count") -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"{name}: must be a whole number of devices, got {count!r}")
    if not 1 <= count <= MAX_DEVICES:
        raise ValueError(f"{name}: must be between 1 and {MAX_DEVICES}, got {count}")
    return count


def _flash_attention(chip: ChipSpec) -> bool:
    """FlashAttention-class fused attention available (Ampere+ CUDA, Ascend CANN)."""
    if chip.ecosystem == "cuda":
        return chip.key not in NO_BF16_CHIPS
    return chip.ecosystem == "cann"


def peak_tflops(chip: ChipSpec, precision: str) -> tuple[float, tuple[Message, ...]]:
    """Dense peak TFLOPS ``chip`` offers for ``precision``, and notes on any fallback.

    bf16/fp16 -> ``fp16_tflops``; fp32 -> ``fp32_tflops``; tf32 -> ``tf32_tflops`` (else FP32);
    fp8 -> 2 x ``fp16_tflops`` on :data:`FP8_CHIPS`, else FP16; int8/int4 (weight-only) -> FP16.
    BF16 on :data:`NO_BF16_CHIPS` -> FP32 rate.
    """
    if precision in ("fp16", "int8", "int4"):
        return chip.fp16_tflops, ()
    if precision == "bf16":
        if chip.key in NO_BF16_CHIPS:
            return chip.fp32_tflops, (msg("bf16: %(chip)s has no BF16 tensor cores, so BF16 runs at its FP32 rate; "
                                          "use fp16 (with loss scaling) for %(factor)sx the throughput",
                                          chip=chip.name, factor=f"{chip.fp16_tflops / chip.fp32_tflops:.0f}"),)
        if chip.key in _BF16_UNCONFIRMED:
            return chip.fp16_tflops, (msg("bf16: BF16 support on %(chip)s is not confirmed by our spec sources; "
                                          "estimated at the FP16 rate — check the vendor framework, or use fp16",
                                          chip=chip.name),)
        return chip.fp16_tflops, ()
    if precision == "fp32":
        return chip.fp32_tflops, ()
    if precision == "tf32":
        if chip.tf32_tflops is None:
            return chip.fp32_tflops, (msg("tf32: %(chip)s has no TF32 tensor cores; estimated at FP32",
                                          chip=chip.name),)
        return chip.tf32_tflops, ()
    if precision == "fp8":
        if chip.key in FP8_CHIPS:
            return 2 * chip.fp16_tflops, ()
        return chip.fp16_tflops, (msg("fp8: %(chip)s has no FP8 tensor cores (FP8 needs Hopper or Ada); "
                                      "estimated at its FP16/BF16 rate", chip=chip.name),)
    raise ValueError(f"precision: unknown precision {precision!r}")
