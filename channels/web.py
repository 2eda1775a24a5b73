"""The public web form (R2j–R2l): a JSON submission ``{name, contact, service, service_date, text}``.

The same parse serves ``aduan ingest --channel web FILE`` and the ``/lapor`` form, which posts the
same fields. Every field may be missing or empty; the rules decide what that means (R5b).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from channels import _shape
from channels.base import Attachment, InboundMessage, RawRequest, UnsupportedPayload
from channels.urns import InvalidContact, contact_urn

NAME = "web"
FIELDS = (
    "name",
    "contact",
    "service",
    "service_date",
    "text",
    "problem_type",
    "anonymous",
    "id",
    "attachments",
)


def external_id(raw: RawRequest) -> str:
    """A form post has no provider id: use the submission's own ``id`` or the body hash."""
    try:
        data = json.loads(raw.body)
        if isinstance(data, dict) and data.get("id"):
            return f"web:{data['id']}"
    except ValueError:
        pass
    return raw.body_hash()


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise UnsupportedPayload(f"field {key!r} must be text, got {type(value).__name__}")
    return str(value).strip()


def _sender(contact: str) -> str:
    try:
        return contact_urn(contact)
    except InvalidContact as exc:
        raise UnsupportedPayload(f"contact is neither a phone number nor an e-mail address: {exc}") from exc


def _attachments(data: dict[str, Any]) -> tuple[Attachment, ...]:
    """Files the form already stored: ``[{content_type, url, filename, size}]`` (no bytes in JSON)."""
    items = data.get("attachments") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("content_type") for i in items):
        raise UnsupportedPayload("attachments must be a list of objects with at least content_type")
    return tuple(
        Attachment(
            content_type=str(i["content_type"]),
            url=str(i["url"]) if i.get("url") else None,
            filename=str(i["filename"]) if i.get("filename") else None,
            size=int(i["size"]) if isinstance(i.get("size"), int) else None,
        )
        for i in items
    )


def parse(raw: RawRequest) -> list[InboundMessage]:
    """Turn a JSON web-form submission into one complete inbound message."""
    data = _shape.json_document(raw.body)
    if not isinstance(data, dict):
        raise UnsupportedPayload("a web-form submission must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise UnsupportedPayload(f"unknown fields {unknown}; known: {list(FIELDS)}")
    service_date: dt.date | None = None
    raw_date = _text(data, "service_date")
    if raw_date:
        try:
            service_date = dt.date.fromisoformat(raw_date[:10])
        except ValueError as exc:
            raise UnsupportedPayload(f"service_date {raw_date!r} is not a date (YYYY-MM-DD)") from exc
    contact = _text(data, "contact")
    key = external_id(raw)
    return [
        InboundMessage(
            channel=NAME,
            external_id=key,
            # No contact given: a sender of its own, so no two strangers share an identity.
            sender=_sender(contact) if contact else f"web:{key}",
            text=_text(data, "text"),
            reporter_name=_text(data, "name") or None,
            service=_text(data, "service") or None,
            service_date=service_date,
            problem_type=_text(data, "problem_type") or None,
            anonymous=bool(data.get("anonymous")),
            attachments=_attachments(data),
            complete=True,
        )
    ]
