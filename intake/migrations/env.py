"""Alembic environment: runs Aduan's migrations on the engine given by ``intake.db``."""

from __future__ import annotations

from alembic import context

from intake.db import create_engine, import_all_models
from intake.search import include_name

config = context.config
target_metadata = import_all_models()


def run_migrations_online() -> None:
    """Run migrations with the engine ``intake.db.upgrade`` passed in."""
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_name=include_name,  # the trigram indexes and the job queue's tables
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
