"""Engine sentences: English by default, stored as JSON, translated template by template with the same values."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from suanli.core.messages import Message, from_json, join, msg, render, to_json

ZH = {"cheapest offer: %(price)s/h for %(what)s": "最便宜的报价：%(what)s，每小时 %(price)s",
      "%(n)s units of %(chip)s": "%(n)s 个 %(chip)s 单元",
      "the only feasible offer": "唯一可行的报价",
      "spot": "竞价"}


def reason() -> tuple[Message, ...]:
    return join([msg("cheapest offer: %(price)s/h for %(what)s", price="¥12.50",
                     what=msg("%(n)s units of %(chip)s", n=2, chip="A100")),
                 None, msg("the only feasible offer")])


def test_english_is_the_template_filled_in_and_clauses_are_joined():
    assert render(reason()) == "cheapest offer: ¥12.50/h for 2 units of A100; the only feasible offer"
    assert str(msg("spot")) == "spot"


def test_every_template_is_translated_including_nested_values():
    text = render(reason(), lambda t: ZH.get(t, t), separator="；")
    assert text == "最便宜的报价：2 个 A100 单元，每小时 ¥12.50；唯一可行的报价"


def test_a_translation_that_lost_a_placeholder_falls_back_to_english_instead_of_failing():
    broken = {"cheapest offer: %(price)s/h for %(what)s": "最便宜的报价：%(cost)s"}
    text = render(reason()[0], lambda t: broken.get(t, t))
    assert text == "cheapest offer: ¥12.50/h for 2 units of A100"


def test_json_round_trip_keeps_the_message_and_plain_text_stays_text():
    stored = json.loads(json.dumps(to_json(reason())))
    assert from_json(stored) == reason()
    assert from_json("an older row's plain text") == "an older row's plain text"
    assert render(from_json("an older row's plain text")) == "an older row's plain text"
    assert render(None) == ""


_values = st.one_of(st.text(max_size=8), st.integers(-10**6, 10**6))


@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), _values, max_size=4))
def test_any_values_survive_storage_and_render_the_same(args):
    template = " ".join(f"%({k})s" for k in args) or "nothing"
    message = Message(template, args)
    again = from_json(json.loads(json.dumps(to_json(message))))
    assert render(again) == render(message)
