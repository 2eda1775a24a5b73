"""The office profile: who the office is, its calendar, its service catalogue and R5c problem types.

Built once from ``config.toml`` (the primary office) and ``offices/*.toml`` (the other offices of a
province deployment) by ``app.settings``; intake code receives it as a plain value.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from intake.calendar import WorkingCalendar


@dataclass(frozen=True)
class Service:
    """One entry of the service catalogue (R5c field / sector / service type)."""

    code: str
    name: str
    sector: str
    kbli: str = ""
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProblemType:
    """One R5c problem type, named after a component of the service standard."""

    code: str
    name: str
    name_en: str
    keywords: tuple[str, ...] = ()


#: R5c problem types, in the order of the service standard's components.
DEFAULT_PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType("persyaratan", "Persyaratan", "Requirements", ("syarat", "dokumen", "berkas", "persyaratan")),
    ProblemType(
        "prosedur",
        "Sistem, mekanisme, dan prosedur",
        "System, mechanism and procedure",
        ("prosedur", "alur", "mekanisme", "sistem", "aplikasi", "online", "oss"),
    ),
    ProblemType(
        "waktu",
        "Jangka waktu penyelesaian",
        "Processing time",
        ("lama", "belum selesai", "belum keluar", "terlambat", "menunggu", "minggu", "bulan", "lambat"),
    ),
    ProblemType(
        "biaya", "Biaya/tarif", "Fee", ("biaya", "tarif", "bayar", "pungli", "uang", "pungutan", "rp")
    ),
    ProblemType(
        "produk", "Produk pelayanan", "Service product", ("salah ketik", "sertifikat", "izin salah", "produk")
    ),
    ProblemType(
        "sarana",
        "Sarana, prasarana, dan/atau fasilitas",
        "Facilities",
        ("parkir", "toilet", "ruang tunggu", "antrian", "antrean", "fasilitas", "ac "),
    ),
    ProblemType(
        "kompetensi",
        "Kompetensi pelaksana",
        "Staff competence",
        ("petugas", "pegawai", "judes", "kasar", "tidak ramah", "tidak tahu", "pelayanan buruk"),
    ),
    ProblemType("lainnya", "Lainnya", "Other", ()),
)


@functools.lru_cache(maxsize=4096)
def normalise_text(text: str) -> str:
    """Lower-case, strip accents and collapse whitespace, for keyword matching.

    Cached: catalogue names and keywords are normalised again for every message otherwise.
    """
    if text.isascii():
        plain = text  # nothing to decompose or strip: most Indonesian text, and a long mail costs less
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain.lower()).strip()


@dataclass
class OfficeProfile:
    """Everything intake needs to know about one office, as plain values."""

    code: str
    name: str
    tracking_prefix: str
    calendar: WorkingCalendar
    complaint_window_days: int = 30
    answer_deadline_working_days: int = 14
    services: tuple[Service, ...] = ()
    problem_types: tuple[ProblemType, ...] = DEFAULT_PROBLEM_TYPES
    extra: dict[str, object] = field(default_factory=dict)
    #: The office's own values for ``[channels.<name>]`` keys (its numbers, mailbox, bot, templates):
    #: laid over the deployment's table when the office receives or sends (``app.routing``).
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The office's own ``[escalation]`` and ``[alerts]`` keys, laid over the deployment's.
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Host names its public pages are reached at (behind a proxy with ``trust_proxy``).
    hosts: tuple[str, ...] = ()
    #: The profile file it came from (None: the ``[office]`` of config.toml).
    source: str | None = None

    def service(self, code: str | None) -> Service | None:
        """Return the catalogue entry with this code or KBLI code, if any."""
        if not code:
            return None
        for s in self.services:
            if code in (s.code, s.kbli):
                return s
        return None

    def match_service(self, text: str | None) -> Service | None:
        """Find the catalogue entry a citizen's words most likely mean (code, KBLI, name, keyword)."""
        if not text:
            return None
        exact = self.service(text.strip())
        if exact:
            return exact
        norm = normalise_text(text)
        best: tuple[int, Service] | None = None
        for s in self.services:
            score = 0
            if normalise_text(s.name) in norm:
                score += 10
            if s.kbli and s.kbli in norm:
                score += 10
            score += sum(3 for k in s.keywords if normalise_text(k) in norm)
            words = [w for w in normalise_text(s.name).split() if len(w) > 3]
            score += sum(1 for w in words if w in norm)
            if score and (best is None or score > best[0]):
                best = (score, s)
        return best[1] if best and best[0] >= 2 else None

    def problem_type(self, code: str | None) -> ProblemType | None:
        """Return the R5c problem type with this code, if any."""
        return next((p for p in self.problem_types if p.code == code), None)

    def suggest_problem_type(self, text: str | None) -> ProblemType | None:
        """R5c: suggest a problem type from keywords; a suggestion for the officer, never a decision."""
        if not text:
            return None
        norm = f" {normalise_text(text)} "
        scored = [(sum(1 for k in p.keywords if normalise_text(k) in norm), p) for p in self.problem_types]
        scored = [(n, p) for n, p in scored if n]
        if not scored:
            return None
        return max(scored, key=lambda item: item[0])[1]
