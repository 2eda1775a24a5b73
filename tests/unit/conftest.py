"""Unit tests: no database, no network, the whole folder in seconds (``pytest tests/unit``).

A unit test that asks for a database fixture, opens a SQLite or PostgreSQL connection or a socket
fails here, naming what it touched: such a test belongs in ``tests/integration`` (or ``tests/e2e``).
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

DATABASE_FIXTURES = frozenset(
    {"engine", "db_url", "db_copies", "container", "pg_admin", "pg_template", "migration_engine"}
)


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test touched {what}: move it to tests/integration or tests/e2e")

    return refuse


@pytest.fixture(autouse=True)
def _no_database_or_network(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    used = sorted(DATABASE_FIXTURES & set(request.fixturenames))
    if used:
        pytest.fail(f"a unit test uses the database fixture {', '.join(used)}: move it to tests/integration")
    monkeypatch.setattr(sqlite3, "connect", _refuse("SQLite"))
    monkeypatch.setattr(psycopg, "connect", _refuse("PostgreSQL"))
    monkeypatch.setattr(psycopg.Connection, "connect", _refuse("PostgreSQL"))
    monkeypatch.setattr(socket.socket, "connect", _refuse("the network"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("the network"))
    monkeypatch.setattr(socket, "create_connection", _refuse("the network"))
    yield
