"""What the API shows of a job to whom, and what a cluster's credentials look like at rest (SQLite and PostgreSQL).

A job's command, script and environment may carry secrets: only its buyer sees them; the seller whose data center
runs it (and an operator) sees the job without them, and cannot read its logs. Cluster credentials are never shown,
and are stored encrypted.
"""

from __future__ import annotations

import json
import uuid

from jobs_helpers import get_job, register_cluster, submit, wait_job
from sqlalchemy import text
from test_jobs_api import market, site  # noqa: F401  (the market fixture and a seller's local cluster)


def test_a_sellers_view_of_a_job_in_its_data_center_hides_its_command_and_environment(market, tmp_path):  # noqa: F811
    seller, _product, _cluster = site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    secret = "s3cr3t-" + uuid.uuid4().hex
    job = submit(market, buyer, command=f"echo token={secret}; curl -H 'Authorization: {secret}' x || true",
                 env={"API_TOKEN": secret, "PLAIN": "visible-to-buyer"})
    assert job["command"].startswith("echo token=") and job["env"]["API_TOKEN"] == secret and not job["redacted"]
    wait_job(market, buyer, job["id"], {"succeeded", "failed"})

    # the buyer sees everything, including the logs that echo the secret
    mine = get_job(market, buyer, job["id"])
    assert mine["env"] == {"API_TOKEN": secret, "PLAIN": "visible-to-buyer"} and mine["redacted"] is False
    logs = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=buyer["headers"])
    assert logs.status_code == 200 and f"token={secret}" in logs.json()["logs"]

    # the seller sees the job (its placement, resources, state) but none of the secrets
    for viewer in (seller, market.operator):
        one = market.client.get(f"/api/v1/jobs/{job['id']}", headers=viewer["headers"])
        listed = market.client.get("/api/v1/jobs", headers=viewer["headers"])
        for r in (one, listed):
            assert r.status_code == 200, r.text
            assert secret not in r.text
        shown = one.json()
        assert shown["redacted"] is True and shown["placement"]["product_id"] == _product["id"]
        assert shown["command"] == "(hidden)" and shown["script"] is None
        assert shown["env"] == {"API_TOKEN": "(hidden)", "PLAIN": "(hidden)"}
        assert any(item["id"] == job["id"] and item["redacted"] for item in listed.json()["items"])
        denied = market.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=viewer["headers"])
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "logs_owner_only"
        assert secret not in denied.text


def test_a_script_job_is_hidden_from_the_seller_too(market, tmp_path):  # noqa: F811
    seller, _product, _cluster = site(market, tmp_path)
    buyer = market.buyer(topup_fen=100_000)
    secret = "script-secret-" + uuid.uuid4().hex
    job = submit(market, buyer, command=None, script=f"#!/bin/sh\nexport KEY={secret}\necho done\n")
    wait_job(market, buyer, job["id"], {"succeeded", "failed"})
    r = market.client.get(f"/api/v1/jobs/{job['id']}", headers=seller["headers"])
    assert r.status_code == 200 and secret not in r.text
    assert r.json()["script"] == "(hidden)" and r.json()["command"] is None
    assert get_job(market, buyer, job["id"])["script"].endswith("echo done\n")


def test_cluster_credentials_are_encrypted_in_the_database_and_still_reach_the_backend(market, tmp_path):  # noqa: F811
    from suanli.jobs.models import Cluster
    from suanli.jobs.service import make_backend

    seller, product = market.seller_with_product()
    secret = "SLURM-JWT-" + uuid.uuid4().hex
    cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], "http://127.0.0.1:9",
                               kind="slurm", credentials={"user": "suanli", "token": secret},
                               options={"timeout": 1})
    assert cluster["has_credentials"] is True and secret not in str(cluster)
    with market.db.engine.connect() as connection:
        stored = connection.execute(text("SELECT credentials FROM clusters WHERE id = :id"),
                                    {"id": uuid.UUID(cluster["id"]) if market.db.url.startswith("postgresql")
                                     else uuid.UUID(cluster["id"]).hex}).scalar_one()
    assert secret not in str(stored) and "suanli" not in str(stored)  # neither the token nor the user name
    sealed = json.loads(stored) if isinstance(stored, str) else stored
    assert list(sealed) == ["fernet"] and sealed["fernet"].startswith("gAAAAA")  # a Fernet token
    with market.db.unit_of_work(write=False) as session:
        row = session.get(Cluster, uuid.UUID(cluster["id"]))
        assert row.credentials == {"user": "suanli", "token": secret}
        backend = make_backend(row)  # the decrypted token goes to slurmrestd in its JWT headers
        try:
            assert backend._http.headers["X-SLURM-USER-TOKEN"] == secret
            assert backend._http.headers["X-SLURM-USER-NAME"] == "suanli"
        finally:
            backend.close()


def test_a_key_rotation_rewrites_every_clusters_credentials(market, monkeypatch):  # noqa: F811
    from suanli.jobs import credentials
    from suanli.jobs.models import Cluster

    old, new = credentials.new_key(), credentials.new_key()
    monkeypatch.setenv("SUANLI_SECRET_KEY", old)
    credentials.reset_cipher()
    try:
        seller, product = market.seller_with_product()
        cluster = register_cluster(market, seller, product["datacenter"]["id"], [product], "http://127.0.0.1:9",
                                   kind="slurm", credentials={"user": "suanli", "token": "jwt-1"},
                                   options={"timeout": 1})
        monkeypatch.setenv("SUANLI_SECRET_KEY", f"{new},{old}")
        credentials.reset_cipher()
        with market.db.unit_of_work() as session:
            assert credentials.reencrypt_all(session) >= 1
        monkeypatch.setenv("SUANLI_SECRET_KEY", new)  # the old key retired
        credentials.reset_cipher()
        with market.db.unit_of_work(write=False) as session:
            assert session.get(Cluster, uuid.UUID(cluster["id"])).credentials == {"user": "suanli", "token": "jwt-1"}
    finally:
        monkeypatch.undo()
        credentials.reset_cipher()
