"""A query back to its text, and the field table as help."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from suanli.core.query.lexer import BARE_RE
from suanli.core.query.model import ALL_OPS, SORT_KEYWORD, FieldSpec, FieldTable, FieldType, Query, Value


def format_decimal(value: Decimal) -> str:
    return format(value, "f")


def _format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot format non-finite decimal {value!r}")
        return format_decimal(value)
    if isinstance(value, str):
        if BARE_RE.fullmatch(value):
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
        parts.append(f"{SORT_KEYWORD}={'-' if query.sort.descending else ''}{query.sort.field}")
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
    table = FieldTable.build(fields, sort_fields)
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
            bits.append(f">= {format_decimal(spec.min_value)}")
        if spec.max_value is not None:
            bits.append(f"<= {format_decimal(spec.max_value)}")
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
