"""Inbox server time: the queue page and the searches (tracking number, name, words), 1,000,000 on file.

The record is filled with ``N`` complaints (default 1,000,000, env ``ADUAN_BENCH_INBOX_N``), mostly
closed history and, in the last two years, a tenth open, in a fresh PostgreSQL database (on
``bench.common.PG_ADMIN``'s server, dropped after), by one ``INSERT … SELECT`` per table with the
secondary indexes dropped and then built again: the database measured is the one the migrations
make, the search indexes of the baseline migration filled for every row.
Each figure is the in-process request time (routing, auth, queries, template) beside a bare
``/healthz`` in the same run; the name and word searches stand beside the bare indexed SQL they run
on (pg_trgm GIN indexes, ``intake.search``) and, in the note, the
``LIKE '%…%'`` scan they replaced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import statistics
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import Row, database_url, fresh_database

N = int(os.environ.get("ADUAN_BENCH_INBOX_N", "1000000"))
REQUESTS = 200
SCANS = 20  # the old LIKE scan takes seconds a search at 1M: fewer samples of it
ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "ADUAN_SESSION_SECRET": "bench-secret",
    "ADUAN_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "ADUAN_TWILIO_AUTH_TOKEN": "x",
}
NOW = dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC)
FIRST = ("Budi", "Siti", "Dedi", "Rina", "Asep", "Euis", "Joko", "Ani", "Ujang", "Neneng", "Agus", "Dewi")
LAST = (
    "Santoso",
    "Rahmawati",
    "Setiawan",
    "Hidayat",
    "Kurniasih",
    "Saputra",
    "Nurhayati",
    "Permana",
    "Suryadi",
    "Lestari",
    "Gunawan",
    "Maulana",
    "Wijaya",
    "Sulastri",
    "Firmansyah",
    "Handayani",
)
PHRASES = (
    "Izin PBG belum keluar",
    "Antrean MPP terlalu panjang",
    "Petugas loket tidak ramah",
    "Biaya retribusi tidak sesuai tarif",
    "Perizinan usaha ditolak tanpa alasan",
    "Sertifikat halal lambat diproses",
    "Website OSS sering gangguan",
    "Pelayanannya lambat sekali",
)


def _pick(expr: str, values: tuple[str, ...]) -> str:
    """SQL choosing ``values[expr]`` (constants of this file) with a ``CASE``."""
    arms = " ".join(f"WHEN {k} THEN '{v.replace(chr(39), chr(39) * 2)}'" for k, v in enumerate(values))
    return f"(CASE {expr} {arms} END)"


@contextlib.contextmanager
def secondary_indexes_dropped(
    engine: sa.Engine, tables: tuple[str, ...] = ("complaint", "reporter")
) -> Iterator[None]:
    """Drop the tables' secondary indexes around a bulk fill, then build them again.

    What is rebuilt is read from the database before the fill (``pg_index``), so the measured
    database has exactly what the migrations made, the search indexes of the baseline migration
    populated for every row (the pg_trgm GIN indexes built over the filled table). Indexes behind a
    constraint (primary keys, UNIQUE) stay: they are part of the table. So do partial indexes
    (``WHERE``): they hold few rows, and PostgreSQL would not write their condition back the same
    way (``ARRAY[…]`` for ``IN (…)``), so the check that the rebuilt schema is the migrated one
    could not hold.
    """

    def indexes(conn: sa.Connection) -> set[tuple[str, str, bool]]:
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indpred IS NOT NULL "
                "FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.relname = ANY(:tables) AND pg_table_is_visible(t.oid) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            ),
            {"tables": list(tables)},
        )
        return {(str(name), str(sql), bool(partial)) for name, sql, partial in rows}

    with engine.begin() as conn:
        before = indexes(conn)
        dropped = sorted((name, sql) for name, sql, partial in before if not partial)
        for name, _sql in dropped:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    with engine.begin() as conn:
        # The build's working memory, not the index: 64 MB would spill the GIN build to disk.
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for _name, sql in dropped:
            conn.exec_driver_sql(sql)
        after = indexes(conn)
    assert after == before, sorted(after ^ before)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # What autovacuum does to a table some time after a bulk insert (visibility map, statistics).
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def _fill(engine: sa.Engine, n: int) -> float:
    """Fill ``n`` complaints (and one reporter per 10) with one INSERT … SELECT each; return the seconds.

    Rows are computed in SQL from their number (``generate_series``) with the secondary indexes
    dropped, then the indexes are built: a million rows in well under a minute instead of the many
    minutes of row-by-row inserts that maintain a dozen indexes each. Closed history 2019-2024, and
    in 2025-2026 a tenth open (4 % new, 3 % in review, 2 % in follow-up).
    """
    people = n // 10
    series = "FROM generate_series(0, {last}) AS s(i)"
    year = "(2019 + i::bigint * 8 / :n)"
    pad = "lpad(i::text, {w}, '0')"
    # minutes into the year; 2026 stops before NOW (10 March)
    received = (
        f"make_timestamptz({year}::int, 1, 1, 0, 0, 0, 'UTC') + make_interval(mins => "
        f"((i::bigint * 7919) % (CASE WHEN {year} = 2026 THEN 98000 ELSE 525000 END))::int)"
    )
    due = "((received AT TIME ZONE 'UTC')::date + 20)"
    now = "timestamptz '2026-03-10 03:00:00+00'"
    statuses = (
        ("closed",) * 90 + ("received",) * 4 + ("under_review",) * 3 + ("in_follow_up",) * 2 + ("answered",)
    )
    channels = ("whatsapp", "sms", "email", "web", "walkin", "phone")
    reporters = (
        f"INSERT INTO reporter (id, name, anonymous, language, created_at) "
        f"SELECT i + 1, {_pick('i % 12', FIRST)} || ' ' || {_pick('i / 12 % 16', LAST)}, FALSE, 'id', {now} "
        + series.format(last=people - 1)
    )
    rows = (
        f"SELECT i, {year} AS year, {received} AS received, "
        f"CASE WHEN {year} >= 2025 THEN {_pick('i % 100', statuses)} ELSE 'closed' END AS status "
        + series.format(last=n - 1)
    )
    complaints = (
        "INSERT INTO complaint (id, office, tracking_number, year, seq, kind, reasons, channel, reporter_id, "
        "contact_urn, anonymous, text, received_at, due_date, status, created_at, updated_at) "
        f"SELECT i + 1, 'pwk', 'PWK-' || year || '-' || {pad.format(w=7)}, year, i, "
        "CASE WHEN i % 13 = 0 THEN 'saran' ELSE 'pengaduan' END, '', "
        f"{_pick('(i / 7) % 6', channels)}, i % :people + 1, 'whatsapp:+62812' || {pad.format(w=8)}, "
        f"FALSE, {_pick('i % 8', PHRASES)} || ', berkas nomor ' || i || ', mohon dibantu', "
        f"received, {due}, status, received, received FROM ({rows}) AS r"
    )
    t0 = time.perf_counter()
    with secondary_indexes_dropped(engine), engine.begin() as conn:
        conn.execute(sa.text(reporters), {"n": n})
        conn.execute(sa.text(complaints), {"n": n, "people": people})
        for table in ("reporter", "complaint"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    return time.perf_counter() - t0


def _percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[94] * 1000


def _measure(engine: sa.Engine, label: str, n: int) -> list[Row]:
    from fastapi.testclient import TestClient

    from app.bootstrap import build
    from app.settings import from_dict
    from inbox import auth
    from inbox.app import create_app
    from intake import db
    from intake.models import User

    fill = _fill(engine, n)
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    for table in data.get("channels", {}).values():
        table["enabled"] = False
    container = build(from_dict(data, env=ENV), engine=engine, clock=lambda: NOW, migrate=False)
    with db.write_session(engine) as s:
        auth.create_user(s, username="bench", role="officer", password="bench-password-1")
    client = TestClient(create_app(container), follow_redirects=False)
    page = client.get("/inbox/login").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert (
        client.post(
            "/inbox/login", data={"username": "bench", "password": "bench-password-1", "csrf_token": token}
        ).status_code
        == 303
    )
    rng = random.Random(7)
    wanted = [f"PWK-{2019 + i * 8 // n}-{i:07d}" for i in (rng.randrange(n) for _ in range(REQUESTS))]

    def timed(path: str) -> list[float]:
        out = []
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            r = client.get(path() if callable(path) else path)
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.status_code
        return out

    health = _percentiles(timed("/healthz"))
    queue = _percentiles(timed("/inbox?queue=new"))
    # open records are recent and closed ones old: the soonest-due open ones come after all history
    overdue = _percentiles(timed("/inbox?queue=overdue"))
    it = iter(wanted)
    search_samples = timed(lambda: f"/inbox?queue=all&q={next(it)}")  # type: ignore[arg-type]
    search = _percentiles(search_samples)
    assert User is not None
    note = f"{n:,} complaints (filled and indexed in {fill:.0f} s), {REQUESTS} requests each"
    rows: list[Row] = []
    for case, (p50, p95), target in (
        ("queue page", queue, 150.0),
        ("overdue queue page", overdue, 150.0),
        ("search by tracking number", search, 30.0),
    ):
        rows.append(
            Row(
                bench="inbox",
                case=f"{label}: {case} p50",
                value=p50,
                unit="ms",
                baseline_name="/healthz p50",
                baseline=health[0],
                higher_is_better=False,
                note=note,
            )
        )
        rows.append(
            Row(
                bench="inbox",
                case=f"{label}: {case} p95",
                value=p95,
                unit="ms",
                baseline_name="/healthz p95",
                baseline=health[1],
                higher_is_better=False,
                note=f"target p95 < {target:.0f} ms: {'met' if p95 < target else 'NOT met'}",
            )
        )
    return rows + _word_searches(engine, client, label, n, rng, note)


def _word_searches(
    engine: sa.Engine, client: Any, label: str, n: int, rng: random.Random, note: str
) -> list[Row]:
    """Search by part of a name, a rare word, a common word: page, bare indexed SQL, old LIKE scan."""

    names = [rng.choice(LAST)[1:6].lower() for _ in range(REQUESTS)]  # "antos", "ahmaw": inside a name
    numbers = [str(rng.randrange(n // 10, n)) for _ in range(REQUESTS)]  # "berkas nomor 123456": rare
    # each in an eighth of the texts ("izin" in a quarter: "Izin PBG", "Perizinan")
    vocabulary = ("izin", "lambat", "loket", "biaya", "antrean", "halal", "website")
    common = [rng.choice(vocabulary) for _ in range(REQUESTS)]
    order = " ORDER BY due_date, id LIMIT 50"
    # what the pg_trgm GIN indexes serve (intake.search)
    by_text = "SELECT id FROM complaint WHERE text ILIKE :p"
    by_name = "SELECT id FROM complaint WHERE reporter_id IN (SELECT id FROM reporter WHERE name ILIKE :p)"
    scan_text = "SELECT id FROM complaint WHERE lower(text) LIKE :p"
    scan_name = (
        "SELECT id FROM complaint WHERE reporter_id IN (SELECT id FROM reporter WHERE lower(name) LIKE :p)"
    )

    def bare(sql: str, words: list[str]) -> tuple[float, float]:
        out = []
        with engine.connect() as conn:
            for word in words:
                t0 = time.perf_counter()
                conn.execute(sa.text(sql), {"p": f"%{word}%"}).all()
                out.append(time.perf_counter() - t0)
        return _percentiles(out)

    def page(words: list[str]) -> tuple[float, float]:
        out = []
        for word in words:
            t0 = time.perf_counter()
            r = client.get("/inbox", params={"queue": "all", "q": word})
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200 and "data-tracking=" in r.text, word
        return _percentiles(out)

    rows = []
    cases = (
        ("search by part of a name", names, by_name, scan_name),
        ("search by a rare word", numbers, by_text, scan_text),
        ("search by a common word", common, by_text, scan_text),
    )
    for case, words, indexed, scan in cases:
        p50, p95 = page(words)
        # The matches first (from the index), then the 50 soonest due: without MATERIALIZED the
        # planner may walk the due-date index and test every row, which is the scan again.
        materialized = f"WITH m AS MATERIALIZED ({indexed.replace('SELECT id ', 'SELECT id, due_date ', 1)}) "
        bare_p95 = bare(materialized + "SELECT id FROM m" + order, words)[1]
        scan_p95 = bare(scan + order, words[:SCANS])[1]
        rows.append(
            Row(
                bench="inbox",
                case=f"{label}: {case} p95",
                value=p95,
                unit="ms",
                baseline_name="bare indexed SELECT (trgm) p95",
                baseline=bare_p95,
                higher_is_better=False,
                note=f"page p50 {p50:.1f} ms; old LIKE '%…%' scan p95 {scan_p95:.1f} ms; {note}",
                extra={"like_scan_p95_ms": scan_p95, "page_p50_ms": p50},
            )
        )
    return rows


def run() -> list[Row]:
    """Measure on a fresh PostgreSQL database."""
    from intake import db

    with fresh_database("aduan_bench_inbox") as name:
        engine = db.create_engine(database_url(name))
        try:
            db.upgrade(engine)
            return _measure(engine, "PostgreSQL", N)
        finally:
            engine.dispose()
