"""What every benchmark shares: a result row, a table printer, the results file, fresh databases.

SQLAlchemy is imported inside the database helpers: ``python -m bench`` imports this module for
every benchmark, the ones that never touch a database included.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
#: The PostgreSQL server the benchmarks make their throwaway databases on (a role that may create
#: and drop databases): ``ADUAN_BENCH_POSTGRES_URL``, else the test suite's ``ADUAN_TEST_POSTGRES_URL``.
PG_ADMIN = (
    os.environ.get("ADUAN_BENCH_POSTGRES_URL")
    or os.environ.get("ADUAN_TEST_POSTGRES_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Row:
    """One measured figure beside its baseline from the same run."""

    bench: str
    case: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    higher_is_better: bool = True
    note: str = ""
    extra: dict[str, float | str] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Aduan's figure relative to the baseline (1.0 = as good as the baseline)."""
        if not self.baseline or not self.value:
            return 0.0
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value


def fmt(value: float) -> str:
    """Format a figure with sensible precision."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def print_table(rows: list[Row]) -> str:
    """Print rows as a Markdown table (the README's Performance section) and return it."""
    lines = [
        "| benchmark | case | Aduan | baseline | baseline figure | ratio | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.bench} | {r.case} | {fmt(r.value)} {r.unit} | {r.baseline_name} | "
            f"{fmt(r.baseline)} {r.unit} | {r.ratio:.2f}× | {r.note} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def save(name: str, rows: list[Row]) -> None:
    """Write the rows of one benchmark to bench/results/<name>.json with the machine's details."""
    RESULTS.mkdir(exist_ok=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2))


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database on ``PG_ADMIN``'s server, yield its name, drop it after.

    Its name is ``prefix`` with the process id and a random suffix. Raises ``RuntimeError`` when the
    server does not answer: Aduan runs on PostgreSQL only, so there is nothing to measure without it.
    """
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise RuntimeError(f"no PostgreSQL at {PG_ADMIN.rsplit('@', 1)[-1]}: {type(exc).__name__}") from exc
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_url(name: str) -> str:
    """Return the SQLAlchemy URL of database ``name`` on ``PG_ADMIN``'s server."""
    import sqlalchemy as sa

    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
