"""The seller console in a real browser (Debian's Chromium through Playwright) against `suanli serve` with the demo
network: a seller lists a product, first with a mistake shown next to its field, and the product then appears in
the public catalog; the utilization chart is drawn; the console works at phone width. Screenshots go to
docs/screenshots/seller-*.png."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from web_support import DEMO_PASSWORD, DEMO_SELLER, LAPTOP, assert_fits_the_phone, laptop_screenshot, login, screenshot

pytestmark = pytest.mark.browser

CHART_DATA = """el => {
  const chart = window.echarts && window.echarts.getInstanceByDom(el);
  if (!chart || !el.querySelector('canvas')) return null;
  return chart.getOption().series.map(s => s.data.filter(v => v !== null && v !== undefined).length);
}"""


def api_headers(base_url: str, email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    r = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": email, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def chart_series_points(page: Any, testid: str) -> list[int]:
    """How many data points each series of a drawn ECharts chart has (fails if it is not drawn on a canvas)."""
    locator = page.locator(f"[data-testid={testid}]")
    locator.wait_for()
    page.wait_for_function("el => el.querySelector('canvas') !== null", arg=locator.element_handle())
    points = locator.evaluate(CHART_DATA)
    assert points is not None, f"{testid} is not an ECharts chart drawn on a canvas"
    return points


def test_a_seller_lists_a_product_that_then_appears_in_the_catalog(server, sized_page, phone_page):
    page = sized_page  # the journey runs on a laptop and on a phone
    login(page, server.base_url, DEMO_SELLER)
    assert page.url.endswith("/seller")
    assert chart_series_points(page, "chart-utilization")[0] >= 1  # one bar per data center with stock
    laptop_screenshot(page, "seller-overview")

    name = f"8×A800 精选 {uuid.uuid4().hex[:4]}"
    page.locator("a[href='/seller/products/new']").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/seller/products/new")
    datacenter = page.locator("#f-datacenter_id option").nth(1)
    page.select_option("#f-datacenter_id", datacenter.get_attribute("value"))
    page.fill("#f-name", name)
    page.select_option("#f-chip", "a800")
    # the chip's price index shows beside the prices as soon as the chip is chosen (htmx), before any saving
    page.wait_for_function("() => /A800.*¥/.test(document.querySelector('[data-testid=price-reference]').textContent)")
    page.fill("#f-stock_units", "3")
    cheapest = httpx.get(f"{server.base_url}/api/v1/products", timeout=30, params={
        "q": "chip=a800", "sort": "price", "limit": 1}).json()["items"][0]["prices"]["on_demand_hour"]["fen"]
    price = f"{min(123, cheapest - 1) / 100:.2f}"  # the cheapest A800 server in the market (each run lists one)
    page.fill("#f-price_on_demand", price)
    page.fill("#f-price_spot_floor", "2")  # a mistake: above the on-demand price
    page.fill("#f-price_reserved_month", "880")
    page.click("[data-testid=save-product]")
    page.wait_for_load_state("networkidle")
    error = page.locator("[data-testid=error-price_spot_floor]")
    assert error.inner_text() == "竞价底价不能高于按需价格。"
    assert page.input_value("#f-name") == name  # what was typed is kept
    laptop_screenshot(page, "seller-product-form-error", full_page=True)

    page.fill("#f-price_spot_floor", "0.5")
    page.click("[data-testid=save-product]")
    page.wait_for_load_state("networkidle")
    # Far under the A800's price index: said next to the prices, saved only once the seller confirms them.
    assert page.locator("[data-testid=price-warning]").is_visible()
    assert "价格指数" in page.locator("[data-testid=error-price_on_demand]").inner_text()
    assert "¥" in page.locator("[data-testid=price-reference]").inner_text()
    laptop_screenshot(page, "seller-product-price-warning", full_page=True)
    page.check("[data-testid=confirm_unusual_price]")
    page.click("[data-testid=save-product]")
    page.wait_for_load_state("networkidle")
    assert "/seller/products/" in page.url and "notice=product_created" in page.url
    assert page.locator("[data-testid=notice]").inner_text() == "产品已保存。"
    product_id = page.url.split("?")[0].rsplit("/", 1)[1]
    laptop_screenshot(page, "seller-product-edit")

    # The public catalog, as a visitor sees it: the cheapest A800 server is this one.
    visitor = page.context.browser.new_context(viewport=LAPTOP, locale="zh-CN")
    try:
        shop = visitor.new_page()
        shop.goto(f"{server.base_url}/catalog?chip=a800&sort=price")
        first = shop.locator("[data-testid=product-row]").first
        assert first.get_attribute("data-product-id") == product_id
        assert name in first.inner_text() and f"¥{price}" in first.inner_text()
        if page.viewport_size == LAPTOP:
            screenshot(shop, "seller-product-in-catalog")
    finally:
        visitor.close()

    # Unlisted, it leaves the catalog; listed again, it is back.
    page.click("[data-testid=unlist]")
    page.wait_for_load_state("networkidle")
    assert httpx.get(f"{server.base_url}/api/v1/products/{product_id}", timeout=30).status_code == 404
    page.click("[data-testid=relist]")
    page.wait_for_load_state("networkidle")
    assert httpx.get(f"{server.base_url}/api/v1/products/{product_id}", timeout=30).json()["listed"] is True

    page.goto(f"{server.base_url}/seller/products?lang=en&sort=-updated")  # 50 a page: the last changed first
    assert name in page.inner_text("[data-testid=products]") and "In the catalog" in page.content()
    laptop_screenshot(page, "seller-products-en")

    login(phone_page, server.base_url, DEMO_SELLER)
    for path, shot in (("/seller/products", "seller-products-phone"), ("/seller/revenue", "seller-revenue-phone")):
        phone_page.goto(server.base_url + path)
        assert_fits_the_phone(phone_page, path)
        screenshot(phone_page, shot)
    assert chart_series_points(phone_page, "chart-revenue")[0] >= 1
