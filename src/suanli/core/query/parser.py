"""From tokens to a :class:`~suanli.core.query.model.Query`: terms, values checked against the field table, sort."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from suanli.core.query.formatting import format_decimal
from suanli.core.query.lexer import Token, syntax_error, tokenize
from suanli.core.query.model import (ALL_OPS, EQUALITY_OPS, IDENT_RE, SORT_KEYWORD, Condition, FieldSpec, FieldTable,
                                     FieldType, Query, QueryError, SortKey, Value)


_OPS_TEXT = ", ".join(ALL_OPS)
_INT_RE = re.compile(r"-?[0-9]+")
_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_BOOL_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_SORT_VALUE_RE = re.compile(r"(?P<minus>-)?(?P<field>[^:]*)(?::(?P<dir>.*))?", re.DOTALL)


@dataclass(frozen=True)
class _RawCondition:
    field: Token
    op: Token
    values: tuple[Token, ...]

    @property
    def start(self) -> int:
        return self.field.start


def _parse_terms(text: str, tokens: list[Token]) -> list[_RawCondition]:
    """Group the tokens into ``FIELD OP value[,value...]`` terms (syntax only)."""
    terms: list[_RawCondition] = []
    i = 0
    prev_end: int | None = None
    while i < len(tokens):
        tok = tokens[i]
        if prev_end is not None and tok.start == prev_end:
            raise syntax_error(
                text,
                tok.start,
                f"'{tok.raw}' follows the previous value without a space. Separate conditions with "
                "whitespace, and quote values that contain special characters.",
                kind="missing_space",
            )
        if tok.kind != "word" or not IDENT_RE.fullmatch(tok.raw):
            raise syntax_error(
                text,
                tok.start,
                f"expected a field name, found '{tok.raw}'. Write conditions as FIELD OP VALUE, e.g. chip=A800.",
                kind="expected_field",
            )
        field_tok = tok
        i += 1
        if i >= len(tokens) or tokens[i].kind != "op":
            found = f"found '{tokens[i].raw}'" if i < len(tokens) else "reached the end of the query"
            raise syntax_error(
                text,
                field_tok.start,
                f"'{field_tok.raw}' is not a condition: expected an operator ({_OPS_TEXT}) after it but {found}. "
                "Write conditions as FIELD OP VALUE, e.g. chip=A800; to search for a value, name its field.",
                kind="expected_operator",
            )
        op_tok = tokens[i]
        i += 1
        values: list[Token] = []
        after = op_tok
        while True:
            if i >= len(tokens) or tokens[i].kind not in ("word", "quoted"):
                found = f"found '{tokens[i].raw}'" if i < len(tokens) else "reached the end of the query"
                raise syntax_error(
                    text,
                    tokens[i].start if i < len(tokens) else len(text),
                    f"expected a value after '{after.raw}' but {found}. "
                    f"Put a value after the operator, e.g. {field_tok.raw}{op_tok.raw}VALUE "
                    '(quote it if it contains spaces or any of , = < > ! " \').',
                    start=field_tok.start,
                    kind="expected_value",
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
        rule = f"between {format_decimal(low)} and {format_decimal(high)}{unit}"
    elif low is not None:
        rule = f"at least {format_decimal(low)}{unit}"
    else:
        rule = f"at most {format_decimal(high)}{unit}"  # type: ignore[arg-type]
    raise QueryError(
        "out_of_range",
        f"Value {raw} for field '{spec.name}' is out of range: it must be {rule}.",
        {
            "field": spec.name,
            "value": raw,
            "min": None if low is None else format_decimal(low),
            "max": None if high is None else format_decimal(high),
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


def _parse_sort(term: _RawCondition, table: FieldTable) -> SortKey:
    valid = list(table.sort_fields)
    usage = "Use sort=FIELD (ascending), sort=-FIELD or sort=FIELD:desc (descending)"
    if term.op.raw != "=":
        raise QueryError(
            "invalid_operator",
            f"Operator '{term.op.raw}' cannot be used with sort. {usage}.",
            {"field": SORT_KEYWORD, "operator": term.op.raw, "valid_operators": ["="]},
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


def _build_condition(term: _RawCondition, table: FieldTable) -> Condition:
    name = term.field.raw
    spec = table.by_name.get(name.casefold())
    if spec is None:
        suggestion = _suggest(name, [*table.by_name, SORT_KEYWORD])
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
    if len(term.values) > 1 and op not in EQUALITY_OPS:
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
    table = FieldTable.build(fields, sort_fields)
    if not isinstance(text, str):
        raise TypeError(f"query must be a str, not {type(text).__name__}")
    conditions: list[Condition] = []
    sort: SortKey | None = None
    for term in _parse_terms(text, tokenize(text)):
        if term.field.raw.casefold() == SORT_KEYWORD:
            if sort is not None:
                raise syntax_error(
                    text,
                    term.start,
                    "only one sort is allowed; remove the extra sort=... (use sort=FIELD, sort=-FIELD or sort=FIELD:desc).",
                    kind="two_sorts",
                )
            sort = _parse_sort(term, table)
        else:
            conditions.append(_build_condition(term, table))
    return Query(tuple(conditions), sort)
