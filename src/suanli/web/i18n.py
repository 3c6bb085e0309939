"""Languages and formatting for the web pages: zh-CN by default, English by a switch.

Messages are English msgids in templates (``{{ _("...") }}``) and code (``_("...")``); their Chinese translations
live in ``locale/zh_CN/LC_MESSAGES/*.po`` (one file per area), merged and compiled in memory with Babel when first
needed: no ``.mo`` files are committed and there is no build step. Money and dates are formatted here, once.
"""

from __future__ import annotations

import datetime as dt
import gettext
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

from suanli.core.china_time import CHINA_TZ
from suanli.core import messages

LOCALE_DIR = Path(__file__).parent / "locale"
ZH = "zh-CN"
EN = "en"
DEFAULT_LOCALE = ZH
LOCALES = (ZH, EN)
LANG_COOKIE = "lang"
_ALIASES = {"zh-cn": ZH, "zh": ZH, "zh_cn": ZH, "zh-hans": ZH, "en": EN, "en-us": EN, "en_us": EN, "en-gb": EN}
# China Standard Time: what every date on the pages is shown in (invoices use CST months too).


def normalize_locale(code: str | None) -> str | None:
    """``zh``, ``zh-CN``, ``zh_CN`` → ``zh-CN``; ``en``, ``en-US`` → ``en``; anything else → None."""
    return _ALIASES.get((code or "").strip().lower())


def request_locale(request: Request) -> str:
    """``?lang=`` wins, then the ``lang`` cookie (set by ``/lang/{code}``), then zh-CN."""
    return (normalize_locale(request.query_params.get("lang")) or normalize_locale(request.cookies.get(LANG_COOKIE))
            or DEFAULT_LOCALE)


def po_files() -> list[Path]:
    return sorted((LOCALE_DIR / "zh_CN" / "LC_MESSAGES").glob("*.po"))


def merged_catalog() -> Catalog:
    """Every ``.po`` file of zh_CN in one catalog (the first file, by name, wins a msgid given twice)."""
    catalog = Catalog(locale="zh_CN", domain="suanli")
    for path in po_files():
        with path.open("rb") as handle:
            part = read_po(handle, locale="zh_CN")
        for message in part:
            if message.id and message.id not in catalog:
                catalog[message.id] = message
    return catalog


@cache
def translations(locale: str) -> gettext.NullTranslations:
    if locale != ZH:
        return gettext.NullTranslations()
    buffer = BytesIO()
    write_mo(buffer, merged_catalog())
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(locale: str):
    """``_`` for Python code: ``_("Hello %(name)s", name=...)`` like the templates' new-style gettext."""
    base = translations(locale).gettext

    def _(message: str, **values: Any) -> str:
        text = base(message)
        return text % values if values else text

    return _


def say(value: Any, locale: str) -> str:
    """What an engine composed (a :class:`~suanli.core.messages.Message`, clauses of them, their stored JSON, or
    plain text) in the page's language."""
    data = messages.from_json(value) if isinstance(value, (dict, list)) else value
    if locale != ZH:
        return messages.render(data)
    return messages.render(data, translations(locale).gettext, separator="；")


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translate it where it is shown."""
    return message


# ---------------------------------------------------------------- formatting: one helper for money and dates

def fen_of(value: Any) -> int | None:
    """Integer fen from an int, a ``Money`` model or its ``{"fen", "cny"}`` dict."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount of money")
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return int(value["fen"])
    fen = getattr(value, "fen", None)
    if fen is None:
        raise TypeError(f"not an amount of money: {value!r}")
    return int(fen)


def format_money(value: Any, *, sign: bool = False) -> str:
    """``¥1,234.56`` from integer fen (or Money): two decimals, thousands separators, ``—`` for none."""
    fen = fen_of(value)
    if fen is None:
        return "—"
    amount = Decimal(abs(fen)) / 100
    text = f"¥{amount:,.2f}"
    if fen < 0:
        return "-" + text
    return ("+" + text) if sign and fen > 0 else text


def format_rate(value: Any, per: str) -> str:
    """A price per unit, written one way on every page: ``¥16.99/小时``, ``¥8,000.00/month`` (no spaces around
    the slash; the pages keep it on one line with the ``money`` class)."""
    return f"{format_money(value)}/{per}"


def format_percent(value: float | int | Decimal | None, digits: int = 2) -> str:
    """A percentage, written one way on every page: ``5%``, ``12.5%``, ``0.35%`` (at most ``digits`` decimals,
    no trailing zeros, no space before the sign); ``—`` for none."""
    if value is None:
        return "—"
    text = f"{Decimal(str(value)):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return ("0" if text in ("-0", "") else text) + "%"


def format_datetime(value: dt.datetime | None, *, time: bool = True, seconds: bool = False) -> str:
    """China Standard Time, ``2026-11-28 14:05`` (``seconds``: ``14:05:09``; or only the date); ``—`` for none."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(CHINA_TZ)
    return local.strftime(("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") if time else "%Y-%m-%d")


def format_period(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """``2026-11-28 16:00–16:30`` (one Beijing day), ``2026-11-28 16:00 – 2026-12-01 09:00``, ``2026-11-28 16:00 –``
    (no end yet); ``—`` without a start."""
    if start is None:
        return "—"
    first = format_datetime(start)
    if end is None:
        return f"{first} –"
    last = format_datetime(end)
    return f"{first}–{last[11:]}" if last[:10] == first[:10] else f"{first} – {last}"


def format_number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def format_hours(hours: float | None, locale: str) -> str:
    """``45 min``, ``3.2 h``, ``4.5 days`` (in the page's language); ``—`` for none."""
    if hours is None:
        return "—"
    _ = gettext_for(locale)
    if hours * 3600 < 59.5:
        return _("%(n)s s", n=f"{hours * 3600:.0f}")
    if hours < 1:
        return _("%(n)s min", n=f"{hours * 60:.0f}")
    if hours < 48:
        return _("%(n)s h", n=f"{hours:.1f}")
    return _("%(n)s days", n=f"{hours / 24:.1f}")
