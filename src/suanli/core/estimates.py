"""Runtime, memory-fit and cost estimates for workloads on a given chip and device count.

Pure domain code: no I/O, frozen dataclasses, every model stated with its formula and sources.
The estimates are first-order physics (FLOPs / achievable FLOP/s, bytes / achievable bytes/s) with
honest uncertainty ranges; ``bench/advisor_accuracy.py`` checks them against published measurements
(``bench/data/MEASUREMENTS.md``).

Symbols: N parameters, D training tokens, L layers, h hidden size, f MLP inner size, a attention
heads, s sequence length, b micro-batch (sequences per device per step), V vocabulary, r LoRA rank,
E = 2·V·h embedding + untied output-head parameters. 1 GiB = 2^30 bytes.

Model shape
    Activations, KV cache and adapter sizes need L, h, f and the KV-head count, which a parameter
    count alone does not give. :func:`model_shape` interpolates (log-linearly in N) between
    published shapes: TinyLlama-1.1B (Zhang et al. 2024), LLaMA/Llama 2 7B and 13B (Touvron et al.
    2023a/b), Code Llama 34B, Llama 2 70B and Llama 3.1 405B, and extrapolates outside with L and h
    scaled by (N/N_anchor)^(1/3). Head size 128. Below 30B parameters we assume full multi-head
    attention (as Llama 2 7B/13B: the conservative, larger KV cache); from 30B on, grouped-query
    attention with 8 KV heads (Ainslie et al. 2023; Llama 2 34B/70B, Llama 3, Qwen2.5-32B/72B).
    ``LLMInference.kv_heads`` overrides the assumption. V defaults to 32,000.

Training FLOPs (model FLOPs, as in the MFU definition of Chowdhery et al. 2022, PaLM, App. B)
    Full fine-tuning / pretraining: ``C = D·(6·N + 6·L·s·h)``: the 6·N·D rule of Kaplan et al. 2020
    (Table 1: forward 2N + 2·n_layer·n_ctx·d_attn per token, backward twice the forward) and Hoffmann
    et al. 2022 (Chinchilla), plus Kaplan's causal-attention term, which is < 10% of 6N below an 8k
    context for >= 7B models.
    LoRA / QLoRA: ``C = D·(4·N + 6·L·s·h + 6·A)``: the forward (2N) and the activation gradients (2N)
    still run through the frozen weights, but no weight gradients (2N) are formed for them; A adapter
    parameters train normally. Hu et al. 2021 (LoRA, §4.2) report a 25% training speed-up over full
    fine-tuning of GPT-3 175B, consistent with 4N/6N = 2/3 of the FLOPs plus adapter overhead.
    Gradient checkpointing (full recomputation, Chen et al. 2016) executes one more forward pass:
    + ``D·(2·N + 2·L·s·h)`` executed FLOPs that are not model FLOPs.
    QLoRA dequantises every NF4 weight to BF16 on each pass: executed FLOPs x 1.2-1.4 (central 1.3).
    Dettmers et al. 2023 do not quote a slowdown; S. Raschka ("Practical Tips for Finetuning LLMs
    Using LoRA", 2023) measured ~39% more runtime than 16-bit LoRA for a 7B model, the top of our
    range; fused NF4 kernels do better.

Training time
    ``hours = executed_FLOPs / (count · peak(precision) · u_family · scaling(count)) / 3600``.
    ``peak`` (:func:`peak_tflops`): BF16/FP16 -> ``fp16_tflops`` (dense matrix); FP32 -> ``fp32_tflops``;
    TF32 -> ``tf32_tflops`` (``fp32_tflops`` where the chip has none); FP8 -> 2 x ``fp16_tflops`` on chips
    with FP8 tensor cores (Hopper H100/H800/H20/H200, Ada L40/L20/RTX 4090), else FP16 with a note.
    BF16 on pre-Ampere NVIDIA (V100, T4, P100, RTX 2080 Ti, no BF16 tensor cores) runs at the FP32 rate
    and the estimate says to use FP16. FP8 training is charged at 0.7 x the family utilisation of the
    FP8 peak: end-to-end FP8 speed-ups reported for Transformer Engine are ~1.3-1.5x over BF16,
    not 2x, because attention, norms and communication stay in 16-bit.
    ``u_family`` is the achievable fraction of peak on executed FLOPs (equal to MFU when nothing is
    recomputed) for a well-tuned stack (Megatron-LM / MindSpeed / FSDP); Hugging Face Trainer runs
    sit in the lower half of the range. See :data:`FAMILY_EFFICIENCY` for the table and its sources.
    The low/high hours use the high/low ends of the range (and QLoRA's 1.2/1.4).

Multi-device scaling (:func:`scaling_efficiency`)
    1 device: 1.0. Within one 8-device node: 0.95 with a chip fabric (NVLink, HCCS, MLU-Link),
    0.85 over PCIe only. Beyond 8 devices (multi-node): a further x0.92 with a fabric (we assume the
    RDMA network such nodes ship with: InfiniBand/RoCE 200-400 Gb/s per device, as Llama 2 §2.2.1
    and Llama 3 §3.3.1 describe), x0.80 for PCIe-only boxes (typically 25-100 GbE). The family
    utilisations are single-node figures, so published at-scale MFUs (LLaMA 2048 x A100: ~48%) are
    matched by ``u_family x 0.95 x 0.92``.

Training memory, per device (:func:`estimate` for ``LLMTraining``)
    Mixed-precision Adam keeps 16 bytes/parameter (Rajbhandari et al. 2020, ZeRO, §3.1: 2 bytes
    16-bit weights + 2 bytes 16-bit gradients + 12 bytes FP32 master weights, momentum and variance);
    FP32 training 4 + 4 + 8 = 16; FP8 (Transformer Engine) adds an FP8 weight copy: 17.
    With count > 1 we assume ZeRO stage 3 / PyTorch FSDP FULL_SHARD: weights, gradients and
    optimizer states are all divided by count, plus two gathered layers (current + prefetched) in
    16-bit. With plain DDP (ZeRO-0) each device would hold all 16 bytes/parameter.
    LoRA: frozen base weights 2 bytes/param (4 in FP32) + adapters at 16 bytes/param (FP32 adapter
    weights, gradients, Adam m and v). Adapters on all seven linear maps of every layer:
    ``A = r·L·(9·h + 2·d_kv + 3·f)`` (40M for Llama-2-7B at r = 16).
    QLoRA: NF4 with double quantisation, 4 + 8/64 + 32/(64·256) = 4.127 bits = 0.516 bytes per
    quantised parameter (Dettmers et al. 2023, §3); embeddings and output head (E) stay BF16.
    Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation", Eq. 1): per layer
    ``s·b·h·(34 + 5·a·s/h)`` bytes in 16-bit. FlashAttention (Dao et al. 2022) never stores the
    attention matrix, removing ``5·a·s/h``; we assume it on Ampere-or-newer NVIDIA and on Ascend
    (``npu_fusion_attention``), not on V100/T4/P100/RTX 2080 Ti or the DTK/Neuware/XPU stacks.
    Without checkpointing ``L`` such layers are stored; with full checkpointing only each layer's
    input (``2·s·b·h`` bytes x L) plus one layer being recomputed. FP32 doubles these. Logits:
    ``s·b·V·6`` bytes (BF16 logits + FP32 copy for the loss). If that does not fit, tensor
    parallelism t in {2, 4, 8} within a node divides the activations and the gathered layers by t
    (Korthikanti et al. 2022: with sequence parallelism every activation term is divided by t).
    t is the smallest size whose activations fit next to a fully sharded model state, capped by the
    devices available, so per-device memory never grows as devices are added.
    Overhead: 1 GiB (CUDA/CANN context, BLAS and collective-communication workspaces) + 5% of the
    rest for caching-allocator fragmentation.

Inference (:func:`estimate` for ``LLMInference``)
    Weights: ``(N - E)·q + E·2`` bytes with q = 2 (BF16/FP16), 1 (FP8, INT8), 0.5625 (INT4 with
    one FP16 scale per 32 weights: llama.cpp Q4_0, MLC q4f16_1; AWQ/GPTQ g128 is 0.53).
    KV cache (Pope et al. 2022, "Efficiently Scaling Transformer Inference", §2):
    ``2 · L · kv_heads · head_dim · bytes · context_len · concurrency``, with 2-byte entries (1 byte
    for FP8 deployments, which quantise the KV cache too), sized for every sequence at full context.
    Workspace: transient activations of one 2,048-token prefill chunk (``8·h + 6·f`` bytes per
    token) and FP32 last-token logits; overhead 1 GiB + 2% (serving engines preallocate, so less
    fragmentation than training).
    The deployment is split into replicas of t tensor-parallel devices, each serving
    ``ceil(concurrency/replicas)`` sequences; of the power-of-two t dividing count whose weights +
    KV + workspace fit, the one with the highest throughput at that concurrency is chosen (large t
    for a few latency-bound sequences, small t for many).
    Decode is memory-bandwidth bound at small batch and compute bound at large batch (Pope et al.
    2022, §2). One decode step for a batch B on t devices takes
    ``max(W/(t·BW·e_bw·k_q), B·2N/(t·peak·e_c)) + max(B·ctx·kv/(t·BW·e_bw), B·4·L·h·ctx/(t·peak·e_c))
    + comm``: the weight matmuls and attention are separate kernels, each limited by its bytes or its
    FLOPs. ``e_bw`` is the achieved fraction of memory bandwidth (gpt-fast reaches 1397 of 2039 GB/s
    on A100 at batch 1), ``k_q`` the weight-only dequantisation kernel efficiency (INT8/INT4 0.85,
    range 0.6-1.0: gpt-fast's INT4 kernel reaches 62% of its BF16 bandwidth, MLC/Marlin-class kernels
    close to 100%; Frantar et al. 2024, MARLIN), ``ctx`` the average context during decode
    (prompt + output/2, or context_len/2 when the prompt length is unknown). ``comm`` = 2·L
    all-reduces of ``B·h·2`` bytes when t > 1, each costing a latency (25 µs over NVLink/HCCS, 50 µs
    over PCIe, 100 µs across nodes: the order of NCCL's small-message all-reduce latency) plus
    ``2(t-1)/t · bytes / link bandwidth``.
    Prefill is compute bound: ``2·N·P + 2·L·h·P²`` FLOPs per P-token prompt (causal attention). With
    a known prompt length throughput is ``B·O / (B·t_prefill + O·t_step)`` per replica (prefill and
    decode share the devices), otherwise ``B / t_step``; time to first token is the prefill of one
    prompt (at least one read of the weights).

Uncertainty
    Every efficiency is a :class:`Range`; the low/high estimates use its ends. The ranges for
    Hygon, Cambricon and Kunlunxin are wide and conservative because almost nothing is published
    about LLM efficiency on them (see :data:`FAMILY_EFFICIENCY`).

Cost
    :func:`cost_fen` multiplies hours by an integer fen-per-hour price in ``Decimal`` and rounds half
    up to a whole fen once (:func:`suanli.core.money.round_fen`); money never passes through float.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from suanli.core.chips import ECOSYSTEMS, ChipSpec, get_chip
from suanli.core.money import round_fen
from suanli.core.workloads import (
    CpuJob,
    GenericTraining,
    LLMInference,
    LLMTraining,
    ReferenceGpuHours,
    Workload,
)

__all__ = [
    "BOTTLENECKS",
    "CHIP_FAMILY",
    "FAMILY_EFFICIENCY",
    "FP8_CHIPS",
    "GENERIC_WORKLOAD_FACTOR",
    "MAX_DEVICES",
    "NODE_SIZE",
    "NO_BF16_CHIPS",
    "CostRange",
    "Estimate",
    "FamilyEfficiency",
    "ModelShape",
    "Range",
    "chip_family",
    "convert_reference_hours",
    "cost_fen",
    "cost_range_fen",
    "estimate",
    "estimate_cpu",
    "model_shape",
    "peak_tflops",
    "scaling_efficiency",
]

GIB = float(1 << 30)
MAX_DEVICES = 4096
NODE_SIZE = 8  # devices per server (8-GPU HGX/DGX, Atlas 800T A2, 8-card PCIe servers)
BOTTLENECKS = ("compute", "memory_bandwidth", "memory_capacity", "interconnect")


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
        description="NVIDIA Ada datacenter PCIe (L40, L20): GDDR6, no NVLink",
        mfu=Range(0.28, 0.38, 0.48),
        decode_bandwidth=Range(0.60, 0.80, 0.90),
        inference_compute=Range(0.40, 0.60, 0.75),
        sources=(
            "No published LLM-training MFU; same Ada SM as the RTX 4090 with lower clocks: placed "
            "between consumer cards and Ampere SXM",
            "GDDR bandwidth efficiency from the RTX 4090 decode measurements (consumer family)",
        ),
    ),
    "nvidia-consumer": FamilyEfficiency(
        key="nvidia-consumer",
        description="NVIDIA GeForce (RTX 4090, 3090, 2080 Ti): 24 GB or less, PCIe only",
        mfu=Range(0.25, 0.35, 0.45),
        decode_bandwidth=Range(0.60, 0.80, 0.90),
        inference_compute=Range(0.35, 0.55, 0.70),
        sources=(
            "Small memory forces micro-batch 1, checkpointing and offload: utilisation below "
            "datacenter parts; GeForce FP16-with-FP32-accumulate peak already halved in chips.csv",
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
    "a100": "nvidia-ampere-sxm", "a800": "nvidia-ampere-sxm",
    "v100": "nvidia-volta",
    "l40": "nvidia-ada-pcie", "l20": "nvidia-ada-pcie",
    "rtx4090": "nvidia-consumer", "rtx3090": "nvidia-consumer", "rtx2080ti": "nvidia-consumer",
    "t4": "nvidia-legacy-pcie", "p100": "nvidia-legacy-pcie",
    "ascend-910b": "ascend",
    "hygon-dcu-z100": "hygon-dcu",
    "mlu370-x8": "cambricon-mlu",
    "kunlunxin-r200": "kunlunxin",
})

_ECOSYSTEM_FAMILY = {"cann": "ascend", "dtk": "hygon-dcu", "neuware": "cambricon-mlu", "xpu": "kunlunxin"}

#: Chips with FP8 tensor cores (Hopper, Ada Lovelace).
FP8_CHIPS = frozenset({"h200", "h100", "h800", "h20", "l40", "l20", "rtx4090"})
#: NVIDIA chips without BF16 tensor cores (BF16 arrived with Ampere; NVIDIA A100 whitepaper).
NO_BF16_CHIPS = frozenset({"v100", "t4", "p100", "rtx2080ti"})
#: Chips whose BF16 support our specification sources do not confirm.
_BF16_UNCONFIRMED = frozenset({"hygon-dcu-z100", "kunlunxin-r200"})

#: Non-transformer training (CNNs, GNNs, small models) is less matmul-bound than LLM training:
#: normalisation, element-wise ops, small kernels and input pipelines are memory- or I/O-bound, so
#: such jobs reach well under the ~0.5 of peak large transformers do. Multiplies the family ``mfu``;
#: the range is deliberately wide.
GENERIC_WORKLOAD_FACTOR = Range(0.35, 0.60, 0.90)
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


def peak_tflops(chip: ChipSpec, precision: str) -> tuple[float, tuple[str, ...]]:
    """Dense peak TFLOPS ``chip`` offers for ``precision``, and notes on any fallback.

    bf16/fp16 -> ``fp16_tflops``; fp32 -> ``fp32_tflops``; tf32 -> ``tf32_tflops`` (else FP32);
    fp8 -> 2 x ``fp16_tflops`` on :data:`FP8_CHIPS`, else FP16; int8/int4 (weight-only) -> FP16.
    BF16 on :data:`NO_BF16_CHIPS` -> FP32 rate.
    """
    notes: list[str] = []
    if precision in ("fp16", "int8", "int4"):
        return chip.fp16_tflops, ()
    if precision == "bf16":
        if chip.key in NO_BF16_CHIPS:
            notes.append(f"bf16: {chip.name} has no BF16 tensor cores, so BF16 runs at its FP32 rate; "
                         f"use fp16 (with loss scaling) for {chip.fp16_tflops / chip.fp32_tflops:.0f}x "
                         "the throughput")
            return chip.fp32_tflops, tuple(notes)
        if chip.key in _BF16_UNCONFIRMED:
            notes.append(f"bf16: BF16 support on {chip.name} is not confirmed by our spec sources; "
                         "estimated at the FP16 rate — check the vendor framework, or use fp16")
        return chip.fp16_tflops, tuple(notes)
    if precision == "fp32":
        return chip.fp32_tflops, ()
    if precision == "tf32":
        if chip.tf32_tflops is None:
            return chip.fp32_tflops, (f"tf32: {chip.name} has no TF32 tensor cores; estimated at FP32",)
        return chip.tf32_tflops, ()
    if precision == "fp8":
        if chip.key in FP8_CHIPS:
            return 2 * chip.fp16_tflops, ()
        return chip.fp16_tflops, (f"fp8: {chip.name} has no FP8 tensor cores (FP8 needs Hopper or "
                                  "Ada); estimated at its FP16/BF16 rate",)
    raise ValueError(f"precision: unknown precision {precision!r}")


# --------------------------------------------------------------------------------------------
# Model shape
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelShape:
    """Transformer dimensions assumed for a parameter count (see :func:`model_shape`)."""

    params: float
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @property
    def kv_dim(self) -> int:
        """Width of the K (or V) projection: ``kv_heads x head_dim``."""
        return self.kv_heads * self.head_dim

    @property
    def embedding_params(self) -> float:
        """Input embedding + untied output head, ``2·V·h``, capped at half the model."""
        return min(2.0 * self.vocab * self.hidden, 0.5 * self.params)

    @property
    def layer_params(self) -> float:
        """Parameters of one transformer layer, ``(N - E) / L``."""
        return (self.params - self.embedding_params) / self.layers

    @property
    def kv_bytes_per_token_16bit(self) -> float:
        """KV-cache bytes per token in 16-bit: ``2 · L · kv_heads · head_dim · 2``."""
        return 2.0 * self.layers * self.kv_dim * 2


# (params_b, layers, hidden, ffn): TinyLlama-1.1B, LLaMA/Llama-2 7B and 13B, Code Llama 34B,
# Llama-2 70B, Llama-3.1 405B.
_SHAPE_ANCHORS: tuple[tuple[float, int, int, int], ...] = (
    (1.1, 22, 2048, 5632),
    (6.74, 32, 4096, 11008),
    (13.0, 40, 5120, 13824),
    (33.7, 48, 8192, 22016),
    (69.0, 80, 8192, 28672),
    (405.0, 126, 16384, 53248),
)
_HEAD_DIM = 128
_GQA_FROM_B = 30.0
_GQA_KV_HEADS = 8
_DEFAULT_VOCAB = 32_000


def model_shape(params_b: float, kv_heads: int | None = None, vocab_size: int | None = None) -> ModelShape:
    """Assumed shape of a ``params_b``-billion dense decoder (module docstring, "Model shape").

    Between anchors, log(L), log(h), log(f) are interpolated linearly in log(N); outside them L and h
    scale as (N/N_anchor)^(1/3). h is rounded to a multiple of 128 (heads = h / 128), f to 64.
    """
    if not params_b > 0:
        raise ValueError(f"params_b: must be > 0, got {params_b!r}")
    logn = math.log(params_b)
    anchors = _SHAPE_ANCHORS
    if params_b <= anchors[0][0] or params_b >= anchors[-1][0]:
        base = anchors[0] if params_b <= anchors[0][0] else anchors[-1]
        scale = (params_b / base[0]) ** (1 / 3)
        layers_f, hidden_f, ffn_f = base[1] * scale, base[2] * scale, base[3] * scale
    else:
        for lo, hi in zip(anchors, anchors[1:], strict=False):
            if lo[0] <= params_b <= hi[0]:
                t = (logn - math.log(lo[0])) / (math.log(hi[0]) - math.log(lo[0]))
                layers_f, hidden_f, ffn_f = (math.exp((1 - t) * math.log(lo[i]) + t * math.log(hi[i]))
                                             for i in (1, 2, 3))
                break
    layers = max(1, round(layers_f))
    hidden = max(_HEAD_DIM, _HEAD_DIM * round(hidden_f / _HEAD_DIM))
    ffn = max(64, 64 * round(ffn_f / 64))
    heads = hidden // _HEAD_DIM
    head_dim = _HEAD_DIM
    if kv_heads is None:
        kv = min(_GQA_KV_HEADS, heads) if params_b >= _GQA_FROM_B else heads
    else:
        kv = kv_heads
    return ModelShape(params=params_b * 1e9, layers=layers, hidden=hidden, ffn=ffn, heads=heads,
                      kv_heads=kv, head_dim=head_dim, vocab=vocab_size or _DEFAULT_VOCAB)


def _lora_params(shape: ModelShape, rank: int) -> float:
    """LoRA adapter parameters on all 7 linear maps: ``r·L·(9h + 2·d_kv + 3f)``."""
    return float(rank) * shape.layers * (9 * shape.hidden + 2 * shape.kv_dim + 3 * shape.ffn)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

_BREAKDOWN_KEYS = ("weights", "gradients", "optimizer", "activations", "kv_cache", "overhead")


@dataclass(frozen=True)
class Estimate:
    """An estimate for one workload on ``count`` devices of one chip (or a CPU allocation).

    Memory figures are GiB per device. ``fits_in_memory`` is ``None`` when the workload carries no
    memory model (reference GPU-hours, generic training without ``model_memory_gib``).
    ``total_flops`` are model FLOPs (training); ``executed_flops`` add recomputation and QLoRA
    dequantisation. ``hours*`` are wall-clock hours on the whole allocation (training-type
    workloads; ``None`` for inference). ``mfu`` is the model-FLOPs utilisation implied by the central
    estimate. Inference fields: ``tokens_per_s*`` generated tokens/s of the deployment at the given
    concurrency, ``ms_per_token`` the inter-token latency one sequence sees, ``ttft_ms`` the prefill
    time of one prompt. ``devices_needed`` is the smallest power-of-two device count that holds the
    model at the requested concurrency; with a target, at least enough replicas of the smallest
    tensor-parallel group that holds the model, each decoding min(concurrency, what fits, 256)
    sequences, to reach it (the note says when the concurrency itself caps throughput: Little's
    law). ``tensor_parallel`` x ``replicas`` is the layout assumed: of the power-of-two splits of
    ``count`` that fit, the one with the highest throughput at the given concurrency.
    ``memory_breakdown_gib`` has the keys weights, gradients, optimizer, activations, kv_cache,
    overhead.
    """

    workload_kind: str
    chip_key: str | None
    count: int
    bottleneck: str
    fits_in_memory: bool | None = None
    memory_needed_gib: float | None = None
    memory_available_gib: float | None = None
    memory_breakdown_gib: dict[str, float] = field(default_factory=dict)
    total_flops: float | None = None
    executed_flops: float | None = None
    hours: float | None = None
    hours_low: float | None = None
    hours_high: float | None = None
    mfu: float | None = None
    tokens_per_s: float | None = None
    tokens_per_s_low: float | None = None
    tokens_per_s_high: float | None = None
    target_tokens_per_s: float | None = None
    meets_target: bool | None = None
    ms_per_token: float | None = None
    ttft_ms: float | None = None
    meets_latency: bool | None = None
    devices_needed: int | None = None
    tensor_parallel: int | None = None
    replicas: int | None = None
    notes: tuple[str, ...] = ()


def _breakdown(values: Mapping[str, float]) -> dict[str, float]:
    """Bytes per component -> GiB per component, every key present."""
    return {key: values.get(key, 0.0) / GIB for key in _BREAKDOWN_KEYS}


def _ecosystem_notes(chip: ChipSpec, family: FamilyEfficiency) -> list[str]:
    notes: list[str] = []
    if chip.ecosystem != "cuda":
        eco = ECOSYSTEMS[chip.ecosystem]
        notes.append(f"{eco.name} ({eco.name_zh}): {eco.notes} Frameworks: {', '.join(eco.frameworks)}.")
    if chip.domestic:
        notes.append(f"efficiency on {chip.name} is uncertain (few public LLM measurements): utilisation "
                     f"{family.mfu.low:.2f}-{family.mfu.high:.2f} of peak assumed, hence the wide range")
    if chip.key == "h20":
        notes.append("H20 is compute-poor but bandwidth-rich: training utilisation is probably above "
                     "the Hopper range used here (unmeasured)")
    return notes


# --------------------------------------------------------------------------------------------
# LLM training
# --------------------------------------------------------------------------------------------


def _training_bytes_per_param(w: LLMTraining) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes per trained parameter for full training."""
    if w.precision == "fp32":
        return 4.0, 4.0, 8.0
    if w.precision == "fp8":
        return 3.0, 2.0, 12.0
    return 2.0, 2.0, 12.0


