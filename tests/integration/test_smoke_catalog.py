def test_health(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_seller_lists_product_after_approval(client, make):
    seller = make.user("seller")
    dc = make.datacenter(seller, approved=False)
    product = make.product(seller, dc)
    assert product["listed"] is False
    assert client.get("/api/v1/products").json()["total"] == 0
    op = make.user("operator")
    r = client.post(f"/api/v1/datacenters/{dc['id']}/approve", headers=op["headers"])
    assert r.status_code == 200, r.text
    page = client.get("/api/v1/products").json()
    assert page["total"] == 1
    assert page["items"][0]["id"] == product["id"]
