"""The seller's clusters on the data center page (TestClient, SQLite and PostgreSQL): a cluster on the platform's
network is refused with words that say what to do; disable, enable and delete are CSRF-protected buttons, delete
behind a confirmation; local clusters are not offered to sellers; what a cluster answers never shows."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from test_seller_pages import errors_of, seller_in

from suanli.config import CLUSTER_ALLOWED_NETWORKS
from suanli.web.i18n import ZH, gettext_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from fake_cluster import Answer, fake_server  # noqa: E402

zh = gettext_for(ZH)


def test_a_seller_manages_clusters_on_the_datacenter_page(web, make, client, monkeypatch):
    seller, datacenter = seller_in(web, make)
    page_url = f"/seller/datacenters/{datacenter['id']}"
    page = web.get(page_url).text
    assert 'value="local"' not in page and 'value="ray"' in page  # sellers do not register local clusters
    secret = "SECRET-" + uuid.uuid4().hex
    with fake_server(Answer(500, f"internal service says {secret}")) as internal:
        monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "")
        cluster = {"name": "ray-a", "kind": "ray", "endpoint": internal.url}
        r = web.post(f"{page_url}/clusters", cluster)
        assert r.status_code == 400
        assert errors_of(r.text) == {"endpoint": zh(
            "The platform may not send requests to this address (the platform's own machine, or a private or local "
            "network). Give the address where the platform reaches your cluster over the Internet, or ask the "
            "operator to allow your cluster's network.")}
        local = web.post(f"{page_url}/clusters", {"name": "l", "kind": "local", "endpoint": "/tmp/x"})
        assert local.status_code == 400 and zh("Only an operator may register a local cluster, which runs on the "
                                               "platform's own machine. Register your Slurm or Ray cluster by its "
                                               "URL.") in local.text
        assert internal.requests == []

        monkeypatch.setenv(CLUSTER_ALLOWED_NETWORKS, "127.0.0.0/8")
        web.get(page_url)
        r = web.post(f"{page_url}/clusters", cluster)
        assert r.status_code == 303, r.text[:2000]
        client.post("/api/v1/operator/scheduler/run", headers=make.user("operator")["headers"])
        assert internal.requests
    (listed,) = client.get(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=seller["headers"]).json()
    assert listed["health_detail"] == "HTTP 500"
    page = web.get(page_url).text
    assert secret not in page and "HTTP 500" in page
    action = f"{page_url}/clusters/{listed['id']}"
    assert f'action="{action}/disable"' in page and 'data-testid="confirm-delete-cluster"' in page

    assert web.post(f"{action}/disable", token="").status_code == 403  # no CSRF token: refused, nothing changes
    assert client.get(f"/api/v1/datacenters/{datacenter['id']}/clusters/{listed['id']}",
                      headers=seller["headers"]).json()["state"] == "active"
    r = web.post(f"{action}/disable")
    assert r.status_code == 303 and "notice=cluster_disabled" in r.headers["location"]
    page = web.get(r.headers["location"]).text
    assert zh("The cluster is disabled: no new jobs or machines start on it; what runs there goes on.") in page
    assert zh("Disabled") in page and f'action="{action}/enable"' in page
    r = web.post(f"{action}/enable")
    assert r.status_code == 303 and "notice=cluster_enabled" in r.headers["location"]
    web.get(page_url)
    r = web.post(f"{action}/delete")
    assert r.status_code == 303 and "notice=cluster_deleted" in r.headers["location"]
    page = web.get(r.headers["location"]).text
    assert zh("The cluster is deleted. Its products have no cluster now.") in page and "ray-a" not in page
    r = web.post(f"{action}/enable")
    assert r.status_code == 404 and zh("This data center has no such cluster.") in r.text


def test_another_sellers_cluster_cannot_be_changed(web, make, client):
    owner = make.user("seller")
    datacenter = make.datacenter(owner)
    operator = make.user("operator")
    r = client.post(f"/api/v1/datacenters/{datacenter['id']}/clusters", headers=operator["headers"],
                    json={"name": "local", "kind": "local", "endpoint": "/tmp/suanli-test-local"})
    assert r.status_code == 201, r.text
    cluster = r.json()
    seller_in(web, make)
    web.get("/seller")
    for action in ("disable", "enable", "delete"):
        r = web.post(f"/seller/datacenters/{datacenter['id']}/clusters/{cluster['id']}/{action}")
        assert r.status_code in (403, 404), (action, r.status_code)
    shown = client.get(f"/api/v1/datacenters/{datacenter['id']}/clusters/{cluster['id']}",
                       headers=owner["headers"]).json()
    assert shown["state"] == "active", json.dumps(shown)
