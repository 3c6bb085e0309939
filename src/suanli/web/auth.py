"""The log-in and registration forms, log out, and the language switch (the forms post to ``web/sign_in.py``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse

from suanli.accounts import service as accounts
from suanli.accounts.models import Role, User
from suanli.http import DbSession
from suanli.web.forms import Form
from suanli.web.i18n import LANG_COOKIE, N_, normalize_locale
from suanli.web.render import redirect, register_notices, render, safe_next, web_router
from suanli.web.security import SESSION_COOKIE, PostedForm, WebUser, end_session, set_cookie

router = web_router()
register_notices(logged_out=N_("You have logged out."))

ROLE_HOME = {Role.BUYER: "/account", Role.SELLER: "/seller", Role.OPERATOR: "/operator"}


def home_of(user: User) -> str:
    return ROLE_HOME.get(user.role, "/")


@router.get("/login")
def login_page(request: Request, user: WebUser, next: str | None = None):
    if user is not None:
        return redirect(safe_next(next, home_of(user)))
    return render(request, "auth/login.html", {"form": Form(values={"next": safe_next(next, "")})})


@router.get("/register")
def register_page(request: Request, user: WebUser):
    if user is not None:
        return redirect(home_of(user))
    return render(request, "auth/register.html", {"form": Form(values={"role": "buyer"})})


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
