"""Which office an inbound message is for, in a deployment that serves several (a province).

The office is read from the address the citizen wrote to, most explicit first:

1. the webhook path ``/hooks/<office>/<channel>`` (one Telegram bot or Twilio number per office
   whose webhook URL names the office; Twilio then signs an unambiguous URL); Twilio's delivery
   statuses of an office's own sender come to ``/hooks/<office>/twilio/status`` likewise;
2. the host name the public pages were reached at (``[office] hosts``, behind a trusted proxy);
3. the message's recipient: the Twilio ``To`` number or WhatsApp number (SMS and WhatsApp), the
   mailbox address (``Delivered-To``/``X-Original-To`` first, then ``To``/``Cc``), the Instagram
   account id; and for the WhatsApp Cloud API the ``phone_number_id`` of the delivery;
4. otherwise the office the code already acts for: the one a ``/hooks/<office>/…`` endpoint
   entered, or the process's default (``ADUAN_OFFICE``, else the primary office of config.toml).

Offices' addresses come from their profiles' ``[channels.<name>]`` keys (``app.settings.ADDRESS_KEYS``);
``app.settings`` refuses two offices sharing one, so every address names at most one office.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlmodel import Session

from app.settings import ADDRESS_KEYS
from channels.base import InboundMessage, RawRequest
from intake.models import Message, RawInbound
from intake.office import OfficeProfile

if TYPE_CHECKING:  # the Container asks this module; this module only reads the Container
    from app.container import Container

log = logging.getLogger("aduan.routing")

_HOOK_PATH = re.compile(r"^/hooks/([a-z][a-z0-9]{1,15})/")
_INDEX = "routing.index"


def office_path(office: OfficeProfile, path: str) -> str:
    """Return an office's own path for a deployment webhook path: ``/hooks/x`` → ``/hooks/<code>/x``."""
    return f"/hooks/{office.code}/{path[len('/hooks/') :]}"


def own_path_offices(container: Container) -> list[OfficeProfile]:
    """Return the offices with webhook paths of their own: all but the primary, in a province."""
    if len(container.offices) == 1:
        return []
    return [office for office in container.offices.values() if office.source is not None]


def _phone(value: str) -> str:
    """Return the digits of a phone number or phone URN (``whatsapp:+62…``, ``tel:+62…``)."""
    return re.sub(r"\D", "", value.rsplit(":", 1)[-1])


def _keys(channel: str, key: str, value: str) -> list[tuple[str, str]]:
    """Return the index keys an address of a channel table stands for."""
    value = value.strip()
    if not value:
        return []
    if key == "from_number":
        return [("phone", _phone(value))] if _phone(value) else []
    if channel == "email":
        return [("mail", value.lower())]
    return [(f"{channel}.{key}", value.lower().lstrip("@"))]


def address_index(container: Container) -> dict[tuple[str, str], str]:
    """Return (kind, address) → office code for every office's addresses (built once per container)."""
    cached = container.services.get(_INDEX)
    if isinstance(cached, dict):
        return cached
    index: dict[tuple[str, str], str] = {}
    for office in container.offices.values():
        # The primary office is reached at the deployment's own tables; the others at their own keys.
        tables = container.settings.channels if office.source is None else office.channels
        for channel, keys in ADDRESS_KEYS.items():
            table = tables.get(channel, {})
            for key in keys:
                for k in _keys(channel, key, str(table.get(key) or "")):
                    index.setdefault(k, office.code)
            if channel == "email":
                for alias in table.get("own_addresses", []) or []:
                    index.setdefault(("mail", str(alias).strip().lower()), office.code)
    container.services[_INDEX] = index
    return index


def office_for(
    container: Container, channel: str, item: RawRequest | InboundMessage, *, raw: RawRequest | None = None
) -> OfficeProfile:
    """Return the office ``item`` (a stored payload or one of its messages) was addressed to."""
    offices = container.offices
    if len(offices) == 1:
        return container.office
    raw = item if isinstance(item, RawRequest) else raw
    if raw is not None:
        found = _by_url(container, raw.url)
        if found is not None:
            return found
    index = address_index(container)
    if isinstance(item, InboundMessage):
        for kind, value in _message_addresses(channel, item):
            code = index.get((kind, value))
            if code is not None:
                return offices[code]
    if raw is not None:
        for kind, value in _raw_addresses(channel, raw):
            code = index.get((kind, value))
            if code is not None:
                return offices[code]
    return container.office


