"""Catalog search: one field table for the query language (``q=``) and the explicit filters.

Both ways of asking end as a list of :class:`~suanli.core.query.Condition` and go through the same
SQL builder, so ``?chip=A800&min_accelerators=8`` and ``?q=chip=A800 accelerators>=8`` are one query.

Results are paged by keyset cursor on ``(sort column, id)``, which stays fast at any depth and stable
while sellers edit their products. Sorting by ``price_per_pflops`` or ``price_per_accel`` ranks only
products that have accelerators: a CPU or storage product has no such price.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, true, tuple_
from sqlalchemy.orm import Session

from suanli.accounts.models import Organization
from suanli.catalog.models import SAMPLE_SLOTS, ChipModel, Datacenter, DeliveryForm, Product, ProductKind, Region
from suanli.core.chips import load_chip_table, resolve_chip
from suanli.catalog.free_words import Interpretation, Places, interpret
from suanli.core.query import Condition, FieldSpec, FieldType, Query, QueryError, SortKey, parse_query
from suanli.errors import DomainError

D = Decimal
MAX_PRICE = D(1_000_000)

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("chip", FieldType.STR, "Chip model, e.g. A800, 910B, MLU370 (see `suanli chips`)", aliases=("gpu",)),
    FieldSpec("vendor", FieldType.ENUM, "Chip maker",
              choices=("nvidia", "huawei", "hygon", "cambricon", "kunlunxin")),
    FieldSpec("ecosystem", FieldType.ENUM, "Software ecosystem of the chip",
              choices=("cuda", "cann", "dtk", "neuware", "xpu"), aliases=("eco",)),
    FieldSpec("kind", FieldType.ENUM, "Product kind", choices=tuple(k.value for k in ProductKind)),
    FieldSpec("accelerators", FieldType.INT, "Accelerators per unit", aliases=("gpus", "cards"),
              min_value=D(0), max_value=D(1024)),
    FieldSpec("accel_memory", FieldType.INT, "Memory per accelerator", unit="GiB", aliases=("vram", "mem"),
              min_value=D(0), max_value=D(4096)),
    FieldSpec("vcpus", FieldType.INT, "vCPUs per unit", aliases=("cpus",), min_value=D(0), max_value=D(100_000)),
    FieldSpec("memory", FieldType.INT, "Host memory per unit", unit="GiB", aliases=("ram",),
              min_value=D(0), max_value=D(1_000_000)),
    FieldSpec("province", FieldType.STR, "Province, e.g. 安徽"),
    FieldSpec("city", FieldType.STR, "City, e.g. 芜湖"),
    FieldSpec("hub", FieldType.STR, "National compute hub, e.g. 长三角"),
    FieldSpec("datacenter", FieldType.STR, "Data center id or exact name", aliases=("dc",)),
    FieldSpec("delivery", FieldType.ENUM, "Delivery form", choices=tuple(d.value for d in DeliveryForm)),
    FieldSpec("mode", FieldType.ENUM, "Billing mode the product offers", choices=("on_demand", "reserved", "spot")),
    FieldSpec("price", FieldType.DECIMAL, "On-demand price per unit-hour", unit="CNY/h",
              min_value=D(0), max_value=MAX_PRICE),
    FieldSpec("price_per_accel", FieldType.DECIMAL, "On-demand price per accelerator-hour", unit="CNY/h",
              min_value=D(0), max_value=MAX_PRICE),
    FieldSpec("price_per_pflops", FieldType.DECIMAL, "On-demand price per dense FP16-PFLOPS-hour", unit="CNY/h",
              aliases=("ppp",), min_value=D(0), max_value=MAX_PRICE * 1000),
    FieldSpec("pflops", FieldType.DECIMAL, "Dense FP16/BF16 PFLOPS per unit", min_value=D(0), max_value=D(100_000)),
    FieldSpec("available", FieldType.BOOL, "Has units free now"),
)
FIELD_TABLE = {f.name: f for f in FIELDS}
SORTS: dict[str, Any] = {
    "price": Product.price_on_demand_fen,
    "price_per_pflops": Product.price_per_pflops_hour_fen,
    "price_per_accel": Product.price_per_accel_hour_fen,
    "pflops": Product.fp16_tflops,
    "accel_memory": Product.accel_memory_gib,
    "memory": Product.memory_gib,
}
NULLABLE_SORTS = {"price_per_pflops", "price_per_accel"}
#: Fields whose `=` leads an index of Product, so a search with such a condition reaches its matches through it.
INDEXED_FIELDS = frozenset({"chip", "vendor", "ecosystem", "province", "city", "hub", "datacenter"})
#: Fields with an index an upper or lower bound can seek on (the sort indexes, accelerators, vCPUs).
RANGE_INDEXED_FIELDS = frozenset({"accelerators", "vcpus", "accel_memory", "memory", "price", "price_per_accel",
                                  "price_per_pflops", "pflops"})
SAMPLE_ROWS = 3_000
"""Estimates read about this many products: the first k of `Product.sample_slot`'s 100 slots, a random k% sample."""
SORT_MATCHES_UP_TO = 5_000
"""Up to this many estimated matches, reached through a filter's index, a search sorts them all for its page."""
TOTAL_COUNTED_UP_TO = 10_000
"""Up to this many estimated matches, reached through a filter's index, `total` is counted exactly."""
WALK_ROWS_AT_LEAST = 1_000
WALK_ROWS_AT_MOST = 50_000
"""A walk along a sort index reads between these many index entries (four times what the estimate says it
needs) before the search gives up on it and sorts the matches instead."""
VISIBLE_COUNT_SECONDS = 60.0
"""How long a process keeps its estimate of the number of visible products (it chooses the sample's size)."""
DEFAULT_SORT = SortKey("price", descending=False)


