import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.core.workloads import (
    MAX_PARAMS_B,
    CpuJob,
    GenericTraining,
    LLMInference,
    LLMTraining,
    ReferenceGpuHours,
)


def test_training_tokens_directly_or_as_dataset_times_epochs():
    assert LLMTraining(method="full", params_b=7, tokens=10**9).total_tokens == 1e9
    run = LLMTraining(method="lora", params_b=7, dataset_tokens=2 * 10**8, epochs=3)
    assert run.total_tokens == 6e8
    assert LLMTraining(method="lora", params_b=7, dataset_tokens=10**6, epochs=1.5).total_tokens == 1.5e6
    assert run.params == 7e9


def test_training_defaults():
    run = LLMTraining(method="qlora", params_b=13, tokens=1000)
    assert (run.seq_len, run.precision, run.micro_batch, run.lora_rank, run.gradient_checkpointing) == (
        2048, "bf16", 1, 16, True)


def test_workloads_are_frozen():
    run = LLMTraining(method="full", params_b=7, tokens=10**9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.params_b = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params_b": 0}, "params_b"),
        ({"params_b": -7}, "params_b"),
        ({"params_b": MAX_PARAMS_B + 1}, "params_b"),
        ({"params_b": math.nan}, "params_b"),
        ({"params_b": math.inf}, "params_b"),
        ({"params_b": True}, "params_b"),
        ({"params_b": "7"}, "params_b"),
        ({"method": "rlhf"}, "method"),
        ({"precision": "int4"}, "precision"),
        ({"tokens": 0}, "tokens"),
        ({"tokens": -5}, "tokens"),
        ({"tokens": 1.5}, "tokens"),
        ({"tokens": None}, "tokens"),
        ({"tokens": 100, "dataset_tokens": 100, "epochs": 1}, "tokens"),
        ({"tokens": None, "dataset_tokens": 100, "epochs": 0}, "epochs"),
        ({"tokens": None, "dataset_tokens": 0, "epochs": 1}, "dataset_tokens"),
        ({"tokens": None, "dataset_tokens": 100}, "tokens"),
        ({"seq_len": 0}, "seq_len"),
        ({"seq_len": 2**21}, "seq_len"),
        ({"micro_batch": 0}, "micro_batch"),
        ({"micro_batch": True}, "micro_batch"),
        ({"lora_rank": 0}, "lora_rank"),
        ({"gradient_checkpointing": "yes"}, "gradient_checkpointing"),
        ({"vocab_size": 3}, "vocab_size"),
        ({"method": "qlora", "precision": "fp8"}, "precision"),
    ],
)
def test_bad_training_inputs_name_the_field(kwargs, field):
    base = {"method": "full", "params_b": 7, "tokens": 10**9}
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        LLMTraining(**base)


def test_inference_target_from_requests():
    serve = LLMInference(params_b=7, requests_per_s=2, output_tokens_per_request=300)
    assert serve.target_tokens == 600
    assert LLMInference(params_b=7, target_tokens_per_s=50).target_tokens == 50
    assert LLMInference(params_b=7).target_tokens is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params_b": 0}, "params_b"),
        ({"params_b": 2500}, "params_b"),
        ({"precision": "int3"}, "precision"),
        ({"precision": "fp32"}, "precision"),
        ({"context_len": 0}, "context_len"),
        ({"target_tokens_per_s": 0}, "target_tokens_per_s"),
        ({"target_tokens_per_s": 10, "requests_per_s": 1, "output_tokens_per_request": 5}, "target_tokens_per_s"),
        ({"requests_per_s": 1}, "output_tokens_per_request"),
        ({"requests_per_s": -1, "output_tokens_per_request": 5}, "requests_per_s"),
        ({"output_tokens_per_request": 5000, "context_len": 4096}, "output_tokens_per_request"),
        ({"prompt_tokens": 100}, "output_tokens_per_request"),
        ({"prompt_tokens": 4000, "output_tokens_per_request": 200, "context_len": 4096}, "prompt_tokens"),
        ({"concurrency": 0}, "concurrency"),
        ({"latency_ms_per_token": 0}, "latency_ms_per_token"),
        ({"kv_heads": 0}, "kv_heads"),
    ],
)
def test_bad_inference_inputs_name_the_field(kwargs, field):
    base = {"params_b": 7}
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        LLMInference(**base)


