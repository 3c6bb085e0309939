"""Federation's pure rules and its message signatures: identifiers, bands, offers, time windows, and tampering
with any part of a signed message (hypothesis)."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from suanli.core.federation import (Aggregation, ComputeId, PriceDisclosure, SharedProduct, build_offers,
                                    content_hash, key_id, offer_group, parse_scopes, price_band,
                                    signature_time_problem)
from suanli.federation import signing
from suanli.federation import keys
from suanli.federation.keys import raw_public
from suanli.federation.signing import SignatureRefused
from suanli.ids import new_id

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
URL = "https://peer.example.cn/federation/v1/catalog/changes?after=3"


def signed(body: bytes = b'{"a":1}', method: str = "POST", url: str = URL) -> httpx.Request:
    request = httpx.Request(method, url, content=body)
    signing.sign_request(request, key_id="k1", private_key=KEY, body=body)
    return request


def verify(request: httpx.Request, *, body: bytes, method: str | None = None, url: str | None = None,
           key=KEY) -> None:
    params = signing.signature_params(request.headers)
    signing.verify_request(method=method or request.method, url=url or str(request.url), headers=request.headers,
                           body=body, params=params, public_key=key.public_key())


def refused(call) -> str:
    with pytest.raises(SignatureRefused) as caught:
        call()
    return caught.value.code


def test_a_signed_request_verifies_and_covers_method_target_digest_created_and_nonce():
    request = signed()
    verify(request, body=b'{"a":1}')
    params = signing.signature_params(request.headers)
    assert params.components == ('"@method"', '"@target-uri"', '"content-digest"')
    assert params.nonce and abs(params.created - dt.datetime.now().timestamp()) < 5
    assert request.headers["content-digest"].startswith("sha-256=:")


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=200), position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_changed_body_byte_is_body_tampered(body, position, flip):
    request = signed(body)
    tampered = bytearray(body or b"\0")
    tampered[position % len(tampered)] ^= flip
    if not body:
        tampered = bytearray(b"\0")
    assert refused(lambda: verify(request, body=bytes(tampered))) == "body_tampered"


@settings(max_examples=40, deadline=None)
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]),
       path=st.from_regex(r"/federation/v1/[a-z]{1,12}", fullmatch=True))
def test_another_method_or_target_is_signature_invalid(method, path):
    request = signed()
    assert refused(lambda: verify(request, body=b'{"a":1}', method=method)) == "signature_invalid"
    assert refused(lambda: verify(request, body=b'{"a":1}', url="https://peer.example.cn" + path)) \
        == "signature_invalid"


@settings(max_examples=40, deadline=None)
@given(position=st.integers(min_value=0, max_value=63), flip=st.integers(min_value=1, max_value=255))
def test_a_changed_signature_byte_is_signature_invalid(position, flip):
    import base64

    request = signed()
    raw = bytearray(base64.b64decode(request.headers["signature"].split(":")[1]))
    raw[position] ^= flip
    request.headers["signature"] = f"fed=:{base64.b64encode(bytes(raw)).decode()}:"
    assert refused(lambda: verify(request, body=b'{"a":1}')) == "signature_invalid"


def test_a_changed_digest_header_or_parameters_or_another_key_are_refused():
    request = signed()
    request.headers["content-digest"] = signing.ContentDigest.create(b"forged")
    assert refused(lambda: verify(request, body=b"forged")) == "signature_invalid"
    request = signed()
    request.headers["signature-input"] = request.headers["signature-input"].replace("created=", "created=1")
    assert refused(lambda: verify(request, body=b'{"a":1}')) == "signature_invalid"
    assert refused(lambda: verify(signed(), body=b'{"a":1}', key=OTHER)) == "signature_invalid"


def test_missing_malformed_and_incomplete_signatures_have_their_codes():
    assert refused(lambda: signing.signature_params(httpx.Headers({}))) == "signature_missing"
    assert refused(lambda: signing.signature_params(httpx.Headers({"signature-input": "fed=(", "signature": "x"}))) \
        == "signature_malformed"
    no_nonce = httpx.Headers({"signature-input": 'fed=("@method");created=1;keyid="k";tag="suanli-federation/v1"',
                              "signature": "fed=:AA==:"})
    assert refused(lambda: signing.signature_params(no_nonce)) == "signature_incomplete"
    # Signed, but covering the method only: not enough.
    request = httpx.Request("POST", URL, content=b"x")
    signing.sign(request, key_id="k1", private_key=KEY, body=b"x", covers=("@method",))
    request.headers["signature-input"] = request.headers["signature-input"].replace(' "content-digest"', "")
    assert refused(lambda: verify(request, body=b"x")) == "signature_incomplete"


def test_responses_are_bound_to_their_request():
    request, other = signed(), signed()
    headers = signing.response_headers(status=200, headers={"content-type": "application/json"}, body=b"{}",
                                       request_method="POST", request_url=URL, request_headers=request.headers,
                                       key_id="k2", private_key=KEY)
    params = signing.signature_params(httpx.Headers(headers))
    check = dict(status=200, headers=httpx.Headers(headers), request_method="POST", request_url=URL,
                 params=params, public_key=KEY.public_key())
    signing.verify_response(body=b"{}", request_headers=request.headers, **check)
    # The same answer presented for another request (another nonce, another signature) is refused.
    assert refused(lambda: signing.verify_response(body=b"{}", request_headers=other.headers, **check)) \
        == "signature_invalid"
    assert refused(lambda: signing.verify_response(body=b"[]", request_headers=request.headers, **check)) \
        == "body_tampered"


@pytest.mark.parametrize(("created", "problem"), [(1000, None), (1000 - 300, None), (1000 - 301, "signature_expired"),
                                                  (1030, None), (1031, "signature_from_future")])
def test_signature_time_window(created, problem):
    assert signature_time_problem(created, 1000.0) == problem


def test_scopes_and_key_ids():
    assert parse_scopes(["jobs,catalog", " burst "]) == ["catalog", "jobs", "burst"]
    with pytest.raises(ValueError, match="valid scopes: catalog, orders, jobs, burst"):
        parse_scopes(["shopping"])
    raw = raw_public(KEY.public_key())
    assert key_id(raw) == key_id(raw) != key_id(raw_public(OTHER.public_key()))
    assert len(key_id(raw)) == 32


@given(platform=st.uuids(), datacenter=st.uuids(), product=st.uuids(), region=st.uuids(),
       chip=st.sampled_from(["a800", "ascend_910b", None]), n=st.integers(0, 64),
       delivery=st.sampled_from(["bare_metal", "vm", "container", "batch"]))
def test_compute_ids_round_trip(platform, datacenter, product, region, chip, n, delivery):
    for cid in (ComputeId(platform, datacenter, product),
                ComputeId(platform, region_id=region, group=offer_group(chip, "cpu", n, delivery))):
        assert ComputeId.parse(str(cid)) == cid
    with pytest.raises(ValueError, match="not a compute identifier"):
        ComputeId.parse(f"cid:{platform}/{datacenter}")


@given(st.integers(min_value=1, max_value=10**12))
def test_price_bands_are_1_2_5_and_hold_the_price(fen):
    low, high = price_band(fen)
    assert low <= fen < high
    assert str(low).rstrip("0") in ("1", "2", "5") and (high == 2 * low or 2 * high == 5 * low)


def _product(region: uuid.UUID, price: int, free: int = 3, **kw) -> SharedProduct:
    values = dict(product_id=new_id(), datacenter_id=new_id(), datacenter_name="芜湖一号", region_id=region,
                  province="安徽", city="芜湖", name="A800 ×8", kind="accelerator", chip_key="a800", accelerators=8,
                  vcpus=96, memory_gib=1024, delivery="bare_metal", free_units=free, price_on_demand_fen=price,
                  listed=True)
    values.update(kw)
    return SharedProduct(**values)


def test_offers_per_datacenter_with_exact_prices_and_per_region_with_bands():
    platform, region = new_id(), new_id()
    products = [_product(region, 6350), _product(region, 7200, free=1), _product(region, 9000, free=0),
                _product(region, 5000, listed=False)]
    exact = build_offers(platform, products, PriceDisclosure.EXACT, Aggregation.DATACENTER)
    assert sorted(o["price_exact_fen"] for o in exact.values()) == [6350, 7200]  # sold out and unlisted: not offered
    assert all(o["datacenter"] == "芜湖一号" for o in exact.values())
    banded = build_offers(platform, products, PriceDisclosure.BAND, Aggregation.REGION)
    [(cid, offer)] = banded.items()
    assert cid == f"cid:{platform}/region-{region}/a800-8x-bare_metal"
    assert offer["datacenter"] is None and offer["price_exact_fen"] is None
    assert (offer["price_low_fen"], offer["price_high_fen"], offer["available_units"]) == (5000, 10000, 4)
    # Stable identifiers and hashes: the same shares give the same offers.
    again = build_offers(platform, products, PriceDisclosure.BAND, Aggregation.REGION)
    assert content_hash(again[cid]) == content_hash(offer)


def test_a_rotated_key_is_learned_only_through_an_endorsement_by_a_trusted_key():
    import base64

    from suanli.core.federation import endorsement_message
    from suanli.federation.peers import IdentityIn, endorsed_keys

    platform = new_id()
    old, mid, new, rogue = (Ed25519PrivateKey.generate() for _ in range(4))

    def entry(key, endorser=None, signer=None):
        public = keys.public_text(key.public_key())
        kid = key_id(keys.raw_public(key.public_key()))
        row = {"key_id": kid, "public_key": public, "valid_until": None}
        if endorser is not None:
            signature = (signer or endorser).sign(endorsement_message(platform, kid, public))
            row.update(endorsed_by=key_id(keys.raw_public(endorser.public_key())),
                       endorsement=base64.b64encode(signature).decode())
        return row

    trusted = {entry(old)["key_id"]: entry(old)["public_key"]}
    chain = IdentityIn.model_validate({"id": platform, "name": "p", "base_url": "https://p.example.cn",
                                       "keys": [entry(new, mid), entry(mid, old), entry(rogue)]})
    learned = endorsed_keys(chain, trusted)
    assert set(learned) == {entry(old)["key_id"], entry(mid)["key_id"], entry(new)["key_id"]}  # not the rogue
    forged = IdentityIn.model_validate({"id": platform, "name": "p", "base_url": "https://p.example.cn",
                                        "keys": [entry(rogue, old, signer=rogue)]})
    assert endorsed_keys(forged, trusted) == trusted
    other_platform = IdentityIn.model_validate({"id": new_id(), "name": "q", "base_url": "https://q.example.cn",
                                                "keys": [entry(mid, old)]})
    assert endorsed_keys(other_platform, trusted) == trusted  # an endorsement names its platform