class InvalidQuery(DomainError):
    status = 400
    code = "invalid_query"


def invalid(exc: QueryError) -> InvalidQuery:
    return InvalidQuery(exc.message, code=exc.code, details=exc.details)


def parse(text: str) -> Query:
    try:
        return parse_query(text, FIELDS, list(SORTS))
    except QueryError as exc:
        raise invalid(exc) from None


def understand(session: Session, text: str) -> Interpretation:
    """The search box's text as the query language: free words (chips, makers, places, data-center names, ``8卡``)
    read by `catalog.free_words` against this platform's places, conditions in the query language kept as
    written. Errors carry positions in ``text``."""
    resolver = Resolver(session)
    regions = resolver.regions()
    places = Places(provinces=frozenset(r[0] for r in regions), cities=frozenset(r[1] for r in regions),
                    hubs=frozenset(r[2] for r in regions if r[2]), datacenter_named=resolver.datacenter_named)
    try:
        return interpret(text, FIELDS, list(SORTS), places)
    except QueryError as exc:
        raise invalid(exc) from None


@dataclass
class SearchPage:
    """One page of results as plain rows: ``products`` have the attributes of :data:`PAGE_COLUMNS`,
    ``datacenters`` those of :data:`DATACENTER_COLUMNS`, ``chips`` the columns of ``chip_models``."""

    products: list[Any]
    datacenters: dict[uuid.UUID, Any]
    chips: dict[str, Any]
    next_cursor: str | None
    total: int
    total_exact: bool = True


