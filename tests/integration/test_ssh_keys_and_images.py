"""SSH keys and images through the API: real keys from ssh-keygen, fingerprints as OpenSSH prints them, and every
kind of bad key refused with a reason and nothing stored."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from instance_helpers import add_key, fingerprint_of, keypair
from trading_helpers import Market, checked_market


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


@pytest.mark.parametrize("kind,bits", [("ed25519", None), ("ecdsa", 256), ("rsa", 3072)])
def test_a_real_key_is_stored_with_the_fingerprint_openssh_prints(market: Market, tmp_path: Path, kind: str,
                                                                   bits: int | None) -> None:
    buyer = market.buyer()
    _, public = keypair(tmp_path, kind=kind, bits=bits)
    key = add_key(market, buyer, public)
    assert key["fingerprint"] == fingerprint_of(public, tmp_path)
    assert key["name"].endswith("@test")  # the key's comment, when no name is given
    listed = market.client.get("/api/v1/ssh-keys", headers=buyer["headers"]).json()
    assert [k["id"] for k in listed] == [key["id"]]
    assert listed[0]["public_key"] == public


def _bad_keys(tmp_path: Path) -> dict[str, str]:
    private, public = keypair(tmp_path)
    _, small_rsa = keypair(tmp_path, kind="rsa", bits=1024)
    kind, blob, comment = public.split()
    return {
        "private key": private.read_text(),
        "empty": "   ",
        "two keys": public + "\n" + public,
        "unknown type": f"ssh-dss {blob}",
        "no key data": "ssh-ed25519",
        "not base64": "ssh-ed25519 AAAA!!!notbase64",
        "type mismatch": f"ssh-rsa {blob} {comment}",
        "truncated": f"{kind} {base64.b64encode(base64.b64decode(blob)[:20]).decode()}",
        "rsa 1024": small_rsa,
        "options before the type": f'command="rm -rf /" {public}',
    }


def test_bad_keys_are_refused_with_a_reason_and_nothing_is_stored(market: Market, tmp_path: Path) -> None:
    buyer = market.buyer()
    for what, text in _bad_keys(tmp_path).items():
        r = market.client.post("/api/v1/ssh-keys", headers=buyer["headers"], json={"public_key": text})
        assert r.status_code == 422, (what, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_ssh_key", (what, error)
        assert "PRIVATE" not in error["message"]  # a pasted private key is never echoed back
    assert market.client.get("/api/v1/ssh-keys", headers=buyer["headers"]).json() == []


def test_duplicate_key_is_409_and_keys_are_per_user(market: Market, tmp_path: Path) -> None:
    buyer, other = market.buyer(), market.buyer()
    _, public = keypair(tmp_path)
    key = add_key(market, buyer, public)
    again = market.client.post("/api/v1/ssh-keys", headers=buyer["headers"], json={"public_key": public})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ssh_key_exists"
    assert again.json()["error"]["details"]["ssh_key_id"] == key["id"]
    # another account may hold the same public key (one person, two accounts); it cannot see or delete ours
    add_key(market, other, public)
    assert len(market.client.get("/api/v1/ssh-keys", headers=other["headers"]).json()) == 1
    r = market.client.delete(f"/api/v1/ssh-keys/{key['id']}", headers=other["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "ssh_key_not_found"
    assert market.client.delete(f"/api/v1/ssh-keys/{key['id']}", headers=buyer["headers"]).status_code == 204
    assert market.client.get("/api/v1/ssh-keys", headers=buyer["headers"]).json() == []


def test_ssh_keys_need_a_login(market: Market) -> None:
    assert market.client.get("/api/v1/ssh-keys").status_code == 401


def test_images_per_product_follow_the_chip_ecosystem(market: Market) -> None:
    everything = {i["key"] for i in market.client.get("/api/v1/images").json()}
    assert {"cuda-pytorch", "cann-torch-npu", "dtk-pytorch", "cpu-python"} <= everything
    seller, nvidia = market.seller_with_product(delivery="container")
    keys = [i["key"] for i in market.client.get(f"/api/v1/products/{nvidia['id']}/images").json()]
    assert "cuda-pytorch" in keys and "cpu-python" in keys and "cann-torch-npu" not in keys
    ascend = market.make.product(seller, nvidia["datacenter"], chip="ascend-910b", delivery="vm")
    keys = [i["key"] for i in market.client.get(f"/api/v1/products/{ascend['id']}/images").json()]
    assert "cann-torch-npu" in keys and "cuda-pytorch" not in keys
    batch = market.make.product(seller, nvidia["datacenter"], delivery="batch")
    assert market.client.get(f"/api/v1/products/{batch['id']}/images").json() == []


def test_a_seller_sets_the_images_its_datacenter_offers(market: Market) -> None:
    seller, product = market.seller_with_product(delivery="container")
    dc = product["datacenter"]["id"]
    r = market.client.put(f"/api/v1/datacenters/{dc}/images", headers=seller["headers"], json={"images": [
        {"key": "cuda-pytorch", "reference": "registry.wuhu.example/ai/pytorch:2.5-cu124"}]})
    assert r.status_code == 200, r.text
    assert [(i["key"], i["reference"]) for i in r.json()] == [
        ("cuda-pytorch", "registry.wuhu.example/ai/pytorch:2.5-cu124")]
    keys = [i["key"] for i in market.client.get(f"/api/v1/products/{product['id']}/images").json()]
    assert keys == ["cuda-pytorch"]
    for images, code in [([{"key": "windows-11"}], "unknown_image"),
                         ([{"key": "cpu-python"}, {"key": "cpu-python"}], "duplicate_image"),
                         ([{"key": "cpu-python", "reference": "has spaces in it"}], "invalid_image_reference")]:
        bad = market.client.put(f"/api/v1/datacenters/{dc}/images", headers=seller["headers"],
                                json={"images": images})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, bad.text
    other = market.buyer()
    forbidden = market.client.put(f"/api/v1/datacenters/{dc}/images", headers=other["headers"], json={"images": []})
    assert forbidden.status_code == 403
    # what it offers is unchanged by the refused requests
    assert [i["key"] for i in market.client.get(f"/api/v1/datacenters/{dc}/images",
                                                headers=seller["headers"]).json()] == ["cuda-pytorch"]
