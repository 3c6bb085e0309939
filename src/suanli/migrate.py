"""Schema migrations (Alembic) and reference data, run by `suanli db upgrade` and `make demo`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from suanli.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database: Database, platform_name: str | None = None) -> int:
    """Migrate to the newest schema, record this platform and sync the packaged chip table.
    Returns the number of chip models."""
    from suanli.catalog.service import local_platform, sync_chips
    from suanli.config import load_settings

    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with database.unit_of_work() as session:
        local_platform(session, platform_name or load_settings().platform_name)
        return sync_chips(session)
