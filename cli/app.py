"""The ``aduan`` command line: serve, calendar, ingest, list, show, db.

Help text is Indonesian first with English in parentheses. A mistake in the arguments prints one
line and exits with code 2; it never shows a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from app import settings as config_mod

if TYPE_CHECKING:
    from app.container import Container

app = typer.Typer(
    name="aduan",
    help="Aduan: pengaduan multikanal DPMPTSP (multichannel complaint intake).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
calendar_app = typer.Typer(help="Kalender hari kerja (working-day calendar, R4).", no_args_is_help=True)
db_app = typer.Typer(help="Basis data (database migrations).", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")
app.add_typer(db_app, name="db")


#: A tracking number as Aduan issues them: ``PWK-2026-000001``.
TRACKING_NUMBER = re.compile(r"[A-Z]{2,10}-\d{4}-\d{6}")
#: The years a moment given on the command line may fall in.
FIRST_YEAR, LAST_YEAR = 1900, 9000
#: The most rows a listing prints (a larger --limit is a mistake, not a bigger page).
MAX_ROWS = 100_000


class CliError(Exception):
    """A user mistake: printed as one line, exit code 2 (or ``code``)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop the command with one line on stderr."""
    raise CliError(message, code)


def echo_json(data: Any) -> None:
    """Print a JSON document (UTF-8, Indonesian text readable)."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Berkas konfigurasi (config file; env ADUAN_CONFIG)."),
    ] = None,
) -> None:
    ctx.obj = {"config": config}


def settings_of(ctx: typer.Context) -> config_mod.Settings:
    """Load the settings named by ``--config`` / ``ADUAN_CONFIG``."""
    root = ctx.find_root()
    path = (root.obj or {}).get("config")
    try:
        return config_mod.load(path)
    except config_mod.ConfigError as exc:
        fail(str(exc))


def container_of(ctx: typer.Context) -> Container:
    """Wire the application for a command that needs the database."""
    root = ctx.find_root()
    cached = (root.obj or {}).get("container")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    # Deliberate lazy import: wiring the application costs a second; only commands that need it pay.
    from app.bootstrap import build

    container = build(settings_of(ctx))
    root.obj["container"] = container
    return container


def parse_when(value: str, ctx: typer.Context) -> Any:
    """Parse an ISO-8601 moment or date in the office's timezone, or fail with one line."""
    try:
        moment = config_mod.parse_when(value, settings_of(ctx).office.calendar.timezone)
    except config_mod.ConfigError as exc:
        fail(str(exc))
    # The working-day calendar counts 14 working days on and UTC conversions shift by a day: keep
    # clear of datetime's limits (year 1 and 9999), which raised OverflowError with a traceback.
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        fail(f"{value!r} is outside the years Aduan counts ({FIRST_YEAR}–{LAST_YEAR})")
    return moment


# -- serve ---------------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Alamat (address) to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Jumlah proses web (web processes).")] = 1,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Tanpa pekerja antrean (no job worker here: run `aduan worker`)."),
    ] = False,
) -> None:
    """Jalankan layanan web dan pekerja antrean (run the web service and, by default, a job worker)."""
    import uvicorn

    from ops.logging import configure as configure_logging

    settings = settings_of(ctx)

    configure_logging(settings)  # JSON lines, personal data redacted (UU 27/2022)
    missing = settings.missing_secrets()
    if missing:
        fail("secret missing for an enabled channel: " + "; ".join(missing))
    demo = settings.demo_secrets()
    if demo:
        # The Makefile's demo values are public: a deployment that copied them would accept forgeries.
        fail(
            "rahasia demo tidak boleh dipakai di luar demo (the Makefile's public demo secrets are "
            f"refused outside `make run`): {', '.join(demo)}"
        )
    container_of(ctx)  # migrate once before the workers start
    if no_worker:
        os.environ["ADUAN_WEB_WORKER"] = "0"  # read by every web process uvicorn starts
    typer.echo(f"Aduan berjalan di http://{host}:{port}/inbox  (running; Ctrl+C to stop)")
    uvicorn.run(
        "inbox.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=settings.trust_proxy,
        # X-Forwarded-For is believed from the configured proxies only ([security] trusted_proxies).
        forwarded_allow_ips=list(settings.security.trusted_proxies) or "127.0.0.1",
        server_header=False,  # the `server` header names no software
    )


# -- calendar ------------------------------------------------------------------------------------


