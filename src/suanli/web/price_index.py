"""The price index page: quartiles of listed on-demand prices per accelerator-hour per chip, beside the operator's
guidance price (指导价), as a table and as ECharts charts (the spread per chip; the median per FP16-PFLOPS-hour, by
software ecosystem; the median per day over the last 30 days, from the daily snapshots)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request

from suanli.catalog.price_history import guidance_by_chip, price_history
from suanli.catalog.price_index import price_index
from suanli.http import DbSession
from suanli.trading.endpoints import get_clock
from suanli.web.demand_charts import price_history_chart
from suanli.web.forms import translator
from suanli.web.presenters import labeler
from suanli.web.render import render, web_router

router = web_router()
HISTORY_DAYS = 30
ECOSYSTEM_COLORS = {"cuda": "#3b7d23", "cann": "#c0392b", "dtk": "#1f5fbf", "neuware": "#8e44ad", "xpu": "#d68910",
                    "musa": "#5d6d7e"}


def _yuan(fen: int | Decimal) -> float:
    """Chart coordinates in yuan (display only: the table shows the exact amounts)."""
    return float(Decimal(fen) / 100)


def charts(rows: list[Any], _: Any, label: Any) -> dict[str, Any]:
    names = [chip.name.replace("NVIDIA ", "") for chip, _p, _s in rows]
    spread = {
        "tooltip": {"trigger": "item"}, "grid": {"left": 60, "right": 16, "top": 30, "bottom": 110},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"rotate": 40, "fontSize": 11}},
        "yAxis": {"type": "value", "name": _("CNY per accelerator-hour")},
        "series": [{"type": "boxplot", "name": _("Price per accelerator-hour"), "itemStyle": {"color": "#eaf1fc",
                                                                                              "borderColor": "#1f5fbf"},
                    "data": [[_yuan(s.min), _yuan(s.q1), _yuan(s.median), _yuan(s.q3), _yuan(s.max)]
                             for _c, _p, s in rows]}],
    }
    ecosystems = sorted({chip.ecosystem for chip, _p, _s in rows})
    per_pflops = {
        "tooltip": {"trigger": "axis"}, "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 60, "right": 16, "top": 70, "bottom": 110},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"rotate": 40, "fontSize": 11}},
        "yAxis": {"type": "value", "name": _("CNY per FP16-PFLOPS-hour")},
        "series": [{"type": "bar", "stack": "eco", "name": label("ecosystem", eco),
                    "itemStyle": {"color": ECOSYSTEM_COLORS.get(eco, "#888")},
                    "data": [round(_yuan(s.median) / (chip.fp16_tflops / 1000), 2)
                             if chip.ecosystem == eco and chip.fp16_tflops else None for chip, _p, s in rows]}
                   for eco in ecosystems],
    }
    return {"spread": spread, "per_pflops": per_pflops}


@router.get("/price-index")
def price_index_page(request: Request, session: DbSession, by_province: bool = False):
    rows = price_index(session, by_province=by_province)
    overall = rows if not by_province else price_index(session)
    _ = translator(request)
    label = labeler(request)
    per_pflops = {chip.key: (Decimal(s.median) / Decimal(str(chip.fp16_tflops / 1000))).quantize(Decimal(1))
                  if chip.fp16_tflops else None for chip, _p, s in overall}
    history = price_history(session, get_clock(request).now(), HISTORY_DAYS)
    return render(request, "storefront/price_index.html", {
        "rows": rows, "by_province": by_province, "per_pflops": per_pflops, "label": label,
        "charts": charts(overall, _, label), "guidance": guidance_by_chip(session), "history_days": HISTORY_DAYS,
        "history_chart": price_history_chart(history, _) if history else None})
