"""Machines on the pages (TestClient, both databases): the buyer's SSH keys, ordering a machine product with an image
and ports, the order's machines, a seller delivering by hand, and the operator's delivery deadline."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from support import PASSWORD
from web_support import WebClient


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _public_key(tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / f"id-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab@pku", "-f", str(path)], check=True)
    public = Path(f"{path}.pub").read_text().strip()
    fingerprint = subprocess.run(["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True,
                                 text=True).stdout.split()[1]
    return public, fingerprint


def _shop(make: Any) -> dict[str, Any]:
    seller = make.user("seller")
    dc = make.datacenter(seller, name="芜湖二号数据中心")
    product = make.product(seller, dc, name="A800 ×8 容器实例", delivery="container")
    buyer, operator = make.user("buyer"), make.user("operator")
    org = make.client.get("/api/v1/auth/me", headers=buyer["headers"]).json()["organization"]["id"]
    r = make.client.post("/api/v1/operator/topups", headers=operator["headers"],
                         json={"organization_id": org, "amount_fen": 1_000_000, "reference": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return {"seller": seller, "dc": dc, "product": product, "buyer": buyer, "operator": operator}


def test_a_buyer_adds_and_deletes_ssh_keys_on_the_keys_page(web: WebClient, make: Any, tmp_path: Path) -> None:
    shop = _shop(make)
    web.login(shop["buyer"]["email"], PASSWORD)
    page = web.get("/account/keys")
    assert page.status_code == 200 and 'data-testid="no-keys"' in page.text and "SSH 密钥" in page.text
    private = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)], check=True)
    refused = web.post("/account/keys", {"public_key": private.read_text(), "name": ""})
    assert refused.status_code == 400
    assert "PRIVATE KEY" not in refused.text  # a pasted private key is never echoed back
    assert "切勿粘贴私钥" in text_of(refused.text)
    public, fingerprint = _public_key(tmp_path)
    added = web.post("/account/keys", {"public_key": public, "name": "实验室笔记本"})
    assert added.status_code == 303
    listed = web.get(added.headers["location"])
    assert fingerprint in listed.text and "实验室笔记本" in listed.text
    again = web.post("/account/keys", {"public_key": public, "name": ""})
    assert again.status_code == 409 and "您已添加过这个密钥" in text_of(again.text)
    key_id = re.search(r'/account/keys/([0-9a-f-]{36})/delete', listed.text).group(1)
    web.get("/account/keys")
    assert web.post(f"/account/keys/{key_id}/delete", {}).status_code == 303
    assert 'data-testid="no-keys"' in web.get("/account/keys").text


def test_ordering_a_machine_on_the_product_page_and_delivering_it_by_hand(web: WebClient, make: Any,
                                                                          tmp_path: Path) -> None:
    shop = _shop(make)
    product_url = f"/products/{shop['product']['id']}"
    web.login(shop["buyer"]["email"], PASSWORD)
    page = web.get(product_url)
    assert 'name="image"' in page.text and "cuda-pytorch" in page.text and "cann-torch-npu" not in page.text
    assert 'data-testid="no-ssh-key"' in page.text
    keyless = web.post(f"{product_url}/order", {"mode": "on_demand", "units": "1", "image": "cuda-pytorch",
                                                "idempotency_key": uuid.uuid4().hex})
    assert keyless.status_code == 400 and "请先添加您的公钥" in text_of(keyless.text)

    public, _fp = _public_key(tmp_path)
    web.get("/account/keys")
    assert web.post("/account/keys", {"public_key": public, "name": ""}).status_code == 303
    page = web.get(product_url)
    assert 'data-testid="keys-installed"' in page.text
    bad_port = web.post(f"{product_url}/order", {"mode": "on_demand", "units": "1", "image": "cuda-pytorch",
                                                 "ports": "22", "idempotency_key": uuid.uuid4().hex})
    assert bad_port.status_code == 400 and "1024 至 65535" in text_of(bad_port.text)
    web.get(product_url)
    placed = web.post(f"{product_url}/order", {"mode": "on_demand", "units": "1", "image": "cuda-pytorch",
                                               "ports": "8000, 7860", "idempotency_key": uuid.uuid4().hex})
    assert placed.status_code == 303, text_of(placed.text)[:1500]
    order_url = placed.headers["location"].split("?")[0]
    order_page = web.get(order_url)
    assert 'data-state="provisioning"' in order_page.text and "交付中" in order_page.text
    assert 'hx-trigger="every 2s"' in order_page.text  # polled while it is being delivered
    assert "8000, 7860" in order_page.text

    # the seller sees the machine to deliver, with the buyer's key to install
    seller_web = WebClient(web.client.__class__(web.client.app))
    seller_web.login(shop["seller"]["email"], PASSWORD)
    waiting = seller_web.get("/seller/instances")
    assert waiting.status_code == 200 and public in waiting.text
    instance_id = re.search(r'/seller/instances/([0-9a-f-]{36})/deliver', waiting.text).group(1)
    bad = seller_web.post(f"/seller/instances/{instance_id}/deliver",
                          {"ssh_host": "gpu-3.wuhu.example", "ssh_port": "30022", "ssh_user": "ubuntu",
                           "jupyter_url": "javascript:alert(1)", "host_key_fingerprints": "", "note": ""})
    assert bad.status_code == 400 and "登录信息有误" in text_of(bad.text)
    seller_web.get("/seller/instances")
    done = seller_web.post(f"/seller/instances/{instance_id}/deliver",
                           {"ssh_host": "gpu-3.wuhu.example", "ssh_port": "30022", "ssh_user": "ubuntu",
                            "jupyter_url": "", "host_key_fingerprints": "", "note": "GPU 0-7"})
    assert done.status_code == 303, text_of(done.text)[:1500]
    after = seller_web.get("/seller/instances")
    assert 'data-testid="nothing-waiting"' in after.text and "ssh -p 30022" not in after.text
    # the list of every machine searches, filters and sorts on the server (web/listing.py)
    machines = 'data-testid="instances"'
    assert instance_id in seller_web.get("/seller/instances?state=running&sort=created").text.split(machines)[1]
    assert instance_id not in seller_web.get("/seller/instances?state=stopped").text.split(machines)[1]
    assert instance_id not in seller_web.get("/seller/instances?q=nothing-like-it").text.split(machines)[1]
    assert instance_id in seller_web.get("/seller/instances?q=容器实例").text.split(machines)[1]
    assert seller_web.get("/seller/instances?sort=biggest").status_code == 422

    delivered = web.get(order_url)
    assert 'data-state="running"' in delivered.text and "运行中" in delivered.text
    assert "ssh -p 30022 ubuntu@gpu-3.wuhu.example" in delivered.text
    assert 'hx-trigger="every 2s"' not in delivered.text
    fragment = web.get(order_url + "/instances")
    assert fragment.status_code == 200 and "<html" not in fragment.text and "GPU 0-7" in fragment.text


def test_the_operator_sets_the_delivery_deadline(web: WebClient, make: Any) -> None:
    shop = _shop(make)
    web.login(shop["operator"]["email"], PASSWORD)
    page = web.get("/operator/settings")
    assert 'name="delivery_deadline_minutes"' in page.text and 'value="60"' in page.text
    bad = web.post("/operator/settings", {"commission_percent": "5", "spot_notice_seconds": "300",
                                          "delivery_deadline_minutes": "0"})
    assert bad.status_code == 400
    web.get("/operator/settings")
    ok = web.post("/operator/settings", {"commission_percent": "5", "spot_notice_seconds": "300",
                                         "delivery_deadline_minutes": "45"})
    assert ok.status_code == 303
    settings = make.client.get("/api/v1/operator/settings", headers=shop["operator"]["headers"]).json()
    assert settings["delivery_deadline_minutes"] == 45
