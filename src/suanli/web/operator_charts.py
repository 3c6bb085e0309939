"""ECharts options for the seller and operator consoles, built on the server from the report functions.

A page puts an option in ``<div class="chart" data-chart='{{ option|tojson }}'>`` and ``static/js/suanli.js`` draws
it with the vendored ECharts. Axis names and series names are translated here; amounts are CNY for display only
(computed from integer fen, never added up again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from suanli.catalog.utilization import DatacenterUtilization
from suanli.core.price_stats import PriceSummary
from suanli.trading.reports import DayVolume, UtilizationHistory
from suanli.web.i18n import N_

PALETTE = ["#1d4ed8", "#f59e0b", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]


def yuan(fen: int) -> float:
    """Fen as CNY for a chart axis (display only)."""
    return float(Decimal(fen) / 100)


def percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio * 100, 1)


def base_option(**extra: Any) -> dict[str, Any]:
    option: dict[str, Any] = {"animation": False, "color": PALETTE, "textStyle": {"fontFamily": "inherit"},
                              "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
                              "tooltip": {"trigger": "axis"}}
    option.update(extra)
    return option


def volume_chart(days: Sequence[DayVolume], _: Callable[..., str], *, seller: bool = False) -> dict[str, Any]:
    """Stacked bars per day: the sellers' net and the platform's commission (together: what buyers were charged),
    and the orders placed on a second axis."""
    net_name = _(N_("Your net revenue")) if seller else _(N_("Sellers' net"))
    return base_option(
        legend={"top": 0},
        xAxis={"type": "category", "data": [d.day.strftime("%m-%d") for d in days]},
        yAxis=[{"type": "value", "axisLabel": {"formatter": "¥{value}"}},
               {"type": "value", "minInterval": 1, "splitLine": {"show": False}}],
        series=[{"name": net_name, "type": "bar", "stack": "gross", "data": [yuan(d.net_fen) for d in days]},
                {"name": _(N_("Commission")), "type": "bar", "stack": "gross",
                 "data": [yuan(d.commission_fen) for d in days]},
                {"name": _(N_("Orders placed")), "type": "line", "yAxisIndex": 1,
                 "data": [d.orders for d in days]}])


def utilization_chart(rows: Sequence[DatacenterUtilization], _: Callable[..., str]) -> dict[str, Any]:
    """Horizontal bars: the share of each data center's units rented out now, the busiest first."""
    rows = sorted((r for r in rows if r.stock_units), key=lambda r: (-(r.ratio or 0), r.name))
    return base_option(
        tooltip={"trigger": "axis", "axisPointer": {"type": "shadow"}, "valueFormatter": "{value}%"},
        xAxis={"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
        yAxis={"type": "category", "inverse": True, "data": [r.name for r in rows],
               "axisLabel": {"width": 120, "overflow": "truncate"}},
        series=[{"name": _(N_("Units rented out")), "type": "bar", "data": [percent(r.ratio) for r in rows],
                 "label": {"show": True, "position": "right", "formatter": "{c}%"}}])


def utilization_height(rows: Sequence[DatacenterUtilization]) -> int:
    """Pixels for :func:`utilization_chart`: room for every bar."""
    return 80 + 28 * max(1, sum(1 for r in rows if r.stock_units))


def utilization_history_chart(history: Sequence[UtilizationHistory], days: Sequence[Any],
                              _: Callable[..., str]) -> dict[str, Any]:
    """One line per data center: the share of its units occupied by orders on each day."""
    return base_option(
        legend={"top": 0, "type": "scroll"},
        tooltip={"trigger": "axis", "valueFormatter": "{value}%"},
        xAxis={"type": "category", "data": [d.strftime("%m-%d") for d in days]},
        yAxis={"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        series=[{"name": h.name, "type": "line", "smooth": True, "connectNulls": False,
                 "data": [percent(r) for r in h.ratios]} for h in history])


def price_index_chart(rows: Sequence[tuple[Any, PriceSummary]], _: Callable[..., str]) -> dict[str, Any]:
    """A box per chip: min, lower quartile, median, upper quartile and max of the listed prices per
    accelerator-hour."""
    return base_option(
        tooltip={"trigger": "item"},
        grid={"left": 48, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        xAxis={"type": "category", "data": [chip.name for chip, _s in rows],
               "axisLabel": {"rotate": 40, "interval": 0}},
        yAxis={"type": "value", "name": _(N_("CNY per accelerator-hour")), "axisLabel": {"formatter": "¥{value}"}},
        series=[{"name": _(N_("Price index")), "type": "boxplot",
                 "data": [[yuan(s.min), yuan(s.q1), yuan(s.median), yuan(s.q3), yuan(s.max)] for _c, s in rows]}])
