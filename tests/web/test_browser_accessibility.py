"""An automated accessibility check of every page the app serves: axe-core (vendored in tests/web/vendor/axe-core,
no CDN) runs inside each page, as an anonymous visitor, a buyer, a seller and an operator, at a laptop's and a
phone's size, and no page may have a serious or critical violation.

The list of pages is checked against the routers: a new GET page route that this file does not visit fails
:func:`test_every_page_route_is_checked`, so a page cannot be added without being checked."""

from __future__ import annotations

import datetime as dt

import importlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from test_seller_browser import api_headers
from web_support import DEMO_BUYER, DEMO_OPERATOR, DEMO_SELLER, LAPTOP, PHONE, login

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING = ("serious", "critical")

# Every GET page route, by who can open it; "{...}" parts are filled with ids of the demo's own records (the
# role's own first: the seller edits one of its products).
PAGES: dict[str, tuple[str, ...]] = {
    "anonymous": ("/", "/catalog", "/compare", "/price-index", "/advisor", "/login", "/register",
                  "/products/{product_id}"),
    "buyer": ("/account", "/account/orders", "/account/orders/{order_id}",
              "/account/statements", "/account/statements/{period}", "/account/jobs", "/account/jobs/{job_id}",
              "/account/instances", "/account/keys", "/password", "/account/rfqs", "/account/rfqs/{rfq_id}",
              "/account/emergency-offers"),
    "seller": ("/seller", "/seller/datacenters", "/seller/datacenters/{datacenter_id}", "/seller/orders",
               "/seller/revenue", "/seller/products", "/seller/products/new", "/seller/products/{product_id}",
               "/seller/instances", "/seller/ledger", "/seller/payouts", "/seller/refunds", "/seller/rfqs",
               "/seller/rfqs/{rfq_id}", "/seller/demand"),
    "operator": ("/operator", "/operator/datacenters", "/operator/topups", "/operator/settings", "/operator/ledger",
                 "/operator/audit", "/operator/payouts", "/operator/jobs", "/operator/instances",
                 "/operator/orders", "/operator/refunds", "/operator/products", "/operator/guidance",
                 "/operator/emergencies", "/operator/emergencies/{emergency_id}"),
}
# Views that are not a route of their own but a state of a page: filled in, answered (after a click), or an error.
STATES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "anonymous": (("/catalog?q=昇腾 910B 8卡", None), ("/compare?ids={compare_ids}", None), ("/no-such-page", None),
                  ("/advisor", "[data-testid=advise]")),
    "buyer": (), "operator": (("/operator/products?flagged=yes&q=A800", None),),
    "seller": (("/seller/demand?plan=1&chip=ascend-910b&province=安徽&servers=2&price=9.5&days=14#planner", None),),
}
# GET routes that answer something other than a page, and why they are not checked here.
NOT_PAGES = {
    "/lang/{code}": "redirects back to the page it was opened from",
    "/catalog/rows": "htmx: the rows of /catalog (checked inside it)",
    "/products/{product_id}/quote": "htmx: the price preview of the product page (checked inside it)",
    "/account/jobs/{job_id}/logs": "htmx: the log lines of the job page (checked inside it)",
    "/account/statements/{period}/csv": "a CSV download",
    "/account/invoices": "the statements' old address: redirects (308) to /account/statements",
    "/account/invoices/{rest:path}": "the statements' old addresses: redirect (308) under /account/statements",
    "/account/orders/{order_id}/instances": "htmx: the machines of the order page (checked inside it)",
}
LOGINS = {"buyer": DEMO_BUYER, "seller": DEMO_SELLER, "operator": DEMO_OPERATOR}


def get_routes() -> set[str]:
    from suanli.web import page_modules

    routes: set[str] = set()
    for name in page_modules():
        router = getattr(importlib.import_module(f"suanli.web.{name}"), "router", None)
        if router is not None:
            routes |= {route.path for route in router.routes if "GET" in getattr(route, "methods", ())}
    return routes


def test_every_page_route_is_checked():
    checked = {path for paths in PAGES.values() for path in paths}
    routes = get_routes()
    assert routes - checked - set(NOT_PAGES) == set(), "GET page routes the accessibility check does not visit"
    assert checked | set(NOT_PAGES) <= routes, "the check lists routes that no longer exist"


