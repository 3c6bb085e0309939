"""Seed data for a compute network: the Anhui demo platform and synthetic networks at scale.

Pure code: no database and no I/O. Everything is deterministic for a given ``seed`` (one ``random.Random(seed)``
per network) and all money is integer fen (1 CNY = 100 fen). Random draws are integers (basis points, counts), so
no float ever touches a price. Accelerator prices start from
:func:`suanli.catalog.reference_prices.reference_price_fen` (real market rows, or a formula).

Product prices
--------------
``on_demand (per unit-hour) = ref(chip) x accelerators x dc x delivery x units x jitter`` where

* ``dc`` = tier (T1 0.88, T2 0.94, T3 1.00, T4 1.08) x region (hub: 长三角 1.05, 京津冀 1.06,
  粤港澳 1.07, 成渝 0.98, 贵州 0.91, 内蒙古 0.90, 甘肃/宁夏 0.89; big metros +3%, cities outside a
  national cluster -2%) x a per-data-center factor drawn in [0.85, 1.15];
* ``delivery``: container 1.00, vm 1.05, bare_metal 0.96, batch 0.90;
* ``units`` (volume): 1 card 1.00, 2 cards 0.995, 4 cards 0.985, 8 cards 0.97;
* ``jitter`` per product in [0.97, 1.03].

CPU products are priced per unit-hour from vCPUs (9 fen) and memory (2 fen/GiB) times the CPU
architecture factor, storage products per TiB unit-hour by storage class; both then take the same
``dc`` and ``jitter`` factors. Reserved monthly = on-demand x 720 h x a discount in [0.55, 0.75];
spot floor = on-demand x [0.30, 0.50] (rounded up, so never below 30%). Every product has an on-demand price (the catalog requires
it); reserved and spot are optional modes: bare-metal nodes always offer reserved and never spot,
batch queues always spot and never reserved, consumer cards never reserved, the rest by chance.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING

from suanli.catalog.reference_prices import is_consumer, reference_price_fen

if TYPE_CHECKING:  # only attributes of ChipSpec are used
    from suanli.core.chips import ChipSpec

HOURS_PER_MONTH = 720
BP = 10_000  # basis points: factors are integers, 10_000 == 1.0


@dataclass(frozen=True)
class RegionSeed:
    key: str
    province: str
    city: str
    hub: str
    cluster: str | None
    name: str


@dataclass(frozen=True)
class OrgSeed:
    key: str
    name: str


@dataclass(frozen=True)
class DatacenterSeed:
    key: str
    name: str
    org_key: str
    region_key: str
    tier: int
    pue: Decimal
    green_power_pct: int


@dataclass(frozen=True)
class ProductSeed:
    key: str
    datacenter_key: str
    name: str
    kind: str
    chip_key: str | None
    accelerators: int
    vcpus: int
    memory_gib: int
    disk_gib: int
    network_gbps: int
    delivery: str
    stock_units: int
    price_on_demand_fen: int | None
    price_reserved_month_fen: int | None
    price_spot_floor_fen: int | None


@dataclass(frozen=True)
class NetworkSeed:
    regions: tuple[RegionSeed, ...]
    orgs: tuple[OrgSeed, ...]
    datacenters: tuple[DatacenterSeed, ...]
    products: tuple[ProductSeed, ...]


# --------------------------------------------------------------------------------------------
# Price model
# --------------------------------------------------------------------------------------------

TIER_BP = {1: 8_800, 2: 9_400, 3: 10_000, 4: 10_800}
HUB_BP = {
    "京津冀": 10_600,
    "长三角": 10_500,
    "粤港澳大湾区": 10_700,
    "成渝": 9_800,
    "内蒙古": 9_000,
    "贵州": 9_100,
    "甘肃": 8_900,
    "宁夏": 8_900,
}
WESTERN_HUBS = frozenset({"内蒙古", "贵州", "甘肃", "宁夏"})
_METROS = frozenset({"北京", "上海", "广州", "深圳", "杭州", "南京", "合肥"})
DELIVERY_BP = {"container": 10_000, "vm": 10_500, "bare_metal": 9_600, "batch": 9_000}
UNITS_BP = {1: 10_000, 2: 9_950, 4: 9_850, 8: 9_700}
DELIVERY_ZH = {"container": "容器实例", "vm": "云主机", "bare_metal": "裸金属服务器", "batch": "批量作业队列"}


def _div(num: int, den: int) -> int:
    """num / den rounded half-up, for non-negative integers."""
    return (2 * num + den) // (2 * den)


def region_bp(region: RegionSeed) -> int:
    base = HUB_BP.get(region.hub, BP)
    if region.city in _METROS:
        return _div(base * 10_300, BP)
    if region.cluster is None:
        return _div(base * 9_800, BP)
    return base


def dc_factor_bp(tier: int, region: RegionSeed, own_bp: int) -> int:
    return _div(TIER_BP[tier] * region_bp(region) * own_bp, BP * BP)


# --------------------------------------------------------------------------------------------
# Product generation
# --------------------------------------------------------------------------------------------

TRAINING = frozenset({"a100", "a800", "h100", "h800", "h200", "h20", "ascend-910b", "ascend-910c"})
_RDMA_400G = frozenset({"h100", "h800", "h200", "ascend-910c"})

# chip-mix profiles: chip key -> weight (chips missing from the table are skipped)
PROFILES: dict[str, dict[str, int]] = {
    "mixed": {"ascend-910b": 25, "a800": 12, "a100": 7, "h800": 6, "h20": 6, "l20": 7, "l40": 5,
              "rtx4090": 10, "v100": 4, "t4": 4, "hygon-dcu-z100": 4, "mlu370-x8": 3,
              "kunlunxin-r200": 3, "rtx3090": 2, "p100": 1, "rtx2080ti": 1},
    "ascend": {"ascend-910b": 75, "ascend-910c": 8, "mlu370-x8": 5, "kunlunxin-r200": 4,
               "hygon-dcu-z100": 4, "a800": 4},
    "nvidia": {"a800": 30, "a100": 18, "h800": 22, "h100": 8, "h200": 4, "h20": 12, "l40": 6},
    "inference": {"l20": 20, "l40": 15, "rtx4090": 25, "t4": 12, "v100": 8, "rtx3090": 8,
                  "h20": 7, "kunlunxin-r200": 3, "rtx2080ti": 2},
    "domestic": {"ascend-910b": 45, "hygon-dcu-z100": 20, "mlu370-x8": 15, "kunlunxin-r200": 15,
                 "ascend-910c": 5},
    "hygon": {"hygon-dcu-z100": 60, "ascend-910b": 20, "a800": 10, "mlu370-x8": 10},
}
# share of CPU + storage products, in percent, per profile family
_NON_ACCEL_PCT = {"general": 40}
_DEFAULT_NON_ACCEL_PCT = 10

_CPU_ARCH = (("Intel至强", 10_000, 4), ("海光7285", 9_000, 3), ("鲲鹏920", 8_500, 3))
_CPU_SHAPES = ((2, 4), (4, 8), (4, 16), (8, 16), (8, 32), (16, 32), (16, 64), (32, 64),
               (32, 128), (64, 256), (96, 384), (128, 512))
# (name, GiB per unit, fen per unit-hour, delivery)
_STORAGE = (("高性能并行文件存储", 1024, 171, "container", 3), ("SSD云硬盘", 1024, 114, "vm", 3),
            ("容量型HDD云硬盘", 1024, 43, "vm", 2), ("对象存储", 10_240, 171, "container", 2))


class _Picker:
    """Weighted choice from integer weights with one ``rng.random()`` and a bisect (fast)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, weighted: Sequence[tuple[object, int]]):
        self.items = [item for item, _ in weighted]
        self.cum = list(accumulate(w for _, w in weighted))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


