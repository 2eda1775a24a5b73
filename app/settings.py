"""Loading ``config.toml`` and the ``ADUAN_…`` environment into one Settings value.

Only ``app.container`` (and the CLI through it) calls this module; everything else receives the
values it needs as arguments. Secrets are read from the environment, never from the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import channels
from channels import email_oauth
from intake.calendar import WorkingCalendar, parse_dates
from intake.office import DEFAULT_PROBLEM_TYPES, OfficeProfile, ProblemType, Service

DEFAULT_CONFIG = "config.toml"
#: The placeholder secrets the Makefile's DEMO_ENV passes: public values, refused outside the demo.
DEMO_SECRETS = {
    "ADUAN_TWILIO_ACCOUNT_SID": "AC00000000000000000000000000demo",
    "ADUAN_TWILIO_AUTH_TOKEN": "demo-twilio-auth-token",
}
#: Set (to 1) by the Makefile's demo targets only: the public demo secrets are then accepted.
DEMO_FLAG_ENV = "ADUAN_DEMO"


class ConfigError(ValueError):
    """The configuration file or environment is wrong; the message says where and how."""


# -- typed tables ---------------------------------------------------------------------------------


def _positive(default: Any) -> Any:
    return field(default=default, metadata={"positive": True})


@dataclass(frozen=True)
class IntakeSettings:
    """``[intake]``: how webhooks take a payload in."""

    processing: str = field(default="background", metadata={"choices": ("background", "inline")})


@dataclass(frozen=True)
class StorageSettings:
    """``[storage]``: the attachment store and the size limits of bodies and files."""

    attachments_dir: str = "var/attachments"
    max_attachment_bytes: int = _positive(10_485_760)
    max_body_bytes: int = _positive(1_048_576)
    #: Content types kept from e-mail attachments (empty: the built-in list).
    allowed_content_types: tuple[str, ...] = ()
    #: Media hosts that may resolve to private addresses (tests and local demos only; SSRF guard).
    media_private_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class DialogueSettings:
    """``[dialogue]``: the intake conversation on chat channels."""

    join_window_seconds: int = _positive(120)
    draft_timeout_hours: float = _positive(24.0)
    reopen_window_days: int = _positive(14)
    rate_limit_messages: int = _positive(20)
    rate_limit_window_seconds: int = _positive(600)
    max_text_chars: int = _positive(4000)
    max_messages_per_draft: int = _positive(200)

    @property
    def join_window(self) -> dt.timedelta:
        """Messages closer together than this form one utterance."""
        return dt.timedelta(seconds=self.join_window_seconds)

    @property
    def draft_timeout(self) -> dt.timedelta:
        """An unfinished draft is filed after this long without a message."""
        return dt.timedelta(hours=self.draft_timeout_hours)


@dataclass(frozen=True)
class SurveyTable:
    """``[survey]``: satisfaction survey invitations (``bot.survey`` adds the office and the secret)."""

    invite_after_answer: bool = True
    invite_delay_minutes: float = 60.0
    invite_max_age_days: float = 30.0
    expires_after_days: float = 14.0
    quarterly_dates: tuple[str, ...] = ("03-15", "06-15", "09-15", "12-10")
    link_base: str = ""
    max_reasks: int = 2


@dataclass(frozen=True)
class RetentionSettings:
    """``[retention]``: how long finished records keep personal data."""

    closed_record_days: int = _positive(730)
    raw_payload_days: int = _positive(365)
    statuses: tuple[str, ...] = ("closed", "merged", "acknowledged", "forwarded")


@dataclass(frozen=True)
class SchedulerSettings:
    """``[scheduler]``: the recurring jobs' triggers (every worker fires them; each tick runs once)."""

    enabled: bool = True
    sweep_seconds: float = _positive(60.0)
    outbox_sweep_seconds: float = _positive(300.0)


