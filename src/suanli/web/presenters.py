"""What pages show for domain values: translated labels of enums, and where a price stands in the price index."""

from __future__ import annotations

import re

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request

from suanli.catalog.price_index import price_index
from suanli.core.price_stats import PriceSummary
from suanli.web.forms import translator
from suanli.web.i18n import N_, format_money

LABELS: dict[str, dict[str, str]] = {
    "mode": {"on_demand": N_("On demand"), "reserved": N_("Reserved"), "spot": N_("Spot")},
    "order_status": {"pending": N_("Pending"), "provisioning": N_("Being delivered"), "active": N_("Running"),
                     "ended": N_("Ended"), "cancelled": N_("Cancelled"), "preempted": N_("Preempted")},
    "end_reason": {"released": N_("Released"), "cancelled": N_("Cancelled"), "out_of_funds": N_("Out of funds"),
                   "term_ended": N_("Term ended"), "preempted": N_("Preempted"),
                   "not_delivered": N_("Not delivered: refunded in full"),
                   "instance_failed": N_("The machine stopped running")},
    "instance_state": {"pending": N_("Waiting for units"), "provisioning": N_("Being delivered"),
                       "running": N_("Running"), "stopping": N_("Stopping"), "stopped": N_("Stopped"),
                       "failed": N_("Failed")},
    "instance_delivery": {"automated": N_("Automated"), "manual": N_("By hand")},
    "job_state": {"queued": N_("Queued"), "scheduled": N_("Scheduled"), "running": N_("Running"),
                  "succeeded": N_("Succeeded"), "failed": N_("Failed"), "cancelled": N_("Cancelled"),
                  "preempted": N_("Preempted")},
    "kind": {"accelerator": N_("Accelerator server"), "cpu": N_("CPU server"), "storage": N_("Storage")},
    "delivery": {"container": N_("Container"), "vm": N_("Virtual machine"), "bare_metal": N_("Bare metal"),
                 "batch": N_("Batch jobs")},
    # why a queued job is not placed (the constraint that eliminated the most offers; suanli.core.demand)
    "eliminated": {"capacity_busy": N_("waits for capacity"), "chip": N_("chip not offered"),
                   "ecosystem": N_("ecosystem not offered"), "count": N_("no pool big enough"),
                   "memory": N_("accelerator memory too small"), "compute": N_("accelerators too slow"),
                   "region": N_("not in the provinces asked for"), "datacenter": N_("not in the data centers asked for"),
                   "product": N_("not one of the products asked for"), "price": N_("over the buyer's price limit"),
                   "blocked": N_("failed there before"), "unhealthy": N_("cluster unhealthy"),
                   "no_offers": N_("no offers at all")},
    "ecosystem": {"cuda": N_("NVIDIA CUDA"), "cann": N_("Huawei Ascend CANN"), "dtk": N_("Hygon DTK"),
                  "neuware": N_("Cambricon Neuware"), "xpu": N_("Kunlunxin XPU"), "musa": N_("Moore Threads MUSA")},
    "bottleneck": {"compute": N_("compute"), "memory_bandwidth": N_("memory bandwidth"),
                   "memory_capacity": N_("memory capacity"), "interconnect": N_("interconnect"),
                   "overhead": N_("per-step overhead"), "input_pipeline": N_("the data pipeline")},
    "objective": {"cost": N_("Lowest cost"), "time": N_("Fastest")},
    "dc_status": {"pending": N_("Waiting for approval"), "approved": N_("Approved"), "suspended": N_("Suspended")},
    "cluster_state": {"active": N_("Active"), "disabled": N_("Disabled"), "draining": N_("Draining: deleted once "
                                                                                          "its work has ended"),
                      "deleted": N_("Deleted")},
    "cluster_kind": {"local": N_("Platform sandbox"), "slurm": N_("Slurm cluster"), "ray": N_("Ray cluster")},
    "held_kind": {"lease": N_("Your reserved lease"), "loan": N_("Units lent to your emergency"),
                  "emergency": N_("Your emergency's order")},
    "transfer": {"topup": N_("Top-up"), "hold": N_("Hold"), "capture": N_("Charge"), "release": N_("Release"),
                 "refund": N_("Refund"), "payout": N_("Payout"), "commission": N_("Commission"),
                 "compensation": N_("Emergency compensation")},
    "ledger_row": {"topup": N_("Top-up"), "hold": N_("Hold"), "charge": N_("Charge"),
                   "release": N_("Hold returned"), "refund": N_("Refund"), "payout": N_("Payout"),
                   "meter": N_("Meter readings"), "compensation": N_("Emergency compensation")},
    "ledger_row_seller": {"charge": N_("Earned"), "meter": N_("Earned, meter readings"), "refund": N_("Refund given"),
                          "payout": N_("Payout")},
    "usage": {"start": N_("Lease started"), "stop": N_("Stopped"), "preempt_notice": N_("Preemption notice"),
              "preempted": N_("Preempted"), "meter": N_("Meter reading"), "release": N_("Released"),
              "term_end": N_("Term ended"), "extend": N_("Extended")},
    "constraint": {"chip": N_("wrong chip"), "ecosystem": N_("other software ecosystem"),
                   "count": N_("too small"), "memory": N_("too little accelerator memory"),
                   "compute": N_("too little compute"), "region": N_("province not allowed"),
                   "datacenter": N_("data center not allowed"), "product": N_("not one of the chosen products"),
                   "price": N_("above your price limit"),
                   "blocked": N_("failed before for this job"), "unhealthy": N_("cluster unhealthy"),
                   "capacity_busy": N_("busy now")},
    "why_not": {"memory": N_("do not fit in memory"), "throughput": N_("too slow for the target rate"),
                "deadline": N_("miss the deadline"), "budget": N_("over the budget"), "no_stock": N_("no free units")},
    "sort": {"price": N_("Price per hour"), "price_per_pflops": N_("Price per FP16-PFLOPS-hour (accelerators)"),
             "price_per_accel": N_("Price per accelerator-hour"), "-pflops": N_("Most compute"),
             "-accel_memory": N_("Most accelerator memory")},
}


