"""Account use cases. No HTTP here; callers commit."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.accounts.models import AccessToken, Organization, Role, TokenKind, User
from suanli.accounts.security import hash_password, new_secret, secret_hash, verify_password
from suanli.db import utcnow
from suanli.errors import Conflict, InvalidInput, NotAuthenticated, NotFound


def create_user(session: Session, *, email: str, password: str, display_name: str,
                organization_name: str, role: Role) -> User:
    """A user in a new organization of the same kind (operators join the operator organization if it exists)."""
    org = session.scalar(select(Organization).where(Organization.name == organization_name))
    if org is not None and role is not Role.OPERATOR:
        raise Conflict(
            f"An organization named {organization_name!r} exists already. Choose another name, "
            "or ask its members to add you.",
            code="organization_exists",
        )
    _check_new_user(session, email, password)
    if org is None:
        org = Organization(name=organization_name, kind=role)
        session.add(org)
        session.flush()
    return add_member(session, org, email=email, password=password, display_name=display_name)


def add_member(session: Session, org: Organization, *, email: str, password: str, display_name: str) -> User:
    """A new user in an existing organization, with the organization's role."""
    email = _check_new_user(session, email, password)
    user = User(email=email, display_name=display_name, password_hash=hash_password(password),
                role=org.kind, organization_id=org.id)
    session.add(user)
    session.flush()
    return user


def _check_new_user(session: Session, email: str, password: str) -> str:
    email = email.strip().lower()
    if len(password) < 8:
        raise InvalidInput("The password must have at least 8 characters.", code="weak_password")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"An account with email {email} exists already; log in instead.", code="email_taken")
    return email


def authenticate(session: Session, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
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


def user_for_secret(session: Session, secret: str) -> User:
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == secret_hash(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        raise NotAuthenticated("The token is not valid; log in again or use a current API key.",
                               code="invalid_token")
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated("The token has expired; log in again.", code="token_expired")
    if not token.user.is_active:
        raise NotAuthenticated("This account is disabled.", code="account_disabled")
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
