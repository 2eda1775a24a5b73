"""Structured JSON logs: one object per line, personal data redacted even when code slips (UU 27/2022)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.settings import Settings
from ops import logging as logging_setup


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as pytest had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logging_setup.QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_configure_writes_one_json_object_per_line(settings: Settings, restore_logging: None) -> None:
    stream = io.StringIO()
    logging_setup.configure(settings, stream=stream)
    logging.getLogger("aduan.pipeline").warning("quarantined %s payload #%s", "web", 7, extra={"raw_id": 7})
    [line] = _lines(stream)
    assert line["level"] == "WARNING"
    assert line["logger"] == "aduan.pipeline"
    assert line["message"] == "quarantined web payload #7"
    assert line["raw_id"] == 7
    assert "time" in line


@pytest.mark.parametrize(
    "leak",
    [
        "+6281234567890",
        "+62 812-3456-7890",
        "081234567890",
        "6281234567890",
        "tel:+6281234567890",
        "whatsapp:+6281234567890",
        "mailto:budi.santoso@example.test",
        "budi.santoso@example.test",
        "(0264) 200123",
    ],
)
def test_redact_filter_masks_contacts_that_slip_into_a_message(
    settings: Settings, restore_logging: None, leak: str
) -> None:
    stream = io.StringIO()
    logging_setup.configure(settings, stream=stream)
    logging.getLogger("aduan.test").error("could not reach %s", leak, extra={"contact": leak})
    text = stream.getvalue()
    assert leak not in text
    for part in ("budi", "81234567890", "812-3456", "200123"):
        assert part not in text or part not in leak
    assert "[redacted]" in _lines(stream)[0]["message"]


def test_redact_keeps_ids_dates_and_durations() -> None:
    text = "PWK-2026-000123 raw #12345678 took 0.123456789 s at 2026-03-10T10:00:00+07:00"
    assert logging_setup.redact(text) == text


def test_tracebacks_are_redacted_too(settings: Settings, restore_logging: None) -> None:
    stream = io.StringIO()
    logging_setup.configure(settings, stream=stream)
    try:
        raise ValueError("bad contact siti@example.test")
    except ValueError:
        logging.getLogger("aduan.test").exception("sender failed")
    assert "siti@example.test" not in stream.getvalue()
    assert "ValueError" in _lines(stream)[0]["exception"]


def test_sql_and_http_libraries_stay_at_warning_even_at_debug(
    settings: Settings, restore_logging: None
) -> None:
    # SQLAlchemy logs SQL parameters and twilio logs request bodies at INFO: numbers and message text.
    settings.env = dict(settings.env) | {"ADUAN_LOG_LEVEL": "DEBUG"}
    logging_setup.configure(settings, stream=io.StringIO())
    assert logging.getLogger().level == logging.DEBUG
    for name in ("sqlalchemy.engine.Engine", "twilio.http_client", "httpx"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)


def test_text_format_is_redacted(settings: Settings, restore_logging: None) -> None:
    settings.env = dict(settings.env) | {"ADUAN_LOG_FORMAT": "text"}
    stream = io.StringIO()
    logging_setup.configure(settings, stream=stream)
    logging.getLogger("aduan.test").warning("reply to 081234567890 failed")
    assert "081234567890" not in stream.getvalue()
    assert stream.getvalue().rstrip().endswith("reply to [redacted] failed")


def test_uvicorn_gets_the_same_configuration(settings: Settings, restore_logging: None) -> None:
    from uvicorn import config as uv_config

    saved = json.loads(json.dumps(uv_config.LOGGING_CONFIG))
    try:
        logging_setup.configure(settings)
        assert uv_config.LOGGING_CONFIG["filters"]["redact"]["()"] == "ops.logging.RedactFilter"
        assert uv_config.LOGGING_CONFIG["root"]["handlers"] == ["aduan"]
    finally:
        uv_config.LOGGING_CONFIG.clear()
        uv_config.LOGGING_CONFIG.update(saved)
