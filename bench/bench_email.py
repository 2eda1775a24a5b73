"""E-mail ingestion (R2g): parse, store raw, rules, record on 3,000 varied mails vs django-helpdesk.

The corpus is generated (seeded) from twenty shapes real mail takes: declared and undeclared
charsets, bad bytes, QP/base64, HTML only, inline images, attachments, nested multiparts, forwards,
Indonesian replies, auto-replies, bounces, broken headers, no Message-ID. Aduan takes it in as the
product takes a mailbox in: the corpus is written to one mbox file (as Google Takeout exports a
box; not timed) and ``aduan import mbox``'s ``import_mailbox`` brings it in on a fresh PostgreSQL
database: every mail stored raw, parsed, through the e-mail hook's work (loops, bounces, threading,
attachments) and R3/R4/R5 into the record, ``BATCH_SIZE`` mails to a transaction. Each batch is
parsed once, then stored, threaded and filed by ``cli.mail_batch`` with one statement per table
(multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, executemany UPDATEs); a batch holding a case
it leaves to the pipeline (a Message-ID already on file, a mail kept for a retry, a bounce naming
one of our mails) goes mail by mail through ``jobs.pipeline.receive_many`` instead, one savepoint
per mail. As shipped, a second process parses the next batch meanwhile; the "one process" row
turns that off (the product's ``parse_ahead=False``), for the figure on one core beside
django-helpdesk's one process.

The baseline is django-helpdesk's email-to-ticket function ``helpdesk.email.extract_email_metadata``
on the same mails (one ``.eml`` file each, read inside its timed loop), in a bench-only virtualenv
``bench/.venv-helpdesk`` that this benchmark creates with pip (django-helpdesk 2.6.1 and psycopg 3;
a minimal Django project, see ``_helpdesk_runner.py``), on a fresh PostgreSQL database of its own
on the same server (``bench.common.PG_ADMIN``, default 127.0.0.1:5432, user postgres). Both sides
run ``REPEATS`` times in turns, each on a new database, and the fastest run of each is reported
(the machine's other load slows both alike). A crash is an exception out of the ingest function
(for Aduan: out of the import, or a mail whose processing raised and was kept for a retry); a mail
Aduan quarantines (kept raw, shown to officers) is not a crash. When django-helpdesk cannot be
installed or run on PostgreSQL, the baseline falls back to ``email.message_from_bytes`` + one
PostgreSQL insert and commit per mail, and the row's name and note say so. Without a PostgreSQL
server the benchmark stops: there is nothing to compare on the same database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from email import message_from_bytes
from pathlib import Path
from typing import Any

from bench.common import Row, database_url, fresh_database
from tests.mailgen import OFFICE, SHAPES, corpus, write_mbox

N = 3000
#: Each side runs this many times, in turns; the fastest run of each is reported.
REPEATS = 2
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-helpdesk"
HELPDESK = "django-helpdesk==2.6.1"
#: What the bench venv holds: django-helpdesk and the PostgreSQL driver Django uses (psycopg 3).
HELPDESK_REQUIREMENTS = (HELPDESK, "psycopg[binary]>=3.2")


def run_aduan(
    mails: list[bytes], work: Path, url: str | None = None, *, parse_ahead: bool | None = None
) -> dict[str, float]:
    """Bring the corpus in as the product does with a mailbox: ``aduan import mbox`` (timed).

    ``parse_ahead=None`` is the product's default (a second process parses the next batch when
    the machine has a second CPU); ``False`` keeps everything in one process, as django-helpdesk.

    The same path as the IMAP poller's batches (``jobs.pipeline``'s store raw → parse → ingest →
    e-mail hook for loops, bounces, threading and attachments → R3/R4/R5 and the record), several
    mails to a transaction. Afterwards the database is checked: every mail kept raw, and any mail
    whose processing raised (kept "stored" for a retry) counts as a crash, like an exception out.
    """
    from app import settings as config_mod
    from app.bootstrap import build
    from cli.mail_import import import_mailbox
    from intake import db

    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    for name, table in data["channels"].items():
        table["enabled"] = name == "email"
    data["channels"]["email"]["address"] = OFFICE
    data["database"]["url"] = url or ""
    data.setdefault("storage", {})["attachments_dir"] = str(work / "attachments")
    settings = config_mod.from_dict(data, env={"ADUAN_IMAP_PASSWORD": "x"})
    engine = db.create_engine(settings.database_url)
    container = build(settings, engine=engine, migrate=True)
    # Warm up (lazy imports, holiday tables): another source with other Message-IDs, not timed.
    warm = [b.replace(b"Message-ID: <", b"Message-ID: <warmup-") for b in corpus(40, seed=1)]
    import_mailbox(container, "mbox", write_mbox(warm, work / "warmup.mbox"))
    source = write_mbox(mails, work / "corpus.mbox")
    before = _counts(engine)
    crashes, imported = 0, 0
    t0 = time.perf_counter()
    try:
        imported = import_mailbox(container, "mbox", source, parse_ahead=parse_ahead).imported
    except Exception:  # a crash stops the import (what is stored stays; the count below shows it)
        crashes += 1
    seconds = time.perf_counter() - t0
    after = _counts(engine)
    engine.dispose()
    return {
        "seconds": seconds,
        "crashes": crashes + after["deferred"] - before["deferred"],
        "quarantined": after["quarantined"] - before["quarantined"],
        "filed": after["filed"] - before["filed"],
        "kept": after["kept"] - before["kept"],
        "imported": imported,
    }


def _counts(engine: Any) -> dict[str, int]:
    """Count raw mails kept, still unprocessed (their processing raised), quarantined; complaints."""
    import sqlalchemy as sa

    from intake import db
    from intake.models import RAW_QUARANTINED, RAW_STORED, Complaint, RawInbound

    status = RawInbound.status
    with db.session(engine) as s:

        def count(model: Any, *where: Any) -> int:
            return int(s.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one())

        return {
            "kept": count(RawInbound),
            "deferred": count(RawInbound, status == RAW_STORED),
            "quarantined": count(RawInbound, status == RAW_QUARANTINED),
            "filed": count(Complaint),
        }


def libpq_url(name: str) -> str:
    """Return the libpq URL of database ``name`` (for psycopg without SQLAlchemy)."""
    return database_url(name).replace("postgresql+psycopg://", "postgresql://", 1)


def run_aduan_postgres(
    mails: list[bytes], work: Path, *, parse_ahead: bool | None = None
) -> dict[str, float]:
    """The import on a fresh PostgreSQL database of its own."""
    pg_work = work / "aduan"
    pg_work.mkdir()
    with fresh_database("bench_email_aduan") as name:
        return run_aduan(mails, pg_work, database_url(name), parse_ahead=parse_ahead)


def _helpdesk_python() -> tuple[Path | None, str]:
    """Create (once) the bench-only virtualenv with django-helpdesk; return its python or the reason."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    wanted = "\n".join(HELPDESK_REQUIREMENTS) + "\n"
    if marker.exists() and python.exists() and marker.read_text() == wanted:
        return python, ""
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *HELPDESK_REQUIREMENTS],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"pip install {' '.join(HELPDESK_REQUIREMENTS)} failed: {type(exc).__name__}"
    marker.write_text(wanted)
    return python, ""


