"""config.toml: the office profile, secrets from the environment only, clear errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app import settings as config
from tests.conftest import ROOT


def test_repository_config_loads_the_purwakarta_profile() -> None:
    settings = config.load(ROOT / "config.toml", env={})
    office = settings.office
    assert office.tracking_prefix == "PWK"
    service = office.service("01622")
    assert service is not None and service.name == "Jasa Perkawinan Ternak"
    assert [p.code for p in office.problem_types][:1] == ["persyaratan"]
    assert settings.database_url == ""  # the local PostgreSQL under var/ (intake.db.local_server_url)


def test_database_url_and_public_url_are_overridden_by_the_environment() -> None:
    settings = config.load(
        ROOT / "config.toml",
        env={
            "ADUAN_DATABASE_URL": "postgresql+psycopg://x@h/db",
            "ADUAN_PUBLIC_BASE_URL": "https://aduan.example.test/",
        },
    )
    assert settings.database_url == "postgresql+psycopg://x@h/db"
    assert settings.public_base_url == "https://aduan.example.test"


def test_enabled_channel_without_secret_names_the_missing_variable() -> None:
    settings = config.load(ROOT / "config.toml", env={})
    assert "sms: ADUAN_TWILIO_AUTH_TOKEN" in settings.missing_secrets()
    full = config.load(
        ROOT / "config.toml", env={"ADUAN_TWILIO_ACCOUNT_SID": "AC1", "ADUAN_TWILIO_AUTH_TOKEN": "t"}
    )
    assert full.missing_secrets() == []


def test_config_file_holds_no_secret_values() -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8").lower()
    for word in ("auth_token =", "password =", "app_secret =", "bot_token =", "access_token ="):
        assert word not in text


def test_extra_closed_and_working_dates_reach_the_calendar(config_data: dict[str, Any]) -> None:
    config_data["calendar"]["extra_closed_dates"] = [{"date": dt.date(2026, 3, 12), "name": "Hari Jadi"}]
    config_data["calendar"]["extra_working_dates"] = [dt.date(2026, 3, 24)]
    cal = config.from_dict(config_data, env={}).office.calendar
    assert not cal.is_working_day(dt.date(2026, 3, 12))
    assert cal.is_working_day(dt.date(2026, 3, 24))


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("office", "timezone", "Mars/Olympus", "not a known timezone"),
        ("calendar", "working_weekdays", [0, 9], "ISO weekdays"),
        ("calendar", "extra_closed_dates", ["31-12-2026"], "bad date"),
        ("rules", "answer_deadline_working_days", 0, "at least 1"),
        # a worker silent for one missed beat would have its running jobs retried by another
        ("jobs", "stalled_after_seconds", 15, "more than twice jobs.heartbeat_seconds"),
    ],
)
def test_bad_config_values_are_named(
    config_data: dict[str, Any], section: str, key: str, value: Any, message: str
) -> None:
    config_data[section][key] = value
    with pytest.raises(config.ConfigError, match=message):
        config.from_dict(config_data, env={})


def test_unknown_channel_table_is_refused(config_data: dict[str, Any]) -> None:
    config_data["channels"]["pigeon"] = {"enabled": True}
    with pytest.raises(config.ConfigError, match="unknown channel"):
        config.from_dict(config_data, env={})
