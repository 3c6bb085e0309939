"""The searches `bench/catalog_search.py` times, generated from a fixed seed.

Every filter field alone (with values from a handful of matches to nearly all), pairs of fields, every sort
both ways without a filter, and deep pages (following the cursor 5-10 times first). Values that name places and
data centers are read from the database being measured, so the same seed gives the same searches on the same
seeded catalog.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SORTS = ("price", "price_per_pflops", "price_per_accel", "pflops", "accel_memory", "memory")

# Conditions per field, in the query language: common ones, rare ones and ones that match nothing.
FIXED_VALUES: dict[str, tuple[str, ...]] = {
    "chip": ("chip=a800", "chip=910b", "chip=h100", "chip=p100", "chip=rtx4090,t4"),
    "vendor": ("vendor=nvidia", "vendor=huawei,hygon", "vendor=kunlunxin"),
    "ecosystem": ("ecosystem=cuda", "ecosystem=cann", "ecosystem=xpu"),
    "kind": ("kind=accelerator", "kind=cpu", "kind=storage"),
    "accelerators": ("accelerators=8", "accelerators>=4", "accelerators=1", "accelerators>8"),
    "accel_memory": ("accel_memory>=80", "accel_memory>=24", "accel_memory<=16"),
    "vcpus": ("vcpus>=64", "vcpus<=8", "vcpus>=192"),
    "memory": ("memory>=512", "memory<=64", "memory>=2048"),
    "delivery": ("delivery=container", "delivery=bare_metal", "delivery=batch"),
    "mode": ("mode=reserved", "mode=spot"),
    "price": ("price<=5", "price<=80", "price>=500"),
    "price_per_accel": ("price_per_accel<=3", "price_per_accel<=20", "price_per_accel>=50"),
    "price_per_pflops": ("price_per_pflops<=5", "price_per_pflops<=30", "price_per_pflops>=100"),
    "pflops": ("pflops>=2", "pflops>=5", "pflops<=0.1"),
    "available": ("available=true", "available=false"),
}
PLACE_FIELDS = ("province", "city", "hub", "datacenter")


@dataclass(frozen=True)
class Search:
    """One benchmarked search: its `q`, and how many pages to follow before the timed one."""

    q: str
    kind: str  # "field", "pair", "sort" or "deep"
    skip_pages: int = 0

    def label(self) -> str:
        return self.q + (f" (page {self.skip_pages + 1})" if self.skip_pages else "")


def place_values(provinces: list[str], cities: list[str], hubs: list[str], datacenter_ids: list[str],
                 rng: random.Random) -> dict[str, tuple[str, ...]]:
    return {"province": tuple(f"province={v}" for v in rng.sample(provinces, min(2, len(provinces)))),
            "city": tuple(f"city={v}" for v in rng.sample(cities, min(2, len(cities)))),
            "hub": tuple(f"hub={v}" for v in rng.sample(hubs, min(2, len(hubs)))),
            "datacenter": tuple(f"datacenter={v}" for v in rng.sample(datacenter_ids, min(1, len(datacenter_ids))))}


def _sort(rng: random.Random) -> str:
    return f"sort={'-' if rng.random() < 0.3 else ''}{rng.choice(SORTS)}"


def generate(seed: int, places: dict[str, tuple[str, ...]], pairs: int = 40, deep: int = 8) -> list[Search]:
    rng = random.Random(seed)
    values = {**FIXED_VALUES, **places}
    searches = [Search(f"{condition} {_sort(rng)}", "field") for conditions in values.values()
                for condition in conditions]
    fields = sorted(values)
    every_pair = [(a, b) for i, a in enumerate(fields) for b in fields[i + 1:]]
    for a, b in rng.sample(every_pair, min(pairs, len(every_pair))):
        searches.append(Search(f"{rng.choice(values[a])} {rng.choice(values[b])} {_sort(rng)}", "pair"))
    searches += [Search(f"sort={'-' if descending else ''}{sort}", "sort") for sort in SORTS
                 for descending in (False, True)]
    broad = [s for s in searches if s.kind != "sort"]
    searches += [Search(s.q, "deep", skip_pages=rng.randint(5, 10)) for s in rng.sample(broad, deep)]
    searches += [Search(f"sort={'-' if rng.random() < 0.5 else ''}{rng.choice(SORTS)}", "deep",
                        skip_pages=rng.randint(5, 10)) for _ in range(2)]
    return searches


def shape_class(search: Search, total: int) -> str:
    """The class a search is reported in: deep pages on their own, the rest by how many products match."""
    if search.kind == "deep":
        return "deep page (6-11)"
    if total <= 100:
        return "≤ 100 matches"
    if total <= 10_000:
        return "101-10,000 matches"
    return "> 10,000 matches"
