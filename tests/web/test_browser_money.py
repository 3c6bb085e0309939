"""The buyer's ledger on a phone (390×844) in a real browser against a real `suanli serve`: every amount stays on one
line (no amount wraps mid-number) and the page does not scroll sideways. The screenshot goes to docs/screenshots/."""

from __future__ import annotations

import time

import httpx
import pytest

from web_support import DEMO_BUYER, DEMO_PASSWORD, login, screenshot

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}

# Each money amount in the ledger table, as a text range: the distinct line tops it is drawn on (1 = not wrapped).
AMOUNT_LINES = """() => {
  const table = document.querySelector('[data-testid=ledger]');
  const out = [];
  const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    for (const m of node.textContent.matchAll(/[-+]?¥[\\d,]+\\.\\d{2}/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      out.push([m[0], tops.size]);
    }
  }
  return out;
}"""


def test_the_ledger_on_a_phone_keeps_every_amount_on_one_line(server, browser):
    base = server.base_url
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": DEMO_BUYER, "password": DEMO_PASSWORD},
                       timeout=30).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    batch = httpx.get(f"{base}/api/v1/products", timeout=30,
                      params={"q": "delivery=batch", "available_only": "true", "limit": 1}).json()["items"]
    order = httpx.post(f"{base}/api/v1/orders", headers=headers, timeout=30,
                       json={"product_id": batch[0]["id"], "mode": "on_demand", "units": 1})
    assert order.status_code in (201, 202), order.text
    time.sleep(2)  # two seconds of use: a charge of a few fen
    released = httpx.post(f"{base}/api/v1/orders/{order.json()['id']}/release", headers=headers, timeout=30)
    assert released.status_code == 200, released.text

    context = browser.new_context(viewport=PHONE_390, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        login(page, base, DEMO_BUYER)
        page.goto(base + "/account")
        page.wait_for_selector("[data-testid=ledger] tr[data-kind]")
        kinds = page.eval_on_selector_all("[data-testid=ledger] tr[data-kind]", "rows => rows.map(r => r.dataset.kind)")
        # newest first: the demo buyer's top-up may sit on a later page after the session's other journeys' orders
        assert "hold" in kinds and {"charge", "release"} & set(kinds), kinds
        amounts = page.evaluate(AMOUNT_LINES)
        assert len(amounts) >= 6, amounts  # amounts and balances of at least three rows
        assert [a for a, lines in amounts if lines != 1] == [], amounts
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        page.locator("[data-testid=ledger]").scroll_into_view_if_needed()
        screenshot(page, "ledger-phone-zh")
    finally:
        context.close()
