"""Requests for quotes (询价) and pre-sale contracts: the rules, with no I/O.

A buyer states a need (a chip, or a minimum of compute and memory per accelerator; units of at least so many
accelerators; a term; a window for the start; a region; a maximum unit price; a billing mode). Sellers answer with
quotes, possibly for capacity they do not have yet (pre-sale) with a delivery date and a penalty. This module says
whether a quote complies with its request, what a contract costs, which quote a reverse auction awards, and what a
failed delivery pays back.

Money is integer fen. Prices are per unit-month (reserved) or per unit-hour (on demand), as for orders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from suanli.core import billing

MAX_TERM_HOURS = 24 * 366
"""An on-demand request's term: at most a year of hours."""
MAX_WINDOW_DAYS = 366
"""The latest start may lie at most a year ahead."""


class BillingMode(StrEnum):
    """How the contract's order is billed once it starts: a reserved term paid upfront, or per second on demand."""

    RESERVED = "reserved"
    ON_DEMAND = "on_demand"


@dataclass(frozen=True)
class Need:
    """What a request asks for, per unit: a chip (``chip_key``), or at least ``min_fp16_tflops`` and
    ``min_memory_gib`` per accelerator; ``accelerators`` per unit at least; ``province`` None means anywhere."""

    chip_key: str | None
    min_fp16_tflops: float | None
    min_memory_gib: int | None
    accelerators: int
    units: int
    billing_mode: BillingMode
    term_months: int | None
    term_hours: int | None
    earliest_start: dt.datetime
    latest_start: dt.datetime
    province: str | None
    max_unit_price_fen: int


@dataclass(frozen=True)
class Offer:
    """What a quote offers per unit: its chip (with that chip's FP16 TFLOPS and memory per accelerator), how
    many accelerators a unit has, where, when it starts, at what unit price; and, for pre-sale capacity, when it
    will be delivered."""

    chip_key: str
    chip_fp16_tflops: float
    chip_memory_gib: int
    accelerators: int
    province: str
    unit_price_fen: int
    start_at: dt.datetime
    deliver_by: dt.datetime
    penalty_fen: int


class Shortfall(StrEnum):
    """Why a quote does not comply with its request (machine-readable codes of the 422 a seller gets)."""

    CHIP = "chip_mismatch"
    COMPUTE = "compute_below_minimum"
    MEMORY = "memory_below_minimum"
    ACCELERATORS = "too_few_accelerators"
    REGION = "region_mismatch"
    PRICE = "price_above_maximum"
    START = "start_outside_window"
    DELIVERY = "delivery_after_start"
    DELIVERY_PAST = "delivery_in_the_past"


def shortfalls(need: Need, offer: Offer, now: dt.datetime) -> list[Shortfall]:
    """Every way ``offer`` misses ``need`` (empty: it complies)."""
    found = []
    if need.chip_key is not None and offer.chip_key != need.chip_key:
        found.append(Shortfall.CHIP)
    if need.min_fp16_tflops is not None and offer.chip_fp16_tflops < need.min_fp16_tflops:
        found.append(Shortfall.COMPUTE)
    if need.min_memory_gib is not None and offer.chip_memory_gib < need.min_memory_gib:
        found.append(Shortfall.MEMORY)
    if offer.accelerators < need.accelerators:
        found.append(Shortfall.ACCELERATORS)
    if need.province is not None and offer.province != need.province:
        found.append(Shortfall.REGION)
    if offer.unit_price_fen > need.max_unit_price_fen:
        found.append(Shortfall.PRICE)
    if not need.earliest_start <= offer.start_at <= need.latest_start:
        found.append(Shortfall.START)
    if offer.deliver_by > offer.start_at:
        found.append(Shortfall.DELIVERY)
    if offer.deliver_by <= now:
        found.append(Shortfall.DELIVERY_PAST)
    return found


def contract_value_fen(billing_mode: BillingMode, unit_price_fen: int, units: int, term_months: int | None,
                       term_hours: int | None) -> int:
    """What the whole term costs at ``unit_price_fen``: a reserved term (no term discount: the quoted price is
    the contract's) or ``term_hours`` hours on demand. This is the deposit held in escrow until the start."""
    if billing_mode is BillingMode.RESERVED:
        if term_months is None:
            raise ValueError("a reserved contract needs term_months")
        return billing.reserved_price(unit_price_fen, units, term_months, {})
    if term_hours is None:
        raise ValueError("an on-demand contract needs term_hours")
    return billing.charge_for_seconds(unit_price_fen, units, term_hours * billing.SECONDS_PER_HOUR)


def budget_fen(need: Need) -> int:
    """What the buyer freezes when posting: the term at the maximum unit price. Any compliant quote's contract
    costs at most this, so an award (by the buyer or by the auction's deadline) never fails for money."""
    return contract_value_fen(need.billing_mode, need.max_unit_price_fen, need.units, need.term_months,
                              need.term_hours)


@dataclass(frozen=True)
class Bid:
    """A quote as the auction sees it."""

    quote_id: str
    unit_price_fen: int
    created_at: dt.datetime


def auction_winner(bids: Iterable[Bid]) -> Bid | None:
    """The reverse auction's winner among compliant, standing quotes: the lowest unit price; on a tie the
    earliest quote (then the smaller id, so the rule is total). None when there is no quote."""
    return min(bids, key=lambda b: (b.unit_price_fen, b.created_at, b.quote_id), default=None)


@dataclass(frozen=True)
class FailedDeliveryPlan:
    """What a failed delivery moves: the deposit back to the buyer, and the penalty the seller pays out of its
    receivable (``penalty_paid_fen``, at most what the seller has); ``penalty_unpaid_fen`` is the rest, which the
    platform records as the seller's debt."""

    refund_fen: int
    penalty_paid_fen: int
    penalty_unpaid_fen: int


def failed_delivery(deposit_fen: int, penalty_fen: int, seller_receivable_fen: int) -> FailedDeliveryPlan:
    for name, value in (("deposit_fen", deposit_fen), ("penalty_fen", penalty_fen),
                        ("seller_receivable_fen", seller_receivable_fen)):
        if type(value) is not int or value < 0:
            raise ValueError(f"{name} must be a non-negative int number of fen, got {value!r}")
    paid = min(penalty_fen, seller_receivable_fen)
    return FailedDeliveryPlan(deposit_fen, paid, penalty_fen - paid)


def delivery_due(deliver_by: dt.datetime, now: dt.datetime) -> bool:
    """True when an undelivered contract has failed: its delivery date has passed."""
    return now > deliver_by


def term_check(billing_mode: BillingMode, term_months: int | None, term_hours: int | None) -> str | None:
    """None when the term fits the billing mode; else the name of the field that is wrong."""
    if billing_mode is BillingMode.RESERVED:
        if term_hours is not None:
            return "term_hours"
        if term_months not in billing.RESERVED_TERMS_MONTHS:
            return "term_months"
        return None
    if term_months is not None:
        return "term_months"
    if term_hours is None or not 1 <= term_hours <= MAX_TERM_HOURS:
        return "term_hours"
    return None

