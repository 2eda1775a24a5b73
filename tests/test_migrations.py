"""Alembic migrations (every branch head) build exactly the schema the models describe."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from intake import db, search


def test_upgrade_to_heads_matches_the_models(db_url: str) -> None:
    engine = db.create_engine(db_url)
    if engine.dialect.name == "postgresql":
        # the session database was built with create_all: migrate a schema of our own instead
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS migtest CASCADE; CREATE SCHEMA migtest"))
        engine.dispose()
        engine = db.create_engine(db_url, connect_args={"options": "-csearch_path=migtest"})
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
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA migtest CASCADE"))
    engine.dispose()
