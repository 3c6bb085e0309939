"""Demand analytics and price transparency in a real browser (Debian's Chromium through Playwright) against
`suanli serve` with the demo network: the seller's demand charts are drawn and the planner answers; the operator
publishes a guidance price for a chip that had none and the catalog flags the listings outside it, then withdraws it; the price
index draws 30 days of history. Screenshots: seller-demand.png, operator-guidance.png, price-index-history.png."""

from __future__ import annotations

import httpx
import pytest

from test_seller_browser import chart_series_points
from web_support import DEMO_OPERATOR, DEMO_SELLER, assert_fits_the_phone, login, screenshot

pytestmark = pytest.mark.browser


def test_a_seller_reads_unmet_demand_and_replays_proposed_capacity(server, page, phone_page):
    login(page, server.base_url, DEMO_SELLER)
    page.click("[data-testid=tab-demand]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/seller/demand")
    assert chart_series_points(page, "chart-demand-days") == [30, 30, 30]  # jobs, searches, requests: a bar a day
    assert max(chart_series_points(page, "chart-demand-chips")) >= 1  # the demo's searches for scarce chips
    page.select_option("[data-testid=plan-chip]", "ascend-910b")
    page.select_option("[data-testid=plan-province]", "安徽")
    page.fill("[data-testid=plan-servers]", "2")
    page.fill("[data-testid=plan-price]", "9.50")
    page.click("[data-testid=plan-run]")
    page.wait_for_load_state("networkidle")
    assert "plan=1" in page.url
    assert page.locator("[data-testid=plan-outcome]").is_visible()
    assert page.locator("[data-testid=plan-revenue]").inner_text().startswith("¥")
    screenshot(page, "seller-demand", full_page=True)

    login(phone_page, server.base_url, DEMO_SELLER)
    phone_page.goto(f"{server.base_url}/seller/demand")
    chart_series_points(phone_page, "chart-demand-days")
    assert_fits_the_phone(phone_page, "the demand page")


def test_an_operator_publishes_a_guidance_price_and_the_catalog_flags_far_listings(server, page):
    page.goto(f"{server.base_url}/price-index")
    assert len(chart_series_points(page, "chart-price-history")) >= 3
    assert max(chart_series_points(page, "chart-price-history")) == 30  # a median a day over 30 days
    screenshot(page, "price-index-history", full_page=True)

    guided = {g["chip"] for g in httpx.get(f"{server.base_url}/api/v1/guidance-prices", timeout=30).json()}
    listed = [r["chip"] for r in httpx.get(f"{server.base_url}/api/v1/price-index", timeout=30).json()["rows"]]
    chip = next(c for c in listed if c not in guided)  # a listed chip the demo gave no guidance price
    login(page, server.base_url, DEMO_OPERATOR)
    page.click("[data-testid=tab-guidance]")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=guidance-row]").count() == len(guided) == 3  # the demo's
    page.select_option("[data-testid=guidance-chip]", chip)
    page.fill("[data-testid=guidance-price]", "0.05")
    page.fill("[data-testid=guidance-band]", "1")
    page.click("[data-testid=publish-guidance]")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=guidance-row]").count() == 4
    screenshot(page, "operator-guidance")
    try:
        page.goto(f"{server.base_url}/catalog?tab=all&chip={chip}")
        flags = page.locator("[data-testid=guidance-flag]")
        assert flags.count() >= 1  # every listing of the chip is far above ¥0.05 ± 1 %
        assert flags.first.get_attribute("title")
    finally:
        page.goto(f"{server.base_url}/operator/guidance")
        page.locator(f"form[action='/operator/guidance/{chip}/withdraw'] button").click()
        page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=guidance-row]").count() == 3
    page.goto(f"{server.base_url}/catalog?tab=all&chip={chip}")
    assert page.locator("[data-testid=guidance-flag]").count() == 0
