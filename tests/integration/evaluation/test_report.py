"""Reports of a seeded period: counts (R2, R5c, R7), R4 timeliness, IKM, E2 saran, charts, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from PIL import Image

from app.container import Container
from bot.survey import SurveyResponse
from intake import db
from intake.models import User
from reports import evaluation
from tests.integration.evaluation.helpers import at, complaint

AS_OF = dt.date(2026, 11, 30)
SARAN_TOILET = "Toilet di ruang tunggu kotor dan rusak"
SARAN_SYARAT = "Syarat dokumen PBG sebaiknya dipersingkat"


def _seed(container: Container) -> None:
    """November 2026 (no holiday in the month): five complaints, two saran, three survey answers."""
    with db.write_session(container.engine) as s:
        officer = User(username="budi", full_name="Budi Santoso", role="officer")
        s.add(officer)
        s.flush()
        # Mon 2 Nov → answered Fri 6 Nov: 4 working days, on time
        c1 = complaint(
            s,
            container,
            received=at("2026-11-02"),
            channel="sms",
            urn="tel:+6281234500041",
            service="pbg",
            problem_type="waktu",
            answered=at("2026-11-06", 14),
        )
        c1.track, c1.assignee_id = "internal", officer.id
        # Tue 3 Nov, due Mon 23 Nov → answered Wed 25 Nov: 16 working days, 2 late
        c2 = complaint(
            s,
            container,
            received=at("2026-11-03"),
            channel="whatsapp",
            urn="whatsapp:+6281234500042",
            service="nib",
            problem_type="prosedur",
            answered=at("2026-11-25", 9),
        )
        c2.track, c2.assignee_id = "agency", officer.id
        # Wed 4 Nov, due Tue 24 Nov, never answered: overdue by 4 working days on 30 Nov
        complaint(
            s,
            container,
            received=at("2026-11-04"),
            channel="email",
            urn="mailto:warga@example.test",
            service="reklame",
            problem_type="biaya",
        )
        # Mon 23 Nov and Mon 30 Nov 23:30 (still November in Jakarta): open, not yet due
        complaint(
            s,
            container,
            received=at("2026-11-23"),
            channel="web",
            urn="tel:+6281234500044",
            service="pbg",
            problem_type=None,
        )
        complaint(
            s,
            container,
            received=at("2026-11-30", 23),
            channel="phone",
            urn="tel:+6281234500045",
            service=None,
            problem_type="kompetensi",
        )
        # saran (no name, R5b): grouped for E2 by the component the words suggest
        complaint(
            s,
            container,
            received=at("2026-11-10"),
            channel="sms",
            urn="tel:+6281234500046",
            name=None,
            text=SARAN_TOILET,
            service=None,
            problem_type=None,
        )
        complaint(
            s,
            container,
            received=at("2026-11-20"),
            channel="whatsapp",
            urn="whatsapp:+6281234500047",
            name=None,
            text=SARAN_SYARAT,
            service="pbg",
            problem_type=None,
        )
        # outside the period: 31 Oct, and 1 Dec 00:30 Jakarta (still 30 Nov in UTC)
        complaint(s, container, received=at("2026-10-30"), urn="tel:+6281234500048")
        complaint(
            s,
            container,
            received=dt.datetime(2026, 12, 1, 0, 30, tzinfo=at("2026-12-01").tzinfo),
            urn="tel:+6281234500049",
        )
        for scores, day in (
            ((4, 4, 3, 4, 3, 4, 4, 3, 4), "2026-11-09"),
            ((3, 3, 2, 4, 3, 3, 4, 3, 3), "2026-11-12"),
            ((4, 3, 2, 4, 4, 4, 4, 3, 3), "2026-11-27"),
            ((1, 1, 1, 1, 1, 1, 1, 1, 1), "2026-10-28"),  # October: not in the period
        ):
            s.add(
                SurveyResponse(
                    office=container.office.code,
                    service_code="pbg",
                    channel="sms",
                    via="chat",
                    period="x",
                    submitted_at=at(day),
                    **{f"u{i + 1}": v for i, v in enumerate(scores)},  # type: ignore[arg-type]
                )
            )


def _report(container: Container, period: str = "2026-11") -> evaluation.Report:
    with db.session(container.engine) as s:
        return evaluation.build_report(s, container.office, period, as_of=AS_OF)


def _sheet(data: bytes, name: str) -> list[tuple[Any, ...]]:
    wb = load_workbook(io.BytesIO(data))
    return [tuple(row) for row in wb[name].iter_rows(min_row=3, values_only=True)]


def test_e1_e2_report_of_a_month_has_the_right_counts_in_the_xlsx(container: Container) -> None:
    _seed(container)
    data = evaluation.to_xlsx(_report(container))
    summary = dict((row[0], row[1]) for row in _sheet(data, "Ringkasan"))
    assert summary["Periode"] == "November 2026 (2026-11)"
    assert summary["Pengaduan diterima"] == 5
    assert summary["Saran / masukan diterima"] == 2
    assert summary["Pengaduan dijawab"] == 2
    assert summary["Dijawab dalam 14 hari kerja (R4)"] == 1
    assert summary["Dijawab terlambat"] == 1
    assert summary["Belum dijawab, lewat batas waktu"] == 1
    assert summary["Belum dijawab, belum jatuh tempo"] == 2
    assert summary["Persentase tepat waktu (%)"] == pytest.approx(33.3)
    assert summary["Rata-rata hari kerja sampai dijawab"] == pytest.approx(10.0)  # (4 + 16) / 2
    assert summary["IKM (PermenPANRB 14/2017)"] == pytest.approx(85.19)
    assert summary["Mutu pelayanan"] == "B (Baik)"
    assert summary["Jumlah responden survei"] == 3
    assert summary["Unsur terendah"] == "U3 Waktu penyelesaian"

    channels = {row[0]: row[1:] for row in _sheet(data, "Kanal")}
    assert channels == {
        "SMS": (1, 1, 2),
        "WhatsApp": (1, 1, 2),
        "Email": (1, 0, 1),
        "Formulir web": (1, 0, 1),
        "Telepon": (1, 0, 1),
    }
    services = {row[0]: row[2:] for row in _sheet(data, "Layanan")}
    assert services["Persetujuan Bangunan Gedung (PBG)"] == (2, 1, 3)
    assert services["(belum diisi)"] == (1, 1, 2)
    problems = dict(_sheet(data, "Jenis masalah"))
    assert problems["Jangka waktu penyelesaian"] == 1
    assert problems["Biaya/tarif"] == 1
    assert problems["Kompetensi pelaksana"] == 1
    assert problems["Produk pelayanan"] == 0
    assert problems["(belum diisi)"] == 1
    assert dict(_sheet(data, "Jalur")) == {
        "Internal DPMPTSP (R7a)": 1,
        "Tim teknis / perangkat daerah (R7b)": 1,
        "(belum diisi)": 3,
    }
    assert dict(_sheet(data, "Petugas")) == {"(belum diisi)": 3, "Budi Santoso": 2}
    overdue = _sheet(data, "Terlambat")
    day = dt.datetime  # openpyxl reads a date cell back as a datetime: the dates are dates, not text
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in overdue] == [
        (day(2026, 11, 3), day(2026, 11, 23), day(2026, 11, 25), 2, "Dijawab"),
        (day(2026, 11, 4), day(2026, 11, 24), "-", 4, "Diterima"),
    ]
    ikm_rows = {row[0]: row for row in _sheet(data, "IKM")}
    assert ikm_rows["U3"][2] == pytest.approx(2.333)
    assert ikm_rows["IKM"][4] == pytest.approx(85.19)
    assert _sheet(data, "Tren") == [("2026-11", 5, 2, 2, 1, 1, 3, pytest.approx(85.19))]
    # E2: saran grouped by the component of the standard
    components = dict(_sheet(data, "Saran per komponen"))
    assert components["Sarana, prasarana, dan/atau fasilitas"] == 1
    assert components["Persyaratan"] == 1
    assert sum(components.values()) == 2
    saran = _sheet(data, "Daftar saran")
    assert [(r[0], r[4]) for r in saran] == [
        ("Persyaratan", SARAN_SYARAT),
        ("Sarana, prasarana, dan/atau fasilitas", SARAN_TOILET),
    ]
    # no personal data of citizens in a report
    text = data.decode("latin-1")
    assert "Siti" not in text and "6281234500041" not in text


def test_e1_quarter_report_trend_is_month_by_month(container: Container) -> None:
    _seed(container)
    report = _report(container, "2026-Q4")
    assert [(m.month, m.pengaduan, m.saran, m.respondents) for m in report.trend] == [
        ("2026-10", 1, 0, 1),
        ("2026-11", 5, 2, 3),
        ("2026-12", 1, 0, 0),
    ]
    assert report.trend[0].ikm == Decimal("25.00")
    assert report.trend[2].ikm is None
    assert report.buckets == ["2026-10", "2026-11", "2026-12"]
    assert report.channel_series["sms"] == [1, 2, 1]


def test_e1_charts_are_valid_pngs(container: Container) -> None:
    _seed(container)
    for kind in evaluation.CHART_KINDS:
        with db.session(container.engine) as s:
            png = evaluation.chart_png(s, container.office, kind, "2026-11", as_of=AS_OF)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
            assert image.format == "PNG" and image.size == (800, 450)


def test_e1_charts_render_for_an_empty_period(container: Container) -> None:
    report = _report(container, "2026")
    for kind in evaluation.CHART_KINDS:
        assert evaluation.render_chart(report, kind, "svg").lstrip().startswith(b"<?xml")
    assert report.pengaduan == 0 and report.ikm is None


def test_e1_exports_are_byte_identical_for_the_same_data_and_period(container: Container) -> None:
    _seed(container)
    for fmt in evaluation.FORMATS:
        first = evaluation.export(_report(container), fmt)
        second = evaluation.export(_report(container), fmt)
        assert first == second, fmt
        assert len(first) > 500


def test_e1_xlsx_dates_are_the_period_end_not_the_clock(container: Container) -> None:
    _seed(container)
    data = evaluation.to_xlsx(_report(container))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 11, 30, 0, 0, 0)}
        assert any(name.startswith("xl/media/") and name.endswith(".png") for name in archive.namelist())
    props = load_workbook(io.BytesIO(data)).properties
    assert props.created == props.modified == dt.datetime(2026, 11, 30, 23, 59, 59)


def test_e1_pdf_and_html_carry_the_numbers(container: Container) -> None:
    _seed(container)
    report = _report(container)
    pdf = evaluation.to_pdf(report)
    assert pdf.startswith(b"%PDF-") and b"D:20261130235959" in pdf
    page = evaluation.to_html(report).decode("utf-8")
    assert "<script" not in page
    assert page.count("<svg") == 4
    assert '<td>IKM (PermenPANRB 14/2017)</td><td class="n">85.19</td>' in page


def test_e1_csv_rows_start_with_their_table(container: Container) -> None:
    _seed(container)
    text = evaluation.to_csv(_report(container)).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("Ringkasan,Uraian,Nilai")
    assert "Ringkasan,Pengaduan diterima,5" in lines
    assert "Kanal,SMS,1,1,2" in lines


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26", "2026/11", "nov"])
def test_period_must_be_a_month_quarter_or_year(text: str) -> None:
    with pytest.raises(ValueError, match="2026"):
        evaluation.parse_period(text)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11", "2026-11-01", "2026-11-30"),
        ("2026-Q4", "2026-10-01", "2026-12-31"),
        ("2026-q1", "2026-01-01", "2026-03-31"),
        ("2026", "2026-01-01", "2026-12-31"),
        ("2028-02", "2028-02-01", "2028-02-29"),
    ],
)
def test_period_bounds(text: str, start: str, end: str) -> None:
    period = evaluation.parse_period(text)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)


def test_e2_saran_text_is_never_a_spreadsheet_formula(container: Container) -> None:
    evil = '=HYPERLINK("http://evil.example.test","klik")\x07'
    with db.write_session(container.engine) as s:
        complaint(
            s,
            container,
            received=at("2026-11-10"),
            urn="tel:+6281234500061",
            name=None,
            text=evil,
            service=None,
            problem_type=None,
        )
    report = _report(container)
    wb = load_workbook(io.BytesIO(evaluation.to_xlsx(report, charts=False)))
    cell = wb["Daftar saran"]["E3"]
    assert cell.value == evil.rstrip("\x07") and cell.data_type == "s"
    rows = list(csv.reader(io.StringIO(evaluation.to_csv(report).decode("utf-8-sig"))))
    [saran] = [row for row in rows if row[0] == "Daftar saran" and row[2] != "Nomor"]
    assert saran[5] == "'" + evil


def test_e1_pdf_keeps_headings_with_their_tables_and_explains_an_empty_ikm_chart(
    container: Container,
) -> None:
    from pypdf import PdfReader

    report = _report(container, "2026")  # nobody answered the survey this year
    reader = PdfReader(io.BytesIO(evaluation.to_pdf(report)))
    pages = [page.extract_text() or "" for page in reader.pages]
    assert any(evaluation.NO_IKM[:60] in " ".join(p.split()) for p in pages)
    titles = {" ".join(t.title.split()) for t in evaluation.tables(report)}
    for text in pages:
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        assert not lines or lines[-1] not in titles, lines[-1]  # no page ends with a lone heading