@dataclass(frozen=True)
class JobsSettings:
    """``[jobs]``: the job queue's workers (procrastinate in PostgreSQL)."""

    worker_in_web: bool = True
    concurrency: int = _positive(4)
    inbound_attempts: int = _positive(5)
    inbound_retry_seconds: int = 5
    shutdown_seconds: float = _positive(10.0)
    library_log_level: str = "WARNING"
    #: Succeeded jobs are kept this long, then removed (failed ones stay).
    keep_finished_hours: int = _positive(168)
    #: A worker records that it is alive this often; one silent for ``stalled_after_seconds`` is
    #: dead, and the jobs it was running are retried by another worker (looked for every
    #: ``stalled_check_seconds``).
    heartbeat_seconds: float = _positive(10.0)
    stalled_after_seconds: float = _positive(30.0)
    stalled_check_seconds: float = _positive(60.0)
    #: A job (any but the IMAP watcher) still "doing" this long after it started, under a worker
    #: that is alive, has lost its end (the worker's database connection broke while it was being
    #: recorded) and is retried; it would otherwise hold its lock for good (a sender's messages,
    #: every later tick of a periodic job).
    lost_after_seconds: float = _positive(300.0)


@dataclass(frozen=True)
class SecuritySettings:
    """``[security]``: trusted proxies, caps on rows strangers can write, the metrics endpoint."""

    #: Proxies whose ``X-Forwarded-For`` is believed (the real client's address for rate limits).
    trusted_proxies: tuple[str, ...] = ()
    rejections_per_hour: int = _positive(60)
    rejections_kept: int = _positive(10_000)
    metrics_without_token: bool = False


@dataclass(frozen=True)
class LoggingSettings:
    """``[logging]``: level and format (``ADUAN_LOG_LEVEL``/``ADUAN_LOG_FORMAT`` win)."""

    level: str = "INFO"
    format: str = field(default="json", metadata={"choices": ("json", "text")})


#: The typed tables of config.toml, by name (each becomes ``settings.<name>``).
TABLES: dict[str, type] = {
    "intake": IntakeSettings,
    "storage": StorageSettings,
    "dialogue": DialogueSettings,
    "survey": SurveyTable,
    "retention": RetentionSettings,
    "scheduler": SchedulerSettings,
    "jobs": JobsSettings,
    "security": SecuritySettings,
    "logging": LoggingSettings,
}
#: Tables read as they are (nested, overridable per office, checked by their own module).
PLAIN_TABLES = ("escalation", "alerts")
#: Every top-level table config.toml may hold.
KNOWN_TABLES = (
    "office",
    "calendar",
    "rules",
    "database",
    "services",
    "problem_types",
    "channels",
    "offices",
    *TABLES,
    *PLAIN_TABLES,
)

_KINDS: dict[Any, tuple[str, Any]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
    tuple[str, ...]: (
        "a list of strings",
        lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    ),
}


