"""A buyer in a real browser (Debian's Chromium), against a real `suanli serve` with the demo network: search,
compare, order, see the lease, release it, see the statement (账单); and a job launched from the advisor. The screenshots
go to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from test_browser_storefront import settled
from web_support import DEMO_BUYER, PHONE, assert_fits_the_phone, laptop_screenshot, login, screenshot

pytestmark = pytest.mark.browser


def wait_for_text(page, selector: str, pattern: str, timeout: float = 60.0) -> str:
    """Reload until ``selector`` shows ``pattern`` (the server's scheduler and meter run on their own)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.inner_text(selector)
        if re.search(pattern, text):
            return text
        time.sleep(1)
        page.reload()
    raise AssertionError(f"{selector} still shows {text!r}, not /{pattern}/, after {timeout:.0f} s")


def fits_on_a_phone(page, what: str) -> None:
    """On the phone, the page as it is now scrolls only up and down."""
    if page.viewport_size == PHONE:
        assert_fits_the_phone(page, what)


def test_buyer_searches_compares_orders_releases_and_reads_the_statement(server, sized_page):
    page, base = sized_page, server.base_url
    login(page, base, DEMO_BUYER)
    assert page.url.endswith("/account")
    available_before = page.inner_text("[data-testid=available]")
    laptop_screenshot(page, "account-zh")
    fits_on_a_phone(page, "account")

    # search with the query language, then page on with htmx
    page.goto(base + "/catalog")
    page.fill("[data-testid=q]", "chip=A800 accelerators>=8")
    page.click("[data-testid=search]")
    page.wait_for_url(re.compile(r"[?&]q=chip"))  # the search re-renders the list in place (htmx)
    settled(page)
    rows = page.locator("[data-testid=product-row]")
    assert rows.count() == 20
    assert "A800" in rows.first.inner_text()
    total = int(re.sub(r"\D", "", page.inner_text("[data-testid=total]")))
    assert total > 20
    page.click("[data-testid=more]")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=product-row]').length > 20")
    assert rows.count() == min(40, total)
    page.evaluate("window.scrollTo(0, 0)")
    laptop_screenshot(page, "catalog-zh")
    fits_on_a_phone(page, "catalog")

    # compare the first three: each tick searches again (htmx) and the pick moves to the compare bar
    for n in range(3):
        page.locator("[data-testid=compare-box]").first.click()
        page.wait_for_function(f"() => document.querySelectorAll('[data-testid=pick]').length === {n + 1}")
    assert page.inner_text("[data-compare-count]") == "3"
    page.click("[data-testid=compare]")
    page.wait_for_url(re.compile(r"/compare\?"))
    page.wait_for_load_state("networkidle")
    table = page.locator("[data-testid=compare-table]")
    assert table.is_visible() and table.locator("tr").first.locator("td").count() == 3
    laptop_screenshot(page, "compare-zh")
    fits_on_a_phone(page, "compare")

    # the compare table links to the product pages
    table.locator("a.btn").first.click()
    page.wait_for_load_state("networkidle")
    assert "/products/" in page.url

    # order one unit on demand of batch capacity, which starts at once (renting a machine, delivered first and
    # billed from delivery, is tests/web/test_browser_machines.py)
    batch = httpx.get(f"{base}/api/v1/products", timeout=30,
                      params={"q": "chip=A800 delivery=batch", "available_only": "true", "limit": 1}).json()["items"]
    assert batch, "the demo lists A800 batch capacity"
    page.goto(f"{base}/products/{batch[0]['id']}")
    product_url = page.url.split("#")[0]
    product_name = page.inner_text("[data-testid=product-name]")
    free_before = int(re.search(r"空闲 (\d+)", page.inner_text("[data-testid=available]")).group(1))
    laptop_screenshot(page, "product-zh", full_page=True)
    fits_on_a_phone(page, "product")
    page.select_option("#f-mode", "on_demand")
    page.fill("#f-units", "1")
    page.click("[data-testid=place-order]")
    page.wait_for_load_state("networkidle")
    assert "/account/orders/" in page.url, page.inner_text("main")
    assert page.inner_text("[data-testid=notice]") == "下单成功。"
    assert page.inner_text("[data-testid=order-status]") == "运行中"
    laptop_screenshot(page, "order-zh")
    fits_on_a_phone(page, "order")

    # the lease is in the console; the wallet holds money for it
    page.goto(base + "/account")
    assert product_name in page.inner_text("[data-testid=orders]")
    assert page.inner_text("[data-testid=available]") != available_before

    # release it after a few seconds of use
    page.locator("[data-testid=orders] a").first.click()
    page.wait_for_load_state("networkidle")
    time.sleep(2)
    page.click("[data-testid=release]")
    page.wait_for_selector("[data-testid=confirm-step]")  # what it will cost, before it does
    page.click("[data-testid=confirm]")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("[data-testid=order-status]") == "已结束"
    charged = page.inner_text("[data-testid=charged]")
    assert charged not in ("¥0.00", "—")

    # the statement (账单) of this month has the line, and the CSV downloads under that name
    page.goto(base + "/account/statements")
    page.locator("[data-testid=statement-row] a").first.click()
    page.wait_for_load_state("networkidle")
    lines = page.inner_text("[data-testid=statement-lines]")
    assert product_name in lines
    laptop_screenshot(page, "invoice-zh")
    fits_on_a_phone(page, "invoice")
    with page.expect_download() as download:
        page.click("[data-testid=statement-csv]")
    assert download.value.suggested_filename.startswith("账单-")

    # the unit went back to the seller's pool
    page.goto(product_url)
    assert int(re.search(r"空闲 (\d+)", page.inner_text("[data-testid=available]")).group(1)) == free_before


