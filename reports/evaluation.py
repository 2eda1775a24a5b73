"""Periodic reports and the yearly evaluation (E1, E2): counts, R4 timeliness, IKM, charts, exports.

``build_report`` reads one period (a month ``2026-11``, a quarter ``2026-Q4`` or a year ``2026``)
into plain values; the exporters write them as XLSX, CSV, PDF or HTML, and ``chart_png`` /
``chart_svg`` draw the four charts the managers' dashboard shows too. Exports are reproducible:
the same data, period and generation date give the same bytes (stable ordering, fixed document
dates, no random ids), so a report sent to the regent can be checked later.
Citizens' personal data (UU 27/2022) never appears: no names, no contacts; a saran's text appears
only in the E2 list, because the yearly evaluation of the service standard reads it.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

import channels
from bot.survey import SurveyResponse
from intake import ikm
from intake.calendar import BULAN
from intake.ikm import IkmResult
from intake.models import STATUS_MERGED, Complaint, User
from intake.office import OfficeProfile
from intake.rules import KIND_SARAN

FORMATS = ("xlsx", "csv", "pdf", "html")
CHART_KINDS = ("channels", "problem_types", "on_time", "ikm")
UNSET = "(belum diisi)"
MONTHS_ID = BULAN  # Indonesian month names: one list for the whole bot

Progress = Callable[[str], None]


# -- periods ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A reporting period: a month, a quarter or a year, with its first and last day."""

    label: str
    kind: str  # month / quarter / year
    start: dt.date
    end: dt.date  # inclusive

    @property
    def months(self) -> list[tuple[int, int]]:
        """The (year, month) pairs of the period, in order."""
        out, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            out.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def bounds(self, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
        """Return the first moment of the period and the first moment after it, in ``tz``."""
        after = self.end + dt.timedelta(days=1)
        return (
            dt.datetime(self.start.year, self.start.month, self.start.day, tzinfo=tz),
            dt.datetime(after.year, after.month, after.day, tzinfo=tz),
        )

    @property
    def title(self) -> str:
        """The period in words: ``November 2026``, ``Triwulan IV 2026``, ``Tahun 2026``."""
        if self.kind == "month":
            return f"{MONTHS_ID[self.start.month - 1]} {self.start.year}"
        if self.kind == "quarter":
            return f"Triwulan {('I', 'II', 'III', 'IV')[(self.start.month - 1) // 3]} {self.start.year}"
        return f"Tahun {self.start.year}"


_PERIOD = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|[Qq]([1-4])))?$")


def parse_period(text: str) -> Period:
    """Read ``2026-11`` (month), ``2026-Q4`` (quarter) or ``2026`` (year); ValueError otherwise."""
    match = _PERIOD.match(text.strip())
    if not match or not 1990 <= int(match.group(1)) <= 2100:
        raise ValueError(f"period {text!r} is not YYYY-MM, YYYY-Qn or YYYY (e.g. 2026-11, 2026-Q4, 2026)")
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"period {text!r}: month must be 01–12")
        end = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
        return Period(f"{year}-{month:02d}", "month", dt.date(year, month, 1), end)
    if match.group(3):
        q = int(match.group(3))
        start = dt.date(year, 3 * q - 2, 1)
        end = dt.date(year + (q == 4), (3 * q) % 12 + 1, 1) - dt.timedelta(days=1)
        return Period(f"{year}-Q{q}", "quarter", start, end)
    return Period(str(year), "year", dt.date(year, 1, 1), dt.date(year, 12, 31))


# -- the report as plain values -----------------------------------------------------------------


@dataclass
class CountRow:
    """How many complaints and suggestions one value of a dimension (channel, service…) received."""

    key: str
    label: str
    pengaduan: int = 0
    saran: int = 0
    extra: str = ""

    @property
    def total(self) -> int:
        """Complaints and suggestions together."""
        return self.pengaduan + self.saran


@dataclass(frozen=True)
class OverdueRow:
    """A complaint not answered within the R4 deadline (answered late, or still unanswered)."""

    tracking_number: str
    received_on: dt.date
    due_date: dt.date
    answered_on: dt.date | None
    working_days_late: int
    status: str
    service: str
    officer: str


@dataclass
class MonthRow:
    """One month of the trend."""

    month: str
    pengaduan: int = 0
    saran: int = 0
    answered: int = 0
    on_time: int = 0
    overdue_open: int = 0
    respondents: int = 0
    ikm: Decimal | None = None