def typed_table(cls: type[Any], name: str, table: Any, errors: list[str]) -> Any:
    """Return ``cls`` built from ``table``; append one line per mistake to ``errors`` (defaults kept)."""
    if not isinstance(table, dict):
        errors.append(f"[{name}] must be a table")
        return cls()
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        spec = known.get(key)
        if spec is None:
            errors.append(f"[{name}] unknown key {key!r}; known: {', '.join(known)}")
            continue
        label, fits = _KINDS[hints[key]]
        positive = spec.metadata.get("positive")
        choices = spec.metadata.get("choices")
        if not fits(value):
            errors.append(f"{name}.{key} must be {'a positive number' if positive else label}, not {value!r}")
        elif positive and value <= 0:
            errors.append(f"{name}.{key} must be a positive number, not {value!r}")
        elif choices and value not in choices:
            errors.append(f"{name}.{key} must be one of {', '.join(choices)}, not {value!r}")
        else:
            kind = hints[key]
            values[key] = (
                tuple(value) if kind == tuple[str, ...] else (float(value) if kind is float else value)
            )
    return cls(**values)


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
    #: Every office of the deployment by code, the primary (``office``) first.
    offices: dict[str, OfficeProfile] = field(default_factory=dict)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    dialogue: DialogueSettings = field(default_factory=DialogueSettings)
    survey: SurveyTable = field(default_factory=SurveyTable)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    def __post_init__(self) -> None:
        self.offices = {self.office.code: self.office} | {
            k: v for k, v in self.offices.items() if k != self.office.code
        }

    def section(self, name: str) -> dict[str, Any]:
        """Return a plain table of the file (``[escalation]``, ``[alerts]``), empty if absent.

        These two are nested and overridable per office, so their own modules check them; every
        other table is typed and read as ``settings.<table>.<key>``.
        """
        value = self.sections.get(name, {})
        return value if isinstance(value, dict) else {}

    def channel(self, name: str) -> dict[str, Any]:
        """Return a channel's table (empty when the file has none)."""
        return self.channels.get(name, {})

    def office_channel(self, office: OfficeProfile, name: str) -> dict[str, Any]:
        """Return a channel's table as ``office`` uses it: the deployment's, with the office's own keys."""
        own = office.channels.get(name)
        return merged(self.channel(name), own) if own else self.channel(name)

    def office_section(self, office: OfficeProfile, name: str) -> dict[str, Any]:
        """Return ``[escalation]``/``[alerts]`` as ``office`` uses it (its own keys over the deployment's)."""
        own = office.sections.get(name)
        return merged(self.section(name), own) if own else self.section(name)

    def demo_phone(self) -> bool:
        """Whether the demo phone (``/demo/ponsel`` and its sandbox provider) is on: ``ADUAN_DEMO_PHONE=1``.

        Only ``make run`` sets it; a deployment never does, so production has neither the page nor
        the sandbox.
        """
        return self.env.get("ADUAN_DEMO_PHONE", "") == "1"

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

    def demo_secrets(self) -> list[str]:
        """Return the variables set to the Makefile's public demo values (none when this is the demo)."""
        if self.env.get(DEMO_FLAG_ENV) == "1":
            return []
        return [name for name, value in DEMO_SECRETS.items() if self.env.get(name) == value]

    def missing_secrets(self) -> list[str]:
        """Return ``channel: VARIABLE`` for each enabled channel whose secret is not set."""
        missing = []
        for name in self.enabled_channels():
            for var in required_secrets(name, self.channel(name)):
                if not self.env.get(var):
                    missing.append(f"{name}: {var}")
        return missing


