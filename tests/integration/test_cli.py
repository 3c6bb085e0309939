"""The `suanli` command line against a fresh SQLite database (SUANLI_HOME in a temporary directory).

The demo network is loaded once for the module; the tests read it, and the few that change it
(user create, seed) compare with the database rather than with fixed numbers.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from suanli.accounts.models import Organization, Role, User
from suanli.catalog.models import ChipModel, Datacenter, DatacenterStatus, Platform, Product
from suanli.cli import main as cli_main
from suanli.core.chips import load_chip_table
from suanli.db import Database, default_database
from suanli.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from suanli.trading.service import order_figures
from cli_helpers import flat, forget_database, invoke, use_home

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass(frozen=True)
class Demo:
    home: Path
    output: str  # what `suanli demo --no-serve` printed


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A data directory with the demo network loaded by `suanli demo --no-serve`, shared by the module."""
    path = tmp_path_factory.mktemp("suanli-home")
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, path, fast_passwords=True)  # argon2id at its cheapest: the same code path, faster
        result = invoke("demo", "--no-serve")
        assert result.exit_code == 0, result.output
        yield Demo(path, result.output)
        forget_database()


@pytest.fixture
def database(demo: Demo) -> Database:
    database = default_database()
    assert database.url == f"sqlite:///{demo.home / 'suanli.db'}"  # never a developer's own database
    return database


def counts(database: Database) -> dict[str, int]:
    with database.unit_of_work() as session:
        dcs = dict(session.execute(select(Datacenter.status, func.count()).group_by(Datacenter.status)).all())
        listed, accelerators = session.execute(
            select(func.count(), func.coalesce(func.sum(Product.accelerators * Product.stock_units), 0))
            .where(Product.is_visible.is_(True))).one()
        orgs = dict(session.execute(select(Organization.kind, func.count()).group_by(Organization.kind)).all())
        return {
            "datacenters_connected": dcs.get(DatacenterStatus.APPROVED, 0),
            "datacenters_pending": dcs.get(DatacenterStatus.PENDING, 0),
            "products_listed": listed,
            "accelerators_listed": int(accelerators),
            "buyers": orgs.get(Role.BUYER, 0),
            "sellers": orgs.get(Role.SELLER, 0),
            "products": session.scalar(select(func.count()).select_from(Product)),
            "datacenters": session.scalar(select(func.count()).select_from(Datacenter)),
        }


# ---------------------------------------------------------------- database and demo

