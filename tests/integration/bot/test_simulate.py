"""``aduan simulate``: scripts of citizen messages through the dialogue; replies, then records as JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cli.main import main
from tests.conftest import ROOT, fixture_path


@pytest.fixture
def cli_config(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's config.toml, selected through ADUAN_CONFIG (simulate never opens its database)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    return path


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], object, str]:
    """Run ``aduan simulate``; return the exit code, the bot's reply lines, the JSON and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--now", "2026-03-10T10:00", *args])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    data = json.loads("\n".join(lines[start:])) if start < len(lines) else None
    return int(exit_info.value.code or 0), lines[:start], data, err


def script(name: str) -> str:
    return str(fixture_path("dialogue", name))


def test_simulate_happy_path_prints_replies_then_the_record(cli_config: Path, capsys) -> None:
    code, transcript, records, _ = simulate(capsys, "--script", script("happy_path.txt"))
    assert code == 0
    text = "\n".join(transcript)
    assert "anda> Halo" in text and "bot> Halo, terima kasih" in text
    assert "paling lambat Selasa, 7 April 2026" in text
    assert records == [
        {
            "tracking_number": "PWK-2026-000001",
            "kind": "pengaduan",
            "reasons": [],
            "due_date": "2026-04-07",
            "channel": "whatsapp",
            "duplicate": False,
        }
    ]


@pytest.mark.parametrize(
    ("name", "channel", "kind", "reasons"),
    [
        ("all_in_one.txt", "sms", "pengaduan", []),
        ("late.txt", "whatsapp", "saran", ["late"]),
        ("no_name_timeout.txt", "whatsapp", "saran", ["no_identity"]),
        ("anonim.txt", "telegram", "pengaduan", []),
        ("english.txt", "sms", "pengaduan", []),
        ("status_then_report.txt", "whatsapp", "pengaduan", []),
    ],
)
def test_simulate_scripts_file_the_expected_record(
    cli_config: Path, capsys, name: str, channel: str, kind: str, reasons: list[str]
) -> None:
    sender = "12345" if channel == "telegram" else "081200000002"
    code, _, records, _ = simulate(capsys, "--channel", channel, "--from", sender, "--script", script(name))
    assert code == 0
    assert isinstance(records, list) and len(records) == 1
    assert (records[0]["kind"], records[0]["reasons"], records[0]["channel"]) == (kind, reasons, channel)


@pytest.mark.parametrize("name", ["greeting_timeout.txt", "batal.txt"])
def test_simulate_scripts_that_file_nothing_print_an_empty_list(cli_config: Path, capsys, name: str) -> None:
    code, _, records, _ = simulate(capsys, "--script", script(name))
    assert code == 0 and records == []


def test_simulate_status_reply_has_no_personal_data(cli_config: Path, capsys) -> None:
    _, transcript, _, _ = simulate(capsys, "--script", script("status_then_report.txt"))
    status_lines = [line for line in transcript if line.startswith("bot> Status PWK-2026-000001")]
    assert status_lines and all("Dewi" not in line and "OSS" not in line for line in status_lines)
    assert any("PWK-2026-000777 tidak kami temukan" in line for line in transcript)


def test_simulate_reads_messages_from_stdin_without_a_script(
    cli_config: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Izin PBG saya belum keluar\nBudi Santoso\nkemarin\nya\n"))
    code, transcript, records, _ = simulate(capsys, "--from", "+6281200000003")
    assert code == 0
    assert isinstance(records, list) and records[0]["kind"] == "pengaduan"
    assert any("nama Anda" in line for line in transcript)


def test_simulate_never_touches_the_configured_database(cli_config: Path, capsys, tmp_path: Path) -> None:
    simulate(capsys, "--script", script("happy_path.txt"))
    assert not (tmp_path / "real.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channel", "letter"], "has no dialogue"),
        (["--channel", "whatsapp", "--from", "not-a-number"], "--from"),
        (["--script", "/nonexistent/script.txt"], "script not found"),
        (["--now", "kemarin"], "ISO-8601"),
    ],
)
def test_simulate_mistakes_print_one_line_and_exit_2(
    cli_config: Path, capsys, args: list[str], message: str
) -> None:
    code, _, _, err = simulate(capsys, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_simulate_unknown_directive_names_the_line(cli_config: Path, capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# comment\nhalo\n@sleep 5m\n", encoding="utf-8")
    code, _, _, err = simulate(capsys, "--script", str(bad))
    assert code == 2 and "bad.txt:3" in err and "@sleep" in err


def test_simulate_follow_up_is_passed_on_and_never_filed_as_a_second_report(cli_config: Path, capsys) -> None:
    code, transcript, records, _ = simulate(capsys, "--script", script("follow_up.txt"))
    assert code == 0
    text = "\n".join(transcript)
    assert "Silakan ceritakan apa yang terjadi" in text  # an introduction alone is no report yet
    assert "Nama: Ujang (Desa Cibogo)" in text and "Uraian: PBG abdi teu acan kaluar" in text
    assert "Pesan Anda kami teruskan ke petugas yang menangani PWK-2026-000001" in text
    assert "Status PWK-2026-000001" in text
    assert "Layanan apa" not in text.split("Pengaduan Anda sudah kami terima")[1]
    assert [r["tracking_number"] for r in records] == ["PWK-2026-000001"]  # type: ignore[attr-defined]