def merged(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``own``'s keys laid over it, tables merged key by key."""
    out = dict(base)
    for key, value in own.items():
        below = out.get(key)
        out[key] = merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return out


def required_secrets(name: str, table: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the environment variables a channel needs, given its table (provider choice)."""
    if name == "whatsapp" and table.get("provider") == "meta":
        return ("ADUAN_META_APP_SECRET", "ADUAN_META_VERIFY_TOKEN", "ADUAN_META_ACCESS_TOKEN")
    if name == "email" and str(table.get("auth", "")).lower() == "oauth2":
        # Google's "Desktop app" clients need their secret too; Microsoft's public clients have none.
        google = str(table.get("oauth_provider", "google")).lower() == "google"
        return (email_oauth.REFRESH_TOKEN_ENV, *((email_oauth.CLIENT_SECRET_ENV,) if google else ()))
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
        text = chosen.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {chosen} not found (set ADUAN_CONFIG or --config)") from None
    except IsADirectoryError:
        raise ConfigError(f"{chosen} is a directory, not a configuration file (a config.toml)") from None
    except PermissionError:
        raise ConfigError(f"configuration file {chosen} cannot be read (permission denied)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, tomllib.TOMLDecodeError) and "\x00" not in text:
            raise ConfigError(f"{chosen}: {exc}") from None
        raise ConfigError(f"{chosen} is not a text TOML file (a config.toml)") from None
    check_document(data, text, chosen)
    return from_dict(data, env=env, path=chosen)


#: The keys of the tables every office sets, beside the ones ``config.toml`` shows.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "office": frozenset(
        {
            "name",
            "code",
            "timezone",
            "tracking_prefix",
            "public_base_url",
            "trust_proxy",
            "languages",
            "hosts",
        }
    ),
    "database": frozenset({"url", "auto_migrate"}),
}


def _line_of(text: str, pattern: str) -> int:
    """Return the 1-based line where ``pattern`` (a regular expression) first matches, 0 if nowhere."""
    found = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else 0


def check_document(data: Mapping[str, Any], text: str, path: Path) -> None:
    """Refuse an empty file and unknown tables or keys, naming the line (a typo must not run on defaults)."""
    if not data:
        raise ConfigError(
            f"{path} is empty: start from the repository's config.toml, which documents every key"
        )
    for name in data:
        if name not in KNOWN_TABLES:
            line = _line_of(text, rf"^[ \t]*\[+[ \t]*{re.escape(name)}\b|^[ \t]*{re.escape(name)}[ \t]*=")
            known = ", ".join(sorted(KNOWN_TABLES))
            raise ConfigError(f"{path}, line {line}: unknown table or key {name!r}; known tables: {known}")
    for table, keys in KNOWN_KEYS.items():
        given = data.get(table)
        if not isinstance(given, Mapping):
            continue
        for key in given:
            if key not in keys:
                line = _line_of(text, rf"^[ \t]*{re.escape(key)}[ \t]*=")
                raise ConfigError(
                    f"{path}, line {line}: unknown key {key!r} in [{table}]; known: {', '.join(sorted(keys))}"
                )
    url = data.get("database", {}).get("url") if isinstance(data.get("database"), Mapping) else None
    if url is not None and not isinstance(url, str):
        line = _line_of(text, r"^[ \t]*url[ \t]*=")
        raise ConfigError(f"{path}, line {line}: [database] url must be a text URL in quotes, not {url!r}")


#: Tables an office profile may hold (``offices/*.toml``); everything else is deployment-wide.
OFFICE_TABLES = (
    "office",
    "calendar",
    "rules",
    "services",
    "problem_types",
    "channels",
    "escalation",
    "alerts",
)
#: An office code is part of URLs (``/hooks/<code>/sms``) and of secret names (``ADUAN_<CODE>_…``).
_OFFICE_CODE = re.compile(r"^[a-z][a-z0-9]{1,15}$")
#: Channel keys that say where an office is reached: no two offices may share a value.
ADDRESS_KEYS: dict[str, tuple[str, ...]] = {
    "sms": ("from_number", "messaging_service_sid"),
    "whatsapp": ("from_number", "phone_number_id"),
    "email": ("address",),
    "instagram": ("account_id",),
    "twitter": ("account_id", "account"),
}


def _calendar(cal_t: Mapping[str, Any], tz: ZoneInfo) -> WorkingCalendar:
    weekdays = _get(cal_t, "working_weekdays", list, [1, 2, 3, 4, 5], "calendar")
    if not weekdays or any(not isinstance(d, int) or not 1 <= d <= 7 for d in weekdays):
        raise ConfigError("calendar.working_weekdays must list ISO weekdays 1 (Monday) … 7 (Sunday)")
    try:
        closed = parse_dates(_get(cal_t, "extra_closed_dates", list, [], "calendar"))
        working = frozenset(parse_dates(_get(cal_t, "extra_working_dates", list, [], "calendar")))
    except ValueError as exc:
        raise ConfigError(f"calendar: bad date: {exc}") from None
    return WorkingCalendar(
        weekdays=frozenset(weekdays), extra_closed=closed, extra_working=working, timezone=tz
    )


def _office(data: Mapping[str, Any], *, base: Mapping[str, Any] | None = None) -> OfficeProfile:
    """Build one office profile; tables ``data`` leaves out are taken from ``base`` (config.toml)."""
    base = base or {}

    def table(name: str) -> Any:
        return data[name] if name in data else base.get(name, {})

    office_t = data.get("office", {})
    if not isinstance(office_t, dict):
        raise ConfigError("[office] must be a table")
    tz_name = _get(office_t, "timezone", str, "Asia/Jakarta", "office")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"office.timezone {tz_name!r} is not a known timezone") from None
    rules_t = table("rules")
    hosts = _get(office_t, "hosts", list, [], "office")
    office = OfficeProfile(
        code=str(_get(office_t, "code", str, "default", "office")),
        name=str(_get(office_t, "name", str, "Aduan", "office")),
        tracking_prefix=str(_get(office_t, "tracking_prefix", str, "ADU", "office")).upper(),
        calendar=_calendar(table("calendar"), tz),
        complaint_window_days=int(_get(rules_t, "complaint_window_days", int, 30, "rules")),
        answer_deadline_working_days=int(_get(rules_t, "answer_deadline_working_days", int, 14, "rules")),
        services=_services(table("services") or []),
        problem_types=_problem_types(table("problem_types") or None),
        extra={"languages": office_t.get("languages", ["id", "en"])},
        hosts=tuple(str(h).lower() for h in hosts),
    )
    if office.answer_deadline_working_days < 1:
        raise ConfigError("rules.answer_deadline_working_days must be at least 1")
    return office


def _profile(path: Path, base: Mapping[str, Any]) -> OfficeProfile:
    """Read one ``offices/<code>.toml``; every error names the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        extra = sorted(set(data) - set(OFFICE_TABLES))
        if extra:
            raise ConfigError(
                f"[{extra[0]}] is deployment-wide: set it in config.toml; an office profile holds "
                f"{', '.join(OFFICE_TABLES)}"
            )
        if not isinstance(data.get("office"), dict) or "code" not in data["office"]:
            raise ConfigError("[office] code is missing")
        for key in ("name", "tracking_prefix"):
            if key not in data["office"]:
                raise ConfigError(f"office.{key} is missing")
        office = _office(data, base=base)
        if not _OFFICE_CODE.match(office.code):
            raise ConfigError(
                f"office.code {office.code!r}: 2-16 lower-case letters and digits, a letter first"
            )
        channel_tables = data.get("channels", {})
        for name, value in channel_tables.items():
            if name not in channels.REGISTRY:
                raise ConfigError(
                    f"[channels.{name}]: unknown channel; known: {', '.join(channels.REGISTRY)}"
                )
            if not isinstance(value, dict):
                raise ConfigError(f"[channels.{name}] must be a table")
            if "enabled" in value:
                raise ConfigError(f"channels.{name}.enabled: channels are switched on in config.toml only")
        office.channels = {k: dict(v) for k, v in channel_tables.items()}
        office.sections = {
            k: dict(data[k]) for k in ("escalation", "alerts") if isinstance(data.get(k), dict)
        }
        office.source = str(path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return office


def _offices_dir(data: Mapping[str, Any], path: Path | None, env: Mapping[str, str]) -> Path | None:
    """Return the folder of office profiles (``[offices] dir``, relative to config.toml), if any."""
    value = env.get("ADUAN_OFFICES_DIR") or _get(data.get("offices", {}), "dir", str, "", "offices")
    if not value:
        return None
    folder = Path(value)
    if not folder.is_absolute() and path is not None:
        folder = path.parent / folder
    if not folder.is_dir():
        raise ConfigError(f"offices.dir: {folder} is not a folder")
    return folder


def _check_offices(offices: Mapping[str, OfficeProfile], channel_tables: Mapping[str, Any]) -> None:
    """Refuse codes, prefixes and addresses two offices share: routing and numbering need them unique."""
    prefixes: dict[str, str] = {}
    addresses: dict[tuple[str, str, str], str] = {}
    for code, office in offices.items():
        where = f"{office.source}: " if office.source else ""
        if len(offices) > 1 and not _OFFICE_CODE.match(code):
            raise ConfigError(f"office.code {code!r}: 2-16 lower-case letters and digits, a letter first")
        other = prefixes.setdefault(office.tracking_prefix, code)
        if other != code:
            raise ConfigError(
                f"{where}offices {other} and {code} share the tracking prefix {office.tracking_prefix}"
            )
        for channel, keys in ADDRESS_KEYS.items():
            # the primary office's addresses are the deployment's tables; the others' their own
            own = office.channels.get(channel, {}) if office.source else channel_tables.get(channel, {})
            for key in keys:
                value = str(own.get(key) or "").strip().lower()
                if not value:
                    continue
                holder = addresses.setdefault((channel, key, value), code)
                if holder != code:
                    raise ConfigError(
                        f"{where}offices {holder} and {code} share channels.{channel}.{key} = {value!r}"
                    )


def _check_email_auth(table: Mapping[str, Any]) -> None:
    """Refuse an unknown ``[channels.email] auth`` or an OAuth2 table without provider or client id."""
    try:
        if email_oauth.auth_method(table) == "oauth2":
            email_oauth.OAuthSettings.of(table, {}, need_refresh_token=False)
    except email_oauth.OAuthConfigError as exc:
        raise ConfigError(str(exc)) from None


def from_dict(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, path: Path | None = None
) -> Settings:
    """Build Settings from an already parsed TOML document (tests build theirs this way)."""
    env = dict(os.environ if env is None else env)
    office_t = data.get("office", {})
    db_t = data.get("database", {})
    office = _office(data)
    channel_tables = data.get("channels", {})
    for name in channel_tables:
        if name not in channels.REGISTRY:
            raise ConfigError(f"[channels.{name}]: unknown channel; known: {', '.join(channels.REGISTRY)}")
    offices = {office.code: office}
    folder = _offices_dir(data, path, env)
    for file in sorted(folder.glob("*.toml")) if folder else []:
        profile = _profile(file, data)
        if profile.code in offices:
            raise ConfigError(f"{file}: office code {profile.code!r} is already used")
        offices[profile.code] = profile
    _check_offices(offices, channel_tables)
    _check_email_auth(channel_tables.get("email", {}))
    errors = [
        f"[{name}] is not a table Aduan knows; known: {', '.join(KNOWN_TABLES)}"
        for name in data
        if name not in KNOWN_TABLES
    ]
    tables = {name: typed_table(cls, name, data.get(name, {}), errors) for name, cls in TABLES.items()}
    jobs = tables["jobs"]
    if jobs.stalled_after_seconds <= 2 * jobs.heartbeat_seconds:
        # A live worker that missed one beat would have its running jobs run a second time.
        errors.append("jobs.stalled_after_seconds must be more than twice jobs.heartbeat_seconds")
    if errors:
        raise ConfigError("\n".join(errors))
    known = {"office", "calendar", "rules", "database", "services", "problem_types", "channels", "offices"}
    return Settings(
        path=path,
        office=office,
        database_url=env.get("ADUAN_DATABASE_URL") or str(db_t.get("url", "")),
        auto_migrate=bool(db_t.get("auto_migrate", True)),
        public_base_url=(env.get("ADUAN_PUBLIC_BASE_URL") or str(office_t.get("public_base_url", ""))).rstrip(
            "/"
        ),
        trust_proxy=bool(office_t.get("trust_proxy", False)),
        channels={k: dict(v) for k, v in channel_tables.items()},
        sections={k: v for k, v in data.items() if k not in known} | {"storage": data.get("storage", {})},
        env=env,
        offices=offices,
        **tables,
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
