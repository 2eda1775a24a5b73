"""The one way messages enter the record: store raw, dedupe, and create or update complaints.

``ingest()`` and ``file_complaint()`` are the only code that creates complaints; every channel,
the dialogue and the officers' form go through them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import Session, SQLModel, select

from channels.base import InboundMessage, RawRequest
from channels.urns import urn_scheme
from intake import deadlines, rules
from intake.models import (
    RAW_STORED,
    STATUS_ACKNOWLEDGED,
    STATUS_RECEIVED,
    Complaint,
    Contact,
    Event,
    Message,
    RawInbound,
    Rejection,
    Reporter,
    TrackingCounter,
)
from intake.office import OfficeProfile

#: Rejected request bodies are kept only up to this many bytes (forensics without hoarding).
REJECTION_BODY_CAP = 4096


@dataclass
class IngestResult:
    """What ``ingest`` did with one message."""

    message: Message
    complaint: Complaint | None
    duplicate: bool
    #: The sender's contact row as ``ingest`` left it (None for a replay); saves hooks a lookup.
    contact: Contact | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the summary printed by ``aduan ingest`` and ``aduan simulate``."""
        return complaint_summary(self.complaint, duplicate=self.duplicate, channel=self.message.channel)


def complaint_summary(
    complaint: Complaint | None, *, duplicate: bool = False, channel: str = ""
) -> dict[str, Any]:
    """Return ``{tracking_number, kind, reasons, due_date, channel, duplicate}`` for a complaint."""
    if complaint is None:
        return {
            "tracking_number": None,
            "kind": None,
            "reasons": [],
            "due_date": None,
            "channel": channel,
            "duplicate": duplicate,
        }
    return {
        "tracking_number": complaint.tracking_number,
        "kind": complaint.kind,
        "reasons": complaint.reason_list,
        "due_date": complaint.due_date.isoformat(),
        "channel": complaint.channel,
        "duplicate": duplicate,
    }


# -- lean statements ----------------------------------------------------------------------------
# Every inbound message runs the statements below. Each is built once per dialect (no per-call
# construction, coercion or cache-key work) and returns what the caller needs (RETURNING), so a
# write is one round trip; the rows are put into the session as if loaded by a query.

Model = TypeVar("Model", bound=SQLModel)
_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_STATEMENTS: dict[tuple[str, Hashable], Any] = {}
_COLUMNS: dict[type[Any], frozenset[str]] = {}


def statement(session: Session, key: Hashable, build: Callable[[Any], Any]) -> Any:
    """Return ``build(insert)`` for the session's dialect, made once per ``key`` and dialect.

    ``insert`` is the dialect's ``insert`` (with ``on_conflict_do_*``); parameters are bound at
    execution, so the compiled statement is reused from SQLAlchemy's cache.
    """
    dialect = session.get_bind().dialect.name
    stmt = _STATEMENTS.get((dialect, key))
    if stmt is None:
        stmt = _STATEMENTS[(dialect, key)] = build(_INSERTS.get(dialect, sqlite.insert))
    return stmt


def run(session: Session, key: Hashable, build: Callable[[Any], Any], params: dict[str, Any]) -> Any:
    """Execute the cached statement ``key`` (see ``statement``) in the session's transaction.

    It runs on the session's connection, without the autoflush of ``session.execute``: the caller
    knows its statement does not depend on changes still pending in the session (a new row, or a
    row whose pending changes were flushed before), and the inbound path then flushes only once.
    """
    connection = session.connection()
    if session.info.get(DIRECT) and connection.dialect.driver in _DIRECT_DRIVERS and not _watched(connection):
        direct = _direct(connection, key, build, params)
        if direct is not None:
            return direct.execute(connection, params)
    return connection.execute(statement(session, key, build), params)


def _watched(connection: Any) -> bool:
    """Tell whether listeners watch statements on this connection (they must see every one)."""
    dispatch = connection.dispatch
    return bool(
        dispatch.before_execute
        or dispatch.after_execute
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
    )


#: ``session.info`` key: ``run`` may hand its statements to the driver's cursor directly (a batch
#: that rolls back whole on any error: the mailbox import). See ``_Direct``.
DIRECT = "aduan.direct_statements"
#: The drivers ``_Direct`` knows: SQLite's (positional ``?``) and psycopg 3 (named ``%(name)s``).
_DIRECT_DRIVERS = frozenset({"pysqlite", "psycopg"})


