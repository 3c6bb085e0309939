"""The static index of a set of offers: classes of identical unit shape sorted by price, and the caches of a round.

A scheduling round (:func:`suanli.scheduling.policy.schedule_round`) builds one from its offers. A caller that
runs many rounds over the same offers, where only the free units and the release times change (the trace replay,
:mod:`suanli.scheduling.replay`), builds it once and passes it to every round: the classes, the per-job-shape
candidate lists and the explanation index are then computed once, and each round costs only its jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from suanli.scheduling.model import Offer

__all__ = ["LazyLists", "Market", "OfferClass"]


class OfferClass:
    """Offers with identical unit shape; ``od`` / ``spot`` are healthy offers sorted by price."""

    __slots__ = ("key", "chip", "eco", "apu", "vpu", "mpu", "mem", "fp16", "members", "od", "spot",
                 "od_min", "spot_min", "od_start", "spot_start", "shape", "by_index", "idx_start", "max_total")

    def __init__(self, key: tuple, offer: Offer) -> None:
        self.key = key
        self.chip = offer.chip_key
        self.eco = offer.ecosystem
        self.apu = offer.accelerators_per_unit
        self.vpu = offer.vcpus_per_unit
        self.mpu = offer.memory_gib_per_unit
        self.mem = offer.accel_memory_gib
        self.fp16 = offer.fp16_tflops
        self.members: list[int] = []
        self.od: list[int] = []
        self.spot: list[int] = []
        self.od_min = 0
        self.spot_min = 0
        self.od_start = 0  # first position in ``od`` that may have free units (a cursor of the round)
        self.spot_start = 0
        self.shape = 0  # index into Market.unit_shapes
        self.by_index: list[int] = []  # healthy offers in the order given (first-fit and the other fit rules)
        self.idx_start = 0  # first position in ``by_index`` that may have free units
        self.max_total = 0  # the largest pool of the class, in units


class Market:
    """Everything about ``offers`` that does not change while jobs are placed (see the module docstring)."""

    def __init__(self, offers: Sequence[Offer]) -> None:
        self.offers = list(offers)
        offers = self.offers
        ids = [o.product_id for o in offers]
        if len(set(ids)) != len(ids):
            raise ValueError("offers: product_id must be unique")
        self.index_of = {pid: i for i, pid in enumerate(ids)}
        self.pid = ids
        self.total = [o.total_units for o in offers]
        self.price = [o.price_per_unit_hour_fen for o in offers]
        self.floor = [o.spot_floor_fen for o in offers]
        self.prov = [o.province for o in offers]
        self.dc = [o.datacenter_id for o in offers]
        self.cluster = [o.cluster_id for o in offers]
        self.healthy = [o.healthy for o in offers]
        by_key: dict[tuple, OfferClass] = {}
        for i, o in enumerate(offers):
            key = (o.chip_key, o.ecosystem, o.accelerators_per_unit, o.vcpus_per_unit, o.memory_gib_per_unit,
                   o.accel_memory_gib, o.fp16_tflops)
            cls = by_key.get(key)
            if cls is None:
                cls = by_key[key] = OfferClass(key, o)
            cls.members.append(i)
            if o.healthy:
                cls.od.append(i)
                if o.spot_floor_fen is not None:
                    cls.spot.append(i)
        self.classes = list(by_key.values())
        shapes: dict[tuple[int, int, int], int] = {}
        for cls in self.classes:
            cls.shape = shapes.setdefault((cls.apu, cls.vpu, cls.mpu), len(shapes))
        self.unit_shapes = list(shapes)
        self.class_of: list[OfferClass] = [None] * len(offers)  # type: ignore[list-item]
        for cls in self.classes:
            cls.od.sort(key=lambda i: (self.price[i], self.pid[i]))
            cls.spot.sort(key=lambda i: (self.floor[i], self.pid[i]))
            cls.by_index = sorted(cls.od)
            cls.max_total = max((self.total[i] for i in cls.members), default=0)
            cls.od_min = self.price[cls.od[0]] if cls.od else 0
            cls.spot_min = self.floor[cls.spot[0]] if cls.spot else 0
            for i in cls.members:
                self.class_of[i] = cls
        # Caches keyed by job shape; they depend only on the static fields above.
        self.static_cache: dict[tuple, list[OfferClass]] = {}
        self.unit_sigs: dict[tuple, tuple] = {}
        self.cands: dict[tuple, list[tuple[tuple, OfferClass, int]]] = {}
        self.elim_static: dict[tuple, tuple] = {}
        self.elim_shapes: dict[tuple, tuple] = {}
        self.largest_free_cache: dict[tuple, int] = {}
        self.units_by_class: dict[int, dict[OfferClass, int]] = {}  # id of a ``cands`` list -> units per class
        self.reservable: dict[tuple, list[tuple[int, int, tuple, str]]] = {}  # job signature -> offers to reserve

    def reset_cursors(self) -> None:
        """A new round: every class may have free units from its first offer on."""
        for cls in self.classes:
            cls.od_start = cls.spot_start = cls.idx_start = 0


class LazyLists:
    """Lists by offer index, each made by ``make(i)`` when first used."""

    __slots__ = ("lists", "make")

    def __init__(self, make: Callable[[int], list]) -> None:
        self.make = make
        self.lists: dict[int, list] = {}

    def __getitem__(self, i: int) -> list:
        got = self.lists.get(i)
        if got is None:
            got = self.lists[i] = self.make(i)
        return got
