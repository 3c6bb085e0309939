"""Account wire formats."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from pydantic_core import PydanticCustomError

from suanli.accounts.emails import UnsafeEmail, normalize_email
from suanli.accounts.models import Role

def _canonical(email: str) -> str:
    """``normalize_email`` with its refusals as validation errors of their own type (``email_mixed_scripts``,
    ``email_confusable``, ``invalid_email``), so the API and the pages can say exactly what is wrong."""
    try:
        return normalize_email(email)
    except UnsafeEmail as exc:
        raise PydanticCustomError(exc.code, str(exc)) from None
    except ValueError as exc:
        raise PydanticCustomError("invalid_email", str(exc)) from None


# One spelling per address (NFKC, case folded, invisible characters removed); lookalikes mixing alphabets refused.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(_canonical),
]
Password = Annotated[str, Field(min_length=8, max_length=128, description="At least 8 characters; not a common "
                                                                          "password, not your email or name.")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
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


class LogoutOut(BaseModel):
    revoked: bool = Field(description="The token this request was sent with is revoked.")
    kind: str = Field(description="login or api_key")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=128)
    new_password: Password
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        default=None, description="Without a bearer token: the account whose (one-time) password this is.")


class PasswordChangedOut(BaseModel):
    revoked_tokens: int = Field(description="The user's other login tokens and API keys, now revoked.")
    access_token: str | None = Field(description="A new login token, when the change was made without one.")
    expires_in: int | None = None


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


class PasswordResetOut(BaseModel):
    email: str
    one_time_password: str = Field(description="Give it to the user over a trusted channel; it logs in nowhere: "
                                               "the user must replace it (POST /api/v1/auth/password).")
    revoked_tokens: int
