"""Cluster registration cannot be turned against the platform (SQLite and PostgreSQL, real HTTP servers on
loopback addresses): loopback, private and other non-public endpoints are refused at registration and at every
connection unless the operator allowed their network; DNS answers cannot switch the address between check and
connect; redirects are not followed; a remote answer's text never reaches the seller; clusters of data centers an
operator has not approved are never contacted; and only operators register ``local`` clusters."""

from __future__ import annotations

import json
import logging
import socket
import uuid

import pytest
from fake_cluster import Answer, fake_server
from jobs_helpers import get_job, run_round, submit
from test_jobs_api import market  # noqa: F401  (the market fixture)

from suanli import backends
from suanli.backends import outbound
from suanli.config import CLUSTER_ALLOWED_NETWORKS
from suanli.core.billing import SystemClock
from suanli.instances.lifecycle import run_pass

RAY_VERSION = Answer(200, json.dumps({"ray_version": "2.60.0", "version": "4"}),
                     {"Content-Type": "application/json"})


def clusters_url(product: dict) -> str:
    return f"/api/v1/datacenters/{product['datacenter']['id']}/clusters"


def cluster_body(endpoint: str, kind: str = "ray", product: dict | None = None, name: str | None = None) -> dict:
    body = {"name": name or f"{kind}-{uuid.uuid4().hex[:6]}", "kind": kind, "endpoint": endpoint,
            "product_ids": [product["id"]] if product else []}
    if kind == "slurm":
        body["credentials"] = {"user": "suanli", "token": "jwt"}
        body["options"] = {"timeout": 2}
    else:
        body["options"] = {"timeout": 2}
    return body


def cluster_row(market, seller, product, cluster_id: str) -> dict:
    r = market.client.get(f"{clusters_url(product)}/{cluster_id}", headers=seller["headers"])
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("kind", ["ray", "slurm"])
def test_a_seller_cannot_point_a_cluster_at_the_platforms_network(market, monkeypatch, kind):  # noqa: F811
    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "")
    seller, product = market.seller_with_product()
    with fake_server(RAY_VERSION) as internal:  # a service on the platform's machine
        endpoints = [internal.url, f"http://localhost:{internal.port}/", f"http://0x7f000001:{internal.port}",
                     f"http://2130706433:{internal.port}", f"http://[::ffff:127.0.0.1]:{internal.port}",
                     "http://[::1]:8265", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7:6820",
                     "http://192.168.1.20:8265", "http://100.64.3.4:8265", "http://0.0.0.0:8265",
                     "http://224.0.0.1:8265"]
        for endpoint in endpoints:
            r = market.client.post(clusters_url(product), headers=seller["headers"],
                                   json=cluster_body(endpoint, kind))
            assert r.status_code == 422, (endpoint, r.text)
            error = r.json()["error"]
            assert error["code"] == "endpoint_not_allowed", (endpoint, error)
            assert CLUSTER_ALLOWED_NETWORKS in error["message"] and "public" in error["message"]
            assert error["details"]["setting"] == CLUSTER_ALLOWED_NETWORKS and error["details"]["field"] == "endpoint"
        assert internal.requests == []
    r = market.client.post(clusters_url(product), headers=seller["headers"],
                           json=cluster_body("http://no-such-cluster.invalid:8265", kind))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cluster"
    assert "cannot be resolved" in r.json()["error"]["message"]
    listed = market.client.get(clusters_url(product), headers=seller["headers"]).json()
    assert listed == []


def test_only_operators_register_local_clusters(market, tmp_path):  # noqa: F811
    seller, product = market.seller_with_product()
    body = {"name": "on-the-platform", "kind": "local", "endpoint": str(tmp_path / "jobs")}
    r = market.client.post(clusters_url(product), headers=seller["headers"], json=body)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "local_cluster_operator_only"
    assert "operator" in r.json()["error"]["message"] and "Slurm or Ray" in r.json()["error"]["message"]
    r = market.client.post(clusters_url(product), headers=market.operator["headers"], json=body)
    assert r.status_code == 201 and r.json()["kind"] == "local", r.text


def test_only_operators_give_a_cluster_a_directory_of_the_platforms_machine(market, tmp_path):  # noqa: F811
    """A seller's Slurm cluster with shared_dir=/ could make the platform read any of its files back as job logs."""
    seller, product = market.seller_with_product()
    body = cluster_body("http://127.0.0.1:9", "slurm", name="nfs")
    body["options"]["shared_dir"] = "/"
    r = market.client.post(clusters_url(product), headers=seller["headers"], json=body)
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "host_path_operator_only" and "shared_dir" in error["message"]
    assert error["details"]["field"] == "options.shared_dir"
    body["options"]["shared_dir"] = str(tmp_path)
    r = market.client.post(clusters_url(product), headers=market.operator["headers"], json=body)
    assert r.status_code == 201, r.text


