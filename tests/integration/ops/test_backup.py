"""`aduan backup FILE` / `aduan restore FILE`: pg_dump -Fc and pg_restore, both ways."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli.main import main
from intake import db
from ops import backup as backup_mod
from tests.conftest import PG_URL, ROOT, TEST_ENV, missing_dependency


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config.toml selected through ADUAN_CONFIG, test secrets in the environment."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def _ingest(capsys, tmp_path: Path, n: int) -> str:
    sub = tmp_path / f"s{n}.json"
    sub.write_text(
        json.dumps(
            {
                "id": f"b{n}",
                "name": "Siti Aminah",
                "contact": "+6281234500001",
                "text": f"Izin PBG nomor {n} belum keluar",
            }
        )
    )
    code, out, err = _run(capsys, "ingest", str(sub), "--channel", "web")
    assert code == 0, err
    return str(json.loads(out)["tracking_number"])


def _trackings(url: str) -> list[str]:
    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT tracking_number FROM complaint ORDER BY id")).scalars())
    finally:
        engine.dispose()


def test_backup_refuses_to_overwrite_and_restore_refuses_a_foreign_file(cli_env: Path, capsys) -> None:
    _ingest(capsys, cli_env, 1)
    target = cli_env / "exists.db"
    target.write_text("x")
    code, _, err = _run(capsys, "backup", str(target))
    assert code == 2 and "--force" in err
    code, _, err = _run(capsys, "restore", str(target), "--yes")
    assert code == 2 and "not a pg_dump" in err
    code, _, err = _run(capsys, "restore", str(cli_env / "missing.db"), "--yes")
    assert code == 2 and "not found" in err


@pytest.fixture
def two_pg_databases() -> Iterator[tuple[str, str]]:
    """Two empty PostgreSQL databases on the test server: the source and a fresh restore target."""
    if backup_mod.pg_tool("pg_dump") is None or backup_mod.pg_tool("pg_restore") is None:
        missing_dependency("pg_dump/pg_restore (postgresql-client)")
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    names = [f"aduan_bk_{os.getpid()}_{uuid.uuid4().hex[:6]}_{s}" for s in ("src", "dst")]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        missing_dependency(f"PostgreSQL at {PG_URL}: {type(exc).__name__}")
    base = sa.make_url(PG_URL)
    yield tuple(base.set(database=n).render_as_string(hide_password=False) for n in names)  # type: ignore[misc]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_postgres_backup_restores_into_a_fresh_database(
    cli_env: Path, capsys, monkeypatch: pytest.MonkeyPatch, two_pg_databases: tuple[str, str]
) -> None:
    source, fresh = two_pg_databases
    monkeypatch.setenv("ADUAN_DATABASE_URL", source)
    first, second = _ingest(capsys, cli_env, 1), _ingest(capsys, cli_env, 2)
    dump = cli_env / "aduan.dump"
    code, _, err = _run(capsys, "backup", str(dump))
    assert code == 0, err
    assert dump.read_bytes().startswith(backup_mod.PGDUMP_MAGIC)
    monkeypatch.setenv("ADUAN_DATABASE_URL", fresh)
    code, _out, err = _run(capsys, "restore", str(dump), "--yes")
    assert code == 0, err
    assert _trackings(fresh) == [first, second]
    engine = db.create_engine(fresh)
    assert db.is_up_to_date(engine)
    engine.dispose()
    # the sequences came along: the next record in the restored database gets the next id and number
    third = _ingest(capsys, cli_env, 3)
    assert third.endswith("000003")
    # restoring over a database that already has data replaces it
    code, _, err = _run(capsys, "restore", str(dump), "--yes")
    assert code == 0, err
    assert _trackings(fresh) == [first, second]
