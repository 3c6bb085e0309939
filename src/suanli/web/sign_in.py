"""The forms that check a password or make an account: log in, register, change password.

Their router reads the signed-in user in a read-only transaction of its own: the request's transaction (on SQLite
a write-locking one) must not have begun when the password is checked outside any transaction
(``accounts/login.py``).
"""

from __future__ import annotations

import datetime as dt

from fastapi import Request

from suanli.accounts import service as accounts
from suanli.accounts.login import change_password, log_in
from suanli.accounts.models import Role
from suanli.accounts.schemas import RegisterRequest
from suanli.accounts.throttle import TooManyAttempts, check_and_count_registration
from suanli.db import utcnow
from suanli.errors import DomainError
from suanli.http import DbSession, client_address, get_database
from suanli.web.auth import home_of
from suanli.web.forms import Form, attempt, form_values, translator, validate
from suanli.web.i18n import N_
from suanli.web.render import redirect, register_notices, render, safe_next, web_router
from suanli.web.security import SESSION_COOKIE, PostedForm, start_session

router = web_router(own_transaction=True)
register_notices(registered=N_("Welcome! Your account is ready."),
                 password_changed=N_("Your password is changed; you are logged in."))


def _throttled(form: Form, exc: TooManyAttempts, _) -> int:
    """Say how long to wait (the seconds come from the throttle); the caller answers 429 with ``Retry-After``."""
    form.top.append(_(N_("Too many attempts. Wait %(seconds)s seconds and try again; if you forgot your password, "
                         "ask the platform operator to reset it.")) % {"seconds": exc.retry_after})
    return exc.retry_after


def _refused(request: Request, template: str, form: Form, retry_after: int | None):
    """The form again, with its errors: 429 with ``Retry-After`` when attempts are throttled, else 400."""
    form.values.pop("password", None)
    form.values.pop("current_password", None)
    form.values.pop("new_password", None)
    response = render(request, template, {"form": form}, status_code=400 if retry_after is None else 429)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _ttl(request: Request) -> dt.timedelta:
    return dt.timedelta(hours=request.app.state.settings.token_ttl_hours)


@router.post("/login")
def login(request: Request, posted: PostedForm):
    """The password is checked outside any transaction and throttled (``accounts/login.py``)."""
    _ = translator(request)
    form = Form(values=form_values(posted, ["email", "password", "next"]))
    email, password = str(form.values.get("email", "")).strip(), str(form.values.get("password", ""))
    if not email:
        form.error("email", _(N_("This field is required.")))
    if not password:
        form.error("password", _(N_("This field is required.")))
    retry_after = None
    if form.ok:
        try:
            user, secret = log_in(get_database(request), email=email, password=password,
                                  address=client_address(request), ttl=_ttl(request),
                                  previous_secret=request.cookies.get(SESSION_COOKIE))
        except TooManyAttempts as exc:
            retry_after = _throttled(form, exc, _)
        except DomainError as exc:
            form.fail(exc, _)
    if not form.ok:
        return _refused(request, "auth/login.html", form, retry_after)
    response = redirect(safe_next(str(form.values.get("next") or ""), home_of(user)))
    start_session(request, response, secret)
    return response


@router.post("/register")
def register(request: Request, session: DbSession, posted: PostedForm):
    _ = translator(request)
    names = ["email", "password", "display_name", "organization_name", "role"]
    form = Form(values=form_values(posted, names))
    body = validate(RegisterRequest, dict(form.values), form, _)
    retry_after = None
    if body is not None:
        try:
            with get_database(request).unit_of_work() as counting:  # a refused registration still counts
                check_and_count_registration(counting, client_address(request),
                                             request.app.state.settings.registrations_per_hour, utcnow())
            password_hash = accounts.prepare_password(body.password, email=body.email,
                                                      display_name=body.display_name)  # before the transaction
            with attempt(session):
                user = accounts.create_user(session, email=body.email, password=body.password,
                                            display_name=body.display_name, password_hash=password_hash,
                                            organization_name=body.organization_name, role=Role(body.role))
                secret, _token = accounts.issue_login_token(session, user, _ttl(request))
        except TooManyAttempts as exc:
            retry_after = _throttled(form, exc, _)
        except DomainError as exc:
            form.fail(exc, _, {"email": "email", "organization_name": "organization_name",
                               "password": "password"})
    if not form.ok or body is None:
        return _refused(request, "auth/register.html", form, retry_after)
    response = redirect(home_of(user), notice="registered")
    start_session(request, response, secret)
    return response


@router.get("/password")
def password_page(request: Request, email: str | None = None):
    return render(request, "auth/password.html", {"form": Form(values={"email": email or ""})})


@router.post("/password")
def password(request: Request, posted: PostedForm):
    """Change a password with the email and the current (or one-time) password; logs in with the new one."""
    _ = translator(request)
    form = Form(values=form_values(posted, ["email", "current_password", "new_password"]))
    for name in ("email", "current_password", "new_password"):
        if not str(form.values.get(name, "")).strip():
            form.error(name, _(N_("This field is required.")))
    retry_after = None
    if form.ok:
        try:
            changed = change_password(get_database(request), email=str(form.values["email"]),
                                      current_password=str(form.values["current_password"]),
                                      new_password=str(form.values["new_password"]),
                                      address=client_address(request), ttl=_ttl(request))
        except TooManyAttempts as exc:
            retry_after = _throttled(form, exc, _)
        except DomainError as exc:
            form.fail(exc, _, {"password": "new_password", "new_password": "new_password"})
    if not form.ok:
        return _refused(request, "auth/password.html", form, retry_after)
    response = redirect("/", notice="password_changed")
    start_session(request, response, changed.token)
    return response
