"""Staff roles and what each may do; the escalation ladder itself is configuration.

*pelaksana* is the complaint officer; the heads form the R7a chain up to the Head of DPMPTSP.
In a province deployment every member of staff belongs to one office (``User.office``); only the
province's auditors (APIP of the province) and administrators may belong to the whole province.
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

#: ``User.office`` of province-wide staff: they see every office's records and may pick one.
PROVINCE = "*"
#: Roles that may be province-wide: read-only audit and administration, never case handling.
PROVINCE_ROLES: frozenset[str] = frozenset((AUDITOR, ADMIN))

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


def check_office(role: str, office: str, known: list[str] | tuple[str, ...]) -> str:
    """Return ``office`` for a member of staff with ``role``; raise ValueError naming what is allowed.

    ``""`` is the primary office; ``PROVINCE`` only for the roles of ``PROVINCE_ROLES``.
    """
    if office == PROVINCE:
        if role not in PROVINCE_ROLES:
            allowed = ", ".join(sorted(PROVINCE_ROLES))
            raise ValueError(f"only {allowed} may belong to the whole province ({PROVINCE!r}), not {role}")
        return office
    if office and office not in known:
        raise ValueError(f"unknown office {office!r}; known: {', '.join([*known, PROVINCE])}")
    return office


def stored_codes(office: str, primary: str) -> tuple[str, ...]:
    """Return the ``User.office`` values of the staff of ``office`` (``""`` also means the primary)."""
    return ("", office) if office == primary else (office,)


def home_office(user_office: str | None, primary: str) -> str:
    """Return the office code a member of staff works for (``PROVINCE`` for the province's staff)."""
    return user_office or primary