def test_generic_training_total_flops():
    job = GenericTraining(flops_per_sample=1e9, samples=1000, epochs=3, precision="tf32")
    assert job.total_flops == 3e12
    assert GenericTraining(flops_per_sample=1e9).total_flops is None  # throughput only


def test_generic_training_by_model_and_mixed_precision_words():
    job = GenericTraining(model="ResNet-50", precision="amp")
    assert job.model == "resnet50" and job.flops_per_sample is None
    for word in ("mixed", "fp16", "bf16", "amp", "tf32", "fp32"):
        GenericTraining(model="bert_base", precision=word)
    with pytest.raises(ValueError, match="GFLOPs"):
        GenericTraining(flops_per_sample=73.6)
    with pytest.raises(ValueError, match="^flops_per_sample: dl_training needs the training FLOPs per sample"):
        GenericTraining(samples=10)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"flops_per_sample": 0}, "flops_per_sample"),
        ({"samples": 0}, "samples"),
        ({"epochs": 0}, "epochs"),
        ({"precision": "int8"}, "precision"),
        ({"model_memory_gib": -1}, "model_memory_gib"),
        ({"flops_per_sample": 73.6}, "flops_per_sample"),  # GFLOPs typed as FLOPs
        ({"model": "alexnet-9000"}, "model"),
        ({"params_m": 10, "params_b": 1}, "params_m"),
        ({"params_m": 10, "embedding_params_m": 20}, "embedding_params_m"),
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": 448}, "image_size"),  # rescales a named model only
        ({"servers": 0}, "servers"),
        ({"gpus_per_server": 65}, "gpus_per_server"),
        ({"network_gbps": -1}, "network_gbps"),
    ],
)
def test_bad_generic_inputs_name_the_field(kwargs, field):
    base = {"flops_per_sample": 1e9, "samples": 10}
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        GenericTraining(**base)


@pytest.mark.parametrize(("name", "key"), [("A100", "a100"), ("华为 910B", "ascend-910b"), ("4090", "rtx4090"),
                                           ("h800", "h800")])
def test_reference_chip_accepts_common_names(name, key):
    assert ReferenceGpuHours(gpu_hours=10, reference_chip=name).reference_chip == key


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reference_chip": "TPU v5"}, "reference_chip"),
        ({"reference_chip": ""}, "reference_chip"),
        ({"gpu_hours": 0}, "gpu_hours"),
        ({"precision": "int4"}, "precision"),
    ],
)
def test_bad_reference_inputs_name_the_field(kwargs, field):
    base = {"gpu_hours": 100, "reference_chip": "a100"}
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        ReferenceGpuHours(**base)


@pytest.mark.parametrize(("kwargs", "field"), [({"core_hours": 0}, "core_hours"), ({"memory_gib": -1}, "memory_gib"),
                                               ({"core_hours": "many"}, "core_hours")])
def test_bad_cpu_inputs_name_the_field(kwargs, field):
    base = {"core_hours": 10, "memory_gib": 8}
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        CpuJob(**base)


@given(st.floats(min_value=1e-3, max_value=MAX_PARAMS_B, allow_nan=False))
def test_any_params_in_range_is_accepted(params_b):
    assert LLMInference(params_b=params_b).params_b == params_b


@given(st.one_of(st.floats(max_value=0, allow_nan=False),
                 st.floats(min_value=MAX_PARAMS_B * 1.0001, allow_infinity=True)))
def test_params_out_of_range_is_refused(params_b):
    with pytest.raises(ValueError, match="^params_b:"):
        LLMTraining(method="full", params_b=params_b, tokens=1)
