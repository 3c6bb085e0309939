"""Splitting a query string into tokens (bare words, quoted values, operators, commas)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from suanli.core.query.model import QueryError

MAX_FRAGMENT = 80  # longest text fragment echoed back in a syntax error
WS_RE = re.compile(r"\s")


_BARE_CHARS = r"""[^\s,"'=<>!]"""
BARE_RE = re.compile(_BARE_CHARS + "+")
_TOKEN_RE = re.compile(
    rf"""
      (?P<ws>\s+)
    | (?P<op>!=|<=|>=|=|<|>)
    | (?P<comma>,)
    | (?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<word>{_BARE_CHARS}+)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPABLE = frozenset("\\\"'")


@dataclass(frozen=True)
class Token:
    kind: str  # "op", "comma", "quoted", "word"
    start: int
    end: int
    raw: str  # the source text of the token
    value: str  # the value: raw text for words, unescaped body for quoted strings


def _fragment(text: str, start: int, pos: int) -> str:
    """The source text from ``start`` to the first whitespace at/after ``pos``."""
    match = WS_RE.search(text, pos)
    end = match.start() if match else len(text)
    frag = text[start:end]
    return frag if len(frag) <= MAX_FRAGMENT else frag[: MAX_FRAGMENT - 1] + "…"


def syntax_error(text: str, pos: int, problem: str, start: int | None = None, *, fragment: str | None = None,
                 kind: str = "other") -> QueryError:
    """``kind`` names the problem for clients that say it in other words (``expected_operator``, ...)."""
    frag = _fragment(text, pos if start is None else start, pos) if fragment is None else fragment
    shown = f" near '{frag}'" if frag else ""
    return QueryError(
        "syntax_error",
        f"Syntax error at position {pos}{shown}: {problem}",
        {"position": pos, "text": frag, "problem": kind},
    )


def _unquote(text: str, start: int, raw: str) -> str:
    body = raw[1:-1]

    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        if char not in _ESCAPABLE:
            pos = start + 1 + match.start()
            raise syntax_error(
                text,
                pos,
                f"unknown escape '\\{char}' in a quoted value. Inside quotes only \\\\, \\\" and \\' are "
                "escapes; write a literal backslash as \\\\.",
                fragment=raw if len(raw) <= MAX_FRAGMENT else raw[: MAX_FRAGMENT - 1] + "…",
                kind="unknown_escape",
            )
        return char

    return _ESCAPE_RE.sub(replace, body)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'":
                rest = text[pos:]
                raise syntax_error(
                    text,
                    pos,
                    f"unterminated quoted value; close it with a matching {char}.",
                    fragment=rest if len(rest) <= MAX_FRAGMENT else rest[: MAX_FRAGMENT - 1] + "…",
                    kind="unterminated_quote",
                )
            # The only other unmatched character is a lone "!".
            raise syntax_error(text, pos, "unexpected '!'. Use '!=' for 'not equal'.", kind="lone_bang")
        kind = match.lastgroup
        assert kind is not None
        raw = match.group()
        if kind != "ws":
            value = _unquote(text, pos, raw) if kind == "quoted" else raw
            tokens.append(Token(kind, pos, match.end(), raw, value))
        pos = match.end()
    return tokens
