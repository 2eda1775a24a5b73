"""The real-payload corpus (../shared/corpus) through Aduan twice, and the CLI's start-up time.

Corpus: every file through ``aduan ingest`` (mail) or its signed webhook (chat), twice, on a fresh
PostgreSQL database migrated to the baseline (``tests/integration/channels/corpus.py``, as its test
does; dropped after); prints ``corpus: N of 326 taken in, 0 crashed``
(taken in = filed, or ignored with its reason; not quarantined). Start-up: ``aduan --help`` and
``aduan calendar due`` beside ``python -c pass`` (median of 5 fresh processes each).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from bench.common import Row, database_url, fresh_database

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def _startup(args: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, env=env, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_rows() -> list[Row]:
    """Median wall time of a fresh ``aduan`` process against an empty Python one."""
    env = dict(os.environ)
    aduan = str(Path(sys.executable).with_name("aduan"))
    floor = _startup([sys.executable, "-c", "pass"], env)
    rows = []
    for case, args in (
        ("aduan --help", [aduan, "--help"]),
        ("aduan calendar due", [aduan, "calendar", "due", "2026-03-10T09:30"]),
    ):
        value = _startup(args, env)
        rows.append(
            Row(
                "cli",
                f"start-up: {case}",
                value,
                "s",
                "python -c pass",
                floor,
                higher_is_better=False,
                note="goal < 0.3 s",
            )
        )
    return rows


def corpus_rows() -> list[Row]:
    """Feed the corpus twice; one row with the files taken in (and the line ``make bench`` prints)."""
    from intake import db
    from tests.conftest import TEST_ENV, Clock
    from tests.integration.channels import corpus

    found = corpus.find_corpus(ROOT)
    if found is None:
        print("corpus: ../shared/corpus not found, skipped", flush=True)
        return []
    config = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    with (
        tempfile.TemporaryDirectory(prefix="aduan-corpus-") as tmp,
        fresh_database("aduan_bench_corpus") as name,
    ):
        engine = db.create_engine(database_url(name))
        try:
            db.upgrade(engine)
            start = time.perf_counter()
            for opened in corpus.open_corpus(config, TEST_ENV, engine, Clock(corpus.CLOCK_START), Path(tmp)):
                outcomes = corpus.run_all(opened, found)
            seconds = time.perf_counter() - start
        finally:
            engine.dispose()
    taken = sum(o.taken_in for o in outcomes)
    crashed = sum(o.crashed for o in outcomes)
    print(f"corpus: {taken} of {len(outcomes)} taken in, {crashed} crashed", flush=True)
    return [
        Row(
            "corpus",
            f"real payloads taken in (each fed twice, {seconds:.1f} s)",
            float(taken),
            "files",
            "corpus files",
            float(len(outcomes)),
            note=f"{crashed} crashed, quarantined with a reason: {len(outcomes) - taken - crashed}",
            extra={"seconds": round(seconds, 2), "at": dt.datetime.now(dt.UTC).isoformat()},
        )
    ]


def run() -> list[Row]:
    """The corpus row and the two start-up rows."""
    return corpus_rows() + startup_rows()
