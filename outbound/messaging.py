"""Outbound rules of SMS and WhatsApp that need the record: WhatsApp's 24-hour window, SMS segments.

Senders cannot read the database, so the outbox calls these preparers (``outbound.outbox.PREPARERS``)
just before each attempt. WhatsApp allows free text only within 24 hours of the citizen's last
message; outside it (a 14-working-day answer, R4/R8, usually is) an approved template is sent, and
without one the message falls back to SMS to the same number and the row's ``note`` says so.
https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlmodel import select

from app.container import Container
from channels._twilio import sms_segments
from channels.urns import phone_urn, urn_path
from intake import db
from intake.models import Contact
from outbound.outbox import PREPARERS, OutboxMessage

log = logging.getLogger("aduan.messaging")

WINDOW = dt.timedelta(hours=24)
#: Which of Aduan's template names a message of each outbox purpose uses outside the window.
PURPOSE_TEMPLATES = {
    "answer": "jawaban_pengaduan",
    "status": "status_pengaduan",
    "survey": "survei_kepuasan",
}
#: Decisions an earlier attempt may have written into ``extra``; cleared before deciding again.
_TEMPLATE_KEYS = ("content_sid", "content_variables", "meta_template", "template_parameters", "language")


def template_spec(value: Any, name: str) -> tuple[str, list[str]]:
    """Return (Content SID or Meta template name, variable names) of a configured template.

    ``jawaban_pengaduan = "HX…"`` uses the message text as its only variable;
    ``jawaban_pengaduan = { id = "HX…", variables = ["tracking_number", "text"] }`` names them.
    """
    if isinstance(value, str):
        return value, ["text"]
    if isinstance(value, Mapping) and value.get("id"):
        return str(value["id"]), [str(v) for v in value.get("variables", ["text"])]
    raise ValueError(f"[channels.whatsapp.templates] {name}: a string or {{ id = …, variables = […] }}")


def prepare_sms(container: Container, row: OutboxMessage) -> None:
    """Count the SMS segments of the text (GSM-7 or UCS-2) into the row's extra."""
    extra = json.loads(row.extra or "{}")
    encoding, segments = sms_segments(row.text)
    extra["sms_encoding"], extra["sms_segments"] = encoding, segments
    row.extra = json.dumps(extra, ensure_ascii=False)


def prepare_whatsapp(container: Container, row: OutboxMessage) -> None:
    """Send free text inside the 24-hour window, a template outside it, or fall back to SMS."""
    now = container.now()
    table = container.settings.channel("whatsapp")
    extra = {k: v for k, v in json.loads(row.extra or "{}").items() if k not in _TEMPLATE_KEYS}
    with db.session(container.engine) as s:
        contact = s.exec(select(Contact).where(Contact.urn == row.to_urn)).first()
        last = contact.last_inbound_at if contact else None
    if last is not None and now - last < WINDOW:
        extra["window"] = "open"
        row.extra = json.dumps(extra, ensure_ascii=False)
        return
    extra["window"] = "closed"
    name = row.template or PURPOSE_TEMPLATES.get(row.purpose)
    templates = table.get("templates") or {}
    if name and templates.get(name):
        ident, variables = template_spec(templates[name], name)
        values = json.loads(row.template_vars or "{}")
        params = [str(values.get(v, row.text if v == "text" else "")) for v in variables]
        if table.get("provider", "twilio") == "meta":
            extra["meta_template"], extra["template_parameters"] = ident, params
            extra["language"] = str(table.get("template_language", "id"))
        else:
            extra["content_sid"] = ident
            extra["content_variables"] = {str(i + 1): p for i, p in enumerate(params)}
        row.template = name
        row.note = f"WhatsApp 24-hour window closed: sent as approved template {name}"
        row.extra = json.dumps(extra, ensure_ascii=False)
        return
    # No approved template: the citizen still gets the answer, by SMS to the same number.
    row.channel = "sms"
    row.to_urn = phone_urn("tel", urn_path(row.to_urn))
    row.note = (
        f"WhatsApp 24-hour window closed and no template {name or '(none for purpose ' + row.purpose + ')'} "
        "configured: sent by SMS to the same number"
    )
    row.extra = json.dumps(extra, ensure_ascii=False)
    log.info("outbox #%s: WhatsApp window closed, falling back to SMS", row.id)
    prepare_sms(container, row)


def install(container: Container) -> None:
    """Register the SMS and WhatsApp preparers with the outbox."""
    preparers = container.services.setdefault(PREPARERS, {})
    preparers.setdefault("sms", prepare_sms)
    preparers.setdefault("whatsapp", prepare_whatsapp)
