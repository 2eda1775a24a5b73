"""The one baseline migration builds exactly the schema the models describe, and goes back down whole."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
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
                # the trigram indexes and the job queue's tables are not SQLAlchemy objects: not compared
                MigrationContext.configure(
                    conn, opts={"compare_type": True, "include_name": search.include_name}
                ),
                db.import_all_models(),
            )
        assert diff == []
        db.upgrade(engine)  # a second run is a no-op


def test_downgrade_removes_everything_and_upgrade_runs_again(db_url: str) -> None:
    with migration_engine(db_url, "migdown") as engine:
        db.upgrade(engine)
        command.downgrade(db.alembic_config(engine), "base")
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            routines = conn.execute(
                sa.text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'")
            ).scalar_one()
        assert set(tables) == {"alembic_version"} and routines == 0
        db.upgrade(engine)
        assert db.is_up_to_date(engine)
