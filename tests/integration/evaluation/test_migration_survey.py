"""Migration 0008_survey builds the survey tables exactly as bot.survey describes them, and drops them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from intake import db
from tests.conftest import migration_engine

TABLES = {"survey_invitation", "survey_response"}


def _touches_survey(diff: object) -> bool:
    text = repr(diff)
    return any(name in text for name in TABLES)


def test_e1_survey_migration_matches_the_models_and_downgrades(db_url: str) -> None:
    with migration_engine(db_url, "migsurvey") as engine:
        db.upgrade(engine, "0008_survey")
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.import_all_models())
        assert [d for d in diff if _touches_survey(d)] == []
        command.downgrade(db.alembic_config(engine), "0001_foundation")
        assert not TABLES & set(sa.inspect(engine).get_table_names())
