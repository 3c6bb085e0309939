"""Workloads a buyer wants to run, described well enough to estimate runtime and memory fit.

Pure domain code: frozen dataclasses, validated in ``__post_init__``. Every validation failure is a
``ValueError`` whose message starts with the offending field's name (``"params_b: ..."``), so the
HTTP layer can turn it into a 422 that points at the field. The estimators live in
:mod:`suanli.core.estimates`.

Units
    * ``params_b``            model parameters, in billions (7 -> 7 x 10^9 parameters), embeddings
      included (the figure on a model card);
    * ``tokens``              training tokens processed, summed over epochs;
    * ``seq_len`` / ``context_len`` / ``prompt_tokens`` / ``output_tokens_per_request``  tokens;
    * ``flops_per_sample``    training FLOPs per sample (forward + backward, ~3 x the forward FLOPs, ~6 x the
      forward multiply-adds); ``params_m`` millions of parameters; ``batch_size`` samples per device per step;
      ``network_gbps`` Gb/s of network per server;
    * ``gpu_hours``           device-hours (one accelerator for one hour) on ``reference_chip``;
    * ``core_hours``          CPU core-hours; ``memory_gib`` / ``model_memory_gib``  GiB (2^30 bytes);
    * ``target_tokens_per_s`` generated (output) tokens per second, whole deployment;
    * ``latency_ms_per_token`` inter-token latency objective seen by one sequence, milliseconds.

Precisions
    ``LLM_TRAINING_PRECISIONS``: ``bf16``/``fp16`` (mixed precision, 16-bit compute), ``fp32``, ``fp8``
    (Transformer-Engine style FP8 matmuls with BF16/FP32 master state). ``LLM_INFERENCE_PRECISIONS``
    name the *weight* format: ``bf16``/``fp16``, ``fp8`` (W8A8 where the chip has FP8 units),
    ``int8`` / ``int4`` (weight-only, 16-bit activations: GPTQ/AWQ/bitsandbytes/llama.cpp style).
    ``GENERIC_PRECISIONS``: ``fp32``, ``tf32``, ``amp`` (automatic mixed precision; ``mixed``, ``fp16`` and ``bf16``
    mean the same for generic training).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DL_ARCHITECTURES",
    "DL_LAYER_TYPES",
    "GENERIC_PRECISIONS",
    "LLM_INFERENCE_PRECISIONS",
    "LLM_OPTIMIZERS",
    "LLM_TRAINING_METHODS",
    "LLM_TRAINING_PRECISIONS",
    "MAX_PARAMS_B",
    "REFERENCE_PRECISIONS",
    "check_flops_per_sample",
    "CpuJob",
    "GenericTraining",
    "LLMInference",
    "LLMTraining",
    "ReferenceGpuHours",
    "Workload",
]

LLM_TRAINING_METHODS: tuple[str, ...] = ("pretrain", "full", "lora", "qlora")
LLM_TRAINING_PRECISIONS: tuple[str, ...] = ("bf16", "fp16", "fp32", "fp8")
LLM_OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw8bit", "paged_adamw8bit")
LLM_INFERENCE_PRECISIONS: tuple[str, ...] = ("bf16", "fp16", "int8", "int4", "fp8")
GENERIC_PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "amp", "mixed", "fp16", "bf16")
#: Architecture classes of generic training, and the other words users write for them.
DL_ARCHITECTURES: tuple[str, ...] = ("cnn", "transformer", "rnn", "recommendation", "gan", "speech")
DL_ARCHITECTURE_ALIASES = {"lstm": "rnn", "gru": "rnn", "embedding": "recommendation", "recommender": "recommendation",
                           "recsys": "recommendation", "audio": "speech", "tts": "speech", "vision": "cnn",
                           "conv": "cnn"}
#: Layer types a model's training FLOPs divide into (the reference models' ``layer_mix``): 3x3 stride-1
#: convolutions (cuDNN runs them with Winograd transforms), other convolutions (1x1, 5x5, 7x7, strided, 1-D), dense
#: layers (linear / MLP / a transformer's projections), attention's score and context products, recurrent cells.
DL_LAYER_TYPES: tuple[str, ...] = ("conv3x3", "conv", "dense", "attention", "recurrent")

# Single-field bounds: the core checks them, and the advisor's wire models (suanli.advisor.schemas) state the same
# constants in the OpenAPI, so the two cannot drift.
MIN_FLOPS_PER_SAMPLE = 1000.0  # below this it is a unit mistake (GFLOPs typed as FLOPs), not a model
MAX_FLOPS_PER_SAMPLE = 1e20
MAX_PARAMS_B = 2000.0  # 2 trillion parameters: beyond any dense model anyone rents compute for
MAX_PARAMS_M = MAX_PARAMS_B * 1000
MAX_TOKENS = 10**15  # a quadrillion training tokens: ~60x the largest public pretraining run
MAX_SEQ = 1 << 20  # 1,048,576-token context
MAX_MICRO_BATCH = 65_536
MAX_BATCH_SIZE = 1 << 26
MAX_LORA_RANK = 4096
MIN_VOCAB, MAX_VOCAB = 256, 2_000_000
MAX_CONCURRENCY = 1_000_000
MAX_LATENCY_MS = 1e6
MAX_KV_HEADS = 1024
MAX_EPOCHS = 10_000
MAX_SAMPLES = 10**13
MAX_HOURS = 1e9
MAX_MEMORY_GIB = 1e7
MAX_RATE = 1e12  # tokens/s, requests/s, samples/s
MAX_SERVERS = 4096
MAX_GPUS_PER_SERVER = 64
MAX_NETWORK_GBPS = 1e5
#: The arithmetic a reference run (``gpu_hours``) ran in.
REFERENCE_PRECISIONS: tuple[str, ...] = ("bf16", "fp16", "fp32", "tf32", "fp8")

def _fail(name: str, message: str) -> ValueError:
    return ValueError(f"{name}: {message}")


def _number(name: str, value: object) -> float:
    """``value`` as a finite float; bools and non-numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(name, f"must be a finite number, got {value!r}")
    return number