def run_helpdesk(mails: list[bytes], work: Path) -> tuple[dict[str, Any] | None, str]:
    """Run django-helpdesk's extract_email_metadata on the same mails, on a fresh PostgreSQL database."""
    python, reason = _helpdesk_python()
    if python is None:
        return None, reason
    folder = work / "corpus"
    folder.mkdir()
    for i, body in enumerate(mails):
        (folder / f"{i:05d}.eml").write_bytes(body)
    hd_work = work / "helpdesk"
    hd_work.mkdir()
    with fresh_database("bench_email_helpdesk") as name:
        try:
            done = subprocess.run(
                [str(python), str(HERE / "_helpdesk_runner.py"), str(folder), str(hd_work), name],
                check=True,
                capture_output=True,
                timeout=1200,
                text=True,
            )
            measured = json.loads(done.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, OSError, ValueError, IndexError) as exc:
            return None, f"django-helpdesk run failed: {type(exc).__name__}"
    if measured.get("database") != "postgresql":  # never compare across databases unawares
        return None, f"django-helpdesk ran on {measured.get('database')}, not PostgreSQL"
    return measured, ""


def run_floor(mails: list[bytes]) -> dict[str, float]:
    """Fallback baseline: ``email.message_from_bytes`` and one PostgreSQL insert (and commit) per mail."""
    import psycopg

    crashes = 0
    with fresh_database("bench_email_floor") as name, psycopg.connect(libpq_url(name)) as conn:
        conn.execute("CREATE TABLE mail (id serial PRIMARY KEY, subject text, body bytea)")
        conn.commit()
        t0 = time.perf_counter()
        for body in mails:
            try:
                msg = message_from_bytes(body)
                conn.execute("INSERT INTO mail (subject, body) VALUES (%s, %s)", (str(msg["Subject"]), body))
                conn.commit()
            except Exception:
                conn.rollback()
                crashes += 1
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "crashes": crashes}


