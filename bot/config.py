"""Loading ``config.toml`` and the ``ADUAN_…`` environment into one Settings value.

Only ``bot.bootstrap`` (and the CLI through it) calls this module; everything else receives the
values it needs as arguments. Secrets are read from the environment, never from the file.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import channels
from intake.calendar import WorkingCalendar, parse_dates
from intake.office import DEFAULT_PROBLEM_TYPES, OfficeProfile, ProblemType, Service

DEFAULT_CONFIG = "config.toml"


class ConfigError(ValueError):
    """The configuration file or environment is wrong; the message says where and how."""


@dataclass
class Settings:
    """Aduan's configuration: the office profile, the database, the channel tables, the rest."""

    path: Path | None
    office: OfficeProfile
    database_url: str
    auto_migrate: bool
    public_base_url: str
    trust_proxy: bool
    channels: dict[str, dict[str, Any]]
    sections: dict[str, Any]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def section(self, name: str) -> dict[str, Any]:
        """Return a top-level table of the file (``[scheduler]``, ``[inbox]``…), empty if absent."""
        value = self.sections.get(name, {})
        return value if isinstance(value, dict) else {}

    def channel(self, name: str) -> dict[str, Any]:
        """Return a channel's table (empty when the file has none)."""
        return self.channels.get(name, {})

    def enabled_channels(self) -> list[str]:
        """Return the names of the channels switched on."""
        return [name for name, table in self.channels.items() if table.get("enabled")]

    def secret(self, name: str, default: str | None = None) -> str | None:
        """Return a secret from the environment (never from the file)."""
        return self.env.get(name, default)

    def require_secret(self, name: str) -> str:
        """Return a secret or raise ConfigError naming the missing variable."""
        value = self.env.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set")
        return value

    def missing_secrets(self) -> list[str]:
        """Return ``channel: VARIABLE`` for each enabled channel whose secret is not set."""
        missing = []
        for name in self.enabled_channels():
            for var in required_secrets(name, self.channel(name)):
                if not self.env.get(var):
                    missing.append(f"{name}: {var}")
        return missing


def required_secrets(name: str, table: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the environment variables a channel needs, given its table (provider choice)."""
    if name == "whatsapp" and table.get("provider") == "meta":
        return ("ADUAN_META_APP_SECRET", "ADUAN_META_VERIFY_TOKEN", "ADUAN_META_ACCESS_TOKEN")
    if name not in channels.REGISTRY:
        return ()
    return channels.REGISTRY[name].secrets


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    value = table.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{where}.{key} must be {getattr(kind, '__name__', kind)}, not {value!r}")
    return value


def _services(items: list[Any]) -> tuple[Service, ...]:
    out = []
    for i, item in enumerate(items):
        where = f"services[{i}]"
        if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
            raise ConfigError(f"{where} needs at least code and name")
        out.append(
            Service(
                code=str(item["code"]),
                name=str(item["name"]),
                sector=str(item.get("sector", "")),
                kbli=str(item.get("kbli", "")),
                keywords=tuple(str(k) for k in item.get("keywords", [])),
            )
        )
    return tuple(out)


def _problem_types(items: list[Any] | None) -> tuple[ProblemType, ...]:
    if not items:
        return DEFAULT_PROBLEM_TYPES
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
            raise ConfigError(f"problem_types[{i}] needs at least code and name")
        out.append(
            ProblemType(
                code=str(item["code"]),
                name=str(item["name"]),
                name_en=str(item.get("name_en", item["name"])),
                keywords=tuple(str(k) for k in item.get("keywords", [])),
            )
        )
    return tuple(out)


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration: ``path``, else ``$ADUAN_CONFIG``, else ``./config.toml``."""
    env = dict(os.environ if env is None else env)
    chosen = Path(path or env.get("ADUAN_CONFIG") or DEFAULT_CONFIG)
    try:
        data = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {chosen} not found (set ADUAN_CONFIG or --config)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: {exc}") from None
    return from_dict(data, env=env, path=chosen)


def from_dict(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, path: Path | None = None
) -> Settings:
    """Build Settings from an already parsed TOML document (tests build theirs this way)."""
    env = dict(os.environ if env is None else env)
    office_t = data.get("office", {})
    cal_t = data.get("calendar", {})
    rules_t = data.get("rules", {})
    db_t = data.get("database", {})
    tz_name = _get(office_t, "timezone", str, "Asia/Jakarta", "office")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"office.timezone {tz_name!r} is not a known timezone") from None
    weekdays = _get(cal_t, "working_weekdays", list, [1, 2, 3, 4, 5], "calendar")
    if not weekdays or any(not isinstance(d, int) or not 1 <= d <= 7 for d in weekdays):
        raise ConfigError("calendar.working_weekdays must list ISO weekdays 1 (Monday) … 7 (Sunday)")
    try:
        closed = parse_dates(_get(cal_t, "extra_closed_dates", list, [], "calendar"))
        working = frozenset(parse_dates(_get(cal_t, "extra_working_dates", list, [], "calendar")))
    except ValueError as exc:
        raise ConfigError(f"calendar: bad date: {exc}") from None
    calendar = WorkingCalendar(
        weekdays=frozenset(weekdays), extra_closed=closed, extra_working=working, timezone=tz
    )
    office = OfficeProfile(
        code=str(_get(office_t, "code", str, "default", "office")),
        name=str(_get(office_t, "name", str, "Aduan", "office")),
        tracking_prefix=str(_get(office_t, "tracking_prefix", str, "ADU", "office")).upper(),
        calendar=calendar,
        complaint_window_days=int(_get(rules_t, "complaint_window_days", int, 30, "rules")),
        answer_deadline_working_days=int(_get(rules_t, "answer_deadline_working_days", int, 14, "rules")),
        services=_services(data.get("services", [])),
        problem_types=_problem_types(data.get("problem_types")),
        extra={"languages": office_t.get("languages", ["id", "en"])},
    )
    if office.answer_deadline_working_days < 1:
        raise ConfigError("rules.answer_deadline_working_days must be at least 1")
    channel_tables = data.get("channels", {})
    for name in channel_tables:
        if name not in channels.REGISTRY:
            raise ConfigError(f"[channels.{name}]: unknown channel; known: {', '.join(channels.REGISTRY)}")
    known = {"office", "calendar", "rules", "database", "services", "problem_types", "channels"}
    return Settings(
        path=path,
        office=office,
        database_url=env.get("ADUAN_DATABASE_URL") or str(db_t.get("url", "sqlite:///aduan.db")),
        auto_migrate=bool(db_t.get("auto_migrate", True)),
        public_base_url=(env.get("ADUAN_PUBLIC_BASE_URL") or str(office_t.get("public_base_url", ""))).rstrip(
            "/"
        ),
        trust_proxy=bool(office_t.get("trust_proxy", False)),
        channels={k: dict(v) for k, v in channel_tables.items()},
        sections={k: v for k, v in data.items() if k not in known} | {"storage": data.get("storage", {})},
        env=env,
    )


def parse_when(value: str, tz: ZoneInfo) -> dt.datetime:
    """Parse an ISO-8601 datetime (with offset, or naive = office time) or a date (midnight)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{value!r} is not an ISO-8601 date or datetime (e.g. 2026-03-10T09:30+07:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
