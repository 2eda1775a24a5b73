"""The inbox's strings: one catalogue (``inbox/locale/messages.toml``), Indonesian first, English switchable.

Each entry is ``key = { id = "…", en = "…" }``; ``{name}`` placeholders are filled by ``t``.
A missing English text falls back to Indonesian; a missing key shows the key (and a test fails).
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).with_name("locale") / "messages.toml"
LANGUAGES = ("id", "en")
DEFAULT = "id"


@functools.cache
def catalogue() -> dict[str, dict[str, str]]:
    """Load the catalogue once per process."""
    with CATALOGUE.open("rb") as fh:
        data = tomllib.load(fh)
    return {key: dict(value) for key, value in data.items()}


def t(key: str, lang: str = DEFAULT, **values: Any) -> str:
    """Return the text of ``key`` in ``lang`` with placeholders filled."""
    entry = catalogue().get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT]
    return text.format(**values) if values else text


def translator(lang: str) -> Any:
    """Return ``t`` bound to one language, for templates."""
    lang = lang if lang in LANGUAGES else DEFAULT

    def bound(key: str, **values: Any) -> str:
        return t(key, lang, **values)

    return bound
