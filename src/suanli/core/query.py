"""The compact, strict catalog query language.

Buyers search the compute catalog with a short query string that is shared by
the HTTP API (``GET /api/v1/products?q=...``) and the CLI
(``suanli search '<query>'``)::

    chip=A800 accelerators>=8 province=安徽 price<=60 sort=price_per_pflops
    vendor=huawei,hygon mem>=64 available=true sort=-price
    datacenter="芜湖 一号 数据中心" delivery=container sort=pflops:desc

Grammar (whitespace separates conditions; it is also allowed around operators
and commas)::

    query     := condition*                      (empty query = no filter, no sort)
    condition := FIELD OP value ("," value)*     (a list means IN / NOT IN; only with = and !=)
               | "sort" "=" ["-"] FIELD [":" ("asc" | "desc")]
    OP        := "=" | "!=" | "<" | "<=" | ">" | ">="
    value     := BARE | '"' ... '"' | "'" ... "'"  (quoted values may contain anything;
                                                    escapes: \\\\  \\"  \\')
    BARE      := one or more characters except whitespace , " ' = < > !

The grammar is generic: the caller supplies the field table (:class:`FieldSpec`)
and the list of sortable fields.  Parsing is strict: nothing is ever silently
ignored, and every problem raises :class:`QueryError` with a machine-readable
``code``, a human ``message`` that says what to do, and JSON-serialisable
``details``.

This module is pure domain code: no I/O and no dependencies outside the
standard library.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias

__all__ = [
    "ALL_OPS",
    "Condition",
    "FieldSpec",
    "FieldType",
    "Query",
    "QueryError",
    "SortKey",
    "Value",
    "describe_fields",
    "format_query",
    "parse_query",
]

Value: TypeAlias = str | int | Decimal | bool

#: Every comparison operator, in display order.
ALL_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")
_EQUALITY_OPS = frozenset({"=", "!="})
_SORT_KEYWORD = "sort"
_MAX_FRAGMENT = 80  # longest text fragment echoed back in a syntax error
_WS_RE = re.compile(r"\s")


# --------------------------------------------------------------------------- #
# Field table
# --------------------------------------------------------------------------- #


class FieldType(StrEnum):
    STR = "str"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    ENUM = "enum"


_DEFAULT_OPS: dict[FieldType, frozenset[str]] = {
    FieldType.STR: _EQUALITY_OPS,
    FieldType.ENUM: _EQUALITY_OPS,
    FieldType.BOOL: _EQUALITY_OPS,
    FieldType.INT: frozenset(ALL_OPS),
    FieldType.DECIMAL: frozenset(ALL_OPS),
}

# Field names (and aliases) are identifiers: a letter or "_" (any script), then
# letters, digits or "_".
_IDENT_RE = re.compile(r"[^\W\d]\w*")


@dataclass(frozen=True)
class FieldSpec:
    """One filterable field of the catalog.

    ``ops`` defaults by type: STR/ENUM/BOOL -> ``=``, ``!=``; INT/DECIMAL -> all
    six operators.  ``choices`` are required for (and only allowed on) ENUM
    fields; ``min_value``/``max_value`` only on INT/DECIMAL fields.  Invalid
    specs raise :class:`ValueError` (a programming error, not a user error).
    """

    name: str
    type: FieldType
    description: str
    ops: frozenset[str] = None  # type: ignore[assignment]  # None -> default for the type
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    unit: str = ""
    min_value: Decimal | None = None
    max_value: Decimal | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        ftype = FieldType(self.type)
        set_(self, "type", ftype)
        if not isinstance(self.name, str) or not _IDENT_RE.fullmatch(self.name):
            raise ValueError(f"field name {self.name!r} is not an identifier")
        if isinstance(self.ops, str):
            raise ValueError(f"field {self.name!r}: ops must be a collection of operators, not a string")
        ops = _DEFAULT_OPS[ftype] if self.ops is None else frozenset(self.ops)
        if not ops or not ops <= frozenset(ALL_OPS):
            raise ValueError(f"field {self.name!r}: ops must be a non-empty subset of {ALL_OPS}")
        set_(self, "ops", ops)
        set_(self, "choices", tuple(self.choices))
        set_(self, "aliases", tuple(self.aliases))
        for alias in self.aliases:
            if not isinstance(alias, str) or not _IDENT_RE.fullmatch(alias):
                raise ValueError(f"field {self.name!r}: alias {alias!r} is not an identifier")
        if ftype is FieldType.ENUM:
            if not self.choices:
                raise ValueError(f"ENUM field {self.name!r} needs choices")
            folded = [c.casefold() for c in self.choices]
            if any(not c for c in self.choices) or len(set(folded)) != len(folded):
                raise ValueError(f"field {self.name!r}: choices must be non-empty and unique (ignoring case)")
        elif self.choices:
            raise ValueError(f"field {self.name!r}: choices are only allowed on ENUM fields")
        for attr in ("min_value", "max_value"):
            bound = getattr(self, attr)
            if bound is None:
                continue
            if ftype not in (FieldType.INT, FieldType.DECIMAL):
                raise ValueError(f"field {self.name!r}: {attr} is only allowed on INT/DECIMAL fields")
            if isinstance(bound, float) or isinstance(bound, bool):
                raise ValueError(f"field {self.name!r}: {attr} must be a Decimal or int, not {type(bound).__name__}")
            bound = Decimal(bound)
            if not bound.is_finite():
                raise ValueError(f"field {self.name!r}: {attr} must be finite")
            set_(self, attr, bound)
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"field {self.name!r}: min_value is greater than max_value")

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name followed by the aliases."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Condition:
    """``field op value`` (several values only for ``=``/``!=``: IN / NOT IN)."""

    field: str
    op: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...] = ()
    sort: SortKey | None = None


class QueryError(ValueError):
    """A user error in a query string.

    ``code`` is one of ``unknown_field``, ``invalid_operator``,
    ``invalid_value``, ``out_of_range``, ``invalid_sort``, ``syntax_error``.
    ``details`` contains only JSON-serialisable values.
    """

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"QueryError(code={self.code!r}, message={self.message!r}, details={self.details!r})"


@dataclass(frozen=True)
class _Table:
    """The validated, case-insensitive lookup structures for one field table."""

    specs: tuple[FieldSpec, ...]
    by_name: dict[str, FieldSpec]  # casefolded name or alias -> spec
    sort_fields: tuple[str, ...]
    sort_by_name: dict[str, str]  # casefolded sort name or alias -> canonical sort field

    @classmethod
    def build(cls, fields: Mapping[str, FieldSpec] | Sequence[FieldSpec], sort_fields: Sequence[str]) -> _Table:
        if isinstance(fields, Mapping):
            for key, spec in fields.items():
                if key != spec.name:
                    raise ValueError(f"field table key {key!r} does not match FieldSpec name {spec.name!r}")
            specs = tuple(fields.values())
        else:
            specs = tuple(fields)
        by_name: dict[str, FieldSpec] = {}
        for spec in specs:
            if not isinstance(spec, FieldSpec):
                raise TypeError(f"expected FieldSpec, got {type(spec).__name__}")
            for name in spec.names:
                key = name.casefold()
                if key == _SORT_KEYWORD:
                    raise ValueError(f"{name!r} is reserved for sorting and cannot be a field name")
                if key in by_name:
                    raise ValueError(f"field name or alias {name!r} is used twice")
                by_name[key] = spec
        if isinstance(sort_fields, str):
            raise TypeError("sort_fields must be a sequence of names, not a string")
        sort_tuple = tuple(sort_fields)
        sort_by_name: dict[str, str] = {}
        for name in sort_tuple:
            if not isinstance(name, str) or not _IDENT_RE.fullmatch(name):
                raise ValueError(f"sort field {name!r} is not an identifier")
            if name.casefold() in sort_by_name:
                raise ValueError(f"sort field {name!r} is listed twice")
            sort_by_name[name.casefold()] = name
        # Aliases of sortable fields work for sorting too (sort=mem).
        for name in sort_tuple:
            spec = by_name.get(name.casefold())
            if spec is not None and spec.name == name:
                for alias in spec.aliases:
                    sort_by_name.setdefault(alias.casefold(), name)
        return cls(specs, by_name, sort_tuple, sort_by_name)

    @property
    def field_names(self) -> list[str]:
        return [spec.name for spec in self.specs]


# --------------------------------------------------------------------------- #
# Tokenizer
# --------------------------------------------------------------------------- #

_BARE_CHARS = r"""[^\s,"'=<>!]"""
_BARE_RE = re.compile(_BARE_CHARS + "+")
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
class _Token:
    kind: str  # "op", "comma", "quoted", "word"
    start: int
    end: int
    raw: str  # the source text of the token
    value: str  # the value: raw text for words, unescaped body for quoted strings


def _fragment(text: str, start: int, pos: int) -> str:
    """The source text from ``start`` to the first whitespace at/after ``pos``."""
    match = _WS_RE.search(text, pos)
    end = match.start() if match else len(text)
    frag = text[start:end]
    return frag if len(frag) <= _MAX_FRAGMENT else frag[: _MAX_FRAGMENT - 1] + "…"


def _syntax_error(text: str, pos: int, problem: str, start: int | None = None, *, fragment: str | None = None) -> QueryError:
    frag = _fragment(text, pos if start is None else start, pos) if fragment is None else fragment
    shown = f" near '{frag}'" if frag else ""
    return QueryError(
        "syntax_error",
        f"Syntax error at position {pos}{shown}: {problem}",
        {"position": pos, "text": frag},
    )


def _unquote(text: str, start: int, raw: str) -> str:
    body = raw[1:-1]

    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        if char not in _ESCAPABLE:
            pos = start + 1 + match.start()
            raise _syntax_error(
                text,
                pos,
                f"unknown escape '\\{char}' in a quoted value. Inside quotes only \\\\, \\\" and \\' are "
                "escapes; write a literal backslash as \\\\.",
                fragment=raw if len(raw) <= _MAX_FRAGMENT else raw[: _MAX_FRAGMENT - 1] + "…",
            )
        return char

    return _ESCAPE_RE.sub(replace, body)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'":
                rest = text[pos:]
                raise _syntax_error(
                    text,
                    pos,
                    f"unterminated quoted value; close it with a matching {char}.",
                    fragment=rest if len(rest) <= _MAX_FRAGMENT else rest[: _MAX_FRAGMENT - 1] + "…",
                )
            # The only other unmatched character is a lone "!".
            raise _syntax_error(text, pos, "unexpected '!'. Use '!=' for 'not equal'.")
        kind = match.lastgroup
        assert kind is not None
        raw = match.group()
        if kind != "ws":
            value = _unquote(text, pos, raw) if kind == "quoted" else raw
            tokens.append(_Token(kind, pos, match.end(), raw, value))
        pos = match.end()
    return tokens


# --------------------------------------------------------------------------- #
# Parser
# --------------------------------------------------------------------------- #

_OPS_TEXT = ", ".join(ALL_OPS)
_INT_RE = re.compile(r"-?[0-9]+")
_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_BOOL_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_SORT_VALUE_RE = re.compile(r"(?P<minus>-)?(?P<field>[^:]*)(?::(?P<dir>.*))?", re.DOTALL)


@dataclass(frozen=True)
class _RawCondition:
    field: _Token
    op: _Token
    values: tuple[_Token, ...]

    @property
    def start(self) -> int:
        return self.field.start


def _parse_terms(text: str, tokens: list[_Token]) -> list[_RawCondition]:
    """Group the tokens into ``FIELD OP value[,value...]`` terms (syntax only)."""
    terms: list[_RawCondition] = []
    i = 0
    prev_end: int | None = None
    while i < len(tokens):
        tok = tokens[i]
        if prev_end is not None and tok.start == prev_end:
            raise _syntax_error(
                text,
                tok.start,
                f"'{tok.raw}' follows the previous value without a space. Separate conditions with "
                "whitespace, and quote values that contain special characters.",
            )
        if tok.kind != "word" or not _IDENT_RE.fullmatch(tok.raw):
            raise _syntax_error(
                text,
                tok.start,
                f"expected a field name, found '{tok.raw}'. Write conditions as FIELD OP VALUE, e.g. chip=A800.",
            )
        field_tok = tok
        i += 1
        if i >= len(tokens) or tokens[i].kind != "op":
            found = f"found '{tokens[i].raw}'" if i < len(tokens) else "reached the end of the query"
            raise _syntax_error(
                text,
                field_tok.start,
                f"'{field_tok.raw}' is not a condition: expected an operator ({_OPS_TEXT}) after it but {found}. "
                "Write conditions as FIELD OP VALUE, e.g. chip=A800; to search for a value, name its field.",
            )
        op_tok = tokens[i]
        i += 1
        values: list[_Token] = []
        after = op_tok
        while True:
            if i >= len(tokens) or tokens[i].kind not in ("word", "quoted"):
                found = f"found '{tokens[i].raw}'" if i < len(tokens) else "reached the end of the query"
                raise _syntax_error(
                    text,
                    tokens[i].start if i < len(tokens) else len(text),
                    f"expected a value after '{after.raw}' but {found}. "
                    f"Put a value after the operator, e.g. {field_tok.raw}{op_tok.raw}VALUE "
                    '(quote it if it contains spaces or any of , = < > ! " \').',
                    start=field_tok.start,
                )
            values.append(tokens[i])
            i += 1
            if i < len(tokens) and tokens[i].kind == "comma":
                after = tokens[i]
                i += 1
                continue
            break
        terms.append(_RawCondition(field_tok, op_tok, tuple(values)))
        prev_end = values[-1].end
    return terms


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    by_folded: dict[str, str] = {}
    for cand in candidates:
        by_folded.setdefault(cand.casefold(), cand)
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def _expected(spec: FieldSpec) -> str:
    unit = f" (in {spec.unit})" if spec.unit else ""
    match spec.type:
        case FieldType.INT:
            return f"a whole number such as 8{unit}"
        case FieldType.DECIMAL:
            return f"a decimal number such as 60 or 60.5{unit}, without exponents"
        case FieldType.BOOL:
            return "true or false (yes/no and 1/0 also work)"
        case FieldType.ENUM:
            return "one of: " + ", ".join(spec.choices)
        case _:
            return f"a non-empty text value{unit}"


def _invalid_value(spec: FieldSpec, raw: str, problem: str | None = None) -> QueryError:
    expected = _expected(spec)
    details: dict[str, Any] = {"field": spec.name, "value": raw, "expected": expected}
    if spec.type is FieldType.ENUM:
        details["valid_values"] = list(spec.choices)
    problem = problem or f"expected {expected}"
    return QueryError(
        "invalid_value",
        f"Invalid value '{raw}' for field '{spec.name}': {problem}.",
        details,
    )


def _check_range(spec: FieldSpec, raw: str, number: int | Decimal) -> None:
    low, high = spec.min_value, spec.max_value
    if (low is None or number >= low) and (high is None or number <= high):
        return
    unit = f" {spec.unit}" if spec.unit else ""
    if low is not None and high is not None:
        rule = f"between {_fmt_decimal(low)} and {_fmt_decimal(high)}{unit}"
    elif low is not None:
        rule = f"at least {_fmt_decimal(low)}{unit}"
    else:
        rule = f"at most {_fmt_decimal(high)}{unit}"  # type: ignore[arg-type]
    raise QueryError(
        "out_of_range",
        f"Value {raw} for field '{spec.name}' is out of range: it must be {rule}.",
        {
            "field": spec.name,
            "value": raw,
            "min": None if low is None else _fmt_decimal(low),
            "max": None if high is None else _fmt_decimal(high),
        },
    )


def _convert(spec: FieldSpec, raw: str) -> Value:
    """Convert one raw (already unquoted) value according to the field type."""
    if raw == "":
        raise _invalid_value(spec, raw, f"the value is empty; expected {_expected(spec)}")
    match spec.type:
        case FieldType.INT:
            if not _INT_RE.fullmatch(raw):
                raise _invalid_value(spec, raw)
            try:
                number: int | Decimal = int(raw)
            except ValueError:  # more digits than Python's int() conversion limit
                raise _invalid_value(spec, raw, "the number is far too long") from None
            _check_range(spec, raw, number)
            return number
        case FieldType.DECIMAL:
            if not _DECIMAL_RE.fullmatch(raw):
                raise _invalid_value(spec, raw)
            number = Decimal(raw)
            _check_range(spec, raw, number)
            return number
        case FieldType.BOOL:
            try:
                return _BOOL_VALUES[raw.casefold()]
            except KeyError:
                raise _invalid_value(spec, raw) from None
        case FieldType.ENUM:
            folded = raw.casefold()
            for choice in spec.choices:
                if choice.casefold() == folded:
                    return choice
            suggestion = _suggest(raw, spec.choices)
            hint = f"did you mean '{suggestion}'? Valid values: " if suggestion else "expected one of: "
            raise _invalid_value(spec, raw, hint + ", ".join(spec.choices))
        case _:
            return raw


def _parse_sort(term: _RawCondition, table: _Table) -> SortKey:
    valid = list(table.sort_fields)
    usage = "Use sort=FIELD (ascending), sort=-FIELD or sort=FIELD:desc (descending)"
    if term.op.raw != "=":
        raise QueryError(
            "invalid_operator",
            f"Operator '{term.op.raw}' cannot be used with sort. {usage}.",
            {"field": _SORT_KEYWORD, "operator": term.op.raw, "valid_operators": ["="]},
        )
    raw_value = ",".join(tok.value for tok in term.values)
    if len(term.values) > 1:
        raise QueryError(
            "invalid_sort",
            f"Only one sort key is allowed, got '{raw_value}'. {usage}, with one of: {', '.join(valid)}.",
            {"value": raw_value, "valid_sort_fields": valid},
        )
    match = _SORT_VALUE_RE.fullmatch(raw_value)
    assert match is not None  # the pattern matches any string
    name, direction = match.group("field"), match.group("dir")
    if match.group("minus") and direction is not None:
        raise QueryError(
            "invalid_sort",
            f"Invalid sort '{raw_value}': use either '-FIELD' or 'FIELD:desc', not both.",
            {"value": raw_value, "valid_sort_fields": valid},
        )
    if direction is not None and direction.casefold() not in ("asc", "desc"):
        raise QueryError(
            "invalid_sort",
            f"Invalid sort direction '{direction}' in '{raw_value}': use ':asc' or ':desc'.",
            {"value": raw_value, "valid_sort_fields": valid},
        )
    canonical = table.sort_by_name.get(name.casefold())
    if canonical is None:
        suggestion = _suggest(name, table.sort_by_name) if name else None
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        raise QueryError(
            "invalid_sort",
            f"Cannot sort by '{name}'.{hint} Sort by one of: {', '.join(valid) or '(no sortable fields)'}. {usage}.",
            {"value": raw_value, "valid_sort_fields": valid},
        )
    descending = bool(match.group("minus")) or (direction is not None and direction.casefold() == "desc")
    return SortKey(canonical, descending)


def _build_condition(term: _RawCondition, table: _Table) -> Condition:
    name = term.field.raw
    spec = table.by_name.get(name.casefold())
    if spec is None:
        suggestion = _suggest(name, [*table.by_name, _SORT_KEYWORD])
        if suggestion is not None:
            # Report the spelling of the name as declared (canonical or alias).
            target = table.by_name.get(suggestion)
            if target is not None:
                suggestion = next(n for n in target.names if n.casefold() == suggestion)
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        valid = table.field_names
        raise QueryError(
            "unknown_field",
            f"Unknown field '{name}'.{hint} Valid fields: {', '.join(valid)}; use sort=FIELD to sort.",
            {"field": name, "valid_fields": valid, "suggestion": suggestion},
        )
    op = term.op.raw
    if op not in spec.ops:
        valid_ops = [o for o in ALL_OPS if o in spec.ops]
        raise QueryError(
            "invalid_operator",
            f"Operator '{op}' is not supported for field '{spec.name}'. Use one of: {', '.join(valid_ops)}.",
            {"field": spec.name, "operator": op, "valid_operators": valid_ops},
        )
    if len(term.values) > 1 and op not in _EQUALITY_OPS:
        raw = ",".join(tok.value for tok in term.values)
        raise _invalid_value(
            spec,
            raw,
            f"operator '{op}' takes a single value; comma-separated lists only work with = and != "
            f"(expected {_expected(spec)})",
        )
    return Condition(spec.name, op, tuple(_convert(spec, tok.value) for tok in term.values))


def parse_query(
    text: str,
    fields: Mapping[str, FieldSpec] | Sequence[FieldSpec],
    sort_fields: Sequence[str],
) -> Query:
    """Parse a catalog query string into a :class:`Query`.

    Raises :class:`QueryError` for every user error (and only for user errors;
    an invalid field table raises :class:`ValueError`/:class:`TypeError`).
    """
    table = _Table.build(fields, sort_fields)
    if not isinstance(text, str):
        raise TypeError(f"query must be a str, not {type(text).__name__}")
    conditions: list[Condition] = []
    sort: SortKey | None = None
    for term in _parse_terms(text, _tokenize(text)):
        if term.field.raw.casefold() == _SORT_KEYWORD:
            if sort is not None:
                raise _syntax_error(
                    text,
                    term.start,
                    "only one sort is allowed; remove the extra sort=... (use sort=FIELD, sort=-FIELD or sort=FIELD:desc).",
                )
            sort = _parse_sort(term, table)
        else:
            conditions.append(_build_condition(term, table))
    return Query(tuple(conditions), sort)


# --------------------------------------------------------------------------- #
# Formatting and help
# --------------------------------------------------------------------------- #


def _fmt_decimal(value: Decimal) -> str:
    return format(value, "f")


def _format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot format non-finite decimal {value!r}")
        return _fmt_decimal(value)
    if isinstance(value, str):
        if _BARE_RE.fullmatch(value):
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot format query value of type {type(value).__name__}")


def format_query(query: Query) -> str:
    """Render a :class:`Query` as query text; ``parse_query`` gives it back.

    Values are quoted when needed.  Conditions come first, then the sort.
    """
    parts: list[str] = []
    for cond in query.conditions:
        if not cond.values:
            raise ValueError(f"condition on {cond.field!r} has no values")
        parts.append(f"{cond.field}{cond.op}{','.join(_format_value(v) for v in cond.values)}")
    if query.sort is not None:
        parts.append(f"{_SORT_KEYWORD}={'-' if query.sort.descending else ''}{query.sort.field}")
    return " ".join(parts)


_TYPE_LABELS = {
    FieldType.STR: "text",
    FieldType.INT: "integer",
    FieldType.DECIMAL: "decimal",
    FieldType.BOOL: "true/false",
    FieldType.ENUM: "choice",
}


def describe_fields(
    fields: Mapping[str, FieldSpec] | Sequence[FieldSpec],
    sort_fields: Sequence[str],
) -> str:
    """A help text: the syntax, every field (type, operators, unit, range, choices) and the sort fields."""
    table = _Table.build(fields, sort_fields)
    lines = [
        "Query syntax: space-separated conditions FIELD OP VALUE, e.g.  chip=A800 price<=60 sort=-price",
        f"  Operators: {' '.join(ALL_OPS)} (each field lists the ones it accepts).",
        "  Any of several values: FIELD=a,b (IN); none of them: FIELD!=a,b (NOT IN).",
        '  Quote values containing spaces or any of , = < > ! " \' : name="a b" (escape with \\).',
        "  Numbers are plain decimals (60, 60.5); booleans are true/false (yes/no, 1/0).",
        "",
        "Fields:",
    ]
    for spec in table.specs:
        head = spec.name
        if spec.aliases:
            head += f" (alias: {', '.join(spec.aliases)})"
        bits = [_TYPE_LABELS[spec.type]]
        if spec.unit:
            bits.append(spec.unit)
        if spec.min_value is not None:
            bits.append(f">= {_fmt_decimal(spec.min_value)}")
        if spec.max_value is not None:
            bits.append(f"<= {_fmt_decimal(spec.max_value)}")
        lines.append(f"  {head} [{', '.join(bits)}]: {spec.description}")
        lines.append(f"      operators: {' '.join(o for o in ALL_OPS if o in spec.ops)}")
        if spec.choices:
            lines.append(f"      values: {', '.join(spec.choices)}")
    lines.append("")
    if table.sort_fields:
        lines.append(
            "Sorting: sort=FIELD (ascending), sort=-FIELD or sort=FIELD:desc (descending); at most one sort."
        )
        lines.append(f"  Sort fields: {', '.join(table.sort_fields)}")
    else:
        lines.append("Sorting: not available.")
    return "\n".join(lines)
