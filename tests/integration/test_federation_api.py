"""The federation API in-process, on SQLite and PostgreSQL: identity and keys, peers from cards, every refusal
of the signed API with its code (and signed too), scopes, rotation, and the catalog change feed.

The peer is played by the test: its own Ed25519 key, its card given to this platform's operator."""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat
import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from suanli.config import load_settings
from suanli.core.federation import ComputeId, key_id
from suanli.db import Database
from suanli.federation import keys, signing
from suanli.federation.models import FederationKey
from suanli.federation.peers import peer_card
from suanli.ids import new_id
from support import Factory

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "http://testserver"
OPS = "/api/v1/operator/federation"


class Peer:
    """A platform played by the test: id, key, card."""

    def __init__(self, name: str = "贵州算力平台", base_url: str = "http://127.0.0.1:9") -> None:
        self.id, self.key = new_id(), Ed25519PrivateKey.generate()
        self.kid = key_id(keys.raw_public(self.key.public_key()))
        self.card = peer_card({"id": str(self.id), "name": name, "province": "贵州", "base_url": base_url,
                               "keys": [{"key_id": self.kid, "public_key": keys.public_text(self.key.public_key()),
                                         "valid_until": None}]})

    def request(self, path: str, *, body: bytes = b"", created: dt.datetime | None = None,
                nonce: str | None = None) -> httpx.Request:
        request = httpx.Request("GET", BASE + path, content=body)
        signing.sign_request(request, key_id=self.kid, private_key=self.key, body=body, created=created, nonce=nonce)
        return request


@pytest.fixture
def fed(db: Database, tmp_path: Path) -> dict[str, Any]:
    from suanli.app import create_app

    settings = dataclasses.replace(load_settings(), home=tmp_path, federation_base_url=BASE)
    client = TestClient(create_app(db, settings=settings))
    make = Factory(client, db)
    operator = make.user("operator")
    return {"client": client, "make": make, "op": operator["headers"], "home": tmp_path, "db": db}


def identity(fed: dict[str, Any]) -> dict[str, Any]:
    r = fed["client"].post(f"{OPS}/identity", headers=fed["op"])
    assert r.status_code == 200, r.text
    return r.json()


def add(fed: dict[str, Any], peer: Peer, scopes: list[str] = ["catalog"]) -> dict[str, Any]:  # noqa: B006
    r = fed["client"].post(f"{OPS}/peers", headers=fed["op"], json={"card": peer.card, "scopes": scopes})
    assert r.status_code == 201, r.text
    return r.json()


def send(fed: dict[str, Any], request: httpx.Request) -> httpx.Response:
    """Send a signed request and check the answer is signed by this platform for exactly that request."""
    response = fed["client"].send(request)
    me = identity(fed)
    public = {k["key_id"]: k["public_key"] for k in me["keys"]}
    params = signing.signature_params(response.headers)
    signing.verify_response(status=response.status_code, headers=response.headers, body=response.content,
                            request_method=request.method, request_url=str(request.url),
                            request_headers=request.headers, params=params,
                            public_key=keys.parse_public(public[params.key_id]))
    return response


def code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_identity_is_made_once_with_a_private_key_file_only_its_owner_reads(fed):
    first, again = identity(fed), identity(fed)
    assert first == again and len(first["keys"]) == 1 and first["card"].startswith("suanli-peer:")
    assert first["base_url"] == BASE and first["province"] == "安徽"
    key_file = fed["home"] / "federation" / f"{first['keys'][0]['key_id']}.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert first["keys"][0]["public_key"] not in key_file.read_text()  # the file is the private key (PEM)


def test_a_platform_without_a_key_yet_still_answers_signed(fed):
    refused = fed["client"].get("/federation/v1/identity")  # nothing made the identity before this request
    assert (refused.status_code, code(refused)) == (401, "signature_missing") and "signature" in refused.headers
    assert signing.signature_params(refused.headers).key_id == identity(fed)["keys"][0]["key_id"]


