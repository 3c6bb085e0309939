"""The storefront a new buyer expects, in a real browser (Debian's Chromium) against a real `suanli serve` with the
demo network: words in the search box, a query with its own sort, picks that survive new searches, the comparison's
buttons in their own columns. Each journey runs on a laptop (1366×900) and on a phone (390×844), where the filters
start folded away; the screenshots are the laptop's."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from web_support import laptop_screenshot

pytestmark = pytest.mark.browser


def settled(page) -> None:
    """Wait until htmx has no request in flight (a search re-renders the catalog in place)."""
    page.wait_for_timeout(200)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.wait_for_load_state("networkidle")


def open_filters(page) -> None:
    """On a phone the filters and the sort start folded: open them as a person would, by their summary."""
    if not page.locator("details.filter-box").evaluate("d => d.open"):
        page.click("details.filter-box > summary")


def chips(page) -> list[str]:
    return [re.sub(r"\s*×$", "", t.strip()) for t in page.locator("[data-testid=filter-chip]").all_inner_texts()]


def test_words_in_the_box_become_filters_the_buyer_can_remove(server, sized_page):
    page = sized_page
    base = server.base_url
    page.goto(base + "/")
    page.fill("input[name=q]", "昇腾 910B 8卡")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/catalog\?"))
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=error-q]").count() == 0
    assert chips(page) == ["芯片：Huawei Ascend 910B 64GB", "每份加速卡数：≥ 8"]
    rows = page.locator("[data-testid=product-row]")
    assert rows.count() > 0 and all("910B" in t for t in rows.all_inner_texts())
    laptop_screenshot(page, "catalog-words-zh")
    # removing a chip searches without those words
    page.locator("[data-testid=remove-filter]").nth(1).click()
    settled(page)
    assert chips(page) == ["芯片：Huawei Ascend 910B 64GB"]
    assert page.input_value("[data-testid=q]") == "昇腾 910B"

    page.goto(base + "/catalog")
    page.fill("[data-testid=q]", "A800")
    page.click("[data-testid=search]")
    settled(page)
    assert chips(page) == ["芯片：NVIDIA A800 SXM4 80GB"]
    assert parse_qs(urlparse(page.url).query)["q"] == ["A800"]  # the address keeps the state


def test_a_query_with_its_own_sort_works_in_the_browser_and_errors_say_where(server, sized_page):
    page = sized_page
    base = server.base_url
    page.goto(base + "/catalog")
    page.fill("[data-testid=q]", "chip=910B accelerators>=8 price<=100 sort=ppp")
    page.click("[data-testid=search]")
    page.wait_for_function("() => document.querySelector('#f-sort').value === 'price_per_pflops'")
    settled(page)
    assert page.locator("[data-testid=error-q]").count() == 0  # the sort moved to the list
    assert page.input_value("[data-testid=q]") == "chip=910B accelerators>=8 price<=100"
    prices = [int(re.sub(r"\D", "", t)) for t in
              page.locator("[data-testid=product-row] [data-testid=price-pflops]").all_inner_texts()]
    assert prices and prices == sorted(prices)
    # changing the list applies at once, without a second sort
    open_filters(page)
    page.select_option("#f-sort", "price")
    settled(page)
    page.wait_for_function("() => location.search.includes('sort=price&') || location.search.endsWith('sort=price')")
    assert page.locator("[data-testid=error-q]").count() == 0

    page.fill("[data-testid=q]", "A800 foo")
    page.click("[data-testid=search]")
    page.wait_for_selector("[data-testid=error-q]")
    assert "第 6 个字符处的“foo”" in page.inner_text("[data-testid=error-q]")


def test_picks_survive_a_new_search_and_compare_buttons_have_their_own_columns(server, sized_page):
    page = sized_page
    base = server.base_url
    page.goto(base + "/catalog?q=A800")
    for n in range(2):
        page.locator("[data-testid=compare-box]").first.click()
        page.wait_for_function(f"() => document.querySelectorAll('[data-testid=pick]').length === {n + 1}")
    # a new search through the filter form keeps them
    page.fill("[data-testid=q]", "昇腾 910B")
    page.click("[data-testid=search]")
    settled(page)
    assert page.locator("[data-testid=pick]").count() == 2
    page.locator("[data-testid=compare-box]").first.click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=pick]').length === 3")
    open_filters(page)
    page.select_option("#f-sort", "-pflops")  # any filter change searches again
    settled(page)
    assert page.locator("[data-testid=pick]").count() == 3
    page.click("[data-testid=compare]")
    page.wait_for_url(re.compile(r"/compare\?"))
    page.wait_for_load_state("networkidle")
    cells = page.locator("[data-testid=compare-actions]")
    assert cells.count() == 3
    xs = [cells.nth(i).bounding_box()["x"] for i in range(3)]
    assert xs == sorted(xs) and len({round(x) for x in xs}) == 3, xs  # one column each, not stacked in the first
    assert page.locator("[data-testid=differs]").count() >= 2  # A800 against 910B: chip, price... differ
    laptop_screenshot(page, "compare-differences-zh")
