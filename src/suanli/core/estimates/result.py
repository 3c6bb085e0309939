"""The result of an estimate, shared by every workload model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from suanli.core.chips import ECOSYSTEMS, ChipSpec
from suanli.core.estimates.efficiency import GIB, FamilyEfficiency
from suanli.core.messages import Message, msg

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
    overhead. Training adds ``samples_per_s*`` (LLM training: tokens/s) (the whole allocation; low-high holds about 80% of
    held-out measurements), the ``sample_unit``, ``step_time_ms`` (total and by part: compute,
    memory_bandwidth, overhead, interconnect), ``batch_per_device`` and ``servers``. ``notes`` are translatable :class:`~suanli.core.messages.Message` s (``str()`` is English).
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
    samples_per_s: float | None = None
    samples_per_s_low: float | None = None
    samples_per_s_high: float | None = None
    sample_unit: str | None = None
    step_time_ms: dict[str, float] = field(default_factory=dict)
    batch_per_device: int | None = None
    servers: int | None = None
    notes: tuple[Message, ...] = ()


def _breakdown(values: Mapping[str, float]) -> dict[str, float]:
    """Bytes per component -> GiB per component, every key present."""
    return {key: values.get(key, 0.0) / GIB for key in _BREAKDOWN_KEYS}


#: The ecosystems' names (``Ecosystem.name``), translatable.
ECOSYSTEM_NAMES: Mapping[str, Message] = MappingProxyType({
    "cann": msg("Huawei CANN"), "dtk": msg("Hygon DTK"), "neuware": msg("Cambricon Neuware"),
    "xpu": msg("Kunlunxin XPU runtime"),
})

#: What a non-CUDA ecosystem means for a workload, one sentence per ecosystem: the English is
#: ``f"{eco.name} ({eco.name_zh}): {eco.notes} Frameworks: {', '.join(eco.frameworks)}."`` of
#: :data:`suanli.core.chips.ECOSYSTEMS` (a test keeps them equal), written out so it can be translated.
ECOSYSTEM_NOTES: Mapping[str, Message] = MappingProxyType({
    "cann": msg("Huawei CANN (华为昇腾 CANN): Compute Architecture for Neural Networks; PyTorch runs through the "
                "torch_npu adapter, inference serving through MindIE or vLLM-Ascend. Frameworks: torch_npu, "
                "MindSpore, MindIE, vLLM-Ascend, PaddlePaddle."),
    "dtk": msg("Hygon DTK (海光 DTK): DCU Toolkit, ROCm/HIP-compatible: CUDA code ports via HIP; frameworks come "
               "as DTK builds. Frameworks: PyTorch (DTK build), HIP, PaddlePaddle, vLLM (DTK build)."),
    "neuware": msg("Cambricon Neuware (寒武纪 Neuware): Cambricon's SDK (CNToolkit, CNNL, BANG C); PyTorch runs "
                   "through the torch_mlu plug-in. Frameworks: torch_mlu, MagicMind, PaddlePaddle."),
    "xpu": msg("Kunlunxin XPU runtime (昆仑芯 XPU): Kunlunxin's XPU runtime and SDK; PaddlePaddle has first-class "
               "support, PyTorch via Kunlunxin's torch_xpu plug-in (not Intel's 'xpu' device). Frameworks: "
               "PaddlePaddle, torch_xpu."),
})


def _ecosystem_notes(chip: ChipSpec, family: FamilyEfficiency) -> list[Message]:
    notes: list[Message] = []
    if chip.ecosystem != "cuda":
        eco = ECOSYSTEMS[chip.ecosystem]
        notes.append(ECOSYSTEM_NOTES.get(chip.ecosystem) or msg(
            "%(ecosystem)s (%(ecosystem_zh)s): %(notes)s Frameworks: %(frameworks)s.", ecosystem=eco.name,
            ecosystem_zh=eco.name_zh, notes=eco.notes, frameworks=", ".join(eco.frameworks)))
    if chip.domestic:
        notes.append(msg("efficiency on %(chip)s is uncertain (few public LLM measurements): utilisation "
                         "%(low)s-%(high)s of peak assumed, hence the wide range", chip=chip.name,
                         low=f"{family.mfu.low:.2f}", high=f"{family.mfu.high:.2f}"))
    if chip.key == "h20":
        notes.append(msg("H20 is compute-poor but bandwidth-rich: training utilisation is probably above "
                         "the Hopper range used here (unmeasured)"))
    return notes
