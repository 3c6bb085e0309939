"""The web storefront and consoles: server-rendered pages (Jinja2 + htmx) over the same services as the API.

:func:`mount_web` serves ``static/`` at ``/static``, includes the ``router`` of every page module of this package
(any ``suanli/web/*.py`` that defines one: storefront, buyer, seller, operator, ...), and answers errors on page
URLs with friendly HTML pages in the visitor's language while API URLs keep their JSON errors.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError, TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from suanli.db_faults import RETRY_AFTER_SECONDS, Fault
from suanli.errors import DomainError
from suanli.http import database_fault_response
from suanli.web.error_messages import domain_message
from suanli.web.i18n import N_, gettext_for, request_locale
from suanli.web.render import redirect, render, safe_next
from suanli.web.security import CsrfRejected, LoginRequired, WrongRole

log = logging.getLogger("suanli.web")
STATIC_DIR = Path(__file__).parent / "static"
_NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/static/", "/favicon.ico")
# Modules of this package that are helpers, not pages.
_HELPERS = frozenset({"i18n", "security", "render", "forms", "presenters", "catalogs", "listing"})


def is_page(request: Request) -> bool:
    path = request.url.path
    return not any(path == p.rstrip("/") or path.startswith(p) for p in _NOT_PAGES)


def page_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if not m.name.startswith("_") and m.name not in _HELPERS)


def mount_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """The icon browsers ask for at the root whatever the page links (the pages link it too)."""
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})

    for name in page_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    _install_page_errors(app)


_STATUS_TITLES = {
    400: N_("This request cannot be answered"),
    401: N_("Please log in"),
    402: N_("Not enough money in the wallet"),
    403: N_("You cannot open this page"),
    404: N_("Page not found"),
    405: N_("This request cannot be answered"),
    409: N_("This cannot be done now"),
    422: N_("This request cannot be answered"),
    500: N_("Something went wrong on our side"),
    503: N_("The platform is busy"),
}
_STATUS_TEXTS = {
    403: N_("Your account does not have access to this page, or the form expired. Go back, reload the page and "
            "try again."),
    404: N_("There is nothing at this address. It may have been moved, or the product is no longer listed."),
    500: N_("The error has been logged. Please try again in a moment."),
    503: N_("Every database connection is in use. Please try again in a few seconds."),
}


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    _ = gettext_for(request_locale(request))
    title = _(_STATUS_TITLES.get(status, _STATUS_TITLES[400]))
    text = _(_STATUS_TEXTS.get(status, N_("Check the address or the form and try again.")))
    return render(request, "errors/error.html", {"status": status, "title": title, "text": text,
                                                 "detail": detail}, status_code=status)


_FAULT_TEXTS = {
    Fault.CONTENTION: N_("The database is busy with changes made at the same time; nothing was changed. Please try "
                         "again in a moment."),
    Fault.UNAVAILABLE: N_("The database cannot be reached right now; nothing was changed. Please try again in a few "
                          "seconds."),
    Fault.IN_DOUBT: N_("The connection to the database was lost while saving: your change may or may not have been "
                       "stored. Check before doing it again."),
}


def database_fault(request: Request, fault: Fault, runs: int) -> Response:
    """503 for a request the database was too busy or away for (``http_retry``): a page in the visitor's language
    on page URLs, the API's JSON error elsewhere; ``Retry-After`` either way."""
    if not is_page(request):
        return database_fault_response(request, fault, runs)
    response = error_page(request, 503, gettext_for(request_locale(request))(_FAULT_TEXTS[fault]))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS[fault])
    return response


def _install_page_errors(app: FastAPI) -> None:
    handlers = app.exception_handlers

    def wrap(exc_class: type[BaseException], page) -> None:
        api_handler = handlers.get(exc_class)

        async def handler(request: Request, exc: Exception) -> Response:
            if is_page(request):
                return page(request, exc)
            if api_handler is None:
                raise exc
            return await api_handler(request, exc)

        app.add_exception_handler(exc_class, handler)

    def login_required(request: Request, _exc: Exception) -> Response:
        """To the login page, then back: to this page, or for a form (POST) to the page the form was on."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            referer = urlsplit(request.headers.get("referer", ""))
            same_site = referer.netloc in ("", request.url.netloc)
            target = (referer.path + (f"?{referer.query}" if referer.query else "")) if same_site else "/"
        return redirect("/login?" + urlencode({"next": safe_next(target)}))

    def domain(request: Request, exc: Exception) -> Response:
        """The service's refusal in the visitor's language; its own (English) words only for a code the pages
        have no message for."""
        assert isinstance(exc, DomainError)
        if exc.status == 401:
            return login_required(request, exc)
        detail = domain_message(exc, gettext_for(request_locale(request))) or exc.message
        return error_page(request, exc.status if exc.status in _STATUS_TITLES else 400, detail)

    def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_page(request, exc.status_code if exc.status_code in _STATUS_TITLES else 400)

    def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        in_path = any((e.get("loc") or ("",))[0] == "path" for e in exc.errors())
        return error_page(request, 404 if in_path else 400)

    def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on a page", exc_info=exc)
        return error_page(request, 500)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(WrongRole, lambda request, exc: error_page(request, 403))
    app.add_exception_handler(CsrfRejected, lambda request, exc: error_page(request, 403))
    wrap(DomainError, domain)
    wrap(StarletteHTTPException, http)
    wrap(RequestValidationError, validation)
    wrap(PoolTimeout, lambda request, exc: error_page(request, 503))
    wrap(IntegrityError, lambda request, exc: error_page(request, 409))
    wrap(Exception, unexpected)
