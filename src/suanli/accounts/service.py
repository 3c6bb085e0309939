"""Account use cases. No HTTP here; callers commit."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suanli import audit
from suanli.accounts.emails import UnsafeEmail, lookup_form, normalize_email
from suanli.accounts.models import AccessToken, Organization, Role, TokenKind, User
from suanli.accounts.passwords import check_new_password
from suanli.accounts.security import hash_password, new_secret, secret_hash, verify_against_nothing, verify_password
from suanli.db import contains_word, utcnow
from suanli.errors import Conflict, InvalidInput, NotAuthenticated, NotFound


def create_user(session: Session, *, email: str, password: str, display_name: str,
                organization_name: str, role: Role, password_hash: str | None = None) -> User:
    """A user in a new organization of the same kind (operators join the operator organization if it exists).

    ``password_hash``: the password already hashed (``prepare_password``) by a caller that hashes before its
    transaction begins, so no write lock is held for the slow hash."""
    org = session.scalar(select(Organization).where(Organization.name == organization_name))
    if org is not None and role is not Role.OPERATOR:
        raise Conflict(
            f"An organization named {organization_name!r} exists already. Choose another name, "
            "or ask its members to add you.",
            code="organization_exists",
        )
    _check_new_user(session, email, password, display_name)
    if org is None:
        org = Organization(name=organization_name, kind=role)
        session.add(org)
        session.flush()
    return add_member(session, org, email=email, password=password, display_name=display_name,
                      password_hash=password_hash)


def add_member(session: Session, org: Organization, *, email: str, password: str, display_name: str,
               password_hash: str | None = None) -> User:
    """A new user in an existing organization, with the organization's role."""
    email = _check_new_user(session, email, password, display_name)
    user = User(email=email, display_name=display_name, password_hash=password_hash or hash_password(password),
                role=org.kind, organization_id=org.id)
    session.add(user)
    session.flush()
    audit.record(session, None, "user.created", f"user:{user.id}",
                 {"email": user.email, "role": user.role, "organization_id": org.id})
    return user


def canonical_email(email: str) -> str:
    """``email`` in its one spelling (``accounts/emails.py``); 422 for a lookalike or a non-address."""
    try:
        return normalize_email(email)
    except UnsafeEmail as exc:
        raise InvalidInput(str(exc), code=exc.code, details={"field": "email"}) from None
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_email", details={"field": "email"}) from None


def prepare_password(password: str, *, email: str, display_name: str = "") -> str:
    """Check a new password against the policy and hash it: call it before the write transaction begins."""
    check_new_password(password, email=canonical_email(email), display_name=display_name)
    return hash_password(password)


def _check_new_user(session: Session, email: str, password: str, display_name: str = "") -> str:
    email = canonical_email(email)
    check_new_password(password, email=email, display_name=display_name)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"An account with email {email} exists already; log in instead.", code="email_taken")
    return email


def authenticate(session: Session, email: str, password: str) -> User:
    """The user with this email and password (for callers outside a request; requests use ``accounts/login.py``,
    which checks the password outside any write transaction and throttles guessing)."""
    user = session.scalar(select(User).where(User.email == lookup_form(email)))
    if user is None:
        verify_against_nothing(password)
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        raise NotAuthenticated("Wrong email or password.", code="invalid_credentials")
    return user


def issue_login_token(session: Session, user: User, ttl: dt.timedelta) -> tuple[str, AccessToken]:
    return _issue(session, user, TokenKind.LOGIN, name="login", expires_at=utcnow() + ttl)


def create_api_key(session: Session, user: User, name: str) -> tuple[str, AccessToken]:
    return _issue(session, user, TokenKind.API_KEY, name=name, expires_at=None)


def _issue(session: Session, user: User, kind: TokenKind, *, name: str,
           expires_at: dt.datetime | None) -> tuple[str, AccessToken]:
    secret = new_secret()
    token = AccessToken(user_id=user.id, kind=kind, name=name, prefix=secret[:10],
                        token_hash=secret_hash(secret), expires_at=expires_at)
    session.add(token)
    session.flush()
    return secret, token


LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def valid_token(session: Session, secret: str) -> AccessToken:
    """The token with this secret, if it is in force (not revoked, not expired, its user active). Reads only."""
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == secret_hash(secret)))
    if token is None or token.revoked_at is not None:
        raise NotAuthenticated("The token is not valid; log in again or use a current API key.",
                               code="invalid_token")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise NotAuthenticated("The token has expired; log in again.", code="token_expired")
    if not token.user.is_active:
        raise NotAuthenticated("This account is disabled.", code="account_disabled")
    return token


def user_for_secret(session: Session, secret: str) -> User:
    token = valid_token(session, secret)
    now = utcnow()
    if token.kind is TokenKind.API_KEY and (token.last_used_at is None
                                            or now - token.last_used_at > LAST_USED_RESOLUTION):
        token.last_used_at = now  # at most once a minute per key: a read request stays nearly read-only
    return token.user


def list_api_keys(session: Session, user: User) -> list[AccessToken]:
    return list(session.scalars(
        select(AccessToken)
        .where(AccessToken.user_id == user.id, AccessToken.kind == TokenKind.API_KEY)
        .order_by(AccessToken.created_at)
    ))


def revoke_api_key(session: Session, user: User, key_id: uuid.UUID) -> AccessToken:
    token = session.get(AccessToken, key_id)
    if token is None or token.user_id != user.id or token.kind is not TokenKind.API_KEY:
        raise NotFound(f"You have no API key {key_id}.", code="api_key_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def revoke_login_token(session: Session, secret: str) -> bool:
    """Log out: revoke the login token with this secret (the web session's). False when there is none to revoke."""
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == secret_hash(secret),
                                                     AccessToken.kind == TokenKind.LOGIN))
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    return True


def revoke_token(session: Session, secret: str) -> AccessToken:
    """``POST /auth/logout``: revoke the token (login token or API key) the caller authenticated with."""
    token = valid_token(session, secret)
    token.revoked_at = utcnow()
    return token


def revoke_all_tokens(session: Session, user_id: uuid.UUID, *, except_id: uuid.UUID | None = None) -> int:
    """Revoke every login token and API key of a user (but ``except_id``); how many were in force."""
    conditions = [AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None)]
    if except_id is not None:
        conditions.append(AccessToken.id != except_id)
    result = session.execute(update(AccessToken).where(*conditions).values(revoked_at=utcnow()))
    return result.rowcount or 0


def set_password(session: Session, user: User, password_hash: str, *, keep_token_id: uuid.UUID | None = None,
                 must_change: bool = False) -> int:
    """Store a new (already hashed) password and revoke the user's other tokens: whoever knew the old password
    is logged out everywhere. ``must_change``: a one-time password set by an operator. Returns tokens revoked."""
    user.password_hash = password_hash
    user.must_change_password = must_change
    revoked = revoke_all_tokens(session, user.id, except_id=keep_token_id)
    audit.record(session, None, "user.password_reset" if must_change else "user.password_changed",
                 f"user:{user.id}", {"revoked_tokens": revoked})  # never the password or its hash
    return revoked


def user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == lookup_form(email)))
    if user is None:
        raise NotFound(f"There is no account with email {email}.", code="user_not_found")
    return user


def organizations_named(word: str):
    """The ids of the organizations whose name contains ``word`` (a console list's search by organization)."""
    return select(Organization.id).where(contains_word(Organization.name, word))
