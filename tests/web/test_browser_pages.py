"""The storefront in a real browser: every public page renders without JavaScript errors, in both languages and at
phone width."""

from __future__ import annotations

import pytest

from web_support import assert_fits_the_phone, screenshot

pytestmark = pytest.mark.browser


def test_home_in_both_languages_and_on_a_phone(server, page, phone_page):
    page.goto(server.base_url + "/")
    assert page.locator("[data-testid=stats]").is_visible()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "接入数据中心" in page.inner_text("[data-testid=stats]")
    screenshot(page, "home-zh")
    page.click("[data-testid=lang-switch]")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Data centers connected" in page.inner_text("[data-testid=stats]")
    screenshot(page, "home-en")
    page.click("[data-testid=lang-switch]")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    phone_page.goto(server.base_url + "/catalog")
    assert phone_page.locator("[data-testid=product-row]").count() >= 10
    assert_fits_the_phone(phone_page, "the catalog")
    screenshot(phone_page, "catalog-phone-zh")
