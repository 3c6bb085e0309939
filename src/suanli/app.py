"""The ASGI application: routers, error handlers, health."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from suanli import __version__
from suanli.accounts.endpoints import router as accounts_router
from suanli.catalog.endpoints import router as catalog_router
from suanli.config import Settings, load_settings
from suanli.db import Database
from suanli.http import DbSession, install_error_handlers


def create_app(database: Database | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(
        title="suanli 算力 API",
        version=__version__,
        description="A public compute-power exchange: catalog, search and price comparison across data centers. "
                    "Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`. Money is integer fen "
                    "(`{\"fen\": 6000, \"cny\": \"60.00\"}`).",
    )
    app.state.settings = settings
    app.state.database = database or Database(settings.database_url)
    install_error_handlers(app)
    app.include_router(accounts_router)
    app.include_router(catalog_router)

    @app.get("/healthz", tags=["ops"])
    def healthz(session: DbSession) -> dict[str, str]:
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": app.state.database.engine.dialect.name}

    return app
