"""The one baseline migration builds exactly the schema the models describe, and goes back down whole."""

from __future__ import annotations

import pytest
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


def _stamp(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_demo_database_at_the_last_squashed_migration_upgrades_without_change(db_url: str) -> None:
    """A ``make run`` database from before the squash (at 0006) is taken as the baseline it equals."""
    with migration_engine(db_url, "migsquash") as engine:
        db.upgrade(engine)
        _stamp(engine, db.SQUASHED_HEAD)
        assert not db.is_up_to_date(engine)
        db.upgrade(engine)
        assert db.current_revisions(engine) == {db.BASELINE}
        with engine.connect() as conn:
            index = conn.execute(
                sa.text("SELECT count(*) FROM pg_indexes WHERE indexname = :name"),
                {"name": "aduan_procrastinate_jobs_lock_active"},
            ).scalar_one()
        assert index == 1


def test_a_database_at_an_earlier_squashed_migration_is_refused_with_the_reason(db_url: str) -> None:
    with migration_engine(db_url, "migold") as engine:
        db.upgrade(engine)
        _stamp(engine, "0003_follow_up")
        with pytest.raises(db.MigrationError, match=r"0003_follow_up.*create it anew"):
            db.upgrade(engine)
        assert db.current_revisions(engine) == {"0003_follow_up"}  # nothing half-done
