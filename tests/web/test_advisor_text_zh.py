"""The advisor page shows the advisor's billing reasons and the estimator's notes in the page's language: Chinese
by default, the API's English sentences with ?lang=en."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from web_support import WebClient

QUERY = ("kind=llm_finetune&params_b=7&tokens=100000000&method=lora&deadline_hours=48"
         "&ecosystems=cuda&ecosystems=cann&ecosystems=dtk")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def offers(make: Any) -> dict[str, Any]:
    """An A800, an Ascend 910B and a Hygon DCU offer in one data center, so the notes cover domestic chips."""
    seller = make.user("seller")
    dc = make.datacenter(seller, name="芜湖一号数据中心")
    return {"a800": make.product(seller, dc, name="A800 ×8 经济型", price_on_demand_fen=6000),
            "ascend": make.product(seller, dc, name="昇腾 910B ×8", chip="ascend-910b", price_on_demand_fen=7000),
            "dcu": make.product(seller, dc, name="海光 DCU ×8", chip="hygon-dcu-z100", price_on_demand_fen=3000)}


def notes_of(page: str, kinds: str = "note|billing-reason|billing-alternative") -> list[str]:
    """The texts of the billing reasons, alternatives and notes of every recommendation."""
    items = re.findall(rf'(?s)<li data-testid="rec-(?:{kinds})">(.*?)</li>', page)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i))).strip() for i in items]


def english_sentences(make: Any) -> list[str]:
    """What the API says in English for the same request: the sentences the page must not show in Chinese."""
    r = make.client.post("/api/v1/recommendations", json={
        "workload": {"kind": "llm_finetune", "params_b": 7, "tokens": 100000000, "method": "lora"},
        "deadline_hours": 48, "ecosystems": ["cuda", "cann", "dtk"], "limit": 10})
    assert r.status_code == 200, r.text
    out = []
    for item in r.json()["items"]:
        assert len(item["note_messages"]) == len(item["notes"]) and item["reason_message"]["msg"]
        out += [item["billing"]["reason"], *item["notes"]]
        out += [a.get("why_not") or a.get("reason") for a in item["billing"]["alternatives"]]
    return [s for s in out if s]


def test_the_advisor_page_shows_the_notes_in_chinese(web: WebClient, make, offers):
    r = web.get(f"/advisor?{QUERY}")
    assert r.status_code == 200
    page = html.unescape(r.text)
    assert page.count('data-testid="recommendation"') >= 3
    assert "计费建议与估算说明" in page and "英文" not in page and "(English)" not in page
    notes = notes_of(r.text)
    assert len(notes) >= 6
    for note in notes:
        assert CJK.search(note), note
    for sentence in english_sentences(make):
        assert sentence not in page, sentence
    # the domestic chips' notes, in Chinese
    assert "Huawei Ascend 910B 64GB 的效率不确定（公开的大模型实测很少）" in page
    assert "华为昇腾 CANN：昇腾异构计算架构；PyTorch 通过 torch_npu 适配层运行" in page
    assert "海光 DTK：DCU 工具套件" in page and "PyTorch（DTK 版）" in page
    assert "PyTorch (DTK build)" not in page
    assert re.search(r"假设用 ZeRO-3 / FSDP 将权重、梯度和优化器状态完全切分到 \d+ 张卡上", page)


def test_the_advisor_page_shows_the_same_notes_in_english(web: WebClient, make, offers):
    r = web.get(f"/advisor?{QUERY}&lang=en")
    assert r.status_code == 200
    page = html.unescape(r.text)
    assert "Billing advice and the estimator's notes" in page
    english = english_sentences(make)
    assert english and all(sentence in page for sentence in english)
    notes = notes_of(r.text, "note")
    assert len(notes) >= 6 and set(notes) <= set(english)  # the estimator's notes are the API's English
    assert "PyTorch (DTK build)" in page


def test_when_nothing_fits_the_other_ecosystems_are_named_in_the_pages_language(web: WebClient, offers):
    query = "kind=llm_finetune&params_b=7&tokens=100000000&method=lora&deadline_hours=48&ecosystems=xpu"
    page = html.unescape(web.get(f"/advisor?{query}").text)
    assert 'data-testid="no-recommendation"' in page
    assert "英伟达 CUDA、华为昇腾 CANN、海光 DTK" in page and "cuda, cann" not in page
    page = html.unescape(web.get(f"/advisor?{query}&lang=en").text)
    assert "Other ecosystems have options: NVIDIA CUDA, Huawei Ascend CANN, Hygon DTK." in page


def test_the_memory_saving_recipes_are_inputs_of_the_page_and_reach_the_estimate(web: WebClient, make, offers):
    # an 8B full fine-tune: with 8-bit paged moments and offload the page says so, in Chinese by default
    query = ("kind=llm_finetune&params_b=8&tokens=10000000&method=full&optimizer=paged_adamw8bit&cpu_offload=true"
             "&deadline_hours=48&ecosystems=cuda")
    r = web.get(f"/advisor?{query}")
    assert r.status_code == 200
    page = html.unescape(r.text)
    assert "优化器" in page and 'data-testid="cpu-offload" checked' in r.text
    assert '<option value="paged_adamw8bit" selected' in r.text
    notes = " ".join(notes_of(r.text, "note"))
    assert "paged_adamw8bit" in notes and CJK.search(notes)
    english = " ".join(notes_of(web.get(f"/advisor?{query}&lang=en").text, "note"))
    assert "8-bit optimizer moments" in english and "host memory" in english
    # without the recipes, no such note
    plain = " ".join(notes_of(web.get("/advisor?kind=llm_finetune&params_b=8&tokens=10000000&method=full"
                                      "&deadline_hours=48&ecosystems=cuda&lang=en").text, "note"))
    assert "8-bit optimizer moments" not in plain
