"""Log in, register, log out, and the language switch."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from fastapi.responses import RedirectResponse

from suanli.accounts import service as accounts
from suanli.accounts.models import Role, User
from suanli.accounts.schemas import RegisterRequest
from suanli.errors import DomainError
from suanli.http import DbSession
from suanli.web.forms import Form, attempt, form_values, translator, validate
from suanli.web.i18n import LANG_COOKIE, N_, normalize_locale
from suanli.web.render import redirect, register_notices, render, safe_next, web_router
from suanli.web.security import SESSION_COOKIE, PostedForm, WebUser, end_session, set_cookie, start_session

router = web_router()
register_notices(logged_out=N_("You have logged out."), registered=N_("Welcome! Your account is ready."))

ROLE_HOME = {Role.BUYER: "/account", Role.SELLER: "/seller", Role.OPERATOR: "/operator"}


def home_of(user: User) -> str:
    return ROLE_HOME.get(user.role, "/")


@router.get("/login")
def login_page(request: Request, user: WebUser, next: str | None = None):
    if user is not None:
        return redirect(safe_next(next, home_of(user)))
    return render(request, "auth/login.html", {"form": Form(values={"next": safe_next(next, "")})})


@router.post("/login")
def login(request: Request, session: DbSession, posted: PostedForm):
    _ = translator(request)
    form = Form(values=form_values(posted, ["email", "password", "next"]))
    email, password = str(form.values.get("email", "")).strip(), str(form.values.get("password", ""))
    if not email:
        form.error("email", _(N_("This field is required.")))
    if not password:
        form.error("password", _(N_("This field is required.")))
    if form.ok:
        try:
            with attempt(session):
                user = accounts.authenticate(session, email, password)
                ttl = dt.timedelta(hours=request.app.state.settings.token_ttl_hours)
                secret, _token = accounts.issue_login_token(session, user, ttl)
                previous = request.cookies.get(SESSION_COOKIE)
                if previous:  # logging in again (as someone else, say) ends the earlier session
                    accounts.revoke_login_token(session, previous)
        except DomainError as exc:
            form.fail(exc, _)
    if not form.ok:
        form.values.pop("password", None)
        return render(request, "auth/login.html", {"form": form}, status_code=400)
    response = redirect(safe_next(str(form.values.get("next") or ""), home_of(user)))
    start_session(request, response, secret)
    return response


@router.get("/register")
def register_page(request: Request, user: WebUser):
    if user is not None:
        return redirect(home_of(user))
    return render(request, "auth/register.html", {"form": Form(values={"role": "buyer"})})


@router.post("/register")
def register(request: Request, session: DbSession, posted: PostedForm):
    _ = translator(request)
    names = ["email", "password", "display_name", "organization_name", "role"]
    form = Form(values=form_values(posted, names))
    body = validate(RegisterRequest, dict(form.values), form, _)
    if body is not None:
        try:
            with attempt(session):
                user = accounts.create_user(session, email=body.email, password=body.password,
                                            display_name=body.display_name,
                                            organization_name=body.organization_name, role=Role(body.role))
                ttl = dt.timedelta(hours=request.app.state.settings.token_ttl_hours)
                secret, _token = accounts.issue_login_token(session, user, ttl)
        except DomainError as exc:
            form.fail(exc, _, {"email": "email", "organization_name": "organization_name"})
    if not form.ok or body is None:
        form.values.pop("password", None)
        return render(request, "auth/register.html", {"form": form}, status_code=400)
    response = redirect(home_of(user), notice="registered")
    start_session(request, response, secret)
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, _posted: PostedForm):
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts.revoke_login_token(session, secret)
    response = redirect("/", notice="logged_out")
    end_session(response)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str | None = None) -> RedirectResponse:
    """Set the ``lang`` cookie (a year) and go back to the page the switch was clicked on."""
    locale = normalize_locale(code)
    response = redirect(safe_next(next, "/"))
    if locale is not None:
        set_cookie(request, response, LANG_COOKIE, locale, 365 * 24 * 3600)
    return response