def _training_memory(w: LLMTraining, chip: ChipSpec, shape: ModelShape, count: int,
                     tp: int) -> dict[str, float]:
    """Per-device bytes by component (module docstring, "Training memory")."""
    n = w.params
    shard = float(count)
    parts: dict[str, float] = {}
    if w.method in ("pretrain", "full"):
        wb, gb, ob = _training_bytes_per_param(w)
        parts["weights"] = n * wb / shard
        parts["gradients"] = n * gb / shard
        parts["optimizer"] = n * ob / shard
    else:
        adapters = _lora_params(shape, w.lora_rank)
        if w.method == "lora":
            base = n * (4.0 if w.precision == "fp32" else 2.0)
        else:
            emb = shape.embedding_params
            base = (n - emb) * (4.127 / 8) + emb * 2.0
        parts["weights"] = (base + adapters * 4.0) / shard
        parts["gradients"] = adapters * 4.0 / shard
        parts["optimizer"] = adapters * 8.0 / shard
    s, b, h = float(w.seq_len), float(w.micro_batch), float(shape.hidden)
    elem = 2.0 if w.precision == "fp32" else 1.0
    per_layer = s * b * h * 34.0
    if not _flash_attention(chip):
        per_layer += 5.0 * shape.heads * s * s * b
    per_layer *= elem
    if w.gradient_checkpointing:
        stored = shape.layers * 2.0 * s * b * h * elem + per_layer
    else:
        stored = shape.layers * per_layer
    logits = s * b * shape.vocab * 6.0
    parts["activations"] = (stored + logits) / tp
    gathered = 2 * shape.layer_params * 2.0 / tp if count > 1 else 0.0
    parts["weights"] += gathered
    subtotal = sum(parts.values())
    parts["overhead"] = GIB + 0.05 * subtotal
    return parts


