"""Account HTTP endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm

from suanli.accounts import service
from suanli.accounts.login import change_password, log_in
from suanli.accounts.models import AccessToken, Role, User
from suanli.accounts.schemas import (ApiKeyCreate, ApiKeyCreated, ApiKeyOut, LogoutOut, OrganizationOut,
                                     PasswordChange, PasswordChangedOut, PasswordResetIn, PasswordResetOut,
                                     RegisterRequest, TokenOut, UserOut)
from suanli.accounts.security import hash_password, new_secret
from suanli.accounts.throttle import check_and_count_registration
from suanli.db import utcnow
from suanli.errors import NotAuthenticated
from suanli.http import (BearerCredentials, CurrentUser, DbSession, OperatorUser, check_token_before_writing,
                         client_address, get_database)

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"])


def user_out(user: User) -> UserOut:
    org = user.organization
    return UserOut(id=user.id, email=user.email, display_name=user.display_name, role=user.role,
                   organization=OrganizationOut(id=org.id, name=org.name, kind=org.kind), created_at=user.created_at)


def key_out(token: AccessToken) -> ApiKeyOut:
    return ApiKeyOut(id=token.id, name=token.name, prefix=token.prefix, created_at=token.created_at,
                     last_used_at=token.last_used_at, revoked_at=token.revoked_at)


def _ttl(request: Request) -> dt.timedelta:
    return dt.timedelta(hours=request.app.state.settings.token_ttl_hours)


@router.post("/register", status_code=201, response_model=UserOut,
             responses={429: {"description": "too_many_attempts: too many registrations from this address"}})
def register(body: RegisterRequest, session: DbSession, request: Request) -> UserOut:
    """A new buyer or seller account. At most `SUANLI_REGISTRATIONS_PER_HOUR` per client address and hour."""
    with get_database(request).unit_of_work() as counting:  # its own transaction: a refused one still counts
        check_and_count_registration(counting, client_address(request),
                                     request.app.state.settings.registrations_per_hour, utcnow())
    password_hash = service.prepare_password(body.password, email=body.email, display_name=body.display_name)
    user = service.create_user(session, email=body.email, password=body.password, display_name=body.display_name,
                               organization_name=body.organization_name, role=Role(body.role),
                               password_hash=password_hash)
    return user_out(user)


class PasswordForm(OAuth2PasswordRequestForm):
    """The OAuth2 password form, with what it requires in the OpenAPI: a form field sent empty is read as missing,
    so username and password are at least one character; grant_type, if sent, is `password` (a form has no null).
    """

    def __init__(self, username: Annotated[str, Form(min_length=1)], password: Annotated[str, Form(min_length=1)],
                 grant_type: Annotated[str, Form(pattern="^password$")] = "password",
                 scope: Annotated[str, Form()] = "", client_id: Annotated[str | None, Form()] = None,
                 client_secret: Annotated[str | None, Form()] = None) -> None:
        super().__init__(grant_type=grant_type, username=username, password=password, scope=scope,
                         client_id=client_id, client_secret=client_secret)


@router.post("/token", response_model=TokenOut,
             responses={429: {"description": "too_many_attempts: wait `Retry-After` seconds"}})
def token(form: Annotated[PasswordForm, Depends()], request: Request) -> TokenOut:
    """OAuth2 password flow: `username` is the email. Wrong passwords are throttled per account and address
    (429 `too_many_attempts` with `Retry-After`; docs/security.md, "Accounts")."""
    _user, secret = log_in(get_database(request), email=form.username, password=form.password,
                           address=client_address(request), ttl=_ttl(request))
    return TokenOut(access_token=secret, expires_in=int(_ttl(request).total_seconds()))


@router.post("/logout", response_model=LogoutOut)
def logout(credentials: BearerCredentials, session: DbSession, request: Request) -> LogoutOut:
    """Revoke the token this request is sent with (a login token, or an API key): it works nowhere after."""
    if credentials is None:
        raise NotAuthenticated("Send the token to revoke: 'Authorization: Bearer <token>'.")
    check_token_before_writing(request, credentials.credentials)
    revoked = service.revoke_token(session, credentials.credentials)
    return LogoutOut(revoked=True, kind=revoked.kind.value)


@router.post("/password", response_model=PasswordChangedOut,
             responses={429: {"description": "too_many_attempts: wait `Retry-After` seconds"}},
             openapi_extra={"security": [{}]})  # or no token: an email + one-time password
def password(body: PasswordChange, credentials: BearerCredentials, request: Request) -> PasswordChangedOut:
    """Change your password: with your token and current password, or (after an operator reset it) with your email
    and the one-time password. Every other login token and API key of yours is revoked."""
    changed = change_password(get_database(request), current_password=body.current_password,
                              new_password=body.new_password, address=client_address(request), ttl=_ttl(request),
                              token_secret=credentials.credentials if credentials else None, email=body.email)
    return PasswordChangedOut(revoked_tokens=changed.revoked_tokens, access_token=changed.token,
                              expires_in=int(_ttl(request).total_seconds()) if changed.token else None)


operator_router = APIRouter(prefix="/api/v1/operator", tags=["accounts"])


@operator_router.post("/password-resets", response_model=PasswordResetOut, status_code=201)
def reset_password(body: PasswordResetIn, _operator: OperatorUser, session: DbSession) -> PasswordResetOut:
    """Operator: give a user a one-time password (shown once) and log them out everywhere; they must choose a new
    password before they can log in again."""
    one_time = new_secret()[3:19]
    one_time_hash = hash_password(one_time)
    user = service.user_by_email(session, body.email)
    revoked = service.set_password(session, user, one_time_hash, must_change=True)
    return PasswordResetOut(email=user.email, one_time_password=one_time, revoked_tokens=revoked)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, user: CurrentUser, session: DbSession) -> ApiKeyCreated:
    secret, token = service.create_api_key(session, user, body.name)
    return ApiKeyCreated(**key_out(token).model_dump(), key=secret)


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(user: CurrentUser, session: DbSession) -> list[ApiKeyOut]:
    return [key_out(t) for t in service.list_api_keys(session, user)]


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: uuid.UUID, user: CurrentUser, session: DbSession) -> ApiKeyOut:
    return key_out(service.revoke_api_key(session, user, key_id))
