"""`suanli login / wallet / order / invoices / topup / notifications` against the demo in a fresh SQLite home.

The demo is loaded once for the module by `suanli demo --no-serve`; the commands talk to the in-process API with
the real clock, so the tests compare with what the API says rather than with fixed charges.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import not_, or_, select

from suanli.accounts.models import User
from suanli.catalog.models import Product
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from suanli.trading.invoices import period_of
from cli_helpers import BUYER, OPERATOR, SELLER, demo_home, flat, invoke

@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-trading-home") as (path, output):
        assert "¥5,000.00 available" in flat(output)
        yield path


def login(email: str) -> None:
    result = invoke("login", email, "--password", DEMO_PASSWORD)
    assert result.exit_code == 0, result.output


def products(spot: bool = False, reserved: bool = False, machines: bool = False) -> list[Product]:
    """Visible products with stock, cheapest first. Without ``machines``: products that rent units only and start
    at once (batch capacity, storage); with it, products that deliver a machine per unit (provisioning until
    delivered). In the demo, batch capacity has spot prices and storage has reserved ones."""
    units_only = or_(Product.kind == "storage", Product.delivery == "batch")
    with default_database().unit_of_work(write=False) as session:
        query = select(Product).where(Product.is_visible.is_(True), Product.stock_units - Product.allocated_units >= 2,
                                      not_(units_only) if machines else units_only)
        if spot:
            query = query.where(Product.price_spot_floor_fen.is_not(None))
        if reserved:
            query = query.where(Product.price_reserved_month_fen.is_not(None))
        return list(session.scalars(query.order_by(Product.price_on_demand_fen).limit(5)))


def org_of(email: str) -> str:
    with default_database().unit_of_work(write=False) as session:
        return str(session.scalar(select(User.organization_id).where(User.email == email)))


def wallet_json() -> dict:
    result = invoke("wallet", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_login_stores_a_private_token_and_logout_forgets_it(home):
    result = invoke("login", BUYER, input=f"{DEMO_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    credentials = home / "credentials.json"
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    assert json.loads(credentials.read_text())["email"] == BUYER
    result = invoke("wallet")
    assert result.exit_code == 0 and "available" in result.output
    wrong = invoke("login", BUYER, "--password", "not-the-password")
    assert wrong.exit_code == 1
    assert invoke("logout").exit_code == 0
    assert not credentials.exists()
    result = invoke("wallet")
    assert result.exit_code == 1 and "suanli login" in flat(result.output)


def test_suanli_token_wins_over_the_stored_login(home, monkeypatch):
    login(BUYER)
    monkeypatch.setenv("SUANLI_TOKEN", "not-a-token")
    assert invoke("wallet").exit_code == 1
    monkeypatch.delenv("SUANLI_TOKEN")
    assert invoke("wallet").exit_code == 0


def test_buyer_rents_reserves_bids_releases_and_reads_the_invoice(home):
    login(BUYER)
    start = wallet_json()["available"]["fen"]
    assert start > 0
    product = products(spot=True)[0]

    # the price first: what is frozen at once and the total for a day, then the order freezes exactly that
    quoted = invoke("order", "quote", str(product.id), "--units", "1", "--hours", "24")
    assert quoted.exit_code == 0, quoted.output
    text = flat(quoted.output)
    assert "frozen at once (the first hour)" in text and "total for 24 hours" in text
    quote = json.loads(invoke("order", "quote", str(product.id), "--hours", "24", "--json").stdout)
    assert quote["total"]["fen"] == product.price_on_demand_fen * 24
    low_quote = invoke("order", "quote", str(product.id), "--mode", "spot", "--bid", "0.01")
    assert low_quote.exit_code == 1 and "floor" in flat(low_quote.output)

    placed = invoke("order", "place", str(product.id), "--mode", "on_demand", "--units", "1", "--json")
    assert placed.exit_code == 0, placed.output
    on_demand = json.loads(placed.stdout)
    assert on_demand["status"] == "active" and on_demand["held"]["fen"] == product.price_on_demand_fen
    assert on_demand["held"] == quote["frozen_now"]

    # A machine is billed from delivery: until then the order is provisioning, one hour held, nothing charged,
    # and releasing it costs nothing. The CLI names the image it chose on stderr, so --json stays parseable.
    machine = products(machines=True)[0]
    ordered = invoke("order", "place", str(machine.id), "--json")
    assert ordered.exit_code == 0, ordered.output
    assert "choose another with --image" in flat(ordered.stderr)
    provisioning = json.loads(ordered.stdout)
    assert provisioning["status"] == "provisioning" and provisioning["delivers_instances"] is True
    assert provisioning["held"]["fen"] == machine.price_on_demand_fen and provisioning["charged"]["fen"] == 0
    assert invoke("order", "release", provisioning["id"]).exit_code == 0

    floor = product.price_spot_floor_fen
    bid = f"{floor / 100 + 0.01:.2f}"
    spot = invoke("order", "place", str(product.id), "--mode", "spot", "--bid", bid, "--json")
    assert spot.exit_code == 0, spot.output
    assert json.loads(spot.stdout)["unit_price"]["fen"] == floor + 1
    too_fine = invoke("order", "place", str(product.id), "--mode", "spot", "--bid", "12.345")
    assert too_fine.exit_code == 1 and "two decimal places" in flat(too_fine.output)
    low = invoke("order", "place", str(product.id), "--mode", "spot", "--bid", "0.01")
    assert low.exit_code == 1 and "floor" in flat(low.output)

    listing = invoke("order", "list")
    assert listing.exit_code == 0 and on_demand["id"] in listing.output
    shown = invoke("order", "show", on_demand["id"])
    assert shown.exit_code == 0 and "start" in shown.output

    released = invoke("order", "release", on_demand["id"])
    assert released.exit_code == 0, released.output
    cancelled = invoke("order", "cancel", json.loads(spot.stdout)["id"])
    assert cancelled.exit_code == 0 and "nothing charged" in cancelled.output

    storage = products(reserved=True)[0]
    monthly = storage.price_reserved_month_fen
    if monthly <= wallet_json()["available"]["fen"]:
        reserved = invoke("order", "place", str(storage.id), "--mode", "reserved", "--term-months", "1", "--json")
        assert reserved.exit_code == 0, reserved.output
        assert json.loads(reserved.stdout)["charged"]["fen"] == monthly
    with default_database().unit_of_work(write=False) as session:
        dear = session.scalar(select(Product).where(Product.is_visible.is_(True),
                                                    Product.price_reserved_month_fen.is_not(None),
                                                    Product.stock_units > Product.allocated_units)
                              .order_by(Product.price_reserved_month_fen.desc()).limit(1))
    broke = invoke("order", "place", str(dear.id), "--mode", "reserved", "--term-months", "12")
    assert broke.exit_code == 1
    assert "your wallet has ¥" in flat(broke.output) and "Top up" in flat(broke.output)

    spent = start - wallet_json()["available"]["fen"]
    period = period_of(datetime.now(UTC))
    listed = invoke("invoices", "--json")
    assert [i["period"] for i in json.loads(listed.output)] == [period]
    detail = json.loads(invoke("invoices", "--period", period, "--json").output)
    assert sum(line["amount"]["fen"] for line in detail["lines"]) == detail["totals"]["charges"]["fen"] == spent
    table = invoke("invoices", "--period", period)
    assert table.exit_code == 0 and "topup" in table.output and "demo-initial-topup" in table.output
    topup_at = next(t for t in detail["topups"] if t["reference"] == "demo-initial-topup")["at"]
    beijing = datetime.fromisoformat(topup_at).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    assert "statement" in table.output and beijing in table.output  # Beijing time, as the title says
    rows = json.loads(invoke("ledger", "--json", "--limit", "500").output)
    assert rows["items"][0]["balance"]["fen"] == wallet_json()["available"]["fen"] + wallet_json()["held"]["fen"]
    shown = invoke("ledger", "--limit", "5")
    assert shown.exit_code == 0 and "ledger (" in shown.output
    assert f"¥{rows['items'][0]['balance']['cny']}" in shown.output and rows["items"][-1]["kind"] == "topup"
    target = home / "invoice.csv"
    written = invoke("invoices", "--period", period, "--csv", str(target))
    assert written.exit_code == 0, written.output
    content = target.read_bytes()
    charged = {line["product_name"] for line in detail["lines"] if line["amount"]["fen"]}
    assert charged and all(name in content.decode("utf-8-sig") for name in charged)
    assert content.startswith(b"\xef\xbb\xbf")
    assert invoke("invoices", "--csv", str(target)).exit_code == 1  # needs --period

    login(SELLER)
    assert "receivable" in invoke("wallet").output
    earned = invoke("revenue")
    assert earned.exit_code == 0 and "commission" in earned.output and "receivable" in earned.output
    assert json.loads(invoke("revenue", "--json", "--period", period).output)["period"] == period
    login(BUYER)
    assert invoke("revenue").exit_code == 1  # sellers only
    login(SELLER)
    assert invoke("notifications").exit_code == 0


def test_operator_tops_up_in_cny(home):
    login(OPERATOR)
    org = org_of(BUYER)
    reference = f"bank-{uuid.uuid4().hex[:8]}"
    result = invoke("topup", org, "100.50", "--reference", reference)
    assert result.exit_code == 0, result.output
    assert "¥100.50" in result.output
    again = invoke("topup", org, "100.50", "--reference", reference)
    assert again.exit_code == 0 and "nothing changed" in flat(again.output)
    assert invoke("topup", org, "1.001", "--reference", "x-1").exit_code == 1
    assert invoke("topup", org, "0", "--reference", "x-2").exit_code == 1
    login(BUYER)
    denied = invoke("topup", org, "5", "--reference", "x-3")
    assert denied.exit_code == 1 and "operator" in flat(denied.output)


def test_buyer_extends_a_reserved_order(home):
    with default_database().unit_of_work(write=False) as session:
        product = session.scalar(select(Product).where(Product.is_visible.is_(True), Product.kind == "storage",
                                                       Product.price_reserved_month_fen.is_not(None),
                                                       Product.stock_units - Product.allocated_units >= 2)
                                 .order_by(Product.price_reserved_month_fen).limit(1))
    monthly = product.price_reserved_month_fen
    login(OPERATOR)
    topped = invoke("topup", org_of(BUYER), f"{monthly * 3 / 100:.2f}", "--reference", f"cli-ext-{uuid.uuid4().hex}")
    assert topped.exit_code == 0, topped.output
    login(BUYER)
    placed = invoke("order", "place", str(product.id), "--mode", "reserved", "--term-months", "1", "--json")
    assert placed.exit_code == 0, placed.output
    order = json.loads(placed.stdout)
    extended = invoke("order", "extend", order["id"], "--months", "1", "--json")
    assert extended.exit_code == 0, extended.output
    data = json.loads(extended.stdout)
    assert data["term_months"] == 2 and data["charged"]["fen"] == 2 * monthly
    shown = invoke("order", "extend", order["id"], "--months", "1")
    assert shown.exit_code == 0 and "now 3 months" in flat(shown.output)
    bad = invoke("order", "extend", order["id"], "--months", "2")
    assert bad.exit_code == 1 and "1, 3, 6 or 12" in flat(bad.output)
    on_demand = json.loads(invoke("order", "place", str(product.id), "--mode", "on_demand", "--json").stdout)
    refused = invoke("order", "extend", on_demand["id"], "--months", "1")
    assert refused.exit_code == 1 and "release" in flat(refused.output)
    assert invoke("order", "release", on_demand["id"]).exit_code == 0