def _positive(name: str, value: object, maximum: float) -> float:
    number = _number(name, value)
    if not 0 < number <= maximum:
        raise _fail(name, f"must be > 0 and <= {maximum:g}, got {value!r}")
    return number


def _integer(name: str, value: object, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, f"must be a whole number, got {value!r}")
    if not minimum <= value <= maximum:
        raise _fail(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _fail(name, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def _params_b(value: object) -> float:
    number = _number("params_b", value)
    if not 0 < number <= MAX_PARAMS_B:
        raise _fail("params_b", f"must be > 0 and <= {MAX_PARAMS_B:g} (billions of parameters), "
                                f"got {value!r}")
    return number


def check_flops_per_sample(value: object) -> float:
    """Training FLOPs per sample: > 0, at most :data:`MAX_FLOPS_PER_SAMPLE`, and not below
    :data:`MIN_FLOPS_PER_SAMPLE` (GFLOPs typed as FLOPs, or the forward figure of a model card: the message says
    how to convert)."""
    flops = _positive("flops_per_sample", value, MAX_FLOPS_PER_SAMPLE)
    if flops < MIN_FLOPS_PER_SAMPLE:
        raise _fail("flops_per_sample", f"{flops:g} FLOPs per sample is implausibly small: "
                                        f"did you mean {flops:g}e9 x 6 = {flops * 6e9:.3g}? The unit is "
                                        "FLOPs, not GFLOPs, and training FLOPs (forward + backward) are "
                                        "about 6 x the forward GFLOPs (multiply-adds) a model card lists")
    return flops


def _optional_vocab(value: object) -> None:
    if value is not None:
        _integer("vocab_size", value, MIN_VOCAB, MAX_VOCAB)


@dataclass(frozen=True)
class LLMTraining:
    """Training or fine-tuning a dense decoder-only transformer (LLaMA/Qwen/GLM-style).

    ``method``: ``pretrain`` (from scratch) and ``full`` (full-parameter fine-tuning) update every
    weight; ``lora`` trains low-rank adapters on all linear layers over frozen 16-bit weights (Hu et
    al. 2021); ``qlora`` does the same over 4-bit NF4 weights (Dettmers et al. 2023).

    Give the amount of data either as ``tokens`` (total tokens processed) or as ``dataset_tokens`` and
    ``epochs`` (``tokens = dataset_tokens x epochs``), not both. ``micro_batch`` sequences of
    ``seq_len`` tokens go through each device per step (this sizes activation memory).
    ``gradient_checkpointing`` means full per-layer recomputation (Hugging Face / DeepSpeed
    ``gradient_checkpointing``): it stores only each layer's input and recomputes the forward pass,
    costing one extra forward (+2·N FLOPs per token). ``vocab_size`` defaults to 32,000 (LLaMA /
    Llama 2 tokenizer); it only sizes logits and the unquantised embedding share.

    Memory-saving recipes: ``optimizer`` ``adamw`` (FP32 moments, 8 bytes/parameter), ``adamw8bit``
    (bitsandbytes 8-bit moments, 2 bytes) or ``paged_adamw8bit`` (the same in pageable memory that spills to the
    host); ``master_weights=False`` trains pure BF16 without an FP32 master copy (torchtune's single-device
    recipes); ``optimizer_in_backward`` steps each layer during the backward pass so gradients are never all held;
    ``cpu_offload`` keeps optimizer state, master weights and gradients in host memory (ZeRO-Offload / FSDP CPU
    offload), at the cost of moving gradients and weights over PCIe every step.
    """

    method: str
    params_b: float
    tokens: int | None = None
    dataset_tokens: int | None = None
    epochs: float | None = None
    seq_len: int = 2048
    precision: str = "bf16"
    micro_batch: int = 1
    lora_rank: int = 16
    gradient_checkpointing: bool = True
    vocab_size: int | None = None
    optimizer: str = "adamw"
    master_weights: bool = True
    optimizer_in_backward: bool = False
    cpu_offload: bool = False

    def __post_init__(self) -> None:
        _choice("method", self.method, LLM_TRAINING_METHODS)
        _choice("optimizer", self.optimizer, LLM_OPTIMIZERS)
        for flag in ("master_weights", "optimizer_in_backward", "cpu_offload"):
            if not isinstance(getattr(self, flag), bool):
                raise _fail(flag, f"must be true or false, got {getattr(self, flag)!r}")
        _params_b(self.params_b)
        _choice("precision", self.precision, LLM_TRAINING_PRECISIONS)
        if self.method == "qlora" and self.precision == "fp8":
            raise _fail("precision", "qlora computes in bf16/fp16 (bitsandbytes has no FP8 compute); "
                                     "use bf16 or fp16")
        if self.tokens is not None:
            if self.dataset_tokens is not None or self.epochs is not None:
                raise _fail("tokens", "give either tokens or dataset_tokens + epochs, not both")
            _integer("tokens", self.tokens, 1, MAX_TOKENS)
        else:
            if self.dataset_tokens is None or self.epochs is None:
                raise _fail("tokens", "required (or give dataset_tokens and epochs)")
            _integer("dataset_tokens", self.dataset_tokens, 1, MAX_TOKENS)
            _positive("epochs", self.epochs, MAX_EPOCHS)
            if self.dataset_tokens * float(self.epochs) > MAX_TOKENS:
                raise _fail("epochs", f"dataset_tokens x epochs must be <= {MAX_TOKENS:g} tokens")
            if self.dataset_tokens * float(self.epochs) < 1:
                raise _fail("epochs", "dataset_tokens x epochs must be at least one token")
        _integer("seq_len", self.seq_len, 1, MAX_SEQ)
        _integer("micro_batch", self.micro_batch, 1, MAX_MICRO_BATCH)
        _integer("lora_rank", self.lora_rank, 1, MAX_LORA_RANK)
        if not isinstance(self.gradient_checkpointing, bool):
            raise _fail("gradient_checkpointing",
                        f"must be true or false, got {self.gradient_checkpointing!r}")
        _optional_vocab(self.vocab_size)

    @property
    def total_tokens(self) -> float:
        """Tokens processed over the whole run (``tokens``, or ``dataset_tokens x epochs``)."""
        if self.tokens is not None:
            return float(self.tokens)
        assert self.dataset_tokens is not None and self.epochs is not None
        return self.dataset_tokens * float(self.epochs)

    @property
    def params(self) -> float:
        """Parameter count N (not billions)."""
        return self.params_b * 1e9


@dataclass(frozen=True)
class LLMInference:
    """Serving a dense decoder-only transformer.

    ``precision`` is the weight format (module docstring). ``context_len`` is the most tokens one
    sequence holds (prompt + generated): the KV cache is sized for every sequence at that length.
    The throughput target is either ``target_tokens_per_s`` (generated tokens/s, whole deployment) or
    ``requests_per_s`` x ``output_tokens_per_request``; both may be omitted to just ask what the
    chips achieve. ``prompt_tokens`` (average prompt length) makes the estimate charge prefill
    compute; it needs ``output_tokens_per_request``. ``concurrency`` is the number of sequences in
    flight across the deployment (the serving engine's batch, summed over replicas).
    ``latency_ms_per_token`` is an optional inter-token latency objective per sequence.
    ``kv_heads`` overrides the assumed KV-head count (grouped-query attention with 8 KV heads at
    >= 30B parameters, full multi-head attention below; see ``estimates.model_shape``).
    """

    params_b: float
    precision: str = "bf16"
    context_len: int = 4096
    target_tokens_per_s: float | None = None
    requests_per_s: float | None = None
    output_tokens_per_request: int | None = None
    prompt_tokens: int | None = None
    concurrency: int = 1
    latency_ms_per_token: float | None = None
    kv_heads: int | None = None
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        _params_b(self.params_b)
        _choice("precision", self.precision, LLM_INFERENCE_PRECISIONS)
        _integer("context_len", self.context_len, 1, MAX_SEQ)
        if self.target_tokens_per_s is not None and self.requests_per_s is not None:
            raise _fail("target_tokens_per_s", "give either target_tokens_per_s or requests_per_s, not both")
        if self.target_tokens_per_s is not None:
            _positive("target_tokens_per_s", self.target_tokens_per_s, MAX_RATE)
        if self.requests_per_s is not None:
            _positive("requests_per_s", self.requests_per_s, MAX_RATE)
            if self.output_tokens_per_request is None:
                raise _fail("output_tokens_per_request", "required with requests_per_s")
        if self.output_tokens_per_request is not None:
            _integer("output_tokens_per_request", self.output_tokens_per_request, 1, MAX_SEQ)
            if self.output_tokens_per_request > self.context_len:
                raise _fail("output_tokens_per_request",
                            f"{self.output_tokens_per_request} exceeds context_len {self.context_len}")
        if self.prompt_tokens is not None:
            _integer("prompt_tokens", self.prompt_tokens, 1, MAX_SEQ)
            if self.output_tokens_per_request is None:
                raise _fail("output_tokens_per_request", "required with prompt_tokens (prefill is charged "
                                                         "per generated token)")
            if self.prompt_tokens + self.output_tokens_per_request > self.context_len:
                raise _fail("prompt_tokens", f"prompt_tokens + output_tokens_per_request = "
                                             f"{self.prompt_tokens + self.output_tokens_per_request} "
                                             f"exceeds context_len {self.context_len}")
        _integer("concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        if self.latency_ms_per_token is not None:
            _positive("latency_ms_per_token", self.latency_ms_per_token, MAX_LATENCY_MS)
        if self.kv_heads is not None:
            _integer("kv_heads", self.kv_heads, 1, MAX_KV_HEADS)
        _optional_vocab(self.vocab_size)

    @property
    def target_tokens(self) -> float | None:
        """The generated-tokens/s target, whichever way it was given (``None`` if none)."""
        if self.target_tokens_per_s is not None:
            return float(self.target_tokens_per_s)
        if self.requests_per_s is not None and self.output_tokens_per_request is not None:
            return float(self.requests_per_s) * self.output_tokens_per_request
        return None

    @property
    def params(self) -> float:
        """Parameter count N (not billions)."""
        return self.params_b * 1e9


@dataclass(frozen=True)
class GenericTraining:
    """Any other training job described by its arithmetic: CNNs, BERT-style encoders, RNNs, recommenders, GANs, ...

    Describe the model either by ``model`` (a reference model, :data:`suanli.core.estimates.REFERENCE_MODELS`,
    which supplies parameters and FLOPs per sample) or by ``flops_per_sample`` (**training** FLOPs per sample:
    forward + backward, about 3 x the forward FLOPs, i.e. 6 x the forward multiply-adds that model cards call
    "FLOPs") and ``params_m`` (millions of parameters; ``params_b`` in billions also accepted), of which
    ``embedding_params_m`` sit in looked-up embedding tables (default 0). With ``model``,
    ``image_size`` (pixels per side) or ``seq_len`` (tokens) rescale its FLOPs to your input.

    ``batch_size`` is samples per device per step (default: the model's usual batch, else 32); ``precision`` is
    ``fp32``, ``tf32``, or mixed precision as ``amp`` (also ``mixed``, ``fp16``, ``bf16``). ``samples`` x ``epochs``
    is the work; without ``samples`` only the throughput is estimated. ``servers`` and ``gpus_per_server``
    describe the topology (default: 8 devices per server); ``network_gbps`` the network of each server.
    ``model_memory_gib`` is what one device needs (weights, optimizer state, activations); without it memory fit
    is not checked. ``architecture`` (:data:`DL_ARCHITECTURES`; also lstm, gru, embedding, recommender, ...) names
    the model's class; a named model brings its own. Classes with a fitted factor (speech) scale the achieved speed.
    ``input_samples_per_s`` is what one server's data pipeline (loading, decoding, augmentation) delivers: the
    estimate never exceeds it times the servers.
    """

    flops_per_sample: float | None = None
    samples: int | None = None
    epochs: int = 1
    precision: str = "fp32"
    model_memory_gib: float | None = None
    model: str | None = None
    params_m: float | None = None
    params_b: float | None = None
    embedding_params_m: float | None = None
    batch_size: int | None = None
    image_size: int | None = None
    seq_len: int | None = None
    servers: int | None = None
    gpus_per_server: int | None = None
    network_gbps: float | None = None
    architecture: str | None = None
    input_samples_per_s: float | None = None

    def __post_init__(self) -> None:
        from suanli.core.estimates.reference_models import reference_model

        if self.model is not None:
            if not isinstance(self.model, str):
                raise _fail("model", f"must name a model, got {self.model!r}")
            try:
                object.__setattr__(self, "model", reference_model(self.model).key)
            except KeyError as exc:
                raise _fail("model", exc.args[0]) from None
        elif self.flops_per_sample is None:
            raise _fail("flops_per_sample", "dl_training needs the training FLOPs per sample (with params_m), or "
                                            "a model name (model: resnet50, bert_base, ...)")
        if self.flops_per_sample is not None:
            check_flops_per_sample(self.flops_per_sample)
        if self.samples is not None:
            _integer("samples", self.samples, 1, MAX_SAMPLES)
        _integer("epochs", self.epochs, 1, MAX_EPOCHS)
        _choice("precision", self.precision, GENERIC_PRECISIONS)
        if self.model_memory_gib is not None:
            _positive("model_memory_gib", self.model_memory_gib, MAX_MEMORY_GIB)
        if self.params_m is not None and self.params_b is not None:
            raise _fail("params_m", "give params_m or params_b, not both")
        if self.params_m is not None:
            _positive("params_m", self.params_m, MAX_PARAMS_M)
        if self.params_b is not None:
            _params_b(self.params_b)
        if self.embedding_params_m is not None:
            _number("embedding_params_m", self.embedding_params_m)
            if self.embedding_params_m < 0:
                raise _fail("embedding_params_m", f"must be >= 0, got {self.embedding_params_m!r}")
            if self.params is not None and self.embedding_params_m * 1e6 > self.params:
                raise _fail("embedding_params_m", "cannot exceed the model's parameters")
        if self.batch_size is not None:
            _integer("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        for name in ("image_size", "seq_len"):
            value = getattr(self, name)
            if value is not None:
                if self.model is None:
                    raise _fail(name, "only rescales a named model; with flops_per_sample give the FLOPs at your size")
                _integer(name, value, 1, MAX_SEQ)
        if self.architecture is not None:
            if not isinstance(self.architecture, str):
                raise _fail("architecture", f"must be one of {', '.join(DL_ARCHITECTURES)}; got {self.architecture!r}")
            word = self.architecture.strip().casefold()
            object.__setattr__(self, "architecture",
                               _choice("architecture", DL_ARCHITECTURE_ALIASES.get(word, word), DL_ARCHITECTURES))
        if self.input_samples_per_s is not None:
            _positive("input_samples_per_s", self.input_samples_per_s, MAX_RATE)
        if self.servers is not None:
            _integer("servers", self.servers, 1, MAX_SERVERS)
        if self.gpus_per_server is not None:
            _integer("gpus_per_server", self.gpus_per_server, 1, MAX_GPUS_PER_SERVER)
        if self.network_gbps is not None:
            _positive("network_gbps", self.network_gbps, MAX_NETWORK_GBPS)

    @property
    def params(self) -> float | None:
        """Parameter count N (not millions), if known."""
        if self.params_m is not None:
            return self.params_m * 1e6
        if self.params_b is not None:
            return self.params_b * 1e9
        return None

    @property
    def total_flops(self) -> float | None:
        """``flops_per_sample x samples x epochs`` (``None`` without ``samples``)."""
        if self.samples is None or self.flops_per_sample is None:
            return None
        return float(self.flops_per_sample) * self.samples * self.epochs


@dataclass(frozen=True)
class ReferenceGpuHours:
    """"It took N GPU-hours on chip X": converted to other chips by throughput and efficiency.

    ``reference_chip`` accepts a chip key or any name :func:`suanli.core.chips.resolve_chip`
    understands ("A100", "910B", "4090"); it is stored as the canonical key. ``precision`` is the
    arithmetic the job ran in on the reference chip (default ``bf16``).
    """

    gpu_hours: float
    reference_chip: str
    precision: str = "bf16"

    def __post_init__(self) -> None:
        _positive("gpu_hours", self.gpu_hours, MAX_HOURS)
        if not isinstance(self.reference_chip, str) or not self.reference_chip.strip():
            raise _fail("reference_chip", f"must name a chip, got {self.reference_chip!r}")
        from suanli.core.chips import load_chip_table, resolve_chip

        chip = resolve_chip(self.reference_chip)
        if chip is None:
            raise _fail("reference_chip", f"unknown chip {self.reference_chip!r}; known chips: "
                                          f"{', '.join(load_chip_table())}")
        object.__setattr__(self, "reference_chip", chip.key)
        _choice("precision", self.precision, REFERENCE_PRECISIONS)


@dataclass(frozen=True)
class CpuJob:
    """A CPU-only job: ``core_hours`` of work needing ``memory_gib`` of RAM."""

    core_hours: float
    memory_gib: float

    def __post_init__(self) -> None:
        _positive("core_hours", self.core_hours, MAX_HOURS)
        _positive("memory_gib", self.memory_gib, MAX_MEMORY_GIB)


Workload = LLMTraining | LLMInference | GenericTraining | ReferenceGpuHours | CpuJob
