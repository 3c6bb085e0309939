"""LLM training: pre-training, full fine-tuning, LoRA and QLoRA.

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
"""

from __future__ import annotations

from suanli.core.chips import ECOSYSTEMS, ChipSpec
from suanli.core.estimates.efficiency import (
    FP8_CHIPS,
    GIB,
    MAX_DEVICES,
    NODE_SIZE,
    QLORA_OVERHEAD,
    _flash_attention,
    _FP8_TRAINING_FACTOR,
    _has_fabric,
    chip_family,
    peak_tflops,
    scaling_efficiency,
)
from suanli.core.estimates.performance import pcie_gbs
from suanli.core.estimates.result import ECOSYSTEM_NAMES, Estimate, _breakdown, _ecosystem_notes
from suanli.core.estimates.shape import ModelShape, _lora_params, model_shape
from suanli.core.messages import Message, msg
from suanli.core.workloads import LLMTraining

#: Optimizer-state bytes per trained parameter (moments only; the FP32 master copy is counted apart).
OPTIMIZER_STATE_BYTES = {"adamw": 8.0, "adamw8bit": 2.0, "paged_adamw8bit": 2.0}


def _training_bytes_per_param(w: LLMTraining) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes per trained parameter for full training, on the devices.

    Mixed precision keeps 16-bit weights and gradients plus an FP32 master copy (4 bytes, counted with the
    optimizer) unless ``master_weights`` is off (pure BF16 training, as torchtune's single-device recipes);
    ``optimizer`` sets the moments (AdamW 8 bytes, 8-bit AdamW 2); ``optimizer_in_backward`` applies each layer's
    update as soon as its gradient exists, so gradients are never all held; ``paged_adamw8bit`` keeps its states in
    pageable memory that moves to the host when the device is full (counted as off the device); ``cpu_offload``
    moves the optimizer, master weights and gradients to host memory (ZeRO-Offload / FSDP CPU offload).
    """
    if w.precision == "fp32":
        weights, grads, master = 4.0, 4.0, 0.0
    else:
        weights, grads = (3.0 if w.precision == "fp8" else 2.0), 2.0
        master = 4.0 if w.master_weights else 0.0
    states = OPTIMIZER_STATE_BYTES[w.optimizer]
    if w.optimizer == "paged_adamw8bit":
        states = 0.0
    optimizer = states + master
    if w.optimizer_in_backward:
        grads = 0.0
    if w.cpu_offload:
        grads, optimizer = 0.0, 0.0
    return weights, grads, optimizer


def _training_memory(w: LLMTraining, chip: ChipSpec, shape: ModelShape, count: int,
                     tp: int) -> dict[str, float]:
    """Per-device bytes by component (module docstring, "Training memory")."""
    n = w.params
    shard = float(count)
    parts: dict[str, float] = {}
    if w.method in ("pretrain", "full"):
        wb, gb, ob = _training_bytes_per_param(w)
        parts["weights"] = n * wb / shard
        parts["gradients"] = (n * gb / shard) if gb else 2.0 * shape.layer_params * 2.0  # a layer in flight
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
        parts["optimizer"] = adapters * OPTIMIZER_STATE_BYTES[w.optimizer] / shard
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
                    needed_gib: float) -> list[Message]:
    notes: list[Message] = []
    if w.method == "qlora":
        if chip.ecosystem == "cuda":
            notes.append(msg("QLoRA: 4-bit NF4 base weights via bitsandbytes (CUDA); dequantisation makes "
                             "steps ~20-40% slower than 16-bit LoRA"))
        elif chip.ecosystem == "cann":
            notes.append(msg("QLoRA: 4-bit NF4 base weights need bitsandbytes (CUDA-first); on Ascend use "
                             "bitsandbytes' NPU backend (NF4 in plain PyTorch for now, slower) or plain LoRA "
                             "in bf16 via torch_npu + PEFT / MindSpeed-LLM"))
        else:
            notes.append(msg("QLoRA: 4-bit NF4 base weights need bitsandbytes (CUDA-first); there is no "
                             "maintained build for %(ecosystem)s — plan for LoRA in bf16/fp16 instead",
                             ecosystem=ECOSYSTEM_NAMES.get(chip.ecosystem) or ECOSYSTEMS[chip.ecosystem].name))
    if w.method in ("lora", "qlora"):
        notes.append(msg("LoRA rank %(rank)s on all linear layers: ~2/3 of full fine-tuning FLOPs "
                         "(no weight gradients for frozen weights)", rank=w.lora_rank))
    if count > 1:
        notes.append(msg("assumes ZeRO-3 / FSDP full sharding of weights, gradients and optimizer states "
                         "over %(count)s devices; with plain DDP each device holds the whole model state",
                         count=count))
    if count > NODE_SIZE:
        if _has_fabric(chip):
            notes.append(msg("multi-node: assumes an RDMA network (InfiniBand/RoCE) between nodes"))
        else:
            notes.append(msg("multi-node over PCIe-only servers: expect to be communication-bound"))
    elif count > 1 and not _has_fabric(chip):
        notes.append(msg("%(chip)s has no NVLink-class fabric: gradients and parameters move over PCIe",
                         chip=chip.name))
    if tp > 1:
        notes.append(msg("tensor parallel %(tp)s with sequence parallelism assumed so activations fit", tp=tp))
    if w.gradient_checkpointing:
        notes.append(msg("gradient checkpointing (full recomputation): +1 forward pass of compute, "
                         "activations cut to each layer's input"))
    if w.method in ("pretrain", "full"):
        if w.optimizer != "adamw":
            notes.append(msg("%(optimizer)s: 8-bit optimizer moments (2 bytes per parameter instead of 8), about "
                             "the same speed", optimizer=w.optimizer))
        if w.optimizer == "paged_adamw8bit":
            notes.append(msg("paged optimizer: its states spill to host memory when the device is full (counted "
                             "off the device); steps slow down while they page"))
        if not w.master_weights and w.precision != "fp32":
            notes.append(msg("pure 16-bit training: no FP32 master copy of the weights (saves 4 bytes per "
                             "parameter; small updates may round away)"))
        if w.optimizer_in_backward:
            notes.append(msg("optimizer step in the backward pass: each layer's gradients are freed as soon as "
                             "they are applied"))
        if w.cpu_offload:
            notes.append(msg("CPU offload: optimizer state, master weights and gradients live in host memory; "
                             "every step moves gradients and weights over PCIe and runs AdamW on the CPU "
                             "(charged in the hours)"))
    if not _flash_attention(chip):
        notes.append(msg("no FlashAttention-class kernel assumed on %(chip)s: attention scores are "
                         "stored, so long sequences cost O(seq²) memory", chip=chip.name))
    if w.precision == "fp8" and chip.key in FP8_CHIPS:
        notes.append(msg("fp8 training (Transformer Engine): charged at ~1.4x BF16 speed, not 2x"))
    if not fits:
        notes.append(msg("does not fit: needs %(needed)s GiB per device, %(chip)s has %(memory)s GiB — use more "
                         "devices, LoRA/QLoRA, gradient checkpointing, an 8-bit or paged optimizer, "
                         "optimizer_in_backward, CPU offload or a smaller micro_batch",
                         needed=f"{needed_gib:.1f}", chip=chip.name, memory=f"{chip.memory_gib}"))
    return notes


_HOST_OPTIMIZER_GBS = 20.0  # host memory traffic a CPU AdamW step sustains (DeepSpeed CPU Adam order)


def _offload_seconds(w: LLMTraining, chip: ChipSpec, count: int, tp: int) -> float:
    """Seconds that CPU offload adds to the whole run: every step moves 16-bit gradients to the host and weights
    back over PCIe (4 bytes per parameter of the device's shard) and runs AdamW on the host (16 bytes of host
    traffic per parameter); steps = tokens / (micro_batch x seq_len x data-parallel replicas)."""
    if not w.cpu_offload or w.method not in ("pretrain", "full"):
        return 0.0
    shard = w.params / count
    per_step = shard * 4.0 / (pcie_gbs(chip) * 1e9) + shard * 16.0 / (_HOST_OPTIMIZER_GBS * 1e9)
    steps = w.total_tokens / (w.micro_batch * w.seq_len * max(count // tp, 1))
    return steps * per_step


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

    offload_s = _offload_seconds(w, chip, count, chosen_tp)

    def hours_for(which: str, overhead_pick: str) -> float:
        util = family.mfu.pick(which) * fp8_factor * scale
        flops = executed * (QLORA_OVERHEAD.pick(overhead_pick) if w.method == "qlora" else 1.0)
        return (flops / (count * peak * 1e12 * util) + offload_s) / 3600.0

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
        samples_per_s=w.total_tokens / (hours * 3600.0), samples_per_s_low=w.total_tokens / (hours_high * 3600.0),
        samples_per_s_high=w.total_tokens / (hours_low * 3600.0), sample_unit="token",
        batch_per_device=w.micro_batch,
        tensor_parallel=chosen_tp, replicas=count // chosen_tp, notes=tuple(notes),
    )
