"""Templates: one Jinja2 environment per language, the shared page context, and ``render``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request

from suanli.web.chart_tables import chart_table
from suanli.web.i18n import (EN, ZH, format_datetime, format_hours, format_money, format_number, format_percent,
                             format_period, format_rate, gettext_for, request_locale, say, translations)
from suanli.web.presenters import short_chip_name
from suanli.web.security import csrf_token, finish_response, load_web_user, peek_web_user

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_VERSION = "3"  # bump to make browsers fetch changed CSS/JS (the URLs carry ?v=)


MAX_OFFSET = 1_000_000
# ``?offset=`` of a page's list: bounded, so a huge number is a 400 page, never a database overflow.
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


def web_router(*, own_transaction: bool = False, **kwargs: Any) -> APIRouter:
    """An APIRouter for pages: HTML responses, not in the OpenAPI schema, and the signed-in user (if any) loaded
    for the page header. Every page module makes its ``router`` with this. ``own_transaction=True`` for the pages
    that check a password (``web/sign_in.py``): the user is read in a read-only transaction of its own, so the
    request's (on SQLite write-locking) one has not begun when the password is checked."""
    loader = peek_web_user if own_transaction else load_web_user
    dependencies = [Depends(loader), *kwargs.pop("dependencies", [])]
    return APIRouter(include_in_schema=False, default_response_class=HTMLResponse, dependencies=dependencies,
                     **kwargs)


def quantity(text: str) -> Markup:
    """A number with its unit, kept on one line (Chinese text may otherwise break inside "小时")."""
    return Markup('<span class="qty">%s</span>') % text


@cache
def environment(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                      undefined=StrictUndefined)
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(money=format_money, rate=format_rate, percent=format_percent, datetime=format_datetime,
                       number=format_number,
                       hours=lambda h: quantity(format_hours(h, locale)), date=lambda d: format_datetime(d, time=False),
                       datetime_seconds=lambda d: format_datetime(d, seconds=True),
                       say=lambda v: say(v, locale), short_chip=short_chip_name,
                       chart_table=lambda option: chart_table(option, translations(locale).gettext))
    env.globals.update(period=format_period, locale=locale, html_lang="zh-CN" if locale == ZH else "en",
                       static_version=STATIC_VERSION)
    return env


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with query parameters changed (None removes one)."""
    return address_with(request.url.path, request.query_params.multi_items(), **changes)


def address_with(path: str, params: Any, **changes: Any) -> str:
    """``path`` with the query ``params`` (pairs), some changed (None removes one)."""
    params = [(k, v) for k, v in params if k not in changes]
    for key, value in changes.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            params.extend((key, str(v)) for v in value)
        else:
            params.append((key, str(value)))
    query = urlencode(params)
    return path + (f"?{query}" if query else "")


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page (or an htmx fragment) in the request's language, with the page context every template can use:
    ``user``, ``csrf_token``, ``platform_name``, ``path``, ``url_with``, ``lang_switch_url``, ``notice``."""
    locale = request_locale(request)
    token = csrf_token(request)
    page = {
        "request": request, "user": getattr(request.state, "page_user", None), "csrf_token": token,
        "csrf_field": Markup(f'<input type="hidden" name="csrf_token" value="{token}">'),
        "platform_name": request.app.state.settings.platform_name, "path": request.url.path,
        "url_with": lambda **changes: url_with(request, **changes),
        "other_locale": EN if locale == ZH else ZH,
        "lang_switch_url": lang_switch_url(request, EN if locale == ZH else ZH),
        "notice": notice_text(request, locale),
    }
    page.update(context or {})
    html = environment(locale).get_template(template).render(page)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers.setdefault("Cache-Control", "no-store")
    return finish_response(request, response)  # type: ignore[return-value]


def lang_switch_url(request: Request, code: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    back = request.url.path + (f"?{urlencode(params)}" if params else "")
    return f"/lang/{code}?{urlencode({'next': back})}"


def redirect(url: str, *, notice: str | None = None) -> RedirectResponse:
    """303 See Other after a successful POST (so a reload does not post again); ``notice`` is a key of
    :data:`NOTICES`, shown once on the next page."""
    if notice:
        url += ("&" if "?" in url else "?") + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


# Messages shown after a redirect (``?notice=key``): fixed keys, so nothing a link carries is shown as text.
NOTICES: dict[str, str] = {}


def register_notices(**messages: str) -> None:
    """Page modules add their notices (English msgids, marked with ``N_``) here."""
    NOTICES.update(messages)


def notice_text(request: Request, locale: str) -> str | None:
    key = request.query_params.get("notice")
    message = NOTICES.get(key or "")
    return gettext_for(locale)(message) if message else None


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a local path may be a redirect target (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
