"""Account HTTP endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from suanli.accounts import service
from suanli.accounts.models import AccessToken, Role, User
from suanli.accounts.schemas import (ApiKeyCreate, ApiKeyCreated, ApiKeyOut, OrganizationOut, RegisterRequest,
                                     TokenOut, UserOut)
from suanli.http import CurrentUser, DbSession

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"])


def user_out(user: User) -> UserOut:
    org = user.organization
    return UserOut(id=user.id, email=user.email, display_name=user.display_name, role=user.role,
                   organization=OrganizationOut(id=org.id, name=org.name, kind=org.kind), created_at=user.created_at)


def key_out(token: AccessToken) -> ApiKeyOut:
    return ApiKeyOut(id=token.id, name=token.name, prefix=token.prefix, created_at=token.created_at,
                     last_used_at=token.last_used_at, revoked_at=token.revoked_at)


@router.post("/register", status_code=201, response_model=UserOut)
def register(body: RegisterRequest, session: DbSession) -> UserOut:
    user = service.create_user(session, email=body.email, password=body.password, display_name=body.display_name,
                               organization_name=body.organization_name, role=Role(body.role))
    return user_out(user)


@router.post("/token", response_model=TokenOut)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: DbSession, request: Request) -> TokenOut:
    """OAuth2 password flow: `username` is the email."""
    user = service.authenticate(session, form.username, form.password)
    ttl = dt.timedelta(hours=request.app.state.settings.token_ttl_hours)
    secret, _ = service.issue_login_token(session, user, ttl)
    return TokenOut(access_token=secret, expires_in=int(ttl.total_seconds()))


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
