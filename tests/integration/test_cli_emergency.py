"""`suanli emergency ...` against the demo in a fresh SQLite home: the operator declares an emergency paid by the
demo buyer's organization, follows its progress in Rich tables, ends it; refusals print the API's message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from suanli.accounts.models import User
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from cli_helpers import BUYER, OPERATOR, demo_home, flat, invoke


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-emergency-home") as (path, _output):
        yield path


def login(email: str) -> None:
    result = invoke("login", email, "--password", DEMO_PASSWORD)
    assert result.exit_code == 0, result.output


def buyer_org() -> str:
    with default_database().unit_of_work(write=False) as session:
        return str(session.scalar(select(User.organization_id).where(User.email == BUYER)))


def test_operator_declares_follows_and_ends_an_emergency(home):
    payer = buyer_org()
    login(OPERATOR)
    declared = invoke("emergency", "declare", "台风路径预报", "--accelerators", "8", "--hours", "6", "--rate", "2.5",
                      "--payer", payer, "--chip", "A800", "--json")
    assert declared.exit_code == 0, declared.output
    em = json.loads(declared.stdout)
    assert em["planned"] == 8 and em["assembled"] == 8 and em["by_stage"]["free"] == 8
    assert em["compensation_per_accel_hour"]["fen"] == 250
    shown = invoke("emergency", "show", em["id"])
    assert shown.exit_code == 0, shown.output
    text = flat(shown.output)
    assert "progress" in text and "8/8" in text and "free" in text
    listed = invoke("emergency", "list")
    assert listed.exit_code == 0 and em["id"][:8] in flat(listed.output)
    bad = invoke("emergency", "declare", "x", "--accelerators", "8", "--hours", "1", "--rate", "1", "--payer",
                 payer, "--chip", "H9000")
    assert bad.exit_code == 1 and "Unknown chip" in flat(bad.output)
    ended = invoke("emergency", "end", em["id"])
    assert ended.exit_code == 0 and "ended" in flat(ended.output)
    again = invoke("emergency", "end", em["id"])
    assert again.exit_code == 1 and "already ended" in flat(again.output)

    login(BUYER)
    offers = invoke("emergency", "offers", "--json")
    assert offers.exit_code == 0 and json.loads(offers.stdout) == []
    refused = invoke("emergency", "accept", "00000000-0000-0000-0000-000000000001")
    assert refused.exit_code == 1 and "no emergency offer" in flat(refused.output)