class _Rows:
    """The few ``Result`` methods the inbound path's callers use, over rows already fetched."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise sa.exc.NoResultFound("no row") if not self.rows else sa.exc.MultipleResultsFound("rows")
        return self.rows[0]


class _Row(tuple):  # type: ignore[type-arg]
    """A fetched row that also answers ``_asdict()``, like SQLAlchemy's ``Row``."""

    __slots__ = ()
    keys: tuple[str, ...] = ()

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self.keys, self, strict=True))


class _Direct:
    """A statement compiled once and run on the driver's cursor, with SQLAlchemy's types.

    SQLAlchemy's per-execution work (cache lookup, execution context, result metadata) costs more
    than the database's for these one-row statements (SQLite's, or a PostgreSQL round trip). Here
    the compiled SQL, the bind processors (UTC timestamps, booleans) and the result processors are
    SQLAlchemy's own, applied the same way; driver errors are wrapped into SQLAlchemy's exceptions
    as ``Connection.execute`` would. Parameters go positionally (SQLite) or by their compiled,
    escaped names (psycopg); psycopg prepares a statement it has run a few times, as under SQLAlchemy.
    """

    def __init__(self, compiled: Any, dialect: Any) -> None:
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        named = tuple(dict.fromkeys(compiled.bind_names.values()))  # each name once, in order
        self.names = tuple(compiled.positiontup or ()) if self.positional else named
        escaped = compiled.escaped_bind_names or {}
        self.keys = tuple(escaped.get(name, name) for name in self.names)
        self.compiled = compiled
        processors = compiled._bind_processors
        self.processors = tuple(processors.get(name) for name in self.names)
        columns = compiled._result_columns
        self.returns = bool(columns)
        row_type = type("_Row", (_Row,), {"__slots__": (), "keys": tuple(c[0] for c in columns)})
        self.row_type = row_type
        self.result_processors = tuple(c[3]._cached_result_processor(dialect, None) for c in columns)

    def execute(self, connection: Any, params: dict[str, Any]) -> _Rows:
        values = self.compiled.construct_params(params, escape_names=False)
        processed = [
            value if process is None else process(value)
            for value, process in zip((values[n] for n in self.names), self.processors, strict=True)
        ]
        args: Any = processed if self.positional else dict(zip(self.keys, processed, strict=True))
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, args)
            fetched = cursor.fetchall() if self.returns else []
        except connection.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(
                self.sql, args, exc, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
            ) from exc
        finally:
            cursor.close()
        processors = self.result_processors
        make = self.row_type
        return _Rows(
            [make(v if p is None else p(v) for v, p in zip(row, processors, strict=True)) for row in fetched]
        )


_DIRECTS: dict[tuple[str, Hashable, tuple[str, ...]], _Direct | None] = {}


def _direct(
    connection: Any, key: Hashable, build: Callable[[Any], Any], params: dict[str, Any]
) -> _Direct | None:
    """Return the direct form of statement ``key`` for these parameter names (None: not eligible)."""
    names = tuple(sorted(params))
    dialect = connection.dialect.name
    found = _DIRECTS.get((dialect, key, names), _MISSING)
    if found is _MISSING:
        stmt = _STATEMENTS.get((dialect, key))
        if stmt is None:
            stmt = _STATEMENTS[(dialect, key)] = build(_INSERTS.get(dialect, sqlite.insert))
        compiled = stmt.compile(dialect=connection.dialect, column_keys=list(names))
        try:
            simple = (
                (compiled.positional or connection.dialect.paramstyle == "pyformat")
                and not compiled.insert_prefetch
                and not compiled.update_prefetch
                and not compiled.literal_execute_params
                and not compiled.post_compile_params
            )
            found = _Direct(compiled, connection.dialect) if simple else None
        except (AttributeError, KeyError, TypeError, IndexError):
            # _Direct reads SQLAlchemy's compiled form (its processors are not public API): a
            # release that changes it makes the statement take the ordinary path, never fail.
            found = None
        _DIRECTS[(dialect, key, names)] = found
    return found  # type: ignore[no-any-return]


