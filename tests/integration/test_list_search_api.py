"""The API's lists of jobs and machines are searched, sorted and paged as the console pages are: ``q`` (words each
of which must match), ``sort`` (a sort the list does not have is refused with the valid ones), ``limit`` and
``offset`` (echoed with the total), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from instance_helpers import add_key, keypair, machine_product
from jobs_helpers import submit
from trading_helpers import Market, checked_market


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield from checked_market(db, make)


def _get(market: Market, user: dict[str, Any], path: str, expect: int = 200) -> dict[str, Any]:
    r = market.client.get(path, headers=user["headers"])
    assert r.status_code == expect, r.text
    return r.json()


def test_jobs_are_searched_sorted_and_paged(market: Market) -> None:
    buyer, other = market.buyer(), market.buyer()
    for name in ("bert train", "alpha train", "resnet eval"):
        submit(market, buyer, name=name)
        market.clock.advance(60)
    submit(market, other, name="other train")  # another organization's: never in the buyer's list

    page = _get(market, buyer, "/api/v1/jobs?q=train&sort=name")
    assert [j["name"] for j in page["items"]] == ["alpha train", "bert train"]
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    assert [j["name"] for j in _get(market, buyer, "/api/v1/jobs?q=TRAIN+bert")["items"]] == ["bert train"]
    newest = [j["name"] for j in _get(market, buyer, "/api/v1/jobs")["items"]]
    assert newest == ["resnet eval", "alpha train", "bert train"]  # newest first, the default
    assert [j["name"] for j in _get(market, buyer, "/api/v1/jobs?sort=submitted")["items"]] == newest[::-1]
    second = _get(market, buyer, "/api/v1/jobs?sort=name&limit=1&offset=1")
    assert [j["name"] for j in second["items"]] == ["bert train"] and second["total"] == 3
    assert second["limit"] == 1 and second["offset"] == 1
    newest_id = _get(market, buyer, "/api/v1/jobs?limit=1")["items"][0]["id"]
    assert [j["id"] for j in _get(market, buyer, f"/api/v1/jobs?q={newest_id}")["items"]] == [newest_id]
    assert _get(market, buyer, "/api/v1/jobs?q=nothing-like-this")["total"] == 0
    assert _get(market, market.operator, "/api/v1/jobs?q=train")["total"] == 3  # the operator sees every one

    error = _get(market, buyer, "/api/v1/jobs?sort=price", expect=422)["error"]
    assert error["code"] == "invalid_sort" and error["details"]["valid_sort_fields"] == ["-submitted", "submitted",
                                                                                          "name"]
    assert _get(market, buyer, "/api/v1/jobs?q=" + "x" * 201, expect=422)["error"]["code"] == "validation_error"


def test_machines_are_searched_sorted_and_paged(market: Market, tmp_path: Path) -> None:
    buyer = market.buyer(10_000_000)
    add_key(market, buyer, keypair(tmp_path)[1])
    orders = []
    for name in ("A800 芜湖 container", "910B 庆阳 container"):
        _seller, product = machine_product(market, name=name)
        r = market.order(buyer, product, units=2, image="cuda-pytorch")
        assert r.status_code == 201, r.text
        orders.append(r.json()["id"])
        market.clock.advance(60)

    everything = _get(market, buyer, "/api/v1/instances")
    assert everything["total"] == 4 and [i["order_id"] for i in everything["items"]] == [orders[1]] * 2 + [orders[0]] * 2
    oldest = _get(market, buyer, "/api/v1/instances?sort=created")
    assert [i["order_id"] for i in oldest["items"]] == [orders[0]] * 2 + [orders[1]] * 2
    found = _get(market, buyer, "/api/v1/instances?q=庆阳")
    assert found["total"] == 2 and {i["order_id"] for i in found["items"]} == {orders[1]}
    assert _get(market, buyer, f"/api/v1/instances?q={orders[0]}")["total"] == 2  # by its order's id
    page = _get(market, buyer, "/api/v1/instances?sort=created&limit=1&offset=2")
    assert [i["order_id"] for i in page["items"]] == [orders[1]] and (page["total"], page["offset"]) == (4, 2)

    error = _get(market, buyer, "/api/v1/instances?sort=name", expect=422)["error"]
    assert error["code"] == "invalid_sort" and error["details"]["valid_sort_fields"] == ["-created", "created"]