def test_an_allowed_network_is_checked_again_at_every_connection(market, monkeypatch):  # noqa: F811
    seller, product = market.seller_with_product()
    with fake_server(RAY_VERSION) as head:
        monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.0/8")
        r = market.client.post(clusters_url(product), headers=seller["headers"], json=cluster_body(head.url))
        assert r.status_code == 201, r.text
        cluster = r.json()
        run_round(market)
        assert cluster_row(market, seller, product, cluster["id"])["health_detail"] == "Ray 2.60.0"
        seen = len(head.requests)
        assert seen >= 1 and head.requests[0][:2] == ("GET", "/api/version")

        monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "10.0.0.0/8")  # the operator closes loopback again
        run_round(market)
        run_round(market)
        row = cluster_row(market, seller, product, cluster["id"])
        assert row["health_detail"] == "endpoint not allowed" and row["healthy"] is False
        assert len(head.requests) == seen  # not one more request reached it


def test_a_dns_answer_cannot_switch_the_address_between_check_and_connect(monkeypatch):
    """The host resolves to an allowed address when checked and to another one right after (DNS rebinding): the
    request still goes to the address that was checked, and the next request, refused, goes nowhere."""
    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.1/32")
    with fake_server(RAY_VERSION, host="127.0.0.1") as allowed, \
            fake_server(RAY_VERSION, host="127.0.0.2", port=allowed.port) as other:
        real = socket.getaddrinfo
        answers = iter(["127.0.0.1"])
        lookups = []

        def rebinding(host, port, *args, **kwargs):
            if host == "cluster.test":
                lookups.append(host)
                address = next(answers, "127.0.0.2")
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        client = outbound.http_client(f"http://cluster.test:{allowed.port}", kind="ray", timeout=2)
        try:
            assert client.get("/api/version").json()["ray_version"] == "2.60.0"
            assert allowed.requests == [("GET", "/api/version", f"cluster.test:{allowed.port}")]
            assert lookups == ["cluster.test"]  # resolved once, by the check; the connection used its answer
            with pytest.raises(outbound.EndpointNotAllowed, match=r"127\.0\.0\.2 \(loopback\)"):
                client.get("/api/version")
        finally:
            client.close()
        assert other.requests == [] and len(allowed.requests) == 1


def test_an_unreadable_setting_allows_nothing(monkeypatch):
    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.0/8,intranet")
    with fake_server(RAY_VERSION) as head:
        backend = backends.create("ray", head.url, None, {"timeout": 2})
        try:
            health = backend.health()
            with pytest.raises(outbound.EndpointNotAllowed, match="'intranet' is not an IP network"):
                backend.status("suanli-x.1")
        finally:
            backend.close()
        assert not health.ok and health.detail == "endpoint not allowed" and head.requests == []


def test_redirects_are_never_followed(monkeypatch):
    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.0/8")
    with fake_server(RAY_VERSION) as target, \
            fake_server(Answer(302, "", {"Location": f"{target.url}/api/version"})) as redirecting:
        backend = backends.create("ray", redirecting.url, None, {"timeout": 2})
        try:
            health = backend.health()
        finally:
            backend.close()
        assert not health.ok and health.detail == "HTTP 302 (redirects are not followed)"
        assert len(redirecting.requests) == 1 and target.requests == []


SECRET_ANSWERS = [
    Answer(200, "SECRET internal admin page"),
    Answer(500, "Traceback: SECRET in the server's error"),
    Answer(404, json.dumps({"message": "SECRET", "detail": "SECRET", "errors": "SECRET"}),
           {"Content-Type": "application/json"}),
    Answer(401, "SECRET realm"),
    Answer(200, json.dumps({"ray_version": "SECRET", "pings": [{"ping": "SECRET"}], "nodes": "SECRET"}),
           {"Content-Type": "application/json"}),
]


