"""The overdue queue reads the open records' own index (``ix_complaint_open_due``, migration 0012).

Open records are recent and closed ones old: walking every due date from the oldest, the overdue
queue passed all the closed history before its first row (300 ms with 1,000,000 on file). The
partial index holds the open records only, and is used only when the query's condition is its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.container import Container
from intake import db
from intake.models import Complaint
from tests.conftest import Clock
from tests.integration.inbox.conftest import file_one

Login = Callable[[str], tuple[TestClient, str]]


def test_overdue_queue_shows_the_open_overdue_records_from_their_index(
    container: Container, as_user: Login, clock: Clock
) -> None:
    late = file_one(container, received_at=clock.now - dt.timedelta(days=60))
    done = file_one(
        container, contact="whatsapp:+6281234567009", received_at=clock.now - dt.timedelta(days=90)
    )
    with db.write_session(container.engine) as s:
        table = Complaint.__table__  # type: ignore[attr-defined]
        s.execute(sa.update(table).where(table.c.id == done.id).values(status="closed"))
    officer, _ = as_user("officer")
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "ORDER BY complaint.due_date" in statement:
            statements.append((statement, parameters))

    sa.event.listen(container.engine, "before_cursor_execute", capture)
    try:
        html = officer.get("/inbox", params={"queue": "overdue"}).text
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", capture)
    assert set(re.findall(r'data-tracking="([^"]+)"', html)) == {late.tracking_number}
    (sql, params), *_ = statements
    with container.engine.connect() as conn:
        if container.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: show the index can serve
            plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert "ix_complaint_open_due" in plan, plan