def run_parse(mails: list[bytes]) -> tuple[dict[str, float], dict[str, float]]:
    """Time Aduan's parse alone beside the naive stdlib reading (policy.default, get_body)."""
    from email import policy

    from channels import email as email_channel
    from channels.base import RawRequest, UnsupportedPayload

    refused = 0
    t0 = time.perf_counter()
    for body in mails:
        try:
            email_channel.parse(RawRequest(body=body))
        except UnsupportedPayload:
            refused += 1
    ours = {"seconds": time.perf_counter() - t0, "crashes": 0.0, "refused": refused}
    crashes = 0
    t0 = time.perf_counter()
    for body in mails:
        try:
            msg = message_from_bytes(body, policy=policy.default)
            part = msg.get_body(("plain", "html"))  # type: ignore[attr-defined]
            _ = (str(msg["From"]), str(msg["Subject"]), part.get_content() if part is not None else "")
        except Exception:
            crashes += 1
    return ours, {"seconds": time.perf_counter() - t0, "crashes": crashes}


def run() -> list[Row]:
    """Time Aduan's e-mail ingestion beside django-helpdesk's (or the floor) on the same corpus."""
    mails = corpus(N)
    work = Path(tempfile.mkdtemp(prefix="aduan-bench-email-"))
    try:
        parsed, naive = run_parse(mails)
        rows = [
            Row(
                bench="email",
                case="parse only (text, charsets, quotes, attachments)",
                value=N / parsed["seconds"],
                unit="mails/s",
                baseline_name="message_from_bytes(policy.default) + get_body",
                baseline=N / naive["seconds"],
                note=f"Aduan refused {parsed['refused']:.0f} (quarantined, kept raw); "
                f"naive crashes {naive['crashes']:.0f}",
            )
        ]
        # Best of REPEATS for both sides, taken in turns: the machine's other load hits both alike.
        aduan_runs: list[dict[str, float]] = []
        helpdesk_runs: list[dict[str, float]] = []
        reason = ""
        for repeat in range(REPEATS):
            turn = work / f"turn-{repeat}"
            turn.mkdir()
            aduan_runs.append(run_aduan_postgres(mails, turn))
            measured, reason = run_helpdesk(mails, turn)
            if measured is not None:
                helpdesk_runs.append(measured)
        aduan = min(aduan_runs, key=lambda r: r["seconds"])
        (work / "one-process").mkdir()
        single = run_aduan_postgres(mails, work / "one-process", parse_ahead=False)
        helpdesk = min(helpdesk_runs, key=lambda r: r["seconds"]) if helpdesk_runs else None
        if helpdesk is not None:
            crash_rate = 100.0 * helpdesk["crashes"] / max(1, helpdesk["n"])
            baseline_name = "django-helpdesk 2.6.1 extract_email_metadata (PostgreSQL)"
            baseline = N / helpdesk["seconds"]
            base_note = (
                f"helpdesk best of {len(helpdesk_runs)}, crashes {helpdesk['crashes']} ({crash_rate:.1f}%) "
                f"{helpdesk.get('crash_types')}, tickets {helpdesk.get('tickets')}"
            )
        else:
            floor = run_floor(mails)
            baseline_name = "message_from_bytes + PostgreSQL insert and commit (fallback)"
            baseline = N / floor["seconds"]
            base_note = f"django-helpdesk unavailable ({reason}); floor crashes {floor['crashes']:.0f}"
        rows.append(_import_row("PostgreSQL", aduan, baseline_name, baseline, base_note))
        one = "baseline as above; parsing in the importing process too (`parse_ahead=False`)"
        rows.append(_import_row("PostgreSQL, one process", single, baseline_name, baseline, one, runs=1))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)


def _import_row(
    database: str,
    aduan: dict[str, float],
    baseline_name: str,
    baseline: float,
    base_note: str,
    runs: int = REPEATS,
) -> Row:
    """One "mails → complaints" row: Aduan's import rate beside the baseline, with every count."""
    from cli.mail_import import BATCH_SIZE

    note = (
        f"{N} mails, {len(SHAPES)} shapes, `aduan import mbox` ({BATCH_SIZE} mails a transaction), "
        f"{'best of ' + str(runs) if runs > 1 else 'one run'}; "
        f"Aduan crashes {aduan['crashes']:.0f}, kept raw {aduan['kept']:.0f}/{N}, "
        f"quarantined {aduan['quarantined']:.0f}, filed {aduan['filed']:.0f}; {base_note}"
    )
    return Row(
        bench="email",
        case=f"mails → complaints, mailbox import ({database})",
        value=N / aduan["seconds"],
        unit="mails/s",
        baseline_name=baseline_name,
        baseline=baseline,
        note=note,
        extra={
            "database": database,
            "aduan_crashes": aduan["crashes"],
            "aduan_kept": aduan["kept"],
            "aduan_quarantined": aduan["quarantined"],
            "aduan_filed": aduan["filed"],
        },
    )
