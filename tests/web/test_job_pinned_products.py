"""The buyer's job page shows the products a job is pinned to (``constraints.products``, e.g. a job launched from
the advisor), by name with a link, in Chinese and in English; a job pinned to nothing shows no such line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from support import PASSWORD
from web_support import WebClient


def pinned_line(html: str) -> str | None:
    match = re.search(r'<dt>([^<]*)</dt><dd data-testid="pinned-products">(.*?)</dd>', html, re.S)
    return None if match is None else match.group(1) + ": " + re.sub(r"<[^>]+>", "", match.group(2))


def test_the_job_page_names_the_pinned_products(web: WebClient, make: Any, tmp_path: Path) -> None:
    seller, buyer = make.user("seller"), make.user("buyer")
    dc = make.datacenter(seller)
    first = make.product(seller, dc, name="A800 ×8 高配型")
    second = make.product(seller, dc, name="A800 ×8 经济型")
    operator = make.user("operator")  # local clusters run on the platform's machine: operators register them
    r = make.client.post(f"/api/v1/datacenters/{dc['id']}/clusters", headers=operator["headers"],
                         json={"name": "main", "kind": "local", "endpoint": str(tmp_path / "jobs"),
                               "product_ids": [first["id"], second["id"]]})
    assert r.status_code == 201, r.text
    ids = {}
    for key, products in (("pinned", [first["id"], second["id"]]), ("free", [])):
        r = make.client.post("/api/v1/jobs", headers=buyer["headers"], json={
            "name": f"job-{key}", "command": "echo hi", "resources": {"accelerators": 1, "chip": "a800"},
            "constraints": {"products": products}, "max_runtime_minutes": 30})
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]

    web.login(buyer["email"], PASSWORD)
    html = web.get(f"/account/jobs/{ids['pinned']}").text
    line = pinned_line(html)
    assert line is not None and line.startswith("仅限产品: ")
    assert "A800 ×8 高配型" in line and "A800 ×8 经济型" in line
    assert f'href="/products/{first["id"]}"' in html and f'href="/products/{second["id"]}"' in html
    english = pinned_line(web.get(f"/account/jobs/{ids['pinned']}?lang=en").text)
    assert english is not None and english.startswith("Only on products: ")
    assert pinned_line(web.get(f"/account/jobs/{ids['free']}").text) is None