@calendar_app.command("due")
def calendar_due(
    ctx: typer.Context,
    when: Annotated[
        str, typer.Argument(help="Waktu diterima (receipt moment), ISO-8601, e.g. 2026-03-10T09:00.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Hitung batas waktu jawaban R4 (due date of the answer, 14 working days)."""
    office = settings_of(ctx).office
    moment = parse_when(when, ctx)
    due = office.calendar.due_date(moment, office.answer_deadline_working_days)
    if as_json:
        echo_json(
            {
                "received_at": moment.isoformat(),
                "due_date": due.isoformat(),
                "working_days": office.answer_deadline_working_days,
            }
        )
        return
    local = moment.astimezone(office.calendar.timezone)
    typer.echo(f"Diterima (received): {local:%A %Y-%m-%d %H:%M %Z}")
    typer.echo(f"Batas jawaban, {office.answer_deadline_working_days} hari kerja (due):")
    typer.echo(due.isoformat())


@calendar_app.command("holidays")
def calendar_holidays(
    ctx: typer.Context,
    year: Annotated[int, typer.Argument(help="Tahun (year).", min=1990, max=2100)],
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Daftar hari libur pada hari kerja (closures on working weekdays: national, cuti bersama, office)."""
    office = settings_of(ctx).office
    days = office.calendar.holidays_in(year)
    if as_json:
        echo_json([{"date": d.date.isoformat(), "name": d.name, "source": d.source} for d in days])
        return
    for d in days:
        typer.echo(f"{d.date.isoformat()}  {d.date:%a}  {d.source:<13} {d.name}")


# -- ingest, list, show --------------------------------------------------------------------------


@app.command()
def ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Berkas payload mentah (raw payload file).")],
    channel: Annotated[str, typer.Option("--channel", help="Kanal (channel): web, sms, whatsapp, email…")],
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="Waktu diterima (receipt moment), ISO-8601.")
    ] = None,
) -> None:
    """Masukkan satu payload sebagai pengaduan lengkap (ingest one raw payload, no dialogue)."""
    import channels

    try:
        entry = channels.info(channel)
    except channels.UnknownChannel as exc:
        fail(str(exc))
    if entry.module is None:
        fail(f"channel {channel!r} is entered by officers in the inbox, not from a file")
    if file.is_dir():
        fail(f"{file} is a directory, not a payload file")
    if not file.exists():
        fail(f"file not found: {file}")
    if not file.is_file():
        fail(f"{file} is not a regular file (a device or a pipe): give the payload's file")
    moment = parse_when(received_at, ctx) if received_at else None
    answer = ingest_file(container_of(ctx), channel, file, received_at=moment)
    if answer.message:
        typer.echo(answer.message, err=True)
    if answer.document is not None:
        echo_json(answer.document)
    if answer.exit_code:
        raise typer.Exit(answer.exit_code)


@dataclass
class IngestAnswer:
    """What ``aduan ingest`` says about one file: exit code, a line for stderr, JSON for stdout."""

    exit_code: int
    message: str = ""
    document: Any = None


def ingest_file(
    container: Container, channel: str, file: Path, *, received_at: dt.datetime | None = None
) -> IngestAnswer:
    """File one payload at once (no dialogue) the way ``aduan ingest`` does, and say how it went."""
    from channels.base import RawRequest
    from intake import db
    from intake.models import RAW_IGNORED, RawInbound
    from jobs.pipeline import receive

    body = file.read_bytes()
    if received_at is not None:
        container.clock = lambda: received_at
    receipt = receive(
        container, channel, RawRequest(body=body, headers=_file_headers(file)), verify=False, complete=True
    )
    if receipt.status != 200:
        return IngestAnswer(1, f"quarantined: {receipt.reason}")
    if receipt.deferred:
        return IngestAnswer(1, f"stored, not filed: {receipt.reason}")
    row = None
    if receipt.raw_id is not None:
        with db.session(container.engine) as s:
            row = s.get(RawInbound, receipt.raw_id)
    filed = [r for r in receipt.results if r.complaint is not None]
    if not filed or (row is not None and row.status == RAW_IGNORED):
        # Why nothing was filed (machine mail, a status callback, a message already received).
        why = row.error if row is not None and row.error else "the payload carries no citizen message"
        return IngestAnswer(1, f"ignored: {why}")
    results = [r.as_json() for r in filed]
    return IngestAnswer(0, document=results[0] if len(results) == 1 else results)


def _file_headers(file: Path) -> dict[str, str]:
    suffix = file.suffix.lower()
    types = {
        ".json": "application/json",
        ".form": "application/x-www-form-urlencoded",
        ".eml": "message/rfc822",
    }
    return {"content-type": types.get(suffix, "application/octet-stream")}


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
    limit: Annotated[int, typer.Option(help="Jumlah baris (rows).", min=1, max=MAX_ROWS)] = 50,
) -> None:
    """Daftar pengaduan terbaru (latest complaints and suggestions)."""
    from sqlmodel import select

    from intake import db
    from intake.ingest import complaint_summary
    from intake.models import Complaint

    container = container_of(ctx)
    with db.session(container.engine) as s:
        rows = s.exec(select(Complaint).order_by(Complaint.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    if as_json:
        echo_json([complaint_summary(c) | {"status": c.status} for c in rows])
        return
    for c in rows:
        typer.echo(f"{c.tracking_number}  {c.kind:<9} {c.status:<13} due {c.due_date}  {c.channel}")


@app.command()
def show(
    ctx: typer.Context,
    tracking: Annotated[str, typer.Argument(help="Nomor pelacakan (tracking number), e.g. PWK-2026-000001.")],
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Tampilkan satu pengaduan dengan log kejadiannya (one record with its event log)."""

    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from intake import db, views

    if not TRACKING_NUMBER.fullmatch(tracking.strip().upper()):
        fail(f"{tracking!r} is not a tracking number (e.g. PWK-2026-000001)")  # a mistake: exit 2
    container = container_of(ctx)
    with db.session(container.engine) as s:
        data = views.complaint_detail(
            s, tracking.strip().upper(), office=container.office, now=container.now()
        )
    if data is None:
        fail(f"no complaint with tracking number {tracking}", code=1)  # well-formed, not on file
    if as_json:
        echo_json(data)
        return
    for key in (
        "tracking_number",
        "kind",
        "reasons",
        "status",
        "channel",
        "received_at",
        "due_date",
        "working_days_left",
        "service",
        "problem_type",
        "text",
    ):
        typer.echo(f"{key:>18}: {data.get(key)}")
    typer.echo("            events:")
    for e in data["events"]:
        typer.echo(
            f"  {e['at']}  {e['actor']:<18} {e['action']} {e.get('field') or ''} "
            f"{e.get('old_value') or ''} → {e.get('new_value') or ''}"
        )


# -- db ------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Terapkan migrasi (apply migrations)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from intake import db

    settings = settings_of(ctx)
    engine = db.create_engine(settings.database_url)
    try:
        db.upgrade(engine)
    except db.MigrationError as exc:
        fail(str(exc), code=1)
    typer.echo(f"database at {', '.join(sorted(db.current_revisions(engine)))}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Tampilkan revisi basis data (show the applied revisions)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from intake import db

    engine = db.create_engine(settings_of(ctx).database_url)
    current = db.current_revisions(engine)
    typer.echo(", ".join(sorted(current)) or "(empty)")
    if current != db.head_revisions(engine):
        typer.echo("pending migrations: run `aduan db upgrade`")


def database_problem(exc: BaseException) -> str | None:
    """Say in one line which database could not be reached and what to check; None if not that."""
    import sqlalchemy.exc  # deliberate lazy import: only when a command failed

    if isinstance(exc, ValueError) and "PostgreSQL only" in str(exc):
        return (
            "the database URL cannot be read: Aduan needs postgresql+psycopg://… "
            "in [database] url or ADUAN_DATABASE_URL"
        )
    if isinstance(exc, sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
        return "the database URL cannot be read: check [database] url in the config or ADUAN_DATABASE_URL"
    if not isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return None
    detail = str(getattr(exc, "orig", exc)).lower()
    if "password authentication failed" in detail or "authentication" in detail:
        return "the database refused the user or password: check the credentials in ADUAN_DATABASE_URL"
    if "does not exist" in detail and "database" in detail:
        return "the database does not exist on the server: create it (createdb) or fix its name in the URL"
    if "connection refused" in detail or "could not connect" in detail or "timeout" in detail:
        return "the database server does not answer: is PostgreSQL running at the host and port of the URL?"
    if "could not translate host name" in detail or "name or service not known" in detail:
        return "the database host name is unknown: check the host in ADUAN_DATABASE_URL"
    return (
        "the database cannot be reached: check [database] url / ADUAN_DATABASE_URL and that the server runs"
    )