def test_db_upgrade_on_a_fresh_home(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)
    try:
        result = invoke("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert f"{len(load_chip_table())} chip models" in result.output
        assert (tmp_path / "suanli.db").is_file()
        again = invoke("db", "upgrade")  # idempotent
        assert again.exit_code == 0, again.output
        with default_database().unit_of_work() as session:
            assert session.scalar(select(func.count()).select_from(ChipModel)) == len(load_chip_table())
            assert session.scalar(select(func.count()).select_from(Platform)) == 1
            assert session.scalar(select(func.count()).select_from(Product)) == 0
    finally:
        forget_database()


def test_demo_loads_the_network_and_prints_the_accounts(demo, database):
    output = demo.output
    match = re.search(r"demo network: (\d+) data centers, (\d+) products", output)
    assert match, output
    dcs, products = int(match.group(1)), int(match.group(2))
    assert dcs >= 27 and products >= 1000
    for account in DEMO_ACCOUNTS:
        assert account.email in output
    assert DEMO_PASSWORD in output
    assert str(demo.home) in flat(output)
    now = counts(database)
    assert now["datacenters"] == dcs and now["products"] >= products
    assert now["datacenters_pending"] >= 1  # the operator has something to approve
    # the demo accounts can log in, with their roles
    with database.unit_of_work() as session:
        roles = {u.email: u.role for u in session.scalars(select(User))}
    assert {a.email: a.role for a in DEMO_ACCOUNTS}.items() <= roles.items()


def test_demo_again_does_not_reload(demo, database):
    before = counts(database)
    result = invoke("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "not reloaded" in result.output
    assert "demo network:" not in result.output
    assert all(a.email in result.output for a in DEMO_ACCOUNTS)
    assert counts(database) == before


# ---------------------------------------------------------------- catalog commands

def test_search_prints_a_table_with_prices(demo, database):
    result = invoke("search", "chip=A800 accelerators>=8 sort=price")
    assert result.exit_code == 0, result.output
    with database.unit_of_work() as session:
        prices = sorted(session.scalars(select(Product.price_on_demand_fen).where(
            Product.is_visible.is_(True), Product.chip_key == "a800", Product.accelerators >= 8)))
    assert prices, "the demo has 8-card A800 nodes"
    assert f"{len(prices)} products match" in result.output
    shown = [int(m.replace(".", "").replace(",", "")) for m in re.findall(r"¥([\d,]+\.\d\d)", result.output)]
    # the cheapest nodes are the ones shown (the first 20, sorted by price)
    assert set(prices[:20]) <= set(shown), (prices[:20], shown)
    assert "a800" in result.output and "h800" not in result.output


def test_search_ids_fit_a_narrow_terminal_and_name_real_products(demo, database, monkeypatch):
    for width, inline in ((80, False), (160, True)):
        monkeypatch.setattr(cli_main.console, "_width", width)
        result = invoke("search", "delivery=container sort=price", "--limit", "3", "--ids")
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]  # no wraps
        found = re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", result.output)
        assert len(found) == 3
        with database.unit_of_work() as session:
            rows = session.execute(select(Product.id, Product.delivery).where(
                Product.id.in_([uuid.UUID(i) for i in found]))).all()
        assert len(rows) == 3 and {str(d) for _, d in rows} == {"container"}
        # narrow: numbered rows with the ids listed under the table; wide: an id column
        assert any(re.fullmatch(rf"\s+1\s+{found[0]}", line) for line in lines) is not inline


def test_search_json(demo, database):
    result = invoke("search", "--json", "chip=910B sort=-price_per_pflops", "--limit", "5")
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert set(page) == {"items", "next_cursor", "total", "total_exact", "understood"} and page["total_exact"] is True
    assert page["understood"]["query"] == "chip=910B sort=-price_per_pflops"
    with database.unit_of_work() as session:
        total = session.scalar(select(func.count()).select_from(Product).where(
            Product.is_visible.is_(True), Product.chip_key == "ascend-910b"))
    assert page["total"] == total > 5
    assert len(page["items"]) == 5 and page["next_cursor"]
    assert {i["chip"]["key"] for i in page["items"]} == {"ascend-910b"}
    ppp = [i["prices"]["per_fp16_pflops_hour"]["fen"] for i in page["items"]]
    assert ppp == sorted(ppp, reverse=True)


def test_search_understands_words_and_says_how(demo, database):
    result = invoke("search", "昇腾 910B 8卡 安徽", "--limit", "100")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "understood as: chip=ascend-910b accelerators>=8 province=安徽" in text
    assert "昇腾 910B → chip=ascend-910b" in text and "8卡 → accelerators>=8" in text
    with database.unit_of_work() as session:
        total = session.scalar(select(func.count()).select_from(Product).where(
            Product.is_visible.is_(True), Product.chip_key == "ascend-910b", Product.accelerators >= 8,
            Product.province == "安徽"))
    assert total and f"{total} products match" in text
    result = invoke("search", "A800 zzqx")
    assert result.exit_code != 0 and "Cannot understand 'zzqx' at position 5" in flat(result.output)


def test_search_with_an_unknown_field_fails_with_the_valid_fields(demo):
    result = invoke("search", "chipp=1")
    assert result.exit_code != 0
    text = flat(result.output)
    assert "Unknown field 'chipp'" in text
    assert "chip" in text and "unknown_field" in text
    assert "chip, vendor, ecosystem" in text  # the valid fields are listed
    assert "Traceback" not in result.output


def test_search_with_a_bad_value_lists_the_valid_values(demo):
    result = invoke("search", "delivery=teleport")
    assert result.exit_code != 0
    text = flat(result.output)
    assert "teleport" in text and "bare_metal" in text and "invalid_value" in text


def test_search_fields_lists_the_query_language(demo):
    result = invoke("search", "--fields")
    assert result.exit_code == 0
    for name in ("chip", "price_per_pflops", "province", "available", "Sort fields"):
        assert name in result.output


def test_chips(demo):
    result = invoke("chips")
    assert result.exit_code == 0, result.output
    assert "a800" in result.output and "ascend-910b" in result.output
    rows = json.loads(invoke("chips", "--json").stdout)
    assert [r["key"] for r in rows] == list(load_chip_table())
    a800 = next(r for r in rows if r["key"] == "a800")
    assert (a800["fp16_tflops"], a800["memory_gib"], a800["ecosystem"]) == (312, 80, "cuda")


def test_price_index_json(demo, database):
    result = invoke("price-index", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unit"] == "on-demand CNY per accelerator-hour"
    rows = data["rows"]
    with database.unit_of_work() as session:
        per_chip = dict(session.execute(
            select(Product.chip_key, func.count()).where(Product.is_visible.is_(True),
                                                         Product.price_per_accel_hour_fen.is_not(None))
            .group_by(Product.chip_key)).all())
        a800_min, a800_max = session.execute(
            select(func.min(Product.price_per_accel_hour_fen), func.max(Product.price_per_accel_hour_fen))
            .where(Product.is_visible.is_(True), Product.chip_key == "a800")).one()
    assert {r["chip"]: r["count"] for r in rows} == per_chip
    for r in rows:
        values = [r[k]["fen"] for k in ("min", "q1", "median", "q3", "max")]
        assert values == sorted(values), r
        assert r["province"] is None
    a800 = json.loads(invoke("price-index", "--json", "--chip", "A800").stdout)["rows"]
    assert [r["chip"] for r in a800] == ["a800"]
    assert (a800[0]["min"]["fen"], a800[0]["max"]["fen"]) == (a800_min, a800_max)
    by_province = json.loads(invoke("price-index", "--json", "--by-province", "--chip", "a800").stdout)["rows"]
    assert sum(r["count"] for r in by_province) == per_chip["a800"]
    assert all(r["province"] for r in by_province)
    table = invoke("price-index")
    assert table.exit_code == 0 and "¥" in table.output
    bad = invoke("price-index", "--chip", "b200")
    assert bad.exit_code != 0 and "a800" in bad.output


def test_stats_json_matches_the_database(demo, database):
    result = invoke("stats", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = counts(database)
    assert {k: v for k, v in data.items() if k in expected} == {k: v for k, v in expected.items() if k in data}
    assert set(data) == {"datacenters_connected", "datacenters_pending", "products_listed", "accelerators_listed",
                         "buyers", "sellers", "orders", "gmv"}
    with database.unit_of_work(write=False) as session:
        orders, gmv = order_figures(session)
    assert orders >= 200 and gmv > 0  # the demo's 30 days of market history
    assert data["orders"] == orders and data["gmv"] == {"fen": gmv, "cny": f"{gmv // 100}.{gmv % 100:02d}"}
    assert data["products_listed"] >= 1000 and data["sellers"] >= 1 and data["buyers"] >= 1


# ---------------------------------------------------------------- users

def test_user_create_operator_who_approves_a_datacenter(demo, database):
    result = invoke("user", "create", "op@x.cn", "--role", "operator", "--password", "op-password-1")
    assert result.exit_code == 0, result.output
    assert "op@x.cn" in result.output
    with database.unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == "op@x.cn"))
        assert user.role is Role.OPERATOR
        pending = session.scalar(select(Datacenter.id).where(Datacenter.status == DatacenterStatus.PENDING))
    assert pending is not None

    from suanli.app import create_app

    client = TestClient(create_app(database))
    token = client.post("/api/v1/auth/token", data={"username": "op@x.cn", "password": "op-password-1"})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).json()["role"] == "operator"
    listed_before = counts(database)["products_listed"]
    r = client.post(f"/api/v1/datacenters/{pending}/approve", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    with database.unit_of_work() as session:
        waiting = session.scalar(select(func.count()).select_from(Product).where(Product.datacenter_id == pending))
    assert counts(database)["products_listed"] == listed_before + waiting
    # a wrong password is still refused
    assert client.post("/api/v1/auth/token", data={"username": "op@x.cn", "password": "nope-nope"}).status_code == 401


@pytest.mark.parametrize("args,message", [
    (("bad@x.cn", "--role", "admin", "--password", "long-enough"), "Unknown role"),
    (("short@x.cn", "--role", "buyer", "--password", "short"), "weak_password"),
    (("buyer@demo.suanli.cn", "--role", "buyer", "--password", "long-enough"), "email_taken"),
])
def test_user_create_refuses_bad_input(demo, database, args, message):
    before = counts(database)
    result = invoke("user", "create", *args)
    assert result.exit_code != 0
    assert message in flat(result.output)
    assert "Traceback" not in result.output
    with database.unit_of_work() as session:
        users = session.scalar(select(func.count()).select_from(User).where(User.email == args[0]))
    assert users == (1 if args[0] == "buyer@demo.suanli.cn" else 0)
    assert counts(database) == before


def test_user_create_seller_gets_its_own_organization(demo, database):
    result = invoke("user", "create", "seller2@x.cn", "--role", "seller", "--org", "新卖家公司", "--password",
                    "seller-password")
    assert result.exit_code == 0, result.output
    with database.unit_of_work() as session:
        user = session.scalar(select(User).where(User.email == "seller2@x.cn"))
        assert user.role is Role.SELLER and user.organization.name == "新卖家公司"
        assert user.organization.kind is Role.SELLER


# ---------------------------------------------------------------- seed

def test_seed_adds_exactly_the_products_asked_for(demo, database):
    before = counts(database)
    result = invoke("seed", "--datacenters", "5", "--products", "200", "--seed", "3")
    assert result.exit_code == 0, result.output
    after = counts(database)
    assert after["products"] - before["products"] == 200
    assert "200 products" in result.output
    assert 0 <= after["datacenters"] - before["datacenters"] <= 5
    # seeded products are searchable like any other
    stats = json.loads(invoke("stats", "--json").stdout)
    assert stats["products_listed"] == after["products_listed"]