_MISSING: Any = object()


def _columns(model: type[Any]) -> frozenset[str]:
    keys = _COLUMNS.get(model)
    if keys is None:
        # Objects are built here without a query, which is what otherwise configures the mappers.
        sa.orm.configure_mappers()
        keys = _COLUMNS[model] = frozenset(c.key for c in model.__table__.c)
    return keys


def loaded(session: Session, model: type[Model], values: dict[str, Any]) -> Model:
    """Return the session's object for a row just written, as if a query had loaded it.

    ``values`` holds every column (a missing one would be loaded lazily later, one more SELECT).
    An object of the same row already in the session gets the new values, except where it has
    changes not flushed yet: those stay pending and are written at the next flush, as they would
    have been by the autoflush before a query.
    """
    assert values.keys() >= _columns(model), f"{model.__name__}: columns missing"
    key = session.identity_key(model, values["id"])  # type: ignore[no-untyped-call]
    existing = session.identity_map.get(key)
    if existing is not None:
        pending = instance_state(existing).committed_state
        for name, value in values.items():
            if name not in pending:
                set_committed_value(existing, name, value)
        return existing  # type: ignore[no-any-return]
    obj = manager_of_class(model).new_instance()
    obj.__dict__.update(values)  # what a query's loader does: committed values, no history
    make_transient_to_detached(obj)
    session.add(obj)
    return obj  # type: ignore[no-any-return]


def insert_new(session: Session, obj: Model) -> Model:
    """INSERT a new object with one cached statement (RETURNING its id) and make it persistent.

    Cheaper than ``session.add`` + ``flush`` for the one-row writes of the inbound path; the object
    behaves as if loaded afterwards (later changes are flushed as UPDATEs).
    """
    model = type(obj)
    table = model.__table__  # type: ignore[attr-defined]
    state = instance_state(obj)
    values = {key: state.dict.get(key) for key in _columns(model) if key != "id"}
    # No autoflush needed: the new row's foreign keys are ids, so the rows they name are written.
    result = run(session, ("insert", table.name), lambda ins: ins(table).returning(table.c.id), values)
    _persist(session, obj, result.scalar_one())
    return obj


def _persist(session: Session, obj: Any, new_id: int) -> None:
    """Make an object whose row was just inserted with ``new_id`` persistent, as if loaded."""
    instance_state(obj).dict["id"] = new_id
    make_transient_to_detached(obj)
    session.add(obj)


_DEFAULTS: dict[type[Any], tuple[dict[str, Any], dict[str, Callable[[], Any]], frozenset[str]]] = {}


def _defaults_of(model: type[Any]) -> tuple[dict[str, Any], dict[str, Callable[[], Any]], frozenset[str]]:
    found = _DEFAULTS.get(model)
    if found is None:
        plain: dict[str, Any] = {}
        factories: dict[str, Callable[[], Any]] = {}
        required: set[str] = set()
        for name, info in model.model_fields.items():
            if info.default_factory is not None:
                factories[name] = info.default_factory
            elif info.is_required():
                required.add(name)
            else:
                plain[name] = info.default
        found = _DEFAULTS[model] = (plain, factories, frozenset(required))
    return found


def new(model: type[Model], **values: Any) -> Model:
    """Return a new (transient) ``model`` object, as ``Model(**values)`` would, for ``insert_new``.

    Built the way a query's loader builds objects (the model's defaults, no validation): on the
    hot inbound path a SQLModel constructor costs more than the INSERT itself.
    """
    obj = manager_of_class(model).new_instance()
    obj.__dict__.update(_row(model, values))
    return obj  # type: ignore[no-any-return]