@dataclass(frozen=True)
class SaranRow:
    """One suggestion for the E2 evaluation, under the component of the standard it concerns."""

    component: str
    tracking_number: str
    received_on: dt.date
    service: str
    text: str


@dataclass
class Report:
    """Everything one period's report says, as plain values."""

    office_code: str
    office_name: str
    period: Period
    as_of: dt.date
    deadline_days: int
    pengaduan: int = 0
    saran: int = 0
    by_channel: list[CountRow] = field(default_factory=list)
    by_service: list[CountRow] = field(default_factory=list)
    by_sector: list[CountRow] = field(default_factory=list)
    by_problem_type: list[CountRow] = field(default_factory=list)
    by_track: list[CountRow] = field(default_factory=list)
    by_officer: list[CountRow] = field(default_factory=list)
    answered: int = 0
    answered_on_time: int = 0
    overdue_open: int = 0
    open_not_due: int = 0
    average_working_days: Decimal | None = None
    overdue: list[OverdueRow] = field(default_factory=list)
    ikm: IkmResult | None = None
    ikm_by_service: dict[str, IkmResult] = field(default_factory=dict)
    trend: list[MonthRow] = field(default_factory=list)
    saran_by_component: list[CountRow] = field(default_factory=list)
    saran_list: list[SaranRow] = field(default_factory=list)
    #: Chart series: bucket labels (days of a month, or months) and counts per channel.
    buckets: list[str] = field(default_factory=list)
    channel_series: dict[str, list[int]] = field(default_factory=dict)
    #: Charts already rendered for this report, by (kind, format): every export reuses them.
    chart_cache: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def answered_late(self) -> int:
        """Complaints answered after their due date."""
        return self.answered - self.answered_on_time

    @property
    def decided(self) -> int:
        """Complaints whose timeliness is known: answered, or past due without an answer."""
        return self.answered + self.overdue_open

    @property
    def on_time_share(self) -> Decimal | None:
        """Percentage answered within the deadline among the decided ones (one decimal)."""
        if not self.decided:
            return None
        return ikm.round_half_up(Decimal(100 * self.answered_on_time) / Decimal(self.decided), 1)


def _tally(rows: dict[str, CountRow], key: str, label: str, kind: str, extra: str = "") -> None:
    row = rows.setdefault(key, CountRow(key, label, extra=extra))
    if kind == KIND_SARAN:
        row.saran += 1
    else:
        row.pengaduan += 1


def _by_total(rows: dict[str, CountRow]) -> list[CountRow]:
    return sorted(rows.values(), key=lambda r: (-r.total, r.key))


def _ratings(session: Session, office: OfficeProfile, period: Period) -> list[ikm.Rating]:

    first, after = period.bounds(office.calendar.timezone)
    table = SurveyResponse.__table__  # type: ignore[attr-defined]
    scores = [table.c[f"u{i}"] for i in range(1, ikm.N_ELEMENTS + 1)]
    rows = session.execute(
        sa.select(table.c.submitted_at, table.c.service_code, *scores)
        .where(table.c.office == office.code, table.c.submitted_at >= first, table.c.submitted_at < after)
        .order_by(table.c.submitted_at, table.c.id)
    ).all()
    return [ikm.Rating(tuple(r[2:]), office.calendar.local_date(r[0]), r[1]) for r in rows]


#: The columns a report reads: plain rows instead of ORM objects halve the time of a yearly report.
_REPORT_COLUMNS = (
    "id",
    "tracking_number",
    "kind",
    "channel",
    "service_code",
    "problem_type",
    "suggested_problem_type",
    "text",
    "received_at",
    "due_date",
    "status",
    "track",
    "assignee_id",
    "answered_at",
)


def _complaints(session: Session, office: OfficeProfile, period: Period) -> list[Any]:
    first, after = period.bounds(office.calendar.timezone)
    table = Complaint.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(*(table.c[name] for name in _REPORT_COLUMNS))
        .where(
            table.c.office == office.code,
            table.c.received_at >= first,
            table.c.received_at < after,
            table.c.status != STATUS_MERGED,  # a merged record is counted in the one it joined
        )
        .order_by(table.c.received_at, table.c.id)
    )
    return list(session.execute(query).all())