def test_adding_peers_checks_the_card_the_scopes_and_the_address(fed, monkeypatch):
    client, op = fed["client"], fed["op"]
    r = client.post(f"{OPS}/peers", headers=op, json={"card": "not a card at all", "scopes": ["catalog"]})
    assert (r.status_code, code(r)) == (422, "invalid_peer_card")
    r = client.post(f"{OPS}/peers", headers=op, json={"card": Peer().card, "scopes": ["shopping"]})
    assert r.status_code == 422
    r = client.post(f"{OPS}/peers", headers=op, json={"card": identity(fed)["card"], "scopes": ["catalog"]})
    assert (r.status_code, code(r)) == (409, "peer_is_self")
    metadata = Peer(base_url="http://169.254.169.254")
    r = client.post(f"{OPS}/peers", headers=op, json={"card": metadata.card, "scopes": ["catalog"]})
    assert (r.status_code, code(r)) == (422, "endpoint_not_allowed")
    monkeypatch.setenv("SUANLI_CLUSTER_ALLOWED_NETWORKS", "")
    r = client.post(f"{OPS}/peers", headers=op, json={"card": Peer().card, "scopes": ["catalog"]})
    assert (r.status_code, code(r)) == (422, "endpoint_not_allowed")  # loopback, once the operator disallows it
    monkeypatch.setenv("SUANLI_CLUSTER_ALLOWED_NETWORKS", "127.0.0.0/8")
    peer = Peer()
    added = add(fed, peer, ["jobs", "catalog"])
    assert (added["status"], added["scopes"], added["key_ids"]) == ("active", ["catalog", "jobs"], [peer.kid])
    r = client.post(f"{OPS}/peers", headers=op, json={"card": peer.card, "scopes": ["catalog"]})
    assert (r.status_code, code(r)) == (409, "peer_exists")
    [entry] = client.get("/api/v1/operator/audit", headers=op, params={"action": "federation.peer_added"}).json()["items"]
    assert (entry["target"], entry["details"]) == (f"platform:{peer.id}", {"scopes": "catalog,jobs"})
    buyer = fed["make"].user("buyer")
    assert client.get(f"{OPS}/peers", headers=buyer["headers"]).status_code == 403
    r = client.post(f"{OPS}/peers/{peer.id}/sync", headers=buyer["headers"])
    assert (r.status_code, code(r)) == (403, "wrong_role")
    assert client.post(f"{OPS}/peers/{peer.id}/sync").status_code == 401


def test_signed_requests_pass_and_every_bad_one_is_refused_with_its_code(fed):
    identity(fed)
    peer = Peer()
    add(fed, peer)
    ok = send(fed, peer.request("/federation/v1/identity"))
    assert ok.status_code == 200 and ok.json()["id"] == identity(fed)["id"]

    unsigned = fed["client"].get("/federation/v1/identity")
    assert (unsigned.status_code, code(unsigned)) == (401, "signature_missing")
    assert "signature" in unsigned.headers  # refusals are signed too
    stranger = Peer()
    assert code(send(fed, stranger.request("/federation/v1/identity"))) == "unknown_key"

    replayed = peer.request("/federation/v1/identity")
    assert send(fed, replayed).status_code == 200
    assert (send(fed, replayed).status_code, code(send(fed, replayed))) == (401, "signature_replayed")

    now = dt.datetime.now(dt.UTC)
    stale = send(fed, peer.request("/federation/v1/identity", created=now - dt.timedelta(minutes=6)))
    assert code(stale) == "signature_expired"
    future = send(fed, peer.request("/federation/v1/identity", created=now + dt.timedelta(minutes=2)))
    assert code(future) == "signature_from_future"

    tampered = peer.request("/federation/v1/identity", body=b'{"units": 1}')
    tampered = httpx.Request("GET", tampered.url, headers=tampered.headers, content=b'{"units": 9}')
    assert code(send(fed, tampered)) == "body_tampered"
    moved = peer.request("/federation/v1/identity")
    moved = httpx.Request("GET", BASE + "/federation/v1/catalog/changes", headers=moved.headers)
    assert code(send(fed, moved)) == "signature_invalid"
    forged = Peer()
    forged.kid = peer.kid  # signs with its own key, claiming the peer's key id
    assert code(send(fed, forged.request("/federation/v1/identity"))) == "signature_invalid"