_UNITS_TRAIN = _Picker([(1, 25), (2, 15), (4, 20), (8, 40)])
_UNITS_OTHER = _Picker([(1, 45), (2, 25), (4, 20), (8, 10)])
_DELIVERY_NODE = _Picker([("bare_metal", 60), ("vm", 20), ("container", 10), ("batch", 10)])
_DELIVERY_ACCEL = _Picker([("container", 50), ("vm", 30), ("batch", 20)])
_CPU_ARCH_PICK = _Picker([((n, bp), w) for n, bp, w in _CPU_ARCH])
_STORAGE_PICK = _Picker([(s[:4], s[4]) for s in _STORAGE])


@dataclass
class _Ctx:
    """What product generation needs about the chips (prepared once per network)."""

    refs: dict[str, int]
    labels: dict[str, str]
    consumer: frozenset[str]
    pickers: dict[str, _Picker]

    @classmethod
    def build(cls, chips: Mapping[str, ChipSpec]) -> _Ctx:
        pickers = {}
        for name, weights in PROFILES.items():
            present = [(k, w) for k, w in weights.items() if k in chips]
            if not present:
                present = [(k, 1) for k in sorted(chips)]
            pickers[name] = _Picker(present)
        return cls(
            refs={k: reference_price_fen(c) for k, c in chips.items()},
            labels={k: str(getattr(c, "name", k) or k) for k, c in chips.items()},
            consumer=frozenset(k for k, c in chips.items() if is_consumer(c)),
            pickers=pickers,
        )


