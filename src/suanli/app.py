"""The ASGI application: routers, error handlers, health."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import text

from suanli import __version__
from suanli.accounts.endpoints import operator_router as accounts_operator_router, router as accounts_router
from suanli.advisor.endpoints import router as advisor_router
from suanli.audit.endpoints import router as audit_router
from suanli.catalog.endpoints import router as catalog_router
from suanli.catalog.price_endpoints import router as prices_router
from suanli.config import Settings, load_settings
from suanli.core.billing import Clock, SystemClock
from suanli.db import Database
from suanli.demand.endpoints import router as demand_router
from suanli.federation.endpoints import (federation_v1, federation_v1_openapi,
                                        operator_router as federation_operator_router,
                                        public_router as federation_public_router)
from suanli.http import DbSession, install_error_handlers, reject_unknown_query_parameters
from suanli.http_contract import declare_error_responses, document_error_schema
from suanli.instances.endpoints import router as instances_router
from suanli.jobs.endpoints import router as jobs_router
from suanli.middleware import BodyLimit, SecurityHeaders
from suanli.trading.endpoints import router as trading_router
from suanli.quotes.endpoints import router as quotes_router
from suanli.emergency.endpoints import router as emergency_router
from suanli.http_retry import RetryDatabaseFaults
from suanli.web import database_fault, mount_web
from suanli.trading.report_endpoints import router as reports_router
from suanli.trading.ledger_endpoints import router as ledger_router


def create_app(database: Database | None = None, settings: Settings | None = None,
               clock: Clock | None = None) -> FastAPI:
    """The app; ``clock`` (default the system clock) is what trading reads the time from (tests pass a ManualClock)."""
    settings = settings or load_settings()
    # FastAPIOffline serves Swagger UI and ReDoc from the package, not a CDN: platforms run in isolated networks.
    app = FastAPIOffline(
        title="suanli 算力 API",
        version=__version__,
        description="A public compute-power exchange: catalog, search and price comparison across data centers. "
                    "Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`. Money is integer fen "
                    "(`{\"fen\": 6000, \"cny\": \"60.00\"}`).",
    )
    app.state.settings = settings
    app.state.database = database or Database(settings.database_url, settings.db_pool_size)
    app.state.clock = clock or SystemClock()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so the 413 above gets the headers too
    # Every API operation declares its 4xx/5xx in the OpenAPI (read from what it raises) and refuses query
    # parameters it does not declare (400 with the valid ones).
    for router in (accounts_router, accounts_operator_router, catalog_router, trading_router, jobs_router,
                   instances_router, advisor_router, reports_router, ledger_router, audit_router,
                   federation_operator_router, federation_public_router, quotes_router, prices_router,
                   demand_router, emergency_router):
        declare_error_responses(router)
        app.include_router(router, dependencies=[Depends(reject_unknown_query_parameters)])
    # The signed federation API between platforms: its own versioned schemas and error answers
    # (docs/federation.md), described in a document of its own, not in the public API's.
    app.include_router(federation_v1, include_in_schema=False)

    @app.get("/federation/v1/openapi.json", include_in_schema=False)
    def federation_openapi() -> dict:
        return federation_v1_openapi()

    @app.get("/healthz", tags=["ops"])
    def healthz(session: DbSession) -> dict[str, str]:
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": app.state.database.engine.dialect.name}

    declare_error_responses(app.router)
    document_error_schema(app)
    # Pages last: their error handlers wrap the JSON ones, answering page URLs in HTML.
    mount_web(app)
    # Database contention is outlived by running the request again; a database that stays busy or away is a 503.
    app.add_middleware(RetryDatabaseFaults, respond=database_fault)
    return app
