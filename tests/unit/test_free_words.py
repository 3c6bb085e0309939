"""Free words in the search box read as the strict query language (`suanli.catalog.free_words`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.catalog.free_words import Places, interpret
from suanli.catalog.search import FIELDS, SORTS
from suanli.core.query import Condition, QueryError, SortKey, parse_query

PLACES = Places(provinces=frozenset({"安徽", "四川", "贵州"}), cities=frozenset({"芜湖", "合肥", "成都"}),
                hubs=frozenset({"长三角", "成渝"}), datacenter_named=lambda name: name in ("芜湖一号", "合肥 智算 中心"))


def read(text: str):
    return interpret(text, FIELDS, list(SORTS), PLACES)


def conditions(text: str) -> set[tuple[str, str, tuple]]:
    return {(c.field, c.op, c.values) for c in read(text).query.conditions}


@pytest.mark.parametrize(("text", "expected"), [
    ("A800", {("chip", "=", ("a800",))}),
    ("a800", {("chip", "=", ("a800",))}),
    ("昇腾 910B 8卡", {("chip", "=", ("ascend-910b",)), ("accelerators", ">=", (8,))}),
    ("昇腾910B", {("chip", "=", ("ascend-910b",))}),
    ("910B ×8", {("chip", "=", ("ascend-910b",)), ("accelerators", ">=", (8,))}),
    ("A800×8", {("chip", "=", ("a800",)), ("accelerators", ">=", (8,))}),
    ("8x H100 PCIe", {("accelerators", ">=", (8,)), ("chip", "=", ("h100-pcie",))}),
    ("八卡 4090", {("accelerators", ">=", (8,)), ("chip", "=", ("rtx4090",))}),
    ("8 卡", {("accelerators", ">=", (8,))}),
    ("昇腾", {("vendor", "=", ("huawei",))}),
    ("海光", {("vendor", "=", ("hygon",))}),
    ("寒武纪 昆仑芯", {("vendor", "=", ("cambricon", "kunlunxin"))}),
    ("英伟达", {("vendor", "=", ("nvidia",))}),
    ("国产", {("vendor", "=", ("huawei", "hygon", "cambricon", "kunlunxin"))}),
    ("cann", {("ecosystem", "=", ("cann",))}),
    ("安徽省", {("province", "=", ("安徽",))}),
    ("安徽芜湖", {("province", "=", ("安徽",)), ("city", "=", ("芜湖",))}),
    ("芜湖市", {("city", "=", ("芜湖",))}),
    ("长三角", {("hub", "=", ("长三角",))}),
    ("芜湖一号", {("datacenter", "=", ("芜湖一号",))}),
    ('"合肥 智算 中心"', {("datacenter", "=", ("合肥 智算 中心",))}),
    ("合肥 智算 中心", {("datacenter", "=", ("合肥 智算 中心",))}),
    ("A800 H800", {("chip", "=", ("a800", "h800"))}),
    ("100元以下", {("price", "<=", (Decimal(100),))}),
    ("不超过12.5元", {("price", "<=", (Decimal("12.5"),))}),
    ("80G显存", {("accel_memory", ">=", (80,))}),
    ("竞价 现货 容器", {("mode", "=", ("spot",)), ("available", "=", (True,)), ("delivery", "=", ("container",))}),
    ("租 一台 的 GPU 服务器", set()),
    ("A800 price<=100", {("chip", "=", ("a800",)), ("price", "<=", (Decimal(100),))}),
])
def test_free_words_become_conditions(text, expected):
    assert conditions(text) == expected


def test_sort_words_and_the_query_language_sort():
    assert read("A800 最便宜").query.sort == SortKey("price")
    assert read("性价比").query.sort == SortKey("price_per_pflops")
    assert read("A800 sort=-pflops").query.sort == SortKey("pflops", descending=True)
    with pytest.raises(QueryError) as caught:
        read("A800 sort=price 最便宜")
    assert caught.value.code == "syntax_error"
    assert caught.value.details["position"] == 16 and caught.value.details["problem"] == "two_sorts"


def test_the_strict_language_is_unchanged():
    text = "chip=910B accelerators>=8 price<=100 sort=ppp"
    assert read(text).query == parse_query(text, FIELDS, list(SORTS))
    assert all(r.exact for r in read(text).readings)


@pytest.mark.parametrize(("text", "code", "position"), [
    ("A800 foo", "unknown_word", 5),
    ("昇腾 910B 8卡 zzz", "unknown_word", 11),
    ("A800 chip=", "syntax_error", 10),  # the position in the text typed, not in a text the server built
    ("A800 <=5", "unknown_field", 0),  # `FIELD OP VALUE` may have spaces: A800 is read as a field
    ("<=5 A800", "syntax_error", 0),
    ("A800 price<=abc", "invalid_value", 5),
    ("A800 chipp=a800", "unknown_field", 5),
    ("A800 2000卡", "out_of_range", 5),
    ("8卡 2000卡", "out_of_range", 3),
    ('A800 "oops', "syntax_error", 5),
    ("chip=a800price<=80", "syntax_error", 14),
])
def test_errors_point_at_what_the_user_typed(text, code, position):
    with pytest.raises(QueryError) as caught:
        read(text)
    assert caught.value.code == code, caught.value
    assert caught.value.details["position"] == position


def test_unknown_word_suggests_a_spelling():
    with pytest.raises(QueryError) as caught:
        read("A8000")
    assert caught.value.details["suggestion"] is not None
    assert "A8000" in caught.value.message


def test_readings_point_at_their_words_and_can_be_removed():
    text = "昇腾 910B 8卡 安徽 最便宜"
    understood = read(text)
    for reading in understood.filters:
        assert text[reading.start:reading.end].replace(" ", "") == reading.text.replace(" ", "")
    by_field = {r.condition.field: r for r in understood.filters if r.condition}
    assert understood.without(by_field["accelerators"]) == "昇腾 910B 安徽 最便宜"
    assert understood.without_sort() == "昇腾 910B 8卡 安徽"
    assert read(understood.without(by_field["province"])).query_text == "chip=ascend-910b accelerators>=8 sort=price"


PHRASES = ["A800", "910B", "昇腾", "8卡", "×4", "安徽", "芜湖", "国产", "100元以下", "现货", "容器", "chip=h800",
           "price<=50", "accelerators>=2", "80G", "海光", "长三角", "的"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PHRASES), min_size=1, max_size=6))
def test_any_mix_of_known_phrases_is_understood_and_strict(words):
    text = " ".join(words)
    understood = read(text)
    # what was searched is itself valid query language, and reads back the same
    assert parse_query(understood.query_text, FIELDS, list(SORTS)) == understood.query
    assert read(understood.query_text).query == understood.query
    # every word but the filler is part of a filter shown back to the user
    covered = {i for r in understood.filters for i in range(r.start, r.end)}
    position = 0
    for word in words:
        if word != "的":
            assert set(range(position, position + len(word))) <= covered, (word, understood.readings)
        position += len(word) + 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("A8卡昇腾 x=<>!,\"'安徽芜湖0.9bcp_-元以下")), max_size=30))
def test_any_text_is_understood_or_refused_with_a_position_inside_it(text):
    try:
        understood = read(text)
    except QueryError as exc:
        position = exc.details.get("position")
        if position is not None:
            assert 0 <= position <= len(text), (text, exc)
        return
    for reading in understood.readings:
        assert 0 <= reading.start <= reading.end <= len(text)
    for condition in understood.query.conditions:
        assert isinstance(condition, Condition)
