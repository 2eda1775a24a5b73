"""Issue 17: the 326 real payloads of ``../shared/corpus`` enter Aduan whole, through production paths.

Every file goes through ``aduan ingest`` (mail) or its provider's signed webhook (chat), twice, and
what it became is checked against ``corpus_expected.toml``: filed with its sender, readable text,
attachments and location, or ignored / quarantined with the reason. 0 crashes, 0 lost, 0 doubled.
The corpus is other projects' data: read in place, never copied here. Without it the test says so
and skips (CI, ``ADUAN_STRICT_DEPS=1``, fails instead).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from intake import db
from tests.conftest import ROOT, TEST_ENV, Clock, create_test_database, missing_dependency
from tests.integration.channels import corpus

TABLE = Path(__file__).with_name("corpus_expected.toml")
CORPUS = corpus.find_corpus(ROOT)


def corpus_dir() -> Path:
    """Return the corpus folder, or skip (fail in CI) saying it is missing."""
    if CORPUS is None:
        missing_dependency("the payload corpus ../shared/corpus (issue 17), beside the repository")
        raise AssertionError("unreachable")  # missing_dependency skips or fails
    return CORPUS


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, corpus.Outcome]]:
    """Every corpus file fed twice on one PostgreSQL database for the module; its outcome by key."""
    root = corpus_dir()
    admin = request.getfixturevalue("pg_admin")
    name = create_test_database(admin, request.getfixturevalue("pg_template"), "aduan_corpus")
    engine = db.create_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    config_data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    clock = Clock(corpus.CLOCK_START)
    try:
        for opened in corpus.open_corpus(
            config_data, TEST_ENV, engine, clock, tmp_path_factory.mktemp("corpus")
        ):
            yield {o.key: o for o in corpus.run_all(opened, root)}
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def expected() -> dict[str, dict[str, Any]]:
    return tomllib.loads(TABLE.read_text(encoding="utf-8"))


def test_every_corpus_file_has_a_row_in_the_table() -> None:
    root = corpus_dir()
    files = {corpus.key_of(root, p) for p in corpus.corpus_files(root)}
    assert sorted(files - set(expected())) == [], "corpus files without a row in corpus_expected.toml"
    assert sorted(set(expected()) - files) == [], "rows for files the corpus no longer has"


def test_nothing_crashed_nothing_lost_nothing_doubled(outcomes: dict[str, corpus.Outcome]) -> None:
    crashed = {k: (o.outcome, o.answers, o.reason) for k, o in outcomes.items() if o.crashed}
    assert crashed == {}
    lost = [k for k, o in outcomes.items() if o.raw_rows != 1]
    assert lost == [], "every payload is kept exactly once as it arrived"
    doubled = {k: o.doubled for k, o in outcomes.items() if o.doubled != (0, 0, 0)}
    assert doubled == {}, "the second pass added raw rows, messages or complaints"


def test_every_file_becomes_what_the_table_says(outcomes: dict[str, corpus.Outcome]) -> None:
    wrong: dict[str, Any] = {}
    for key, want in expected().items():
        got = outcomes[key]
        seen = {
            "outcome": got.outcome,
            "sender": got.sender,
            "attachments": got.attachments,
            "location": got.location,
        }
        text = " ".join(got.text.split())
        problems = [
            f"{name}: {seen[name]!r} != {want[name]!r}"
            for name in seen
            if name in want and seen[name] != want[name]
        ]
        if got.outcome != want["outcome"]:
            problems.append(f"reason: {got.reason!r}")
        if "snippet" in want and want["snippet"] not in text:
            problems.append(f"text {text[:80]!r} lacks {want['snippet']!r}")
        if "reason" in want and want["reason"] not in got.reason:
            problems.append(f"reason {got.reason!r} lacks {want['reason']!r}")
        if want["outcome"] == "filed" and "location" not in want and got.location:
            problems.append(f"location {got.location!r} not in the table")
        if problems:
            wrong[key] = problems
    assert wrong == {}


def test_no_reason_shown_is_python_exception_text(outcomes: dict[str, corpus.Outcome]) -> None:
    # Issue 17, item 6: officers read these reasons.
    leaks = {
        k: o.reason
        for k, o in outcomes.items()
        if any(
            word in o.reason
            for word in ("Error:", "Error(", "Traceback", "__init__", "KeyError", "TypeError")
        )
    }
    assert leaks == {}


def test_filed_text_is_readable(outcomes: dict[str, corpus.Outcome]) -> None:
    # Issue 17, item 2: no "â€”" for "—", no U+FFFD runs from a wrong charset in the snippets checked.
    garbled = {k: w["snippet"] for k, w in expected().items() if corpus.MOJIBAKE.search(w.get("snippet", ""))}
    assert garbled == {}


def test_most_of_the_corpus_is_taken_in(outcomes: dict[str, corpus.Outcome]) -> None:
    taken = sum(o.taken_in for o in outcomes.values())
    quarantined = sorted(k for k, o in outcomes.items() if o.outcome == "quarantined")
    # The few left are not messages at all (an Outlook .msg file, another app's webhook object) or
    # name no sender anyone could answer.
    assert taken == len(outcomes) - len(quarantined) and len(quarantined) <= 7, quarantined
