"""Advisor wire models: workloads as a discriminated union on ``kind``, converted to the core dataclasses.

Every single-field rule of the core dataclasses (:mod:`suanli.core.workloads`) that JSON Schema can state is stated
here too, from the core's own constants (bounds, choices), so the OpenAPI says what the API enforces and an
out-of-range value is a 422 ``validation_error`` naming the field. The core keeps its checks (it is used without
these models) and alone checks what a schema cannot state: rules across fields (tokens or dataset_tokens + epochs,
qlora without fp8, prompt + output within the context, embedding parameters within the parameters), names resolved
against tables (``model``, ``reference_chip``, ``architecture`` with its synonyms and any case). Those come back as a
422 ``invalid_workload`` naming the field (:func:`to_core`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from suanli.core.workloads import (GENERIC_PRECISIONS, LLM_INFERENCE_PRECISIONS, LLM_OPTIMIZERS,
                                   LLM_TRAINING_METHODS, LLM_TRAINING_PRECISIONS, MAX_BATCH_SIZE, MAX_CONCURRENCY,
                                   MAX_EPOCHS, MAX_FLOPS_PER_SAMPLE, MAX_GPUS_PER_SERVER, MAX_HOURS, MAX_KV_HEADS,
                                   MAX_LATENCY_MS, MAX_LORA_RANK, MAX_MEMORY_GIB, MAX_MICRO_BATCH, MAX_NETWORK_GBPS,
                                   MAX_PARAMS_B, MAX_PARAMS_M, MAX_RATE, MAX_SAMPLES, MAX_SEQ, MAX_SERVERS,
                                   MAX_TOKENS, MAX_VOCAB, MIN_FLOPS_PER_SAMPLE, MIN_VOCAB, REFERENCE_PRECISIONS,
                                   CpuJob, GenericTraining, LLMInference, LLMTraining, ReferenceGpuHours,
                                   check_flops_per_sample)
from suanli.errors import InvalidInput

FINETUNE_METHODS = tuple(m for m in LLM_TRAINING_METHODS if m != "pretrain")
WORKLOAD_KINDS = ("llm_pretrain", "llm_finetune", "llm_inference", "dl_training", "gpu_hours", "cpu")


def one_of(choices: tuple[str, ...]) -> Any:
    """``Literal[...]`` of a core tuple of choices: an enum in the OpenAPI, checked by pydantic."""
    return Literal[choices]  # type: ignore[valid-type]


def _strip_field(error: ValueError) -> str:
    """A core message without its leading ``field:`` (pydantic names the field itself)."""
    return str(error).partition(": ")[2] or str(error)


# The core's choices as types (mypy cannot read a Literal built from a tuple: hence the ignores where they are used).
TrainingPrecision = one_of(LLM_TRAINING_PRECISIONS)
Optimizer = one_of(LLM_OPTIMIZERS)
FinetuneMethod = one_of(FINETUNE_METHODS)
InferencePrecision = one_of(LLM_INFERENCE_PRECISIONS)
GenericPrecision = one_of(GENERIC_PRECISIONS)
ReferencePrecision = one_of(REFERENCE_PRECISIONS)


class _Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMPretrainIn(_Workload):
    kind: Literal["llm_pretrain"]
    params_b: float = Field(gt=0, le=MAX_PARAMS_B, description="Model parameters, billions.")
    tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Training tokens processed, summed over "
                               "epochs (or dataset_tokens and epochs, not both).")
    dataset_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="With epochs, instead of tokens "
                                       f"(dataset_tokens x epochs at most {MAX_TOKENS:g}).")
    epochs: float | None = Field(None, gt=0, le=MAX_EPOCHS)
    seq_len: int = Field(2048, ge=1, le=MAX_SEQ)
    precision: TrainingPrecision = "bf16"  # type: ignore[valid-type]
    micro_batch: int = Field(1, ge=1, le=MAX_MICRO_BATCH)
    gradient_checkpointing: bool = True
    vocab_size: int | None = Field(None, ge=MIN_VOCAB, le=MAX_VOCAB)
    optimizer: Optimizer = Field("adamw", description="adamw, adamw8bit or paged_adamw8bit (memory: "  # type: ignore[valid-type]
                                 "8 / 2 / 2 bytes per parameter of moments; paged spills to host memory).")
    master_weights: bool = Field(True, description="Keep an FP32 master copy of the weights (false: pure BF16).")
    optimizer_in_backward: bool = Field(False, description="Apply each layer's update in the backward pass "
                                        "(gradients never all held).")
    cpu_offload: bool = Field(False, description="Optimizer state, master weights and gradients in host memory.")


class LLMFinetuneIn(LLMPretrainIn):
    kind: Literal["llm_finetune"]  # type: ignore[assignment]
    method: FinetuneMethod = Field("lora", description="full, lora or qlora (qlora: precision bf16 or fp16).")  # type: ignore[valid-type]
    lora_rank: int = Field(16, ge=1, le=MAX_LORA_RANK)


class LLMInferenceIn(_Workload):
    kind: Literal["llm_inference"]
    params_b: float = Field(gt=0, le=MAX_PARAMS_B)
    precision: InferencePrecision = "bf16"  # type: ignore[valid-type]
    context_len: int = Field(4096, ge=1, le=MAX_SEQ)
    target_tokens_per_s: float | None = Field(None, gt=0, le=MAX_RATE, description="Or requests_per_s, not both.")
    requests_per_s: float | None = Field(None, gt=0, le=MAX_RATE, description="Needs output_tokens_per_request.")
    output_tokens_per_request: int | None = Field(None, ge=1, le=MAX_SEQ, description="At most context_len.")
    prompt_tokens: int | None = Field(None, ge=1, le=MAX_SEQ, description="Needs output_tokens_per_request; "
                                      "prompt + output at most context_len.")
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY)
    latency_ms_per_token: float | None = Field(None, gt=0, le=MAX_LATENCY_MS)
    kv_heads: int | None = Field(None, ge=1, le=MAX_KV_HEADS)
    vocab_size: int | None = Field(None, ge=MIN_VOCAB, le=MAX_VOCAB)


class DLTrainingIn(_Workload):
    kind: Literal["dl_training"]
    model: str | None = Field(None, description="A reference model instead of flops_per_sample/params_m: "
                              "resnet50, resnet18, resnet18_cifar, resnet152, inception_v3, vgg16, alexnet, ssd300, bert_base, bert_large, gnmt, ncf, "
                              "transformerxl_base, transformerxl_large, tacotron2, waveglow, gpt2.")
    flops_per_sample: float | None = Field(None, description="Training FLOPs per sample (forward + backward, ~6 x "
                                           "the forward multiply-adds a model card calls 'FLOPs'); FLOPs, not GFLOPs.",
                                           json_schema_extra={"minimum": MIN_FLOPS_PER_SAMPLE,
                                                              "maximum": MAX_FLOPS_PER_SAMPLE})
    params_m: float | None = Field(None, gt=0, le=MAX_PARAMS_M, description="Model parameters, millions.")
    params_b: float | None = Field(None, gt=0, le=MAX_PARAMS_B, description="Model parameters, billions (instead "
                                   "of params_m, not both).")
    embedding_params_m: float | None = Field(None, ge=0, description="Of those, millions in looked-up embedding "
                                             "tables (vocabulary or user/item tables; default 0).")
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE, description="Samples per device per step "
                                   "(default: the model's usual, else 32).")
    samples: int | None = Field(None, ge=1, le=MAX_SAMPLES, description="Samples per epoch; without it only "
                                "samples/s is estimated.")
    epochs: int = Field(1, ge=1, le=MAX_EPOCHS)
    precision: GenericPrecision = Field("fp32", description="fp32, tf32, or amp (mixed precision; also "  # type: ignore[valid-type]
                                        "mixed, fp16, bf16).")
    image_size: int | None = Field(None, ge=1, le=MAX_SEQ, description="With model: input side in pixels "
                                   "(rescales its FLOPs).")
    seq_len: int | None = Field(None, ge=1, le=MAX_SEQ, description="With model: sequence length in tokens "
                                "(rescales its FLOPs).")
    servers: int | None = Field(None, ge=1, le=MAX_SERVERS, description="Servers the devices are spread over "
                                "(default: 8 per server).")
    gpus_per_server: int | None = Field(None, ge=1, le=MAX_GPUS_PER_SERVER, description="Devices per server "
                                        "(default 8).")
    network_gbps: float | None = Field(None, gt=0, le=MAX_NETWORK_GBPS, description="Network per server, Gb/s "
                                       "(default: 200 per device for NVLink/HCCS servers, 50 for PCIe servers).")
    model_memory_gib: float | None = Field(None, gt=0, le=MAX_MEMORY_GIB)
    architecture: str | None = Field(None, description="cnn, transformer, rnn (also lstm, gru), recommendation "
                                     "(also embedding), gan or speech; a named model brings its own.")
    input_samples_per_s: float | None = Field(None, gt=0, le=MAX_RATE, description="Samples/s one server's data "
                                              "pipeline (loading, decoding, augmentation) delivers; the estimate "
                                              "never exceeds it.")

    @field_validator("flops_per_sample")
    @classmethod
    def _flops(cls, value: float | None) -> float | None:
        # The core's check, so a value below the minimum gets its hint (GFLOPs typed as FLOPs) as a field error.
        if value is not None:
            try:
                check_flops_per_sample(value)
            except ValueError as exc:
                raise ValueError(_strip_field(exc)) from None
        return value


class GpuHoursIn(_Workload):
    kind: Literal["gpu_hours"]
    gpu_hours: float = Field(gt=0, le=MAX_HOURS)
    reference_chip: str
    precision: ReferencePrecision = "bf16"  # type: ignore[valid-type]


class CpuIn(_Workload):
    kind: Literal["cpu"]
    core_hours: float = Field(gt=0, le=MAX_HOURS)
    memory_gib: float = Field(gt=0, le=MAX_MEMORY_GIB)


#: Fields that belong to one kind only: a workload that names one of them under another kind (or no kind) is
#: answered with the kind to use.
KIND_OF_FIELD: dict[str, str] = {
    **{f: "dl_training" for f in ("flops_per_sample", "samples", "model", "params_m", "embedding_params_m",
                                  "batch_size", "image_size",
                                  "servers", "gpus_per_server", "network_gbps", "model_memory_gib",
                                  "architecture", "input_samples_per_s")},
    **{f: "llm_inference" for f in ("context_len", "target_tokens_per_s", "requests_per_s",
                                    "output_tokens_per_request", "prompt_tokens", "concurrency",
                                    "latency_ms_per_token", "kv_heads")},
    **{f: "llm_finetune" for f in ("method", "lora_rank", "optimizer", "master_weights", "optimizer_in_backward",
                                   "cpu_offload", "micro_batch", "gradient_checkpointing", "tokens")},
    **{f: "gpu_hours" for f in ("gpu_hours", "reference_chip")},
    **{f: "cpu" for f in ("core_hours",)},
}
_KIND_MODELS: dict[str, type[BaseModel]] = {}


#: Other names users give dl_training fields (renamed before validation).
DL_SYNONYMS = {"nodes": "servers", "num_servers": "servers", "gpus_per_node": "gpus_per_server",
               "per_device_batch_size": "batch_size", "batch_size_per_device": "batch_size",
               "micro_batch": "batch_size", "network_gbit": "network_gbps"}


def check_workload_kind(value: Any) -> Any:
    """Before validation: a workload dict without a valid ``kind``, or with fields of another kind, becomes a
    message naming the kind those fields belong to (instead of "Extra inputs are not permitted"). dl_training
    takes a few other names for its fields (:data:`DL_SYNONYMS`) and ``params`` as a plain count."""
    if not isinstance(value, dict):
        return value
    kind = value.get("kind")
    if kind == "dl_training":
        value = {DL_SYNONYMS.get(k, k): v for k, v in value.items()}
        params = value.pop("params", None)
        if params is not None and value.get("params_m") is None:
            if isinstance(params, bool) or not isinstance(params, (int, float)):
                raise ValueError(f"params: must be a number of parameters, got {params!r}")
            value["params_m"] = params / 1e6
    if kind not in WORKLOAD_KINDS:
        hinted = sorted({KIND_OF_FIELD[f] for f in value if f in KIND_OF_FIELD})
        hint = f"; the fields given suggest kind={hinted[0]}" if len(hinted) == 1 else ""
        raise ValueError(f"kind: {'missing' if kind is None else repr(kind)}; must be one of "
                         f"{', '.join(WORKLOAD_KINDS)}{hint}")
    allowed = _KIND_MODELS[kind].model_fields
    stray = [f for f in value if f not in allowed]
    if stray:
        owners = sorted({KIND_OF_FIELD[f] for f in stray if f in KIND_OF_FIELD})
        where = (f": {', '.join(stray)} belong(s) to kind={owners[0]}; set \"kind\": \"{owners[0]}\"" if owners
                 else f": valid fields for kind={kind}: {', '.join(f for f in allowed if f != 'kind')}")
        raise ValueError(f"{', '.join(stray)}: not a field of kind={kind}{where}")
    return value


WorkloadIn = Annotated[Union[LLMPretrainIn, LLMFinetuneIn, LLMInferenceIn, DLTrainingIn, GpuHoursIn, CpuIn],
                       Field(discriminator="kind")]
_KIND_MODELS.update({"llm_pretrain": LLMPretrainIn, "llm_finetune": LLMFinetuneIn, "llm_inference": LLMInferenceIn,
                     "dl_training": DLTrainingIn, "gpu_hours": GpuHoursIn, "cpu": CpuIn})
CoreWorkload = LLMTraining | LLMInference | GenericTraining | ReferenceGpuHours | CpuJob


def invalid_workload(error: ValueError) -> InvalidInput:
    text = str(error)
    field, _, message = text.partition(": ")
    if not message or " " in field:
        field, message = "workload", text
    return InvalidInput(f"workload.{field}: {message}", code="invalid_workload",
                        details={"field": f"workload.{field}", "message": message})


def to_core(w: Any) -> CoreWorkload:
    """The core dataclass for a validated wire workload; a core ``ValueError`` becomes a 422 ``invalid_workload``."""
    data = w.model_dump(exclude={"kind"})
    try:
        if w.kind == "llm_pretrain":
            return LLMTraining(method="pretrain", **data)
        if w.kind == "llm_finetune":
            return LLMTraining(**data)
        if w.kind == "llm_inference":
            return LLMInference(**data)
        if w.kind == "dl_training":
            return GenericTraining(**data)
        if w.kind == "gpu_hours":
            return ReferenceGpuHours(**data)
        return CpuJob(**data)
    except ValueError as exc:
        raise invalid_workload(exc) from None


class _WithWorkload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workload: WorkloadIn

    @field_validator("workload", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        return check_workload_kind(value)


class EstimateIn(_WithWorkload):
    chip: str | None = Field(None, description="Chip key or common name (A800, 910B, 4090); not for cpu jobs.")
    count: int = Field(1, ge=1, le=4096, description="Accelerators (or vCPUs for a cpu job).")
    memory_gib: float | None = Field(None, gt=0, description="cpu jobs: RAM of the allocation (default: enough).")


def parse_budget(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be an amount of CNY such as \"2000\" or \"1999.50\"")
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", "").removeprefix("¥"))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount of CNY; write it like \"2000\" or \"1999.50\"") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite amount of CNY")
    if amount <= 0:
        raise ValueError(f"must be more than 0 CNY, got {value}")
    if amount * 100 != (amount * 100).to_integral_value():
        raise ValueError(f"{value} CNY has more than two decimal places")
    if amount > Decimal(10) ** 12:
        raise ValueError("must be at most 1,000,000,000,000 CNY")
    return amount


# What parse_budget takes, in the OpenAPI (pydantic writes any string for a Decimal): more than 0 and at most 10^12
# CNY, at most 2 decimals; written as a string, or a whole number. (It also reads "¥2,000" and 1999.5: lenient.)
BUDGET_SCHEMA = {"anyOf": [
    {"type": "string", "pattern": r"^([1-9][0-9]{0,11}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"},
    {"type": "integer", "minimum": 1, "maximum": 10**12}, {"type": "null"}]}


class RecommendIn(_WithWorkload):
    deadline_hours: float = Field(..., gt=0, le=24 * 365 * 3, description="The run must finish within this "
                                  "(central estimate); for llm_inference, the serving window priced.")
    budget_cny: Decimal | None = Field(None, json_schema_extra=BUDGET_SCHEMA,
                                       description="Most to spend, CNY as a decimal string (\"2000\", \"1999.50\").")
    provinces: list[str] = Field(default_factory=list, max_length=40)
    ecosystems: list[str] = Field(default_factory=lambda: ["cuda", "cann", "dtk", "neuware", "xpu"], min_length=1,
                                  json_schema_extra={"items": {"type": "string",  # any case is read; the schema
                                                               "enum": ["cuda", "cann", "dtk", "neuware", "xpu"]}})
    limit: int = Field(10, ge=1, le=100)

    @field_validator("budget_cny", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> Decimal | None:
        return parse_budget(value)

    @field_validator("ecosystems")
    @classmethod
    def _ecosystems(cls, value: list[str]) -> list[str]:
        from suanli.core.chips import ECOSYSTEMS

        out = []
        for item in value:
            key = item.strip().lower()
            if key not in ECOSYSTEMS:
                raise ValueError(f"unknown ecosystem {item!r}; valid: {', '.join(ECOSYSTEMS)}")
            if key not in out:
                out.append(key)
        return out


class LaunchIn(RecommendIn):
    """A recommendation request plus which option to launch and how."""

    rank: int | None = Field(None, ge=1, le=100, description="The option's position in the ranked list (1 = "
                                                                  "cheapest). Default 1 unless product_id is given.")
    product_id: uuid.UUID | None = Field(None, description="Launch the option on this product instead of a rank.")
    template_id: str | None = Field(None, max_length=100, description="Default: the template for the workload "
                                                                       "kind on the chip's ecosystem.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Template parameters (see GET "
                                                                         "/api/v1/templates/{id}).")
    files: dict[str, str] = Field(default_factory=dict, description="Data files for the job (e.g. train.jsonl): "
                                                                    "name → text.")
    env: dict[str, str] = Field(default_factory=dict)
    smoke: bool = Field(False, description="Run the template's seconds-long smoke version instead of the workload.")
    name: str | None = Field(None, min_length=1, max_length=200, description="Job name (default: the template id).")

    @model_validator(mode="after")
    def _one_choice(self) -> LaunchIn:
        if self.rank is not None and self.product_id is not None:
            raise ValueError("give rank or product_id, not both")
        return self
