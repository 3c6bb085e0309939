"""The advisor: estimates for a named chip, and ranked feasible configurations from the live catalog.

Money is integer fen throughout (``suanli.core.estimates.cost_fen``); hours are floats. A candidate is one
listed product rented as 1..8 units; it is feasible when it fits in memory, its central estimate finishes
within the deadline, its central cost is within the budget and the product has that many units free.

Sentences (reasons, notes, assumptions) are :class:`~suanli.core.messages.Message` s: each goes out twice, as the
English text (``reason``, ``notes``, as before) and as its template with values (``reason_message``,
``note_messages``: ``{"msg", "args"}``) for the web pages and API clients to translate.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from sqlalchemy.orm import Session

from suanli.advisor.schemas import CoreWorkload, EstimateIn, RecommendIn, invalid_workload, to_core
from suanli.catalog.search import InvalidQuery, search
from suanli.core.billing import RESERVED_TERMS_MONTHS, reserved_price
from suanli.core.chips import ECOSYSTEMS, ChipSpec, load_chip_table, resolve_chip
from suanli.core.estimates import Estimate, cost_fen, cost_range_fen, estimate, estimate_cpu
from suanli.core.messages import Message, msg, to_json
from suanli.core.money import fen_to_cny, format_cny
from suanli.core.query import Condition, SortKey
from suanli.core.workloads import CpuJob, GenericTraining, LLMInference
from suanli.errors import InvalidInput

MAX_UNITS = 8
PER_CHIP_SEARCH = 60  # cheapest listed products read per chip
PER_SIZE = 3  # cheapest products kept per chip per accelerators-per-unit
WEEK_HOURS = 24 * 7
MONTH_HOURS = 24 * 30
SPOT_SLACK = 2.0

ADAPTATION = {
    "cuda": "None: upstream PyTorch, DeepSpeed, Megatron-LM, vLLM and friends run as-is.",
    "cann": "Install torch_npu (PyTorch on Ascend, device 'npu'); use MindSpeed / MindSpeed-LLM for Megatron-style "
            "training and MindIE or vLLM-Ascend for serving; custom CUDA kernels need Ascend C ports.",
    "dtk": "Use the DTK builds of PyTorch (ROCm/HIP compatible): most PyTorch code works unchanged, custom CUDA "
           "kernels port via hipify; check FlashAttention/bitsandbytes availability in the DTK build.",
    "neuware": "Install torch_mlu (Cambricon's PyTorch plug-in, device 'mlu'); custom CUDA kernels must be "
               "rewritten in BANG C; serving through MagicMind.",
    "xpu": "PaddlePaddle first (first-class support); PyTorch only via Kunlunxin's torch_xpu plug-in with narrower "
           "operator coverage.",
}


#: The estimate's bottleneck in a sentence.
BOTTLENECK_WORDS = {"compute": msg("compute"), "memory_bandwidth": msg("memory bandwidth"),
                    "memory_capacity": msg("memory capacity"), "interconnect": msg("interconnect"),
                    "overhead": msg("per-step overhead"), "input_pipeline": msg("the data pipeline")}


def sentence_fields(field: str, message: Message) -> dict[str, Any]:
    """``{field: English text, field_message: {msg, args}}``."""
    return {field: str(message), f"{field}_message": to_json(message)}


def note_fields(notes: list[Message] | tuple[Message, ...]) -> dict[str, Any]:
    """``{"notes": [English text], "note_messages": [{msg, args}]}``."""
    return {"notes": [str(n) for n in notes], "note_messages": [to_json(n) for n in notes]}


def money(fen: int | None) -> dict[str, Any] | None:
    return None if fen is None else {"fen": fen, "cny": fen_to_cny(fen)}


def ecosystem_info(key: str) -> dict[str, Any]:
    eco = ECOSYSTEMS[key]
    return {"key": eco.key, "name": eco.name, "name_zh": eco.name_zh, "vendor": eco.vendor,
            "frameworks": list(eco.frameworks), "adaptation": ADAPTATION[key]}


def chip_brief(chip: ChipSpec) -> dict[str, Any]:
    return {"key": chip.key, "name": chip.name, "vendor": chip.vendor, "ecosystem": chip.ecosystem,
            "domestic": chip.domestic, "memory_gib": chip.memory_gib, "fp16_tflops": chip.fp16_tflops}


def _lookup_chip(text: str | None) -> ChipSpec:
    chip = resolve_chip(text or "")
    if chip is None:
        valid = list(load_chip_table())
        raise InvalidInput(f"chip: unknown chip {text!r}. Valid chips: {', '.join(valid)}.", code="unknown_chip",
                           details={"field": "chip", "value": text, "valid_values": valid})
    return chip


def estimate_out(est: Estimate) -> dict[str, Any]:
    data = dataclasses.asdict(est)
    data.update(note_fields(est.notes))
    data["hours_range"] = None if est.hours is None else {"low": est.hours_low, "central": est.hours,
                                                           "high": est.hours_high}
    data["samples_per_s_range"] = _samples_range(est)
    return data


def _samples_range(est: Estimate) -> dict[str, float] | None:
    if est.samples_per_s is None:
        return None
    return {"low": est.samples_per_s_low, "central": est.samples_per_s, "high": est.samples_per_s_high}


def run_estimate(body: EstimateIn) -> dict[str, Any]:
    workload = to_core(body.workload)
    try:
        if isinstance(workload, CpuJob):
            est = estimate_cpu(workload, body.count, body.memory_gib or float(workload.memory_gib))
            return {"chip": None, "count": body.count, "estimate": estimate_out(est), "ecosystem": None}
        chip = _lookup_chip(body.chip)
        est = estimate(workload, chip, body.count)
    except ValueError as exc:
        raise invalid_workload(exc) from None
    return {"chip": chip_brief(chip), "count": body.count, "estimate": estimate_out(est),
            "ecosystem": ecosystem_info(chip.ecosystem)}


# ---------------------------------------------------------------- recommendations

@dataclasses.dataclass
class Candidate:
    product: Any
    datacenter: Any
    chip: ChipSpec | None
    units: int
    est: Estimate
    hours: tuple[float, float, float]  # low, central, high
    cost: tuple[int, int, int]
    price_hour_fen: int  # the whole allocation, on demand
    failed: str | None = None  # memory, throughput, deadline, budget, no_stock


def _listed(session: Session, conditions: list[Condition]) -> tuple[list[Any], dict[Any, Any]]:
    try:
        page = search(session, conditions, SortKey("price"), limit=PER_CHIP_SEARCH)
    except InvalidQuery as exc:
        field = exc.details.get("field")
        name = "provinces" if field == "province" else (field or "request")
        raise InvalidInput(f"{name}: {exc.message}", code="invalid_value", details=exc.details) from None
    return list(page.products), page.datacenters


def _cheapest_per_size(products: list[Any]) -> list[Any]:
    kept: dict[Any, list[Any]] = {}
    for p in products:  # already cheapest first
        bucket = kept.setdefault(p.accelerators if p.accelerators else (p.vcpus, p.memory_gib), [])
        if len(bucket) < PER_SIZE:
            bucket.append(p)
    return [p for bucket in kept.values() for p in bucket]


def _evaluate(workload: CoreWorkload, product: Any, datacenter: Any, chip: ChipSpec | None, units: int,
              deadline: float, budget_fen: int | None) -> Candidate | None:
    price = product.price_on_demand_fen * units
    try:
        if chip is None:
            est = estimate_cpu(workload, units * product.vcpus, float(units * product.memory_gib))  # type: ignore[arg-type]
        else:
            est = estimate(workload, chip, units * product.accelerators, servers=units)
    except ValueError:
        return None
    if est.hours is None:  # inference: priced for the serving window
        hours = (deadline, deadline, deadline)
        each = cost_fen(deadline, price)
        cost = (each, each, each)
    else:
        assert est.hours_low is not None and est.hours_high is not None
        hours = (est.hours_low, est.hours, est.hours_high)
        c = cost_range_fen(est, price)
        cost = (c.low, c.central, c.high)
    cand = Candidate(product, datacenter, chip, units, est, hours, cost, price)
    free = product.stock_units - product.allocated_units
    if est.fits_in_memory is False:
        cand.failed = "memory"
    elif est.meets_target is False or est.meets_latency is False:
        cand.failed = "throughput"
    elif hours[1] > deadline:
        cand.failed = "deadline"
    elif budget_fen is not None and cost[1] > budget_fen:
        cand.failed = "budget"
    elif units > free:
        cand.failed = "no_stock"
    return cand


def _candidates(session: Session, workload: CoreWorkload, body: RecommendIn, budget_fen: int | None,
                ecosystems: list[str]) -> list[Candidate]:
    base = [Condition("province", "=", tuple(body.provinces))] if body.provinces else []
    out: list[Candidate] = []
    if isinstance(workload, CpuJob):
        groups = [(None, [Condition("kind", "=", ("cpu",)), *base])]
    else:
        groups = [(chip, [Condition("chip", "=", (chip.key,)), *base]) for chip in load_chip_table().values()
                  if chip.ecosystem in ecosystems]
    for chip, conditions in groups:
        products, datacenters = _listed(session, conditions)
        for product in _cheapest_per_size(products):
            if chip is not None and not product.accelerators:
                continue
            if chip is None and not product.vcpus:
                continue
            for units in range(1, MAX_UNITS + 1):
                cand = _evaluate(workload, product, datacenters[product.datacenter_id], chip, units,
                                 body.deadline_hours, budget_fen)
                if cand is not None:
                    out.append(cand)
    return out


def deadline_risk(high: float, deadline: float) -> str:
    """low: even the slow estimate leaves a quarter of the deadline spare; medium: the slow estimate meets it;
    high: only the central estimate does."""
    if high * 1.25 <= deadline:
        return "low"
    return "medium" if high <= deadline else "high"


def _billing(c: Candidate, deadline: float) -> dict[str, Any]:
    p, central, high = c.product, c.hours[1], c.hours[2]
    mode = "on_demand"
    alternatives: list[dict[str, Any]] = []
    quotes = {"on_demand": {"mode": "on_demand", "term_months": None, "bid_hour": None,
                            "unit_price": money(p.price_on_demand_fen), "price_hour": money(c.price_hour_fen),
                            "cost": money(c.cost[1])}}
    if central < WEEK_HOURS:
        reason = msg("a %(hours)s-hour run is short: pay on demand by the hour and release the units when it ends",
                     hours=f"{central:.1f}")
    elif central >= MONTH_HOURS:
        reason = msg("a %(days)s-day run: on demand", days=f"{central / 24:.1f}")
    else:
        reason = msg("a %(days)s-day run: on demand (reserved terms start at one month)", days=f"{central / 24:.1f}")
    if central >= MONTH_HOURS and p.price_reserved_month_fen is not None:
        months = math.ceil(central / MONTH_HOURS)
        term = next((t for t in RESERVED_TERMS_MONTHS if t >= months), None)
        if term is not None:
            discounts = {1: 0, 3: p.reserved_discount_3m_bp or 0, 6: p.reserved_discount_6m_bp or 0,
                         12: p.reserved_discount_12m_bp or 0}
            reserved = reserved_price(p.price_reserved_month_fen, c.units, term, discounts)
            alt: dict[str, Any] = {"mode": "reserved", "term_months": term, "cost": money(reserved)}
            quotes["reserved"] = {"mode": "reserved", "term_months": term, "bid_hour": None,
                                  "unit_price": money(p.price_reserved_month_fen), "price_hour": None,
                                  "cost": money(reserved)}
            if reserved < c.cost[1]:
                mode, reason = "reserved", msg(
                    "the run lasts about %(days)s days: a %(term)s-month reservation costs %(reserved)s against "
                    "~%(on_demand)s on demand", days=f"{central / 24:.0f}", term=term,
                    reserved=format_cny(reserved), on_demand=format_cny(c.cost[1]))
            else:
                dearer = msg("a %(term)s-month reservation (%(reserved)s) costs more than on demand (~%(on_demand)s)",
                             term=term, reserved=format_cny(reserved), on_demand=format_cny(c.cost[1]))
                alt.update(sentence_fields("why_not", dearer))
            alternatives.append(alt)
    if p.price_spot_floor_fen is not None:
        slack = deadline / high if high > 0 else math.inf
        spot_cost = cost_fen(central, p.price_spot_floor_fen * c.units)
        alt = {"mode": "spot", "cost_at_floor": money(spot_cost), "slack": round(slack, 2)}
        # the cost is quoted at the floor, so the floor is the bid an order or a launch of this advice makes
        quotes["spot"] = {"mode": "spot", "term_months": None, "bid_hour": money(p.price_spot_floor_fen),
                          "unit_price": money(p.price_spot_floor_fen),
                          "price_hour": money(p.price_spot_floor_fen * c.units), "cost": money(spot_cost)}
        if slack >= SPOT_SLACK and spot_cost < c.cost[1]:
            spot = msg("the deadline leaves %(slack)sx the high estimate, room to restart after a preemption: spot "
                       "from the floor price (~%(cost)s) if the job checkpoints", slack=f"{slack:.1f}",
                       cost=format_cny(spot_cost))
            alt.update(sentence_fields("reason", spot))
            if mode == "on_demand" and central < WEEK_HOURS:
                mode, reason = "spot", spot
        else:
            risky = msg("only %(slack)sx slack before the deadline (spot wants >= %(minimum)sx: a preemption could "
                        "make the run late)", slack=f"{slack:.1f}", minimum=f"{SPOT_SLACK:g}")
            alt.update(sentence_fields("why_not", risky))
        alternatives.append(alt)
    return {"mode": mode, **sentence_fields("reason", reason), "alternatives": alternatives, "quote": quotes[mode]}


def _product_brief(c: Candidate) -> dict[str, Any]:
    p, dc = c.product, c.datacenter
    return {"id": p.id, "name": p.name, "accelerators_per_unit": p.accelerators, "vcpus": p.vcpus,
            "memory_gib": p.memory_gib, "price_on_demand_hour": money(p.price_on_demand_fen),
            "available_units": p.stock_units - p.allocated_units,
            "datacenter": {"id": dc.id, "name": dc.name}, "province": dc.province, "city": dc.city,
            "chip": chip_brief(c.chip) if c.chip else None}


def _item(c: Candidate, deadline: float) -> dict[str, Any]:
    low, central, high = c.hours
    accelerators = c.units * (c.product.accelerators or 0)
    what = (f"{c.units} × {c.product.name}" + (f" ({accelerators} × {c.chip.name})" if c.chip else ""))
    bottleneck = BOTTLENECK_WORDS.get(c.est.bottleneck) or c.est.bottleneck
    if c.est.hours is None:  # inference: a serving window
        reason = msg("%(what)s in %(city)s: about %(rate)s generated tokens/s; serving %(window)s h costs %(cost)s at "
                     "%(price)s/h; bottleneck: %(bottleneck)s.", what=what, city=c.datacenter.city,
                     rate=f"{c.est.tokens_per_s or 0.0:,.0f}", window=f"{deadline:g}", cost=format_cny(c.cost[1]),
                     price=format_cny(c.price_hour_fen), bottleneck=bottleneck)
    else:
        margin = (msg("even the slow estimate meets the deadline") if high <= deadline
                  else msg("the slow estimate (%(high)s h) would miss the %(deadline)s h deadline", high=f"{high:.1f}",
                           deadline=f"{deadline:g}"))
        reason = msg("%(what)s in %(city)s: about %(hours)s h (%(low)s–%(high)s h) for about %(cost)s at %(price)s/h; "
                     "%(margin)s; bottleneck: %(bottleneck)s.", what=what, city=c.datacenter.city,
                     hours=f"{central:.1f}", low=f"{low:.1f}", high=f"{high:.1f}", cost=format_cny(c.cost[1]),
                     price=format_cny(c.price_hour_fen), margin=margin, bottleneck=bottleneck)
    notes = ([msg("%(units)s separate units (servers): the estimate assumes they work as one cluster; check the data "
                  "center's network between units", units=c.units)] if c.units > 1 else []) + list(c.est.notes)
    return {
        "product": _product_brief(c), "units": c.units, "accelerators": accelerators,
        "fits_in_memory": c.est.fits_in_memory, "memory_needed_gib": c.est.memory_needed_gib,
        "hours": {"low": low, "central": central, "high": high}, "meets_deadline_high": high <= deadline,
        "deadline_risk": deadline_risk(high, deadline),
        "cost": {"low": money(c.cost[0]), "central": money(c.cost[1]), "high": money(c.cost[2])},
        "price_hour": money(c.price_hour_fen), "bottleneck": c.est.bottleneck,
        "samples_per_s": _samples_range(c.est),
        "mfu": c.est.mfu if c.est.samples_per_s is not None else None,
        "billing": _billing(c, deadline), **sentence_fields("reason", reason),
        "ecosystem": ecosystem_info(c.chip.ecosystem) if c.chip else None, **note_fields(notes),
    }


def _rank_key(c: Candidate) -> tuple[int, float, float]:
    return (c.cost[1], c.hours[1], c.hours[2])


def _best_per_product(cands: list[Candidate]) -> list[Candidate]:
    best: dict[Any, Candidate] = {}
    for c in sorted(cands, key=_rank_key):
        best.setdefault(c.product.id, c)
    return sorted(best.values(), key=_rank_key)


def _suggestions(cands: list[Candidate], deadline: float, budget_fen: int | None,
                 other: dict[str, int]) -> dict[str, Any]:
    fitting = [c for c in cands if c.failed in (None, "deadline", "budget")]
    within_deadline = [c for c in fitting if c.hours[1] <= deadline]
    within_budget = [c for c in fitting if budget_fen is None or c.cost[1] <= budget_fen]
    out: dict[str, Any] = {"min_budget_cny": None, "min_deadline_hours": None, "best_candidate": None,
                           "ecosystems": [e for e, n in other.items() if n]}
    if within_deadline:
        out["min_budget_cny"] = fen_to_cny(min(c.cost[1] for c in within_deadline))
    if within_budget:
        out["min_deadline_hours"] = math.ceil(min(c.hours[1] for c in within_budget) * 10) / 10
    if fitting:
        best = min(fitting, key=_rank_key)
        out["best_candidate"] = {
            "product_id": best.product.id, "product_name": best.product.name, "units": best.units,
            "needs_deadline_hours": math.ceil(best.hours[1] * 10) / 10,
            "needs_budget_cny": fen_to_cny(best.cost[1]),
            "free_units": best.product.stock_units - best.product.allocated_units}
    return out


def _assumptions(workload: CoreWorkload) -> list[Message]:
    assumptions = [
        msg("hours are wall-clock on the whole allocation; cost = on-demand price × units × hours (central "
            "estimate), in whole fen"),
        msg("feasible: fits in memory, central hours <= deadline, central cost <= budget, units free now"),
        msg("ranked by central cost, then central hours; the best unit count per product")]
    if isinstance(workload, LLMInference):
        assumptions.append(msg("llm_inference: priced for serving the whole deadline_hours window"))
    return assumptions


def recommend(session: Session, body: RecommendIn) -> dict[str, Any]:
    workload = to_core(body.workload)
    if isinstance(workload, GenericTraining) and workload.samples is None:
        raise InvalidInput("workload.samples: required for a recommendation (how many samples per epoch), so the "
                           "run's hours and cost can be compared with the deadline and budget",
                           code="invalid_workload", details={"field": "workload.samples",
                                                             "message": "required for a recommendation"})
    budget_fen = None if body.budget_cny is None else int(body.budget_cny * 100)
    cands = _candidates(session, workload, body, budget_fen, body.ecosystems)
    feasible = _best_per_product([c for c in cands if c.failed is None])
    items = [_item(c, body.deadline_hours) for c in feasible[:body.limit]]
    by_chip: dict[str, dict[str, Any]] = {}
    for c in feasible:  # cheapest first: the best option per chip, so other vendors show past a crowded top
        if c.chip is not None and c.chip.key not in by_chip:
            by_chip[c.chip.key] = {"chip": chip_brief(c.chip), "product_id": c.product.id,
                                   "product_name": c.product.name, "units": c.units,
                                   "hours_central": c.hours[1], "hours_high": c.hours[2],
                                   "deadline_risk": deadline_risk(c.hours[2], body.deadline_hours),
                                   "cost_central": money(c.cost[1]),
                                   "billing_mode": _billing(c, body.deadline_hours)["mode"],
                                   "rank": feasible.index(c) + 1}
    by_ecosystem: dict[str, Candidate] = {}
    for c in feasible:
        if c.chip is not None:
            by_ecosystem.setdefault(c.chip.ecosystem, c)
    assumptions = _assumptions(workload)
    result: dict[str, Any] = {"items": items, "total_feasible": len(feasible),
                              "best_by_chip": list(by_chip.values()), "candidates_considered": len(cands),
                              "best_by_ecosystem": [_item(c, body.deadline_hours) for c in by_ecosystem.values()],
                              "why_not": None, "suggestions": None,
                              "assumptions": [str(a) for a in assumptions],
                              "assumption_messages": [to_json(a) for a in assumptions]}
    if not items:
        counts = {"memory": 0, "throughput": 0, "deadline": 0, "budget": 0, "no_stock": 0}
        for c in cands:
            if c.failed:
                counts[c.failed] += 1
        counts["products_considered"] = len({c.product.id for c in cands})
        other: dict[str, int] = {}
        if not isinstance(workload, CpuJob):
            excluded = [e for e in ECOSYSTEMS if e not in body.ecosystems]
            if excluded:
                extra = _candidates(session, workload, body, budget_fen, excluded)
                for eco in excluded:
                    other[eco] = len({c.product.id for c in extra if c.failed is None and c.chip
                                      and c.chip.ecosystem == eco})
        result["why_not"] = counts
        result["suggestions"] = _suggestions(cands, body.deadline_hours, budget_fen, other)
    return result


__all__ = ["recommend", "run_estimate"]