def test_a_job_launched_from_the_advisor_runs_and_shows_its_placement_and_logs(server, sized_page):
    page, base = sized_page, server.base_url
    login(page, base, DEMO_BUYER)
    page.goto(base + "/advisor")
    page.click("[data-testid=advise]")  # the example: LoRA fine-tuning of a 7B model within a day
    page.wait_for_load_state("networkidle")
    recs = page.locator("[data-testid=recommendation]")
    assert recs.count() >= 3
    first = recs.first
    assert re.search(r"\d", first.locator("[data-testid=rec-hours]").inner_text())
    assert first.locator("[data-testid=rec-cost]").inner_text().startswith("¥")
    laptop_screenshot(page, "advisor-zh")
    fits_on_a_phone(page, "advisor")

    # launching asks first and offers the smoke test before the full job
    first.locator("[data-testid=rec-launch]").click()
    page.wait_for_selector("[data-testid=launch-confirm]")
    assert page.inner_text("[data-testid=confirm-hold]").startswith("¥")
    laptop_screenshot(page, "advisor-launch-confirm-zh")
    fits_on_a_phone(page, "advisor-launch-confirm")
    page.click("[data-testid=launch-smoke]")
    page.wait_for_load_state("networkidle")
    assert "/account/jobs/" in page.url
    assert "作业已提交" in page.inner_text("[data-testid=notice]")
    state = wait_for_text(page, "[data-testid=job-state]", "已完成|失败", timeout=90)
    assert state == "已完成", page.inner_text("main")
    assert page.inner_text("[data-testid=placement-reason]").strip()
    page.wait_for_selector("[data-testid=logs]")
    assert page.inner_text("[data-testid=logs]").strip() not in ("", "暂无输出。", "…")
    laptop_screenshot(page, "job-zh", full_page=True)
    fits_on_a_phone(page, "job")


def test_the_buyer_pages_work_in_english_and_on_a_phone(server, page, phone_page):
    base = server.base_url
    page.goto(base + "/lang/en?next=/catalog")
    assert "Compute marketplace" in page.inner_text("h1")
    screenshot(page, "catalog-en")
    page.goto(base + "/advisor")
    page.click("[data-testid=advise]")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=recommendation]").count() >= 3
    assert "Suggested billing" in page.inner_text("[data-testid=recommendation] >> nth=0")
    screenshot(page, "advisor-en")
    page.goto(base + "/price-index")
    page.wait_for_function("() => document.querySelectorAll('[data-testid^=chart-] canvas').length == 3")  # spread, per PFLOPS, 30 days of history
    screenshot(page, "price-index-en")
    page.goto(base + "/lang/zh-CN?next=/price-index")
    assert page.inner_text("h1") == "算力价格指数"

    login(phone_page, base, DEMO_BUYER)
    for path in ("/account", "/catalog", "/advisor", "/price-index", "/account/orders"):
        phone_page.goto(base + path)
        assert_fits_the_phone(phone_page, path)
    phone_page.goto(base + "/catalog")
    row = phone_page.locator("[data-testid=product-row]").first
    row.locator("a").first.click()
    phone_page.wait_for_load_state("networkidle")
    screenshot(phone_page, "product-phone-zh", full_page=True)