#: The product columns a result page shows (see `suanli.catalog.presenters.product_item`), read as plain rows:
#: building ORM objects for them cost more than the query.
PAGE_COLUMNS = (
    Product.id, Product.platform_id, Product.datacenter_id, Product.name, Product.kind, Product.status,
    Product.is_visible, Product.chip_key, Product.accelerators, Product.vcpus, Product.memory_gib, Product.disk_gib,
    Product.network_gbps, Product.delivery, Product.stock_units, Product.allocated_units, Product.price_on_demand_fen,
    Product.price_reserved_month_fen, Product.price_spot_floor_fen, Product.reserved_discount_3m_bp,
    Product.reserved_discount_6m_bp, Product.reserved_discount_12m_bp, Product.updated_at, Product.accel_memory_gib,
    Product.fp16_tflops, Product.fp32_tflops, Product.price_per_accel_hour_fen, Product.price_per_pflops_hour_fen,
)
#: A data center with its owner's name and its region, in one joined query.
DATACENTER_COLUMNS = (
    Datacenter.id, Datacenter.name, Datacenter.tier, Datacenter.pue, Datacenter.green_power_pct,
    Organization.name.label("owner_name"), Region.id.label("region_id"), Region.province, Region.city, Region.hub,
    Region.cluster,
)

# The chip table per database (engine URL). It changes only with `suanli db upgrade`, which syncs it from the
# packaged CSV; a page naming a chip key not in the cached table reloads it.
_chip_tables: dict[str, dict[str, Any]] = {}


def chip_rows(session: Session, needed: set[str]) -> dict[str, Any]:
    """The chip table as immutable rows by key, read once per process and database."""
    url = str(session.get_bind().engine.url)
    chips = _chip_tables.get(url)
    if chips is None or not needed <= chips.keys():
        chips = {row.key: row for row in session.execute(select(*ChipModel.__table__.columns))}
        _chip_tables[url] = chips
    return chips


# ---------------------------------------------------------------- conditions -> SQL

def _int_compare(column: Any, op: str, bound: Decimal) -> ColumnElement[bool]:
    """Compare an integer column with a Decimal bound exactly, binding only integers."""
    if op in ("=", "!="):
        if bound != bound.to_integral_value():
            return false() if op == "=" else true()
        return column == int(bound) if op == "=" else column != int(bound)
    if op == "<=":
        return column <= math.floor(bound)
    if op == "<":
        return column < math.ceil(bound)
    if op == ">=":
        return column >= math.ceil(bound)
    return column > math.floor(bound)  # ">"


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    return {"=": column.__eq__, "!=": column.__ne__, "<": column.__lt__, "<=": column.__le__,
            ">": column.__gt__, ">=": column.__ge__}[op](value)


def _membership(column: Any, op: str, values: list[Any], nullable: bool = False) -> ColumnElement[bool]:
    if op == "=":
        return column.in_(values)
    expression = column.not_in(values)
    return or_(column.is_(None), expression) if nullable else expression


