"""Reports (E1/E2): a year of 20,000 records and 3,000 survey answers, beside the plain SQL/float floors."""

from __future__ import annotations

import datetime as dt
import io
import random
import time
import tomllib
from pathlib import Path

import sqlalchemy as sa

from app import settings as config_mod
from bench.common import Row
from bot.survey import SurveyResponse
from intake import db, ikm
from intake.models import Complaint
from reports import evaluation

N_COMPLAINTS = 20_000
N_RESPONSES = 3_000
ROOT = Path(__file__).resolve().parents[1]


def _seed(engine: sa.Engine, settings: config_mod.Settings) -> None:
    """Bulk-insert a year of records (file_complaint is measured elsewhere; this measures reading)."""
    rng = random.Random(20261127)
    office = settings.office
    cal = office.calendar
    channels = ["sms", "whatsapp", "email", "web", "walkin", "phone", "instagram"]
    services = [s.code for s in office.services] + [None]
    problems = [p.code for p in office.problem_types] + [None]
    start = dt.datetime(2026, 1, 1, tzinfo=cal.timezone).timestamp()
    end = dt.datetime(2026, 12, 31, 23, tzinfo=cal.timezone).timestamp()
    rows = []
    for i in range(N_COMPLAINTS):
        received = dt.datetime.fromtimestamp(rng.uniform(start, end), dt.UTC)
        kind = "saran" if rng.random() < 0.2 else "pengaduan"
        answered = received + dt.timedelta(days=rng.uniform(1, 30)) if rng.random() < 0.85 else None
        rows.append(
            {
                "office": office.code,
                "tracking_number": f"PWK-2026-{i + 1:06d}",
                "year": 2026,
                "seq": i + 1,
                "kind": kind,
                "reasons": "",
                "channel": rng.choice(channels),
                "contact_urn": None,
                "anonymous": False,
                "text": "Saran perbaikan layanan nomor " + str(i),
                "service_code": rng.choice(services),
                "problem_type": rng.choice(problems),
                "received_at": received,
                "due_date": cal.due_date(received, 14),
                "status": "answered" if answered and kind == "pengaduan" else "received",
                "track": rng.choice(["internal", "agency", None]),
                "answered_at": answered if kind == "pengaduan" else None,
                "created_at": received,
                "updated_at": received,
            }
        )
    responses = [
        {
            "office": office.code,
            "service_code": rng.choice(services),
            "channel": "sms",
            "via": "chat",
            "period": "2026-Q1",
            "submitted_at": dt.datetime.fromtimestamp(rng.uniform(start, end), dt.UTC),
            **{f"u{k}": rng.randint(2, 4) for k in range(1, 10)},
        }
        for _ in range(N_RESPONSES)
    ]
    with db.write_session(engine) as s:
        s.execute(sa.insert(Complaint.__table__), rows)  # type: ignore[attr-defined]
        s.execute(sa.insert(SurveyResponse.__table__), responses)  # type: ignore[attr-defined]


def run() -> list[Row]:
    """Time the yearly report, the exact IKM and the XLSX export beside their floors."""
    settings = config_mod.from_dict(tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8")), env={})
    office = settings.office
    with db.scratch_database(settings.database_url, prefix="aduan_bench_report") as engine:
        _seed(engine, settings)
        period = evaluation.parse_period("2026")
        first, after = period.bounds(office.calendar.timezone)

        t0 = time.perf_counter()
        with db.session(engine) as s:
            report = evaluation.build_report(s, office, period, as_of=dt.date(2026, 12, 31))
        build = time.perf_counter() - t0

        table = Complaint.__table__  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        with engine.connect() as conn:
            for column in ("channel", "service_code", "problem_type", "track", "assignee_id"):
                conn.execute(
                    sa.select(table.c[column], table.c.kind, sa.func.count())
                    .where(table.c.received_at >= first, table.c.received_at < after)
                    .group_by(table.c[column], table.c.kind)
                ).all()
        group_by = time.perf_counter() - t0

        with db.session(engine) as s:
            scores = [r.scores for r in s.exec(sa.select(SurveyResponse)).scalars()]  # type: ignore[call-overload]
        t0 = time.perf_counter()
        for _ in range(20):
            ikm.compute(scores)
        exact = (time.perf_counter() - t0) / 20
        t0 = time.perf_counter()
        for _ in range(20):
            means = [sum(col) / len(col) for col in zip(*scores, strict=True)]
            sum(means) / 9 * 25
        floats = (time.perf_counter() - t0) / 20

        t0 = time.perf_counter()
        evaluation.to_xlsx(report, charts=False)
        xlsx = time.perf_counter() - t0
        from openpyxl import Workbook

        t0 = time.perf_counter()
        wb = Workbook()
        for t in evaluation.tables(report):
            ws = wb.create_sheet(t.name)
            for row in t.rows:
                ws.append(list(row))
        wb.save(io.BytesIO())
        plain = time.perf_counter() - t0
        engine.dispose()

    assert report.pengaduan + report.saran == N_COMPLAINTS
    return [
        Row(
            "report",
            f"yearly report of {N_COMPLAINTS:,} records",
            N_COMPLAINTS / build,
            "records/s",
            "5 SQL GROUP BYs",
            N_COMPLAINTS / group_by,
            note=f"{build:.2f} s vs {group_by:.2f} s; Aduan also computes R4 working days per record",
        ),
        Row(
            "report",
            f"IKM of {N_RESPONSES:,} answers (exact)",
            N_RESPONSES / exact,
            "answers/s",
            "float means",
            N_RESPONSES / floats,
            note="exact fractions: no float error at a grade boundary",
        ),
        Row(
            "report",
            "XLSX export of the year (no charts)",
            1 / xlsx,
            "files/s",
            "openpyxl save_workbook",
            1 / plain,
            note=f"{xlsx:.2f} s vs {plain:.2f} s; reproducible zip + formula-safe cells",
        ),
    ]
