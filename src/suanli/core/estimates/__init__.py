"""Runtime, memory-fit and cost estimates for workloads on a given chip and device count.

Pure domain code: no I/O, frozen dataclasses, every model stated with its formula and sources.
The estimates are first-order physics (FLOPs / achievable FLOP/s, bytes / achievable bytes/s) with
honest uncertainty ranges; ``bench/advisor_accuracy.py`` checks them against published measurements
(``bench/data/MEASUREMENTS.md``).

Symbols: N parameters, D training tokens, L layers, h hidden size, f MLP inner size, a attention
heads, s sequence length, b micro-batch (sequences per device per step), V vocabulary, r LoRA rank,
E = 2·V·h embedding + untied output-head parameters. 1 GiB = 2^30 bytes.

The models, each documented with its formula and sources in its own module:

- :mod:`.efficiency`: achievable utilisation per chip family, peak per precision, multi-device
  scaling, uncertainty ranges;
- :mod:`.shape`: transformer dimensions assumed for a parameter count;
- :mod:`.training`: LLM pre-training, full fine-tuning, LoRA and QLoRA (FLOPs, time, memory);
- :mod:`.inference`: LLM serving (weights, KV cache, decode and prefill, latency);
- :mod:`.performance`: the training performance model (samples/s from FLOPs, bytes, per-step cost and
  communication), fitted to published measurements by ``scripts/fit_performance_model.py``;
- :mod:`.reference_models`: named models (ResNet-50, BERT, ...) with parameters and FLOPs per sample;
- :mod:`.generic`: generic deep-learning training and GPU-hours on a reference chip;
- :mod:`.cpu`: CPU/HPC jobs;
- :mod:`.cost`: hours x price in integer fen.
"""

from __future__ import annotations

from suanli.core.chips import ChipSpec
from suanli.core.estimates.cost import CostRange, cost_fen, cost_range_fen
from suanli.core.estimates.cpu import estimate_cpu
from suanli.core.estimates.efficiency import (
    BOTTLENECKS,
    CHIP_FAMILY,
    FAMILY_EFFICIENCY,
    FP8_CHIPS,
    GIB,
    MAX_DEVICES,
    NO_BF16_CHIPS,
    NODE_SIZE,
    QLORA_OVERHEAD,
    FamilyEfficiency,
    Range,
    _check_count,
    chip_family,
    peak_tflops,
    scaling_efficiency,
)
from suanli.core.estimates.generic import _estimate_generic, _estimate_reference, convert_reference_hours
from suanli.core.estimates.inference import _estimate_llm_inference
from suanli.core.estimates.performance import PRECISION_ALIASES, load_params, training_throughput
from suanli.core.estimates.reference_models import REFERENCE_MODELS, ReferenceModel, reference_model
from suanli.core.estimates.result import Estimate
from suanli.core.estimates.shape import ModelShape, model_shape
from suanli.core.estimates.training import _estimate_llm_training
from suanli.core.workloads import CpuJob, GenericTraining, LLMInference, LLMTraining, ReferenceGpuHours, Workload

__all__ = [
    "BOTTLENECKS",
    "CHIP_FAMILY",
    "FAMILY_EFFICIENCY",
    "FP8_CHIPS",
    "GIB",
    "MAX_DEVICES",
    "NODE_SIZE",
    "NO_BF16_CHIPS",
    "PRECISION_ALIASES",
    "QLORA_OVERHEAD",
    "REFERENCE_MODELS",
    "ReferenceModel",
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
    "load_params",
    "peak_tflops",
    "reference_model",
    "scaling_efficiency",
    "training_throughput",
]


def estimate(workload: Workload, chip: ChipSpec, count: int, servers: int | None = None) -> Estimate:
    """Estimate ``workload`` on ``count`` devices of ``chip`` (1 <= count <= 4096).

    ``servers``: how many servers the devices are spread over (generic training; overrides the workload's own
    ``servers``; the advisor passes the units of a product). ``CpuJob`` goes through :func:`estimate_cpu` instead
    (a CPU allocation is not a chip).
    """
    _check_count(count)
    if not isinstance(chip, ChipSpec):
        raise ValueError(f"chip: must be a ChipSpec, got {type(chip).__name__}")
    if isinstance(workload, LLMTraining):
        return _estimate_llm_training(workload, chip, count)
    if isinstance(workload, LLMInference):
        return _estimate_llm_inference(workload, chip, count)
    if isinstance(workload, GenericTraining):
        return _estimate_generic(workload, chip, count, servers)
    if isinstance(workload, ReferenceGpuHours):
        return _estimate_reference(workload, chip, count)
    if isinstance(workload, CpuJob):
        raise ValueError("workload: CPU jobs are estimated with estimate_cpu(job, vcpus, memory_gib)")
    raise ValueError(f"workload: unsupported workload type {type(workload).__name__}")
