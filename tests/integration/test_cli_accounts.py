"""`suanli logout / password / user reset-password` in a fresh SQLite home: logging out revokes the token on the
server, a password change revokes the other logins, an operator's reset forces a new password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.cli.client import ApiClient, ApiError
from cli_helpers import flat, forget_database, invoke, use_home

OPERATOR, BUYER = "ops@example.cn", "li.lei@example.cn"
FIRST, SECOND, THIRD = "grey-river-lantern", "seven-quiet-harbors", "amber-tulip-orbit"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, tmp_path, fast_passwords=True)
        assert invoke("db", "upgrade").exit_code == 0
        for email, role in ((OPERATOR, "operator"), (BUYER, "buyer")):
            result = invoke("user", "create", email, "--role", role, "--password", FIRST)
            assert result.exit_code == 0, result.output
        yield tmp_path
        forget_database()


def stored_token(home: Path) -> str:
    return json.loads((home / "credentials.json").read_text())["token"]


def token_works(token: str) -> bool:
    try:
        ApiClient(token=token).get("/api/v1/auth/me")
    except ApiError as exc:
        assert exc.status == 401
        return False
    return True


def test_logout_revokes_the_token_on_the_server(home):
    assert invoke("login", BUYER, "--password", FIRST).exit_code == 0
    token = stored_token(home)
    assert token_works(token)
    result = invoke("logout")
    assert result.exit_code == 0 and "revoked" in result.output
    assert not (home / "credentials.json").exists()
    assert not token_works(token)  # a copy of the file is worth nothing now
    assert invoke("logout").exit_code == 0  # nothing stored: says so, no error


def test_common_passwords_are_refused_by_user_create(home):
    result = invoke("user", "create", "wang@example.cn", "--password", "password")
    assert result.exit_code == 1 and "common_password" in flat(result.output)


def test_password_change_revokes_the_other_logins(home):
    assert invoke("login", BUYER, "--password", FIRST).exit_code == 0
    elsewhere = ApiClient(anonymous=True).request("POST", "/api/v1/auth/token",
                                                  data={"username": BUYER, "password": FIRST})["access_token"]
    wrong = invoke("password", input=f"not-my-password\n{SECOND}\n{SECOND}\n")
    assert wrong.exit_code == 1 and "current password is wrong" in flat(wrong.output)
    result = invoke("password", input=f"{FIRST}\n{SECOND}\n{SECOND}\n")
    assert result.exit_code == 0, result.output
    assert "1 other logins" in flat(result.output)
    assert token_works(stored_token(home)) and not token_works(elsewhere)
    assert invoke("login", BUYER, "--password", FIRST).exit_code == 1
    assert invoke("login", BUYER, "--password", SECOND).exit_code == 0


def test_an_operator_reset_forces_a_new_password(home):
    assert invoke("login", BUYER, "--password", FIRST).exit_code == 0
    buyer_token = stored_token(home)
    assert invoke("login", OPERATOR, "--password", FIRST).exit_code == 0
    result = invoke("user", "reset-password", BUYER)
    assert result.exit_code == 0, result.output
    one_time = flat(result.output).split("one-time password ")[1].split(" ")[0]
    assert len(one_time) == 16 and not token_works(buyer_token)
    refused = invoke("login", BUYER, "--password", one_time)
    assert refused.exit_code == 1 and "password_change_required" in flat(refused.output)
    assert invoke("logout").exit_code == 0
    changed = invoke("password", "--email", BUYER, input=f"{one_time}\n{THIRD}\n{THIRD}\n")
    assert changed.exit_code == 0, changed.output
    assert token_works(stored_token(home))  # logged in with the new password
    assert invoke("login", BUYER, "--password", one_time).exit_code == 1
    assert invoke("login", BUYER, "--password", THIRD).exit_code == 0
