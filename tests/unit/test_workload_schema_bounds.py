"""The OpenAPI states the core's single-field workload rules, and they cannot drift apart (issue 12, point 6).

For each (kind, field) the bounds are read from the public OpenAPI document and tried on the core dataclass: the
bound itself is accepted (or, for an exclusive minimum, just above it), the nearest value outside is refused with a
``ValueError`` naming the field. A bound written differently on either side fails here. Choices: the schema's enum
is the core's tuple, and the core takes every value of it.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import pytest

from suanli.core import workloads as core
from suanli.db import Database

#: A valid core workload per kind; each case may add fields that another field needs.
BASE: dict[str, dict[str, Any]] = {
    "llm_pretrain": {"params_b": 7, "tokens": 10**9},
    "llm_finetune": {"params_b": 7, "tokens": 10**9, "method": "lora"},
    "llm_inference": {"params_b": 7},
    "dl_training": {"flops_per_sample": 1e9},
    "gpu_hours": {"gpu_hours": 10, "reference_chip": "a100"},
    "cpu": {"core_hours": 10, "memory_gib": 8},
}
NO_TOKENS = {"tokens": None, "dataset_tokens": 10**9, "epochs": 1}
LONG_CONTEXT = {"context_len": core.MAX_SEQ}

BOUNDED: list[tuple[str, str, dict[str, Any]]] = [
    ("llm_pretrain", "params_b", {}), ("llm_pretrain", "tokens", {}), ("llm_pretrain", "seq_len", {}),
    ("llm_pretrain", "micro_batch", {}), ("llm_pretrain", "vocab_size", {}),
    ("llm_pretrain", "dataset_tokens", NO_TOKENS), ("llm_pretrain", "epochs", NO_TOKENS),
    ("llm_finetune", "lora_rank", {}), ("llm_finetune", "params_b", {}),
    ("llm_inference", "params_b", {}), ("llm_inference", "context_len", {}),
    ("llm_inference", "target_tokens_per_s", {}),
    ("llm_inference", "requests_per_s", {"output_tokens_per_request": 1}),
    ("llm_inference", "output_tokens_per_request", LONG_CONTEXT), ("llm_inference", "concurrency", {}),
    ("llm_inference", "latency_ms_per_token", {}), ("llm_inference", "kv_heads", {}),
    ("llm_inference", "vocab_size", {}),
    ("dl_training", "flops_per_sample", {}), ("dl_training", "params_m", {}), ("dl_training", "params_b", {}),
    ("dl_training", "embedding_params_m", {}), ("dl_training", "batch_size", {}), ("dl_training", "samples", {}),
    ("dl_training", "epochs", {}), ("dl_training", "model_memory_gib", {}), ("dl_training", "servers", {}),
    ("dl_training", "gpus_per_server", {}), ("dl_training", "network_gbps", {}),
    ("dl_training", "input_samples_per_s", {}),
    ("dl_training", "image_size", {"model": "resnet50", "flops_per_sample": None}),
    ("dl_training", "seq_len", {"model": "bert_base", "flops_per_sample": None}),
    ("gpu_hours", "gpu_hours", {}), ("cpu", "core_hours", {}), ("cpu", "memory_gib", {}),
]
CHOICES: list[tuple[str, str, tuple[str, ...]]] = [
    ("llm_pretrain", "precision", core.LLM_TRAINING_PRECISIONS), ("llm_pretrain", "optimizer", core.LLM_OPTIMIZERS),
    ("llm_finetune", "method", tuple(m for m in core.LLM_TRAINING_METHODS if m != "pretrain")),
    ("llm_inference", "precision", core.LLM_INFERENCE_PRECISIONS),
    ("dl_training", "precision", core.GENERIC_PRECISIONS), ("gpu_hours", "precision", core.REFERENCE_PRECISIONS),
]


@pytest.fixture(scope="module")
def workload_schemas() -> dict[str, dict[str, Any]]:
    """kind → the OpenAPI schema of that workload (found through the estimate request's ``workload`` union)."""
    from suanli.app import create_app

    spec = create_app(Database(f"sqlite:///{tempfile.mkdtemp()}/never-opened.db")).openapi()
    components = spec["components"]["schemas"]
    union = components["EstimateIn"]["properties"]["workload"]
    out = {}
    for ref in union["discriminator"]["mapping"].values():
        schema = components[ref.rsplit("/", 1)[-1]]
        out[schema["properties"]["kind"]["const"]] = schema
    assert set(out) == set(BASE)
    return out


def _numeric(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's number or integer schema with the bounds stated on it or around it (``anyOf`` with null)."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") in ("number", "integer")]
    assert len(branches) == 1, prop
    bounds = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    schema = {**branches[0], **{k: prop[k] for k in bounds if k in prop}}
    if schema["type"] == "integer":  # FastAPI's OpenAPI model writes every bound as a float
        for key in set(bounds) & set(schema):
            assert schema[key] == int(schema[key])
            schema[key] = int(schema[key])
    return schema


def _core(kind: str, data: dict[str, Any]) -> object:
    data = {k: v for k, v in data.items() if v is not None}
    if kind == "llm_pretrain":
        return core.LLMTraining(method="pretrain", **data)
    if kind == "llm_finetune":
        return core.LLMTraining(**data)
    return {"llm_inference": core.LLMInference, "dl_training": core.GenericTraining,
            "gpu_hours": core.ReferenceGpuHours, "cpu": core.CpuJob}[kind](**data)


def _refused(kind: str, data: dict[str, Any], field: str) -> bool:
    try:
        _core(kind, data)
    except ValueError as exc:
        return str(exc).startswith(f"{field}: ")
    return False


@pytest.mark.parametrize(("kind", "field", "extra"), BOUNDED, ids=[f"{k}.{f}" for k, f, _ in BOUNDED])
def test_the_schema_bounds_are_the_cores(workload_schemas, kind, field, extra):
    schema = _numeric(workload_schemas[kind]["properties"][field])
    integer = schema["type"] == "integer"
    base = {**BASE[kind], **extra}
    step_down = (lambda v: v - 1) if integer else (lambda v: math.nextafter(v, -math.inf))
    step_up = (lambda v: v + 1) if integer else (lambda v: math.nextafter(v, math.inf))

    assert "exclusiveMaximum" not in schema  # the core has inclusive maxima only
    if "maximum" in schema:
        top = schema["maximum"]
        _core(kind, {**base, field: top})
        assert _refused(kind, {**base, field: step_up(top)}, field), f"{kind}.{field} above {top}"
    if "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"]
        assert not integer and "minimum" not in schema
        assert _refused(kind, {**base, field: low}, field), f"{kind}.{field} at {low}"
        _core(kind, {**base, field: low + 1e-6})
    else:
        low = schema["minimum"]
        _core(kind, {**base, field: low})
        assert _refused(kind, {**base, field: step_down(low)}, field), f"{kind}.{field} below {low}"


@pytest.mark.parametrize(("kind", "field", "choices"), CHOICES, ids=[f"{k}.{f}" for k, f, _ in CHOICES])
def test_the_schema_choices_are_the_cores(workload_schemas, kind, field, choices):
    prop = workload_schemas[kind]["properties"][field]
    assert tuple(prop["enum"]) == choices and prop["type"] == "string"
    base = {**BASE[kind], "precision": "bf16"} if kind == "llm_finetune" else BASE[kind]
    for choice in choices:
        _core(kind, {**base, field: choice})
    assert _refused(kind, {**base, field: "not-" + choices[0]}, field)


def test_only_rules_a_schema_cannot_state_are_left_to_the_core(workload_schemas):
    """Every numeric field of every kind is bounded in the schema; the fields without a schema rule are names the
    core resolves against its tables (a chip, a reference model, an architecture with its synonyms)."""
    unbounded = set()
    for kind, schema in workload_schemas.items():
        for field, prop in schema["properties"].items():
            kinds = {b.get("type") for b in prop.get("anyOf", [prop])}
            if kinds & {"number", "integer"}:
                numeric = _numeric(prop)
                assert {"minimum", "exclusiveMinimum"} & set(numeric), f"{kind}.{field} has no lower bound"
                if field != "embedding_params_m":  # at most the model's parameters: a rule across fields
                    assert "maximum" in numeric, f"{kind}.{field} has no upper bound"
            elif "string" in kinds and "enum" not in prop and "const" not in prop:
                unbounded.add(f"{kind}.{field}")
    assert unbounded == {"gpu_hours.reference_chip", "dl_training.model", "dl_training.architecture"}
    covered = {f"{k}.{f}" for k, f, _ in BOUNDED} | {f"{k}.{f}" for k, f, _ in CHOICES}
    numeric_fields = {f"{k}.{f}" for k, s in workload_schemas.items() for f, p in s["properties"].items()
                      if {b.get("type") for b in p.get("anyOf", [p])} & {"number", "integer"}}
    # llm_finetune repeats llm_pretrain's fields: tried once under llm_pretrain
    inherited = {f"llm_finetune.{f}" for f in workload_schemas["llm_pretrain"]["properties"]}
    missing = numeric_fields - covered - inherited - {"llm_inference.prompt_tokens"}
    assert not missing, f"bounds not tried against the core: {sorted(missing)}"
