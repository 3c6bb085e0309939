"""ECharts options of the demand page and the price history, built on the server (each page shows the same
figures as a table under the chart: ``chart_tables.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from suanli.catalog.price_history import ChipHistory
from suanli.core.demand import ANY, DemandTotal
from suanli.demand.service import DemandReport
from suanli.web.i18n import N_
from suanli.web.operator_charts import base_option, yuan

SOURCE_NAMES = {"jobs": N_("Jobs that cannot be placed"), "searches": N_("Searches that found nothing"),
                "requests": N_("Open requests for quotes")}
HISTORY_CHIPS = 8


def demand_per_day_chart(report: DemandReport, _: Callable[..., str]) -> dict[str, Any]:
    """Stacked bars per day: the signals of each source."""
    return base_option(
        legend={"top": 0},
        xAxis={"type": "category", "name": _(N_("Day")), "data": [d.strftime("%m-%d") for d in report.days]},
        yAxis={"type": "value", "minInterval": 1},
        series=[{"name": _(SOURCE_NAMES[s]), "type": "bar", "stack": "demand", "data": report.per_day[s]}
                for s in report.sources])


def demand_totals_chart(rows: Sequence[DemandTotal], names: dict[str, str], sources: Sequence[str],
                        _: Callable[..., str], axis_name: str) -> dict[str, Any]:
    """Horizontal stacked bars, the most wanted first: signals per chip (or province), by source."""
    label = [(_(N_("Any")) if t.key == ANY else names.get(t.key, t.key)) for t in rows]
    return base_option(
        legend={"top": 0},
        tooltip={"trigger": "axis", "axisPointer": {"type": "shadow"}},
        xAxis={"type": "value", "minInterval": 1},
        yAxis={"type": "category", "name": axis_name, "inverse": True, "data": label,
               "axisLabel": {"width": 120, "overflow": "truncate"}},
        series=[{"name": _(SOURCE_NAMES[s]), "type": "bar", "stack": "demand",
                 "data": [t.signals.get(s, 0) for t in rows]} for s in sources])


def totals_height(rows: Sequence[Any]) -> int:
    return 90 + 28 * max(1, len(rows))


def price_history_chart(history: Sequence[ChipHistory], _: Callable[..., str]) -> dict[str, Any]:
    """One line per chip (the most offered first, at most ``HISTORY_CHIPS``): the median per accelerator-hour on
    each day with a snapshot."""
    shown = sorted(history, key=lambda h: -h.points[-1][1].count)[:HISTORY_CHIPS]
    days = sorted({day for h in shown for day, _s in h.points})
    return base_option(
        legend={"top": 0, "type": "scroll"},
        xAxis={"type": "category", "name": _(N_("Day")), "data": [d.strftime("%m-%d") for d in days]},
        yAxis={"type": "value", "name": _(N_("CNY per accelerator-hour")), "axisLabel": {"formatter": "¥{value}"}},
        series=[{"name": h.chip.name, "type": "line", "connectNulls": False, "showSymbol": False,
                 "data": [yuan(by_day[d].median) if d in by_day else None for d in days]}
                for h in shown for by_day in [dict(h.points)]])