def _row(model: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    """Return ``values`` completed with the model's defaults; raise TypeError as a constructor would."""
    plain, factories, required = _defaults_of(model)
    unknown = values.keys() - _columns(model)
    if unknown or not required <= values.keys():
        raise TypeError(
            f"{model.__name__}: unknown {sorted(unknown)}, missing {sorted(required - values.keys())}"
        )
    row = dict(plain)
    for name, factory in factories.items():
        if name not in values:
            row[name] = factory()
    row.update(values)
    return row


def insert_row(session: Session, model: type[Any], **values: Any) -> int:
    """INSERT one new row of ``model`` (its defaults filled in) and return its id, with no object.

    For rows the caller never reads back (the audit event of a filing, a new reporter): building
    and tracking an ORM object would cost more than the INSERT.
    """
    table = model.__table__
    row = _row(model, values)
    row.pop("id", None)
    result = run(session, ("insert", table.name), lambda ins: ins(table).returning(table.c.id), row)
    return result.scalar_one()  # type: ignore[no-any-return]


def create(session: Session, model: type[Model], **values: Any) -> Model:
    """INSERT one new row of ``model`` and return it persistent (``insert_new(new(model, ...))``)."""
    return insert_new(session, new(model, **values))


def write_changes(session: Session, obj: Any) -> None:
    """UPDATE the columns changed on a persistent object with one cached statement, then mark them written.

    What a flush does for one object, at a fifth of its cost; for the row every chat message
    changes (the dialogue draft). Objects not persistent yet are left to the flush.
    """
    state = instance_state(obj)
    if not state.persistent or not state.committed_state:
        return
    table = type(obj).__table__
    values = {name: state.dict[name] for name in state.committed_state}
    run(session, ("update", table.name), _update_by_id(table), {**values, "row_id_": state.dict["id"]})
    for name, value in values.items():
        set_committed_value(obj, name, value)


def _update_by_id(table: Any) -> Callable[[Any], Any]:
    def build(_ins: Any) -> Any:
        # No .values(): SET takes the parameters' columns, so one statement serves every set of them.
        return sa.update(table).where(table.c.id == sa.bindparam("row_id_"))

    return build


def take_changes(obj: Any) -> dict[str, Any] | None:
    """Return the columns changed on a persistent object (its id as ``row_id_``) and mark them written.

    For a caller that writes many rows' changes at once (``write_many``) in the same transaction,
    which it rolls back whole if that fails. None when the object has no change to write.
    """
    state = instance_state(obj)
    if not state.persistent or not state.committed_state:
        return None
    values = {name: state.dict[name] for name in state.committed_state}
    for name, value in values.items():
        set_committed_value(obj, name, value)
    return {**values, "row_id_": state.dict["id"]}


def write_many(session: Session, model: type[Any], changes: list[dict[str, Any]]) -> None:
    """UPDATE rows by id from ``take_changes`` results: one executemany per set of changed columns."""
    table = model.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in changes:
        groups.setdefault(tuple(sorted(values)), []).append(values)
    connection = session.connection()
    for rows in groups.values():
        connection.execute(statement(session, ("update", table.name), _update_by_id(table)), rows)


def _utc(moment: dt.datetime) -> dt.datetime:
    """Return a moment as the database gives it back (UTC), for objects built from written values."""
    return moment.astimezone(dt.UTC)


def _insert_ignore(session: Session, model: type[Any], values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT a row unless one with the same unique key exists; return True when inserted."""
    table = model.__table__
    stmt = statement(
        session,
        ("insert_ignore", table.name, tuple(values), tuple(keys)),
        # rowcount is unreliable for ON CONFLICT DO NOTHING on some drivers; RETURNING is not.
        lambda ins: ins(table).on_conflict_do_nothing(index_elements=keys).returning(sa.literal_column("1")),
    )
    return session.execute(stmt, values).first() is not None


def _insert_returning_id(session: Session, model: type[Any], values: dict[str, Any], keys: list[str]) -> Any:
    """INSERT a row unless its unique key exists; return the new id, or None when it existed."""
    table = model.__table__
    return run(
        session,
        ("insert_id", table.name, tuple(values), tuple(keys)),
        lambda ins: ins(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id),
        values,
    ).scalar()


def store_raw(
    *,
    session: Session,
    channel: str,
    raw: RawRequest,
    external_id: str | None = None,
    now: dt.datetime,
    office: str = "default",
) -> tuple[RawInbound, bool]:
    """Store a payload exactly as received, idempotently on ``(channel, external_id)``.

    Returns the row and whether it was already there. The caller commits before answering the
    provider, so an answered delivery is always on disk.
    """
    key = (external_id or raw.body_hash())[:255]
    values: dict[str, Any] = {
        "office": office,
        "channel": channel,
        "external_id": key,
        "received_at": now,
        "headers": json.dumps(raw.headers, ensure_ascii=False, sort_keys=True),
        "body": raw.body,
        "url": raw.url,
        "status": RAW_STORED,
        "lane": 0,  # processed right here; the drainers' lanes matter only to what they process
    }
    new_id = _insert_returning_id(session, RawInbound, values, ["channel", "external_id"])
    if new_id is None:
        row = session.exec(
            select(RawInbound).where(RawInbound.channel == channel, RawInbound.external_id == key)
        ).one()
        return row, True
    values.update(id=new_id, received_at=_utc(now), error=None, processed_at=None)
    return loaded(session, RawInbound, values), False


def record_rejection(
    *, session: Session, channel: str, reason: str, body: bytes, status_code: int, now: dt.datetime
) -> Rejection:
    """Keep a size-capped trace of a refused request (forged signature, malformed body)."""
    row = Rejection(
        channel=channel,
        reason=reason[:1000],
        status_code=status_code,
        received_at=now,
        body_excerpt=body[:REJECTION_BODY_CAP],
        body_size=len(body),
    )
    session.add(row)
    return row


def record_event(
    session: Session,
    complaint: Complaint,
    *,
    actor: str,
    action: str,
    now: dt.datetime,
    field: str | None = None,
    old: object = None,
    new: object = None,
    note: str | None = None,
) -> Event:
    """Append one entry to a complaint's event log (the audit trail)."""
    assert complaint.id is not None
    event = Event(
        complaint_id=complaint.id,
        at=now,
        actor=actor,
        action=action,
        field=field,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
        note=note,
    )
    session.add(event)
    return event


def allocate_tracking_number(session: Session, *, prefix: str, year: int) -> tuple[str, int]:
    """Issue the next tracking number of the year, e.g. ``PWK-2026-000123``.

    The counter row is incremented inside the caller's transaction: a rollback gives the number
    back (no gaps) and the row lock serialises concurrent writers (no repeats).
    """
    seq = run(session, "tracking_counter", _counter_upsert, {"prefix": prefix, "year": year}).scalar_one()
    return f"{prefix}-{year}-{seq:06d}", seq


def _counter_upsert(ins: Any) -> Any:
    # One statement: the first number of a year inserts the row, later ones increment it under its
    # row lock (ON CONFLICT DO UPDATE waits for a concurrent writer, then sees its number).
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    stmt = ins(table).values(prefix=sa.bindparam("prefix"), year=sa.bindparam("year"), last_seq=1)
    return stmt.on_conflict_do_update(
        index_elements=["prefix", "year"], set_={"last_seq": table.c.last_seq + 1}
    ).returning(table.c.last_seq)


def _contact_upsert(ins: Any) -> Any:
    # Insert the contact, or stamp its last inbound time (never backwards) and the profile name.
    table = Contact.__table__  # type: ignore[attr-defined]
    stmt = ins(table)
    later = sa.or_(table.c.last_inbound_at.is_(None), table.c.last_inbound_at < stmt.excluded.last_inbound_at)
    return stmt.on_conflict_do_update(
        index_elements=["urn"],
        set_={
            "last_inbound_at": sa.case((later, stmt.excluded.last_inbound_at), else_=table.c.last_inbound_at),
            "display_name": sa.func.coalesce(stmt.excluded.display_name, table.c.display_name),
        },
    ).returning(*table.c)


def _contact_select(_ins: Any) -> Any:
    table = Contact.__table__  # type: ignore[attr-defined]
    return sa.select(*table.c).where(table.c.urn == sa.bindparam("urn"))


def _contact_insert(ins: Any) -> Any:
    table = Contact.__table__  # type: ignore[attr-defined]
    return ins(table).on_conflict_do_nothing(index_elements=["urn"]).returning(*table.c)


def _touch_contact(session: Session, urn: str, now: dt.datetime, display_name: str | None = None) -> Contact:
    """Create or update a contact in one statement: last inbound time and, if given, profile name."""
    values = {"urn": urn, "channel": urn_scheme(urn), "last_inbound_at": now, "display_name": display_name}
    return loaded(session, Contact, run(session, "contact_upsert", _contact_upsert, values).one()._asdict())


def contact_for(session: Session, urn: str, *, now: dt.datetime | None = None) -> Contact:
    """Return the contact row of a URN, creating it when new; stamp the last inbound time."""
    if now is not None:
        return _touch_contact(session, urn, now)
    # Read first: filing from a draft must not lock a contact a concurrent message is stamping.
    row = run(session, "contact_select", _contact_select, {"urn": urn}).first()
    if row is None:
        values = {"urn": urn, "channel": urn_scheme(urn)}
        row = run(session, "contact_insert", _contact_insert, values).first()
        if row is None:  # inserted by a concurrent transaction meanwhile
            row = run(session, "contact_select", _contact_select, {"urn": urn}).one()
    return loaded(session, Contact, row._asdict())


def known_name(session: Session, urn: str) -> str | None:
    """Return the name a contact gave in an earlier complaint, if any."""
    contact = session.exec(select(Contact).where(Contact.urn == urn)).first()
    if contact is None or contact.reporter_id is None:
        return None
    reporter = session.get(Reporter, contact.reporter_id)
    return reporter.name if reporter else None


def _contact_reporter_update(_ins: Any) -> Any:
    table = Contact.__table__  # type: ignore[attr-defined]
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("contact_id"))
        .values(reporter_id=sa.bindparam("reporter_id"))
    )