_TRAINING_TP = (1, 2, 4, 8)


def _activation_tp(w: LLMTraining, chip: ChipSpec, shape: ModelShape) -> int:
    """Tensor-parallel size the activations call for: the smallest t in (1, 2, 4, 8) that fits once
    the model state is fully sharded (a property of the workload, not of the device count, so
    per-device memory falls monotonically as devices are added). 8 if none does."""
    available = chip.memory_gib * GIB
    for tp in _TRAINING_TP:
        if sum(_training_memory(w, chip, shape, MAX_DEVICES, tp).values()) <= available:
            return tp
    return _TRAINING_TP[-1]


def _training_flops(w: LLMTraining, shape: ModelShape) -> tuple[float, float]:
    """(model FLOPs, executed FLOPs before the QLoRA multiplier)."""
    n, tokens = w.params, w.total_tokens
    attention = 6.0 * shape.layers * w.seq_len * shape.hidden
    if w.method in ("pretrain", "full"):
        per_token = 6.0 * n + attention
    else:
        per_token = 4.0 * n + attention + 6.0 * _lora_params(shape, w.lora_rank)
    model = tokens * per_token
    executed = model
    if w.gradient_checkpointing:
        executed += tokens * (2.0 * n + 2.0 * shape.layers * w.seq_len * shape.hidden)
    return model, executed