@pytest.mark.parametrize("kind", ["ray", "slurm"])
def test_what_a_cluster_answers_never_reaches_the_seller(market, monkeypatch, caplog, kind):  # noqa: F811
    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.0/8")
    caplog.set_level(logging.DEBUG)
    seller, product = market.seller_with_product()
    buyer = market.buyer(topup_fen=100_000)
    details = set()
    for answer in SECRET_ANSWERS:
        secret = f"SECRET-{uuid.uuid4().hex}"
        answer = Answer(answer.status, answer.body.replace("SECRET", secret), answer.headers)
        with fake_server(answer) as internal:
            r = market.client.post(clusters_url(product), headers=seller["headers"],
                                   json=cluster_body(internal.url, kind, product))
            assert r.status_code == 201, r.text
            cluster = r.json()
            job = submit(market, buyer)  # placed there in the first round (not yet unhealthy): the submit fails
            for _ in range(2):
                run_round(market)
            assert internal.requests, "the cluster was never asked"
            row = cluster_row(market, seller, product, cluster["id"])
            details.add(row["health_detail"])
            shown = [market.client.get(clusters_url(product), headers=seller["headers"]).text,
                     market.client.get(f"/api/v1/jobs/{job['id']}", headers=seller["headers"]).text,
                     json.dumps(get_job(market, buyer, job["id"])), caplog.text]
            for text in shown:
                assert secret not in text
            market.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=buyer["headers"])
            assert market.client.delete(f"{clusters_url(product)}/{cluster['id']}",
                                        headers=seller["headers"]).status_code == 200
    expected = {"unexpected response", "HTTP 500", "HTTP 404", "authentication failed", "slurmctld not answering",
                "Ray (version not reported)"}
    assert details <= expected, details


def test_clusters_of_unapproved_datacenters_are_never_contacted(market, monkeypatch):  # noqa: F811
    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.0/8")
    seller = market.make.user("seller")
    datacenter = market.make.datacenter(seller, approved=False)
    product = market.make.product(seller, datacenter)
    buyer = market.buyer(topup_fen=100_000)
    with fake_server(RAY_VERSION) as ray_head, fake_server(Answer(200, "{}")) as slurmrestd:
        for server, kind in ((ray_head, "ray"), (slurmrestd, "slurm")):
            r = market.client.post(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"],
                                   json=cluster_body(server.url, kind, product if kind == "ray" else None))
            assert r.status_code == 201, r.text
        submit(market, buyer, expect=201)
        for _ in range(3):
            run_round(market)
        listed = market.client.get(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"])
        assert {c["health_detail"] for c in listed.json()} == {
            "not checked until an operator approves the data center"}
        run_pass(market.db, SystemClock(), orphans=True)  # the instance loop's sweep of every cluster
        assert ray_head.requests == [] and slurmrestd.requests == []

        r = market.client.post(f"/api/v1/datacenters/{datacenter['id']}/approve", headers=market.operator["headers"])
        assert r.status_code == 200, r.text
        run_round(market)
        assert ray_head.requests and slurmrestd.requests  # approved: now it is checked


def _certificate(tmp_path, hostname: str):
    """A CA and a server certificate for ``hostname`` signed by it (PEM files), made with ``cryptography``."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def make(subject: str, issuer_key, issuer_name, key, *, ca: bool, san: str | None = None):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "suanli test CA")])
    ca = make("suanli test CA", ca_key, ca_name, ca_key, ca=True)
    cert = make(hostname, ca_key, ca_name, key, ca=False, san=hostname)
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


def test_a_pinned_https_request_still_verifies_the_endpoints_certificate(tmp_path, monkeypatch):
    """The connection goes to the checked address, but TLS's server name and the certificate check stay the
    endpoint's host: a certificate for another name is a TLS error."""
    import ssl

    import httpx

    monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.1/32")
    paths = _certificate(tmp_path, "ray.cluster.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(paths["cert"], paths["key"])
    client_context = ssl.create_default_context(cafile=str(paths["ca"]))
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host.endswith(".cluster.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with fake_server(RAY_VERSION, tls=server_context) as head:
        for host, expected in (("ray.cluster.test", None), ("other.cluster.test", "TLS error")):
            client = httpx.Client(base_url=f"https://{host}:{head.port}", timeout=3, follow_redirects=False,
                                  transport=outbound.PinnedTransport(kind="ray", verify=client_context))
            try:
                if expected is None:
                    assert client.get("/api/version").json()["ray_version"] == "2.60.0"
                    assert head.requests[-1][2] == f"{host}:{head.port}"
                else:
                    with pytest.raises(httpx.ConnectError) as caught:
                        client.get("/api/version")
                    assert outbound.failure_reason(caught.value) == expected
            finally:
                client.close()
    assert len(head.requests) == 1