def _reporter_pg(ins: Any) -> Any:
    r, ct = Reporter.__table__, Contact.__table__  # type: ignore[attr-defined]
    columns = [col for col in r.c if col.key != "id"]
    reporter = (
        ins(r)
        .values({col.key: sa.bindparam(f"r_{col.key}", type_=col.type) for col in columns})
        .returning(r.c.id)
        .cte("new_reporter")
    )
    link = (
        sa.update(ct)
        .where(ct.c.id == sa.bindparam("contact_id"))
        .values(reporter_id=sa.select(reporter.c.id).scalar_subquery())
    )
    return sa.select(reporter.c.id).add_cte(link.cte("linked_contact"))


def _reporter_for(session: Session, contact: Contact, name: str | None, anonymous: bool) -> int:
    """Return the id of the reporter a complaint from ``contact`` is filed under (made when new)."""
    reporter = session.get(Reporter, contact.reporter_id) if contact.reporter_id else None
    if reporter is None or (name and reporter.name and reporter.name != name):
        if contact.reporter_id is None and session.get_bind().dialect.name == "postgresql":
            # One round trip: the reporter and the contact's link to it (a data-modifying CTE).
            params = {
                f"r_{k}": v for k, v in _row(Reporter, {"name": name or None, "anonymous": anonymous}).items()
            }
            params["contact_id"] = contact.id
            reporter_id: int = run(session, "reporter_pg", _reporter_pg, params).scalar_one()
            set_committed_value(contact, "reporter_id", reporter_id)
            return reporter_id
        reporter_id = insert_row(session, Reporter, name=name or None, anonymous=anonymous)
        if contact.reporter_id is None:
            params = {"contact_id": contact.id, "reporter_id": reporter_id}
            run(session, "contact_reporter", _contact_reporter_update, params)
            set_committed_value(contact, "reporter_id", reporter_id)
        return reporter_id
    if name and not reporter.name:
        reporter.name = name
        session.add(reporter)
    assert reporter.id is not None
    return reporter.id