def _training_notes(w: LLMTraining, chip: ChipSpec, count: int, tp: int, fits: bool,
                    needed_gib: float) -> list[str]:
    notes: list[str] = []
    if w.method == "qlora":
        if chip.ecosystem == "cuda":
            notes.append("QLoRA: 4-bit NF4 base weights via bitsandbytes (CUDA); dequantisation makes "
                         "steps ~20-40% slower than 16-bit LoRA")
        elif chip.ecosystem == "cann":
            notes.append("QLoRA: 4-bit NF4 base weights need bitsandbytes (CUDA-first); on Ascend use "
                         "bitsandbytes' NPU backend (NF4 in plain PyTorch for now, slower) or plain LoRA "
                         "in bf16 via torch_npu + PEFT / MindSpeed-LLM")
        else:
            notes.append(f"QLoRA: 4-bit NF4 base weights need bitsandbytes (CUDA-first); there is no "
                         f"maintained build for {ECOSYSTEMS[chip.ecosystem].name} — plan for LoRA in "
                         "bf16/fp16 instead")
    if w.method in ("lora", "qlora"):
        notes.append(f"LoRA rank {w.lora_rank} on all linear layers: ~2/3 of full fine-tuning FLOPs "
                     "(no weight gradients for frozen weights)")
    if count > 1:
        notes.append(f"assumes ZeRO-3 / FSDP full sharding of weights, gradients and optimizer states "
                     f"over {count} devices; with plain DDP each device holds the whole model state")
    if count > NODE_SIZE:
        if _has_fabric(chip):
            notes.append("multi-node: assumes an RDMA network (InfiniBand/RoCE) between nodes")
        else:
            notes.append("multi-node over PCIe-only servers: expect to be communication-bound")
    elif count > 1 and not _has_fabric(chip):
        notes.append(f"{chip.name} has no NVLink-class fabric: gradients and parameters move over PCIe")
    if tp > 1:
        notes.append(f"tensor parallel {tp} with sequence parallelism assumed so activations fit")
    if w.gradient_checkpointing:
        notes.append("gradient checkpointing (full recomputation): +1 forward pass of compute, "
                     "activations cut to each layer's input")
    if not _flash_attention(chip):
        notes.append(f"no FlashAttention-class kernel assumed on {chip.name}: attention scores are "
                     "stored, so long sequences cost O(seq²) memory")
    if w.precision == "fp8" and chip.key in FP8_CHIPS:
        notes.append("fp8 training (Transformer Engine): charged at ~1.4x BF16 speed, not 2x")
    if not fits:
        notes.append(f"does not fit: needs {needed_gib:.1f} GiB per device, {chip.name} has "
                     f"{chip.memory_gib} GiB — use more devices, LoRA/QLoRA, gradient checkpointing or "
                     "a smaller micro_batch")
    return notes


