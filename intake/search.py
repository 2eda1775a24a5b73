"""Indexed search of complaint text and reporter names: pg_trgm on PostgreSQL, FTS5 trigram on SQLite.

Both find a word or a part of a word anywhere, in any letter case (``"sétia"`` finds ``"SÉTIAWAN"``,
``"izin"`` finds ``"perizinan"``: Indonesian prefixes make substring search matter). Several words
must all occur. Accents are not folded: ``"setiawan"`` does not find ``"Sétiawan"``.

- PostgreSQL: GIN trigram indexes (``gin_trgm_ops``) on ``complaint.text`` and ``reporter.name``;
  the query is a plain ``ILIKE '%word%'``, which the planner answers from those indexes.
- SQLite: FTS5 tables with the ``trigram`` tokenizer (external content, no second copy of the
  text) kept in step with ``complaint`` and ``reporter`` by triggers, so every writer (ORM, Core,
  purge, the sqlite3 shell) updates them. A new or edited row is only *queued* by its trigger
  (``complaint_fts_queue``) and indexed just before its transaction commits (``index_queued``,
  which ``intake.db`` calls from every commit that wrote), all the rows of a transaction in one statement:
  FTS5 writes out its pending index at each statement savepoint, which a trigger opens for every
  row, so indexing row by row cost about six times as much (200 µs a complaint against 30). A
  program other than Aduan that writes rows (the sqlite3 shell) leaves them queued until Aduan's
  next writing commit. A word shorter than three characters cannot use a trigram index and is matched by
  ``LIKE``; a database without the FTS5 tables (an SQLite built without FTS5) falls back to
  ``LIKE`` for every word. Both fallbacks still find substrings.

The schema objects are created by migration ``0011_search`` and, for ``create_all`` (tests),
by the DDL listeners below. They are not SQLAlchemy tables, so ``include_name`` tells Alembic's
comparison to leave them alone.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from intake.models import Complaint, Reporter

#: Words of one search that are looked up; more are ignored (a search box, not a query language).
MAX_WORDS = 6
#: FTS5's trigram index answers only strings of at least this many characters.
TRIGRAM = 3
#: SQLite: words in at least this many complaint texts are looked for along the page's order
#: (``is_common``, ``words_clause``); fewer are read from the FTS5 matches and sorted.
COMMON = 10_000

FTS_TABLES = {"complaint_fts": ("complaint", "text"), "reporter_fts": ("reporter", "name")}
TRGM_INDEXES = {
    "ix_complaint_text_trgm": ("complaint", "text"),
    "ix_reporter_name_trgm": ("reporter", "name"),
}

_c = Complaint.__table__.c  # type: ignore[attr-defined]
_r = Reporter.__table__.c  # type: ignore[attr-defined]


# -- schema ----------------------------------------------------------------------------------------


def sqlite_ddl(fts: str) -> list[str]:
    """Return the statements that create one FTS5 table, its queue and the triggers that keep it in step.

    A row is in the index or in the queue, never both: a queued row is indexed (with its text at
    that moment) by ``index_queued``; an indexed row's old text is taken out of the index when the
    row changes or goes (FTS5 external content must be told the old text), then it is queued.
    """
    table, column = FTS_TABLES[fts]
    queue = f"{fts}_queue"
    enqueue = f"INSERT OR IGNORE INTO {queue}(id) VALUES (new.id);"
    dequeue = f"DELETE FROM {queue} WHERE id = old.id;"
    unindex = (
        f"INSERT INTO {fts}({fts}, rowid, {column}) SELECT 'delete', old.id, old.{column} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {queue} WHERE id = old.id);"
    )
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', content_rowid='id', "
        "tokenize='trigram')",
        f"CREATE TABLE {queue} (id INTEGER PRIMARY KEY)",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {enqueue} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {unindex} {dequeue} END",
        # Only when the searched column changes: a status update must not rewrite the index.
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON {table} BEGIN {unindex} {enqueue} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # index the rows already there
    ]


#: Is anything queued for indexing? (Raises "no such table" where there is no FTS5 index.)
_QUEUED = " OR ".join(f"EXISTS (SELECT 1 FROM {fts}_queue)" for fts in FTS_TABLES)
#: Index the queued rows with their text now, then empty the queues.
_INDEX_QUEUED = [
    statement
    for fts, (table, column) in FTS_TABLES.items()
    for statement in (
        f"INSERT INTO {fts}(rowid, {column}) "
        f"SELECT t.id, t.{column} FROM {fts}_queue q JOIN {table} t ON t.id = q.id",
        f"DELETE FROM {fts}_queue",
    )
]


def index_queued(dbapi_connection: Any) -> None:
    """Index the rows queued in this SQLite transaction; called just before a writing one commits.

    One cheap query when nothing is queued; nothing where the database has no FTS5 tables (an
    SQLite built without FTS5, or a database not migrated yet). Rows another program queued are
    indexed along with this transaction's.
    """
    cursor = dbapi_connection.cursor()
    try:
        try:
            (queued,) = cursor.execute(f"SELECT {_QUEUED}").fetchone()
        except dbapi_connection.OperationalError:  # no queue tables here: nothing to index
            return
        if queued:
            for statement in _INDEX_QUEUED:
                cursor.execute(statement)
    finally:
        cursor.close()


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
    """Add the search objects of a table just created by ``create_all``."""
    if conn.dialect.name == "sqlite":
        for fts, (name, _col) in FTS_TABLES.items():
            if name == table.name and has_fts5(conn):
                for statement in sqlite_ddl(fts):
                    conn.exec_driver_sql(statement)
    elif conn.dialect.name == "postgresql":
        for index, (name, _col) in TRGM_INDEXES.items():
            if name == table.name:
                conn.exec_driver_sql(postgres_ddl(index, trgm_schema(conn)))


def _before_drop(table: sa.Table, conn: sa.Connection, **_: Any) -> None:
    if conn.dialect.name == "sqlite":
        for fts, (name, _col) in FTS_TABLES.items():
            if name == table.name:
                for suffix in ("ai", "ad", "au"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {fts}")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {fts}_queue")


for _table in (Complaint.__table__, Reporter.__table__):  # type: ignore[attr-defined]
    event.listen(_table, "after_create", _after_create)
    event.listen(_table, "before_drop", _before_drop)


def has_fts5(conn: sa.Connection) -> bool:
    """Tell whether this SQLite library was built with FTS5."""
    options = {row[0] for row in conn.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic filter: skip the search objects that are not SQLAlchemy tables or indexes."""
    if type_ == "table" and name:
        return not any(name == fts or name.startswith(fts + "_") for fts in FTS_TABLES)
    if type_ == "index" and name:
        return name not in TRGM_INDEXES
    return True


