"""The channel registry: every way a complaint reaches the office (SPEC R2a–R2m), one line each.

A channel with a module translates a provider's payloads (``channels/<name>.py``, contract in
``channels/base.py``); a channel without one is entered by an officer in the inbox. Pull channels
keep their pollers beside them (``imap_poller``, ``x_poller``). Provider modules import nothing of
Aduan outside ``channels``; the pollers also reach the pipeline and the Container (they are entry points).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class ChannelInfo:
    """What the rest of Aduan knows about a channel without importing it."""

    name: str
    label: str
    rule: str
    module: str | None = None
    #: Environment variables a channel needs when enabled (secrets never live in config.toml).
    secrets: tuple[str, ...] = ()


REGISTRY: dict[str, ChannelInfo] = {
    c.name: c
    for c in (
        ChannelInfo("walkin", "Petugas pengaduan DPMPTSP", "R2a"),
        ChannelInfo("mpp", "Meja pengaduan Mal Pelayanan Publik", "R2b"),
        ChannelInfo("letter", "Surat", "R2c"),
        ChannelInfo("phone", "Telepon", "R2d"),
        ChannelInfo(
            "sms", "SMS", "R2e", "channels.sms", ("ADUAN_TWILIO_ACCOUNT_SID", "ADUAN_TWILIO_AUTH_TOKEN")
        ),
        ChannelInfo(
            "whatsapp",
            "WhatsApp",
            "R2f",
            "channels.whatsapp",
            ("ADUAN_TWILIO_ACCOUNT_SID", "ADUAN_TWILIO_AUTH_TOKEN"),
        ),
        ChannelInfo("email", "Email", "R2g", "channels.email", ("ADUAN_IMAP_PASSWORD",)),
        ChannelInfo("twitter", "Twitter/X", "R2h", "channels.twitter", ("ADUAN_X_BEARER_TOKEN",)),
        ChannelInfo(
            "instagram",
            "Instagram",
            "R2i",
            "channels.instagram",
            ("ADUAN_META_APP_SECRET", "ADUAN_META_VERIFY_TOKEN", "ADUAN_INSTAGRAM_ACCESS_TOKEN"),
        ),
        ChannelInfo("web", "Formulir web", "R2j", "channels.web"),
        ChannelInfo("paper", "Formulir pengaduan (kertas)", "R2l"),
        ChannelInfo("box", "Kotak pengaduan", "R2m"),
        ChannelInfo(
            "telegram",
            "Telegram",
            "-",
            "channels.telegram",
            ("ADUAN_TELEGRAM_BOT_TOKEN", "ADUAN_TELEGRAM_WEBHOOK_SECRET"),
        ),
    )
}

#: Channels an officer enters by hand in the inbox (walk-in, letter, phone, paper form, box).
OFFICER_CHANNELS = tuple(name for name, info in REGISTRY.items() if info.module is None)


class UnknownChannel(KeyError):
    """A channel name that is not in the registry."""

    def __str__(self) -> str:
        return f"unknown channel {self.args[0]!r}; known: {', '.join(REGISTRY)}"


def info(name: str) -> ChannelInfo:
    """Return the registry entry of a channel; raise UnknownChannel listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownChannel(name) from None


def load(name: str) -> ModuleType:
    """Import and return the module of a channel that has one."""
    entry = info(name)
    if entry.module is None:
        raise UnknownChannel(name)
    return importlib.import_module(entry.module)