def _estimate_llm_training(w: LLMTraining, chip: ChipSpec, count: int) -> Estimate:
    family = chip_family(chip)
    shape = model_shape(w.params_b, vocab_size=w.vocab_size)
    available = float(chip.memory_gib)
    chosen_tp = min(_activation_tp(w, chip, shape),
                    max(t for t in _TRAINING_TP if t <= min(count, NODE_SIZE) and count % t == 0))
    parts = _training_memory(w, chip, shape, count, chosen_tp)
    needed = sum(parts.values()) / GIB
    fits = needed <= available

    peak, precision_notes = peak_tflops(chip, w.precision)
    model_flops, executed = _training_flops(w, shape)
    scale = scaling_efficiency(chip, count)
    fp8_factor = _FP8_TRAINING_FACTOR if (w.precision == "fp8" and chip.key in FP8_CHIPS) else 1.0

    def hours_for(which: str, overhead_pick: str) -> float:
        util = family.mfu.pick(which) * fp8_factor * scale
        flops = executed * (QLORA_OVERHEAD.pick(overhead_pick) if w.method == "qlora" else 1.0)
        return flops / (count * peak * 1e12 * util) / 3600.0

    hours = hours_for("central", "central")
    hours_low = hours_for("high", "low")
    hours_high = hours_for("low", "high")
    mfu = model_flops / (hours * 3600.0 * count * peak * 1e12)

    if not fits:
        bottleneck = "memory_capacity"
    elif count > 1 and scale < 0.88:
        bottleneck = "interconnect"
    else:
        bottleneck = "compute"
    notes = list(precision_notes) + _training_notes(w, chip, count, chosen_tp, fits, needed)
    notes += _ecosystem_notes(chip, family)
    return Estimate(
        workload_kind="llm_training", chip_key=chip.key, count=count, bottleneck=bottleneck,
        fits_in_memory=fits, memory_needed_gib=needed, memory_available_gib=available,
        memory_breakdown_gib=_breakdown(parts), total_flops=model_flops,
        executed_flops=executed * (QLORA_OVERHEAD.central if w.method == "qlora" else 1.0),
        hours=hours, hours_low=hours_low, hours_high=hours_high, mfu=mfu,
        tensor_parallel=chosen_tp, replicas=count // chosen_tp, notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# LLM inference
# --------------------------------------------------------------------------------------------

_WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5625}
_PREFILL_CHUNK = 2048
_INFERENCE_FIXED_OVERHEAD = GIB
_INFERENCE_FRAGMENTATION = 0.02
_MAX_ENGINE_BATCH = 256  # typical serving-engine cap on concurrent sequences (vLLM max_num_seqs)


@dataclass(frozen=True)
class _InferenceModel:
    """Sizes derived once per (workload, chip)."""

    shape: ModelShape
    weight_bytes: float
    kv_per_token: float
    peak_flops: float  # weight matmuls, FLOP/s per device
    attn_peak_flops: float  # attention (16-bit), FLOP/s per device
    bandwidth: float  # bytes/s per device
    quantised: bool
    notes: tuple[str, ...]


def _inference_model(w: LLMInference, chip: ChipSpec) -> _InferenceModel:
    shape = model_shape(w.params_b, kv_heads=w.kv_heads, vocab_size=w.vocab_size)
    n, emb = w.params, shape.embedding_params
    q = _WEIGHT_BYTES[w.precision]
    weight_bytes = n * 2.0 if q == 2.0 else (n - emb) * q + emb * 2.0
    kv_elem = 1.0 if w.precision == "fp8" else 2.0
    kv_per_token = 2.0 * shape.layers * shape.kv_dim * kv_elem
    notes: list[str] = []
    if w.precision == "fp8":
        peak, extra = peak_tflops(chip, "fp8")
        if chip.key not in FP8_CHIPS:
            notes.append(f"fp8: {chip.name} has no FP8 tensor cores: FP8 weights are served weight-only "
                         "(dequantised to FP16, e.g. vLLM's Marlin kernels) at the FP16 rate")
        else:
            notes.extend(extra)
    elif w.precision == "bf16" and chip.key in NO_BF16_CHIPS:
        peak = chip.fp16_tflops
        notes.append(f"bf16: {chip.name} has no BF16 support in hardware: serve the weights in fp16")
    else:
        peak, extra = peak_tflops(chip, w.precision)
        notes.extend(extra)
    if w.precision in ("int8", "int4"):
        notes.append(f"{w.precision}: weight-only quantisation (GPTQ/AWQ/bitsandbytes/llama.cpp style), "
                     "16-bit activations; compute at the FP16 rate")
    quantised = w.precision in ("int8", "int4") or (w.precision == "fp8" and chip.key not in FP8_CHIPS)
    return _InferenceModel(
        shape=shape, weight_bytes=weight_bytes, kv_per_token=kv_per_token,
        peak_flops=peak * 1e12, attn_peak_flops=chip.fp16_tflops * 1e12,
        bandwidth=chip.memory_bandwidth_gbs * 1e9, quantised=quantised, notes=tuple(notes),
    )


def _inference_memory(w: LLMInference, m: _InferenceModel, tp: int, batch: int) -> dict[str, float]:
    """Per-device bytes for a replica of ``tp`` devices serving ``batch`` sequences."""
    shape = m.shape
    kv = m.kv_per_token * w.context_len * batch
    chunk = min(batch * w.context_len, _PREFILL_CHUNK)
    activations = chunk * (8.0 * shape.hidden + 6.0 * shape.ffn) + batch * shape.vocab * 4.0
    parts = {"weights": m.weight_bytes / tp, "kv_cache": kv / tp, "activations": activations / tp}
    parts["overhead"] = _INFERENCE_FIXED_OVERHEAD + _INFERENCE_FRAGMENTATION * sum(parts.values())
    return parts


def _tp_options(count: int) -> list[int]:
    """Tensor-parallel sizes: powers of two dividing ``count``, smallest first."""
    options, t = [], 1
    while t <= count:
        if count % t == 0:
            options.append(t)
        t *= 2
    return options


