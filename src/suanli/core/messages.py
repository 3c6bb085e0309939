"""Sentences the engines compose, kept translatable: an English template with named values.

The scheduler's reasons and the estimator's notes are written as ``msg("cheapest offer: %(price)s/h", price=...)``
instead of f-strings. ``str()`` of a :class:`Message` is the English sentence (what the API and the CLI show, as
before); :func:`to_json` / :func:`from_json` store it (template and values) so that the web pages can translate the
template with the page's gettext catalog and fill in the same values (:func:`render` with a translate function).

A value may itself be a Message (translated in turn: a word like ``msg("spot")``), or a sequence of Messages (joined
with "; " in English, "；" in Chinese, as clauses of one reason). Every other value is shown as it is: format
numbers and money before passing them (``format_cny``), so both languages show the same figures.

The templates are extracted for the web catalogs by the ``msg`` keyword (:mod:`suanli.web.catalogs`): write the
template as a string literal in the call, never a variable or an f-string, or the extractor cannot see it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Message", "Text", "clip", "from_json", "join", "msg", "render", "to_json"]

Value = Union["Message", Sequence["Message"], str, int, float]
Text = Union["Message", Sequence["Message"], str]  # what an engine hands out: one message, clauses, or plain text


@dataclass(frozen=True, slots=True)
class Message:
    template: str
    args: Mapping[str, Value] = field(default_factory=dict)

    def __str__(self) -> str:
        return render(self)


def msg(template: str, /, **args: Value) -> Message:
    """One translatable sentence (or phrase): ``template`` is English with ``%(name)s`` placeholders."""
    return Message(template, args)


def join(parts: Sequence[Message | None]) -> tuple[Message, ...]:
    """Clauses of one reason, leaving out the ``None`` ones."""
    return tuple(p for p in parts if p is not None)


def clip(text: Text | None, limit: int = 1000) -> Text:
    """Free text (a backend's or a cluster's own words, not translated) cut to ``limit`` characters to fit a column;
    a sentence composed with :func:`msg` (short by construction) is kept whole, and so translatable."""
    if text is None or isinstance(text, str):
        return (text or "")[:limit]
    return text


def _identity(text: str) -> str:
    return text


def render(value: Text | Value | None, translate: Callable[[str], str] = _identity, separator: str = "; ") -> str:
    """The sentence in the language of ``translate`` (a gettext function; English when omitted)."""
    if value is None:
        return ""
    if isinstance(value, Message):
        text = translate(value.template)
        if not value.args:
            return text
        values = {k: render(v, translate, separator) for k, v in value.args.items()}
        try:
            return text % values
        except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder: fall back to English
            return value.template % values
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return separator.join(render(v, translate, separator) for v in value)
    return str(value)


def to_json(value: Text | Value | None) -> Any:
    """JSON-able form: ``{"msg": template, "args": {...}}``, lists for clauses, plain values as they are."""
    if isinstance(value, Message):
        return {"msg": value.template, "args": {k: to_json(v) for k, v in value.args.items()}}
    if isinstance(value, (str, int, float)) or value is None:
        return value
    return [to_json(v) for v in value]


def from_json(data: Any) -> Any:
    """The inverse of :func:`to_json` (plain text stays text, so rows written before messages still read)."""
    if isinstance(data, dict) and "msg" in data:
        return Message(str(data["msg"]), {str(k): from_json(v) for k, v in (data.get("args") or {}).items()})
    if isinstance(data, list):
        return tuple(from_json(v) for v in data)
    return data
