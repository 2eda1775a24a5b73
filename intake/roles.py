"""Staff roles and what each may do; the escalation ladder itself is configuration.

*pelaksana* is the complaint officer; the heads form the R7a chain up to the Head of DPMPTSP.
"""

from __future__ import annotations

OFFICER = "officer"  # pelaksana
SECTION_HEAD = "section_head"  # kepala seksi
DIVISION_HEAD = "division_head"  # kepala bidang
HEAD = "head"  # Kepala DPMPTSP
LIAISON = "liaison"  # penghubung tim teknis / perangkat daerah lain (R7b)
AUDITOR = "auditor"  # APIP, read-only (R7c)
ADMIN = "admin"

ROLES: dict[str, str] = {
    OFFICER: "Pelaksana (petugas pengaduan)",
    SECTION_HEAD: "Kepala Seksi",
    DIVISION_HEAD: "Kepala Bidang",
    HEAD: "Kepala DPMPTSP",
    LIAISON: "Penghubung tim teknis",
    AUDITOR: "Auditor APIP (baca saja)",
    ADMIN: "Administrator",
}

#: Default ladder for R7a: each role reports to the next one up.
DEFAULT_LADDER: tuple[str, ...] = (OFFICER, SECTION_HEAD, DIVISION_HEAD, HEAD)


class UnknownRole(ValueError):
    """A role name that is not one of ROLES."""

    def __str__(self) -> str:
        return f"unknown role {self.args[0]!r}; known: {', '.join(ROLES)}"


def check_role(role: str) -> str:
    """Return ``role`` when it is known; raise UnknownRole listing the known ones otherwise."""
    if role not in ROLES:
        raise UnknownRole(role)
    return role