@dataclass(frozen=True)
class _Layout:
    """``replicas`` replicas of ``tp`` tensor-parallel devices, ``batch`` sequences per replica."""

    tp: int
    replicas: int
    batch: int
    parts: dict[str, float]
    fits: bool


def _layouts(w: LLMInference, m: _InferenceModel, chip: ChipSpec, count: int) -> list[_Layout]:
    """Every power-of-two tensor-parallel split of ``count`` devices, smallest ``tp`` first."""
    available = chip.memory_gib * GIB
    layouts = []
    for tp in _tp_options(count):
        replicas = count // tp
        batch = math.ceil(w.concurrency / replicas)
        parts = _inference_memory(w, m, tp, batch)
        layouts.append(_Layout(tp, replicas, batch, parts, sum(parts.values()) <= available))
    return layouts


def _fits_somehow(w: LLMInference, m: _InferenceModel, chip: ChipSpec, count: int) -> bool:
    return any(layout.fits for layout in _layouts(w, m, chip, count))


def _link(chip: ChipSpec, tp: int) -> tuple[float, float]:
    """(all-reduce latency s, per-direction bandwidth bytes/s) for a ``tp``-device group."""
    if tp > NODE_SIZE:
        return _ALLREDUCE_LATENCY_S["network"], _NETWORK_GBS * 1e9
    if _has_fabric(chip):
        assert chip.interconnect_gbs is not None
        return _ALLREDUCE_LATENCY_S["fabric"], chip.interconnect_gbs / 2 * 1e9
    return _ALLREDUCE_LATENCY_S["pcie"], _PCIE_GBS * 1e9


@dataclass(frozen=True)
class _StepTimes:
    weight_read: float
    gemm: float
    kv_read: float
    attention: float
    comm: float

    @property
    def total(self) -> float:
        return max(self.weight_read, self.gemm) + max(self.kv_read, self.attention) + self.comm


def _comm_time(chip: ChipSpec, shape: ModelShape, tp: int, tokens: float) -> float:
    """2·L all-reduces of ``tokens·h·2`` bytes over a ``tp``-device group."""
    if tp == 1:
        return 0.0
    latency, bandwidth = _link(chip, tp)
    size = tokens * shape.hidden * 2.0
    return 2 * shape.layers * (latency + 2.0 * (tp - 1) / tp * size / bandwidth)


def _decode_step(w: LLMInference, m: _InferenceModel, chip: ChipSpec, family: FamilyEfficiency,
                 tp: int, batch: int, ctx: float, which: str) -> _StepTimes:
    bw = m.bandwidth * family.decode_bandwidth.pick(which) * tp
    kernel = _QUANT_KERNEL.pick(which) if m.quantised else 1.0
    compute = m.peak_flops * family.inference_compute.pick(which) * tp
    attn_compute = m.attn_peak_flops * family.inference_compute.pick(which) * tp
    shape = m.shape
    return _StepTimes(
        weight_read=m.weight_bytes / (bw * kernel),
        gemm=batch * 2.0 * w.params / compute,
        kv_read=batch * ctx * m.kv_per_token / bw,
        attention=batch * 4.0 * shape.layers * shape.hidden * ctx / attn_compute,
        comm=_comm_time(chip, shape, tp, batch),
    )


def _prefill_time(w: LLMInference, m: _InferenceModel, chip: ChipSpec, family: FamilyEfficiency,
                  tp: int, prompt: int, which: str, include_weight_read: bool) -> float:
    shape = m.shape
    flops = 2.0 * w.params * prompt + 2.0 * shape.layers * shape.hidden * prompt * prompt
    t = flops / (m.peak_flops * family.inference_compute.pick(which) * tp)
    if include_weight_read:
        kernel = _QUANT_KERNEL.pick(which) if m.quantised else 1.0
        t = max(t, m.weight_bytes / (m.bandwidth * family.decode_bandwidth.pick(which) * tp * kernel))
    return t + _comm_time(chip, shape, tp, prompt)


def _replica_rate(w: LLMInference, m: _InferenceModel, chip: ChipSpec, family: FamilyEfficiency,
                  tp: int, batch: int, which: str) -> tuple[float, _StepTimes, float]:
    """(generated tokens/s of one replica at ``batch``, decode step times, prefill s per request)."""
    if w.prompt_tokens is not None and w.output_tokens_per_request is not None:
        ctx = w.prompt_tokens + w.output_tokens_per_request / 2
    else:
        ctx = w.context_len / 2
    step = _decode_step(w, m, chip, family, tp, batch, ctx, which)
    if w.prompt_tokens is not None and w.output_tokens_per_request is not None:
        prefill = _prefill_time(w, m, chip, family, tp, w.prompt_tokens, which, include_weight_read=False)
        out = w.output_tokens_per_request
        rate = batch * out / (batch * prefill + out * step.total)
    else:
        prefill = 0.0
        rate = batch / step.total
    return rate, step, prefill


def _max_batch(w: LLMInference, m: _InferenceModel, chip: ChipSpec, tp: int) -> int:
    """Largest batch (<= the engine cap) a ``tp``-device replica holds; 0 if not even one."""
    available = chip.memory_gib * GIB
    lo, hi = 0, _MAX_ENGINE_BATCH
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(_inference_memory(w, m, tp, mid).values()) <= available:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _devices_needed(w: LLMInference, m: _InferenceModel, chip: ChipSpec,
                    family: FamilyEfficiency) -> tuple[int | None, list[str]]:
    """Smallest device count holding the model at ``concurrency`` and meeting the target, if any."""
    notes: list[str] = []
    memory_min = None
    t = 1
    while t <= MAX_DEVICES:
        if _fits_somehow(w, m, chip, t):
            memory_min = t
            break
        t *= 2
    if memory_min is None:
        return None, [f"the model does not fit even on {MAX_DEVICES} devices at this concurrency"]
    target = w.target_tokens
    if target is None:
        return memory_min, notes
    tp = 1
    while tp <= MAX_DEVICES and _max_batch(w, m, chip, tp) < 1:
        tp *= 2
    batch = min(_max_batch(w, m, chip, tp), max(w.concurrency, 1))
    batch = max(batch, 1)
    rate, _, _ = _replica_rate(w, m, chip, family, tp, batch, "central")
    needed = tp * math.ceil(target / rate)
    return max(memory_min, needed), notes


