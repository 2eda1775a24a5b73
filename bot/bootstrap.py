"""The composition root: settings, database, channels, dialogue hooks and clock, wired once.

Nothing outside this module (and ``bot.config``) reads configuration or the environment. Tests
build a Container with their own settings, engine and clock.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import importlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import config as config_mod
from bot.config import Settings
from intake import db
from intake.ingest import IngestResult
from intake.office import OfficeProfile

log = logging.getLogger("aduan")

#: Called after a chat message is ingested, inside the same transaction, in order; the first hook
#: that returns True has handled the message (the survey of bot/survey before the dialogue).
MessageHook = Callable[["Container", Session, IngestResult, dt.datetime], bool]


#: The office the running code acts for (a message to its number, a record of it, its staff's
#: request): the django-tenants pattern. Unset, ``Container.office`` is the primary office.
_CURRENT_OFFICE: contextvars.ContextVar[OfficeProfile | None] = contextvars.ContextVar(
    "aduan_current_office", default=None
)


class UnknownOffice(LookupError):
    """An office code that is not one of the deployment's."""

    def __str__(self) -> str:
        return f"unknown office {self.args[0]!r}; known: {', '.join(self.args[1])}"


class SenderTable(dict[str, Any]):
    """Outbound adapters by channel name; an office with its own numbers has its own (``by_office``).

    ``get``/``[]`` answer with the current office's adapter when it has one, else the deployment's,
    so the outbox sends each office's messages from that office's number or mailbox.
    """

    def __init__(self, current: Callable[[], str], *args: Any) -> None:
        super().__init__(*args)
        self.current = current
        self.by_office: dict[str, dict[str, Any]] = {}

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """Return the current office's adapter for ``name``, else the deployment's."""
        own = self.by_office.get(self.current())
        if own and name in own:
            return own[name]
        return super().get(name, default)

    def __getitem__(self, name: str) -> Any:
        own = self.by_office.get(self.current())
        if own and name in own:
            return own[name]
        return super().__getitem__(name)


def system_clock() -> dt.datetime:
    """Return the current moment, timezone-aware."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ChannelConfig:
    """What a channel module gets: its config table, its secrets, and the public address."""

    name: str
    table: Mapping[str, Any]
    secrets: Mapping[str, str]
    public_base_url: str = ""
    trust_proxy: bool = False

    def secret(self, name: str) -> str:
        """Return a secret, or raise ConfigError naming the missing environment variable."""
        value = self.secrets.get(name)
        if not value:
            raise config_mod.ConfigError(f"channel {self.name}: environment variable {name} is not set")
        return value


@dataclass
class Container:
    """Everything a running Aduan needs, built once per process."""

    settings: Settings
    engine: Engine
    clock: Callable[[], dt.datetime] = system_clock
    message_hooks: list[MessageHook] = field(default_factory=list)
    #: Outbound adapters by channel name (``send(OutboundMessage) -> provider id``).
    senders: dict[str, Any] = field(default_factory=dict)
    #: Per-process services later parts add (scheduler, PTB application…), by name.
    services: dict[str, Any] = field(default_factory=dict)
    #: The office this process acts for when no ``using_office`` is active (``ADUAN_OFFICE``, e.g. for
    #: ``aduan report`` of one office); None: the primary office.
    default_office: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.senders, SenderTable):
            self.senders = SenderTable(lambda: self.office.code, self.senders)

    @property
    def office(self) -> OfficeProfile:
        """The current office: the one ``using_office`` entered, else the primary office."""
        current = _CURRENT_OFFICE.get()
        if current is not None and self.settings.offices.get(current.code) is current:
            return current
        if self.default_office is not None:
            return self.settings.offices[self.default_office]
        return self.settings.office

    @property
    def primary(self) -> OfficeProfile:
        """The primary office (``[office]`` of config.toml)."""
        return self.settings.office

    @property
    def offices(self) -> dict[str, OfficeProfile]:
        """Every office of the deployment by code, the primary first."""
        return self.settings.offices

    def office_of(self, code: str | None) -> OfficeProfile:
        """Return the profile of a record's office; a code no profile has (a record filed before
        the office had one) gets the primary office's rules."""
        return self.settings.offices.get(code or "") or self.settings.office

    @contextlib.contextmanager
    def using_office(self, office: str | OfficeProfile) -> Iterator[OfficeProfile]:
        """Act for ``office`` (a code, strictly one of the deployment's, or a profile) inside the block."""
        if isinstance(office, str):
            if office not in self.settings.offices:
                raise UnknownOffice(office, list(self.settings.offices))
            office = self.settings.offices[office]
        token = _CURRENT_OFFICE.set(office)
        try:
            yield office
        finally:
            _CURRENT_OFFICE.reset(token)

    def office_for(self, channel: str, item: Any, *, raw: Any = None) -> OfficeProfile:
        """Return the office an inbound message or payload was addressed to (``bot.routing``)."""
        from bot import routing

        return routing.office_for(self, channel, item, raw=raw)

    def now(self) -> dt.datetime:
        """Return the current moment from the container's clock."""
        return self.clock()

    def channel_config(self, name: str) -> ChannelConfig:
        """Return the config a channel module needs, secrets included, as the current office uses it.

        The office's own channel keys lie over the deployment's table; its own secrets
        (``ADUAN_<CODE>_TWILIO_AUTH_TOKEN``…) over the deployment's (``ADUAN_TWILIO_AUTH_TOKEN``).
        """
        env = self.settings.env
        office = self.office
        secrets = {k: v for k, v in env.items() if k.startswith("ADUAN_")}
        own = f"ADUAN_{office.code.upper()}_"
        secrets.update({"ADUAN_" + k[len(own) :]: v for k, v in env.items() if k.startswith(own) and v})
        return ChannelConfig(
            name=name,
            table=self.settings.office_channel(office, name),
            secrets=secrets,
            public_base_url=self.settings.public_base_url,
            trust_proxy=self.settings.trust_proxy,
        )

    def storage_dir(self) -> Path:
        """Return the attachment store folder (created on first use)."""
        path = Path(str(self.settings.section("storage").get("attachments_dir", "var/attachments")))
        path.mkdir(parents=True, exist_ok=True)
        return path


def build(
    settings: Settings | None = None,
    *,
    config_path: str | Path | None = None,
    engine: Engine | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    migrate: bool | None = None,
) -> Container:
    """Wire a Container: load settings, open the database (migrating it if configured)."""
    settings = settings or config_mod.load(config_path)
    engine = engine or db.create_engine(settings.database_url)
    if migrate if migrate is not None else settings.auto_migrate:
        db.upgrade(engine)
    container = Container(settings=settings, engine=engine, clock=clock or system_clock)
    chosen = settings.env.get("ADUAN_OFFICE")
    if chosen:
        if chosen not in settings.offices:
            raise config_mod.ConfigError(
                f"ADUAN_OFFICE={chosen}: {UnknownOffice(chosen, list(settings.offices))}"
            )
        container.default_office = chosen
    for name in INSTALLER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.install(container)
    return container


#: Modules with an ``install(container)`` that adds their hooks, senders and services, in order.
#: A part that plugs into the running process adds one line here.
INSTALLER_MODULES: list[str] = [
    "bot.outbox",
    "bot.routing",  # each office's own senders, after the deployment's
    "bot.demo_phone",  # demo mode only: WhatsApp to demo numbers stays on the server
    "bot.escalation",
    "bot.alerts",
    "bot.messaging",
    "bot.survey",
    "bot.email_threading",
    "bot.dialogue",  # last: the survey and other hooks take their messages first
]
