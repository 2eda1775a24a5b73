"""Laporan tindak lanjut (R7a/R8): HTML and PDF for the superior, and ``aduan report-followup``."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from app.container import Container
from intake import db, workflow
from outbound.outbox import enqueue
from reports import followup as reports
from tests.integration.workflow.helpers import RECEIVED, file, make_staff, reload

LATER = RECEIVED + dt.timedelta(days=2)


def _worked_complaint(container: Container):  # type: ignore[no-untyped-def]
    staff = make_staff(container)
    c = file(container, assignee=staff["petugas"], name="Dewi Lestari")
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.set_review(
            s,
            c,
            actor=staff["petugas"],
            now=LATER,
            core_problem="Penerbitan PBG terlambat",
            standard_ref="Standar Pelayanan PBG — jangka waktu 28 hari",
            handling_plan="investigasi",
        )
        workflow.set_track(
            s,
            c,
            actor=staff["petugas"],
            now=LATER,
            track="agency",
            agency="Dinas PUPR <Bidang>",
            agency_liaison="Ir. Ahmad",
            agency_follow_up_date=dt.date(2026, 3, 20),
        )
        workflow.add_note(s, c, actor=staff["petugas"], now=LATER, text="Berkas ditemukan di meja verifikasi")
        workflow.answer(
            s,
            c,
            actor=staff["petugas"],
            now=LATER,
            text="PBG terbit 13 Maret 2026; mohon maaf atas keterlambatan.",
            enqueue=enqueue,
        )
        data = reports.report_data(s, c, office=container.office, now=LATER, author=staff["petugas"])
    return c, data


def test_r7a_followup_report_pdf_contains_tracking_number_and_plan(container: Container) -> None:
    from pypdf import PdfReader

    c, data = _worked_complaint(container)
    pdf = reports.render_pdf(data)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert c.tracking_number in text
    assert "Investigasi" in text and "Penerbitan PBG terlambat" in text
    assert "Dinas PUPR" in text and "PBG terbit 13 Maret 2026" in text
    assert "Standar Pelayanan PBG — jangka waktu" in text  # Unicode survives with DejaVu


def test_r7a_followup_report_html_escapes_and_has_every_section(container: Container) -> None:
    c, data = _worked_complaint(container)
    html = reports.render_html(data)
    assert c.tracking_number in html
    assert "Dinas PUPR &lt;Bidang&gt;" in html  # officers' input is escaped
    for section in (
        "Penelaahan (R6)",
        "Jalur penyelesaian (R7)",
        "Yang telah dilakukan",
        "Hasil (R8)",
        "Catatan internal",
    ):
        assert section in html
    assert "Dewi Lestari" in html


def test_followup_pdf_falls_back_to_the_core_font(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf import PdfReader

    monkeypatch.setattr(reports, "FONT_CANDIDATES", (Path("/nonexistent/font.ttf"),))
    c, data = _worked_complaint(container)
    text = PdfReader(io.BytesIO(reports.render_pdf(data))).pages[0].extract_text()
    assert c.tracking_number in text and "jangka waktu" in text


def test_cli_report_followup_writes_pdf_and_refuses_unknown_format(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pypdf import PdfReader

    from cli.main import main
    from tests.conftest import ROOT, TEST_ENV

    c, _ = _worked_complaint(container)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace("auto_migrate = true", "auto_migrate = false")
    )
    monkeypatch.setenv("ADUAN_CONFIG", str(cfg))
    monkeypatch.setenv("ADUAN_DATABASE_URL", container.engine.url.render_as_string(hide_password=False))
    for k, v in TEST_ENV.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "laporan.pdf"
    with pytest.raises(SystemExit) as done:
        main(["report-followup", c.tracking_number, "--format", "pdf", "-o", str(out)])
    assert done.value.code in (0, None)
    assert c.tracking_number in PdfReader(str(out)).pages[0].extract_text()
    with pytest.raises(SystemExit) as bad:
        main(["report-followup", c.tracking_number, "--format", "docx", "-o", str(out)])
    assert bad.value.code == 2
    assert "html or pdf" in capsys.readouterr().err
