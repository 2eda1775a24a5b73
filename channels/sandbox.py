"""The demo phone's sandbox provider: WhatsApp replies to a demo number stay on this server.

In demo mode (``ADUAN_DEMO_PHONE=1``, set by ``make run``) the outbox delivers WhatsApp messages
for numbers under ``DEMO_PREFIX`` here instead of to Twilio or Meta; the row the outbox marks
sent is what ``/demo/ponsel`` shows. Every other number goes to the real provider unchanged.
"""

from __future__ import annotations

import secrets
from typing import Any

from channels.base import OutboundMessage, PermanentFailure

#: Simulated WhatsApp numbers: +62 800 is no Indonesian mobile range, so no real citizen has one.
DEMO_PREFIX = "whatsapp:+62800"


def is_demo_number(urn: str) -> bool:
    """Tell whether a URN is a demo phone's simulated number."""
    return urn.startswith(DEMO_PREFIX)


class SandboxSender:
    """A WhatsApp sender that keeps demo numbers' messages on the server, and passes the rest on."""

    def __init__(self, real: Any = None) -> None:
        self.real = real

    def send(self, out: OutboundMessage) -> str:
        """Accept a message to a demo number (the outbox marks it sent); hand any other to the provider."""
        if is_demo_number(out.to):
            if not out.text.strip() and not out.template:
                raise PermanentFailure("empty message")
            return "sandbox-" + secrets.token_hex(8)
        if self.real is None:
            raise PermanentFailure("no WhatsApp provider configured (demo mode sends only to demo numbers)")
        return str(self.real.send(out))
