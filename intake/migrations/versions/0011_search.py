"""search: pg_trgm GIN indexes (PostgreSQL) or FTS5 trigram tables with triggers (SQLite)

Revision ID: 0011_search
Revises: 0001_foundation

The statements are written out here, not imported, so this migration stays what it was when
``intake.search`` changes. ``tests/inbox/test_search.py`` checks they build what ``create_all`` does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_search"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS = {"complaint_fts": ("complaint", "text"), "reporter_fts": ("reporter", "name")}
TRGM = {"ix_complaint_text_trgm": ("complaint", "text"), "ix_reporter_name_trgm": ("reporter", "name")}


def _sqlite_fts5(conn: sa.Connection) -> bool:
    return "ENABLE_FTS5" in {row[0] for row in conn.exec_driver_sql("PRAGMA compile_options")}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        if not _sqlite_fts5(conn):
            return  # intake.search then matches with LIKE
        for fts, (table, column) in FTS.items():
            new = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"
            old = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
            op.execute(
                f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', content_rowid='id', "
                "tokenize='trigram')"
            )
            op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {new} END")
            op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {old} END")
            op.execute(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON {table} BEGIN {old} {new} END")
            op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    elif conn.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema = conn.execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_trgm'"
            )
        ).scalar_one()
        for index, (table, column) in TRGM.items():
            op.execute(f'CREATE INDEX {index} ON {table} USING gin ({column} "{schema}".gin_trgm_ops)')


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for fts in FTS:
            for suffix in ("ai", "ad", "au"):  # the triggers belong to the content table
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    elif conn.dialect.name == "postgresql":
        for index in TRGM:
            op.execute(f"DROP INDEX IF EXISTS {index}")
