"""`suanli audit verify` and `suanli audit list` on the demo's database (SQLite, through the in-process API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from suanli.audit.models import AuditEntryRow
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from cli_helpers import OPERATOR, demo_home, flat, invoke


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-audit-home") as (path, _output):
        yield path


def test_verify_passes_on_the_intact_trail_and_names_the_first_tampered_entry(home: Path) -> None:
    assert invoke("login", OPERATOR, "--password", DEMO_PASSWORD).exit_code == 0
    with default_database().unit_of_work(write=False) as session:
        count = session.scalar(select(func.count()).select_from(AuditEntryRow))
    assert count >= 3  # the demo's accounts and top-ups were recorded
    result = invoke("audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"audit trail intact: {count:,} entries, head at {count}" in flat(result.output)

    listed = invoke("audit", "list", "--limit", "2", "--action", "money.topup")
    assert listed.exit_code == 0, listed.output
    assert "money.topup" in listed.output and "user.created" not in listed.output

    with default_database().unit_of_work() as session:
        session.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 2).values(target="organization:forged"))
    result = invoke("audit", "verify")
    assert result.exit_code == 1
    assert "audit trail broken at entry 2" in flat(result.output)
    as_json = invoke("audit", "verify", "--json")
    assert as_json.exit_code == 1 and '"first_broken_seq": 2' in as_json.output
