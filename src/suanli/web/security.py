"""Login sessions and CSRF protection for the web pages.

- The session cookie holds a login token from :mod:`suanli.accounts` (random 256-bit, stored hashed, revocable,
  expiring after ``SUANLI_TOKEN_TTL_HOURS``): logging out revokes it on the server. HttpOnly, SameSite=Lax, and
  Secure when the request came over HTTPS or ``SUANLI_COOKIE_SECURE=1`` (``0``: never; unset: auto).
- CSRF: a synchronizer token, an HMAC (itsdangerous) of the session it belongs to — the login token, or for a
  visitor an anonymous random cookie — under the install's secret (``SUANLI_SECRET_KEY``, else the key file
  ``$SUANLI_HOME/secret.key``, the same secret that encrypts cluster credentials). Every form carries it as ``csrf_token``; htmx sends it as
  ``X-CSRF-Token`` (``hx-headers`` on ``<body>``). Every POST of the web pages checks it (:func:`posted_form`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.responses import Response

from suanli.accounts.models import Role, User
from suanli.accounts.service import user_for_secret
from suanli.config import Settings
from suanli.errors import NotAuthenticated
from suanli.audit.service import set_request_context
from suanli.http import DbSession, check_token_before_writing

SESSION_COOKIE = "suanli_session"
ANON_COOKIE = "suanli_anon"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_MAX_AGE_SECONDS = 24 * 3600


class LoginRequired(Exception):
    """A page for signed-in users was asked for by a visitor: they are sent to the login page."""


class WrongRole(Exception):
    """A signed-in user asked for a page of another role (a seller's console as a buyer, say): 403 page."""

    def __init__(self, required: tuple[Role, ...]) -> None:
        super().__init__(", ".join(r.value for r in required))
        self.required = required


class CsrfRejected(Exception):
    """A POST without a valid CSRF token for this session: 403 page."""


# ---------------------------------------------------------------- the install's secret key

def secret_key(settings: Settings) -> str:
    """The install's secret, shared with the cluster credentials' encryption (:mod:`suanli.jobs.credentials`):
    the first key of ``SUANLI_SECRET_KEY``, else the key file ``$SUANLI_HOME/secret.key`` (made once, mode 0600).
    itsdangerous derives the CSRF signing key from it with its own salt, so the two uses never share a key."""
    from_env = os.environ.get("SUANLI_SECRET_KEY", "").strip()
    if from_env:
        return from_env.split(",")[0].strip()
    from suanli.jobs.credentials import KEY_FILE, cipher

    cipher()  # creates the key file when there is none yet (and checks its mode)
    return (settings.home / KEY_FILE).read_text().strip()


def _app_secret(request: Request) -> str:
    state = request.app.state
    if getattr(state, "web_secret_key", None) is None:
        state.web_secret_key = secret_key(state.settings)
    return state.web_secret_key


# ---------------------------------------------------------------- cookies

def cookie_secure(request: Request) -> bool:
    setting = os.environ.get("SUANLI_COOKIE_SECURE", "").strip()
    if setting == "1":
        return True
    if setting == "0":
        return False
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=cookie_secure(request))


def start_session(request: Request, response: Response, token_secret: str) -> None:
    ttl_hours = request.app.state.settings.token_ttl_hours
    set_cookie(request, response, SESSION_COOKIE, token_secret, ttl_hours * 3600)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def finish_response(request: Request, response: Response) -> Response:
    """Cookies every rendered page may need: a visitor's anonymous id (the CSRF binding), and dropping a session
    cookie whose token is no longer valid."""
    new_anon = getattr(request.state, "new_anon_id", None)
    if new_anon:
        set_cookie(request, response, ANON_COOKIE, new_anon, 30 * 24 * 3600)
    if getattr(request.state, "stale_session", False):
        end_session(response)
    return response


# ---------------------------------------------------------------- who is signed in

def peek_web_user(request: Request) -> User | None:
    """:func:`load_web_user` in a read-only unit of work of its own, for the pages that must not begin the
    request's (on SQLite: write-locking) transaction before they check a password (``web/sign_in.py``)."""
    if hasattr(request.state, "user"):
        return request.state.user
    with request.app.state.database.unit_of_work(write=False) as session:
        return load_web_user(request, session)


def load_web_user(request: Request, session: DbSession) -> User | None:
    """The signed-in user of a page request (None for visitors); kept on ``request.state.user``."""
    if hasattr(request.state, "user"):
        return request.state.user
    user = None
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        try:
            check_token_before_writing(request, secret)  # a stale cookie takes no SQLite write lock
            user = user_for_secret(session, secret)
        except NotAuthenticated:
            request.state.stale_session = True
    request.state.user = user
    set_request_context(session, actor=user)  # who the audit trail names for this page's changes
    request.state.page_user = None if user is None else PageUser(
        id=user.id, email=user.email, display_name=user.display_name, role=user.role,
        organization=OrganizationBrief(id=user.organization_id, name=user.organization.name))
    return user


@dataclass(frozen=True)
class OrganizationBrief:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class PageUser:
    """What templates show of the signed-in user: read while the request's session is open, so an error page
    rendered after a rollback can still show it."""

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    organization: OrganizationBrief


WebUser = Annotated[User | None, Depends(load_web_user)]


def signed_in(user: WebUser) -> User:
    if user is None:
        raise LoginRequired()
    return user


def require_web_role(*roles: Role):
    """A dependency: the signed-in user, who must have one of ``roles`` (visitors go to the login page)."""

    def dependency(user: Annotated[User, Depends(signed_in)]) -> User:
        if user.role not in roles:
            raise WrongRole(roles)
        return user

    return dependency


SignedIn = Annotated[User, Depends(signed_in)]
BuyerUser = Annotated[User, Depends(require_web_role(Role.BUYER))]
SellerUser = Annotated[User, Depends(require_web_role(Role.SELLER))]
OperatorUser = Annotated[User, Depends(require_web_role(Role.OPERATOR))]


# ---------------------------------------------------------------- CSRF

def _binding(request: Request) -> str:
    """What the CSRF token is bound to: the session's token, else the visitor's anonymous id (made if missing)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and not getattr(request.state, "stale_session", False):
        return "s:" + secret
    anon = request.cookies.get(ANON_COOKIE) or getattr(request.state, "new_anon_id", None)
    if not anon:
        anon = request.state.new_anon_id = secrets.token_urlsafe(24)
    return "a:" + anon


def _fingerprint(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()[:32]


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_app_secret(request), salt="suanli-web-csrf")


def csrf_token(request: Request) -> str:
    """This session's CSRF token (the same one for the whole request)."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.state.csrf_token = _serializer(request).dumps(_fingerprint(_binding(request)))
    return token


def verify_csrf(request: Request, token: str | None) -> None:
    if not token:
        raise CsrfRejected("missing")
    try:
        bound_to = _serializer(request).loads(token, max_age=CSRF_MAX_AGE_SECONDS)
    except BadSignature:
        raise CsrfRejected("invalid") from None
    if not isinstance(bound_to, str) or not hmac.compare_digest(bound_to, _fingerprint(_binding(request))):
        raise CsrfRejected("other session")


async def posted_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token (field ``csrf_token`` or header ``X-CSRF-Token``) has been checked."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    verify_csrf(request, token if isinstance(token, str) and token else request.headers.get(CSRF_HEADER))
    return form


PostedForm = Annotated[FormData, Depends(posted_form)]
