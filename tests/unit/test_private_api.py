"""No runtime code reaches into SQLAlchemy's private attributes (or around it, to the raw DBAPI).

A private attribute (``compiled._bind_processors``, ``_result_columns``, ``_cached_result_processor``)
changes without notice between SQLAlchemy releases; code built on it breaks or silently falls back.
Found by name: an attribute access ``x._name`` where SQLAlchemy defines ``_name`` and Aduan does not,
plus the ORM/DBAPI back doors named below.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import sqlalchemy

from tests.conftest import ROOT

RUNTIME = ("app", "bot", "channels", "cli", "inbox", "intake", "jobs", "ops", "outbound", "reports")
#: Underscored names that are SQLAlchemy's public API (``Row._asdict()``, ``Row._mapping``…).
PUBLIC_UNDERSCORED = frozenset({"_asdict", "_mapping", "_fields", "_t", "_tuple", "_replace", "_make"})
#: Back doors that are not underscored: ORM state written behind the session, the raw DBAPI connection.
BACK_DOORS = re.compile(r"\bset_committed_value\b|\.dbapi_connection\b|\.driver_connection\b")
#: The one way into the driver: procrastinate defers a job on the psycopg connection under the
#: session's transaction (``jobs.queue.psycopg_connection``, SQLAlchemy's documented path to it).
DRIVER_DOOR = "jobs/queue.py"

_DEFINED = re.compile(r"(?:\bdef |\bclass |\bself\.|\bcls\.|^\s*)(_[a-z]\w*)\s*[(:=]?", re.M)


def _names(files: tuple[Path, ...]) -> set[str]:
    found: set[str] = set()
    for path in files:
        found.update(_DEFINED.findall(path.read_text(encoding="utf-8", errors="replace")))
    return found


def runtime_files() -> list[Path]:
    """Return Aduan's runtime modules (migrations aside: they are frozen history)."""
    return sorted(
        p for package in RUNTIME for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts
    )


@functools.cache
def suspicious_names() -> frozenset[str]:
    """Return the underscored names SQLAlchemy defines and Aduan does not."""
    sa_private = _names(tuple(Path(sqlalchemy.__file__).parent.rglob("*.py")))
    ours = _names(tuple(runtime_files())) | {p.stem for p in runtime_files()}
    return frozenset(sa_private - ours - PUBLIC_UNDERSCORED)


def violations(files: list[Path]) -> list[str]:
    """Return ``path:line: what`` for every private SQLAlchemy access or back door in ``files``."""
    suspicious = suspicious_names()
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and node.attr in suspicious:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
        for number, line in enumerate(text.splitlines(), 1):
            for match in BACK_DOORS.finditer(line):
                found.append(f"{where}:{number}: {match.group().lstrip('.')}")
    return found


def test_runtime_code_uses_only_sqlalchemys_public_api() -> None:
    found = violations(runtime_files())
    door = [v for v in found if v.startswith(f"{DRIVER_DOOR}:") and v.endswith(": dbapi_connection")]
    assert len(door) == 1  # in psycopg_connection only, not spread about
    assert [v for v in found if v not in door] == []


def test_the_check_finds_a_private_attribute(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f(compiled, conn):\n    return compiled._bind_processors, conn.dbapi_connection\n")
    assert [v.split(": ")[1] for v in violations([probe])] == ["._bind_processors", "dbapi_connection"]
