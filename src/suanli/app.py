"""The ASGI application: routers, error handlers, health."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy import text

from suanli import __version__
from suanli.accounts.endpoints import router as accounts_router
from suanli.advisor.endpoints import router as advisor_router
from suanli.catalog.endpoints import router as catalog_router
from suanli.config import Settings, load_settings
from suanli.core.billing import Clock, SystemClock
from suanli.db import Database
from suanli.http import DbSession, install_error_handlers
from suanli.jobs.endpoints import router as jobs_router
from suanli.trading.endpoints import router as trading_router


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
    app.state.database = database or Database(settings.database_url)
    app.state.clock = clock or SystemClock()
    install_error_handlers(app)
    app.include_router(accounts_router)
    app.include_router(catalog_router)
    app.include_router(trading_router)
    app.include_router(jobs_router)
    app.include_router(advisor_router)

    @app.get("/healthz", tags=["ops"])
    def healthz(session: DbSession) -> dict[str, str]:
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": app.state.database.engine.dialect.name}

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home(session: DbSession) -> str:
        from suanli.catalog.service import platform_stats

        return landing_page(settings.platform_name, platform_stats(session))

    return app


def landing_page(platform_name: str, stats: dict[str, int]) -> str:
    """A plain, self-contained start page until the web storefront lands: figures and where to go next."""
    from html import escape

    labels = [("datacenters_connected", "接入数据中心", "data centers"), ("products_listed", "在售算力产品", "products"),
              ("accelerators_listed", "加速卡", "accelerators"), ("buyers", "买家", "buyers"),
              ("sellers", "卖家", "sellers")]
    cells = "".join(f"<div class=c><b>{stats[k]:,}</b><span>{zh} · {en}</span></div>" for k, zh, en in labels)
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(platform_name)} · suanli</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem;color:#1f2937}}
.g{{display:flex;flex-wrap:wrap;gap:1rem;margin:1.5rem 0}}.c{{border:1px solid #e5e7eb;border-radius:.5rem;padding:1rem;min-width:9rem}}
.c b{{display:block;font-size:1.6rem}}.c span{{color:#6b7280;font-size:.85rem}}a{{color:#1d4ed8}}</style></head><body>
<h1>{escape(platform_name)}</h1><p>算力交易与调度平台 · a public compute-power exchange, powered by suanli</p>
<div class=g>{cells}</div>
<ul><li><a href="/docs">API 文档 (Swagger UI)</a> · <a href="/redoc">ReDoc</a></li>
<li><a href="/api/v1/products?sort=price_per_pflops">按每 PFLOPS 小时价格排序的算力产品</a> (JSON)</li>
<li><a href="/api/v1/price-index">价格指数 · price index</a> (JSON)</li></ul></body></html>"""