def _officers(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    users = session.exec(select(User).where(User.id.in_(wanted))).all()  # type: ignore[union-attr]
    return {u.id: (u.full_name or u.username) for u in users if u.id is not None}


def default_as_of(office: OfficeProfile, period: Period, now: dt.datetime) -> dt.date:
    """Return the day a report is computed for: today, or the period's end when it is over."""
    return min(period.end, office.calendar.local_date(now))


def build_report(
    session: Session,
    office: OfficeProfile,
    period: Period | str,
    *,
    as_of: dt.date,
    progress: Progress | None = None,
) -> Report:
    """Read one period into a Report; ``as_of`` decides which unanswered complaints are overdue."""
    period = parse_period(period) if isinstance(period, str) else period
    cal = office.calendar
    step = progress or (lambda _name: None)
    report = Report(office.code, office.name, period, as_of, office.answer_deadline_working_days)
    complaints = _complaints(session, office, period)
    officers = _officers(session, (c.assignee_id for c in complaints if c.assignee_id is not None))
    channel_rows: dict[str, CountRow] = {}
    service_rows: dict[str, CountRow] = {}
    sector_rows: dict[str, CountRow] = {}
    track_rows: dict[str, CountRow] = {}
    officer_rows: dict[str, CountRow] = {}
    problem_rows = {p.code: CountRow(p.code, p.name) for p in office.problem_types}
    component_rows = {p.code: CountRow(p.code, p.name) for p in office.problem_types}
    months = {f"{y}-{m:02d}": MonthRow(f"{y}-{m:02d}") for y, m in period.months}
    daily = period.kind == "month"
    report.buckets = [f"{d:02d}" for d in range(1, period.end.day + 1)] if daily else list(months)
    bucket_index = {b: i for i, b in enumerate(report.buckets)}
    series: dict[str, list[int]] = {}
    working_days: list[int] = []
    by_month: dict[str, list[Any]] = defaultdict(list)
    for c in complaints:
        by_month[cal.local_date(c.received_at).strftime("%Y-%m")].append(c)
    for month_key, month in months.items():
        step(f"bulan {month_key}")
        for c in by_month.get(month_key, []):
            received_on = cal.local_date(c.received_at)
            kind = c.kind
            service = office.service(c.service_code)
            service_label = service.name if service else UNSET
            _tally(channel_rows, c.channel, _channel_label(c.channel), kind)
            _tally(service_rows, c.service_code or "", service_label, kind, service.sector if service else "")
            _tally(sector_rows, service.sector if service else "", service.sector if service else UNSET, kind)
            officer = officers.get(c.assignee_id, UNSET) if c.assignee_id is not None else UNSET
            bucket = f"{received_on.day:02d}" if daily else month_key
            series.setdefault(c.channel, [0] * len(report.buckets))[bucket_index[bucket]] += 1
            if kind == KIND_SARAN:
                report.saran += 1
                month.saran += 1
                component = c.problem_type or c.suggested_problem_type or "lainnya"
                if component not in component_rows:
                    component_rows[component] = CountRow(component, component)
                component_rows[component].saran += 1
                report.saran_list.append(
                    SaranRow(component, c.tracking_number, received_on, service_label, _excerpt(c.text))
                )
                continue
            report.pengaduan += 1
            month.pengaduan += 1
            _tally(track_rows, c.track or "", _track_label(c.track), kind)
            _tally(officer_rows, str(c.assignee_id or ""), officer, kind)
            if c.problem_type and c.problem_type in problem_rows:
                problem_rows[c.problem_type].pengaduan += 1
            else:
                problem_rows.setdefault("", CountRow("", UNSET)).pengaduan += 1
            answered_on = cal.local_date(c.answered_at) if c.answered_at else None
            late_days = 0
            if answered_on is not None:
                report.answered += 1
                month.answered += 1
                # R4: counted in working days from the day of receipt (not counted) to the answer.
                working_days.append(cal.working_days_between(received_on, answered_on))
                if answered_on <= c.due_date:
                    report.answered_on_time += 1
                    month.on_time += 1
                else:
                    late_days = cal.working_days_between(c.due_date, answered_on)
            elif c.due_date < as_of:
                report.overdue_open += 1
                month.overdue_open += 1
                late_days = cal.working_days_between(c.due_date, as_of)
            else:
                report.open_not_due += 1
            late = answered_on > c.due_date if answered_on is not None else c.due_date < as_of
            if late:
                report.overdue.append(
                    OverdueRow(
                        c.tracking_number,
                        received_on,
                        c.due_date,
                        answered_on,
                        late_days,
                        c.status,
                        service_label,
                        officer,
                    )
                )
    step("indeks kepuasan (IKM)")
    ratings = _ratings(session, office, period)
    report.ikm = ikm.compute(r.scores for r in ratings)
    report.ikm_by_service = ikm.by_service(ratings)
    for month_key, result in ikm.group_by(ratings, lambda r: r.submitted_on.strftime("%Y-%m")).items():
        if month_key in months:
            months[month_key].respondents, months[month_key].ikm = result.respondents, result.ikm
    if working_days:
        report.average_working_days = ikm.round_half_up(Decimal(sum(working_days)) / len(working_days), 1)
    report.by_channel = _by_total(channel_rows)
    report.by_service = _by_total(service_rows)
    report.by_sector = _by_total(sector_rows)
    report.by_problem_type = [r for r in problem_rows.values() if r.key or r.total]
    report.by_track = [track_rows[k] for k in ("internal", "agency", "apip", "") if k in track_rows] + [
        r for k, r in sorted(track_rows.items()) if k not in ("internal", "agency", "apip", "")
    ]
    report.by_officer = _by_total(officer_rows)
    report.trend = list(months.values())
    order = list(component_rows)
    report.saran_by_component = list(component_rows.values())
    report.saran_list.sort(key=lambda s: (order.index(s.component), s.received_on, s.tracking_number))
    report.channel_series = {k: series[k] for k in sorted(series)}
    return report


def _excerpt(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _channel_label(name: str) -> str:
    entry = channels.REGISTRY.get(name)
    return entry.label if entry else name


TRACK_LABELS = {
    "internal": "Internal DPMPTSP (R7a)",
    "agency": "Tim teknis / perangkat daerah (R7b)",
    "apip": "APIP (R7c)",
}


def _track_label(track: str | None) -> str:
    return TRACK_LABELS.get(track or "", track or UNSET)


# -- tables: one description, four formats ------------------------------------------------------

Cell = str | int | Decimal | dt.date | None

#: Statuses as the reports' readers say them (this report and the follow-up report, reports.followup).
STATUS_WORDS = {
    "received": "Diterima",
    "under_review": "Ditelaah",
    "in_follow_up": "Ditindaklanjuti",
    "answered": "Dijawab",
    "reported": "Dilaporkan",
    "closed": "Selesai",
    "acknowledged": "Diterima sebagai saran",
    "forwarded": "Diteruskan ke evaluasi",
    "merged": "Digabung",
}
#: Said under an IKM chart with no bars, so an empty chart is not read as a score of zero.
NO_IKM = "Belum ada responden survei kepuasan (IKM) pada periode ini; grafik IKM masih kosong."


@dataclass(frozen=True)
class Table:
    """One table of the report, as every export format writes it."""

    name: str  # short, used as the sheet name and the CSV section
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def _iso(day: dt.date | None) -> dt.date | str:
    """A day as a date (spreadsheets read it as one), or "-" when there is none."""
    return day if day else "-"


def _counts(rows: list[CountRow], *, extra: str | None = None) -> tuple[tuple[Cell, ...], ...]:
    if extra is None:
        return tuple((r.label, r.pengaduan, r.saran, r.total) for r in rows)
    return tuple((r.label, r.extra or "-", r.pengaduan, r.saran, r.total) for r in rows)


def tables(report: Report) -> list[Table]:
    """Return the report's tables in the order every format shows them."""
    counts = ("Pengaduan", "Saran", "Jumlah")
    share = report.on_time_share
    result = report.ikm
    summary: list[tuple[Cell, ...]] = [
        ("Kantor", report.office_name),
        ("Periode", f"{report.period.title} ({report.period.label})"),
        ("Dari tanggal", report.period.start),
        ("Sampai tanggal", report.period.end),
        ("Keadaan per tanggal", report.as_of),
        ("Pengaduan diterima", report.pengaduan),
        ("Saran / masukan diterima", report.saran),
        ("Pengaduan dijawab", report.answered),
        (f"Dijawab dalam {report.deadline_days} hari kerja (R4)", report.answered_on_time),
        ("Dijawab terlambat", report.answered_late),
        ("Belum dijawab, lewat batas waktu", report.overdue_open),
        ("Belum dijawab, belum jatuh tempo", report.open_not_due),
        ("Persentase tepat waktu (%)", share if share is not None else "-"),
        ("Rata-rata hari kerja sampai dijawab", report.average_working_days or "-"),
        ("IKM (PermenPANRB 14/2017)", result.ikm if result else "-"),
        ("Mutu pelayanan", f"{result.grade.letter} ({result.grade.label})" if result else "-"),
        ("Jumlah responden survei", result.respondents if result else 0),
        ("Unsur terendah", f"{result.weakest.element.code} {result.weakest.element.name}" if result else "-"),
    ]
    out = [
        Table("Ringkasan", f"Laporan pengaduan {report.period.title}", ("Uraian", "Nilai"), tuple(summary)),
        Table("Kanal", "Menurut kanal (R2)", ("Kanal", *counts), _counts(report.by_channel)),
        Table(
            "Layanan",
            "Menurut jenis layanan (R5c)",
            ("Layanan", "Bidang", *counts),
            _counts(report.by_service, extra="sector"),
        ),
        Table("Bidang", "Menurut bidang / sektor (R5c)", ("Bidang", *counts), _counts(report.by_sector)),
        Table(
            "Jenis masalah",
            "Pengaduan menurut jenis masalah (R5c)",
            ("Jenis masalah", "Pengaduan"),
            tuple((r.label, r.pengaduan) for r in report.by_problem_type),
        ),
        Table(
            "Jalur",
            "Pengaduan menurut jalur penyelesaian (R7)",
            ("Jalur", "Pengaduan"),
            tuple((r.label, r.pengaduan) for r in report.by_track),
        ),
        Table(
            "Petugas",
            "Pengaduan menurut petugas",
            ("Petugas", "Pengaduan"),
            tuple((r.label, r.pengaduan) for r in report.by_officer),
        ),
        Table(
            "Terlambat",
            f"Pengaduan melewati batas {report.deadline_days} hari kerja (R4)",
            (
                "Nomor",
                "Diterima",
                "Batas",
                "Dijawab",
                "Terlambat (hari kerja)",
                "Status",
                "Layanan",
                "Petugas",
            ),
            tuple(
                (
                    o.tracking_number,
                    _iso(o.received_on),
                    _iso(o.due_date),
                    _iso(o.answered_on),
                    o.working_days_late,
                    STATUS_WORDS.get(o.status, o.status),
                    o.service,
                    o.officer,
                )
                for o in report.overdue
            ),
        ),
        Table(
            "IKM",
            "Indeks Kepuasan Masyarakat per unsur (PermenPANRB 14/2017)",
            ("Unsur", "Nama", "NRR", "NRR tertimbang", "Indeks unsur", "Mutu"),
            _ikm_rows(result),
        ),
        Table(
            "IKM layanan",
            "IKM menurut layanan",
            ("Layanan", "Responden", "IKM", "Mutu", "Unsur terendah"),
            tuple(
                (_service_name(report, code), r.respondents, r.ikm, r.grade.letter, r.weakest.element.code)
                for code, r in report.ikm_by_service.items()
            ),
        ),
        Table(
            "Tren",
            "Tren bulanan",
            (
                "Bulan",
                "Pengaduan",
                "Saran",
                "Dijawab",
                "Tepat waktu",
                "Belum dijawab, lewat batas",
                "Responden",
                "IKM",
            ),
            tuple(
                (
                    m.month,
                    m.pengaduan,
                    m.saran,
                    m.answered,
                    m.on_time,
                    m.overdue_open,
                    m.respondents,
                    m.ikm if m.ikm is not None else "-",
                )
                for m in report.trend
            ),
        ),
        Table(
            "Saran per komponen",
            "Evaluasi standar pelayanan (E2): saran menurut komponen standar",
            ("Komponen", "Saran"),
            tuple((r.label, r.saran) for r in report.saran_by_component),
        ),
        Table(
            "Daftar saran",
            "Evaluasi standar pelayanan (E2): isi saran",
            ("Komponen", "Nomor", "Diterima", "Layanan", "Isi saran"),
            tuple(
                (
                    _component_name(report, s.component),
                    s.tracking_number,
                    _iso(s.received_on),
                    s.service,
                    s.text,
                )
                for s in report.saran_list
            ),
        ),
    ]
    return out


def _ikm_rows(result: IkmResult | None) -> tuple[tuple[Cell, ...], ...]:
    if result is None:
        return ()
    rows: list[tuple[Cell, ...]] = [
        (e.element.code, e.element.name, e.nrr_shown, e.weighted, e.index, e.grade.letter)
        for e in result.elements
    ]
    rows.append(("IKM", f"{result.respondents} responden", "", "", result.ikm, result.grade.letter))
    return tuple(rows)


def _service_name(report: Report, code: str) -> str:
    for row in report.by_service:
        if row.key == code:
            return row.label
    return code if code != ikm.NO_SERVICE else UNSET


def _component_name(report: Report, code: str) -> str:
    return next((r.label for r in report.saran_by_component if r.key == code), code)


# -- charts -------------------------------------------------------------------------------------

_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
)


def _figure(report: Report, kind: str) -> Any:
    """Draw one chart of the report on a new matplotlib Figure (Agg, no pyplot global state)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # Fixed margins: an automatic layout engine costs twice the drawing time on a busy server.
    fig = Figure(figsize=(8, 4.5), dpi=100)
    fig.subplots_adjust(
        left=0.36 if kind == "problem_types" else 0.08,
        right=0.98,
        top=0.9,
        bottom=0.2 if kind == "channels" and len(report.buckets) > 12 else 0.12,
    )
    ax = fig.add_subplot()
    period = report.period.title
    if kind == "channels":
        x = list(range(len(report.buckets)))
        bottom: list[float] = [0.0] * len(x)
        for i, (name, values) in enumerate(report.channel_series.items()):
            ax.bar(x, values, bottom=bottom, label=_channel_label(name), color=_PALETTE[i % len(_PALETTE)])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(x, report.buckets, rotation=90 if len(x) > 12 else 0, fontsize=8)
        ax.set_title(f"Pengaduan dan saran menurut kanal — {period}")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("Jumlah")
        if report.channel_series:
            ax.legend(fontsize=8, loc="upper left")
    elif kind == "problem_types":
        rows = list(reversed(report.by_problem_type))
        labels = [r.label for r in rows]
        ax.barh(labels, [r.pengaduan for r in rows], color=_PALETTE[0], label="Pengaduan")
        fig.suptitle(f"Pengaduan menurut jenis masalah (R5c) — {period}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Jumlah pengaduan")
        ax.tick_params(axis="y", labelsize=8)
    elif kind == "on_time":
        labels = [m.month for m in report.trend]
        on_time = [m.on_time for m in report.trend]
        late = [m.answered - m.on_time for m in report.trend]
        ax.bar(labels, on_time, color="#2ca02c", label=f"Dijawab ≤ {report.deadline_days} hari kerja")
        ax.bar(labels, late, bottom=on_time, color="#d62728", label="Dijawab terlambat")
        answered = [a + b for a, b in zip(on_time, late, strict=True)]
        ax.bar(
            labels,
            [m.overdue_open for m in report.trend],
            bottom=answered,
            color="#7f7f7f",
            label="Belum dijawab, lewat batas",
        )
        share = report.on_time_share
        ax.set_title(f"Jawaban tepat waktu (R4) — {period}: {share if share is not None else '-'}%")
        ax.set_ylabel("Pengaduan")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    elif kind == "ikm":
        result = report.ikm
        codes = list(ikm.ELEMENT_CODES)
        heights = [float(e.index) for e in result.elements] if result else [0.0] * len(codes)
        ax.bar(codes, heights, color=_PALETTE[0])
        for g in ikm.GRADES[:-1]:
            ax.axhline(float(g.minimum), color="#999999", linewidth=0.8, linestyle=":")
        if result:
            ax.axhline(float(result.ikm), color="#d62728", linewidth=1.2, label=f"IKM {result.ikm}")
            ax.legend(fontsize=8, loc="lower right")
            ax.set_title(
                f"IKM per unsur — {period}: {result.ikm} ({result.grade.letter}), "
                f"{result.respondents} responden"
            )
        else:
            ax.set_title(f"IKM per unsur — {period}: belum ada responden")
        ax.set_ylim(0, 100)
        ax.set_ylabel("Indeks unsur (NRR × 25)")
    else:
        raise ValueError(f"unknown chart {kind!r}; known: {', '.join(CHART_KINDS)}")
    return fig


def render_chart(report: Report, kind: str, fmt: str = "png") -> bytes:
    """Render one chart to PNG or SVG bytes, identical for identical data."""
    import matplotlib

    cached = report.chart_cache.get((kind, fmt))
    if cached is not None:
        return cached
    fig = _figure(report, kind)
    buf = io.BytesIO()
    # Reproducible output: no date, a fixed hash salt for SVG ids, no version-dependent software tag.
    with matplotlib.rc_context({"svg.hashsalt": "aduan", "svg.fonttype": "path"}):
        if fmt == "png":
            fig.savefig(buf, format="png", metadata={"Software": None})
        elif fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        else:
            raise ValueError(f"unknown chart format {fmt!r}; known: png, svg")
    report.chart_cache[(kind, fmt)] = buf.getvalue()
    return buf.getvalue()


def chart_png(
    session: Session, office: OfficeProfile, kind: str, period: Period | str, *, as_of: dt.date | None = None
) -> bytes:
    """Return one chart of a period as PNG bytes (the managers' dashboard shows these)."""
    p = parse_period(period) if isinstance(period, str) else period
    report = build_report(session, office, p, as_of=as_of or p.end)
    return render_chart(report, kind, "png")


def chart_svg(
    session: Session, office: OfficeProfile, kind: str, period: Period | str, *, as_of: dt.date | None = None
) -> bytes:
    """Return one chart of a period as SVG bytes."""
    p = parse_period(period) if isinstance(period, str) else period
    report = build_report(session, office, p, as_of=as_of or p.end)
    return render_chart(report, kind, "svg")


# -- exports ------------------------------------------------------------------------------------


def _fixed_moment(report: Report) -> dt.datetime:
    """The one date written into document metadata: the end of the period (reproducible)."""
    end = report.period.end
    return dt.datetime(end.year, end.month, end.day, 23, 59, 59)


class _FixedZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry one fixed timestamp (openpyxl stamps the wall clock)."""

    fixed: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)

    def writestr(self, zinfo_or_arcname: Any, data: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=self.fixed)
            zinfo_or_arcname.compress_type = zipfile.ZIP_DEFLATED
            zinfo_or_arcname.external_attr = 0o600 << 16
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)

    def write(self, filename: Any, arcname: Any = None, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # openpyxl writes each sheet through a temporary file, whose mtime would leak in.
        self.writestr(str(arcname or filename), Path(filename).read_bytes())


def to_xlsx(report: Report, *, charts: bool = True) -> bytes:
    """Write the report as an Excel workbook, one sheet per table, plus a sheet of charts."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    first = True
    for table in tables(report):
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = table.name
        ws.append([table.title])
        ws["A1"].font = Font(bold=True, size=12)
        ws.append(list(table.headers))
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for r, row in enumerate(table.rows, start=3):
            for c, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=c, value=_xlsx_cell(value))
                if isinstance(value, str):
                    cell.data_type = "s"  # a citizen's "=…" is text, never a formula
                elif isinstance(value, dt.date):
                    cell.number_format = "DD-MM-YYYY"
        for col, header in enumerate(table.headers, start=1):
            width = max([len(str(header))] + [len(str(r[col - 1])) for r in table.rows] + [8])
            ws.column_dimensions[ws.cell(row=2, column=col).column_letter].width = min(width + 2, 60)
        ws.freeze_panes = "A3"
    if charts:
        ws = wb.create_sheet("Grafik")
        for i, kind in enumerate(CHART_KINDS):
            image = Image(io.BytesIO(render_chart(report, kind, "png")))
            ws.add_image(image, f"A{1 + i * 24}")
    moment = _fixed_moment(report)
    wb.properties.creator = "Aduan"
    wb.properties.lastModifiedBy = "Aduan"
    wb.properties.title = f"Laporan pengaduan {report.office_name} {report.period.label}"
    wb.properties.created = moment
    wb.properties.modified = moment
    buf = io.BytesIO()
    archive = _FixedZip(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    archive.fixed = (moment.year, moment.month, moment.day, 0, 0, 0)
    # ExcelWriter directly: openpyxl's save_workbook would stamp "modified" with the wall clock.
    ExcelWriter(wb, archive).save()
    return buf.getvalue()


def _plain(cell: Cell) -> str:
    if cell is None:
        return ""
    return str(cell)


#: Characters that make a spreadsheet read a cell as a formula (CSV injection, CWE-1236).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _xlsx_cell(cell: Cell) -> Cell:
    """Drop the control characters an XLSX cannot hold (a citizen's text may carry them)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", cell) if isinstance(cell, str) else cell


def _csv_cell(cell: Cell) -> str:
    """Quote a text that a spreadsheet would run as a formula with a leading apostrophe."""
    text = _plain(cell)
    if text.startswith(_FORMULA_START) and text != "-" and not isinstance(cell, int | Decimal):
        return "'" + text
    return text


def to_csv(report: Report) -> bytes:
    """Write the report as one CSV: each row starts with the name of its table (UTF-8 with BOM)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for table in tables(report):
        writer.writerow([table.name, *table.headers])
        for row in table.rows:
            writer.writerow([table.name, *(_csv_cell(c) for c in row)])
    # The BOM lets spreadsheet programs read Indonesian text as UTF-8.
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_html(report: Report, *, charts: bool = True) -> bytes:
    """Write the report as one self-contained HTML page (tables and inline SVG charts, no script)."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="id"><head><meta charset="utf-8">',
        f"<title>Laporan pengaduan {esc(report.office_name)} {esc(report.period.label)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a1a1a}"
        "table{border-collapse:collapse;margin:0 0 1.5rem}th,td{border:1px solid #bbb;padding:.25rem .5rem;"
        "text-align:left;vertical-align:top}th{background:#eef}td.n{text-align:right}"
        "figure{margin:0 0 1.5rem}svg{max-width:100%;height:auto}</style>",
        "</head><body>",
        f"<h1>Laporan pengaduan — {esc(report.office_name)}</h1>",
        f"<p>{esc(report.period.title)} ({esc(report.period.start.isoformat())} s.d. "
        f"{esc(report.period.end.isoformat())}), keadaan per {esc(report.as_of.isoformat())}.</p>",
    ]
    for table in tables(report):
        parts.append(f"<h2>{esc(table.title)}</h2>")
        heads = "".join(f"<th>{esc(h)}</th>" for h in table.headers)
        parts.append(f"<table><thead><tr>{heads}</tr></thead>")
        parts.append("<tbody>")
        for row in table.rows:
            cells = "".join(
                f'<td class="n">{esc(_plain(c))}</td>'
                if isinstance(c, int | Decimal)
                else f"<td>{esc(_plain(c))}</td>"
                for c in row
            )
            parts.append(f"<tr>{cells}</tr>")
        if not table.rows:
            parts.append(f'<tr><td colspan="{len(table.headers)}">(tidak ada data)</td></tr>')
        parts.append("</tbody></table>")
    if charts:
        parts.append("<h2>Grafik</h2>")
        for kind in CHART_KINDS:
            svg = render_chart(report, kind, "svg").decode("utf-8")
            svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype inside HTML
            empty = kind == "ikm" and report.ikm is None
            caption = f"<figcaption>{esc(NO_IKM)}</figcaption>" if empty else ""
            parts.append(f"<figure>{svg}{caption}</figure>")
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def to_pdf(report: Report, *, charts: bool = True) -> bytes:
    """Write the report as a PDF (A4 landscape, DejaVu Sans for Indonesian text, PNG charts)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_creation_date(_fixed_moment(report).replace(tzinfo=dt.UTC))
    pdf.set_creator("Aduan")
    pdf.set_producer("Aduan")
    pdf.set_title(f"Laporan pengaduan {report.office_name} {report.period.label}")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 8, f"Laporan pengaduan — {report.office_name}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    span = f"{report.period.start.isoformat()} s.d. {report.period.end.isoformat()}"
    pdf.cell(
        0,
        6,
        f"{report.period.title} ({span}), keadaan per {report.as_of.isoformat()}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for table in tables(report):
        pdf.ln(3)
        # A heading never ends a page: it moves on with its table's first rows.
        if pdf.will_page_break(6 + 4.5 * min(len(table.rows) + 1, 4)):
            pdf.add_page()
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(0, 6, table.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8)
        if not table.rows:
            pdf.cell(0, 5, "(tidak ada data)", new_x="LMARGIN", new_y="NEXT")
            continue
        with pdf.table(first_row_as_headings=True, line_height=4.5, text_align="LEFT") as grid:
            grid.row(list(table.headers))
            for row in table.rows:
                grid.row([_plain(c) for c in row])
    if charts:
        for kind in CHART_KINDS:
            pdf.add_page()
            if kind == "ikm" and report.ikm is None:
                pdf.set_font("DejaVu", "", 10)
                pdf.multi_cell(0, 6, NO_IKM, new_x="LMARGIN", new_y="NEXT")
            pdf.image(io.BytesIO(render_chart(report, kind, "png")), w=250)
    return bytes(pdf.output())


#: The chart format each export embeds (CSV has none).
CHART_FORMAT: dict[str, str | None] = {"xlsx": "png", "csv": None, "pdf": "png", "html": "svg"}


def export(report: Report, fmt: str) -> bytes:
    """Write the report in one of FORMATS."""
    writers: dict[str, Callable[[Report], bytes]] = {
        "xlsx": to_xlsx,
        "csv": to_csv,
        "pdf": to_pdf,
        "html": to_html,
    }
    try:
        return writers[fmt](report)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}") from None


def ikm_summary(session: Session, office: OfficeProfile, period: Period | str) -> dict[str, Any]:
    """Return the IKM of a period overall, per quarter and per service, as plain values."""
    p = parse_period(period) if isinstance(period, str) else period
    ratings = _ratings(session, office, p)
    overall = ikm.compute(r.scores for r in ratings)
    return {
        "period": p.label,
        "overall": overall.as_dict() if overall else None,
        "by_quarter": {k: v.as_dict() for k, v in ikm.by_quarter(ratings).items()},
        "by_service": {k: v.as_dict() for k, v in ikm.by_service(ratings).items()},
    }
