"""LLM inference serving: memory fit, decode and prefill throughput, latency.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.core.chips import ChipSpec
from suanli.core.estimates.efficiency import (
    _ALLREDUCE_LATENCY_S,
    _NETWORK_GBS,
    _PCIE_GBS,
    _QUANT_KERNEL,
    FP8_CHIPS,
    GIB,
    MAX_DEVICES,
    NO_BF16_CHIPS,
    NODE_SIZE,
    FamilyEfficiency,
    _has_fabric,
    chip_family,
    peak_tflops,
)
from suanli.core.estimates.result import Estimate, _breakdown, _ecosystem_notes
from suanli.core.estimates.shape import ModelShape, model_shape
from suanli.core.messages import Message, msg
from suanli.core.workloads import LLMInference

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
    notes: tuple[Message, ...]


def _inference_model(w: LLMInference, chip: ChipSpec) -> _InferenceModel:
    shape = model_shape(w.params_b, kv_heads=w.kv_heads, vocab_size=w.vocab_size)
    n, emb = w.params, shape.embedding_params
    q = _WEIGHT_BYTES[w.precision]
    weight_bytes = n * 2.0 if q == 2.0 else (n - emb) * q + emb * 2.0
    kv_elem = 1.0 if w.precision == "fp8" else 2.0
    kv_per_token = 2.0 * shape.layers * shape.kv_dim * kv_elem
    notes: list[Message] = []
    if w.precision == "fp8":
        peak, extra = peak_tflops(chip, "fp8")
        if chip.key not in FP8_CHIPS:
            notes.append(msg("fp8: %(chip)s has no FP8 tensor cores: FP8 weights are served weight-only "
                             "(dequantised to FP16, e.g. vLLM's Marlin kernels) at the FP16 rate", chip=chip.name))
        else:
            notes.extend(extra)
    elif w.precision == "bf16" and chip.key in NO_BF16_CHIPS:
        peak = chip.fp16_tflops
        notes.append(msg("bf16: %(chip)s has no BF16 support in hardware: serve the weights in fp16",
                         chip=chip.name))
    else:
        peak, extra = peak_tflops(chip, w.precision)
        notes.extend(extra)
    if w.precision in ("int8", "int4"):
        notes.append(msg("%(precision)s: weight-only quantisation (GPTQ/AWQ/bitsandbytes/llama.cpp style), "
                         "16-bit activations; compute at the FP16 rate", precision=w.precision))
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
                    family: FamilyEfficiency) -> tuple[int | None, list[Message]]:
    """Smallest device count holding the model at ``concurrency`` and meeting the target, if any."""
    notes: list[Message] = []
    memory_min = None
    t = 1
    while t <= MAX_DEVICES:
        if _fits_somehow(w, m, chip, t):
            memory_min = t
            break
        t *= 2
    if memory_min is None:
        return None, [msg("the model does not fit even on %(count)s devices at this concurrency", count=MAX_DEVICES)]
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
        attention = (msg("grouped-query attention with %(kv_heads)s KV heads", kv_heads=m.shape.kv_heads)
                     if m.shape.kv_heads < m.shape.heads else msg("full multi-head attention"))
        notes.append(msg("assumes %(attention)s (%(layers)s layers, hidden %(hidden)s); set kv_heads for your model",
                         attention=attention, layers=m.shape.layers, hidden=m.shape.hidden))
    notes.append(msg("KV cache sized for every sequence at the full context_len"))
    if w.precision == "fp8":
        notes.append(msg("fp8: KV cache also held in FP8 (1 byte per entry)"))
    if w.prompt_tokens is None:
        notes.append(msg("prompt length unknown: prefill compute not charged (give prompt_tokens)"))

    if not fits:
        notes.append(msg("does not fit: needs %(needed)s GiB per device on %(count)s x %(chip)s (%(memory)s GiB "
                         "each); needs at least %(devices)s devices", needed=f"{needed:.1f}", count=count,
                         chip=chip.name, memory=f"{chip.memory_gib}", devices=devices_needed)
                     if devices_needed else msg("does not fit on %(count)s x %(chip)s", count=count,
                                                chip=chip.name))
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
            notes.append(msg("at concurrency %(concurrency)s a sequence gets %(rate)s tokens/s, so the deployment "
                             "cannot exceed %(ceiling)s tokens/s: the target needs about %(needed)s concurrent "
                             "sequences", concurrency=w.concurrency, rate=f"{1 / step.total:.1f}",
                             ceiling=f"{ceiling:.0f}", needed=math.ceil(target * step.total)))
    meets_latency = None
    if w.latency_ms_per_token is not None:
        meets_latency = ms_per_token <= w.latency_ms_per_token
    if tp > 1:
        notes.append(msg("layout: %(replicas)s replica(s) x tensor parallel %(tp)s (spans nodes: pipeline "
                         "parallelism in practice)", replicas=replicas, tp=tp) if tp > NODE_SIZE
                     else msg("layout: %(replicas)s replica(s) x tensor parallel %(tp)s", replicas=replicas, tp=tp))
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
