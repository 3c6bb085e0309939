"""Accounts over HTTP: registration, login tokens, /me, API keys, and how passwords are stored."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select, update

from suanli.accounts import security
from suanli.accounts.models import AccessToken, Organization, TokenKind, User

PASSWORD = "correct-horse-battery"
REAL_HASHER = security._hasher


@pytest.fixture(autouse=True)
def _fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same algorithm (argon2id) and code path, cheap parameters; the real ones are checked below."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def register(client, email: str | None = None, *, role: str = "buyer", org: str | None = None,
             password: str = PASSWORD, **extra):
    body = {"email": email or f"u-{uuid.uuid4().hex[:8]}@example.cn", "password": password,
            "display_name": "测试 用户", "organization_name": org or f"org {uuid.uuid4().hex[:8]}", "role": role}
    body.update(extra)
    return client.post("/api/v1/auth/register", json=body)


def login(client, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": email, "password": password})


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def new_user(client, role: str = "buyer") -> tuple[str, dict[str, str]]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.cn"
    assert register(client, email, role=role).status_code == 201
    r = login(client, email)
    assert r.status_code == 200, r.text
    return email, bearer(r.json()["access_token"])


# ---------------------------------------------------------------- register

@pytest.mark.parametrize("role", ["buyer", "seller"])
def test_register_returns_the_user_in_a_new_organization(client, role):
    r = register(client, "  Li.Lei@Example.CN ", role=role, org="  芜湖 某某 科技  ", display_name="李雷")
    assert r.status_code == 201, r.text
    user = r.json()
    assert set(user) == {"id", "email", "display_name", "role", "organization", "created_at"}
    uuid.UUID(user["id"])
    assert user["email"] == "li.lei@example.cn"  # stripped, lower-cased
    assert user["display_name"] == "李雷"
    assert user["role"] == role
    assert user["organization"]["name"] == "芜湖 某某 科技"
    assert user["organization"]["kind"] == role
    assert "password" not in r.text and PASSWORD not in r.text
    created = dt.datetime.fromisoformat(user["created_at"])
    assert created.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)


def test_operator_cannot_register_through_the_api(client, db):
    err = error(register(client, "op@example.cn", role="operator"), 422, "validation_error")
    assert [e["field"] for e in err["details"]["errors"]] == ["role"]
    with db.unit_of_work() as session:
        assert session.scalar(select(User).where(User.email == "op@example.cn")) is None


@pytest.mark.parametrize("role", ["admin", "", "BUYER"])
def test_register_rejects_unknown_roles(client, role):
    err = error(register(client, role=role), 422, "validation_error")
    assert "role" in [e["field"] for e in err["details"]["errors"]]


def test_duplicate_email_is_409_email_taken(client, db):
    assert register(client, "same@example.cn").status_code == 201
    err = error(register(client, "SAME@example.cn", org="another org"), 409, "email_taken")
    assert "same@example.cn" in err["message"]
    with db.unit_of_work() as session:  # the failed registration left no organization behind
        assert session.scalar(select(Organization).where(Organization.name == "another org")) is None


def test_duplicate_organization_name_is_409_organization_exists(client, db):
    assert register(client, "first@example.cn", org="合肥算力公司", role="seller").status_code == 201
    error(register(client, "second@example.cn", org="合肥算力公司", role="seller"), 409, "organization_exists")
    error(register(client, "third@example.cn", org="合肥算力公司", role="buyer"), 409, "organization_exists")
    with db.unit_of_work() as session:
        assert session.scalar(select(User).where(User.email == "second@example.cn")) is None


@pytest.mark.parametrize("password", ["", "1234567", "short"])
def test_short_password_is_422_naming_the_field(client, password):
    err = error(register(client, password=password), 422, "validation_error")
    assert [e["field"] for e in err["details"]["errors"]] == ["password"]
    assert "password" in err["message"]


def test_password_of_exactly_8_characters_is_accepted(client):
    email = "eight@example.cn"
    assert register(client, email, password="tk7-pq2z").status_code == 201
    assert login(client, email, "tk7-pq2z").status_code == 200


@pytest.mark.parametrize("field,value", [("email", "not-an-email"), ("email", "a@b"), ("display_name", "   "),
                                         ("organization_name", ""), ("password", "x" * 129)])
def test_register_field_validation(client, field, value):
    err = error(register(client, **{field: value}), 422, "validation_error")
    assert field in [e["field"] for e in err["details"]["errors"]]


def test_register_rejects_unknown_fields(client):
    err = error(register(client, is_admin=True), 422, "validation_error")
    assert "is_admin" in [e["field"] for e in err["details"]["errors"]]


# ---------------------------------------------------------------- login tokens and /me

def test_token_flow_and_me(client):
    assert register(client, "flow@example.cn", role="seller", org="流程测试").status_code == 201
    r = login(client, "FLOW@example.cn")  # the email is matched case-insensitively
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 12 * 3600
    assert token["access_token"].startswith("sl_")
    me = client.get("/api/v1/auth/me", headers=bearer(token["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "flow@example.cn"
    assert me.json()["role"] == "seller"
    assert me.json()["organization"]["name"] == "流程测试"


def test_each_login_gives_a_distinct_token_and_both_work(client):
    email, headers = new_user(client)
    second = login(client, email).json()["access_token"]
    assert headers["Authorization"] != f"Bearer {second}"
    for h in (headers, bearer(second)):
        assert client.get("/api/v1/auth/me", headers=h).json()["email"] == email


def test_token_is_form_encoded_not_json(client):
    email, _ = new_user(client)
    r = client.post("/api/v1/auth/token", json={"username": email, "password": PASSWORD})
    err = error(r, 422, "validation_error")
    assert {"username", "password"} <= {e["field"] for e in err["details"]["errors"]}


@pytest.mark.parametrize("who", ["wrong password", "unknown email"])
def test_wrong_credentials_are_401_with_www_authenticate(client, who):
    email, _ = new_user(client)
    r = login(client, email, "wrong-password") if who == "wrong password" else login(client, "nobody@example.cn")
    error(r, 401, "invalid_credentials")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "access_token" not in r.text


def test_disabled_account_cannot_log_in_and_its_tokens_stop_working(client, db):
    email, headers = new_user(client)
    with db.unit_of_work() as session:
        session.execute(update(User).where(User.email == email).values(is_active=False))
    error(login(client, email), 401, "invalid_credentials")
    error(client.get("/api/v1/auth/me", headers=headers), 401, "account_disabled")


def test_me_without_token_is_401_not_authenticated(client):
    r = client.get("/api/v1/auth/me")
    error(r, 401, "not_authenticated")
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("secret", ["garbage", "sl_" + "A" * 43, "sl_"])
def test_me_with_garbage_token_is_401_invalid_token(client, secret):
    r = client.get("/api/v1/auth/me", headers=bearer(secret))
    error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_non_bearer_scheme_is_not_authenticated(client):
    _, headers = new_user(client)
    secret = headers["Authorization"].split()[1]
    error(client.get("/api/v1/auth/me", headers={"Authorization": f"Basic {secret}"}), 401, "not_authenticated")


def test_expired_token_is_401_token_expired(client, db):
    email, headers = new_user(client)
    secret = headers["Authorization"].split()[1]
    with db.unit_of_work() as session:
        token = session.scalar(select(AccessToken).where(AccessToken.token_hash == security.secret_hash(secret)))
        assert token.kind is TokenKind.LOGIN
        # it was issued with the configured lifetime
        assert abs(token.expires_at - (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12))) < dt.timedelta(minutes=5)
        token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    r = client.get("/api/v1/auth/me", headers=headers)
    error(r, 401, "token_expired")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    # A fresh login works again.
    fresh = login(client, email).json()["access_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(fresh)).status_code == 200


def test_token_is_stored_only_as_a_hash(client, db):
    _, headers = new_user(client)
    secret = headers["Authorization"].split()[1]
    with db.unit_of_work() as session:
        tokens = list(session.scalars(select(AccessToken)))
    assert len(tokens) == 1
    assert tokens[0].token_hash == security.secret_hash(secret) != secret
    assert secret not in {tokens[0].token_hash, tokens[0].prefix, tokens[0].name}
    assert secret.startswith(tokens[0].prefix)


# ---------------------------------------------------------------- API keys

def test_api_key_lifecycle(client, db):
    email, headers = new_user(client, "seller")
    r = client.post("/api/v1/auth/api-keys", headers=headers, json={"name": "ci runner"})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("sl_") and len(key) > 40
    assert created["name"] == "ci runner"
    assert key.startswith(created["prefix"]) and created["prefix"] != key
    assert created["revoked_at"] is None

    # The key works as a bearer token.
    me = client.get("/api/v1/auth/me", headers=bearer(key))
    assert me.status_code == 200 and me.json()["email"] == email

    # Listing never shows the secret.
    listed = client.get("/api/v1/auth/api-keys", headers=headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [created["id"]]
    assert "key" not in listed.json()[0]
    assert key not in listed.text
    # The API key can list itself too (it is a full credential).
    assert [k["id"] for k in client.get("/api/v1/auth/api-keys", headers=bearer(key)).json()] == [created["id"]]

    # Nor is the secret stored.
    with db.unit_of_work() as session:
        stored = session.get_one(AccessToken, uuid.UUID(created["id"]))
        assert stored.kind is TokenKind.API_KEY and stored.expires_at is None
        assert stored.token_hash == security.secret_hash(key)

    # Revoke -> 401 with it, the login token still works, the list shows it revoked.
    r = client.delete(f"/api/v1/auth/api-keys/{created['id']}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    error(client.get("/api/v1/auth/me", headers=bearer(key)), 401, "invalid_token")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    [row] = client.get("/api/v1/auth/api-keys", headers=headers).json()
    assert row["revoked_at"] is not None

    # Revoking twice is harmless and keeps the first revocation time.
    again = client.delete(f"/api/v1/auth/api-keys/{created['id']}", headers=headers)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == r.json()["revoked_at"]


def test_api_keys_are_distinct_and_listed_in_creation_order(client):
    _, headers = new_user(client)
    made = [client.post("/api/v1/auth/api-keys", headers=headers, json={"name": f"key {i}"}).json()
            for i in range(3)]
    assert len({k["key"] for k in made}) == 3
    listed = client.get("/api/v1/auth/api-keys", headers=headers).json()
    assert [k["name"] for k in listed] == ["key 0", "key 1", "key 2"]
    # login tokens are not API keys
    assert all(k["name"] != "login" for k in listed)


def test_revoking_another_users_key_is_404_and_leaves_it_working(client):
    _, alice = new_user(client)
    _, bob = new_user(client)
    key = client.post("/api/v1/auth/api-keys", headers=alice, json={"name": "alice's"}).json()
    error(client.delete(f"/api/v1/auth/api-keys/{key['id']}", headers=bob), 404, "api_key_not_found")
    assert client.get("/api/v1/auth/me", headers=bearer(key["key"])).status_code == 200
    assert client.get("/api/v1/auth/api-keys", headers=bob).json() == []


def test_revoking_an_unknown_key_or_a_login_token_is_404(client, db):
    _, headers = new_user(client)
    error(client.delete(f"/api/v1/auth/api-keys/{uuid.uuid4()}", headers=headers), 404, "api_key_not_found")
    with db.unit_of_work() as session:
        login_token_id = session.scalar(select(AccessToken.id).where(AccessToken.kind == TokenKind.LOGIN))
    error(client.delete(f"/api/v1/auth/api-keys/{login_token_id}", headers=headers), 404, "api_key_not_found")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200


def test_api_keys_need_a_login(client):
    error(client.post("/api/v1/auth/api-keys", json={"name": "x"}), 401, "not_authenticated")
    error(client.get("/api/v1/auth/api-keys"), 401, "not_authenticated")
    error(client.delete(f"/api/v1/auth/api-keys/{uuid.uuid4()}"), 401, "not_authenticated")


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101},
                                  {"name": "k", "scope": "all"}])
def test_api_key_create_validation(client, body):
    _, headers = new_user(client)
    error(client.post("/api/v1/auth/api-keys", headers=headers, json=body), 422, "validation_error")
    assert client.get("/api/v1/auth/api-keys", headers=headers).json() == []


# ---------------------------------------------------------------- password storage

def test_password_is_stored_as_an_argon2id_hash(client, db, monkeypatch):
    monkeypatch.setattr(security, "_hasher", REAL_HASHER)  # the production parameters, not the test ones
    assert register(client, "hash@example.cn").status_code == 201
    with db.unit_of_work() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == "hash@example.cn"))
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$")
    params = extract_parameters(stored)
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2  # at least OWASP's argon2id minimum
    assert security.verify_password(stored, PASSWORD)
    assert not security.verify_password(stored, PASSWORD + "x")


def test_same_password_gives_different_hashes(client, db):
    for email in ("salt1@example.cn", "salt2@example.cn"):
        assert register(client, email).status_code == 201
    with db.unit_of_work() as session:
        hashes = list(session.scalars(select(User.password_hash)))
    assert len(hashes) == 2 and hashes[0] != hashes[1]
