"""Alembic migrations (every branch head) build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from intake import db, search
from tests.conftest import migration_engine


def test_upgrade_to_heads_matches_the_models(db_url: str) -> None:
    with migration_engine(db_url, "migtest") as engine:
        db.upgrade(engine)
        assert db.is_up_to_date(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                # intake.search's FTS5 tables and trigram indexes are not SQLAlchemy objects: not compared
                MigrationContext.configure(
                    conn, opts={"compare_type": True, "include_name": search.include_name}
                ),
                db.import_all_models(),
            )
        assert diff == []
        db.upgrade(engine)  # a second run is a no-op