def _message_complaint_update(_ins: Any) -> Any:
    table = Message.__table__  # type: ignore[attr-defined]
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("message_id"))
        .values(complaint_id=sa.bindparam("complaint_id"))
    )


def file_complaint(
    *,
    session: Session,
    office: OfficeProfile,
    channel: str,
    contact_urn: str | None,
    text: str,
    received_at: dt.datetime,
    now: dt.datetime,
    reporter_name: str | None = None,
    anonymous: bool = False,
    service: str | None = None,
    service_date: dt.date | None = None,
    problem_type: str | None = None,
    actor: str = "system",
    messages: list[Message] | None = None,
    contact: Contact | None = None,
) -> Complaint:
    """Apply R3/R4/R5 and create the record: the only function that creates complaints.

    ``contact`` is the row of ``contact_urn`` when the caller has it (``IngestResult.contact``).
    """
    received_on = office.calendar.local_date(received_at)
    classification = rules.classify(
        name=reporter_name,
        text=text,
        service_date=service_date,
        received_on=received_on,
        anonymous=anonymous,
        window_days=office.complaint_window_days,
    )
    matched = office.service(service) or office.match_service(service) if service else None
    suggested_service = None if matched else office.match_service(text)
    chosen_problem = office.problem_type(problem_type)
    suggested_problem = office.suggest_problem_type(text)
    reporter_id = None
    if contact_urn:
        if contact is None or contact.urn != contact_urn:
            contact = contact_for(session, contact_urn)
        reporter_id = _reporter_for(session, contact, reporter_name, anonymous)
    elif reporter_name or anonymous:
        reporter_id = insert_row(session, Reporter, name=reporter_name, anonymous=anonymous)
    year = received_on.year
    tracking, seq = allocate_tracking_number(session, prefix=office.tracking_prefix, year=year)
    complaint = new(
        Complaint,
        office=office.code,
        tracking_number=tracking,
        year=year,
        seq=seq,
        kind=classification.kind,
        reasons=",".join(classification.reasons),
        channel=channel,
        reporter_id=reporter_id,
        contact_urn=contact_urn,
        anonymous=anonymous,
        text=text,
        service_code=matched.code if matched else None,
        suggested_service_code=suggested_service.code if suggested_service else None,
        problem_type=chosen_problem.code if chosen_problem else None,
        suggested_problem_type=suggested_problem.code if suggested_problem else None,
        service_date=service_date,
        received_at=received_at,
        due_date=rules.due_date(received_at, office.calendar, office.answer_deadline_working_days),
        status=STATUS_RECEIVED if classification.is_complaint else STATUS_ACKNOWLEDGED,
        created_at=now,
        updated_at=now,
    )
    if complaint.status == STATUS_RECEIVED:  # R4 watch: the sweep first looks at it at its first checkpoint
        complaint.next_checkpoint_at = deadlines.first_checkpoint_for(office, complaint)
    # record_event's row, written at once rather than at the next flush
    created = {
        "at": now,
        "actor": actor,
        "action": "created",
        "field": "kind",
        "old_value": None,
        "new_value": complaint.kind,
        "note": ",".join(classification.reasons) or None,
    }
    # Stored messages are linked with one UPDATE; new or changed ones by the ORM at the next flush.
    stored = [
        m for m in messages or () if m.id is not None and m in session and not instance_state(m).modified
    ]
    if session.get_bind().dialect.name == "postgresql":
        # One round trip: the complaint, its event and its messages' link in one statement.
        values = instance_state(complaint).dict
        params = {f"c_{k}": values.get(k) for k in _columns(Complaint) if k != "id"}
        params.update({f"e_{k}": v for k, v in created.items()})
        params["message_ids"] = [m.id for m in stored]
        _persist(session, complaint, run(session, "file_pg", _file_pg, params).scalar_one())
    else:
        insert_new(session, complaint)
        insert_row(session, Event, complaint_id=complaint.id, **created)
        for message in stored:
            params = {"message_id": message.id, "complaint_id": complaint.id}
            run(session, "message_complaint", _message_complaint_update, params)
    linked = {id(m) for m in stored}
    for message in messages or ():
        if id(message) in linked:
            set_committed_value(message, "complaint_id", complaint.id)
        else:
            message.complaint_id = complaint.id
            session.add(message)
    return complaint


