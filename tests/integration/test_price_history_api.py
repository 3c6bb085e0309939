"""Price transparency over HTTP (SQLite and PostgreSQL): daily snapshots of the price index, guidance prices
published by operators (audited) and listings outside their band flagged in search results and product pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trading_helpers import Market, new_market, quick_user


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    yield new_market(db, make)


def three_910b(market: Market) -> tuple[dict, list[dict]]:
    """8×910B servers at ¥64, ¥80 and ¥96 an hour: ¥8, ¥10 and ¥12 per accelerator-hour."""
    seller = quick_user(market.db, "seller")
    dc = market.make.datacenter(seller)
    return seller, [market.make.product(seller, dc, chip="ascend-910b", price_on_demand_fen=fen,
                                        price_reserved_month_fen=None, price_spot_floor_fen=None)
                    for fen in (6400, 8000, 9600)]


def test_snapshots_are_taken_per_day_and_replaced_the_same_day(market):
    seller, products = three_910b(market)
    op = market.operator["headers"]
    r = market.client.post("/api/v1/operator/price-index/snapshots", headers=op)
    assert r.status_code == 200, r.text
    assert r.json() == {"day": "2026-11-28", "chips": 1}
    # the next day the dearest is repriced; the day's snapshot taken twice keeps the last figures only
    market.clock.advance(86_400)
    assert market.client.patch(f"/api/v1/products/{products[2]['id']}", headers=seller["headers"],
                               json={"price_on_demand_fen": 16000}).status_code == 200
    market.client.post("/api/v1/operator/price-index/snapshots", headers=op)
    assert market.client.post("/api/v1/operator/price-index/snapshots", headers=op).json()["day"] == "2026-11-29"
    history = market.client.get("/api/v1/price-index/history", params={"days": 7}).json()
    assert history["unit"] == "on-demand CNY per accelerator-hour"
    [chip] = history["chips"]
    assert chip["chip"] == "ascend-910b"
    assert [(p["day"], p["count"], p["median"]["fen"], p["max"]["fen"]) for p in chip["points"]] == [
        ("2026-11-28", 3, 1000, 1200), ("2026-11-29", 3, 1000, 2000)]
    assert market.client.get("/api/v1/price-index/history", params={"days": 1}).json()["chips"][0]["points"][0][
        "day"] == "2026-11-29"
    assert market.client.get("/api/v1/price-index/history", params={"chip": "A800"}).json()["chips"] == []
    assert market.client.get("/api/v1/price-index/history", params={"chip": "nope"}).status_code == 400
    assert market.client.get("/api/v1/price-index/history", params={"days": 0}).status_code == 422
    assert market.client.post("/api/v1/operator/price-index/snapshots",
                              headers=seller["headers"]).status_code == 403


def test_the_server_loop_takes_one_snapshot_a_day_by_itself(market):
    """What ``suanli serve``'s periodic loop does: today's snapshot once (an operator's earlier one counts), the
    next day's at the first run of that day."""
    from suanli.catalog.price_history import snapshot_if_missing

    three_910b(market)
    with market.db.unit_of_work() as session:
        assert snapshot_if_missing(session, market.clock.now()) is True
    with market.db.unit_of_work() as session:
        assert snapshot_if_missing(session, market.clock.now()) is False
    market.clock.advance(86_400)
    assert market.client.post("/api/v1/operator/price-index/snapshots",
                              headers=market.operator["headers"]).json()["day"] == "2026-11-29"
    with market.db.unit_of_work() as session:
        assert snapshot_if_missing(session, market.clock.now()) is False
    market.clock.advance(86_400)
    with market.db.unit_of_work() as session:
        assert snapshot_if_missing(session, market.clock.now()) is True
    days = [p["day"] for p in market.client.get("/api/v1/price-index/history", params={"days": 7}).json()["chips"][0][
        "points"]]
    assert days == ["2026-11-28", "2026-11-29", "2026-11-30"]


def test_guidance_price_flags_listings_outside_its_band_and_is_audited(market):
    _seller, products = three_910b(market)
    op = market.operator["headers"]
    r = market.client.put("/api/v1/operator/guidance-prices/910B", headers=op,
                          json={"price_fen": 1000, "band_pct": 15, "note": "2026 Q4"})
    assert r.status_code == 200, r.text
    g = r.json()
    assert (g["chip"], g["band_pct"], g["low"]["fen"], g["high"]["fen"]) == ("ascend-910b", 15, 850, 1150)
    assert market.client.get("/api/v1/guidance-prices").json() == [g]

    found = market.client.get("/api/v1/products", params={"chip": "910B", "sort": "price"}).json()["items"]
    flags = [(p["prices"]["guidance"]["outside"], p["prices"]["guidance"]["deviation_pct"]) for p in found]
    assert flags == [("below", "-20.0"), (None, "0.0"), ("above", "20.0")]
    page = market.client.get(f"/api/v1/products/{products[1]['id']}").json()
    assert page["prices"]["guidance"]["guidance_per_accelerator_hour"]["fen"] == 1000
    # the band's edges are near: ¥8.50 and ¥11.50 per accelerator-hour are not flagged, a fen beyond is
    market.client.put("/api/v1/operator/guidance-prices/ascend-910b", headers=op,
                      json={"price_fen": 1000, "band_pct": 20})
    found = market.client.get("/api/v1/products", params={"chip": "910B", "sort": "price"}).json()["items"]
    assert [p["prices"]["guidance"]["outside"] for p in found] == [None, None, None]

    audit = market.client.get("/api/v1/operator/audit", headers=op, params={"action": "guidance.published"}).json()
    assert [e["details"]["band_pct"] for e in audit["items"]] == [20, 15]
    assert audit["items"][0]["details"]["before"] == {"chip": "ascend-910b", "price_fen": 1000, "band_pct": 15}

    assert market.client.delete("/api/v1/operator/guidance-prices/910B", headers=op).status_code == 204
    assert market.client.get("/api/v1/guidance-prices").json() == []
    assert market.client.get(f"/api/v1/products/{products[1]['id']}").json()["prices"]["guidance"] is None
    r = market.client.delete("/api/v1/operator/guidance-prices/910B", headers=op)
    assert r.status_code == 404 and r.json()["error"]["code"] == "guidance_not_found"


def test_guidance_prices_refuse_bad_input_and_other_roles(market):
    op = market.operator["headers"]
    seller = quick_user(market.db, "seller")
    for body in ({"price_fen": 0}, {"price_fen": 1000, "band_pct": 0}, {"price_fen": 1000, "band_pct": 96},
                 {"price_fen": "¥10"}, {"price_fen": 1000, "colour": "red"}, {}):
        r = market.client.put("/api/v1/operator/guidance-prices/a800", headers=op, json=body)
        assert r.status_code == 422, (body, r.text)
    r = market.client.put("/api/v1/operator/guidance-prices/no-such-chip", headers=op, json={"price_fen": 1000})
    assert r.status_code == 404 and r.json()["error"]["code"] == "chip_not_found"
    assert market.client.put("/api/v1/operator/guidance-prices/a800", headers=seller["headers"],
                             json={"price_fen": 1000}).status_code == 403
    assert market.client.put("/api/v1/operator/guidance-prices/a800", json={"price_fen": 1000}).status_code == 401
