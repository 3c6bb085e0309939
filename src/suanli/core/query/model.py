"""The query language's values: field tables, conditions, sort keys, parsed queries and errors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias

Value: TypeAlias = str | int | Decimal | bool

#: Every comparison operator, in display order.
ALL_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")
EQUALITY_OPS = frozenset({"=", "!="})
SORT_KEYWORD = "sort"


class FieldType(StrEnum):
    STR = "str"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    ENUM = "enum"


_DEFAULT_OPS: dict[FieldType, frozenset[str]] = {
    FieldType.STR: EQUALITY_OPS,
    FieldType.ENUM: EQUALITY_OPS,
    FieldType.BOOL: EQUALITY_OPS,
    FieldType.INT: frozenset(ALL_OPS),
    FieldType.DECIMAL: frozenset(ALL_OPS),
}

# Field names (and aliases) are identifiers: a letter or "_" (any script), then
# letters, digits or "_".
IDENT_RE = re.compile(r"[^\W\d]\w*")


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
        if not isinstance(self.name, str) or not IDENT_RE.fullmatch(self.name):
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
            if not isinstance(alias, str) or not IDENT_RE.fullmatch(alias):
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
class FieldTable:
    """The validated, case-insensitive lookup structures for one field table."""

    specs: tuple[FieldSpec, ...]
    by_name: dict[str, FieldSpec]  # casefolded name or alias -> spec
    sort_fields: tuple[str, ...]
    sort_by_name: dict[str, str]  # casefolded sort name or alias -> canonical sort field

    @classmethod
    def build(cls, fields: Mapping[str, FieldSpec] | Sequence[FieldSpec], sort_fields: Sequence[str]) -> FieldTable:
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
                if key == SORT_KEYWORD:
                    raise ValueError(f"{name!r} is reserved for sorting and cannot be a field name")
                if key in by_name:
                    raise ValueError(f"field name or alias {name!r} is used twice")
                by_name[key] = spec
        if isinstance(sort_fields, str):
            raise TypeError("sort_fields must be a sequence of names, not a string")
        sort_tuple = tuple(sort_fields)
        sort_by_name: dict[str, str] = {}
        for name in sort_tuple:
            if not isinstance(name, str) or not IDENT_RE.fullmatch(name):
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
