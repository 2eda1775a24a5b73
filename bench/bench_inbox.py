"""Inbox server time: the queue page and the search by tracking number with many complaints on file.

The issue asks for 1,000,000 complaints; generating them through the ORM takes minutes, so the
record is filled with ``N`` rows by bulk INSERT (default 200,000, env ``ADUAN_BENCH_INBOX_N``),
mostly closed history and a tenth open, on SQLite (file, WAL) and PostgreSQL. Each figure is the
in-process request time (routing, auth, queries, template) beside a bare ``/healthz`` in the same run.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import tempfile
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import Row

N = int(os.environ.get("ADUAN_BENCH_INBOX_N", "200000"))
REQUESTS = 200
ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("ADUAN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ENV = {
    "ADUAN_SESSION_SECRET": "bench-secret",
    "ADUAN_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "ADUAN_TWILIO_AUTH_TOKEN": "x",
}
NOW = dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC)


def _fill(engine: sa.Engine, n: int) -> float:
    """Bulk-insert ``n`` complaints (and one reporter per 10) and return the seconds it took."""
    from intake.models import Complaint, Reporter

    rng = random.Random(6)
    table = Complaint.__table__  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Reporter.__table__),  # type: ignore[attr-defined]
            [
                {"name": f"Warga {i}", "anonymous": False, "language": "id", "created_at": NOW}
                for i in range(n // 10)
            ],
        )
    batch: list[dict[str, Any]] = []
    statuses = ["closed"] * 90 + ["received"] * 4 + ["under_review"] * 3 + ["in_follow_up"] * 2 + ["answered"]
    for i in range(n):
        year = 2019 + i * 8 // n
        received = dt.datetime(year, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(0, 525_000))
        if year == 2026:
            received = min(received, NOW)
        status = statuses[i % 100] if year >= 2025 else "closed"
        batch.append(
            {
                "office": "pwk",
                "tracking_number": f"PWK-{year}-{i:07d}",
                "year": year,
                "seq": i,
                "kind": "saran" if i % 13 == 0 else "pengaduan",
                "reasons": "",
                "channel": rng.choice(("whatsapp", "sms", "email", "web", "walkin", "phone")),
                "reporter_id": (i % (n // 10)) + 1,
                "contact_urn": f"whatsapp:+62812{i:08d}",
                "anonymous": False,
                "text": f"Izin nomor {i} belum keluar, mohon dibantu",
                "received_at": received,
                "due_date": (received + dt.timedelta(days=20)).date(),
                "status": status,
                "created_at": received,
                "updated_at": received,
            }
        )
        if len(batch) == 10_000:
            with engine.begin() as conn:
                conn.execute(sa.insert(table), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(sa.insert(table), batch)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


def _percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[94] * 1000


def _measure(engine: sa.Engine, label: str, n: int) -> list[Row]:
    from fastapi.testclient import TestClient

    from bot.bootstrap import build
    from bot.config import from_dict
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
    it = iter(wanted)
    search_samples = timed(lambda: f"/inbox?queue=all&q={next(it)}")  # type: ignore[arg-type]
    search = _percentiles(search_samples)
    assert User is not None
    note = f"{n:,} complaints (bulk-filled in {fill:.0f} s; issue asks 1M), {REQUESTS} requests each"
    rows = []
    for case, (p50, p95), target in (
        ("queue page", queue, 150.0),
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
    return rows


def run() -> list[Row]:
    """Measure on a SQLite file and on a fresh PostgreSQL database."""
    from intake import db

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create_engine(f"sqlite:///{tmp}/bench.db")
        db.create_all(engine)
        rows += _measure(engine, "SQLite", N)
        engine.dispose()
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"aduan_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        return rows  # no PostgreSQL here: SQLite figures only
    try:
        engine = db.create_engine(sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(False))
        db.create_all(engine)
        rows += _measure(engine, "PostgreSQL", N)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return rows
