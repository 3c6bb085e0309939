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

from suanli.core.query.formatting import describe_fields, format_query
from suanli.core.query.model import ALL_OPS, Condition, FieldSpec, FieldType, Query, QueryError, SortKey, Value
from suanli.core.query.parser import parse_query

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
