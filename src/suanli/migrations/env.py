"""Alembic environment: the URL comes from the caller (suanli.migrate) or SUANLI_DATABASE_URL."""

from __future__ import annotations

from alembic import context

import suanli.accounts.models  # noqa: F401  (register tables)
import suanli.catalog.models  # noqa: F401
import suanli.trading.models  # noqa: F401
import suanli.jobs.models  # noqa: F401
import suanli.instances.models  # noqa: F401
import suanli.audit.models  # noqa: F401
import suanli.federation.models  # noqa: F401
import suanli.quotes.models  # noqa: F401
import suanli.demand.models  # noqa: F401
import suanli.emergency.models  # noqa: F401
from suanli.config import load_settings
from suanli.db import Base, make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or load_settings().database_url


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