def _strip_admin_suffix(name: str) -> str:
    for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class Resolver:
    """Turns condition values that name things (chips, places, data centers) into stored values."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._regions: list[tuple[str, str, str]] | None = None
        self._named: dict[str, list[uuid.UUID]] = {}  # data center name -> ids, as a search builds its SQL twice
        self._datacenter_names: frozenset[str] | None = None

    def regions(self) -> list[tuple[str, str, str]]:
        if self._regions is None:
            self._regions = [tuple(r) for r in self.session.execute(select(Region.province, Region.city, Region.hub))]
        return self._regions

    def chips(self, values: tuple[Any, ...]) -> list[str]:
        keys = []
        for value in values:
            spec = resolve_chip(str(value))
            if spec is None:
                valid = list(load_chip_table())
                raise InvalidQuery(f"Unknown chip {value!r}. Valid chips: {', '.join(valid)}.", code="invalid_value",
                                   details={"field": "chip", "value": str(value), "valid_values": valid})
            keys.append(spec.key)
        return keys

    def place(self, field: str, values: tuple[Any, ...]) -> list[str]:
        index = {"province": 0, "city": 1, "hub": 2}[field]
        known = sorted({r[index] for r in self.regions()})
        out = []
        for value in values:
            text = str(value).strip()
            candidates = [text, _strip_admin_suffix(text)]
            match = next((c for c in candidates if c in known), None)
            if match is None:
                raise InvalidQuery(f"No {field} {text!r} in this platform. Valid values: {', '.join(known)}.",
                                   code="invalid_value", details={"field": field, "value": text, "valid_values": known})
            out.append(match)
        return out

    def datacenter_named(self, name: str) -> bool:
        """Whether some data center is called exactly ``name``. The names are read once (one query), as reading
        free words may ask about many phrases."""
        if self._datacenter_names is None:
            self._datacenter_names = frozenset(self.session.scalars(select(Datacenter.name).distinct()))
        return name.strip() in self._datacenter_names

    def datacenters(self, values: tuple[Any, ...]) -> list[uuid.UUID]:
        ids: list[uuid.UUID] = []
        for value in values:
            text = str(value).strip()
            try:
                ids.append(uuid.UUID(text))
                continue
            except ValueError:
                pass
            found = self._named.get(text)
            if found is None:
                found = self._named[text] = list(self.session.scalars(select(Datacenter.id)
                                                                       .where(Datacenter.name == text)))
            if not found:
                raise InvalidQuery(f"No data center named {text!r}; use its exact name or id "
                                   "(GET /api/v1/datacenters).", code="invalid_value",
                                   details={"field": "datacenter", "value": text})
            ids.extend(found)
        return ids


def _unseekable(column: Any) -> Any:
    """``coalesce(column, column)``: the same values and type, but no index can seek on it, so the planner takes
    the index the search means it to (a sort index to walk, the sample)."""
    return func.coalesce(column, column)


def _as_is(column: Any) -> Any:
    return column


def condition_sql(condition: Condition, resolver: Resolver, *, seekable: bool = True,
                  keep: Any = None) -> ColumnElement[bool]:
    """The SQL of one condition. ``seekable=False`` hides its columns from the planner (all but ``keep``, the
    sort column a walk may seek on), for a page that must walk its sort index or an estimate that must read
    the sample (see `search`)."""
    field, op, values = condition.field, condition.op, condition.values
    text = _as_is if seekable else _unseekable
    number = _as_is if seekable else (lambda column: column if column is keep else _unseekable(column))
    if field == "chip":
        return _membership(text(Product.chip_key), op, resolver.chips(values), nullable=True)
    if field in ("vendor", "ecosystem"):
        return _membership(text(getattr(Product, field)), op, list(values), nullable=True)
    if field == "kind":
        return _membership(text(Product.kind), op, [ProductKind(v) for v in values])
    if field == "delivery":
        return _membership(text(Product.delivery), op, [DeliveryForm(v) for v in values])
    if field in ("province", "city"):
        return _membership(text(getattr(Product, field)), op, resolver.place(field, values))
    if field == "hub":
        hubs = resolver.place("hub", values)
        cities = [(p, c) for p, c, h in resolver.regions() if h in hubs]
        inside = or_(false(), *[and_(text(Product.province) == p, text(Product.city) == c) for p, c in cities])
        return inside if op == "=" else ~inside
    if field == "datacenter":
        return _membership(text(Product.datacenter_id), op, resolver.datacenters(values))
    if field == "mode":
        offered = {"on_demand": true(), "reserved": Product.price_reserved_month_fen.is_not(None),
                   "spot": Product.price_spot_floor_fen.is_not(None)}
        any_of = or_(*[offered[v] for v in values])
        return any_of if op == "=" else ~any_of
    if field == "available":
        has_free = number(Product.stock_units) > number(Product.allocated_units)
        wanted = bool(values[0]) if op == "=" else not bool(values[0])
        return has_free if wanted else ~has_free
    if field in ("accelerators", "accel_memory", "vcpus", "memory"):
        column = number({"accelerators": Product.accelerators, "accel_memory": Product.accel_memory_gib,
                         "vcpus": Product.vcpus, "memory": Product.memory_gib}[field])
        if len(values) > 1:
            return _membership(column, op, [int(v) for v in values])
        return _compare(column, op, int(values[0]))
    if field in ("price", "price_per_accel", "price_per_pflops"):
        column = number({"price": Product.price_on_demand_fen, "price_per_accel": Product.price_per_accel_hour_fen,
                         "price_per_pflops": Product.price_per_pflops_hour_fen}[field])
        parts = [_int_compare(column, "=", D(v) * 100) for v in values] if len(values) > 1 else \
            [_int_compare(column, op, D(values[0]) * 100)]
        if len(values) > 1:
            return or_(*parts) if op == "=" else ~or_(*parts)
        return parts[0]
    if field == "pflops":
        column = number(Product.fp16_tflops)
        if len(values) > 1:
            return _membership(column, op, [float(D(v) * 1000) for v in values])
        return _compare(column, op, float(D(values[0]) * 1000))
    raise AssertionError(f"field {field} has no SQL")  # the field table and this function go together


# ---------------------------------------------------------------- cursor

def _encode_cursor(sort: SortKey, value: Any, product_id: uuid.UUID) -> str:
    raw = json.dumps({"s": sort.field, "d": sort.descending, "v": value, "i": str(product_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_MAX_CURSOR_VALUE = 2**63 - 1


def _decode_cursor(cursor: str, sort: SortKey) -> tuple[Any, uuid.UUID]:
    bad = InvalidQuery("The cursor is not valid; start again without `cursor`, keeping the same filters and sort.",
                       code="invalid_cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, last_id = data["v"], uuid.UUID(data["i"])
        same_sort = data["s"] == sort.field and data["d"] == sort.descending
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not same_sort or not isinstance(value, (int, float)) or isinstance(value, bool):
        raise bad
    # Sort columns are BIGINT or double: a value outside that range (or NaN/infinity) never came from a page,
    # and binding it would fail in the driver (SQLite: OverflowError; PostgreSQL: bigint out of range).
    if abs(value) > _MAX_CURSOR_VALUE or not math.isfinite(value):
        raise bad
    return value, last_id


# ---------------------------------------------------------------- the search
#
# Every search runs in bounded work, whatever it matches:
#
# 1. It estimates its matches from a random sample of about SAMPLE_ROWS products (`Product.sample_slot` < k,
#    read through the sample's covering index), which costs the same for 100 matches or 1,000,000.
# 2. Few estimated matches that a filter's index reaches (chip, vendor, place, accelerators, a price bound...):
#    it counts them exactly and sorts them all for its page; the index that counted them (covering, for the
#    common filters) finds them again. `column + 0` keeps the planner off the sort index, which can cost most
#    of the table when filter and sort go together (8-card nodes are both the dearest products and what
#    `accelerators>=8` asks for).
# 3. Otherwise it walks the sort index (covering: rows that fail the filter are skipped inside it) with the
#    filter's columns hidden from the planner, which would rather read every match through the filter's index
#    and sort them. The walk is bounded: it stops at the sort key of the W-th entry from where it starts, W
#    four times what the estimate says a page needs. A filter that goes against the sort fills no page within
#    that bound, and the search falls back to sorting the matches (step 2's plan) when an index reaches them,
#    or else walks on to the end of the index (one pass over it, still without sorting).
#
# `total` is exact when the search counted (2), when the sample was the whole table, or when a first page holds
# every match; otherwise it is the sample's estimate, to two significant digits, and `total_exact` is false.

# The number of visible products per database (engine URL), with when it was read: it sets the sample's size.
_visible_counts: dict[str, tuple[float, int]] = {}


def visible_products(session: Session) -> int:
    """About how many products are visible: 100 x those in sample slot 0, read at most once a minute."""
    url = str(session.get_bind().engine.url)
    now = time.monotonic()
    cached = _visible_counts.get(url)
    if cached is None or now - cached[0] > VISIBLE_COUNT_SECONDS:
        in_slot = session.scalar(select(func.count()).where(Product.sample_slot == 0, Product.is_visible == true()))
        cached = _visible_counts[url] = (now, (in_slot or 0) * SAMPLE_SLOTS)
    return cached[1]


@dataclass(frozen=True)
class Estimate:
    matches: float  # estimated matching products
    exact: bool  # the sample was every product: `matches` is the count


def estimate_matches(session: Session, where: list[ColumnElement[bool]], visible: int) -> Estimate:
    """Matches estimated from the first k sample slots (a k% random sample of about SAMPLE_ROWS products)."""
    slots = min(SAMPLE_SLOTS, max(1, math.ceil(SAMPLE_ROWS * SAMPLE_SLOTS / max(visible, 1))))
    # Both bounds, so SQLite's planner (which has no histograms) sees a narrow range and takes the sample index.
    in_sample = [Product.sample_slot >= 0, Product.sample_slot < slots] if slots < SAMPLE_SLOTS else []
    found = session.scalar(select(func.count()).select_from(Product).where(*in_sample, *where)) or 0
    return Estimate(found * SAMPLE_SLOTS / slots, slots == SAMPLE_SLOTS)


def _seekable(condition: Condition) -> bool:
    """Whether an index reaches the matches of this condition (an `!=` leaves most of the table)."""
    if condition.op == "!=":
        return False
    if condition.field in INDEXED_FIELDS:
        return condition.op == "="
    if condition.field == "available":
        return condition.values[0] is False
    return condition.field in RANGE_INDEXED_FIELDS


#: Sorts with a composite (chip, is_visible, sort column, id) index: `ix_products_chip_price`, `ix_products_chip_ppp`.
CHIP_SORTS = frozenset({"price", "price_per_pflops"})


def _chip_walk(conditions: list[Condition], sort: SortKey) -> Condition | None:
    """The `chip=` condition naming one chip, when the sort has a composite index with the chip."""
    if sort.field not in CHIP_SORTS:
        return None
    return next((c for c in conditions if c.field == "chip" and c.op == "=" and len(c.values) == 1), None)


def _round_estimate(value: float) -> int:
    """To two significant digits: 73,412 -> 73,000. An estimate says no more than it knows."""
    if value < 100:
        return round(value)
    step = 10 ** (int(math.log10(value)) - 1)
    return int(round(value / step) * step)


def search(session: Session, conditions: list[Condition], sort: SortKey | None, *, limit: int = 20,
           cursor: str | None = None) -> SearchPage:
    sort = sort or DEFAULT_SORT
    resolver = Resolver(session)
    column = SORTS[sort.field]
    # `= true`, not `IS true`: PostgreSQL matches only the former against index columns and partial indexes.
    always: list[ColumnElement[bool]] = [Product.is_visible == true()]
    if sort.field in NULLABLE_SORTS:
        always.append(column.is_not(None))
    where = always + [condition_sql(c, resolver) for c in conditions]
    hidden = [condition_sql(c, resolver, seekable=False) for c in conditions]

    visible = visible_products(session)
    if any(c.field == "datacenter" and c.op == "=" for c in conditions):
        # A data center's products are few and its index finds them: count them rather than estimate.
        estimate = Estimate(0, False)
    else:
        estimate = estimate_matches(session, [_unseekable(column).is_not(None) if sort.field in NULLABLE_SORTS
                                              else true(), Product.is_visible == true(), *hidden], visible)
    reachable = any(_seekable(c) for c in conditions)
    total, total_exact = _round_estimate(estimate.matches), estimate.exact
    if estimate.exact:
        total = int(estimate.matches)
    elif reachable and estimate.matches <= TOTAL_COUNTED_UP_TO:
        matches = select(Product.id).where(*where).limit(TOTAL_COUNTED_UP_TO + 1).subquery()
        counted = session.scalar(select(func.count()).select_from(matches)) or 0
        if counted <= TOTAL_COUNTED_UP_TO:
            total, total_exact = counted, True
        else:  # the sample saw fewer than there are: at least the count's cap match
            total = max(total, TOTAL_COUNTED_UP_TO)

    after: list[ColumnElement[bool]] = []
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        # A row-value comparison, so the (is_visible, sort column, id) index seeks straight to the cursor
        # instead of reading every row before it (the sort column is never NULL here, see NULLABLE_SORTS).
        bound = tuple_(literal(value, column.type), literal(last_id, Product.id.type))
        after.append(tuple_(column, Product.id) < bound if sort.descending else tuple_(column, Product.id) > bound)
    order = (column.desc(), Product.id.desc()) if sort.descending else (column.asc(), Product.id.asc())

    def page_ids(page_where: list[ColumnElement[bool]], sort_matches: bool) -> Any:
        key = column + 0 if sort_matches else column
        key_order = (key.desc(), Product.id.desc()) if sort.descending else (key.asc(), Product.id.asc())
        return select(Product.id).where(*page_where, *after).order_by(*key_order).limit(limit + 1)

    def rows(ids: Any) -> list[Any]:
        # The page's ids first, then those rows: the id query is answered from an index, not the table.
        return list(session.execute(select(*PAGE_COLUMNS).where(Product.id.in_(ids)).order_by(*order)))

    products: list[Any] = []
    if total or not total_exact:
        sort_matches = reachable and (total if total_exact else estimate.matches) <= SORT_MATCHES_UP_TO
        chip_walk = _chip_walk(conditions, sort)
        if chip_walk is not None and not sort_matches:
            # One chip, sorted by a column it has a composite index for: walk that index, within the chip.
            walk_where = always + [condition_sql(c, resolver, seekable=c is chip_walk, keep=column)
                                   for c in conditions]
            products = rows(page_ids(walk_where, sort_matches=False))
        elif not sort_matches:
            walk_where = always + [condition_sql(c, resolver, seekable=False, keep=column) for c in conditions]
            needed = (limit + 1) * visible / max(estimate.matches, 1)
            budget = int(min(WALK_ROWS_AT_MOST, max(WALK_ROWS_AT_LEAST, 4 * needed)))
            # The sort key of the budget-th entry from the start: the walk reads no further than it.
            edge = select(column, Product.id).where(*always, *after).order_by(*order).offset(budget).limit(1)
            edge_row = session.execute(edge).first()
            if edge_row is not None:
                stop = tuple_(literal(edge_row[0], column.type), literal(edge_row[1], Product.id.type))
                walk_where.append(tuple_(column, Product.id) <= stop if not sort.descending
                                  else tuple_(column, Product.id) >= stop)
            products = rows(page_ids(walk_where, sort_matches=False))
            if edge_row is not None and len(products) <= limit:
                # Walked to the edge without filling the page: the matches lie further on. Sort them when an
                # index reaches them and they are fewer than half the table; else walk on (at worst one pass
                # over the sort index, never a sort of the table).
                sort_matches = reachable and estimate.matches * 2 < visible
                if not sort_matches:
                    products = rows(page_ids(walk_where[:-1], sort_matches=False))
        if sort_matches:
            products = rows(page_ids(where, sort_matches=True))

    next_cursor = None
    if len(products) > limit:
        products = products[:limit]
        last = products[-1]
        next_cursor = _encode_cursor(sort, getattr(last, column.key), last.id)
    elif not cursor:
        total, total_exact = len(products), True  # a first page that holds every match counted them
    if not total_exact:
        total = max(total, len(products) + (1 if next_cursor else 0))

    dc_ids = {p.datacenter_id for p in products}
    datacenters = {d.id: d for d in session.execute(
        select(*DATACENTER_COLUMNS).join(Organization, Datacenter.owner_org_id == Organization.id)
        .join(Region, Datacenter.region_id == Region.id).where(Datacenter.id.in_(dc_ids)))} if dc_ids else {}
    chips = chip_rows(session, {p.chip_key for p in products if p.chip_key})
    return SearchPage(products, datacenters, chips, next_cursor, total, total_exact)
