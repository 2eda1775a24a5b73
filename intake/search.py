"""Indexed search of complaint text and reporter names: GIN trigram indexes (pg_trgm).

A word or a part of a word is found anywhere, in any letter case (``"sétia"`` finds ``"SÉTIAWAN"``,
``"izin"`` finds ``"perizinan"``: Indonesian prefixes make substring search matter). Several words
must all occur. Accents are not folded: ``"setiawan"`` does not find ``"Sétiawan"``. The query is a
plain ``ILIKE '%word%'``, which the planner answers from the ``gin_trgm_ops`` indexes on
``complaint.text`` and ``reporter.name``.

The indexes are created by the baseline migration and, for ``create_all``, by the DDL listener
below. Alembic's comparison leaves them alone (``include_name``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from intake.models import Complaint, Reporter

#: Words of one search that are looked up; more are ignored (a search box, not a query language).
MAX_WORDS = 6
TRGM_INDEXES = {
    "ix_complaint_text_trgm": ("complaint", "text"),
    "ix_reporter_name_trgm": ("reporter", "name"),
}

_c = Complaint.__table__.c  # type: ignore[attr-defined]
_r = Reporter.__table__.c  # type: ignore[attr-defined]


# -- schema ----------------------------------------------------------------------------------------


def postgres_ddl(index: str, opclass_schema: str) -> str:
    """Return the CREATE INDEX of one GIN trigram index (the operator class named with its schema)."""
    table, column = TRGM_INDEXES[index]
    return f'CREATE INDEX {index} ON {table} USING gin ({column} "{opclass_schema}".gin_trgm_ops)'


def trgm_schema(conn: sa.Connection) -> str:
    """Create the pg_trgm extension when missing and return the schema it lives in.

    Named explicitly because the operator class is looked up through ``search_path``, and a
    database may have the extension in ``public`` while the tables live in another schema.
    """
    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    return str(
        conn.execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_trgm'"
            )
        ).scalar_one()
    )


def _after_create(table: sa.Table, conn: sa.Connection, **_: Any) -> None:
    """Add the trigram index of a table just created by ``create_all``."""
    for index, (name, _col) in TRGM_INDEXES.items():
        if name == table.name:
            conn.exec_driver_sql(postgres_ddl(index, trgm_schema(conn)))


for _table in (Complaint.__table__, Reporter.__table__):  # type: ignore[attr-defined]
    event.listen(_table, "after_create", _after_create)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic filter: leave the trigram indexes (not SQLAlchemy indexes) and the job queue alone."""
    if type_ == "index" and name:
        return name not in TRGM_INDEXES
    if type_ == "table" and name:
        return not name.startswith("procrastinate_")
    return True


# -- queries ---------------------------------------------------------------------------------------


def words_of(q: str) -> list[str]:
    """Split a search into the words that must all occur (duplicates and extras dropped)."""
    out: list[str] = []
    for word in q.split():
        if word.casefold() not in (w.casefold() for w in out):
            out.append(word)
    return out[:MAX_WORDS]


def _like(column: Any, word: str) -> Any:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def text_clause(words: list[str]) -> Any:
    """WHERE clause on ``complaint``: its text contains every word."""
    return sa.and_(*(_like(_c.text, w) for w in words))


def name_ids(words: list[str]) -> Any:
    """SELECT of the reporter ids whose name contains every word."""
    return sa.select(_r.id).where(sa.and_(*(_like(_r.name, w) for w in words)))


def words_clause(
    q: str,
    *,
    names: bool,
    hidden: Any,
    scope: Sequence[Any] = (),
    first: int | None = None,
) -> Any:
    """WHERE clause on ``complaint``: the text, or (when ``names``) the reporter's name, has every word.

    ``hidden`` limits the name match (ANONIM reporters for roles that may not see them, R5a).
    The text and the name lookups are a UNION of ids, so each can use its own index (an OR would
    make the planner scan). When the caller shows only the ``first`` rows in (due date, id) order
    within ``scope`` (its queue and filters), each branch is cut to those rows too: the planner
    then walks the due-date index for a common word ("siti") and stops early, or reads a rare
    one's few rows from the trigram index, instead of joining every match. The first rows of the
    union are among the first rows of its branches, so the page is the same.
    """
    words = words_of(q)
    if not words:
        return sa.true()
    branches = [sa.select(_c.id).where(*scope, text_clause(words))]
    if names:
        by_name = sa.and_(_c.reporter_id.in_(name_ids(words)), hidden)
        branches.append(sa.select(_c.id).where(*scope, by_name))
    if first is not None:
        cut = [b.order_by(_c.due_date, _c.id).limit(first).subquery() for b in branches]
        branches = [sa.select(c.c.id) for c in cut]
    if len(branches) == 1:
        return _c.id.in_(branches[0])
    return _c.id.in_(sa.union(*branches))
