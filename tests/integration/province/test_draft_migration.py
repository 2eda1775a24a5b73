"""Migration 0013_drafts_office on a database with drafts in it (SQLite and PostgreSQL).

Drafts made before the migration were one per sender; each gets the office its conversation went
on with (the office of the sender's newest message), else that of the complaint it last filed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from intake import db
from tests.conftest import migration_engine

NOW = dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC)
ANI, BUDI, CITRA = "tel:+6281200000701", "tel:+6281200000702", "tel:+6281200000703"


@pytest.fixture
def old_engine(db_url: str) -> Iterator[sa.Engine]:
    """A database migrated up to just before 0013 (its two parents), in a schema of its own on PostgreSQL."""
    with migration_engine(db_url, "migdraft") as engine:
        db.upgrade(engine, "0011_search")
        db.upgrade(engine, "0003_dialogue")
        yield engine


def _insert(conn: sa.Connection, name: str, **values: Any) -> int:
    """Insert a row into a table as the database has it now; other required columns get plain values."""
    table = sa.Table(name, sa.MetaData(), autoload_with=conn)
    row = dict(values)
    for col in table.columns:
        if col.primary_key or col.nullable or col.name in row:
            continue
        python = col.type.python_type
        if python is bool:
            row[col.name] = False
        elif python is int:
            row[col.name] = 0
        elif python is dt.datetime:
            row[col.name] = NOW
        elif python is dt.date:
            row[col.name] = NOW.date()
        elif python is bytes:
            row[col.name] = b""
        else:
            row[col.name] = ""
    return int(conn.execute(table.insert().values(row).returning(table.c.id)).scalar_one())


def _message(conn: sa.Connection, sender: str, office: str, n: int) -> int:
    raw = _insert(conn, "raw_inbound", office=office, channel="sms", external_id=f"SM{n}", status="processed")
    return _insert(conn, "message", channel="sms", external_id=f"SM{n}", raw_id=raw, sender_urn=sender)


def _draft(conn: sa.Connection, sender: str, **values: Any) -> int:
    return _insert(
        conn, "dialogue_draft", **{"sender_urn": sender, "channel": "sms", "state": "idle"} | values
    )


def _offices(engine: sa.Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sender_urn, office FROM dialogue_draft ORDER BY id")).all()
    out: dict[str, list[str]] = {}
    for sender, office in rows:
        out.setdefault(sender, []).append(office)
    return out


def test_existing_drafts_get_the_office_their_conversation_went_on_with(old_engine: sa.Engine) -> None:
    with old_engine.begin() as conn:
        # Ani wrote to Purwakarta, then to Bandung: her one draft went on with Bandung.
        _message(conn, ANI, "pwk", 1)
        last = _message(conn, ANI, "bdg", 2)
        _draft(conn, ANI, state="ask_name", text="Izin reklame saya ditolak", message_ids=f"[{last}]")
        # Budi's messages are gone (retention); his draft last filed a Bandung complaint.
        filed = _insert(conn, "complaint", office="bdg", tracking_number="BDG-2026-000001", contact_urn=BUDI)
        _draft(conn, BUDI, last_complaint_id=filed)
        # Citra's draft has nothing left to tell.
        _draft(conn, CITRA)
    db.upgrade(old_engine)
    assert db.is_up_to_date(old_engine)
    assert _offices(old_engine) == {ANI: ["bdg"], BUDI: ["bdg"], CITRA: [""]}
    # One draft per office and sender now: Ani may talk to Purwakarta too, but only once.
    with old_engine.begin() as conn:
        _draft(conn, ANI, office="pwk")
    with pytest.raises(sa.exc.IntegrityError), old_engine.begin() as conn:
        _draft(conn, ANI, office="bdg")
    assert _offices(old_engine)[ANI] == ["bdg", "pwk"]


def test_downgrade_keeps_one_draft_per_sender_and_upgrade_runs_again(old_engine: sa.Engine) -> None:
    db.upgrade(old_engine)
    with old_engine.begin() as conn:
        _draft(conn, ANI, office="pwk")
        _draft(conn, ANI, office="bdg", state="ask_date")
    command.downgrade(db.alembic_config(old_engine), "0011_search")
    with old_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sender_urn, state FROM dialogue_draft")).all() == [
            (ANI, "ask_date")
        ]
    with pytest.raises(sa.exc.IntegrityError), old_engine.begin() as conn:
        _draft(conn, ANI)
    db.upgrade(old_engine)
    assert _offices(old_engine) == {ANI: [""]}  # its messages are unknown: filed by the draft's messages