def _file_pg(ins: Any) -> Any:
    # PostgreSQL runs data-modifying CTEs in one statement: INSERT the complaint, INSERT its event
    # and UPDATE its messages with the new id. Foreign keys are checked at the statement's end.
    c, e, m = (model.__table__ for model in (Complaint, Event, Message))  # type: ignore[union-attr]
    columns = [col for col in c.c if col.key != "id"]
    complaint = (
        ins(c)
        .values({col.key: sa.bindparam(f"c_{col.key}", type_=col.type) for col in columns})
        .returning(c.c.id)
        .cte("new_complaint")
    )
    event_columns = ["at", "actor", "action", "field", "old_value", "new_value", "note"]
    event = ins(e).from_select(
        ["complaint_id", *event_columns],
        sa.select(complaint.c.id, *(sa.bindparam(f"e_{k}", type_=e.c[k].type) for k in event_columns)),
    )
    link = (
        sa.update(m)
        .where(m.c.id.in_(sa.bindparam("message_ids", expanding=True)))
        .values(complaint_id=sa.select(complaint.c.id).scalar_subquery())
    )
    return sa.select(complaint.c.id).add_cte(event.cte("new_event"), link.cte("linked_messages"))


def ingest(
    *,
    session: Session,
    message: InboundMessage,
    now: dt.datetime,
    office: OfficeProfile,
    raw_id: int | None = None,
) -> IngestResult:
    """Store a normalised message once and, for a complete submission, file it as a complaint.

    A replay of the same provider message (same channel and external id) changes nothing and
    returns the record it made the first time. Chat messages (``complete=False``) are stored and
    left for the dialogue in ``bot/`` to gather into a complaint.
    """
    values: dict[str, Any] = {
        "channel": message.channel,
        "external_id": message.external_id[:255],
        "raw_id": raw_id,
        "sender_urn": message.sender,
        "text": message.text,
        "attachments": json.dumps([_attachment_json(a) for a in message.attachments]),
        "received_at": now,
        "location": location_json(message),
        "edits": "[]",
    }
    new_id = _insert_returning_id(session, Message, values, ["channel", "external_id"])
    if new_id is None:
        stored = session.exec(
            select(Message).where(
                Message.channel == message.channel, Message.external_id == message.external_id[:255]
            )
        ).one()
        complaint = session.get(Complaint, stored.complaint_id) if stored.complaint_id else None
        return IngestResult(stored, complaint, duplicate=True)
    values.update(id=new_id, received_at=_utc(now), complaint_id=None)
    stored = loaded(session, Message, values)
    # R5a: a profile name is only a hint, kept so the dialogue can ask the citizen to confirm it.
    name = message.sender_name[:200] if message.sender_name else None
    contact = _touch_contact(session, message.sender, now, name)
    complaint = None
    if message.complete:
        complaint = file_complaint(
            session=session,
            office=office,
            channel=message.channel,
            contact_urn=message.sender,
            text=message.text,
            received_at=now,
            now=now,
            reporter_name=message.reporter_name,
            anonymous=message.anonymous,
            service=message.service,
            service_date=message.service_date,
            problem_type=message.problem_type,
            actor=f"channel:{message.channel}",
            messages=[stored],
            contact=contact,
        )
    return IngestResult(stored, complaint, duplicate=False, contact=contact)


