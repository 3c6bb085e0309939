"""The log-in, registration and password pages against guessing and lookalikes, in Chinese by default; list
pages with absurd offsets; the security headers on pages."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher
from suanli.accounts import security
from suanli.accounts.models import AuthThrottle
from suanli.db import utcnow
from support import PASSWORD
from web_support import WebClient


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_guessing_on_the_login_page_is_throttled_with_a_chinese_message(web: WebClient, make):
    buyer = make.user("buyer")
    web.get("/login")
    statuses = [web.post("/login", {"email": buyer["email"], "password": f"guess-{i}"}).status_code
                for i in range(7)]
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]
    r = web.post("/login", {"email": buyer["email"], "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "尝试次数过多，请等待" in r.text and "秒后再试" in r.text
    r = web.get("/login?lang=en")
    r = web.post("/login?lang=en", {"email": buyer["email"], "password": PASSWORD})
    assert r.status_code == 429 and "Too many attempts. Wait" in r.text


def test_the_owner_logs_in_from_a_known_address_while_the_account_is_attacked(web: WebClient, make, db):
    buyer = make.user("buyer")  # logged in once through the API, from this same test address
    with db.unit_of_work() as session:  # as if 20 guesses from elsewhere had blocked the account
        session.add(AuthThrottle(key=f"account:{buyer['email']}", failures=20,
                                 blocked_until=utcnow() + dt.timedelta(minutes=10)))
    assert web.login(buyer["email"], PASSWORD).status_code == 303


def test_a_lookalike_email_cannot_register_twice(web: WebClient, make):
    buyer = make.user("buyer")
    web.get("/register")
    local, domain = buyer["email"].split("@")
    r = web.post("/register", {"email": local.upper() + "\u200b@" + domain, "password": "quiet-harbor-lamp",
                               "display_name": "李雷", "organization_name": "仿冒公司", "role": "buyer"})
    assert r.status_code == 400 and "该邮箱已注册" in r.text
    r = web.post("/register", {"email": "buyеr@example.cn", "password": "quiet-harbor-lamp",
                               "display_name": "李雷", "organization_name": "仿冒公司 2", "role": "buyer"})
    assert r.status_code == 400 and "字母" in r.text
    r = web.post("/register", {"email": "new-person@example.cn", "password": "12345678",
                               "display_name": "李雷", "organization_name": "仿冒公司 3", "role": "buyer"})
    assert r.status_code == 400 and "最常见的密码" in r.text


def test_the_password_page_changes_the_password_after_an_operator_reset(web: WebClient, make, client):
    operator, buyer = make.user("operator"), make.user("buyer")
    one_time = client.post("/api/v1/operator/password-resets", json={"email": buyer["email"]},
                           headers=operator["headers"]).json()["one_time_password"]
    web.get("/login")
    r = web.post("/login", {"email": buyer["email"], "password": one_time})
    assert r.status_code == 400 and "运营方已重置您的密码" in r.text
    web.get("/password")
    r = web.post("/password", {"email": buyer["email"], "current_password": one_time,
                               "new_password": "lantern-over-water"})
    assert r.status_code == 303 and "suanli_session=" in r.headers["set-cookie"]
    assert web.get("/account", follow_redirects=False).status_code == 200
    assert client.post("/api/v1/auth/token", data={"username": buyer["email"],
                                                   "password": "lantern-over-water"}).status_code == 200


@pytest.mark.parametrize("path", ["/account", "/account/orders", "/account/jobs"])
def test_list_pages_refuse_absurd_offsets(web: WebClient, make, path):
    buyer = make.user("buyer")
    web.login(buyer["email"], PASSWORD)
    r = web.get(path, params={"offset": "9223372036854775808"})
    assert 400 <= r.status_code < 500, (path, r.status_code)


def test_pages_cannot_be_framed(web: WebClient):
    r = web.get("/login")
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