def _modes(rng: random.Random, od: int, reserved: bool, spot: bool, deep: bool = False):
    res = None
    if reserved:
        res = _div(od * HOURS_PER_MONTH * rng.randint(5_500, 6_500 if deep else 7_500), BP)
    spot_fen = None
    if spot and od >= 4:
        spot_fen = min(od - 1, -(-od * rng.randint(3_000, 5_000) // BP))  # rounded up: >= 30%
    return res, spot_fen


def _accelerator(rng: random.Random, ctx: _Ctx, profile: str, dc_bp: int, key: str, dc_key: str):
    chip = ctx.pickers[profile].pick(rng)
    consumer = chip in ctx.consumer
    training = chip in TRAINING
    n = (_UNITS_TRAIN if training else _UNITS_OTHER).pick(rng)
    if n == 8 and training:
        delivery = _DELIVERY_NODE.pick(rng)
    else:
        delivery = _DELIVERY_ACCEL.pick(rng)
    if training:
        vcpus, mem, disk = n * rng.choice((12, 16, 24)), n * rng.choice((96, 128, 256)), n * 500
    elif consumer:
        vcpus, mem, disk = n * rng.choice((8, 12, 16)), n * rng.choice((32, 48, 64)), n * 200
    else:
        vcpus, mem, disk = n * rng.choice((8, 12, 16)), n * rng.choice((48, 64, 96)), n * 300
    if delivery == "bare_metal":
        disk = 8 * 3_576
        net = 3_200 if chip in _RDMA_400G else 1_600
    else:
        net = {1: 10, 2: 25, 4: 50, 8: 100}[n] * (2 if training else 1)
    od = _div(ctx.refs[chip] * n * dc_bp * DELIVERY_BP[delivery] * UNITS_BP[n] * rng.randint(9_700, 10_300),
              BP**4)
    if delivery == "bare_metal":
        res, spot = _modes(rng, od, True, False, deep=True)
    elif delivery == "batch":
        res, spot = _modes(rng, od, False, True)
    else:
        res_p, spot_p = (0.6, 0.5) if delivery == "container" else (0.8, 0.3)
        res, spot = _modes(rng, od, not consumer and rng.random() < res_p, rng.random() < spot_p)
    if delivery == "bare_metal":
        stock = rng.randint(1, 16)
    elif n >= 4:
        stock = rng.randint(2, 32)
    else:
        stock = rng.randint(4, 64)
    slug = chip if len(chip) <= 12 else chip.split("-", 1)[-1]
    return ProductSeed(
        key=f"{key}-{slug}-{n}x-{delivery.replace('_', '')}",
        datacenter_key=dc_key,
        name=f"{ctx.labels[chip]} ×{n} {DELIVERY_ZH[delivery]}",
        kind="accelerator", chip_key=chip, accelerators=n, vcpus=vcpus, memory_gib=mem,
        disk_gib=disk, network_gbps=net, delivery=delivery, stock_units=stock,
        price_on_demand_fen=od, price_reserved_month_fen=res, price_spot_floor_fen=spot,
    )


def _cpu(rng: random.Random, dc_bp: int, key: str, dc_key: str):
    arch, arch_bp = _CPU_ARCH_PICK.pick(rng)
    vcpus, mem = rng.choice(_CPU_SHAPES)
    delivery = "bare_metal" if vcpus >= 64 and rng.random() < 0.5 else rng.choice(("vm", "vm", "container", "batch"))
    base = vcpus * 9 + mem * 2
    od = _div(base * arch_bp * dc_bp * DELIVERY_BP[delivery] * rng.randint(9_700, 10_300), BP**4)
    res, spot = _modes(rng, od, delivery != "batch" and rng.random() < 0.7,
                       delivery == "batch" or (delivery != "bare_metal" and rng.random() < 0.4))
    return ProductSeed(
        key=f"{key}-cpu-{vcpus}c{mem}g-{delivery.replace('_', '')}", datacenter_key=dc_key,
        name=f"{arch} {vcpus}核{mem}G {DELIVERY_ZH[delivery]}", kind="cpu", chip_key=None,
        accelerators=0, vcpus=vcpus, memory_gib=mem, disk_gib=100 if vcpus < 64 else 960,
        network_gbps=10 if vcpus < 32 else 25, delivery=delivery, stock_units=rng.randint(8, 64),
        price_on_demand_fen=od, price_reserved_month_fen=res, price_spot_floor_fen=spot,
    )


def _storage(rng: random.Random, dc_bp: int, key: str, dc_key: str):
    name, gib, fen, delivery = _STORAGE_PICK.pick(rng)
    od = _div(fen * dc_bp * rng.randint(9_700, 10_300), BP**2)
    res, _ = _modes(rng, od, rng.random() < 0.8, False)
    size = f"{gib // 1024}TiB"
    return ProductSeed(
        key=f"{key}-storage-{size.lower()}", datacenter_key=dc_key, name=f"{name} {size}",
        kind="storage", chip_key=None, accelerators=0, vcpus=0, memory_gib=0, disk_gib=gib,
        network_gbps=25 if name.startswith("高性能") else 10, delivery=delivery,
        stock_units=rng.randint(16, 64), price_on_demand_fen=od, price_reserved_month_fen=res,
        price_spot_floor_fen=None,
    )


def _products_for_dc(rng: random.Random, ctx: _Ctx, dc: DatacenterSeed, region: RegionSeed,
                     profile: str, count: int, own_bp: int, out: list[ProductSeed]) -> None:
    dc_bp = dc_factor_bp(dc.tier, region, own_bp)
    non_accel = _NON_ACCEL_PCT.get(profile, _DEFAULT_NON_ACCEL_PCT)
    accel_profile = "mixed" if profile == "general" else profile
    for i in range(count):
        key = f"{dc.key}-{i + 1:04d}"
        roll = rng.randrange(100)
        if roll < non_accel * 3 // 5:
            out.append(_cpu(rng, dc_bp, key, dc.key))
        elif roll < non_accel:
            out.append(_storage(rng, dc_bp, key, dc.key))
        else:
            out.append(_accelerator(rng, ctx, accel_profile, dc_bp, key, dc.key))


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` over ``weights`` exactly (largest remainder, ties by position)."""
    wsum = sum(weights)
    base = [total * w // wsum for w in weights]
    rest = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % wsum), i))
    for i in order[:rest]:
        base[i] += 1
    return base


# --------------------------------------------------------------------------------------------
# The Anhui demo platform
# --------------------------------------------------------------------------------------------

_AH = "安徽"
_YRD = "长三角"
_WUHU_CLUSTER = "芜湖集群"
# city, key
_ANHUI_CITIES = (
    ("芜湖", "wuhu"), ("合肥", "hefei"), ("蚌埠", "bengbu"), ("淮南", "huainan"), ("马鞍山", "maanshan"),
    ("淮北", "huaibei"), ("铜陵", "tongling"), ("安庆", "anqing"), ("黄山", "huangshan"),
    ("滁州", "chuzhou"), ("阜阳", "fuyang"), ("宿州", "suzhou"), ("六安", "luan"), ("亳州", "bozhou"),
    ("池州", "chizhou"), ("宣城", "xuancheng"),
)
_DEMO_ORGS = (
    ("ct-anhui", "中国电信安徽分公司"),
    ("cm-anhui", "中国移动安徽公司"),
    ("cu-anhui", "中国联通安徽省分公司"),
    ("huaweicloud-wuhu", "华为云芜湖"),
    ("wuhu-jiangbei", "芜湖江北新区算力公司"),
    ("wuhu-digital", "芜湖数字经济投资集团"),
    ("sugon-wuhu", "中科曙光芜湖先进计算有限公司"),
    ("yrd-compute", "长三角算力调度中心(芜湖)有限公司"),
    ("wanjiang-cloud", "皖江云算科技有限公司"),
    ("anhui-data", "安徽省数据资源集团"),
    ("hefei-acc", "合肥先进计算中心有限公司"),
    ("huainan-bigdata", "淮南江淮大数据产业园运营公司"),
)
# key, name, org, city key, tier, PUE, green %, chip profile, size weight
_DEMO_DCS = (
    ("wh-dcip-a", "芜湖数据中心产业园A区", "ct-anhui", "wuhu", 4, "1.18", 45, "mixed", 6),
    ("wh-dcip-b", "芜湖数据中心产业园B区", "ct-anhui", "wuhu", 3, "1.22", 40, "mixed", 4),
    ("wh-jiangbei-1", "芜湖江北新区智算中心一期", "wuhu-jiangbei", "wuhu", 4, "1.15", 55, "ascend", 6),
    ("wh-jiangbei-2", "芜湖江北新区智算中心二期", "wuhu-jiangbei", "wuhu", 4, "1.16", 60, "ascend", 5),
    ("wh-huawei-cloud", "华为云芜湖数据中心", "huaweicloud-wuhu", "wuhu", 4, "1.17", 50, "ascend", 6),
    ("wh-ascend-aicc", "芜湖昇腾人工智能计算中心", "huaweicloud-wuhu", "wuhu", 3, "1.20", 48, "ascend", 5),
    ("wh-cm-sanshan", "中国移动(芜湖)三山数据中心", "cm-anhui", "wuhu", 3, "1.28", 30, "mixed", 4),
    ("wh-cu-yijiang", "中国联通芜湖弋江数据中心", "cu-anhui", "wuhu", 3, "1.30", 25, "inference", 3),
    ("wh-sugon-jiujiang", "中科曙光芜湖鸠江先进计算中心", "sugon-wuhu", "wuhu", 3, "1.25", 35, "hygon", 4),
    ("wh-yrd-main", "长三角算力调度中心芜湖主节点", "yrd-compute", "wuhu", 4, "1.19", 52, "nvidia", 5),
    ("wh-yrd-edge", "芜湖鸠江边缘计算中心", "yrd-compute", "wuhu", 3, "1.35", 20, "inference", 2),
    ("wh-wanjiang-1", "皖江云算芜湖一号数据中心", "wanjiang-cloud", "wuhu", 3, "1.27", 28, "mixed", 3),
    ("wh-wanjiang-2", "皖江云算芜湖二号数据中心", "wanjiang-cloud", "wuhu", 3, "1.24", 33, "inference", 3),
    ("wh-digital-port", "芜湖数字港智算中心", "wuhu-digital", "wuhu", 3, "1.21", 42, "nvidia", 4),
    ("wh-hitech", "芜湖高新区云计算中心", "wuhu-digital", "wuhu", 2, "1.38", 18, "general", 2),
    ("wh-ct-wanjiang", "中国电信芜湖皖江数据中心", "ct-anhui", "wuhu", 3, "1.26", 30, "domestic", 3),
    ("wh-cm-jiangbei", "中国移动长三角(芜湖)智算中心", "cm-anhui", "wuhu", 4, "1.20", 45, "ascend", 5),
    ("wh-anhui-data", "安徽省数据资源集团芜湖灾备中心", "anhui-data", "wuhu", 3, "1.32", 22, "general", 2),
    ("hf-acc", "合肥先进计算中心", "hefei-acc", "hefei", 4, "1.22", 38, "nvidia", 5),
    ("hf-ct-gaoxin", "中国电信合肥高新数据中心", "ct-anhui", "hefei", 3, "1.33", 20, "mixed", 3),
    ("hf-gov-cloud", "安徽省数据资源集团合肥政务云中心", "anhui-data", "hefei", 3, "1.36", 15, "general", 2),
    ("bb-cm", "中国移动蚌埠数据中心", "cm-anhui", "bengbu", 3, "1.35", 18, "inference", 2),
    ("hn-jianghuai", "淮南江淮大数据产业园数据中心", "huainan-bigdata", "huainan", 3, "1.30", 35, "domestic", 3),
    ("mas-cu", "中国联通马鞍山数据中心", "cu-anhui", "maanshan", 3, "1.38", 12, "inference", 2),
    ("tl-ct", "中国电信铜陵数据中心", "ct-anhui", "tongling", 2, "1.42", 10, "general", 1),
    ("aq-wanjiang", "皖江云算安庆数据中心", "wanjiang-cloud", "anqing", 3, "1.34", 25, "mixed", 2),
    ("hs-green", "黄山绿色数据中心", "anhui-data", "huangshan", 3, "1.18", 60, "domestic", 2),
    ("cz-yrd", "滁州长三角算力中心", "yrd-compute", "chuzhou", 3, "1.29", 30, "mixed", 3),
    ("fy-cm", "中国移动阜阳数据中心", "cm-anhui", "fuyang", 2, "1.45", 10, "general", 1),
    ("la-hydro", "六安水电绿色算力中心", "wanjiang-cloud", "luan", 3, "1.20", 58, "ascend", 2),
)
DEMO_PRODUCTS = 1_100


def demo_network(chips: Mapping[str, ChipSpec], seed: int = 2026) -> NetworkSeed:
    """The Anhui compute scheduling platform: 30 data centers (18 in the 芜湖 cluster), 12 seller
    organizations and 1,100 products."""
    rng = random.Random(seed)
    ctx = _Ctx.build(chips)
    regions = {
        key: RegionSeed(
            key=f"ah-{key}", province=_AH, city=city, hub=_YRD,
            cluster=_WUHU_CLUSTER if key == "wuhu" else None, name=f"{_AH}·{city}",
        )
        for city, key in _ANHUI_CITIES
    }
    dcs: list[DatacenterSeed] = []
    products: list[ProductSeed] = []
    counts = _apportion(DEMO_PRODUCTS, [row[8] for row in _DEMO_DCS])
    for row, count in zip(_DEMO_DCS, counts, strict=True):
        key, name, org, city_key, tier, pue, green, profile, _ = row
        dc = DatacenterSeed(key=key, name=name, org_key=org, region_key=f"ah-{city_key}", tier=tier,
                            pue=Decimal(pue), green_power_pct=green)
        dcs.append(dc)
        _products_for_dc(rng, ctx, dc, regions[city_key], profile, count, rng.randint(8_500, 11_500), products)
    return NetworkSeed(
        regions=tuple(regions.values()),
        orgs=tuple(OrgSeed(key=k, name=n) for k, n in _DEMO_ORGS),
        datacenters=tuple(dcs),
        products=tuple(products),
    )


# --------------------------------------------------------------------------------------------
# Synthetic national networks
# --------------------------------------------------------------------------------------------

# hub -> (weight, [(province, province key, city, city key, cluster | None), ...])
NATIONAL_HUBS: dict[str, tuple[int, tuple[tuple[str, str, str, str, str | None], ...]]] = {
    "京津冀": (15, (
        ("河北", "hb", "张家口", "zhangjiakou", "张家口集群"), ("北京", "bj", "北京", "beijing", None),
        ("天津", "tj", "天津", "tianjin", None), ("河北", "hb", "廊坊", "langfang", None),
        ("河北", "hb", "保定", "baoding", None))),
    "长三角": (20, (
        ("安徽", "ah", "芜湖", "wuhu", "芜湖集群"),
        ("上海", "sh", "青浦", "qingpu", "长三角生态绿色一体化发展示范区集群"),
        ("江苏", "js", "吴江", "wujiang", "长三角生态绿色一体化发展示范区集群"),
        ("浙江", "zj", "嘉善", "jiashan", "长三角生态绿色一体化发展示范区集群"),
        ("上海", "sh", "上海", "shanghai", None), ("浙江", "zj", "杭州", "hangzhou", None),
        ("江苏", "js", "南京", "nanjing", None), ("江苏", "js", "苏州", "suzhou", None),
        ("安徽", "ah", "合肥", "hefei", None), ("浙江", "zj", "宁波", "ningbo", None))),
    "粤港澳大湾区": (13, (
        ("广东", "gd", "韶关", "shaoguan", "韶关集群"), ("广东", "gd", "广州", "guangzhou", None),
        ("广东", "gd", "深圳", "shenzhen", None), ("广东", "gd", "东莞", "dongguan", None),
        ("广东", "gd", "佛山", "foshan", None))),
    "成渝": (12, (
        ("四川", "sc", "成都", "chengdu", "天府集群"), ("四川", "sc", "眉山", "meishan", "天府集群"),
        ("四川", "sc", "雅安", "yaan", "天府集群"), ("重庆", "cq", "重庆", "chongqing", "重庆集群"),
        ("四川", "sc", "绵阳", "mianyang", None))),
    "内蒙古": (10, (
        ("内蒙古", "nm", "呼和浩特", "huhehaote", "和林格尔集群"), ("内蒙古", "nm", "乌兰察布", "wulanchabu", None),
        ("内蒙古", "nm", "包头", "baotou", None), ("内蒙古", "nm", "鄂尔多斯", "eerduosi", None))),
    "贵州": (10, (
        ("贵州", "gz", "贵安", "guian", "贵安集群"), ("贵州", "gz", "贵阳", "guiyang", "贵安集群"),
        ("贵州", "gz", "遵义", "zunyi", None), ("贵州", "gz", "毕节", "bijie", None))),
    "甘肃": (10, (
        ("甘肃", "gs", "庆阳", "qingyang", "庆阳集群"), ("甘肃", "gs", "兰州", "lanzhou", None),
        ("甘肃", "gs", "金昌", "jinchang", None), ("甘肃", "gs", "酒泉", "jiuquan", None))),
    "宁夏": (10, (
        ("宁夏", "nx", "中卫", "zhongwei", "中卫集群"), ("宁夏", "nx", "银川", "yinchuan", None),
        ("宁夏", "nx", "石嘴山", "shizuishan", None))),
}
# org brand: (key prefix, name template, per "province" or "city", DC name template)
_BRANDS = (
    ("ct", "中国电信{province}分公司", "province", "中国电信{city}{kind}", 14),
    ("cm", "中国移动{province}公司", "province", "中国移动{city}{kind}", 14),
    ("cu", "中国联通{province}分公司", "province", "中国联通{city}{kind}", 10),
    ("hwcloud", "华为云{city}", "city", "华为云{city}{kind}", 8),
    ("sugon", "中科曙光{city}先进计算有限公司", "city", "中科曙光{city}{kind}", 5),
    ("invest", "{city}算力产业投资集团", "city", "{city}{kind}", 14),
    ("cloud", "{city}云数科技有限公司", "city", "{city}云数{kind}", 10),
    ("green", "{province}绿色算力科技有限公司", "province", "{city}绿色{kind}", 8),
)
_DC_KINDS = ("智算中心", "数据中心", "云计算中心", "算力中心", "大数据中心")
_SYNTH_PROFILES = _Picker([("mixed", 40), ("ascend", 15), ("nvidia", 15), ("inference", 12),
                           ("domestic", 8), ("hygon", 4), ("general", 6)])
_TIERS = _Picker([(1, 2), (2, 10), (3, 58), (4, 30)])


def synthetic_network(chips: Mapping[str, ChipSpec], n_datacenters: int, n_products: int,
                      seed: int) -> NetworkSeed:
    """A national network over the 8 hubs with exactly ``n_datacenters`` and ``n_products``.

    The first 8 data centers go one to each hub, the rest by hub weight; a data center is in a
    national-cluster city 60% of the time. Western hubs are cheaper (region factor), greener and
    have lower PUE. Products are spread over data centers by a random size weight (1..10).
    """
    if n_datacenters < 0 or n_products < 0:
        raise ValueError("counts must be non-negative")
    if n_products and not n_datacenters:
        raise ValueError("products need at least one data center")
    rng = random.Random(seed)
    ctx = _Ctx.build(chips)
    hubs = list(NATIONAL_HUBS)
    hub_pick = _Picker([(h, NATIONAL_HUBS[h][0]) for h in hubs])
    brand_pick = _Picker([(b, b[4]) for b in _BRANDS])

    regions: dict[str, RegionSeed] = {}
    orgs: dict[str, OrgSeed] = {}
    dcs: list[DatacenterSeed] = []
    plans: list[tuple[RegionSeed, str, int]] = []
    name_counts: dict[str, int] = {}
    for i in range(n_datacenters):
        hub = hubs[i] if i < len(hubs) else hub_pick.pick(rng)
        cities = NATIONAL_HUBS[hub][1]
        clustered = [c for c in cities if c[4]]
        others = [c for c in cities if not c[4]]
        pool = clustered if (rng.random() < 0.6 or not others) else others
        province, pkey, city, ckey, cluster = rng.choice(pool)
        rkey = f"{pkey}-{ckey}"
        region = regions.get(rkey)
        if region is None:
            region = regions[rkey] = RegionSeed(key=rkey, province=province, city=city, hub=hub,
                                                cluster=cluster, name=f"{province}·{city}")
        prefix, org_tpl, scope, dc_tpl, _ = brand_pick.pick(rng)
        okey = f"{prefix}-{pkey if scope == 'province' else rkey}"
        if okey not in orgs:
            orgs[okey] = OrgSeed(key=okey, name=org_tpl.format(province=province, city=city))
        base = dc_tpl.format(city=city, kind=rng.choice(_DC_KINDS))
        n = name_counts[base] = name_counts.get(base, 0) + 1
        western = hub in WESTERN_HUBS
        pue = Decimal(rng.randint(112, 130) if western else rng.randint(118, 145)).scaleb(-2)
        green = rng.randint(35, 85) if western else rng.randint(10, 50)
        dc = DatacenterSeed(key=f"dc{i + 1:05d}-{ckey}", name=base if n == 1 else f"{base}{n}期",
                            org_key=okey, region_key=rkey, tier=_TIERS.pick(rng), pue=pue,
                            green_power_pct=green)
        dcs.append(dc)
        plans.append((region, _SYNTH_PROFILES.pick(rng), rng.randint(8_500, 11_500)))

    products: list[ProductSeed] = []
    if n_products:
        counts = _apportion(n_products, [rng.randint(1, 10) for _ in dcs])
        for dc, (region, profile, own_bp), count in zip(dcs, plans, counts, strict=True):
            _products_for_dc(rng, ctx, dc, region, profile, count, own_bp, products)
    return NetworkSeed(regions=tuple(regions.values()), orgs=tuple(orgs.values()),
                       datacenters=tuple(dcs), products=tuple(products))


__all__ = [
    "DatacenterSeed", "NetworkSeed", "OrgSeed", "ProductSeed", "RegionSeed", "demo_network", "synthetic_network",
]
