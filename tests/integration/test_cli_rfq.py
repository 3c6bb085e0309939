"""`suanli rfq ...` against the demo in a fresh SQLite home: a buyer posts a request, the demo seller sees it
without the buyer and quotes pre-sale capacity, the buyer accepts it, both see the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from suanli.accounts.models import User
from suanli.catalog.models import Datacenter, DatacenterStatus
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from cli_helpers import BUYER, SELLER, demo_home, flat, invoke


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-rfq-home") as (path, _output):
        yield path


def login(email: str) -> None:
    result = invoke("login", email, "--password", DEMO_PASSWORD)
    assert result.exit_code == 0, result.output


def sellers_datacenter() -> tuple[str, str]:
    with default_database().unit_of_work(write=False) as session:
        org = session.scalar(select(User.organization_id).where(User.email == SELLER))
        dc = session.scalars(select(Datacenter).where(Datacenter.owner_org_id == org,
                                                      Datacenter.status == DatacenterStatus.APPROVED)).first()
        assert dc is not None
        return str(dc.id), dc.region.province


def test_buyer_posts_seller_quotes_pre_sale_buyer_accepts(home):
    datacenter_id, province = sellers_datacenter()
    now = datetime.now(UTC).replace(microsecond=0)
    earliest, latest = now + timedelta(days=10), now + timedelta(days=20)
    login(BUYER)
    held_before = json.loads(invoke("wallet", "--json").stdout)["held"]["fen"]
    posted = invoke("rfq", "post", "训练集群 16 卡", "--units", "2", "--chip", "A800", "--accelerators", "8",
                    "--earliest-start", earliest.isoformat(), "--latest-start", latest.isoformat(),
                    "--max-price", "10", "--mode", "on_demand", "--term-hours", "24", "--province", province,
                    "--json")
    assert posted.exit_code == 0, posted.output
    request = json.loads(posted.stdout)
    assert request["budget"]["fen"] == 1000 * 2 * 24
    assert json.loads(invoke("wallet", "--json").stdout)["held"]["fen"] == held_before + 1000 * 2 * 24
    listed = invoke("rfq", "list")
    assert listed.exit_code == 0 and request["id"] in flat(listed.output)
    too_dear = invoke("rfq", "post", "x", "--units", "1", "--chip", "A800", "--earliest-start", earliest.isoformat(),
                      "--latest-start", latest.isoformat(), "--max-price", "99999999")
    assert too_dear.exit_code == 1 and "Top up" in flat(too_dear.output)

    login(SELLER)
    seen = invoke("rfq", "open", "--json")
    assert seen.exit_code == 0, seen.output
    mine = next(r for r in json.loads(seen.stdout)["items"] if r["id"] == request["id"])
    assert mine["buyer_org_id"] is None and mine["budget"] is None
    start = now + timedelta(days=12)
    refused = invoke("rfq", "quote", request["id"], "--datacenter", datacenter_id, "--chip", "a800", "--price",
                     "11", "--start-at", start.isoformat(), "--deliver-by", (start - timedelta(days=1)).isoformat())
    assert refused.exit_code == 1 and "price_above_maximum" in flat(refused.output)
    quoted = invoke("rfq", "quote", request["id"], "--datacenter", datacenter_id, "--chip", "a800", "--price",
                    "9.5", "--start-at", start.isoformat(), "--deliver-by", (start - timedelta(days=1)).isoformat(),
                    "--penalty", "50", "--json")
    assert quoted.exit_code == 0, quoted.output
    quote = json.loads(quoted.stdout)
    assert quote["presale"] is True and quote["penalty"]["fen"] == 5000

    login(BUYER)
    shown = invoke("rfq", "show", request["id"])
    assert shown.exit_code == 0 and "¥9.50" in flat(shown.output), shown.output
    accepted = invoke("rfq", "accept", request["id"], quote["id"], "--json")
    assert accepted.exit_code == 0, accepted.output
    contract = json.loads(accepted.stdout)
    assert contract["status"] == "awaiting_delivery" and contract["deposit"]["fen"] == 950 * 2 * 24
    assert json.loads(invoke("wallet", "--json").stdout)["held"]["fen"] == held_before + 950 * 2 * 24
    login(SELLER)
    contracts = invoke("rfq", "contracts")
    assert contracts.exit_code == 0 and contract["id"][:8] in flat(contracts.output)
