"""What the catalog page says about a search text: the filters the words became (each removable), and what is
wrong with a text the search cannot read, in the page's language, at the place the user typed it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from suanli.catalog.free_words import Interpretation, Reading
from suanli.core.chips import load_chip_table
from suanli.errors import DomainError
from suanli.web.error_messages import domain_message
from suanli.web.i18n import EN, N_, request_locale
from suanli.web.presenters import labeler

FIELD_LABELS = {
    "chip": N_("Chip"), "vendor": N_("Chip maker"), "ecosystem": N_("Software ecosystem"), "kind": N_("Kind"),
    "accelerators": N_("Accelerators per unit"), "accel_memory": N_("Memory per accelerator, GiB"),
    "vcpus": N_("vCPUs"), "memory": N_("Host memory, GiB"), "province": N_("Province"), "city": N_("City"),
    "hub": N_("National hub"), "datacenter": N_("Data center"), "delivery": N_("Delivery"),
    "mode": N_("Billing mode"), "price": N_("Price per hour, CNY"), "price_per_accel": N_("Per accelerator-hour, CNY"),
    "price_per_pflops": N_("Per FP16-PFLOPS-hour, CNY"), "pflops": N_("FP16 PFLOPS per unit"),
    "available": N_("Free units now"),
}
VENDOR_LABELS = {"nvidia": N_("NVIDIA"), "huawei": N_("Huawei Ascend"), "hygon": N_("Hygon"),
                 "cambricon": N_("Cambricon"), "kunlunxin": N_("Kunlunxin")}
SORT_LABELS = {"price": N_("Price per hour"), "price_per_pflops": N_("Price per FP16-PFLOPS-hour"),
               "price_per_accel": N_("Price per accelerator-hour"), "pflops": N_("Compute"),
               "accel_memory": N_("Accelerator memory"), "memory": N_("Host memory")}
_OPS = {"=": "", "!=": "≠ ", "<": "< ", "<=": "≤ ", ">": "> ", ">=": "≥ "}


@dataclass(frozen=True)
class FilterChip:
    """One filter the search text became: what it says, the words it came from, the page without it."""

    label: str
    words: str
    remove_url: str
    exact: bool


def sort_value(interpretation: Interpretation | None) -> str | None:
    """The sort of the text as the "Sort by" list writes it (``-pflops``), or None."""
    sort = interpretation.query.sort if interpretation else None
    return None if sort is None else ("-" if sort.descending else "") + sort.field


def filter_chips(request: Request, interpretation: Interpretation, _: Any) -> list[FilterChip]:
    label = labeler(request)
    chips = load_chip_table()
    out = []
    for reading in interpretation.filters:
        out.append(FilterChip(_describe(reading, _, label, chips), reading.text,
                              _url_with_q(request, interpretation.without(reading)), reading.exact))
    return out


def _describe(reading: Reading, _: Any, label: Any, chips: dict[str, Any]) -> str:
    if reading.sort is not None:
        direction = _(N_("descending")) if reading.sort.descending else _(N_("ascending"))
        return _(N_("Sort: %(field)s, %(direction)s"), field=_(SORT_LABELS[reading.sort.field]), direction=direction)
    condition = reading.condition
    assert condition is not None
    values = []
    for value in condition.values:
        if condition.field == "chip" and str(value) in chips:
            values.append(chips[str(value)].name)
        elif condition.field == "vendor":
            values.append(_(VENDOR_LABELS.get(str(value), str(value))))
        elif condition.field in ("ecosystem", "kind", "delivery", "mode"):
            values.append(label(condition.field, value))
        elif condition.field == "available":
            values.append(_(N_("yes")) if value else _(N_("no")))
        elif isinstance(value, Decimal):
            values.append(format(value, "f"))
        else:
            values.append(str(value))
    return _(N_("%(field)s: %(operator)s%(values)s"), field=_(FIELD_LABELS[condition.field]),
             operator=_OPS[condition.op], values=" / ".join(values))


def _url_with_q(request: Request, q: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("q", "cursor")]
    query = urlencode([("q", q), *params] if q else params)
    return "/catalog?" + query if query else "/catalog"


SYNTAX_PROBLEMS = {
    "expected_field": N_("At character %(n)s, “%(text)s” begins with an operator or a comma: put a field before "
                         "it (e.g. price<=100) or remove it."),
    "expected_operator": N_("At character %(n)s, “%(text)s” is not understood: write a chip, maker or place, or a "
                            "condition such as chip=A800."),
    "expected_value": N_("At character %(n)s, “%(text)s” has no value after its operator: add one, e.g. "
                         "chip=A800, or remove it."),
    "missing_space": N_("At character %(n)s, “%(text)s” is stuck to what comes before it: put a space between "
                        "two conditions."),
    "unterminated_quote": N_("The quote opened at character %(n)s is not closed: close it with the same quote "
                             "mark."),
    "lone_bang": N_("At character %(n)s there is a lone “!”: write != for “not equal”."),
    "unknown_escape": N_("At character %(n)s, “%(text)s” has a backslash escape the search does not know: inside "
                         "quotes, write \\\\ for a backslash."),
    "two_sorts": N_("At character %(n)s, “%(text)s” sorts a second time: keep one sort (the “Sort by” list is "
                    "one too)."),
}


def search_problem(request: Request, exc: DomainError, _: Any) -> str:
    """What is wrong with a search text. English pages show the parser's own precise words; other languages say
    the same from the error's code and details: the words at fault and where (counting characters from 1, in
    the text the user typed), the spelling it probably meant, the values that are valid. (Chinese sentences follow
    each other without a space.)"""
    if request_locale(request) == EN:
        return exc.message
    details = exc.details if isinstance(exc.details, dict) else {}
    where = {"n": int(details["position"]) + 1} if details.get("position") is not None else {}
    text: str | None
    if exc.code == "syntax_error" and details.get("problem") in SYNTAX_PROBLEMS and where:
        problem = SYNTAX_PROBLEMS[details["problem"]]
        text = _(problem, text=details.get("text", ""), **where)
    elif exc.code == "unknown_word":
        text = _(N_("At character %(n)s, “%(text)s” is not a chip, maker, place or data center the search knows: "
                    "remove it, or write a condition such as chip=A800."), text=details.get("text", ""), **where)
        if details.get("suggestion"):
            text += _(N_("Did you mean “%(suggestion)s”?"), suggestion=details["suggestion"])
    elif exc.code == "unknown_field" and details.get("suggestion"):
        text = _(N_("There is no search field “%(field)s”. Did you mean “%(suggestion)s”?"),
                 field=details.get("field", ""), suggestion=details["suggestion"])
    elif exc.code == "invalid_value" and details.get("field") and details.get("value") is not None:
        text = _(N_("“%(value)s” is not a valid value for “%(field)s”."), value=details["value"],
                 field=details["field"])
        valid = [str(v) for v in details.get("valid_values") or []]
        if valid:
            # Every chip (about 45 today): a cut list could leave out the very maker the buyer looks for.
            text += _(N_("Valid values: %(values)s."), values=", ".join(valid[:80]))
    elif exc.code == "out_of_range" and details.get("min") is not None and details.get("max") is not None:
        text = _(N_("%(value)s is out of range for “%(field)s”: it must be between %(min)s and %(max)s."),
                 value=details.get("value", ""), field=details.get("field", ""), min=details["min"],
                 max=details["max"])
    elif exc.code == "sort_given_twice":
        text = _(N_("The search text sorts, and so does the “Sort by” list: keep one of them."))
    else:
        text = domain_message(exc, _)
    if text is None:
        return _(N_("The search is not valid: %(why)s"), why=exc.message)
    if where and exc.code not in ("syntax_error", "unknown_word"):
        text += _(N_("(At character %(n)s of the search text.)"), **where)
    return text
