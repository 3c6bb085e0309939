"""Advisor wire models: workloads as a discriminated union on ``kind``, converted to the core dataclasses.

Pydantic checks shapes and types; the core dataclasses (:mod:`suanli.core.workloads`) check meaning
(ranges, combinations). A core ``ValueError`` ("field: message") becomes a 422 ``invalid_workload``
naming the field (:func:`to_core`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from suanli.core.workloads import (MAX_PARAMS_B, CpuJob, GenericTraining, LLMInference, LLMTraining,
                                   ReferenceGpuHours)
from suanli.errors import InvalidInput

FINETUNE_METHODS = ("full", "lora", "qlora")
WORKLOAD_KINDS = ("llm_pretrain", "llm_finetune", "llm_inference", "dl_training", "gpu_hours", "cpu")


class _Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMPretrainIn(_Workload):
    kind: Literal["llm_pretrain"]
    params_b: float = Field(gt=0, le=MAX_PARAMS_B, description="Model parameters, billions.")
    tokens: int | None = None
    dataset_tokens: int | None = None
    epochs: float | None = None
    seq_len: int = 2048
    precision: str = "bf16"
    micro_batch: int = 1
    gradient_checkpointing: bool = True
    vocab_size: int | None = None
    optimizer: str = Field("adamw", description="adamw, adamw8bit or paged_adamw8bit (memory: 8 / 2 / 2 bytes per "
                           "parameter of moments; paged spills to host memory).")
    master_weights: bool = Field(True, description="Keep an FP32 master copy of the weights (false: pure BF16).")
    optimizer_in_backward: bool = Field(False, description="Apply each layer's update in the backward pass "
                                        "(gradients never all held).")
    cpu_offload: bool = Field(False, description="Optimizer state, master weights and gradients in host memory.")


class LLMFinetuneIn(LLMPretrainIn):
    kind: Literal["llm_finetune"]  # type: ignore[assignment]
    method: str = Field("lora", description="full, lora or qlora")
    lora_rank: int = 16


class LLMInferenceIn(_Workload):
    kind: Literal["llm_inference"]
    params_b: float = Field(gt=0, le=MAX_PARAMS_B)
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


class DLTrainingIn(_Workload):
    kind: Literal["dl_training"]
    model: str | None = Field(None, description="A reference model instead of flops_per_sample/params_m: "
                              "resnet50, resnet18, resnet18_cifar, resnet152, inception_v3, vgg16, alexnet, ssd300, bert_base, bert_large, gnmt, ncf, "
                              "transformerxl_base, transformerxl_large, tacotron2, waveglow, gpt2.")
    flops_per_sample: float | None = Field(None, description="Training FLOPs per sample (forward + backward, ~6 x "
                                           "the forward multiply-adds a model card calls 'FLOPs'); FLOPs, not GFLOPs.")
    params_m: float | None = Field(None, description="Model parameters, millions.")
    params_b: float | None = Field(None, description="Model parameters, billions (instead of params_m).")
    embedding_params_m: float | None = Field(None, description="Of those, millions in looked-up embedding tables "
                                             "(vocabulary or user/item tables; default 0).")
    batch_size: int | None = Field(None, description="Samples per device per step (default: the model's usual, "
                                   "else 32).")
    samples: int | None = Field(None, description="Samples per epoch; without it only samples/s is estimated.")
    epochs: int = 1
    precision: str = Field("fp32", description="fp32, tf32, or amp (mixed precision; also mixed, fp16, bf16).")
    image_size: int | None = Field(None, description="With model: input side in pixels (rescales its FLOPs).")
    seq_len: int | None = Field(None, description="With model: sequence length in tokens (rescales its FLOPs).")
    servers: int | None = Field(None, description="Servers the devices are spread over (default: 8 per server).")
    gpus_per_server: int | None = Field(None, description="Devices per server (default 8).")
    network_gbps: float | None = Field(None, description="Network per server, Gb/s (default: 200 per device for "
                                       "NVLink/HCCS servers, 50 for PCIe servers).")
    model_memory_gib: float | None = None
    architecture: str | None = Field(None, description="cnn, transformer, rnn (also lstm, gru), recommendation "
                                     "(also embedding), gan or speech; a named model brings its own.")
    input_samples_per_s: float | None = Field(None, description="Samples/s one server's data pipeline (loading, "
                                              "decoding, augmentation) delivers; the estimate never exceeds it.")


class GpuHoursIn(_Workload):
    kind: Literal["gpu_hours"]
    gpu_hours: float
    reference_chip: str
    precision: str = "bf16"


class CpuIn(_Workload):
    kind: Literal["cpu"]
    core_hours: float
    memory_gib: float


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
            if data["method"] not in FINETUNE_METHODS:
                raise ValueError(f"method: must be one of {', '.join(FINETUNE_METHODS)}; got {data['method']!r}")
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