def test_scopes_suspension_revocation_and_expired_keys(fed):
    client, op = fed["client"], fed["op"]
    identity(fed)
    peer = Peer()
    add(fed, peer, ["orders"])
    r = send(fed, peer.request("/federation/v1/catalog/changes"))
    assert (r.status_code, code(r)) == (403, "scope_missing")
    assert send(fed, peer.request("/federation/v1/identity")).status_code == 200  # any active peer

    assert client.post(f"{OPS}/peers/{peer.id}/suspend", headers=op).json()["status"] == "suspended"
    r = send(fed, peer.request("/federation/v1/identity"))
    assert (r.status_code, code(r)) == (403, "peer_suspended")
    assert client.post(f"{OPS}/peers/{peer.id}/resume", headers=op).json()["status"] == "active"
    assert send(fed, peer.request("/federation/v1/identity")).status_code == 200
    assert client.post(f"{OPS}/peers/{peer.id}/revoke", headers=op).json()["status"] == "revoked"
    assert code(send(fed, peer.request("/federation/v1/identity"))) == "peer_revoked"
    r = client.post(f"{OPS}/peers/{peer.id}/resume", headers=op)
    assert (r.status_code, code(r)) == (409, "peer_revoked")
    assert client.post(f"{OPS}/peers/{uuid.uuid4()}/suspend", headers=op).status_code == 404

    other = Peer()
    add(fed, other)
    with fed["db"].unit_of_work() as session:
        session.execute(update(FederationKey).where(FederationKey.key_id == other.kid)
                        .values(valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert code(send(fed, other.request("/federation/v1/identity"))) == "key_expired"


def test_rotation_keeps_the_old_key_for_its_grace_period_and_signs_with_the_new_one(fed):
    before = identity(fed)
    peer = Peer()
    add(fed, peer)
    r = fed["client"].post(f"{OPS}/keys/rotate", headers=fed["op"])
    assert r.status_code == 200, r.text
    after = r.json()
    old, new = after["keys"]
    assert old["key_id"] == before["keys"][0]["key_id"] and new["valid_until"] is None
    grace = dt.datetime.fromisoformat(old["valid_until"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=71, minutes=59) < grace <= dt.timedelta(hours=72)
    answer = send(fed, peer.request("/federation/v1/identity"))
    assert signing.signature_params(answer.headers).key_id == new["key_id"]
    assert [k["key_id"] for k in answer.json()["keys"]] == [old["key_id"], new["key_id"]]


def _changes(fed, peer: Peer, after: int = 0) -> dict[str, Any]:
    r = send(fed, peer.request(f"/federation/v1/catalog/changes?after={after}"))
    assert r.status_code == 200, r.text
    return r.json()


def test_the_change_feed_publishes_shared_products_incrementally_under_the_policy(fed):
    client, op, make = fed["client"], fed["op"], fed["make"]
    me = identity(fed)
    peer = Peer()
    add(fed, peer)
    seller = make.user("seller")
    dc = make.datacenter(seller)
    shared = make.product(seller, dc, price_on_demand_fen=6350)
    make.product(seller, dc)  # not shared: never published
    assert _changes(fed, peer)["changes"] == []
    r = client.post(f"{OPS}/shares", headers=op, json={"product_id": shared["id"]})
    assert r.status_code == 200 and r.json()["feed_head"] == 1
    feed = _changes(fed, peer)
    [change] = feed["changes"]
    assert change["cid"] == f"cid:{me['id']}/{dc['id']}/{shared['id']}"
    assert ComputeId.parse(change["cid"]).product_id == uuid.UUID(shared["id"])
    assert (change["offer"]["price_exact_fen"], change["offer"]["available_units"]) == (6350, 4)
    assert "organization" not in str(change["offer"]) and seller["email"] not in str(change["offer"])
    assert (feed["head"], feed["next_after"], feed["more"]) == (1, 1, False)
    assert _changes(fed, peer, after=1)["changes"] == []  # nothing changed: nothing sent again

    policy = client.put(f"{OPS}/policy", headers=op, json={"price_disclosure": "band", "aggregation": "region"})
    assert policy.json() == {"price_disclosure": "band", "aggregation": "region"}
    changes = _changes(fed, peer, after=1)["changes"]
    withdrawn = [c for c in changes if c["offer"] is None]
    regional = [c for c in changes if c["offer"] is not None]
    assert [c["cid"] for c in withdrawn] == [change["cid"]]
    assert regional[0]["cid"].startswith(f"cid:{me['id']}/region-") and regional[0]["cid"].endswith("/a800-8x-batch")
    assert regional[0]["offer"]["datacenter"] is None
    assert (regional[0]["offer"]["price_low_fen"], regional[0]["offer"]["price_high_fen"]) == (5000, 10000)

    head = _changes(fed, peer)["head"]
    assert client.delete(f"{OPS}/shares/{shared['id']}", headers=op).status_code == 200
    [gone] = _changes(fed, peer, after=head)["changes"]
    assert gone["offer"] is None and gone["cid"] == regional[0]["cid"]
    page = send(fed, peer.request("/federation/v1/catalog/changes?after=0&limit=1")).json()
    assert len(page["changes"]) == 1 and page["more"] is True


def test_a_peers_rotated_key_is_learned_from_the_endorsement_its_requests_carry(fed):
    import base64
    import json

    from suanli.core.federation import endorsement_message
    from suanli.federation.peers import ENDORSEMENT_HEADER

    identity(fed)
    peer = Peer()
    add(fed, peer)
    old_key, old_kid = peer.key, peer.kid

    def rotate(endorser: Ed25519PrivateKey) -> str:
        peer.key = Ed25519PrivateKey.generate()
        public = keys.public_text(peer.key.public_key())
        peer.kid = key_id(keys.raw_public(peer.key.public_key()))
        signature = endorser.sign(endorsement_message(peer.id, peer.kid, public))
        return base64.urlsafe_b64encode(json.dumps({
            "platform_id": str(peer.id), "key_id": peer.kid, "public_key": public, "endorsed_by": old_kid,
            "endorsement": base64.b64encode(signature).decode()}).encode()).decode()

    forged = rotate(Ed25519PrivateKey.generate())  # "endorsed" by a key that is not the old one
    request = peer.request("/federation/v1/identity")
    request.headers[ENDORSEMENT_HEADER] = forged
    assert code(send(fed, request)) == "unknown_key"

    header = rotate(old_key)
    request = peer.request("/federation/v1/identity")
    assert code(send(fed, request)) == "unknown_key"  # without the endorsement: not known yet
    request = peer.request("/federation/v1/identity")
    request.headers[ENDORSEMENT_HEADER] = header
    assert send(fed, request).status_code == 200
    assert send(fed, peer.request("/federation/v1/identity")).status_code == 200  # stored: no header needed now
    [listed] = fed["client"].get(f"{OPS}/peers", headers=fed["op"]).json()
    assert listed["key_ids"] == [old_kid, peer.kid]
