"""Sender URNs: one string per way of reaching a person (``tel:+62…``, ``mailto:…``, ``telegram:…``).

Phone numbers are E.164 through ``phonenumbers`` with region ID, so ``0818…``, ``+62818…`` and
``62818…`` are the same person.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

DEFAULT_REGION = "ID"
SCHEMES = ("tel", "whatsapp", "mailto", "telegram", "twitter", "instagram", "web")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidContact(ValueError):
    """The text is neither a phone number nor an e-mail address."""


#: An Indonesian number already in E.164, as Twilio and Meta send every one: ``phonenumbers`` would
#: return it unchanged (no national prefix to strip after a digit 1–9; every national length from 7
#: to 17 digits is possible for region ID), so it needs no parse. tests/unit/channels/test_urns.py checks
#: the shortcut against the library.
_E164_ID = re.compile(r"\+62[1-9][0-9]{6,16}")


# Parsing a number is the costliest step of reading a Twilio webhook, and the same numbers come back
# all the time (the office's own number on every message, a citizen's on each of their messages).
@functools.lru_cache(maxsize=16_384)
def e164(number: str, region: str = DEFAULT_REGION) -> str:
    """Return ``number`` in E.164 (``+6281809898222``); raise InvalidContact when it is not one."""
    cleaned = number.strip()
    if _E164_ID.fullmatch(cleaned):
        return cleaned
    return _parsed_e164(cleaned, region)


def _parsed_e164(cleaned: str, region: str) -> str:
    """E.164 through ``phonenumbers``: any notation, any country."""
    if cleaned.startswith("62") and not cleaned.startswith("+"):
        cleaned = "+" + cleaned
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        # Plain words for officers, not the library's message (issue 17).
        raise InvalidContact("not a phone number (no digits a numbering plan knows)") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidContact("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_urn(scheme: str, number: str, region: str = DEFAULT_REGION) -> str:
    """Return ``tel:+62…`` or ``whatsapp:+62…`` for a number in any common notation."""
    if number.startswith(f"{scheme}:"):
        number = number[len(scheme) + 1 :]
    return f"{scheme}:{e164(number, region)}"


def contact_urn(contact: str, region: str = DEFAULT_REGION) -> str:
    """Turn what a citizen typed as contact (phone or e-mail) into a URN."""
    value = contact.strip()
    if value.split(":", 1)[0] in SCHEMES and ":" in value:
        scheme, rest = value.split(":", 1)
        if scheme in ("tel", "whatsapp"):
            return phone_urn(scheme, rest, region)
        return f"{scheme}:{rest.lower() if scheme == 'mailto' else rest}"
    if _EMAIL.match(value):
        return f"mailto:{value.lower()}"
    return phone_urn("tel", value, region)


def urn_scheme(urn: str) -> str:
    """Return the scheme of a URN (``tel``, ``mailto``…)."""
    return urn.split(":", 1)[0]


def urn_path(urn: str) -> str:
    """Return the address part of a URN (the number, the address, the account id)."""
    return urn.split(":", 1)[1] if ":" in urn else urn


def mask(urn: str) -> str:
    """Return a URN with most of its address hidden, for screens where only a hint is allowed."""
    scheme, _, path = urn.partition(":")
    if not path:
        return "***"
    if "@" in path:
        user, _, domain = path.partition("@")
        return f"{scheme}:{user[:1]}***@{domain}"
    return f"{scheme}:{path[:4]}***{path[-2:]}" if len(path) > 6 else f"{scheme}:***"
