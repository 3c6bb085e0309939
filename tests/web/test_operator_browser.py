"""The operator console in a real browser (Debian's Chromium through Playwright) against `suanli serve` with the
demo network: an operator approves a data center a seller just registered, and reads the dashboard, whose three
ECharts charts (transaction volume, utilization by data center, price index by chip) are drawn with data.
Screenshots go to docs/screenshots/operator-*.png."""

from __future__ import annotations

import uuid

import httpx
import pytest

from test_seller_browser import api_headers, chart_series_points
from web_support import DEMO_OPERATOR, DEMO_SELLER, PHONE, assert_fits_the_phone, laptop_screenshot, login, screenshot

pytestmark = pytest.mark.browser


def trade(base_url: str) -> None:
    """A new buyer, topped up by the operator, rents a reserved month of the cheapest reserved product."""
    email = f"dash-{uuid.uuid4().hex[:8]}@example.cn"
    r = httpx.post(f"{base_url}/api/v1/auth/register", timeout=30, json={
        "email": email, "password": "dashboard-buyer-1", "display_name": "看板买家",
        "organization_name": f"看板测试 {uuid.uuid4().hex[:6]}", "role": "buyer"})
    assert r.status_code == 201, r.text
    buyer = api_headers(base_url, email, "dashboard-buyer-1")
    org = httpx.get(f"{base_url}/api/v1/auth/me", headers=buyer, timeout=30).json()["organization"]["id"]
    operator = api_headers(base_url, DEMO_OPERATOR)
    r = httpx.post(f"{base_url}/api/v1/operator/topups", headers=operator, timeout=30, json={
        "organization_id": org, "amount_fen": 2_000_000, "reference": f"DASH-{uuid.uuid4().hex[:10]}"})
    assert r.status_code == 201, r.text
    products = httpx.get(f"{base_url}/api/v1/products", timeout=30,
                         params={"q": "kind=storage", "mode": "reserved", "sort": "price", "available_only": "true",
                                 "limit": 5}).json()  # units only: charged at once, no machine to deliver
    product = products["items"][0]
    r = httpx.post(f"{base_url}/api/v1/orders", headers=buyer, timeout=30,
                   json={"product_id": product["id"], "mode": "reserved", "units": 1, "term_months": 1})
    assert r.status_code == 201, r.text


def test_an_operator_approves_a_data_center_and_reads_the_dashboard(server, sized_page):
    page, phone = sized_page, sized_page.viewport_size == PHONE
    seller = api_headers(server.base_url, DEMO_SELLER)
    regions = httpx.get(f"{server.base_url}/api/v1/regions", timeout=30).json()
    name = f"巢湖智算中心 {uuid.uuid4().hex[:4]}"
    r = httpx.post(f"{server.base_url}/api/v1/datacenters", headers=seller, timeout=30, json={
        "name": name, "region_id": next((r["id"] for r in regions if r["city"] == "合肥"), regions[0]["id"]),
        "tier": 3, "pue": "1.20", "green_power_pct": 60})
    assert r.status_code == 201, r.text
    datacenter_id = r.json()["id"]
    trade(server.base_url)

    login(page, server.base_url, DEMO_OPERATOR)
    assert page.url.endswith("/operator")
    page.click("[data-testid=tab-datacenters]")
    page.wait_for_load_state("networkidle")
    row = page.locator(f"[data-testid=dc-row][data-name='{name}']")
    assert row.count() == 1 and "待审核" in row.inner_text()
    laptop_screenshot(page, "operator-datacenters-pending")
    row.locator("[data-testid=approve]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=notice]").is_visible()
    assert page.locator(f"[data-testid=dc-row][data-name='{name}']").count() == 0  # not pending any more
    assert httpx.get(f"{server.base_url}/api/v1/datacenters/{datacenter_id}", timeout=30).json()["status"] == \
        "approved"
    page.click("[data-testid=filter-approved]")
    page.wait_for_load_state("networkidle")
    assert page.locator(f"[data-testid=dc-row][data-name='{name}']").count() == 1

    page.goto(server.base_url + "/operator")
    volume = chart_series_points(page, "chart-volume")
    assert volume[0] == 30 and volume[2] == 30  # 30 days of net revenue and of orders placed
    today_orders = page.locator("[data-testid=chart-volume]").evaluate(
        "el => echarts.getInstanceByDom(el).getOption().series[2].data.slice(-1)[0]")
    assert today_orders >= 1
    assert chart_series_points(page, "chart-utilization")[0] >= 29  # every approved data center with stock
    rented = page.locator("[data-testid=chart-utilization]").evaluate(
        "el => Math.max(...echarts.getInstanceByDom(el).getOption().series[0].data)")
    assert rented > 0
    assert chart_series_points(page, "chart-price-index")[0] >= 10  # a box per chip listed
    laptop_screenshot(page, "operator-dashboard", full_page=True)
    if phone:
        assert_fits_the_phone(page, "the dashboard")
        screenshot(page, "operator-dashboard-phone")
    page.goto(server.base_url + "/operator?lang=en")
    assert chart_series_points(page, "chart-volume")[0] == 30
    assert "Platform dashboard" in page.inner_text("h1")
    laptop_screenshot(page, "operator-dashboard-en")

    page.goto(server.base_url + "/operator/ledger")
    assert "试算平衡" in page.inner_text("[data-testid=balanced]")
    laptop_screenshot(page, "operator-ledger")
    if phone:
        assert_fits_the_phone(page, "the trial balance")

    # every product on the platform, searched in the words of the catalog, 50 a page, the state in the address
    page.click("[data-testid=tab-products]")
    page.wait_for_load_state("networkidle")
    total = int("".join(c for c in page.inner_text("[data-testid=product-total]") if c.isdigit()))
    assert total > 50 and page.locator("[data-testid=product-line]").count() == 50
    page.fill("[data-testid=list-search]", "A800 8卡")
    page.select_option("[data-testid=status-filter]", "listed")
    page.click("[data-testid=filter]")
    page.wait_for_load_state("networkidle")
    assert "q=A800" in page.url and "status=listed" in page.url
    lines = page.locator("[data-testid=product-line]")
    assert 0 < lines.count() <= 50 and all("A800" in t for t in lines.all_inner_texts())
    laptop_screenshot(page, "operator-products")
    if phone:
        assert_fits_the_phone(page, "the products list")