def _by_url(container: Container, url: str) -> OfficeProfile | None:
    """Return the office a webhook path (``/hooks/<code>/…``) or a host name names, if any."""
    if not url:
        return None
    parts = urlsplit(url)
    match = _HOOK_PATH.match(parts.path)
    if match and match.group(1) in container.offices:
        return container.offices[match.group(1)]
    host = (parts.hostname or "").lower()
    if host:
        for office in container.offices.values():
            if host in office.hosts:
                return office
    return None


def _message_addresses(channel: str, message: InboundMessage) -> list[tuple[str, str]]:
    """Return the index keys of the address a parsed message was sent to."""
    out: list[tuple[str, str]] = []
    recipient = message.recipient or ""
    if channel in ("sms", "whatsapp") and recipient:
        out.append(("phone", _phone(recipient)))
    elif channel == "email":
        extra = message.extra.get("recipients")
        addresses = list(extra) if isinstance(extra, list) else []
        if recipient.startswith("mailto:"):
            addresses.insert(0, recipient[len("mailto:") :])
        out += [("mail", str(a).lower()) for a in addresses]
    elif channel == "instagram" and recipient:
        out.append(("instagram.account_id", recipient.lower()))
    return out


def _raw_addresses(channel: str, raw: RawRequest) -> list[tuple[str, str]]:
    """Return the index keys of the addresses a payload itself names (before or without parsing)."""
    out: list[tuple[str, str]] = []
    try:
        if channel in ("sms", "whatsapp") and raw.body[:1] != b"{":
            form = parse_qs(raw.body.decode("utf-8", "replace"))
            out += [("phone", _phone(v)) for v in form.get("To", [])]
            out += [
                (f"{channel}.messaging_service_sid", v.lower()) for v in form.get("MessagingServiceSid", [])
            ]
        elif channel == "whatsapp":
            # WhatsApp Cloud API: entry[].changes[].value.metadata.phone_number_id
            for entry in json.loads(raw.body).get("entry", []):
                for change in entry.get("changes", []):
                    meta = (change.get("value") or {}).get("metadata") or {}
                    if meta.get("phone_number_id"):
                        out.append(("whatsapp.phone_number_id", str(meta["phone_number_id"]).lower()))
                    if meta.get("display_phone_number"):
                        out.append(("phone", _phone(str(meta["display_phone_number"]))))
        elif channel == "instagram":
            for entry in json.loads(raw.body).get("entry", []):
                if entry.get("id"):
                    out.append(("instagram.account_id", str(entry["id"]).lower()))
        elif channel == "email":
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw.body)
            # Delivered-To / X-Original-To name the mailbox the mail really reached (a Bcc, an alias).
            for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
                values = [str(v) for v in headers.get_all(name, [])]
                out += [("mail", a.lower()) for _, a in email.utils.getaddresses(values) if "@" in a]
    except (ValueError, AttributeError, TypeError):
        return out  # a malformed payload is the parser's business (it quarantines it)
    return out


def draft_office(container: Container, session: Session, draft: Any) -> OfficeProfile:
    """Return the office a dialogue draft was written to: its own ``office``, else (a draft older
    than the column, its office unknown) that of the raw payload of its last message.

    A draft the citizen abandoned is filed by the scheduler, outside any request: this tells it
    for which office (``raw_inbound.office`` is set when the message is routed).
    """
    if len(container.offices) == 1:
        return container.office
    own = getattr(draft, "office", "") or ""
    if own in container.offices:
        return container.offices[own]
    try:
        ids = [int(i) for i in json.loads(getattr(draft, "message_ids", "") or "[]")]
    except (ValueError, TypeError):
        ids = []
    if ids:
        office = session.execute(
            sa.select(RawInbound.office)  # type: ignore[call-overload]
            .join(Message, Message.raw_id == RawInbound.id)  # type: ignore[arg-type]
            .where(Message.id == ids[-1])  # type: ignore[arg-type]
        ).scalar()
        if office:
            return container.office_of(office)
    return container.office
