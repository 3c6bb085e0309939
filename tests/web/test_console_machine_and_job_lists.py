"""The buyer's machines and the operator's machines and jobs scale like every console list (TestClient, SQLite and
PostgreSQL): 50 rows a page with the state in the address, search, a state filter and sorts on the server, and a
buyer never sees another organization's rows."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from support import PASSWORD


def machine_rows(html: str) -> list[str]:
    return re.findall(r'data-testid="instance-row" data-instance-id="([^"]+)"', html)


def job_rows(html: str) -> list[str]:
    return re.findall(r'data-testid="job-row" data-job-id="([^"]+)"', html)


def next_page(html: str, path: str) -> str:
    found = re.search(rf'href="({re.escape(path)}\?[^"]*offset=50[^"]*)"', html)
    assert found, "no link to the next 50"
    return found.group(1).replace("&amp;", "&")


def funded_buyer(make: Any, operator: dict[str, Any], org: str, tmp_path: Path) -> dict[str, Any]:
    buyer = make.user("buyer", org=org)
    me = make.client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    r = make.client.post("/api/v1/operator/topups", headers=operator["headers"],
                         json={"organization_id": me, "amount_fen": 900_000_000, "reference": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    key = tmp_path / f"id-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    r = make.client.post("/api/v1/ssh-keys", headers=buyer["headers"],
                         json={"public_key": Path(f"{key}.pub").read_text().strip()})
    assert r.status_code == 201, r.text
    return buyer


def rent(make: Any, buyer: dict[str, Any], product: dict[str, Any], units: int) -> dict[str, Any]:
    r = make.client.post("/api/v1/orders", headers=buyer["headers"], json={
        "product_id": product["id"], "mode": "on_demand", "units": units, "image": "cuda-pytorch"})
    assert r.status_code == 201, r.text
    order = r.json()
    order["machines"] = [i["id"] for i in make.client.get(f"/api/v1/orders/{order['id']}/instances",
                                                           headers=buyer["headers"]).json()]
    assert len(order["machines"]) == units
    return order


def machine_market(make: Any, tmp_path: Path) -> dict[str, Any]:
    """Buyer 甲 rents 52 A800 machines in one order and one H100 in another; buyer 乙 rents two H100s."""
    seller, operator = make.user("seller", org="芜湖算力"), make.user("operator")
    dc = make.datacenter(seller, name="芜湖二号数据中心")
    a800 = make.product(seller, dc, name="A800 容器", delivery="container", stock_units=100)
    h100 = make.product(seller, dc, name="H100 容器", chip="h100", delivery="container", stock_units=100)
    first = funded_buyer(make, operator, "甲大学实验室", tmp_path)
    second = funded_buyer(make, operator, "乙科技公司", tmp_path)
    return {"seller": seller, "operator": operator, "first": first, "second": second,
            "big": rent(make, first, a800, 52), "h100": rent(make, first, h100, 1),
            "theirs": rent(make, second, h100, 2)}


def test_a_buyer_s_machines_are_paged_searched_filtered_and_sorted(web, make, tmp_path):
    market = machine_market(make, tmp_path)
    big, h100, theirs = market["big"], market["h100"], market["theirs"]
    web.login(market["first"]["email"], PASSWORD)
    page = web.get("/account/instances?sort=created")
    assert page.status_code == 200 and 'data-testid="tab-instances"' in page.text
    assert "共 53 台机器" in page.text
    assert machine_rows(page.text) == big["machines"][:50]  # oldest first, then by unit
    following = next_page(page.text, "/account/instances")
    assert parse_qs(urlparse(following).query) == {"sort": ["created"], "offset": ["50"]}  # the state in the address
    assert machine_rows(web.get(following).text) == big["machines"][50:] + h100["machines"]
    assert machine_rows(web.get("/account/instances").text)[0] == h100["machines"][0]  # newest first by default

    assert machine_rows(web.get("/account/instances?q=H100").text) == h100["machines"]  # never 乙's two
    assert machine_rows(web.get(f"/account/instances?q={big['id']}").text) == big["machines"][:50]
    assert machine_rows(web.get(f"/account/instances?q={theirs['machines'][0]}").text) == []
    assert set(big["machines"]) | set(h100["machines"]) >= set(
        machine_rows(web.get("/account/instances?q=cuda").text))

    r = make.client.post(f"/api/v1/instances/{h100['machines'][0]}/deliver", headers=market["seller"]["headers"],
                         json={"ssh_host": "10.0.0.8", "ssh_user": "root"})
    assert r.status_code == 200, r.text
    assert machine_rows(web.get("/account/instances?state=running").text) == h100["machines"]
    provisioning = web.get("/account/instances?state=provisioning").text
    assert "共 52 台机器" in provisioning and h100["machines"][0] not in machine_rows(provisioning)
    assert f'href="/account/orders/{h100["id"]}#instances"' in web.get("/account/instances?state=running").text
    assert web.get("/account/instances?sort=cheapest").status_code == 422  # a sort the list lacks: said, not a 500

    web.login(market["second"]["email"], PASSWORD)
    assert sorted(machine_rows(web.get("/account/instances").text)) == sorted(theirs["machines"])
    assert web.get("/operator/instances").status_code == 403
    english = web.get("/account/instances?lang=en").text
    assert "2 machines" in english and "Every machine your leases deliver." in english


def test_the_operator_sees_every_organization_s_machines(web, make, tmp_path):
    market = machine_market(make, tmp_path)
    web.login(market["operator"]["email"], PASSWORD)
    page = web.get("/operator/instances")
    assert page.status_code == 200 and 'data-testid="tab-instances"' in page.text
    assert "共 55 台机器" in page.text and len(machine_rows(page.text)) == 50
    assert "甲大学实验室" in page.text and "芜湖算力" in page.text
    assert len(machine_rows(web.get(next_page(page.text, "/operator/instances")).text)) == 5
    assert sorted(machine_rows(web.get("/operator/instances?q=乙科技").text)) == sorted(market["theirs"]["machines"])
    assert len(machine_rows(web.get("/operator/instances?q=H100").text)) == 3  # both buyers' H100s
    one = market["big"]["machines"][7]
    assert machine_rows(web.get(f"/operator/instances?q={one}").text) == [one]
    assert "共 0 台机器" in web.get("/operator/instances?state=running").text
    assert web.get("/operator/instances?sort=sideways").status_code == 422
    english = web.get("/operator/instances?q=H100&lang=en").text
    assert "3 machines" in english and "Words of the product's, image's or organization's name" in english


def test_the_operator_s_jobs_list_searches_every_organization(web, make, client):
    operator = make.user("operator")
    first, second = make.user("buyer", org="甲大学实验室"), make.user("buyer", org="乙科技公司")
    submitted: dict[str, list[str]] = {"first": [], "second": []}
    for who, buyer, names in (("first", first, [f"训练 resnet {n:02d}" for n in range(51)]),
                              ("second", second, ["llama 推理", "bert 微调"])):
        for name in names:
            r = client.post("/api/v1/jobs", headers=buyer["headers"], json={
                "name": name, "command": "echo hi", "resources": {"accelerators": 8, "chip": "a800"},
                "max_runtime_minutes": 30})
            assert r.status_code == 201, r.text
            submitted[who].append(r.json()["id"])
    web.login(operator["email"], PASSWORD)
    page = web.get("/operator/jobs?sort=submitted")
    assert page.status_code == 200 and 'data-testid="tab-jobs"' in page.text
    assert "共 53 个作业" in page.text
    assert job_rows(page.text) == submitted["first"][:50]
    following = next_page(page.text, "/operator/jobs")
    assert parse_qs(urlparse(following).query) == {"sort": ["submitted"], "offset": ["50"]}
    assert job_rows(web.get(following).text) == submitted["first"][50:] + submitted["second"]

    assert job_rows(web.get("/operator/jobs?q=llama").text) == [submitted["second"][0]]
    assert sorted(job_rows(web.get("/operator/jobs?q=乙科技").text)) == sorted(submitted["second"])
    assert job_rows(web.get(f"/operator/jobs?q={submitted['first'][3]}").text) == [submitted["first"][3]]
    assert job_rows(web.get("/operator/jobs?q=resnet+07").text) == [submitted["first"][7]]
    by_name = job_rows(web.get("/operator/jobs?q=乙科技&sort=name").text)
    assert by_name == [submitted["second"][1], submitted["second"][0]]  # bert before llama

    r = client.post(f"/api/v1/jobs/{submitted['second'][1]}/cancel", headers=second["headers"])
    assert r.status_code == 200, r.text
    assert job_rows(web.get("/operator/jobs?state=cancelled").text) == [submitted["second"][1]]
    assert web.get("/operator/jobs?sort=sideways").status_code == 422
    assert "53 jobs" in web.get("/operator/jobs?lang=en").text

    web.login(first["email"], PASSWORD)
    assert web.get("/operator/jobs").status_code == 403
    assert "llama 推理" not in web.get("/account/jobs?q=llama").text  # a buyer's search stays in its organization
