"""The estimator's notes and the advisor's reasons are messages: English by str(), real Chinese with the zh_CN
catalog, for every sentence the engines can produce."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from suanli.advisor import service
from suanli.advisor.responses import EstimateOut
from suanli.advisor.schemas import EstimateIn
from suanli.advisor.service import Candidate
from suanli.core.chips import ECOSYSTEMS, load_chip_table
from suanli.core.estimates import estimate, estimate_cpu
from suanli.core.estimates.result import ECOSYSTEM_NAMES, ECOSYSTEM_NOTES
from suanli.core.messages import Message, from_json, render, to_json
from suanli.core.estimates import REFERENCE_MODELS
from suanli.core.workloads import CpuJob, GenericTraining, LLMInference, LLMTraining, ReferenceGpuHours
from suanli.web.catalogs import extract_messages
from suanli.web.i18n import EN, ZH, say

CHIPS = list(load_chip_table().values())
# English that may stay in a Chinese sentence: names of chips, frameworks, formats, parameters and units.
ALLOWED = {
    # precisions, formats and units
    "bf16", "fp16", "fp32", "tf32", "fp8", "int8", "int4", "BF16", "FP16", "FP32", "TF32", "FP8", "NF4", "GiB",
    "tokens", "s", "vCPU", "KV", "O",  # tokens/s, O(n²)
    # techniques and products known by these names in Chinese too
    "LoRA", "QLoRA", "ZeRO", "FSDP", "DDP", "PCIe", "NVLink", "RDMA", "InfiniBand", "RoCE", "FlashAttention",
    "Transformer", "Engine", "Hopper", "Ada", "Marlin", "GPTQ", "AWQ", "bitsandbytes", "llama", "cpp", "PEFT",
    "MindSpeed", "LLM", "NPU", "SDK", "DCU", "HIP", "ROCm", "CUDA", "CANN", "DTK", "Neuware", "XPU", "xpu",
    "CNToolkit", "CNNL", "BANG", "C", "MagicMind", "MindSpore", "MindIE", "vLLM", "Ascend", "PyTorch",
    "PaddlePaddle", "torch_npu", "torch_mlu", "torch_xpu", "POST", "api", "v1", "orders",
    # the API's parameter names a note tells the user to set
    "context_len", "kv_heads", "model_memory_gib", "prompt_tokens", "micro_batch", "deadline_hours",
    "flops_per_sample", "params_m", "optimizer_in_backward", "architecture",
    # and the values it names
    "cnn", "transformer", "rnn", "recommendation", "gan", "speech",
    # training-throughput words and units
    "FLOPs", "TFLOPS", "MB", "GB", "Gb", "M", "CPU", "AdamW", "all", "reduce", "amp", "token",
    "adamw8bit", "paged_adamw8bit",
}
ENGLISH_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CJK_TEXT = re.compile(r"[\u4e00-\u9fff]")
ALLOWED |= {word for chip in CHIPS for word in ENGLISH_WORD.findall(chip.name)}
ALLOWED |= {word for model in REFERENCE_MODELS.values() for word in ENGLISH_WORD.findall(model.name)}
ALLOWED |= {"model", *REFERENCE_MODELS}  # the API's model parameter and the keys it takes


def english_left(text: str) -> list[str]:
    text = re.sub(r"\d[\d.]*e[+-]\d+", "", text)  # numbers such as 2.188e+04
    return [w for w in ENGLISH_WORD.findall(text) if w not in ALLOWED]


def templates(value: object) -> Iterator[str]:
    """Every template in a message, its nested values included."""
    if isinstance(value, Message):
        yield value.template
        for arg in value.args.values():
            yield from templates(arg)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from templates(item)


def workloads() -> Iterator[LLMTraining | LLMInference | GenericTraining | ReferenceGpuHours]:
    for method in ("pretrain", "full", "lora", "qlora"):
        for precision in ("bf16", "fp16", "fp32", "fp8"):
            if method == "qlora" and precision in ("fp8", "fp32"):
                continue
            for params_b in (1.0, 7.0, 70.0):
                yield LLMTraining(method=method, params_b=params_b, tokens=10**9, precision=precision,
                                  gradient_checkpointing=method != "pretrain")
    yield LLMTraining(method="full", params_b=7.0, tokens=10**9, gradient_checkpointing=False, micro_batch=8,
                      seq_len=8192)
    for precision in ("bf16", "fp16", "fp8", "int8", "int4"):
        yield LLMInference(params_b=7.0, precision=precision, concurrency=4)
        yield LLMInference(params_b=70.0, precision=precision, target_tokens_per_s=5000.0, concurrency=8,
                           prompt_tokens=1000, output_tokens_per_request=200)
    yield LLMInference(params_b=7.0, kv_heads=8, target_tokens_per_s=1e6, concurrency=2)  # concurrency caps it
    yield LLMInference(params_b=2000.0, context_len=1 << 20, concurrency=1_000_000)  # fits nowhere
    yield LLMInference(params_b=405.0, concurrency=64)
    yield GenericTraining(flops_per_sample=1e12, samples=10**6, precision="tf32", model_memory_gib=20.0)
    yield GenericTraining(flops_per_sample=1e12, samples=10**6, precision="bf16", model_memory_gib=200.0)
    yield GenericTraining(flops_per_sample=1e12, samples=10**6)
    yield GenericTraining(model="resnet50", image_size=448, precision="amp", samples=10**6)
    yield GenericTraining(model="bert_large", seq_len=128, precision="amp", batch_size=32, servers=2)
    for model in ("gnmt", "tacotron2", "ncf"):
        yield GenericTraining(model=model, batch_size=1024)
    yield GenericTraining(model="resnet50", flops_per_sample=4.09e9, batch_size=64)  # a forward count
    yield GenericTraining(flops_per_sample=4.1e9, params_m=25.6, batch_size=64)  # an unnamed model card's forward count
    yield GenericTraining(flops_per_sample=1e8, params_m=110, batch_size=64)  # below 2 x the parameters
    yield GenericTraining(flops_per_sample=1e9)  # parameters and batch not given
    for architecture in ("cnn", "transformer", "rnn", "recommendation", "gan", "speech"):  # with and without a factor
        yield GenericTraining(flops_per_sample=1e9, architecture=architecture)
    yield GenericTraining(model="resnet50", input_samples_per_s=100.0)  # capped by the data pipeline
    yield LLMTraining(method="full", params_b=7.0, tokens=10**9, optimizer="paged_adamw8bit", master_weights=False,
                      optimizer_in_backward=True, cpu_offload=True)
    yield LLMTraining(method="full", params_b=7.0, tokens=10**9, optimizer="adamw8bit")
    yield ReferenceGpuHours(gpu_hours=100.0, reference_chip="h200")
    yield ReferenceGpuHours(gpu_hours=100.0, reference_chip="a100", precision="fp8")


def estimator_notes() -> list[Message]:
    notes: list[Message] = []
    for workload in workloads():
        for chip in CHIPS:
            for count in (1, 8, 16, 64):
                try:
                    notes += estimate(workload, chip, count).notes
                except ValueError:
                    continue
    for memory in (64.0, 8.0):
        notes += estimate_cpu(CpuJob(core_hours=1000.0, memory_gib=32.0), 16, memory).notes
    return notes


def advisor_sentences() -> list[Message]:
    """Billing advice, reasons and notes of recommendation items over a spread of runs and prices."""
    chip = load_chip_table()["a800"]
    datacenter = SimpleNamespace(id=1, name="芜湖智算中心", province="安徽", city="芜湖")
    out: list[Message] = []
    # (central hours, deadline, spot floor fen/h, reserved fen/month): short spot, too little slack, a week-long run,
    # a reservation that pays, one that does not
    for central, deadline, floor, monthly in ((3.0, 48.0, 1000, None), (3.0, 4.0, 1000, None),
                                              (300.0, 1000.0, None, 5_000_000), (2000.0, 3000.0, 1000, 5_000_000),
                                              (2000.0, 3000.0, None, 10_000_000)):
        product = SimpleNamespace(id=1, name="A800 ×8", accelerators=8, vcpus=128, memory_gib=1024,
                                  stock_units=4, allocated_units=0, price_on_demand_fen=8000,
                                  price_reserved_month_fen=monthly, reserved_discount_3m_bp=500,
                                  reserved_discount_6m_bp=1000, reserved_discount_12m_bp=1500,
                                  price_spot_floor_fen=floor, datacenter_id=1)
        pairs = ((1, LLMTraining(method="lora", params_b=7.0, tokens=10**8)),
                 (2, LLMInference(params_b=7.0, concurrency=4))) * 3
        for (units, workload), bottleneck in zip(pairs[:len(service.BOTTLENECK_WORDS)], service.BOTTLENECK_WORDS,
                                                 strict=True):
            out += service._assumptions(workload)
            est = dataclasses.replace(estimate(workload, chip, 8 * units), bottleneck=bottleneck)
            hours = (central * 0.8, central, central * 1.5)
            cost = tuple(int(h * 8000 * units) for h in hours)
            cand = Candidate(product, datacenter, chip, units, est, hours, cost, 8000 * units)
            item = service._item(cand, deadline)
            out += [from_json(item["reason_message"]), from_json(item["billing"]["reason_message"])]
            out += [from_json(m) for m in item["note_messages"]]
            for alt in item["billing"]["alternatives"]:
                out += [from_json(alt[k]) for k in ("reason_message", "why_not_message") if k in alt]
    return out


@pytest.fixture(scope="module")
def sentences() -> list[Message]:
    return estimator_notes() + advisor_sentences()


def test_every_note_and_reason_the_engines_can_write_is_produced_here(sentences):
    """The spread above reaches every template of the estimator and the advisor, so the next test checks them all."""
    produced = {t for s in sentences for t in templates(s)}
    written = {msgid for msgid, files in extract_messages().items()
               if any(f.startswith(("core/estimates/", "advisor/service.py")) for f in files)}
    unreachable = {"%(ecosystem)s (%(ecosystem_zh)s): %(notes)s Frameworks: %(frameworks)s.",  # a new ecosystem
                   "Huawei CANN"}  # Ascend has its own QLoRA note
    assert written - unreachable - produced == set()


def test_every_sentence_reads_in_chinese_with_no_english_words_left(sentences):
    seen = set()
    for sentence in sentences:
        english, chinese = str(sentence), say(sentence, ZH)
        if english in seen:
            continue
        seen.add(english)
        assert say(sentence, EN) == english
        assert chinese != english and CJK_TEXT.search(chinese), english
        assert not english_left(chinese), (english, chinese, english_left(chinese))
        assert "%(" not in chinese and "%(" not in english
        assert say(to_json(sentence), ZH) == chinese  # the stored form reads the same


def test_figures_pass_through_translation_unchanged():
    chip = load_chip_table()["a100"]
    est = estimate(LLMTraining(method="full", params_b=70.0, tokens=10**9), chip, 1)
    note = next(n for n in est.notes if str(n).startswith("does not fit"))
    figures = re.findall(r"\d+(?:\.\d+)?", str(note))
    assert figures and re.findall(r"\d+(?:\.\d+)?", say(note, ZH)) == figures
    assert say(note, ZH).startswith("显存不够：每张卡需要")


def test_the_ecosystem_notes_are_the_chip_tables_words():
    """ECOSYSTEM_NOTES writes out the sentence built from core.chips (so it can be translated): they stay equal."""
    for key, eco in ECOSYSTEMS.items():
        if key == "cuda":
            continue
        assert str(ECOSYSTEM_NOTES[key]) == (f"{eco.name} ({eco.name_zh}): {eco.notes} Frameworks: "
                                             f"{', '.join(eco.frameworks)}.")
        assert str(ECOSYSTEM_NAMES[key]) == eco.name
        assert say(ECOSYSTEM_NAMES[key], ZH) == eco.name_zh


def test_the_estimate_response_gives_each_note_in_english_and_as_a_message():
    body = EstimateIn.model_validate({"workload": {"kind": "llm_finetune", "method": "qlora", "params_b": 70,
                                                   "tokens": 10**8}, "chip": "910B", "count": 16})
    out = EstimateOut.model_validate(service.run_estimate(body)).model_dump(mode="json")
    notes, messages = out["estimate"]["notes"], out["estimate"]["note_messages"]
    assert len(notes) >= 4 and len(messages) == len(notes)
    assert [render(from_json(m)) for m in messages] == notes
    assert all(say(m, ZH) != n and CJK_TEXT.search(say(m, ZH)) for m, n in zip(messages, notes, strict=True))
