"""What the accessibility work of issue 13 put on every page, checked without a browser: the icon, the skip link,
charts with their figures as text, prices per unit and percentages written one way. (axe-core checks the pages in
a browser: test_browser_accessibility.py.)"""

from __future__ import annotations

import re

import pytest

from suanli.web.chart_tables import chart_table
from suanli.web.i18n import format_percent, format_rate
from test_pages import shop, text_of  # noqa: F401  (the shop fixture: a seller's three products, a buyer)
from web_support import WebClient


def test_the_icon_is_served_at_the_root_and_linked_from_every_page(web: WebClient):
    r = web.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file, not an error page
    for path in ("/", "/catalog", "/login", "/no-such-page"):
        assert '<link rel="icon" href="/favicon.ico"' in web.get(path).text, path


@pytest.mark.parametrize("path", ["/", "/catalog", "/price-index", "/login", "/no-such-page"])
def test_the_first_link_of_every_page_skips_to_its_main_content(web: WebClient, path):
    html = web.get(path).text
    body = html[html.index("<body"):]
    first_link = re.search(r"<a [^>]*>", body).group(0)
    assert 'href="#content"' in first_link and "跳到主要内容" in body[:body.index("</a>")]
    assert '<main id="content"' in html


def test_charts_come_with_their_figures_as_a_table(web: WebClient, shop):
    html = web.get("/price-index").text
    for testid in ("chart-spread", "chart-pflops"):
        assert f'data-testid="{testid}" data-chart=' in html and f'data-testid="{testid}-table"' in html
        assert 'role="img"' in html
    table = html[html.index('data-testid="chart-spread-table"'):]
    table = text_of(table[:table.index("</details>")])
    # A800: two offers at 7.50 and 15.00 per accelerator-hour: lowest, quartiles, median, highest as drawn
    assert re.search(r"A800 SXM4 80GB 7\.5 9\.38 11\.25 13\.13 15 ", table), table
    assert "中位数" in table and "以表格查看图表数据" in table


def test_a_price_per_unit_and_a_percentage_are_written_one_way():
    assert format_rate(1699, "小时") == "¥16.99/小时"
    assert format_rate({"fen": 800000, "cny": "8000.00"}, "month") == "¥8,000.00/month"
    assert format_rate(None, "小时") == "—/小时"
    assert [format_percent(v) for v in (5, 5.0, 12.5, 0.35, 100, 2.999)] == ["5%", "5%", "12.5%", "0.35%", "100%",
                                                                           "3%"]
    assert format_percent(43.25, 1) == "43.2%" and format_percent(None) == "—" and format_percent(-0.001) == "0%"


def test_the_product_page_writes_its_price_per_hour_compactly_for_the_phone_buy_bar(web: WebClient, shop):
    html = web.get(f"/products/{shop['cheap']['id']}").text
    bar = html[html.index('data-testid="buy-bar"'):]
    assert "¥60.00/小时" in text_of(bar[:bar.index("</div>")]) and 'href="#order"' in bar
    assert 'id="order"' in html


def test_a_chart_table_reads_the_option_the_chart_is_drawn_from():
    option = {"xAxis": {"type": "category", "data": ["12-01", "12-02"]},
              "yAxis": [{"type": "value", "axisLabel": {"formatter": "¥{value}"}}, {"type": "value"}],
              "series": [{"name": "net", "type": "bar", "data": [1234.5, 0.0]},
                         {"name": "orders", "type": "line", "yAxisIndex": 1, "data": [3, None]}]}
    assert chart_table(option, str) == {"head": ["", "net", "orders"],
                                        "rows": [["12-01", "¥1,234.5", "3"], ["12-02", "¥0", "—"]]}
    horizontal = {"xAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}},
                  "yAxis": {"type": "category", "data": ["芜湖"]},
                  "series": [{"name": "rented", "type": "bar", "data": [62.5]}]}
    assert chart_table(horizontal, str)["rows"] == [["芜湖", "62.5%"]]
    boxes = {"xAxis": {"type": "category", "name": "chip", "data": ["A800", "910B"]}, "yAxis": {"type": "value"},
             "series": [{"name": "p", "type": "boxplot", "data": [[1.0, 2.0, 3.0, 4.0, 5.0]]}]}
    table = chart_table(boxes, lambda m: m.upper())
    assert table["head"] == ["chip", "p · LOWEST", "p · LOWER QUARTILE", "p · MEDIAN", "p · UPPER QUARTILE",
                             "p · HIGHEST"]
    assert table["rows"] == [["A800", "1", "2", "3", "4", "5"], ["910B", "—", "—", "—", "—", "—"]]
