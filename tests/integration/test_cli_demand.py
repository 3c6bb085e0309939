"""`suanli demand`, `suanli price-history`, `suanli price-snapshot` and `suanli guidance` on the demo's database
(SQLite, through the in-process API): the demo's empty searches and price history, the planner, guidance prices
published and withdrawn by an operator and refused to a seller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_helpers import OPERATOR, SELLER, demo_home, flat, invoke
from suanli.demo import DEMO_PASSWORD


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-demand-home") as (path, _output):
        yield path


def test_a_seller_reads_demand_and_plans_capacity(home: Path) -> None:
    assert invoke("login", SELLER, "--password", DEMO_PASSWORD).exit_code == 0
    shown = invoke("demand", "show", "--days", "30")
    assert shown.exit_code == 0, shown.output
    text = flat(shown.output)
    assert "unmet demand by chip, last 30 days" in text and "searches that found nothing" in text
    assert "empty searches" in text  # the demo's searches for chips the network does not offer
    planned = invoke("demand", "plan", "--chip", "910B", "--province", "安徽", "--servers", "2", "--price", "9.50")
    assert planned.exit_code == 0, planned.output
    text = flat(planned.output)
    assert "2 × 8 ascend-910b in 安徽" in text and "revenue" in text and "placed with it" in text
    bad = invoke("demand", "plan", "--chip", "910B", "--province", "安徽", "--servers", "2", "--price", "nine")
    assert bad.exit_code == 1 and "--price" in flat(bad.output)
    unknown = invoke("demand", "plan", "--chip", "no-such", "--province", "安徽", "--servers", "2", "--price", "9")
    assert unknown.exit_code == 1 and "Unknown chip" in flat(unknown.output)
    refused = invoke("guidance", "set", "a800", "12")
    assert refused.exit_code == 1


def test_price_history_and_guidance_prices(home: Path) -> None:
    history = invoke("price-history", "--days", "30", "--chip", "910B")
    assert history.exit_code == 0, history.output
    assert "Huawei Ascend 910B" in history.output
    assert invoke("login", OPERATOR, "--password", DEMO_PASSWORD).exit_code == 0
    snapshot = invoke("price-snapshot")
    assert snapshot.exit_code == 0 and "price index of" in snapshot.output and "stored" in snapshot.output
    listed = invoke("guidance", "list")
    assert listed.exit_code == 0 and listed.output.count("±30 %") == 3  # the demo's
    published = invoke("guidance", "set", "A800", "12.00", "--band", "20", "--note", "测试")
    assert published.exit_code == 0, published.output
    assert "¥12.00 per accelerator-hour, listings outside ¥9.60–¥14.40 are flagged" in flat(published.output)
    assert "±20 %" in invoke("guidance", "list").output  # A800's (the demo published one: replaced)
    assert invoke("guidance", "withdraw", "a800").exit_code == 0
    assert "±20 %" not in invoke("guidance", "list").output
    again = invoke("guidance", "withdraw", "a800")
    assert again.exit_code == 1 and "guidance_not_found" in flat(again.output)
