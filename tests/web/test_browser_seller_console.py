"""The seller console at the demo's scale in a real browser (1366×900 and 390×844): the product list pages by 50
with its search and filters in the address, and bulk changes — prices far from the index confirmed as for one
product, listing and unlisting many at once."""

from __future__ import annotations

import re

import httpx
import pytest

from web_support import DEMO_SELLER, login, screenshot

pytestmark = pytest.mark.browser


def lines(page) -> list[str]:
    return [row.get_attribute("data-product-id") for row in page.locator("[data-testid=product-line]").all()]


def total(page) -> int:
    return int(re.sub(r"\D", "", page.inner_text("[data-testid=product-total]")))


def test_the_product_list_pages_filters_and_changes_many_products_at_once(server, page, phone_page):
    base = server.base_url
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, base, DEMO_SELLER)
    page.goto(base + "/seller/products")
    everything = total(page)
    assert everything > 50, "the demo seller should have more products than one page"
    assert len(lines(page)) == 50
    first_page = lines(page)
    page.click("text=下一页")
    page.wait_for_load_state("networkidle")
    assert "offset=50" in page.url and not set(lines(page)) & set(first_page)

    # search and sort on the server; the address keeps them
    page.goto(base + "/seller/products")
    page.fill("[data-testid=list-search]", "A800")
    page.select_option("[data-testid=list-sort]", "price")
    page.click("[data-testid=filter]")
    page.wait_for_load_state("networkidle")
    assert "q=A800" in page.url and "sort=price" in page.url
    found = total(page)
    assert 0 < found < everything
    names = page.locator("[data-testid=product-line] td:nth-child(2) a").all_inner_texts()
    assert names and all("A800" in n for n in names), names
    screenshot(page, "seller-products-search")

    # bulk: prices far under the index need the same confirmation as one product's
    picked = lines(page)[:2]
    for product_id in picked:
        page.check(f"[data-testid=product-line][data-product-id='{product_id}'] [data-testid=pick]")
    before = [httpx.get(f"{base}/api/v1/products/{i}", timeout=30).json()["prices"]["on_demand_hour"]["fen"]
              for i in picked]
    page.fill("[data-testid=price_change_pct]", "-90")
    page.click("[data-testid=bulk-price]")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=price-warning]").is_visible()
    assert "价格指数" in page.inner_text("[data-testid=price-warning]")
    assert [httpx.get(f"{base}/api/v1/products/{i}", timeout=30).json()["prices"]["on_demand_hour"]["fen"]
            for i in picked] == before  # nothing changed yet
    screenshot(page, "seller-products-bulk-warning")
    page.check("[data-testid=confirm_unusual_price]")
    page.click("[data-testid=bulk-price]")
    page.wait_for_load_state("networkidle")
    assert "notice=products_repriced" in page.url and "q=A800" in page.url  # back to the same list
    after = [httpx.get(f"{base}/api/v1/products/{i}", timeout=30).json()["prices"]["on_demand_hour"]["fen"]
             for i in picked]
    assert after == [round(fen / 10) for fen in before]

    # bulk unlist and list again
    for product_id in picked:
        page.check(f"[data-testid=product-line][data-product-id='{product_id}'] [data-testid=pick]")
    page.click("[data-testid=bulk-unlist]")
    page.wait_for_load_state("networkidle")
    assert "notice=products_unlisted" in page.url
    assert all(httpx.get(f"{base}/api/v1/products/{i}", timeout=30).status_code == 404 for i in picked)
    page.goto(base + "/seller/products?status=unlisted&q=A800")
    assert set(picked) <= set(lines(page))
    page.check("[data-testid=pick-all]")  # every box of the page at once
    assert page.locator("[data-testid=pick]:checked").count() == len(lines(page))
    page.click("[data-testid=bulk-list]")
    page.wait_for_load_state("networkidle")
    assert all(httpx.get(f"{base}/api/v1/products/{i}", timeout=30).json()["listed"] for i in picked)

    # a phone: the list and its forms fit the screen
    phone_page.set_viewport_size({"width": 390, "height": 844})
    login(phone_page, base, DEMO_SELLER)
    phone_page.goto(base + "/seller/products?q=A800")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the product list is {width}px wide on a 390px phone"
    screenshot(phone_page, "seller-products-390")
