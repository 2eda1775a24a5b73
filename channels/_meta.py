"""What Meta's webhooks share (WhatsApp Cloud API, Instagram messaging): verification and signatures.

https://developers.facebook.com/docs/graph-api/webhooks/getting-started
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from channels.base import RawRequest, SignatureError

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature(body: bytes, app_secret: str) -> str:
    """Return the ``sha256=<hex>`` Meta sends for ``body`` (HMAC-SHA256 with the app secret)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(raw: RawRequest, app_secret: str) -> None:
    """Raise SignatureError unless ``X-Hub-Signature-256`` matches the raw body."""
    given = raw.header(SIGNATURE_HEADER)
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    # Bytes: a header may carry any octet, and compare_digest refuses non-ASCII str (a 500).
    if not hmac.compare_digest(given.strip().encode(), signature(raw.body, app_secret).encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def verification_challenge(query: Mapping[str, str], verify_token: str) -> str | None:
    """Answer Meta's subscription check: the challenge when mode and token match, else None."""
    if query.get("hub.mode") != "subscribe":
        return None
    if not hmac.compare_digest(query.get("hub.verify_token", "").encode(), verify_token.encode()):
        return None
    return query.get("hub.challenge")