def _attachment_json(attachment: Any) -> dict[str, Any]:
    data = asdict(attachment)
    data.pop("data", None)  # bytes go to the attachment store, never into JSON
    return data


def location_json(message: InboundMessage) -> str | None:
    """Return the JSON kept in ``message.location`` for a shared location, None without one."""
    where = message.location
    if where is None:
        return None
    return json.dumps(
        {"latitude": where.latitude, "longitude": where.longitude, "label": where.label},
        ensure_ascii=False,
    )


def apply_edit(*, session: Session, message: InboundMessage, now: dt.datetime) -> IngestResult | None:
    """Give a stored message the new text of an edit (``extra["edit_of"]``), keeping the old one.

    The replaced text goes into the message's ``edits`` and, when the message belongs to a
    complaint, into its event log. None when the edited message was never stored (the caller then
    stores the edit as a message of its own). An edit seen again changes nothing.
    """
    stored = session.exec(
        select(Message).where(
            Message.channel == message.channel, Message.external_id == str(message.extra["edit_of"])[:255]
        )
    ).first()
    if stored is None:
        return None
    complaint = session.get(Complaint, stored.complaint_id) if stored.complaint_id else None
    if stored.text == message.text:
        return IngestResult(stored, complaint, duplicate=True)
    history = json.loads(stored.edits or "[]")
    history.append({"text": stored.text, "replaced_at": _utc(now).isoformat()})
    old_text, stored.text, stored.edits = stored.text, message.text, json.dumps(history, ensure_ascii=False)
    session.add(stored)
    if complaint is not None:
        record_event(
            session,
            complaint,
            actor=f"channel:{message.channel}",
            action="message_edited",
            now=now,
            field="message",
            old=old_text,
            new=message.text,
        )
    return IngestResult(stored, complaint, duplicate=False)
