"""Canned answers officers pick in the reply box, in the citizen's language, with placeholders.

Placeholders: ``{nama}`` reporter's name (or "Bapak/Ibu"), ``{nomor}`` tracking number, ``{batas}``
due date, ``{kantor}`` office name, ``{petugas}`` the officer's name. Texts live in the catalogue
(``inbox/locale/messages.toml``, keys ``canned.<key>``) like every other string.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from inbox.i18n import t

#: The canned answers in menu order.
CANNED_KEYS = ("received", "need_info", "in_review", "forwarded", "answered", "saran_thanks")


@dataclass(frozen=True)
class Canned:
    """One canned answer, rendered for one complaint."""

    key: str
    title: str
    text: str


def render(
    *,
    lang: str,
    reporter_name: str | None,
    tracking: str,
    due: dt.date,
    office: str,
    officer: str,
    ui_lang: str = "id",
) -> list[Canned]:
    """Return every canned answer with its placeholders filled (title in the officer's language)."""
    values = {
        "nama": reporter_name or t("canned.salutation", lang),
        "nomor": tracking,
        "batas": due.strftime("%d-%m-%Y"),
        "kantor": office,
        "petugas": officer,
    }
    return [
        Canned(key, t(f"canned.{key}.title", ui_lang), t(f"canned.{key}.text", lang).format(**values))
        for key in CANNED_KEYS
    ]
