"""The composition root: load settings, open the database, build the Container, install every part.

Entry points (``aduan`` commands, the ASGI app, the worker) call ``build`` once per process. It is
the only module that imports every part to wire it, so a missing part is an ImportError at start-up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

import channels
from app import settings as config_mod
from app.container import ChannelConfig, Container, UnknownOffice, system_clock
from app.routing import office_path
from app.settings import ConfigError, Settings
from bot import dialogue, survey
from channels._twilio import STATUS_PATH
from intake import db
from intake.office import OfficeProfile
from outbound import alerts, demo_phone, email_threading, escalation, messaging, outbox

log = logging.getLogger("aduan.bootstrap")


def build(
    settings: Settings | None = None,
    *,
    config_path: str | Path | None = None,
    engine: Engine | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    migrate: bool | None = None,
) -> Container:
    """Wire a Container: load settings, open the database (migrating it if configured), install parts."""
    settings = settings or config_mod.load(config_path)
    engine = engine or db.create_engine(settings.database_url)
    if migrate if migrate is not None else settings.auto_migrate:
        db.upgrade(engine)
    container = Container(settings=settings, engine=engine, clock=clock or system_clock)
    chosen = settings.env.get("ADUAN_OFFICE")
    if chosen:
        if chosen not in settings.offices:
            raise ConfigError(f"ADUAN_OFFICE={chosen}: {UnknownOffice(chosen, list(settings.offices))}")
        container.default_office = chosen
    for install in INSTALLERS:
        install(container)
    return container


def install_office_senders(container: Container) -> None:
    """Build each office's own senders: an office with its own numbers or mailbox sends from them."""
    if len(container.offices) == 1:
        return
    enabled = set(container.settings.enabled_channels())
    for office in container.offices.values():
        if office.source is None:
            continue
        for name in sorted(enabled & set(office.channels)):
            entry = channels.REGISTRY.get(name)
            if entry is None or entry.module is None:
                continue
            factory = getattr(channels.load(name), "make_sender", None)
            if factory is None:
                continue
            with container.using_office(office):
                try:
                    sender = factory(_with_status_callback(container, office, container.channel_config(name)))
                except ConfigError as exc:
                    log.warning("office %s cannot send on %s: %s", office.code, name, exc)
                    continue
            senders = container.senders
            by_office = getattr(senders, "by_office", None)
            if by_office is not None:
                by_office.setdefault(office.code, {})[name] = sender


def _with_status_callback(
    container: Container, office: OfficeProfile, config: ChannelConfig
) -> ChannelConfig:
    """Point an office's Twilio sender's status callbacks at the office's own path.

    Twilio signs a callback with the token of the account that sent the message: on the office's
    path it is checked with the office's token (``inbox.provider_hooks``). An office that sets its
    own ``status_callback_url`` keeps it; a deployment-wide one ending in the status path is moved
    to the office's path on the same host; any other is kept (the office is then found by the
    message's SID).
    """
    table = config.table
    if config.name not in ("sms", "whatsapp") or table.get("provider", "twilio") != "twilio":
        return config
    if "status_callback_url" in office.channels.get(config.name, {}):
        return config
    deployment_url = str(container.settings.channels.get(config.name, {}).get("status_callback_url") or "")
    if deployment_url:
        if not deployment_url.endswith(STATUS_PATH):
            return config
        base = deployment_url[: -len(STATUS_PATH)]
    elif config.public_base_url:
        base = config.public_base_url.rstrip("/")
    else:
        return config
    url = base + office_path(office, STATUS_PATH)
    return dataclasses.replace(config, table={**table, "status_callback_url": url})


#: What each part adds to a new Container (hooks, senders, services), in order.
#: A part that plugs into the running process adds one line here.
INSTALLERS: tuple[Callable[[Container], None], ...] = (
    outbox.install,
    install_office_senders,  # each office's own senders, after the deployment's
    demo_phone.install,  # demo mode only: WhatsApp to demo numbers stays on the server
    escalation.install,
    alerts.install,
    messaging.install,
    survey.install,
    email_threading.install,
    dialogue.install,  # last: the survey and other hooks take their messages first
)
