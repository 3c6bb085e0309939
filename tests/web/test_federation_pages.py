"""The catalog page shows the offers pulled from federated platforms: origin, region, price (exact or band) and
freshness, in both languages; offers of a suspended peer are not shown."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from suanli.catalog.models import Platform
from suanli.db import Database
from suanli.federation.models import FederationPeer, RemoteOffer
from suanli.ids import new_id
from web_support import WebClient


def _peer_with_offers(db: Database) -> Platform:
    with db.unit_of_work() as session:
        platform = Platform(id=new_id(), name="贵州算力平台", province="贵州", base_url="https://gz.example.cn")
        session.add(platform)
        session.flush()
        session.add(FederationPeer(platform_id=platform.id, scopes="catalog"))
        synced = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=7)
        for n, (chip, exact, low, high) in enumerate([("a800", 5800, 5800, 5800), ("a800", None, 5000, 10000),
                                                      ("h100", 9000, 9000, 9000)]):
            cid = f"cid:{platform.id}/{new_id()}/{new_id()}"
            offer = {"cid": cid, "name": f"{chip.upper()} ×8 #{n}", "datacenter": "贵安一号" if exact else None,
                     "province": "贵州", "city": "贵安", "kind": "accelerator", "chip": chip, "accelerators": 8,
                     "vcpus": 96, "memory_gib": 1024, "delivery": "bare_metal", "available_units": 3,
                     "price_exact_fen": exact, "price_low_fen": low, "price_high_fen": high}
            session.add(RemoteOffer(cid=cid, platform_id=platform.id, province="贵州", chip=chip, accelerators=8,
                                    price_low_fen=low, available_units=3, offer=offer, source_seq=n + 1,
                                    changed_at=synced, synced_at=synced))
        return platform


def test_the_catalog_shows_remote_offers_with_origin_price_and_freshness(web: WebClient, db: Database):
    assert 'data-testid="remote-offers"' not in web.get("/catalog").text  # no peer: no section
    platform = _peer_with_offers(db)
    page = web.get("/catalog?chip=a800").text
    assert "来自互联平台" in page and page.count('data-testid="remote-offer"') == 2  # the H100 is filtered out
    assert "贵州算力平台" in page and "¥58.00" in page and "¥50.00–¥100.00" in page and "7 分钟前" in page
    assert page.index("¥50.00–¥100.00") < page.index("¥58.00")  # cheapest first (by the band's low end)
    english = web.get("/catalog?lang=en").text
    assert "From federated platforms" in english and "7 min ago" in english
    assert english.count('data-testid="remote-offer"') == 3
    with db.unit_of_work() as session:
        session.execute(update(FederationPeer).where(FederationPeer.platform_id == platform.id)
                        .values(status="suspended"))
    assert 'data-testid="remote-offer"' not in web.get("/catalog").text
