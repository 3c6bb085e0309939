"""Every message of the pages has a Chinese translation; money and dates are formatted one way."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from babel.messages.pofile import read_po

from suanli.catalog.schemas import Money
from suanli.web.catalogs import extract_messages
from suanli.web.i18n import (EN, ZH, format_datetime, format_hours, format_money, format_period, gettext_for,
                             merged_catalog, normalize_locale, po_files)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_message_of_templates_and_code_is_translated_to_chinese():
    messages = extract_messages()
    assert len(messages) > 200  # the extractor really read the templates and the code
    catalog = merged_catalog()
    missing = sorted(m for m in messages if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, (f"{len(missing)} messages have no zh_CN translation (run scripts/web_messages.py, then "
                         f"fill in the empty msgstr): {missing[:20]}")


def test_translations_keep_their_placeholders_and_no_msgid_is_translated_twice_differently():
    seen: dict[str, tuple[str, str]] = {}
    for path in po_files():
        with path.open("rb") as handle:
            for message in read_po(handle):
                if not message.id or not message.string:
                    continue
                assert set(_PLACEHOLDER.findall(message.id)) == set(_PLACEHOLDER.findall(message.string)), (
                    f"{path.name}: {message.id!r} and its translation {message.string!r} differ in placeholders")
                earlier = seen.get(message.id)
                assert earlier is None or earlier[1] == message.string, (
                    f"{message.id!r} is translated differently in {earlier[0]} and {path.name}")
                seen[message.id] = (path.name, message.string)


def test_gettext_translates_with_values_and_english_stays_english():
    assert gettext_for(ZH)("%(n)s months", n=3) == "3 个月"
    assert gettext_for(EN)("%(n)s months", n=3) == "3 months"
    assert gettext_for(ZH)("a message nobody wrote") == "a message nobody wrote"


@pytest.mark.parametrize(("value", "text"), [
    (0, "¥0.00"), (5, "¥0.05"), (123456789, "¥1,234,567.89"), (-150, "-¥1.50"), (None, "—"),
    (Money.of(8000), "¥80.00"), ({"fen": 199, "cny": "1.99"}, "¥1.99"),
])
def test_money_is_yuan_with_two_decimals_from_integer_fen(value, text):
    assert format_money(value) == text


def test_money_refuses_what_is_not_money():
    with pytest.raises(TypeError):
        format_money(True)
    with pytest.raises(TypeError):
        format_money(1.5)


def test_dates_are_shown_in_china_standard_time():
    at = dt.datetime(2026, 11, 30, 17, 5, tzinfo=dt.UTC)
    assert format_datetime(at) == "2026-12-01 01:05"
    assert format_datetime(at, time=False) == "2026-12-01"
    assert format_datetime(None) == "—"


def test_periods_are_shown_in_beijing_time_once_per_day():
    start = dt.datetime(2026, 11, 30, 15, 30, tzinfo=dt.UTC)  # 23:30 in Beijing
    assert format_period(start, start + dt.timedelta(minutes=20)) == "2026-11-30 23:30–23:50"
    assert format_period(start, start + dt.timedelta(hours=1)) == "2026-11-30 23:30 – 2026-12-01 00:30"
    assert format_period(start, None) == "2026-11-30 23:30 –"
    assert format_period(None, start) == "—"
    assert format_datetime(start, seconds=True) == "2026-11-30 23:30:00"


def test_hours_read_naturally_in_both_languages():
    assert format_hours(5 / 3600, ZH) == "5 秒"
    assert format_hours(0.5, ZH) == "30 分钟"
    assert format_hours(3.25, EN) == "3.2 h"
    assert format_hours(96, ZH) == "4.0 天"


def test_locale_codes():
    assert normalize_locale("zh") == normalize_locale("zh_CN") == normalize_locale("ZH-cn") == ZH
    assert normalize_locale("en-US") == EN
    assert normalize_locale("fr") is None
