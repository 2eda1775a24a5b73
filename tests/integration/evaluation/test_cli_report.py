"""``aduan report`` and ``aduan survey``: a seeded period written to files, and one-line mistakes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app import settings as config_mod
from app.bootstrap import build
from cli.main import main
from intake import db
from tests.conftest import ROOT, TEST_ENV
from tests.integration.evaluation.test_report import _seed


@pytest.fixture
def seeded_config(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config on a fresh, migrated PostgreSQL database holding the November 2026 data of test_report."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    settings = config_mod.load(path, env=dict(TEST_ENV))
    engine = db.create_engine(settings.database_url)
    db.upgrade(engine)
    _seed(build(settings, engine=engine, migrate=False))
    engine.dispose()
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_e1_report_command_writes_the_xlsx_and_charts(seeded_config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "nov.xlsx"
    args = ("report", "--period", "2026-11", "--format", "xlsx", "-o", str(target), "--as-of", "2026-11-30")
    code, out, _ = run(capsys, *args, "--charts", str(tmp_path / "charts"))
    assert code == 0
    assert "5 pengaduan, 2 saran" in out
    summary = {
        r[0]: r[1]
        for r in load_workbook(io.BytesIO(target.read_bytes()))["Ringkasan"].iter_rows(
            min_row=3, values_only=True
        )
    }
    assert summary["Pengaduan diterima"] == 5
    assert summary["Belum dijawab, lewat batas waktu"] == 1
    assert sorted(p.name for p in (tmp_path / "charts").iterdir())[:2] == [
        "2026-11-channels.png",
        "2026-11-channels.svg",
    ]
    first = target.read_bytes()
    assert run(capsys, *args)[0] == 0
    assert target.read_bytes() == first


def test_e1_survey_ikm_command_prints_the_index(seeded_config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "survey", "ikm", "--period", "2026-Q4", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["overall"]["respondents"] == 4
    assert list(data["by_quarter"]) == ["2026-Q4"]
    code, out, _ = run(capsys, "survey", "ikm", "--period", "2026-11")
    assert code == 0 and out.startswith("2026-11: IKM 85.19 (B, Baik), 3 responden, unsur terendah U3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "--period", "2026-13"), "month must be 01–12"),
        (("report", "--period", "November"), "is not YYYY-MM"),
        (("report", "--period", "2026", "--format", "docx"), "unknown format 'docx'"),
        (("survey", "ikm", "--period", "2026-Q9"), "is not YYYY-MM"),
    ],
)
def test_report_command_mistakes_are_one_line_with_exit_2(seeded_config: Path, capsys, args, message) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = run(capsys, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_e1_report_files_are_identical_across_processes(seeded_config: Path, tmp_path: Path) -> None:
    """Set ordering must not leak into a file: two processes with other hash seeds write the same bytes."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        target = tmp_path / f"r{seed}.pdf"
        env = dict(os.environ, PYTHONHASHSEED=seed, ADUAN_CONFIG=str(seeded_config))
        code = "from cli.main import main; main()"
        args = [
            "report",
            "--period",
            "2026-11",
            "--format",
            "pdf",
            "-o",
            str(target),
            "--as-of",
            "2026-11-30",
        ]
        subprocess.run(
            [sys.executable, "-c", code, *args], check=True, cwd=ROOT, env=env, capture_output=True
        )
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