def demo_ids(base_url: str) -> dict[str, str]:
    """Ids of records of the demo accounts: the buyer gets an order and a job if the demo gave none."""
    buyer, seller = api_headers(base_url, DEMO_BUYER), api_headers(base_url, DEMO_SELLER)
    api = httpx.Client(base_url=base_url + "/api/v1", timeout=30)
    products = api.get("/products", params={"q": "chip=A800 delivery=batch", "available_only": "true",
                                            "limit": 3}).json()["items"]
    orders = api.get("/orders", headers=buyer, params={"limit": 1}).json()["items"]
    if not orders:
        r = api.post("/orders", headers=buyer, json={"product_id": products[0]["id"], "mode": "on_demand",
                                                     "units": 1})
        assert r.status_code == 201, r.text
        orders = [r.json()]
    jobs = api.get("/jobs", headers=buyer, params={"limit": 1}).json()["items"]
    if not jobs:
        r = api.post("/jobs", headers=buyer, json={"name": f"a11y-{uuid.uuid4().hex[:6]}", "command": "echo hi",
                                                   "resources": {"accelerators": 1, "chip": "a800"},
                                                   "max_runtime_minutes": 5})
        assert r.status_code == 201, r.text
        jobs = [r.json()]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)  # a small request for quotes, open to sellers
    r = api.post("/rfqs", headers=buyer, json={
        "title": "a11y", "chip": "a800", "units": 1, "billing_mode": "on_demand", "term_hours": 1,
        "earliest_start": soon.isoformat(), "latest_start": (soon + dt.timedelta(days=5)).isoformat(),
        "max_unit_price_fen": 1000})
    assert r.status_code == 201, r.text
    rfq_id = r.json()["id"]
    operator = api_headers(base_url, DEMO_OPERATOR)  # a small emergency, paid by the demo buyer's organization
    payer = api.get("/auth/me", headers=buyer).json()["organization"]["id"]
    r = api.post("/operator/emergencies", headers=operator, json={
        "title": "a11y", "accelerators": 8, "chips": ["a800"], "duration_hours": 1,
        "compensation_fen_per_accel_hour": 100, "payer_org_id": payer})
    assert r.status_code == 201, r.text
    emergency_id = r.json()["id"]
    datacenter = api.get("/datacenters", headers=seller, params={"mine": "true"}).json()[0]
    seller_product = api.get(f"/datacenters/{datacenter['id']}/products", headers=seller).json()[0]
    return {"product_id": products[0]["id"], "compare_ids": ",".join(p["id"] for p in products),
            "order_id": orders[0]["id"], "job_id": jobs[0]["id"], "period": orders[0]["created_at"][:7],
            "datacenter_id": datacenter["id"], "seller.product_id": seller_product["id"], "rfq_id": rfq_id,
            "emergency_id": emergency_id}


@pytest.fixture(scope="module")
def ids(server) -> Iterator[dict[str, str]]:
    found = demo_ids(server.base_url)
    yield found
    # The emergency's orders hold A800 units and the demo buyer's money: give them back to the journeys after this
    with httpx.Client(base_url=server.base_url + "/api/v1", timeout=30) as api:
        r = api.post(f"/operator/emergencies/{found['emergency_id']}/end",
                     headers=api_headers(server.base_url, DEMO_OPERATOR))
        assert r.status_code == 200, r.text


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as shown."""
    # Runtime evaluation (not a <script> tag) puts axe in the page: the pages' CSP allows no inline script, and
    # evaluating through the DevTools protocol is not subject to it, so the pages are checked under their real
    # policy (no bypass_csp).
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE + "\n;0")
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' — ' +
                                                                           n.failureSummary.split('\\n')[1])}));
    }""")
    return [v for v in results if v["impact"] in BLOCKING]


@pytest.mark.browser
@pytest.mark.parametrize("role", list(PAGES))
def test_no_page_has_a_serious_accessibility_violation(server, browser, ids, role):
    """Each page is loaded once and checked at both sizes (resizing re-lays it out: the phone's layout is its own)."""
    context = browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(20_000)
    page = context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        if role in LOGINS:
            login(page, server.base_url, LOGINS[role])
        for path, click in [(path, None) for path in PAGES[role]] + list(STATES[role]):
            url = re.sub(r"\{(\w+)\}", lambda m: ids.get(f"{role}.{m.group(1)}") or ids[m.group(1)], path)
            response = page.goto(server.base_url + url)
            expected = 404 if path == "/no-such-page" else 200
            assert response.status == expected, f"{url} answered {response.status}"
            if click:
                page.click(click)
                url += f" after a click on {click}"
            page.wait_for_load_state("networkidle")
            for viewport in (LAPTOP, PHONE):
                page.set_viewport_size(viewport)
                if violations := axe_violations(page):
                    found[f"{url} at {viewport['width']}×{viewport['height']}"] = violations
            page.set_viewport_size(LAPTOP)
    finally:
        context.close()
    assert not found, "serious accessibility violations:\n" + "\n".join(
        f"{url}: [{v['impact']}] {v['id']} ({v['help']}): {'; '.join(v['nodes'])}"
        for url, violations in found.items() for v in violations)
