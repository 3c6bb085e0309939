"""Tests for the compact, strict catalog query language (suanli.core.query)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.core.query import (
    ALL_OPS,
    Condition,
    FieldSpec,
    FieldType,
    Query,
    QueryError,
    SortKey,
    describe_fields,
    format_query,
    parse_query,
)

FIELDS = (
    FieldSpec("chip", FieldType.STR, "Accelerator chip model"),
    FieldSpec("vendor", FieldType.ENUM, "Chip vendor", choices=("huawei", "hygon", "NVIDIA")),
    FieldSpec(
        "accelerators",
        FieldType.INT,
        "Accelerators per node",
        aliases=("accel", "gpus"),
        min_value=Decimal(1),
        max_value=Decimal(1024),
    ),
    FieldSpec("accel_memory", FieldType.INT, "Memory per accelerator", aliases=("mem",), unit="GiB", min_value=Decimal(0)),
    FieldSpec("province", FieldType.STR, "Province of the data centre", aliases=("省份",)),
    FieldSpec("price", FieldType.DECIMAL, "Price per node-hour", unit="CNY/h", min_value=Decimal(0)),
    FieldSpec("pflops", FieldType.DECIMAL, "FP16 dense PFLOPS", min_value=Decimal("0.001"), max_value=Decimal("1000")),
    FieldSpec("delta", FieldType.DECIMAL, "A signed number without bounds"),
    FieldSpec("available", FieldType.BOOL, "Capacity available now"),
    FieldSpec("datacenter", FieldType.STR, "Data centre name"),
    FieldSpec("delivery", FieldType.ENUM, "Delivery form", choices=("container", "vm", "bare_metal")),
    FieldSpec("region", FieldType.STR, "Region code", ops=frozenset({"="})),
)
SORT_FIELDS = ("price", "pflops", "price_per_pflops", "accel_memory")


def parse(text: str) -> Query:
    return parse_query(text, FIELDS, SORT_FIELDS)


def error(text: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse(text)
    err = info.value
    json.dumps(err.details)  # details are always JSON-serialisable
    assert err.message and str(err) == err.message
    return err


# --------------------------------------------------------------------------- #
# Happy paths
# --------------------------------------------------------------------------- #


def test_brief_example_1() -> None:
    q = parse("chip=A800 accelerators>=8 province=安徽 price<=60 sort=price_per_pflops")
    assert q == Query(
        (
            Condition("chip", "=", ("A800",)),
            Condition("accelerators", ">=", (8,)),
            Condition("province", "=", ("安徽",)),
            Condition("price", "<=", (Decimal("60"),)),
        ),
        SortKey("price_per_pflops", False),
    )
    assert type(q.conditions[1].values[0]) is int
    assert type(q.conditions[3].values[0]) is Decimal


def test_brief_example_2() -> None:
    q = parse("vendor=huawei,hygon mem>=64 available=true sort=-price")
    assert q == Query(
        (
            Condition("vendor", "=", ("huawei", "hygon")),
            Condition("accel_memory", ">=", (64,)),
            Condition("available", "=", (True,)),
        ),
        SortKey("price", True),
    )


def test_brief_example_3() -> None:
    q = parse('datacenter="芜湖 一号 数据中心" delivery=container sort=pflops:desc')
    assert q == Query(
        (Condition("datacenter", "=", ("芜湖 一号 数据中心",)), Condition("delivery", "=", ("container",))),
        SortKey("pflops", True),
    )


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "\u3000"])
def test_empty_query(text: str) -> None:
    assert parse(text) == Query((), None)


def test_fields_accept_a_mapping() -> None:
    mapping = {spec.name: spec for spec in FIELDS}
    assert parse_query("chip=A800", mapping, SORT_FIELDS) == parse("chip=A800")


@pytest.mark.parametrize(
    "text",
    ["price<=60", "price <= 60", "price<= 60", "price <=60", "  price\t<=\n60  "],
)
def test_whitespace_around_operators(text: str) -> None:
    assert parse(text) == Query((Condition("price", "<=", (Decimal(60),)),))


@pytest.mark.parametrize("op", ALL_OPS)
def test_all_operators_on_numbers(op: str) -> None:
    assert parse(f"accelerators{op}8").conditions == (Condition("accelerators", op, (8,)),)


def test_aliases_resolve_to_canonical_names() -> None:
    q = parse("mem>=64 gpus=8 accel<16 省份=安徽")
    assert [c.field for c in q.conditions] == ["accel_memory", "accelerators", "accelerators", "province"]


def test_field_names_are_case_insensitive() -> None:
    assert parse("CHIP=A800 Mem>=8 SORT=Price:DESC") == Query(
        (Condition("chip", "=", ("A800",)), Condition("accel_memory", ">=", (8,))),
        SortKey("price", True),
    )


def test_in_and_not_in_lists() -> None:
    q = parse("vendor=huawei,hygon delivery!=vm,bare_metal accelerators=8,16 chip=A800, 910B")
    assert q.conditions == (
        Condition("vendor", "=", ("huawei", "hygon")),
        Condition("delivery", "!=", ("vm", "bare_metal")),
        Condition("accelerators", "=", (8, 16)),
        Condition("chip", "=", ("A800", "910B")),
    )


def test_same_field_twice_keeps_both() -> None:
    assert parse("price>=10 price<=60").conditions == (
        Condition("price", ">=", (Decimal(10),)),
        Condition("price", "<=", (Decimal(60),)),
    )


def test_quotes_keep_spaces_and_operators() -> None:
    q = parse("""datacenter="a = b, c<=d !" chip='x "y" z'""")
    assert q.conditions == (
        Condition("datacenter", "=", ("a = b, c<=d !",)),
        Condition("chip", "=", ('x "y" z',)),
    )


def test_quote_escapes() -> None:
    q = parse(r'''chip="say \"hi\"" datacenter='it\'s' province="back\\slash"''')
    assert [c.values[0] for c in q.conditions] == ['say "hi"', "it's", "back\\slash"]


def test_quoted_values_in_lists_and_numbers() -> None:
    q = parse('datacenter="芜湖 一号","合肥 二号" price="60.5"')
    assert q.conditions == (
        Condition("datacenter", "=", ("芜湖 一号", "合肥 二号")),
        Condition("price", "=", (Decimal("60.5"),)),
    )


def test_chinese_values() -> None:
    q = parse("province=安徽,浙江 chip=昇腾910B datacenter=芜湖数据中心")
    assert q.conditions == (
        Condition("province", "=", ("安徽", "浙江")),
        Condition("chip", "=", ("昇腾910B",)),
        Condition("datacenter", "=", ("芜湖数据中心",)),
    )


def test_ideographic_space_separates_conditions() -> None:
    assert len(parse("province=安徽\u3000chip=A800").conditions) == 2


def test_decimal_exactness() -> None:
    q = parse("price<=0.1 delta>=-12345678901234567890.123456789012345678901")
    price, delta = (c.values[0] for c in q.conditions)
    assert price == Decimal("0.1") and isinstance(price, Decimal) and not isinstance(price, float)
    assert delta == Decimal("-12345678901234567890.123456789012345678901")
    assert str(delta) == "-12345678901234567890.123456789012345678901"
    assert parse("price=60.50").conditions[0].values[0].as_tuple() == Decimal("60.50").as_tuple()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("false", False), ("no", False), ("0", False)],
)
def test_bool_values(raw: str, expected: bool) -> None:
    assert parse(f"available={raw}").conditions[0].values == (expected,)


def test_enum_is_case_insensitive_and_normalised() -> None:
    assert parse("vendor=HUAWEI,nvidia").conditions[0].values == ("huawei", "NVIDIA")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sort=price", SortKey("price", False)),
        ("sort=-price", SortKey("price", True)),
        ("sort=price:asc", SortKey("price", False)),
        ("sort=price:desc", SortKey("price", True)),
        ("sort = pflops:DESC", SortKey("pflops", True)),
        ("sort=mem", SortKey("accel_memory", False)),  # aliases work for sort fields
        ('sort="-price_per_pflops"', SortKey("price_per_pflops", True)),
    ],
)
def test_sort_forms(text: str, expected: SortKey) -> None:
    assert parse(text).sort == expected


def test_sort_may_come_first() -> None:
    assert parse("sort=-price chip=A800") == Query((Condition("chip", "=", ("A800",)),), SortKey("price", True))


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


def test_unknown_field_with_suggestion() -> None:
    err = error("chipp=A800")
    assert err.code == "unknown_field"
    assert err.details == {
        "field": "chipp",
        "valid_fields": [spec.name for spec in FIELDS],
        "suggestion": "chip",
    }
    assert err.message.startswith("Unknown field 'chipp'. Did you mean 'chip'? Valid fields: chip, vendor")


def test_unknown_field_suggests_aliases_and_sort() -> None:
    assert error("memm>=8").details["suggestion"] == "mem"
    assert error("srot=price").details["suggestion"] == "sort"


def test_unknown_field_without_suggestion() -> None:
    err = error("zzzzzz=1")
    assert err.code == "unknown_field"
    assert err.details["suggestion"] is None
    assert "Did you mean" not in err.message


@pytest.mark.parametrize(
    ("text", "field", "op", "valid"),
    [
        ("chip<A800", "chip", "<", ["=", "!="]),
        ("vendor>=huawei", "vendor", ">=", ["=", "!="]),
        ("available>true", "available", ">", ["=", "!="]),
        ("region!=cn-east", "region", "!=", ["="]),
        ("sort!=price", "sort", "!=", ["="]),
    ],
)
def test_invalid_operator(text: str, field: str, op: str, valid: list[str]) -> None:
    err = error(text)
    assert err.code == "invalid_operator"
    assert err.details == {"field": field, "operator": op, "valid_operators": valid}


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("price=abc", "price", "abc"),
        ("price=1e5", "price", "1e5"),
        ("price=nan", "price", "nan"),
        ("price=NaN", "price", "NaN"),
        ("price=inf", "price", "inf"),
        ("price=Infinity", "price", "Infinity"),
        ("price=1_000", "price", "1_000"),
        ("price=.5", "price", ".5"),
        ("price=5.", "price", "5."),
        ("price=+5", "price", "+5"),
        ("price=６０", "price", "６０"),  # full-width digits
        ("accelerators=8.0", "accelerators", "8.0"),
        ("accelerators=8.5", "accelerators", "8.5"),
        ("accelerators=eight", "accelerators", "eight"),
        ("available=maybe", "available", "maybe"),
        ('chip=""', "chip", ""),  # empty values are never meaningful
        ("province=''", "province", ""),
    ],
)
def test_invalid_value(text: str, field: str, value: str) -> None:
    err = error(text)
    assert err.code == "invalid_value"
    assert err.details["field"] == field
    assert err.details["value"] == value
    assert isinstance(err.details["expected"], str) and err.details["expected"]
    assert "valid_values" not in err.details


def test_invalid_enum_value_lists_valid_values() -> None:
    err = error("vendor=huawie")
    assert err.code == "invalid_value"
    assert err.details["valid_values"] == ["huawei", "hygon", "NVIDIA"]
    assert err.details["expected"] == "one of: huawei, hygon, NVIDIA"
    assert "did you mean 'huawei'?" in err.message


def test_invalid_value_in_a_list_is_reported() -> None:
    err = error("vendor=huawei,intel")
    assert err.code == "invalid_value" and err.details["value"] == "intel"


def test_list_with_comparison_operator_is_rejected() -> None:
    err = error("price<=5,6")
    assert err.code == "invalid_value"
    assert err.details["value"] == "5,6"
    assert "single value" in err.message


def test_huge_integer_is_invalid_not_a_crash() -> None:
    err = error("accel_memory=" + "9" * 5000)
    assert err.code == "invalid_value"


@pytest.mark.parametrize(
    ("text", "field", "value", "lo", "hi"),
    [
        ("price<=-1", "price", "-1", "0", None),
        ("price=-0.01", "price", "-0.01", "0", None),
        ("accelerators>=0", "accelerators", "0", "1", "1024"),
        ("accelerators=8,2000", "accelerators", "2000", "1", "1024"),
        ("pflops>1000.0001", "pflops", "1000.0001", "0.001", "1000"),
        ("pflops>0.0009", "pflops", "0.0009", "0.001", "1000"),
        ("mem>=-5", "accel_memory", "-5", "0", None),
    ],
)
def test_out_of_range(text: str, field: str, value: str, lo: str | None, hi: str | None) -> None:
    err = error(text)
    assert err.code == "out_of_range"
    assert err.details == {"field": field, "value": value, "min": lo, "max": hi}


def test_range_bounds_are_inclusive() -> None:
    assert parse("accelerators>=1 accelerators<=1024 pflops=0.001 pflops=1000 price=0")


@pytest.mark.parametrize(
    "text",
    ["sort=foo", "sort=chip", "sort=", "sort=''", "sort=-", "sort=price:up", "sort=-price:desc", "sort=price,pflops", "sort=a:b:c"],
)
def test_invalid_sort(text: str) -> None:
    if text == "sort=":
        # A missing value is a syntax error, like for any other field.
        assert error(text).code == "syntax_error"
        return
    err = error(text)
    assert err.code == "invalid_sort"
    assert set(err.details) == {"value", "valid_sort_fields"}
    assert err.details["valid_sort_fields"] == list(SORT_FIELDS)


def test_invalid_sort_suggests() -> None:
    err = error("sort=prise")
    assert err.details["value"] == "prise"
    assert "Did you mean 'price'?" in err.message


@pytest.mark.parametrize(
    ("text", "position", "fragment", "problem"),
    [
        ("A800", 0, "A800", "expected_operator"),
        ("chip=A800 A800", 10, "A800", "expected_operator"),
        ("A800 chip=A800", 0, "A800", "expected_operator"),
        ("chip=", 5, "chip=", "expected_value"),
        ("chip=A800 price<=", 17, "price<=", "expected_value"),
        ('datacenter="芜湖 一号', 11, '"芜湖 一号', "unterminated_quote"),
        ("chip='abc", 5, "'abc", "unterminated_quote"),
        ("price<<5", 6, "price<<5", "expected_value"),
        ("chip==A800", 5, "chip==A800", "expected_value"),
        ("price!5", 5, "!5", "lone_bang"),
        ("sort=price sort=-pflops", 11, "sort=-pflops", "two_sorts"),
        ("=A800", 0, "=A800", "expected_field"),
        ("8=chip", 0, "8=chip", "expected_field"),
        ("-price=5", 0, "-price=5", "expected_field"),
        ("chip=A800,", 10, "chip=A800,", "expected_value"),
        ("chip=,A800", 5, "chip=,A800", "expected_value"),
        ('chip="A800"price=5', 11, "price=5", "missing_space"),
        ('chip="a\\n"', 7, '"a\\n"', "unknown_escape"),
        ("chip", 0, "chip", "expected_operator"),
        (",", 0, ",", "expected_field"),
    ],
)
def test_syntax_errors(text: str, position: int, fragment: str, problem: str) -> None:
    err = error(text)
    assert err.code == "syntax_error"
    assert err.details == {"position": position, "text": fragment, "problem": problem}
    assert f"position {position}" in err.message


def test_syntax_error_fragment_is_truncated() -> None:
    err = error("x" * 500)
    assert err.code == "syntax_error" and len(err.details["text"]) <= 80


def test_error_to_dict_is_json() -> None:
    err = error("price<=-1")
    assert json.loads(json.dumps(err.to_dict())) == {
        "code": "out_of_range",
        "message": err.message,
        "details": {"field": "price", "value": "-1", "min": "0", "max": None},
    }


def test_query_error_is_a_value_error() -> None:
    assert issubclass(QueryError, ValueError)


# --------------------------------------------------------------------------- #
# Field table validation, help text, formatting
# --------------------------------------------------------------------------- #


def test_default_ops_by_type() -> None:
    assert FieldSpec("a", FieldType.STR, "").ops == frozenset({"=", "!="})
    assert FieldSpec("a", FieldType.ENUM, "", choices=("x",)).ops == frozenset({"=", "!="})
    assert FieldSpec("a", FieldType.BOOL, "").ops == frozenset({"=", "!="})
    assert FieldSpec("a", FieldType.INT, "").ops == frozenset(ALL_OPS)
    assert FieldSpec("a", FieldType.DECIMAL, "").ops == frozenset(ALL_OPS)
    assert FieldSpec("a", FieldType.INT, "", min_value=0).min_value == Decimal(0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "a", "type": FieldType.STR, "description": "", "ops": frozenset({"=="})},
        {"name": "a", "type": FieldType.STR, "description": "", "ops": frozenset()},
        {"name": "a", "type": FieldType.STR, "description": "", "ops": "<="},
        {"name": "a", "type": FieldType.ENUM, "description": ""},
        {"name": "a", "type": FieldType.ENUM, "description": "", "choices": ("x", "X")},
        {"name": "a", "type": FieldType.STR, "description": "", "choices": ("x",)},
        {"name": "a", "type": FieldType.STR, "description": "", "min_value": Decimal(0)},
        {"name": "a", "type": FieldType.INT, "description": "", "min_value": Decimal(2), "max_value": Decimal(1)},
        {"name": "a", "type": FieldType.DECIMAL, "description": "", "min_value": 0.5},
        {"name": "a", "type": FieldType.DECIMAL, "description": "", "max_value": Decimal("inf")},
        {"name": "a b", "type": FieldType.STR, "description": ""},
        {"name": "a", "type": FieldType.STR, "description": "", "aliases": ("-b",)},
    ],
)
def test_bad_field_specs_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        FieldSpec(**kwargs)


def test_bad_field_tables_are_rejected() -> None:
    with pytest.raises(ValueError):
        parse_query("", [FieldSpec("sort", FieldType.STR, "")], [])
    with pytest.raises(ValueError):
        parse_query("", [FieldSpec("a", FieldType.STR, ""), FieldSpec("b", FieldType.STR, "", aliases=("A",))], [])
    with pytest.raises(ValueError):
        parse_query("", {"x": FieldSpec("a", FieldType.STR, "")}, [])
    with pytest.raises(ValueError):
        parse_query("", FIELDS, ["price", "price"])


def test_describe_fields() -> None:
    text = describe_fields(FIELDS, SORT_FIELDS)
    for spec in FIELDS:
        assert spec.name in text and spec.description in text
    for needle in ("mem", "GiB", "CNY/h", "huawei, hygon, NVIDIA", "container, vm, bare_metal", "price_per_pflops",
                   "= != < <= > >=", ">= 0", "<= 1024", "sort=-FIELD", "decimal", "integer", "true/false"):
        assert needle in text, needle


def test_format_query_quotes_when_needed() -> None:
    q = Query(
        (
            Condition("datacenter", "=", ("芜湖 一号 数据中心", 'say "hi"\\')),
            Condition("chip", "!=", ("A800", "a,b")),
            Condition("price", "<=", (Decimal("1E+2"),)),
            Condition("delta", ">", (Decimal("-1E-7"),)),
            Condition("available", "=", (True,)),
        ),
        SortKey("pflops", True),
    )
    assert format_query(q) == (
        'datacenter="芜湖 一号 数据中心","say \\"hi\\"\\\\" chip!=A800,"a,b" price<=100 delta>-0.0000001 available=true sort=-pflops'
    )
    assert format_query(Query()) == ""


def test_format_round_trips_the_examples() -> None:
    for text in (
        "chip=A800 accelerators>=8 province=安徽 price<=60 sort=price_per_pflops",
        "vendor=huawei,hygon mem>=64 available=true sort=-price",
        'datacenter="芜湖 一号 数据中心" delivery=container sort=pflops:desc',
    ):
        q = parse(text)
        assert parse(format_query(q)) == q


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #


def _values_for(spec: FieldSpec) -> st.SearchStrategy:
    match spec.type:
        case FieldType.INT:
            return st.integers(
                min_value=None if spec.min_value is None else int(spec.min_value),
                max_value=None if spec.max_value is None else int(spec.max_value),
            )
        case FieldType.DECIMAL:
            return st.decimals(
                min_value=spec.min_value, max_value=spec.max_value, allow_nan=False, allow_infinity=False
            ).filter(lambda d: abs(d.adjusted()) < 60)
        case FieldType.BOOL:
            return st.booleans()
        case FieldType.ENUM:
            return st.sampled_from(spec.choices)
        case _:
            return st.text(min_size=1, max_size=20)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    spec = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(sorted(spec.ops)))
    n = draw(st.integers(1, 3)) if op in ("=", "!=") else 1
    values = tuple(draw(_values_for(spec)) for _ in range(n))
    return Condition(spec.name, op, values)


queries = st.builds(
    Query,
    st.lists(conditions(), max_size=6).map(tuple),
    st.none() | st.builds(SortKey, st.sampled_from(SORT_FIELDS), st.booleans()),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(queries)
def test_round_trip(query: Query) -> None:
    assert parse(format_query(query)) == query


@given(st.text())
def test_arbitrary_text_only_raises_query_error(text: str) -> None:
    try:
        parse(text)
    except QueryError as err:
        assert err.code in {
            "unknown_field", "invalid_operator", "invalid_value", "out_of_range", "invalid_sort", "syntax_error",
        }
        json.dumps(err.details)


_PIECES = st.sampled_from(
    [
        "chip", "price", "vendor", "mem", "sort", "available", "province", "accelerators", "pflops", "chipp",
        "=", "!=", "<", "<=", ">", ">=", "!", ",", " ", " ", "\t", '"', "'", "\\", ":", "-", ":desc", ":asc",
        "A800", "安徽", "60", "60.5", "-1", "1e5", "nan", "true", "huawei", "hygon", "price_per_pflops", "0.001",
    ]
)


@settings(max_examples=500)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_grammar_like_text_only_raises_query_error(text: str) -> None:
    try:
        q = parse(text)
    except QueryError as err:
        json.dumps(err.details)
    else:
        assert parse(format_query(q)) == q
