"""The migrated schema is the models' schema: every table, column, index and constraint the models
declare is what `suanli db upgrade` builds, on both databases.

Several changes add migrations at once; a model edited without its migration (or a migration without its
model) would only show on a deployed platform, as a missing index or a failing insert.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import suanli.app  # noqa: F401  (imports every model module, so the metadata is complete)
from suanli.db import Base, Database


def test_migrations_build_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models and migrations differ; add or fix an Alembic revision:\n" + \
        "\n".join(map(str, differences))
