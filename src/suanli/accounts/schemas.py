"""Account wire formats."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from suanli.accounts.models import Role

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                      pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: str = Field(min_length=8, max_length=128, description="At least 8 characters.")
    display_name: Name
    organization_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    role: Literal["buyer", "seller"] = Field(description="Operators are created by `suanli user create --role operator`.")


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: Role


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    organization: OrganizationOut
    created_at: dt.datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. It is shown only this once; store it now.")
