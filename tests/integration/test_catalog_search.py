"""Catalog search, sorting, cursor paging, strict query errors, the price index and the platform figures.

One small, varied catalog is built per backend for the whole module (through the API, like sellers do) and
only read by the tests, so none of them takes the ``db``/``client``/``make`` fixtures (whose clean-up
would empty it). Every expectation below is written by hand from the ``PRODUCTS`` table.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete, update

from support import TABLES_TO_CLEAN, Factory
from suanli.accounts import security
from suanli.catalog.models import Product

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass(frozen=True)
class Spec:
    key: str
    dc: str
    kind: str
    chip: str | None
    accelerators: int
    memory_gib: int
    delivery: str
    stock: int
    price: int  # on-demand fen per unit-hour
    reserved: int | None
    spot: int | None
    # Expected normalized values, computed by hand:
    per_accel: int | None  # fen per accelerator-hour, half-up
    per_pflops: int | None  # fen per FP16-PFLOPS-hour, half-up
    pflops: float  # FP16 PFLOPS per unit
    accel_memory: int  # GiB per accelerator


# Data centers: dc1 芜湖一号 (seller 1, 芜湖), dc2 "合肥 智算 中心" (seller 1, 合肥), dc3 成都天府 (seller 2, 成都),
# dc4 芜湖一号 (seller 3, 芜湖: the same name as dc1), dc5 (seller 3, 合肥, pending approval).
PRODUCTS = [
    # key, dc, kind, chip, accelerators, host memory GiB, delivery, stock, on-demand fen, reserved fen/month,
    # spot floor fen, then by hand: fen per accelerator-hour, fen per PFLOPS-hour, PFLOPS, GiB per accelerator
    Spec("P1", "dc1", "accelerator", "a800", 8, 1024, "bare_metal", 4, 8000, 3_500_000, None, 1000, 3205, 2.496, 80),
    Spec("P2", "dc3", "accelerator", "a800", 8, 1024, "container", 6, 7999, None, 3000, 1000, 3205, 2.496, 80),
    Spec("P3", "dc2", "accelerator", "a800", 4, 512, "vm", 3, 4402, 1_500_000, 2000, 1101, 3527, 1.248, 80),
    Spec("P4", "dc1", "accelerator", "h800", 8, 2048, "bare_metal", 2, 15264, 6_000_000, None, 1908, 1929, 7.912, 80),
    Spec("P5", "dc4", "accelerator", "h800", 1, 128, "container", 10, 2006, None, 800, 2006, 2028, 0.989, 80),
    Spec("P6", "dc3", "accelerator", "ascend-910b", 8, 1024, "bare_metal", 5, 7400, 3_000_000, None, 925, 2460, 3.008,
         64),
    Spec("P7", "dc2", "accelerator", "ascend-910b", 1, 192, "container", 8, 1000, None, 400, 1000, 2660, 0.376, 64),
    Spec("P8", "dc4", "accelerator", "hygon-dcu-z100", 4, 256, "vm", 4, 680, 300_000, None, 170, 6939, 0.098, 32),
    Spec("P9", "dc3", "accelerator", "rtx4090", 1, 64, "container", 20, 192, None, 80, 192, 1162, 0.1652, 24),
    Spec("P10", "dc1", "accelerator", "rtx4090", 2, 128, "batch", 10, 380, None, 150, 190, 1150, 0.3304, 24),
    Spec("P11", "dc2", "cpu", None, 0, 256, "vm", 30, 576, 250_000, None, None, None, 0.0, 0),
    Spec("P12", "dc4", "storage", None, 0, 0, "batch", 100, 192, 90_000, None, None, None, 0.0, 0),
    Spec("P13", "dc1", "accelerator", "a800", 8, 1024, "bare_metal", 2, 8800, 3_800_000, None, 1100, 3526, 2.496, 80),
    Spec("P14", "dc3", "accelerator", "h800", 2, 256, "vm", 4, 3801, 1_600_000, None, 1901, 1922, 1.978, 80),
    Spec("P15", "dc2", "accelerator", "h800", 4, 512, "container", 3, 7000, None, 3000, 1750, 1769, 3.956, 80),
]
# Never in the catalog: an unlisted product in dc1 and a product of the pending dc5.
HIDDEN = [
    Spec("H1", "dc1", "accelerator", "a800", 8, 1024, "bare_metal", 4, 100, None, None, 13, 40, 2.496, 80),
    Spec("H2", "dc5", "accelerator", "h800", 8, 2048, "bare_metal", 4, 800, None, None, 100, 101, 7.912, 80),
]
SPEC = {p.key: p for p in PRODUCTS}
ALL = frozenset(SPEC)
NOT_AVAILABLE = "P13"  # allocated_units = stock_units
DC_OF = {p.key: p.dc for p in PRODUCTS}
ANHUI = frozenset(k for k, dc in DC_OF.items() if dc in ("dc1", "dc2", "dc4"))
SICHUAN = frozenset(k for k, dc in DC_OF.items() if dc == "dc3")


@dataclass
class Catalog:
    client: TestClient
    ids: dict[str, str]  # product key -> id, hidden products included
    dcs: dict[str, str]  # data center key -> id

    def __post_init__(self) -> None:
        self._keys = {v: k for k, v in self.ids.items()}

    def key_of(self, product_id: str) -> str:
        return self._keys.get(product_id, f"unknown product {product_id}")

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        r = self.client.get("/api/v1/products", params=params)
        assert r.status_code == 200, (params, r.text)
        return r.json()

    def keys(self, q: str | None = None, **params: Any) -> set[str]:
        page = self.get({"limit": 100, **({"q": q} if q is not None else {}), **params})
        keys = [self.key_of(item["id"]) for item in page["items"]]
        assert len(keys) == len(set(keys)) == page["total"]
        assert page["next_cursor"] is None
        return set(keys)

    def ordered(self, q: str | None = None, **params: Any) -> list[str]:
        page = self.get({"limit": 100, **({"q": q} if q is not None else {}), **params})
        return [self.key_of(item["id"]) for item in page["items"]]

    def error(self, status: int, code: str, **params: Any) -> dict[str, Any]:
        r = self.client.get("/api/v1/products", params=params)
        assert r.status_code == status, (params, r.text)
        body = r.json()["error"]
        assert body["code"] == code, (params, body)
        assert isinstance(body["message"], str) and body["message"]
        return body


def _wipe(database) -> None:
    """What the ``db`` fixture does after each test."""
    with database.unit_of_work() as session:
        for table in TABLES_TO_CLEAN:
            session.execute(delete(table))


@pytest.fixture(scope="module")
def catalog(backend) -> Iterator[Catalog]:
    from suanli.app import create_app

    _wipe(backend)
    # One client (and one event-loop portal) for the module; argon2id with cheap parameters for the users.
    with pytest.MonkeyPatch.context() as mp, TestClient(create_app(backend)) as client:
        mp.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        make = Factory(client, backend)
        sellers = [make.user("seller") for _ in range(3)]
        make.user("buyer")
        wuhu = make.region("安徽", "芜湖", "长三角", "芜湖集群")
        hefei = make.region("安徽", "合肥", "长三角", None)
        chengdu = make.region("四川", "成都", "成渝", "天府集群")
        dcs = {
            "dc1": make.datacenter(sellers[0], region=wuhu, name="芜湖一号"),
            "dc2": make.datacenter(sellers[0], region=hefei, name="合肥 智算 中心"),
            "dc3": make.datacenter(sellers[1], region=chengdu, name="成都天府"),
            "dc4": make.datacenter(sellers[2], region=wuhu, name="芜湖一号"),
            "dc5": make.datacenter(sellers[2], region=hefei, name="待审数据中心", approved=False),
        }
        owner = {"dc1": 0, "dc2": 0, "dc3": 1, "dc4": 2, "dc5": 2}
        ids: dict[str, str] = {}
        for spec in PRODUCTS + HIDDEN:
            made = make.product(
                sellers[owner[spec.dc]], dcs[spec.dc], name=f"{spec.key} {spec.chip or spec.kind}", kind=spec.kind,
                chip=spec.chip, accelerators=spec.accelerators, vcpus=16, memory_gib=spec.memory_gib,
                delivery=spec.delivery, stock_units=spec.stock, price_on_demand_fen=spec.price,
                price_reserved_month_fen=spec.reserved, price_spot_floor_fen=spec.spot,
                status="unlisted" if spec.key == "H1" else "listed")
            ids[spec.key] = made["id"]
        with backend.unit_of_work() as session:
            session.execute(update(Product).where(Product.id == uuid.UUID(ids[NOT_AVAILABLE]))
                            .values(allocated_units=Product.stock_units))
        yield Catalog(client, ids, {k: d["id"] for k, d in dcs.items()})
    _wipe(backend)


def test_the_catalog_is_what_the_table_says(catalog):
    """The fixture itself: every listed product, with the normalized values computed by hand."""
    page = catalog.get({"limit": 100})
    assert page["total"] == len(PRODUCTS)
    for item in page["items"]:
        spec = SPEC[catalog.key_of(item["id"])]
        assert item["compute"]["fp16_pflops"] == spec.pflops, spec.key
        assert item["compute"]["accel_memory_gib"] == spec.accel_memory, spec.key
        per_accel, per_pflops = item["prices"]["per_accelerator_hour"], item["prices"]["per_fp16_pflops_hour"]
        assert (per_accel and per_accel["fen"]) == spec.per_accel, spec.key
        assert (per_pflops and per_pflops["fen"]) == spec.per_pflops, spec.key
        assert item["available_units"] == (0 if spec.key == NOT_AVAILABLE else spec.stock)


# ---------------------------------------------------------------- filters

FILTERS: list[tuple[str, set[str]]] = [
    ("", set(ALL)),
    # chip, by key, name or alias, any case; IN and NOT IN lists
    ("chip=a800", {"P1", "P2", "P3", "P13"}),
    ("chip=A800", {"P1", "P2", "P3", "P13"}),
    ('chip="NVIDIA A800 SXM4 80GB"', {"P1", "P2", "P3", "P13"}),
    ("chip=910B", {"P6", "P7"}),
    ("chip=昇腾910B", {"P6", "P7"}),
    ("chip=ascend-910b", {"P6", "P7"}),
    ("chip=DCU", {"P8"}),
    ("chip=4090", {"P9", "P10"}),
    ("gpu=H800", {"P4", "P5", "P14", "P15"}),
    ("chip=a800,h800", {"P1", "P2", "P3", "P13", "P4", "P5", "P14", "P15"}),
    ("chip = a800 , H800", {"P1", "P2", "P3", "P13", "P4", "P5", "P14", "P15"}),
    ("chip!=a800", ALL - {"P1", "P2", "P3", "P13"}),  # includes the CPU and storage products
    ("chip!=a800,h800", {"P6", "P7", "P8", "P9", "P10", "P11", "P12"}),
    # vendor and ecosystem
    ("vendor=huawei", {"P6", "P7"}),
    ("vendor=NVIDIA", {"P1", "P2", "P3", "P4", "P5", "P9", "P10", "P13", "P14", "P15"}),
    ("vendor=hygon,huawei", {"P6", "P7", "P8"}),
    ("vendor!=nvidia", {"P6", "P7", "P8", "P11", "P12"}),
    ("vendor=cambricon", set()),
    ("ecosystem=cann", {"P6", "P7"}),
    ("eco=dtk", {"P8"}),
    ("ecosystem!=cuda", {"P6", "P7", "P8", "P11", "P12"}),
    # kind
    ("kind=cpu", {"P11"}),
    ("kind=storage", {"P12"}),
    ("kind!=accelerator", {"P11", "P12"}),
    ("kind=accelerator", ALL - {"P11", "P12"}),
    # accelerators per unit
    ("accelerators>=8", {"P1", "P2", "P4", "P6", "P13"}),
    ("accelerators=1", {"P5", "P7", "P9"}),
    ("accelerators<2", {"P5", "P7", "P9", "P11", "P12"}),
    ("accelerators>1 accelerators<8", {"P3", "P8", "P10", "P14", "P15"}),
    ("accelerators=2,4", {"P3", "P8", "P10", "P14", "P15"}),
    ("gpus!=8", ALL - {"P1", "P2", "P4", "P6", "P13"}),
    ("cards<=0", {"P11", "P12"}),
    # memory per accelerator
    ("accel_memory>=80", {"P1", "P2", "P3", "P4", "P5", "P13", "P14", "P15"}),
    ("vram<64", {"P8", "P9", "P10", "P11", "P12"}),
    ("mem=64", {"P6", "P7"}),
    ("accel_memory>24 accel_memory<80", {"P6", "P7", "P8"}),
    # places
    ("province=安徽", set(ANHUI)),
    ("province=安徽省", set(ANHUI)),
    ("province=四川", set(SICHUAN)),
    ("province!=安徽", set(SICHUAN)),
    ("province=安徽,四川", set(ALL)),
    ("city=芜湖", {"P1", "P4", "P10", "P13", "P5", "P8", "P12"}),
    ("city=合肥", {"P3", "P7", "P11", "P15"}),
    ("city=成都市", set(SICHUAN)),
    ("city=芜湖,成都", {"P1", "P4", "P10", "P13", "P5", "P8", "P12"} | SICHUAN),
    ("city!=芜湖", {"P3", "P7", "P11", "P15"} | SICHUAN),
    ("hub=成渝", set(SICHUAN)),
    ("hub=长三角", set(ANHUI)),
    ("hub!=成渝", set(ANHUI)),
    ("province=安徽 city=合肥", {"P3", "P7", "P11", "P15"}),
    ("province=四川 city=合肥", set()),
    # data center by exact name (two data centers share a name; the pending one never shows)
    ('datacenter="合肥 智算 中心"', {"P3", "P7", "P11", "P15"}),
    ("dc=芜湖一号", {"P1", "P4", "P10", "P13", "P5", "P8", "P12"}),
    ("datacenter=待审数据中心", set()),
    # delivery
    ("delivery=bare_metal", {"P1", "P4", "P6", "P13"}),
    ("delivery=container", {"P2", "P5", "P7", "P9", "P15"}),
    ("delivery=VM", {"P3", "P8", "P11", "P14"}),
    ("delivery=batch", {"P10", "P12"}),
    ("delivery=vm,batch", {"P3", "P8", "P11", "P14", "P10", "P12"}),
    ("delivery!=bare_metal", ALL - {"P1", "P4", "P6", "P13"}),
    # billing modes
    ("mode=reserved", {"P1", "P3", "P4", "P6", "P8", "P11", "P12", "P13", "P14"}),
    ("mode=spot", {"P2", "P3", "P5", "P7", "P9", "P10", "P15"}),
    ("mode=on_demand", set(ALL)),
    ("mode=reserved,spot", set(ALL)),
    ("mode!=spot", {"P1", "P4", "P6", "P8", "P11", "P12", "P13", "P14"}),
    ("mode=reserved mode=spot", {"P3"}),
    # on-demand price per unit-hour, CNY; exact at the fen
    ("price<=80", ALL - {"P4", "P13"}),
    ("price<=80.00", ALL - {"P4", "P13"}),
    ("price<80", ALL - {"P1", "P4", "P13"}),
    ("price<=79.99", ALL - {"P1", "P4", "P13"}),
    ("price<79.99", ALL - {"P1", "P2", "P4", "P13"}),
    ("price<=79.995", ALL - {"P1", "P4", "P13"}),
    ("price>79.995", {"P1", "P4", "P13"}),
    ("price>=80", {"P1", "P4", "P13"}),
    ("price>80", {"P4", "P13"}),
    ("price=80", {"P1"}),
    ("price=79.99", {"P2"}),
    ("price=79.995", set()),
    ("price=1.92", {"P9", "P12"}),
    ("price=1.92,5.76", {"P9", "P12", "P11"}),
    ("price!=1.92", ALL - {"P9", "P12"}),
    ("price>=1.92 price<=1.92", {"P9", "P12"}),
    ("price<1.92", set()),
    ("price>=0", set(ALL)),
    # normalized prices (CPU and storage have none, so they never match)
    ("price_per_accel<=10", {"P1", "P2", "P6", "P7", "P8", "P9", "P10"}),
    ("price_per_accel<10", {"P6", "P8", "P9", "P10"}),
    ("price_per_accel>19", {"P4", "P5", "P14"}),
    ("price_per_accel=11.01", {"P3"}),
    ("price_per_accel>=0", ALL - {"P11", "P12"}),
    ("price_per_pflops<=20", {"P4", "P9", "P10", "P14", "P15"}),
    ("ppp>30", {"P1", "P2", "P3", "P13", "P8"}),
    ("price_per_pflops=32.05", {"P1", "P2"}),
    # FP16 PFLOPS per unit
    ("pflops>=2.496", {"P1", "P2", "P4", "P6", "P13", "P15"}),
    ("pflops=2.496", {"P1", "P2", "P13"}),
    ("pflops>2.496", {"P4", "P6", "P15"}),
    ("pflops<0.1", {"P8", "P11", "P12"}),
    ("pflops=0.1652", {"P9"}),
    ("pflops>0.1652 pflops<0.376", {"P10"}),
    # free units
    ("available=true", ALL - {NOT_AVAILABLE}),
    ("available=yes", ALL - {NOT_AVAILABLE}),
    ("available=false", {NOT_AVAILABLE}),
    ("available!=true", {NOT_AVAILABLE}),
    # combinations
    ("chip=a800 accelerators>=8 province=安徽 price<=80", {"P1"}),
    ("chip=A800 accelerators>=8 sort=price", {"P1", "P2", "P13"}),
    ("vendor=huawei,hygon mem>=64", {"P6", "P7"}),
    ("province=安徽 available=true mode=spot price<=30", {"P5", "P7", "P10"}),
    ("kind=accelerator price_per_pflops<=25 delivery!=batch", {"P4", "P5", "P9", "P6", "P14", "P15"}),
]


def test_filters(catalog, subtests):
    for q, expected in FILTERS:
        with subtests.test(q=q):
            assert catalog.keys(q) == expected


def test_datacenter_filter_by_id(catalog):
    dc2 = catalog.dcs["dc2"]
    assert catalog.keys(f"datacenter={dc2}") == {"P3", "P7", "P11", "P15"}
    assert catalog.keys(f"datacenter!={dc2}") == ALL - {"P3", "P7", "P11", "P15"}
    assert catalog.keys(f"datacenter={dc2},{catalog.dcs['dc3']}") == {"P3", "P7", "P11", "P15"} | SICHUAN
    assert catalog.keys(f"datacenter={catalog.dcs['dc5']}") == set()
    assert catalog.keys(f"datacenter={uuid.uuid4()}") == set()
    assert catalog.keys(datacenter_id=dc2) == {"P3", "P7", "P11", "P15"}


# ---------------------------------------------------------------- explicit parameters = the query language

EQUIVALENT: list[tuple[dict[str, Any], str]] = [
    ({"chip": "A800"}, "chip=A800"),
    ({"chip": "910B"}, "chip=910B"),
    ({"vendor": "huawei"}, "vendor=huawei"),
    ({"ecosystem": "cann"}, "ecosystem=cann"),
    ({"kind": "cpu"}, "kind=cpu"),
    ({"min_accelerators": 8}, "accelerators>=8"),
    ({"max_accelerators": 4}, "accelerators<=4"),
    ({"min_accelerators": 2, "max_accelerators": 4}, "accelerators>=2 accelerators<=4"),
    ({"min_accel_memory": 64}, "accel_memory>=64"),
    ({"province": "安徽省"}, "province=安徽"),
    ({"city": "合肥"}, "city=合肥"),
    ({"hub": "成渝"}, "hub=成渝"),
    ({"delivery": "vm"}, "delivery=vm"),
    ({"mode": "reserved"}, "mode=reserved"),
    ({"mode": "spot"}, "mode=spot"),
    ({"mode": "on_demand"}, "mode=on_demand"),
    ({"max_price": "80"}, "price<=80"),
    ({"max_price": "80.00"}, "price<=80"),
    ({"max_price": "79.99"}, "price<=79.99"),
    ({"available_only": "true"}, "available=true"),
    ({"available_only": "false"}, ""),
    ({"chip": "a800", "min_accelerators": 8, "max_price": "80", "available_only": "true", "province": "安徽",
      "mode": "reserved"}, "chip=a800 accelerators>=8 price<=80 available=true province=安徽 mode=reserved"),
    ({"sort": "-price_per_pflops"}, "sort=-price_per_pflops"),
    ({"sort": "pflops:desc", "chip": "a800"}, "chip=a800 sort=-pflops"),
]


def test_explicit_parameters_equal_the_query_language(catalog, subtests):
    for params, q in EQUIVALENT:
        with subtests.test(params=params, q=q):
            explicit = catalog.get({"limit": 100, **params})
            query = catalog.get({"limit": 100, "q": q})
            assert [i["id"] for i in explicit["items"]] == [i["id"] for i in query["items"]]
            assert explicit["total"] == query["total"]
            assert explicit["total"] > 0 or params == {}


def test_explicit_parameters_and_q_combine(catalog):
    assert catalog.keys("province=四川", chip="a800") == {"P2"}
    assert catalog.keys("chip=h800", min_accelerators=2, max_price="70") == {"P14", "P15"}
    assert catalog.keys("price>50", chip="a800", province="安徽") == {"P1", "P13"}
    assert catalog.keys("chip=h800", chip="a800") == set()  # all conditions must hold


# ---------------------------------------------------------------- sorting

SORT_VALUE = {
    "price": lambda s: s.price,
    "price_per_pflops": lambda s: s.per_pflops,
    "price_per_accel": lambda s: s.per_accel,
    "pflops": lambda s: s.pflops,
    "accel_memory": lambda s: s.accel_memory,
    "memory": lambda s: s.memory_gib,
}


def expected_order(catalog: Catalog, field: str, descending: bool, keys: set[str] = ALL) -> list[str]:
    """Sorted by the field, ties by id; products without the value (CPU, storage for per-compute prices) left out."""
    rows = [(SORT_VALUE[field](SPEC[k]), uuid.UUID(catalog.ids[k]), k) for k in keys
            if SORT_VALUE[field](SPEC[k]) is not None]
    rows.sort(reverse=descending)
    return [k for _, _, k in rows]


@pytest.mark.parametrize("field", list(SORT_VALUE))
def test_sort_orders_every_field_both_ways(catalog, field):
    ascending = catalog.ordered(f"sort={field}")
    assert ascending == expected_order(catalog, field, False)
    for spelling in (f"sort=-{field}", f"sort={field}:desc", f"sort={field.upper()}:DESC"):
        assert catalog.ordered(spelling) == expected_order(catalog, field, True), spelling
    assert catalog.ordered(sort=f"-{field}") == expected_order(catalog, field, True)
    assert catalog.ordered(f"sort={field}:asc") == ascending


def test_default_order_is_price_ascending(catalog):
    order = catalog.ordered()
    assert order == expected_order(catalog, "price", False)
    # P9 and P12 both cost 1.92: the one with the smaller id comes first
    first, second = sorted(("P9", "P12"), key=lambda k: uuid.UUID(catalog.ids[k]))
    assert order[:2] == [first, second]


def test_per_compute_sorts_leave_out_products_without_accelerators(catalog):
    for field in ("price_per_pflops", "price_per_accel"):
        for q in (f"sort={field}", f"sort=-{field}"):
            page = catalog.get({"q": q, "limit": 100})
            keys = {catalog.key_of(i["id"]) for i in page["items"]}
            assert keys == ALL - {"P11", "P12"}, q
            assert page["total"] == len(ALL) - 2
    assert catalog.ordered("sort=ppp") == expected_order(catalog, "price_per_pflops", False)
    # a filter that only matches CPU products finds nothing when sorted by a per-compute price
    assert catalog.keys("kind=cpu sort=price_per_accel") == set()


def test_sort_aliases_and_sort_within_a_filter(catalog):
    assert catalog.ordered("sort=vram") == expected_order(catalog, "accel_memory", False)
    assert catalog.ordered("sort=-ram") == expected_order(catalog, "memory", True)
    a800 = {"P1", "P2", "P3", "P13"}
    assert catalog.ordered("chip=a800 sort=-pflops") == expected_order(catalog, "pflops", True, a800)
    assert catalog.ordered("province=安徽 sort=price_per_accel") == \
        expected_order(catalog, "price_per_accel", False, ANHUI - {"P11", "P12"})


# ---------------------------------------------------------------- cursor paging

def walk(catalog: Catalog, params: dict[str, Any], limit: int) -> tuple[list[str], list[int], int]:
    """Every page: the keys in order, the page sizes, the number of pages."""
    keys, sizes, cursor = [], [], None
    totals = set()
    for _ in range(100):
        page = catalog.get({**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        totals.add(page["total"])
        keys += [catalog.key_of(i["id"]) for i in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    else:
        pytest.fail("paging did not end")
    assert len(totals) == 1, totals  # the total is the same on every page
    assert totals.pop() == len(keys)
    return keys, sizes, len(sizes)


PAGED = [
    {"q": "sort=price"},
    {"q": "sort=-price"},
    {"q": "sort=price_per_pflops"},
    {"q": "sort=-price_per_accel"},
    {"q": "sort=-pflops"},
    {"q": "sort=accel_memory"},  # long runs of ties
    {"q": "sort=memory:desc"},
    {"q": "province=安徽 sort=price_per_accel"},
    {"q": "chip=a800,h800", "sort": "-price"},
    {},
]


def test_cursor_paging_walks_every_product_once(catalog, subtests):
    for i, params in enumerate(PAGED):
        for limit in (2, 3) if i < 3 else (2,):
            with subtests.test(params=params, limit=limit):
                unpaged = catalog.ordered(**params)
                keys, sizes, pages = walk(catalog, params, limit)
                assert keys == unpaged
                assert len(set(keys)) == len(keys)
                assert pages == max(1, math.ceil(len(unpaged) / limit))
                assert all(size == limit for size in sizes[:-1]) and 1 <= sizes[-1] <= limit


def test_exact_last_page_has_no_cursor(catalog):
    page = catalog.get({"q": "chip=a800", "limit": 4})
    assert len(page["items"]) == 4 and page["total"] == 4 and page["next_cursor"] is None
    page = catalog.get({"q": "chip=a800", "limit": 3})
    assert page["next_cursor"] is not None
    rest = catalog.get({"q": "chip=a800", "limit": 3, "cursor": page["next_cursor"]})
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    empty = catalog.get({"q": "chip=mlu370", "limit": 3})
    assert empty.pop("understood")["query"] == "chip=mlu370"
    assert empty == {"items": [], "next_cursor": None, "total": 0, "total_exact": True}


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def test_bad_cursors_are_400_invalid_cursor(catalog, subtests):
    first = catalog.get({"q": "sort=price", "limit": 2})
    cursor = first["next_cursor"]
    some_id = str(uuid.uuid4())
    cases = {
        "garbage": {"q": "sort=price", "cursor": "garbage!!"},
        "not base64 json": {"q": "sort=price", "cursor": base64.urlsafe_b64encode(b"\xff\x00").decode()},
        "tampered": {"q": "sort=price", "cursor": cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")},
        "another sort": {"q": "sort=pflops", "cursor": cursor},
        "another direction": {"q": "sort=-price", "cursor": cursor},
        "default sort is price": {"q": "sort=memory", "cursor": cursor},
        "missing keys": {"cursor": _cursor({"s": "price", "d": False})},
        "a list": {"cursor": _cursor([1, 2, 3])},
        "string value": {"cursor": _cursor({"s": "price", "d": False, "v": "80", "i": some_id})},
        "bool value": {"cursor": _cursor({"s": "price", "d": False, "v": True, "i": some_id})},
        "null value": {"cursor": _cursor({"s": "price", "d": False, "v": None, "i": some_id})},
        "bad id": {"cursor": _cursor({"s": "price", "d": False, "v": 100, "i": "not-a-uuid"})},
        "huge value": {"cursor": _cursor({"s": "price", "d": False, "v": 10**30, "i": some_id})},
        "negative huge value": {"q": "sort=-price",
                                "cursor": _cursor({"s": "price", "d": True, "v": -(10**30), "i": some_id})},
        "infinite value": {"cursor": _cursor({"s": "pflops", "d": False, "v": float("inf"), "i": some_id}),
                           "q": "sort=pflops"},
        "NaN value": {"cursor": _cursor({"s": "price", "d": False, "v": float("nan"), "i": some_id})},
    }
    for name, params in cases.items():
        with subtests.test(name):
            catalog.error(400, "invalid_cursor", **params)
    # and the real cursor still works
    assert catalog.get({"q": "sort=price", "limit": 2, "cursor": cursor})["items"]
    # a fraction for an integer sort column is odd but harmless: never a server error
    odd = catalog.client.get("/api/v1/products", params={
        "cursor": _cursor({"s": "price", "d": False, "v": 191.5, "i": some_id})})
    assert odd.status_code in (200, 400), odd.text


def test_a_cursor_of_the_same_sort_but_other_filters_still_pages(catalog):
    """A cursor holds a position in the sort order, so it can be reused after the filter changes."""
    page = catalog.get({"q": "sort=price", "limit": 5})
    rest = catalog.ordered("province=安徽 sort=price")
    last_price = SPEC[catalog.key_of(page["items"][-1]["id"])].price
    after = catalog.get({"q": "province=安徽 sort=price", "limit": 100, "cursor": page["next_cursor"]})
    keys = [catalog.key_of(i["id"]) for i in after["items"]]
    assert keys == [k for k in rest if SPEC[k].price >= last_price and k not in
                    {catalog.key_of(i["id"]) for i in page["items"]}]


# ---------------------------------------------------------------- strict errors

def test_unknown_field_is_400_with_valid_fields_and_a_suggestion(catalog):
    err = catalog.error(400, "unknown_field", q="chipp=a800")
    assert err["details"]["field"] == "chipp"
    assert err["details"]["suggestion"] == "chip"
    valid = err["details"]["valid_fields"]
    assert {"chip", "price", "province", "available", "price_per_pflops"} <= set(valid)
    assert "chip" in err["message"] and "chipp" in err["message"]
    assert catalog.error(400, "unknown_field", q="prise<=80")["details"]["suggestion"] == "price"
    assert catalog.error(400, "unknown_field", q="zzzzzz=1")["details"]["suggestion"] is None


STRICT_ERRORS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"q": "chip>a800"}, "invalid_operator", {"valid_operators": ["=", "!="]}),
    ({"q": "province<安徽"}, "invalid_operator", {"field": "province"}),
    ({"q": "available>=true"}, "invalid_operator", {"field": "available"}),
    ({"q": "delivery=teleport"}, "invalid_value",
     {"valid_values": ["container", "vm", "bare_metal", "batch"]}),
    ({"q": "kind=gpu"}, "invalid_value", {"valid_values": ["accelerator", "cpu", "storage"]}),
    ({"q": "mode=weekly"}, "invalid_value", {"valid_values": ["on_demand", "reserved", "spot"]}),
    ({"q": "vendor=intel"}, "invalid_value", {"field": "vendor"}),
    ({"q": "available=maybe"}, "invalid_value", {"field": "available"}),
    ({"q": "accelerators>=1.5"}, "invalid_value", {"field": "accelerators"}),
    ({"q": "price<=8e1"}, "invalid_value", {"field": "price"}),
    ({"q": "price<=80,90"}, "invalid_value", {"field": "price"}),
    ({"q": "chip=b200"}, "invalid_value", {"field": "chip", "value": "b200"}),
    ({"chip": "b200"}, "invalid_value", {"field": "chip"}),
    ({"q": "chip=a800,b200"}, "invalid_value", {"value": "b200"}),
    ({"q": "province=广东"}, "invalid_value", {"valid_values": ["四川", "安徽"]}),
    ({"province": "广东省"}, "invalid_value", {"valid_values": ["四川", "安徽"]}),
    ({"q": "city=北京"}, "invalid_value", {"field": "city"}),
    ({"q": "hub=京津冀"}, "invalid_value", {"valid_values": ["成渝", "长三角"]}),
    ({"q": 'datacenter="没有这个"'}, "invalid_value", {"field": "datacenter"}),
    ({"mode": "weekly"}, "invalid_value", {"field": "mode"}),
    ({"q": "price>=-5"}, "out_of_range", {"field": "price", "min": "0"}),
    ({"q": "price<=1000001"}, "out_of_range", {"field": "price"}),
    ({"q": "price_per_accel<-0.01"}, "out_of_range", {"field": "price_per_accel"}),
    ({"q": "accelerators>=2000"}, "out_of_range", {"field": "accelerators", "max": "1024"}),
    ({"q": "accelerators>=-1"}, "out_of_range", {"field": "accelerators"}),
    ({"q": "sort=name"}, "invalid_sort", {"value": "name"}),
    ({"q": "sort=province"}, "invalid_sort", {}),
    ({"sort": "bogus"}, "invalid_sort", {}),
    ({"q": "sort=price:up"}, "invalid_sort", {}),
    ({"q": "sort=-price:desc"}, "invalid_sort", {}),
    ({"q": "sort>price"}, "invalid_operator", {}),
    ({"q": "sort=price sort=pflops"}, "syntax_error", {}),
    ({"q": "sort=price", "sort": "pflops"}, "sort_given_twice", {"sort": "pflops", "q_sort": "sort=price"}),
    ({"q": "chip="}, "syntax_error", {"position": 5}),
    ({"q": "a800 chip=", "chip": "h800"}, "syntax_error", {"position": 10}),  # in q as typed, not after `chip=h800`
    ({"q": "zzqx"}, "unknown_word", {"position": 0}),
    ({"q": "a800 zzqx"}, "unknown_word", {"position": 5, "text": "zzqx"}),
    ({"q": 'chip="a800'}, "syntax_error", {}),
    ({"q": "chip=a800price<=80"}, "syntax_error", {}),
]


def test_strict_query_errors(catalog, subtests):
    for params, code, details in STRICT_ERRORS:
        with subtests.test(params=params):
            err = catalog.error(400, code, **params)
            for key, value in details.items():
                assert err["details"][key] == value, (key, err)
            if code == "invalid_sort":
                assert err["details"]["valid_sort_fields"] == ["price", "price_per_pflops", "price_per_accel",
                                                               "pflops", "accel_memory", "memory"]


FREE_WORDS = [
    ("A800", "chip=a800", {"P1", "P2", "P3", "P13"}),
    ("h800 8卡", "chip=h800 accelerators>=8", {"P4"}),
    ("昇腾 910B", "chip=ascend-910b", {"P6", "P7"}),
    ("华为", "vendor=huawei", {"P6", "P7"}),
    ("国产 四川", "vendor=huawei,hygon,cambricon,kunlunxin province=四川", {"P6"}),
    ("安徽省 海光", "province=安徽 vendor=hygon", {"P8"}),
    ("芜湖一号 4090", "datacenter=芜湖一号 chip=rtx4090", {"P10"}),
    ('"合肥 智算 中心" 容器', 'datacenter="合肥 智算 中心" delivery=container', {"P7", "P15"}),
    ("成渝 竞价", "hub=成渝 mode=spot", {"P2", "P9"}),
    ("A800 50元以下", "chip=a800 price<=50", {"P3"}),
    ("A800 price<=50", "chip=a800 price<=50", {"P3"}),
]


@pytest.mark.parametrize(("q", "query", "expected"), FREE_WORDS)
def test_free_words_search_and_say_how_they_were_understood(catalog, q, query, expected):
    page = catalog.get({"q": q, "limit": 100})
    assert {catalog.key_of(item["id"]) for item in page["items"]} == expected
    assert page["understood"]["query"] == query
    assert page["understood"]["text"] == q
    assert catalog.keys(query) == expected  # the same as the strict query it became


def test_understood_readings_point_into_q(catalog):
    readings = catalog.get({"q": "昇腾 910B 8卡 最便宜"})["understood"]["readings"]
    assert [(r["text"], r["start"], r["end"], r["query"], r["field"], r["exact"]) for r in readings] == [
        ("昇腾 910B", 0, 7, "chip=ascend-910b", "chip", False),
        ("8卡", 8, 10, "accelerators>=8", "accelerators", False),
        ("最便宜", 11, 14, "sort=price", None, False)]
    assert catalog.get({})["understood"] is None


def test_a_sort_in_q_and_the_same_sort_parameter_agree(catalog):
    assert catalog.ordered("chip=a800 sort=-price", sort="-price") == catalog.ordered("chip=a800 sort=-price")
    assert catalog.ordered("A800 最便宜") == catalog.ordered("chip=a800", sort="price")


def test_unknown_chip_lists_every_valid_chip(catalog):
    err = catalog.error(400, "invalid_value", q="chip=b200")
    valid = err["details"]["valid_values"]
    assert {"a800", "h800", "ascend-910b", "hygon-dcu-z100", "rtx4090", "mlu370-x8"} <= set(valid)
    assert "a800" in err["message"]


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"limit": 1000}, {"limit": -1}, {"limit": "ten"}, {"min_accelerators": -1},
    {"min_accelerators": 2000}, {"max_price": "-1"}, {"max_price": "1000001"}, {"max_price": "12.345"},
    {"max_price": "NaN"}, {"kind": "gpu"}, {"delivery": "ship"}, {"datacenter_id": "dc1"},
    {"available_only": "perhaps"}, {"q": "x" * 1001}, {"chip": "a" * 61},
])
def test_parameter_validation_is_422(catalog, params):
    r = catalog.client.get("/api/v1/products", params=params)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert [e["field"] for e in err["details"]["errors"]] == list(params)


def test_limits_at_the_edges(catalog):
    assert len(catalog.get({"limit": 1})["items"]) == 1
    assert len(catalog.get({"limit": 100})["items"]) == len(ALL)
    assert len(catalog.get({})["items"]) == len(ALL)  # the default limit, 20, is more than the catalog


# ---------------------------------------------------------------- price index

def money(fen: int) -> dict[str, Any]:
    return {"fen": fen, "cny": f"{fen // 100}.{fen % 100:02d}"}


def summary(count: int, mn: int, q1: int, median: int, q3: int, mx: int) -> dict[str, Any]:
    return {"count": count, "min": money(mn), "q1": money(q1), "median": money(median), "q3": money(q3),
            "max": money(mx)}


def index_rows(catalog: Catalog, **params: Any) -> list[dict[str, Any]]:
    r = catalog.client.get("/api/v1/price-index", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["unit"] == "on-demand CNY per accelerator-hour"
    return r.json()["rows"]


def test_price_index_for_one_chip_is_exact(catalog):
    # h800 per accelerator-hour: 17.50, 19.01 (19.005 rounded half-up), 19.08, 20.06; the pending
    # data center's h800 (1.00) is not counted.
    # q1 = 17.50 + 0.75 x 1.51 = 18.6325 -> 18.63; median = (19.01 + 19.08) / 2 = 19.045 -> 19.05 (half-up);
    # q3 = 19.08 + 0.25 x 0.98 = 19.325 -> 19.33 (half-up).
    [row] = index_rows(catalog, chip="h800")
    assert row == {"chip": "h800", "chip_name": "NVIDIA H800 SXM5 80GB", "vendor": "NVIDIA", "ecosystem": "cuda",
                   "province": None, **summary(4, 1750, 1863, 1905, 1933, 2006)}
    assert index_rows(catalog, chip="H800 SXM") == [row]  # chip aliases work here too


def test_price_index_for_all_chips(catalog):
    rows = index_rows(catalog)
    assert [r["chip"] for r in rows] == ["h800", "a800", "rtx4090", "ascend-910b", "hygon-dcu-z100"]  # table order
    by_chip = {r["chip"]: r for r in rows}
    assert all(r["province"] is None for r in rows)
    # a800: 10.00, 10.00, 11.00, 11.01 (the unlisted a800 at 0.13 is not counted; the fully rented one is)
    assert {k: by_chip["a800"][k] for k in ("count", "min", "q1", "median", "q3", "max")} == \
        summary(4, 1000, 1000, 1050, 1100, 1101)
    # rtx4090: 1.90, 1.92 -> q1 1.905 -> 1.91, median 1.91, q3 1.915 -> 1.92
    assert {k: by_chip["rtx4090"][k] for k in ("count", "min", "q1", "median", "q3", "max")} == \
        summary(2, 190, 191, 191, 192, 192)
    # ascend-910b: 9.25, 10.00 -> 9.4375 -> 9.44, 9.625 -> 9.63, 9.8125 -> 9.81
    assert {k: by_chip["ascend-910b"][k] for k in ("count", "min", "q1", "median", "q3", "max")} == \
        summary(2, 925, 944, 963, 981, 1000)
    assert {k: by_chip["hygon-dcu-z100"][k] for k in ("count", "min", "q1", "median", "q3", "max")} == \
        summary(1, 170, 170, 170, 170, 170)


def test_price_index_by_province(catalog):
    rows = index_rows(catalog, chip="h800", by_province="true")
    assert [(r["chip"], r["province"]) for r in rows] == [("h800", "四川"), ("h800", "安徽")]
    sichuan, anhui = rows
    assert {k: sichuan[k] for k in ("count", "min", "median", "max")} == \
        {"count": 1, "min": money(1901), "median": money(1901), "max": money(1901)}
    # 安徽: 17.50, 19.08, 20.06 -> q1 18.29, median 19.08, q3 19.57
    assert {k: anhui[k] for k in ("count", "min", "q1", "median", "q3", "max")} == \
        summary(3, 1750, 1829, 1908, 1957, 2006)
    assert index_rows(catalog, chip="h800", province="安徽省") == [anhui]
    every = index_rows(catalog, by_province="true")
    assert sum(r["count"] for r in every) == len(ALL) - 2
    assert {(r["chip"], r["province"]) for r in every} == {
        ("h800", "四川"), ("h800", "安徽"), ("a800", "四川"), ("a800", "安徽"), ("rtx4090", "四川"),
        ("rtx4090", "安徽"), ("ascend-910b", "四川"), ("ascend-910b", "安徽"), ("hygon-dcu-z100", "安徽")}


def test_price_index_errors(catalog):
    for params, field in (({"chip": "b200"}, "chip"), ({"province": "广东"}, "province")):
        r = catalog.client.get("/api/v1/price-index", params=params)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_value"
        assert r.json()["error"]["details"]["field"] == field
        assert r.json()["error"]["details"]["valid_values"]
    assert index_rows(catalog, chip="mlu370") == []


# ---------------------------------------------------------------- platform figures

def test_stats(catalog):
    r = catalog.client.get("/api/v1/stats")
    assert r.status_code == 200
    assert r.json() == {
        "datacenters_connected": 4,  # dc1-dc4; dc5 waits for approval
        "datacenters_pending": 1,
        "products_listed": len(ALL),
        "accelerators_listed": sum(s.accelerators * s.stock for s in PRODUCTS),  # 258
        "buyers": 1,
        "sellers": 3,
        "orders": 0,
        "gmv": {"fen": 0, "cny": "0.00"},
    }
    assert sum(s.accelerators * s.stock for s in PRODUCTS) == 258


def test_total_above_the_count_is_the_samples_estimate(catalog, backend, monkeypatch):
    """When the catalog is larger than the sample, a search no index narrows estimates its total from the sample
    slots it reads (a k% sample counts k% of the matches), says so with total_exact false, and paging still
    reaches every product. A search an index narrows to few matches counts them exactly."""
    from sqlalchemy import select, update

    from suanli.catalog import search as catalog_search
    from suanli.catalog.models import Product

    monkeypatch.setattr(catalog_search, "visible_products", lambda session: 10_000)
    monkeypatch.setattr(catalog_search, "SAMPLE_ROWS", 5_000)  # so the sample is slots 0..49, half the table
    visible = {catalog.ids[key] for key in ALL}
    with backend.unit_of_work() as session:
        ids = sorted(session.scalars(select(Product.id)))
        for number, product_id in enumerate(ids):  # every other product in the sample
            session.execute(update(Product).where(Product.id == product_id).values(sample_slot=number % 2 * 99))
    visible_in_sample = sum(1 for number, i in enumerate(ids) if number % 2 == 0 and str(i) in visible)
    page = catalog.client.get("/api/v1/products", params={"limit": 2}).json()
    assert 0 < visible_in_sample < len(ALL)
    assert (page["total"], page["total_exact"]) == (2 * visible_in_sample, False)
    seen = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        page = catalog.client.get("/api/v1/products", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        seen += [item["id"] for item in page["items"]]
    assert len(seen) == len(set(seen)) == len(ALL)
    few = catalog.client.get("/api/v1/products", params={"q": "chip=a800", "limit": 1}).json()
    a800 = catalog.client.get("/api/v1/products", params={"q": "chip=a800", "limit": 100}).json()
    assert few["total_exact"] is True and few["total"] == len(a800["items"]) > 1


def test_estimates_keep_two_significant_digits():
    from suanli.catalog.search import _round_estimate

    assert [_round_estimate(v) for v in (0, 7.4, 99.6, 100, 734.9, 73_412, 1_250_000)] == \
        [0, 7, 100, 100, 730, 73_000, 1_200_000]


WALKED_SEARCHES = ("chip=a800 sort=-price", "vendor=huawei,hygon sort=price_per_pflops", "province=安徽 sort=-pflops",
                   "hub=长三角 sort=price", "vendor!=nvidia sort=-memory", "ecosystem=cuda accelerators>=8 sort=-accel_memory",
                   "chip!=a800 city=芜湖 sort=price_per_accel", "chip=a800 sort=price",
                   "chip=a800 accelerators>=8 sort=-price_per_pflops", "available=true kind=accelerator sort=pflops")


def _all_pages(client, q: str, limit: int = 3) -> list[str]:
    page = client.get("/api/v1/products", params={"q": q, "limit": limit}).json()
    seen = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        page = client.get("/api/v1/products", params={"q": q, "limit": limit, "cursor": page["next_cursor"]}).json()
        seen += [item["id"] for item in page["items"]]
    return seen


@pytest.mark.parametrize("walk", ["walk", "walk to the edge"])
def test_walking_the_sort_index_finds_what_sorting_the_matches_finds(catalog, monkeypatch, walk):
    """With many estimated matches a search walks its sort index with the filter's columns hidden from the
    planner (or a chip's composite index); with few, it sorts the matches it reached through the filter's index;
    a walk that reaches its edge without a full page sorts the matches after all. All give the same products
    in the same order, page after page, NULL chips and `!=` included."""
    from suanli.catalog import search as catalog_search

    sorted_matches = {q: _all_pages(catalog.client, q) for q in WALKED_SEARCHES}
    assert all(sorted_matches.values()), "every search should match some products"
    monkeypatch.setattr(catalog_search, "SORT_MATCHES_UP_TO", -1)
    if walk == "walk to the edge":
        monkeypatch.setattr(catalog_search, "WALK_ROWS_AT_LEAST", 1)
        monkeypatch.setattr(catalog_search, "WALK_ROWS_AT_MOST", 1)
    for q in WALKED_SEARCHES:
        assert _all_pages(catalog.client, q) == sorted_matches[q], q
