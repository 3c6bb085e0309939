"""Charts as text: the figures of an ECharts option as a table, for the readers a canvas leaves out (screen readers,
text browsers, copying a number).

Every chart on the pages is drawn from an option built on the server (``operator_charts.py``, ``price_index.py``);
:func:`chart_table` reads the same option, so the table can never say something the chart does not. The
``chart`` macro of ``macros.html`` shows it under the chart in a ``<details>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from suanli.web.i18n import N_

BOX_COLUMNS = (N_("Lowest"), N_("Lower quartile"), N_("Median"), N_("Upper quartile"), N_("Highest"))


def _axes(option: dict[str, Any], key: str) -> list[dict[str, Any]]:
    axes = option.get(key) or {}
    return axes if isinstance(axes, list) else [axes]


def _formatted(value: Any, formatter: str | None) -> str:
    """A value as its axis labels write it (``¥{value}``, ``{value}%``); ``—`` for none."""
    if value is None:
        return "—"
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    return formatter.replace("{value}", text) if formatter else text


def chart_table(option: dict[str, Any], _: Callable[[str], str]) -> dict[str, list[Any]]:
    """``{"head": [...], "rows": [[category, value, ...], ...]}``: one row per category of the category axis,
    one column per series (a boxplot series gives five: lowest, quartiles, median, highest)."""
    horizontal = any(axis.get("type") == "category" for axis in _axes(option, "yAxis"))
    category_axis = _axes(option, "yAxis" if horizontal else "xAxis")[0]
    value_axes = _axes(option, "xAxis" if horizontal else "yAxis")
    categories = category_axis.get("data") or []
    head: list[str] = [category_axis.get("name") or ""]
    columns: list[list[str]] = []
    for series in option.get("series", []):
        axis = value_axes[min(series.get("yAxisIndex", 0), len(value_axes) - 1)] if value_axes else {}
        formatter = (axis.get("axisLabel") or {}).get("formatter")
        data = series.get("data") or []
        if series.get("type") == "boxplot":
            head += [f"{series.get('name', '')} · {_(column)}" for column in BOX_COLUMNS]
            columns += [[_formatted(box[i] if box else None, formatter) for box in data] for i in range(5)]
        else:
            head.append(series.get("name", ""))
            columns.append([_formatted(value, formatter) for value in data])
    rows = [[category, *(column[i] if i < len(column) else "—" for column in columns)]
            for i, category in enumerate(categories)]
    return {"head": head, "rows": rows}
