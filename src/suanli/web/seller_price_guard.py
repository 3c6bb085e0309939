"""The seller's product form and the price guard: the chip's price index shown beside each price, and a refusal
``price_needs_confirmation`` turned into a warning next to each unusual price with a box to tick to confirm it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from suanli.catalog.models import ChipModel
from suanli.catalog.price_guard import chip_reference, guard_thresholds
from suanli.core.price_guard import (CHECK_FIELDS, ON_DEMAND_ABOVE_INDEX, ON_DEMAND_BELOW_INDEX,
                                     RESERVED_BELOW_ON_DEMAND_HOURS, SPOT_BELOW_INDEX, GuardThresholds)
from suanli.core.price_stats import PriceSummary
from suanli.errors import DomainError
from suanli.web.forms import Form
from suanli.web.i18n import N_, format_money, format_percent

CONFIRM_FIELD = "confirm_unusual_price"
BELOW_INDEX = N_("This is under %(pct)s of the price index median (%(median)s per unit-hour for this server). "
                 "Check it; if it is right, tick the confirmation below.")
ABOVE_INDEX = N_("This is over %(pct)s of the price index median (%(median)s per unit-hour for this server). "
                 "Check it; if it is right, tick the confirmation below.")
RESERVED_BELOW_HOURS = N_("A month at this price costs less than %(hours)s hours at your on-demand price "
                          "(%(minimum)s). A reserved price is per unit and month. Check it; if it is right, tick the "
                          "confirmation below.")
CHECK_LABELS = {ON_DEMAND_BELOW_INDEX: N_("On-demand price under the price index"),
                ON_DEMAND_ABOVE_INDEX: N_("On-demand price over the price index"),
                SPOT_BELOW_INDEX: N_("Spot floor under the price index"),
                RESERVED_BELOW_ON_DEMAND_HOURS: N_("Reserved month under the minimum of on-demand hours")}
# the API's price fields → the form's
FORM_FIELDS = {"price_on_demand_fen": "price_on_demand", "price_reserved_month_fen": "price_reserved_month",
               "price_spot_floor_fen": "price_spot_floor"}


@dataclass(frozen=True)
class PriceReference:
    """What the form shows beside the prices: the chip's index per accelerator-hour and per unit-hour."""

    chip_name: str
    accelerators: int
    index: PriceSummary | None  # per accelerator-hour; None when no offer of this chip is listed
    thresholds: GuardThresholds

    def per_unit(self, fen: int) -> int:
        return fen * self.accelerators


def price_reference(session: Session, chip_key: str | None, accelerators: Any,
                    excluding: Any = None) -> PriceReference | None:
    """The reference for ``accelerators`` × ``chip_key`` (as typed: nothing when either is missing or not valid)."""
    try:
        count = int(str(accelerators))
    except ValueError:
        return None
    chip = session.get(ChipModel, chip_key) if chip_key else None
    if chip is None or count < 1:
        return None
    return PriceReference(chip.name, count, chip_reference(session, chip.key, excluding), guard_thresholds(session))


def show_unusual_prices(form: Form, exc: DomainError, _: Any, on_demand_fen: int) -> bool:
    """A ``price_needs_confirmation`` refusal put next to each price it is about, and the confirmation box shown
    (``form.values["needs_confirmation"]``); False for any other refusal."""
    if exc.code != "price_needs_confirmation":
        return False
    details = exc.details
    thresholds, accelerators = details["thresholds"], details["accelerators"]
    reference = details["reference"]
    median = format_money(reference["median"]["fen"] * accelerators) if reference else ""
    for check in details["checks"]:
        field = FORM_FIELDS[CHECK_FIELDS[check]]
        if check == RESERVED_BELOW_ON_DEMAND_HOURS:
            message = _(RESERVED_BELOW_HOURS, hours=thresholds["min_reserved_hours"],
                        minimum=format_money(on_demand_fen * thresholds["min_reserved_hours"]))
        elif check == ON_DEMAND_ABOVE_INDEX:
            message = _(ABOVE_INDEX, pct=format_percent(thresholds["high_pct"]), median=median)
        else:
            message = _(BELOW_INDEX, pct=format_percent(thresholds["low_pct"]), median=median)
        form.error(field, message)
    form.values["needs_confirmation"] = True
    form.values[CONFIRM_FIELD] = ""
    return True
