"""Logging in and changing a password, in three steps each, so the slow password check holds no write lock:

1. a read-only unit of work: is this account and address blocked (``throttle.py``)? which user, which hash?
2. no transaction at all: verify the password (argon2id, ~tens of ms) — against a dummy hash when the email is
   unknown, so known and unknown emails take the same time;
3. a short write unit of work: count the failure, or reset the count and issue the token / store the new hash.

These manage their own units of work (like a request does), so the HTTP endpoints and the web pages call them
instead of taking the request's session.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.audit.service import set_request_context
from suanli.accounts import service
from suanli.accounts.emails import lookup_form
from suanli.accounts.models import User
from suanli.accounts.passwords import check_new_password
from suanli.accounts.security import hash_password, verify_against_nothing, verify_password
from suanli.accounts.throttle import LoginKeys, check_login_allowed, record_failure, record_success
from suanli.db import Database, utcnow
from suanli.errors import Forbidden, InvalidInput, NotAuthenticated

WRONG = "Wrong email or password."


@dataclass(frozen=True)
class _Stored:
    user_id: uuid.UUID
    email: str
    display_name: str
    password_hash: str
    usable: bool


def _password_matches(stored: _Stored | None, password: str) -> bool:
    if stored is None:
        return verify_against_nothing(password)
    return verify_password(stored.password_hash, password) and stored.usable


def _stored(user: User | None) -> _Stored | None:
    if user is None:
        return None
    return _Stored(user.id, user.email, user.display_name, user.password_hash, user.is_active)


def _count(session: Session, keys: LoginKeys, matched: _Stored | None) -> User | None:
    """Step 3's bookkeeping: a failure counted (None), or the count reset and the user loaded for writing."""
    if matched is None:
        record_failure(session, keys, utcnow())
        return None
    record_success(session, keys, utcnow())
    return session.get_one(User, matched.user_id)


def _reset_required() -> Forbidden:
    return Forbidden("An operator reset your password: choose a new one before you log in, with "
                     "POST /api/v1/auth/password (your email, the one-time password as current_password, and a "
                     "new_password), `suanli password`, or the page /password.", code="password_change_required")


def log_in(database: Database, *, email: str, password: str, address: str, ttl: dt.timedelta,
           previous_secret: str | None = None) -> tuple[User, str]:
    """The user and a new login token for this email and password; ``previous_secret`` (a web session being
    replaced) is revoked. Raises 429 ``too_many_attempts``, 401 ``invalid_credentials`` or 403
    ``password_change_required``."""
    lookup = lookup_form(email)
    keys = LoginKeys.of(lookup, address)
    with database.unit_of_work(write=False) as session:
        check_login_allowed(session, keys, utcnow())
        stored = _stored(session.scalar(select(User).where(User.email == lookup)))
    ok = _password_matches(stored, password)
    must_change = False
    with database.unit_of_work() as session:
        user = _count(session, keys, stored if ok else None)
        if user is not None:
            must_change = user.must_change_password
            if not must_change:
                secret, _token = service.issue_login_token(session, user, ttl)
                if previous_secret:
                    service.revoke_login_token(session, previous_secret)
    if not ok:
        raise NotAuthenticated(WRONG, code="invalid_credentials")
    if must_change:
        raise _reset_required()
    return user, secret


@dataclass(frozen=True)
class PasswordChanged:
    revoked_tokens: int
    token: str | None  # a new login token when the change was made without one (after an operator's reset)


def change_password(database: Database, *, current_password: str, new_password: str, address: str,
                    ttl: dt.timedelta, token_secret: str | None = None, email: str | None = None) -> PasswordChanged:
    """Replace the password of the caller (``token_secret``) or of ``email`` (no token: after an operator's reset)
    once ``current_password`` is right; every other token of the user is revoked. Throttled like logging in."""
    with database.unit_of_work(write=False) as session:
        if token_secret is not None:
            token = service.valid_token(session, token_secret)
            keep_token_id, stored = token.id, _stored(token.user)
        elif email:
            keep_token_id, stored = None, _stored(session.scalar(select(User).where(User.email == lookup_form(email))))
        else:
            raise NotAuthenticated("Log in first (send 'Authorization: Bearer <token>'), or send your email with "
                                   "the one-time password an operator gave you.", code="not_authenticated")
        keys = LoginKeys.of(stored.email if stored else lookup_form(email or ""), address)
        check_login_allowed(session, keys, utcnow())
    if new_password == current_password:
        raise InvalidInput("The new password is the same as the current one; choose another.",
                           code="password_unchanged", details={"field": "new_password"})
    ok = _password_matches(stored, current_password)
    if ok:  # the policy speaks of the account (its email, its name): only to whoever knows the password
        check_new_password(new_password, email=stored.email, display_name=stored.display_name)
        new_hash = hash_password(new_password)
    with database.unit_of_work() as session:
        user = _count(session, keys, stored if ok else None)
        if user is not None:
            set_request_context(session, actor=user, address=address)
            revoked = service.set_password(session, user, new_hash, keep_token_id=keep_token_id)
            secret = None if keep_token_id is not None else service.issue_login_token(session, user, ttl)[0]
    if not ok:
        raise NotAuthenticated("The current password is wrong." if token_secret else WRONG,
                               code="invalid_credentials")
    return PasswordChanged(revoked_tokens=revoked, token=secret)