def labeler(request: Request) -> Callable[[str, Any], str]:
    """``label("mode", "on_demand")`` → 按需 (or On demand); an unknown value is shown as it is."""
    _ = translator(request)

    def label(group: str, value: Any) -> str:
        key = getattr(value, "value", value)
        message = LABELS.get(group, {}).get(str(key))
        return _(message) if message else str(key if key is not None else "—")

    return label


def options(request: Request, group: str, *, blank: str | None = None) -> list[tuple[str, str]]:
    label = labeler(request)
    out = [("", blank)] if blank is not None else []
    return out + [(key, label(group, key)) for key in LABELS[group]]


# ---------------------------------------------------------------- the price index, and a price's place in it

_INDEX_TTL_SECONDS = 60.0


def chip_index(request: Request, session: Session) -> dict[str, PriceSummary]:
    """The price index per chip (per accelerator-hour), computed at most once a minute per process."""
    state = request.app.state
    cached = getattr(state, "web_price_index", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > _INDEX_TTL_SECONDS:
        cached = state.web_price_index = (now, {chip.key: summary for chip, _p, summary in price_index(session)})
    return cached[1]


@dataclass(frozen=True)
class PricePosition:
    level: str  # low | mid | high: the badge's colour
    label: str
    title: str


def price_position(per_accel_fen: int | None, summary: PriceSummary | None,
                   _: Callable[..., str]) -> PricePosition | None:
    """Where a price per accelerator-hour stands among the listed prices of the same chip (its quartiles)."""
    if per_accel_fen is None or summary is None or summary.count < 2:
        return None
    title = _("Index for this chip: median %(median)s, middle half %(q1)s–%(q3)s per accelerator-hour "
              "(%(count)s offers)", median=format_money(summary.median), q1=format_money(summary.q1),
              q3=format_money(summary.q3), count=summary.count)
    if per_accel_fen <= summary.q1:
        return PricePosition("low", _("Cheapest quarter"), title)
    if per_accel_fen < summary.median:
        return PricePosition("low", _("Below index median"), title)
    if per_accel_fen == summary.median:
        return PricePosition("mid", _("At index median"), title)
    if per_accel_fen <= summary.q3:
        return PricePosition("mid", _("Above index median"), title)
    return PricePosition("high", _("Dearest quarter"), title)


def position_of(product: Any, index: dict[str, PriceSummary], _: Callable[..., str]) -> PricePosition | None:
    """For a ``ProductOut``."""
    if product.chip is None or product.prices.per_accelerator_hour is None:
        return None
    return price_position(product.prices.per_accelerator_hour.fen, index.get(product.chip.key), _)


def product_view(session: Session, product_id: Any, viewer: Any = None) -> Any:
    """A product as the API shows it (``ProductOut``); NotFound when it is not visible to ``viewer``."""
    from suanli.catalog import service as catalog
    from suanli.catalog.models import ChipModel, Datacenter
    from suanli.catalog.presenters import product_out
    from suanli.catalog.price_history import guidance_by_chip

    product = catalog.get_product(session, product_id, viewer)
    datacenter = session.get_one(Datacenter, product.datacenter_id)
    chip = session.get(ChipModel, product.chip_key) if product.chip_key else None
    return product_out(product, datacenter, chip, guidance_by_chip(session) if chip else None)


def short_chip_name(chip: Any) -> str:
    """A chip's name for a dense table: without its maker, a GeForce/Quadro line name and the memory the
    table shows in its own column (``NVIDIA GeForce RTX 4090 24GB`` → ``RTX 4090``)."""
    name = chip.name.removeprefix(chip.vendor + " ")
    for line in ("GeForce ", "Quadro "):
        name = name.replace(line, "")
    return re.sub(r"\s+\d+GB$", "", name)
