"""The composition root: settings, database, channels, dialogue hooks and clock, wired once.

Nothing outside this module (and ``bot.config``) reads configuration or the environment. Tests
build a Container with their own settings, engine and clock.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable, Mapping
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

    @property
    def office(self) -> OfficeProfile:
        """The office profile."""
        return self.settings.office

    def now(self) -> dt.datetime:
        """Return the current moment from the container's clock."""
        return self.clock()

    def channel_config(self, name: str) -> ChannelConfig:
        """Return the config a channel module needs, secrets included."""
        env = self.settings.env
        return ChannelConfig(
            name=name,
            table=self.settings.channel(name),
            secrets={k: v for k, v in env.items() if k.startswith("ADUAN_")},
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
    "bot.escalation",
    "bot.alerts",
    "bot.messaging",
    "bot.survey",
    "bot.email_threading",
    "bot.dialogue",  # last: the survey and other hooks take their messages first
]