# -- queries ---------------------------------------------------------------------------------------

#: Per engine: "trgm" (PostgreSQL), "fts5" (SQLite with the FTS5 tables) or "like" (fallback).
_methods: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def method(session: Session) -> str:
    """Return how this database searches words: ``trgm``, ``fts5`` or ``like`` (checked once)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    found = _methods.get(engine)
    if found is None:
        if engine.dialect.name == "postgresql":
            found = "trgm"
        else:
            names = {
                row[0]
                for row in session.execute(
                    sa.text(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                        "('complaint_fts', 'reporter_fts')"
                    )
                )
            }
            found = "fts5" if names == set(FTS_TABLES) else "like"
        _methods[engine] = found
    return found


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


def _fts_match(fts: str, words: list[str]) -> Any:
    # Each word a quoted FTS5 string (a quote inside is doubled): no operator can be injected.
    expression = " AND ".join('"' + w.replace('"', '""') + '"' for w in words)
    return (
        sa.select(sa.literal_column("rowid"))
        .select_from(sa.table(fts))
        .where(sa.literal_column(fts).op("MATCH")(sa.bindparam(f"{fts}_match", expression, unique=True)))
    )


def _contains_all(
    how: str, fts: str, id_column: Any, column: Any, words: list[str], *, along: bool = False
) -> Any:
    """Return a clause: every word occurs in ``column`` (indexed where the database allows).

    ``along``: the FTS5 matches are a set each row is tested against, not rows to start from.
    """
    if how != "fts5":
        return sa.and_(*(_like(column, w) for w in words))
    long = [w for w in words if len(w) >= TRIGRAM]
    clauses = [_like(column, w) for w in words if len(w) < TRIGRAM]
    if long:
        # ``id + 0`` hides the primary key from the planner, so it walks the ORDER BY's index instead.
        key = id_column + 0 if along else id_column
        clauses.insert(0, key.in_(_fts_match(fts, long)))
    return sa.and_(*clauses)


def is_common(session: Session, q: str, *, how: str) -> bool:
    """Tell whether the words of ``q`` occur together in at least ``COMMON`` complaint texts (FTS5 only).

    Counting stops at ``COMMON``: a few milliseconds however common the words are.
    """
    long = [w for w in words_of(q) if len(w) >= TRIGRAM]
    if how != "fts5" or not long:
        return False
    hits = _fts_match("complaint_fts", long).limit(COMMON).subquery()
    return int(session.execute(sa.select(sa.func.count()).select_from(hits)).scalar_one()) >= COMMON


def text_clause(words: list[str], *, how: str, along: bool = False) -> Any:
    """WHERE clause on ``complaint``: its text contains every word (``along``: see ``_contains_all``)."""
    return _contains_all(how, "complaint_fts", _c.id, _c.text, words, along=along)


def name_ids(words: list[str], *, how: str) -> Any:
    """SELECT of the reporter ids whose name contains every word."""
    return sa.select(_r.id).where(_contains_all(how, "reporter_fts", _r.id, _r.name, words))


def words_clause(
    q: str,
    *,
    how: str,
    names: bool,
    hidden: Any,
    scope: Sequence[Any] = (),
    first: int | None = None,
    common: bool = False,
) -> Any:
    """WHERE clause on ``complaint``: the text, or (when ``names``) the reporter's name, has every word.

    ``hidden`` limits the name match (ANONIM reporters for roles that may not see them, R5a).
    The text and the name lookups are a UNION of ids, so each can use its own index (an OR would
    make the planner scan). When the caller shows only the ``first`` rows in (due date, id) order
    within ``scope`` (its queue and filters), each branch is cut to those rows too: the planner
    then walks the due-date index for a common word ("siti") and stops early, or reads a rare
    one's few rows from the trigram index, instead of joining every match. The first rows of the
    union are among the first rows of its branches, so the page is the same.

    SQLite does not weigh how many rows a FTS5 match returns and always starts from them: for words
    in a quarter of a million texts that is 250,000 rows read and sorted (200 ms). When the caller
    found them ``common`` (``is_common``), the text branch walks the page's order instead and tests
    each row against the matches (one pass over the match list, then stop at the page's last row).
    """
    words = words_of(q)
    if not words:
        return sa.true()
    along = common and first is not None
    branches = [sa.select(_c.id).where(*scope, text_clause(words, how=how, along=along))]
    if names:
        by_name = sa.and_(_c.reporter_id.in_(name_ids(words, how=how)), hidden)
        branches.append(sa.select(_c.id).where(*scope, by_name))
    if first is not None:
        cut = [b.order_by(_c.due_date, _c.id).limit(first).subquery() for b in branches]
        branches = [sa.select(c.c.id) for c in cut]  # a subquery each: SQLite refuses LIMIT in a UNION arm
    if len(branches) == 1:
        return _c.id.in_(branches[0])
    return _c.id.in_(sa.union(*branches))
