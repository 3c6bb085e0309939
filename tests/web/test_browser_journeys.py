"""Journeys of issue 13 in a real browser, each on a laptop (1366×900) and on a phone (390×844): an order from the
advisor keeps the bid the advisor quoted, the price preview follows the form, and on a phone the header keeps every
link in view and a buy bar leads from the top of the product page to its order form."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from web_support import DEMO_BUYER, LAPTOP, laptop_screenshot, login, screenshot

pytestmark = pytest.mark.browser
# A long fine-tuning with a lax deadline: the advisor suggests spot capacity at its floor price for some options.
ADVICE = ("/advisor?kind=llm_finetune&params_b=7&tokens=100000000&method=lora&deadline_hours=200"
          "&ecosystems=cuda&ecosystems=cann")


# An element whose text takes one line: not taller than one line of its own text.
ONE_LINE = "e => e.getBoundingClientRect().height < 1.5 * parseFloat(getComputedStyle(e).lineHeight)"


def cny(text: str) -> Decimal:
    return Decimal(re.search(r"¥([\d,]+\.\d\d)", text).group(1).replace(",", ""))


def test_an_order_from_the_advisor_keeps_the_quoted_bid_and_the_preview_follows_the_form(server, sized_page):
    page, base = sized_page, server.base_url
    login(page, base, DEMO_BUYER)
    page.goto(base + ADVICE)
    spot = page.locator("[data-testid=recommendation]").filter(
        has=page.locator("[data-testid=rec-order][href*='mode=spot']")).first
    assert spot.count() == 1, "the advisor quoted no spot option for a lax deadline"
    href = spot.locator("[data-testid=rec-order]").get_attribute("href")
    bid = Decimal(re.search(r"bid_cny=([\d.]+)", href).group(1))
    units = int(re.search(r"units=(\d+)", href).group(1))
    assert cny(spot.locator("[data-testid=rec-quote]").inner_text()) == bid  # the card says the bid it orders with

    spot.locator("[data-testid=rec-order]").click()
    page.wait_for_load_state("networkidle")
    assert page.input_value("#f-mode") == "spot" and Decimal(page.input_value("#f-bid_cny")) == bid
    assert page.input_value("#f-units") == str(units)
    assert cny(page.inner_text("[data-testid=quote-unit-price]")) == bid
    assert cny(page.inner_text("[data-testid=quote-per-hour]")) == bid * units
    # the preview follows the form: more hours, a larger total, priced by the server as the order would be
    page.fill("#f-quote_hours", "10")
    page.wait_for_function(f"() => document.querySelector('[data-testid=quote-total]').textContent"
                           f".replace(/,/g, '').includes('{bid * units * 10:.2f}')")
    laptop_screenshot(page, "advisor-order-bid-zh")

    page.click("[data-testid=place-order]")
    page.wait_for_load_state("networkidle")
    assert "/account/orders/" in page.url, page.inner_text("main")
    assert page.inner_text("[data-testid=notice]") == "下单成功。"
    assert f"¥{bid:,.2f}/小时" in page.inner_text("main")  # the order's unit price is the bid, written one way
    page.click("[data-testid=release]")  # give the units back for the other journeys
    page.wait_for_selector("[data-testid=confirm-step]")
    page.click("[data-testid=confirm]")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("[data-testid=order-status]") == "已结束"


def test_on_a_phone_the_header_keeps_its_links_and_a_buy_bar_leads_to_the_order_form(server, sized_page):
    page, base = sized_page, server.base_url
    width = page.viewport_size["width"]
    page.goto(base + "/")  # the platform's figures: each on one line, none cut or overflowing its box
    for figure in page.locator(".stat b").all():
        assert figure.evaluate(ONE_LINE) and figure.evaluate("b => b.scrollWidth <= b.clientWidth"), figure.inner_text()
    login(page, base, DEMO_BUYER)
    page.goto(base + "/catalog")
    for price in page.locator("[data-testid=product-row] .price").all():  # "¥16.99/小时" never split
        assert price.evaluate(ONE_LINE), price.inner_text()
    for link in page.locator("header.top a, header.top button").all():  # none cut off or scrolled out of view
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (link.inner_text(), box, width)
    page.locator("[data-testid=product-row] a").first.click()
    page.wait_for_load_state("networkidle")
    bar = page.locator("[data-testid=buy-bar]")
    if page.viewport_size == LAPTOP:
        assert not bar.is_visible()  # the order form is beside the prices
        return
    assert page.locator("#order").bounding_box()["y"] > page.viewport_size["height"]  # far below the first screen
    box = bar.bounding_box()
    assert bar.is_visible() and box["y"] + box["height"] == pytest.approx(page.viewport_size["height"], abs=1)
    assert re.fullmatch(r"¥[\d,]+\.\d\d/小时", bar.locator(".money").inner_text())
    screenshot(page, "product-buy-bar-phone-zh")
    page.click("[data-testid=buy-bar-order]")
    page.wait_for_function("() => { const r = document.querySelector('#order').getBoundingClientRect();"
                           " return r.top >= 0 && r.top < innerHeight / 2; }")