def _estimate_llm_inference(w: LLMInference, chip: ChipSpec, count: int) -> Estimate:
    family = chip_family(chip)
    m = _inference_model(w, chip)
    layouts = _layouts(w, m, chip, count)
    fitting = [layout for layout in layouts if layout.fits]
    if fitting:
        # the split with the highest throughput at this concurrency (ties: the smallest tp)
        def throughput(layout: _Layout) -> float:
            rate = _replica_rate(w, m, chip, family, layout.tp, layout.batch, "central")[0]
            return rate / layout.batch * w.concurrency

        best = max(throughput(layout) for layout in fitting)
        chosen = next(layout for layout in fitting if throughput(layout) >= best * (1 - 1e-9))
    else:
        chosen = layouts[-1]
    tp, replicas, batch, parts, fits = chosen.tp, chosen.replicas, chosen.batch, chosen.parts, chosen.fits
    needed = sum(parts.values()) / GIB
    notes = list(m.notes)
    devices_needed, need_notes = _devices_needed(w, m, chip, family)
    notes += need_notes
    target = w.target_tokens
    if w.kv_heads is None:
        attention = ("grouped-query attention with 8 KV heads" if m.shape.kv_heads < m.shape.heads
                     else "full multi-head attention")
        notes.append(f"assumes {attention} ({m.shape.layers} layers, hidden {m.shape.hidden}); "
                     "set kv_heads for your model")
    notes.append("KV cache sized for every sequence at the full context_len")
    if w.precision == "fp8":
        notes.append("fp8: KV cache also held in FP8 (1 byte per entry)")
    if w.prompt_tokens is None:
        notes.append("prompt length unknown: prefill compute not charged (give prompt_tokens)")

    if not fits:
        notes.append(f"does not fit: needs {needed:.1f} GiB per device on {count} x {chip.name} "
                     f"({chip.memory_gib} GiB each); needs at least {devices_needed} devices"
                     if devices_needed else f"does not fit on {count} x {chip.name}")
        notes += _ecosystem_notes(chip, family)
        return Estimate(
            workload_kind="llm_inference", chip_key=chip.key, count=count, bottleneck="memory_capacity",
            fits_in_memory=False, memory_needed_gib=needed, memory_available_gib=float(chip.memory_gib),
            memory_breakdown_gib=_breakdown(parts), tokens_per_s=0.0, tokens_per_s_low=0.0,
            tokens_per_s_high=0.0, target_tokens_per_s=target,
            meets_target=False if target is not None else None,
            meets_latency=False if w.latency_ms_per_token is not None else None,
            devices_needed=devices_needed, tensor_parallel=tp, replicas=replicas, notes=tuple(notes),
        )

    rates: dict[str, float] = {}
    steps: dict[str, _StepTimes] = {}
    prefills: dict[str, float] = {}
    for which in ("low", "central", "high"):
        rate, step, prefill = _replica_rate(w, m, chip, family, tp, batch, which)
        # concurrency sequences share replicas x batch slots: each sequence runs at rate / batch
        rates[which] = rate / batch * w.concurrency
        steps[which], prefills[which] = step, prefill
    step = steps["central"]
    ms_per_token = step.total * 1000.0
    ttft_ms = None
    if w.prompt_tokens is not None:
        ttft_ms = _prefill_time(w, m, chip, family, tp, w.prompt_tokens, "central",
                                include_weight_read=True) * 1000.0

    memory_time = (step.weight_read if step.weight_read >= step.gemm else 0.0) + \
                  (step.kv_read if step.kv_read >= step.attention else 0.0)
    compute_time = (step.gemm if step.gemm > step.weight_read else 0.0) + \
                   (step.attention if step.attention > step.kv_read else 0.0)
    if w.output_tokens_per_request:
        compute_time += batch * prefills["central"] / w.output_tokens_per_request
    shares = {"memory_bandwidth": memory_time, "compute": compute_time, "interconnect": step.comm}
    bottleneck = max(shares, key=lambda k: shares[k])

    meets_target = None if target is None else rates["central"] >= target
    if target is not None and not meets_target:
        ceiling = w.concurrency / step.total
        if ceiling < target:
            notes.append(f"at concurrency {w.concurrency} a sequence gets {1 / step.total:.1f} tokens/s, so "
                         f"the deployment cannot exceed {ceiling:.0f} tokens/s: the target needs about "
                         f"{math.ceil(target * step.total)} concurrent sequences")
    meets_latency = None
    if w.latency_ms_per_token is not None:
        meets_latency = ms_per_token <= w.latency_ms_per_token
    if tp > 1:
        notes.append(f"layout: {replicas} replica(s) x tensor parallel {tp}"
                     + (" (spans nodes: pipeline parallelism in practice)" if tp > NODE_SIZE else ""))
    notes += _ecosystem_notes(chip, family)
    return Estimate(
        workload_kind="llm_inference", chip_key=chip.key, count=count, bottleneck=bottleneck,
        fits_in_memory=True, memory_needed_gib=needed, memory_available_gib=float(chip.memory_gib),
        memory_breakdown_gib=_breakdown(parts), tokens_per_s=rates["central"],
        tokens_per_s_low=rates["low"], tokens_per_s_high=rates["high"], target_tokens_per_s=target,
        meets_target=meets_target, ms_per_token=ms_per_token, ttft_ms=ttft_ms,
        meets_latency=meets_latency, devices_needed=devices_needed, tensor_parallel=tp,
        replicas=replicas, notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Generic training, reference GPU-hours, CPU jobs
# --------------------------------------------------------------------------------------------


def _estimate_generic(w: GenericTraining, chip: ChipSpec, count: int) -> Estimate:
    family = chip_family(chip)
    peak, notes = peak_tflops(chip, w.precision)
    scale = scaling_efficiency(chip, count)
    total = w.total_flops

    def hours_for(which: str) -> float:
        util = family.mfu.pick(which) * GENERIC_WORKLOAD_FACTOR.pick(which) * scale
        return total / (count * peak * 1e12 * util) / 3600.0

    hours = hours_for("central")
    fits = needed = None
    parts: dict[str, float] = {}
    if w.model_memory_gib is not None:
        needed = float(w.model_memory_gib) + 1.0
        fits = needed <= chip.memory_gib
        parts = {"weights": 0.0, "gradients": 0.0, "optimizer": 0.0, "activations": float(w.model_memory_gib),
                 "kv_cache": 0.0, "overhead": 1.0}
    all_notes = list(notes)
    all_notes.append("generic training: utilisation taken as "
                     f"{GENERIC_WORKLOAD_FACTOR.central:.0%} of the LLM figure (less matmul-bound)")
    if count > 1:
        all_notes.append("assumes data parallelism: every device holds the whole model_memory_gib")
    if w.model_memory_gib is None:
        all_notes.append("memory fit not checked: give model_memory_gib")
    all_notes += _ecosystem_notes(chip, family)
    if fits is False:
        bottleneck = "memory_capacity"
    elif count > 1 and scale < 0.88:
        bottleneck = "interconnect"
    else:
        bottleneck = "compute"
    return Estimate(
        workload_kind="generic_training", chip_key=chip.key, count=count, bottleneck=bottleneck,
        fits_in_memory=fits, memory_needed_gib=needed, memory_available_gib=float(chip.memory_gib),
        memory_breakdown_gib=parts, total_flops=total, executed_flops=total, hours=hours,
        hours_low=hours_for("high"), hours_high=hours_for("low"),
        mfu=total / (hours * 3600.0 * count * peak * 1e12), notes=tuple(all_notes),
    )


def _chip(value: ChipSpec | str, name: str) -> ChipSpec:
    if isinstance(value, ChipSpec):
        return value
    if isinstance(value, str):
        try:
            return get_chip(value)
        except KeyError as exc:
            raise ValueError(f"{name}: {exc.args[0]}") from None
    raise ValueError(f"{name}: must be a ChipSpec or a chip key, got {value!r}")


def _reference_ratio(from_chip: ChipSpec, to_chip: ChipSpec, precision: str) -> tuple[float, float, float]:
    """(low, central, high) factor turning device-hours on ``from_chip`` into device-hours on ``to_chip``."""
    peak_from, _ = peak_tflops(from_chip, precision)
    peak_to, _ = peak_tflops(to_chip, precision)
    f_from, f_to = chip_family(from_chip), chip_family(to_chip)
    central = (peak_from * f_from.mfu.central) / (peak_to * f_to.mfu.central)
    if f_from.key == f_to.key:
        return central, central, central
    low = central * (f_from.mfu.low / f_from.mfu.central) * (f_to.mfu.central / f_to.mfu.high)
    high = central * (f_from.mfu.high / f_from.mfu.central) * (f_to.mfu.central / f_to.mfu.low)
    return low, central, high


def convert_reference_hours(gpu_hours: float, from_chip: ChipSpec | str, to_chip: ChipSpec | str,
                            precision: str = "bf16") -> float:
    """Device-hours on ``to_chip`` equivalent to ``gpu_hours`` on ``from_chip`` (central estimate).

    ``gpu_hours x (peak_from(precision) x u_from) / (peak_to(precision) x u_to)``: the same work
    (FLOPs) at each chip's achievable rate, u the family's central utilisation. Identity when the
    two chips are the same; converting there and back returns the input (up to float rounding).
    """
    if isinstance(gpu_hours, bool) or not isinstance(gpu_hours, (int, float)) or not (
            math.isfinite(gpu_hours) and gpu_hours >= 0):
        raise ValueError(f"gpu_hours: must be a finite number >= 0, got {gpu_hours!r}")
    source, dest = _chip(from_chip, "from_chip"), _chip(to_chip, "to_chip")
    if precision not in ("bf16", "fp16", "fp32", "tf32", "fp8"):
        raise ValueError(f"precision: must be one of bf16, fp16, fp32, tf32, fp8; got {precision!r}")
    if source.key == dest.key:
        return float(gpu_hours)
    return float(gpu_hours) * _reference_ratio(source, dest, precision)[1]


def _estimate_reference(w: ReferenceGpuHours, chip: ChipSpec, count: int) -> Estimate:
    source = get_chip(w.reference_chip)
    if source.key == chip.key:
        low = central = high = 1.0
    else:
        low, central, high = _reference_ratio(source, chip, w.precision)
    scale = scaling_efficiency(chip, count)
    device_hours = w.gpu_hours * central
    _, precision_notes = peak_tflops(chip, w.precision)
    notes = list(precision_notes)
    notes.append(f"{w.gpu_hours:g} device-hours on {source.name} = {device_hours:.4g} on {chip.name} "
                 "(throughput x efficiency ratio), spread over the devices with their scaling efficiency")
    notes.append("memory fit unknown for reference GPU-hours")
    if chip.memory_gib < source.memory_gib:
        notes.append(f"{chip.name} has less memory ({chip.memory_gib} GiB) than {source.name} "
                     f"({source.memory_gib} GiB): the job may need more devices or sharding")
    notes += _ecosystem_notes(chip, chip_family(chip))
    return Estimate(
        workload_kind="reference_gpu_hours", chip_key=chip.key, count=count,
        bottleneck="interconnect" if count > 1 and scale < 0.88 else "compute",
        fits_in_memory=None, memory_available_gib=float(chip.memory_gib),
        hours=device_hours / (count * scale), hours_low=w.gpu_hours * low / (count * scale),
        hours_high=w.gpu_hours * high / (count * scale), notes=tuple(notes),
    )


#: A job's core-hours may have been counted on physical cores while cloud vCPUs are hyperthreads,
#: and few jobs scale perfectly: the high estimate assumes 70% parallel efficiency.
_CPU_PARALLEL_EFFICIENCY_LOW = 0.7


def estimate_cpu(job: CpuJob, vcpus: int, memory_gib: float) -> Estimate:
    """A CPU job on ``vcpus`` vCPUs with ``memory_gib`` RAM: ``hours = core_hours / vcpus``.

    The low estimate is that (perfect scaling), the high one assumes 70% parallel efficiency.
    """
    if not isinstance(job, CpuJob):
        raise ValueError(f"job: must be a CpuJob, got {type(job).__name__}")
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or not 1 <= vcpus <= 65_536:
        raise ValueError(f"vcpus: must be a whole number between 1 and 65536, got {vcpus!r}")
    if isinstance(memory_gib, bool) or not isinstance(memory_gib, (int, float)) or not (
            math.isfinite(memory_gib) and 0 < memory_gib <= 1e7):
        raise ValueError(f"memory_gib: must be > 0 and <= 1e7, got {memory_gib!r}")
    hours = job.core_hours / vcpus
    fits = job.memory_gib <= memory_gib
    notes = ["hours = core_hours / vCPUs (perfect scaling); the high estimate allows 70% parallel "
             "efficiency (vCPUs are hyperthreads on most clouds)"]
    if not fits:
        notes.append(f"does not fit: needs {job.memory_gib:g} GiB RAM, the allocation has {memory_gib:g}")
    return Estimate(
        workload_kind="cpu_job", chip_key=None, count=vcpus,
        bottleneck="compute" if fits else "memory_capacity", fits_in_memory=fits,
        memory_needed_gib=float(job.memory_gib), memory_available_gib=float(memory_gib),
        hours=hours, hours_low=hours, hours_high=hours / _CPU_PARALLEL_EFFICIENCY_LOW, notes=tuple(notes),
    )


def estimate(workload: Workload, chip: ChipSpec, count: int) -> Estimate:
    """Estimate ``workload`` on ``count`` devices of ``chip`` (1 <= count <= 4096).

    ``CpuJob`` goes through :func:`estimate_cpu` instead (a CPU allocation is not a chip).
    """
    _check_count(count)
    if not isinstance(chip, ChipSpec):
        raise ValueError(f"chip: must be a ChipSpec, got {type(chip).__name__}")
    if isinstance(workload, LLMTraining):
        return _estimate_llm_training(workload, chip, count)
    if isinstance(workload, LLMInference):
        return _estimate_llm_inference(workload, chip, count)
    if isinstance(workload, GenericTraining):
        return _estimate_generic(workload, chip, count)
    if isinstance(workload, ReferenceGpuHours):
        return _estimate_reference(workload, chip, count)
    if isinstance(workload, CpuJob):
        raise ValueError("workload: CPU jobs are estimated with estimate_cpu(job, vcpus, memory_gib)")
    raise ValueError(f"workload: unsupported workload type {type(workload).__name__}")


# --------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostRange:
    """Integer fen for the low, central and high hour estimates."""

    low: int
    central: int
    high: int


def cost_fen(hours: float, price_per_hour_fen: int) -> int:
    """``hours x price_per_hour_fen`` in whole fen, rounded half up once.

    ``price_per_hour_fen`` is the price of the whole allocation per hour (integer fen). ``hours`` is
    converted with ``Decimal(repr(hours))`` (its shortest exact decimal form), so no float money.
    """
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not (
            math.isfinite(hours) and hours >= 0):
        raise ValueError(f"hours: must be a finite number >= 0, got {hours!r}")
    price = price_per_hour_fen
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise ValueError(f"price_per_hour_fen: must be a whole number of fen >= 0, got {price!r}")
    return round_fen(Decimal(repr(hours)) * price_per_hour_fen)


def cost_range_fen(est: Estimate, price_per_hour_fen: int) -> CostRange:
    """Cost of an estimate's low / central / high hours at ``price_per_hour_fen``."""
    if est.hours is None or est.hours_low is None or est.hours_high is None:
        raise ValueError("hours: this estimate has no duration (inference is priced per hour of serving)")
    return CostRange(
        low=cost_fen(est.hours_low, price_per_hour_fen),
        central=cost_fen(est.hours, price_per_hour_fen),
        high=cost_fen(est.hours_high, price_per_hour_fen),
    )
