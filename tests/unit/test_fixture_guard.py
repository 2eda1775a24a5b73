"""A fixture that no test reads is a payload shape nobody checks: fail until one does."""

from __future__ import annotations

from tests.conftest import FIXTURES


def test_every_fixture_is_used_by_a_test() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in FIXTURES.parent.rglob("*.py"))
    unused = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.name not in sources and path.stem not in sources:
            unused.append(str(path.relative_to(FIXTURES)))
    assert unused == []
