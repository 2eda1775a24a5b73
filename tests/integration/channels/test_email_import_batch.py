"""The mailbox import's batches (``cli.mail_batch``) keep the record the pipeline keeps mail by mail (R2g)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.container import Container
from cli import mail_batch, mail_import
from cli.mail_import import import_mailbox
from tests.conftest import ROOT
from tests.integration.channels.test_email_import import OFFICE, mail
from tests.mailgen import corpus, write_mbox

FIXTURES = sorted((ROOT / "tests" / "fixtures" / "email").glob("*.eml"))


@pytest.fixture(autouse=True)
def _email_enabled(config_data: dict[str, Any]) -> None:
    config_data["channels"]["email"].update(enabled=True, address=OFFICE)


def threads(prefix: str) -> list[bytes]:
    """Complaints and the replies that join them in the same batch, the next one, by subject or not."""
    day = "Mon, 2 Feb 2026 09:00:00 +0700"
    later = "Tue, 3 Feb 2026 09:00:00 +0700"
    made = [
        mail("t1", "Budi Santoso <budi@example.test>", "Izin PBG", "Izin PBG saya belum keluar.", day),
        mail("t2", "Siti <siti@example.test>", "Petugas", "Petugas loket tidak ramah.", day),
        mail(
            "t3",
            "Budi Santoso <budi@example.test>",
            "Re: Izin PBG",
            "Sudah seminggu.",
            later,
            References="<t1@example.test>",
        ),
        mail("t4", "Siti <siti@example.test>", f"Re: [{prefix}-2026-000002]", "Masih sama.", later),
        mail("t5", "Joko <joko@example.test>", f"Re: [{prefix}-2026-000001]", "Saya juga.", later),
        mail("t6", "Budi S. <budi@example.test>", "Retribusi", "Retribusi parkir terlalu mahal.", later),
        mail("t7", "budi@example.test", "Antrean", "Antrean loket panjang sekali.", later),
    ]
    made += [
        mail(
            "t8",
            "Budi <budi@example.test>",
            "Re: Izin PBG",
            "Tolong dibantu.",
            later,
            References="<t3@example.test>",
        ),
        mail(
            "t9",
            "Rina <rina@example.test>",
            "Re: Petugas",
            "Ini balasan saya.",
            later,
            References="<t2@example.test> <nope@example.test>",
        ),
    ]
    return [bytes(m) for m in made]


def dump(container: Container) -> dict[str, Any]:
    """The whole record, ids replaced by what names them (Message-ID, tracking number, name)."""
    with container.engine.connect() as conn:

        def rows(sql: str) -> list[Any]:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

        message_ids = dict(rows("SELECT id, external_id FROM message"))

        def named(note: str | None) -> str | None:
            return (
                re.sub(r"#(\d+)", lambda m: message_ids.get(int(m.group(1)), m.group(0)), note)
                if note
                else note
            )

        return {
            "raw": sorted(
                rows("SELECT external_id, status, error, office, received_at, processed_at FROM raw_inbound")
            ),
            "messages": sorted(
                rows(
                    "SELECT m.external_id, r.external_id, m.sender_urn, m.text, m.attachments, m.received_at,"
                    " c.tracking_number FROM message m LEFT JOIN raw_inbound r ON r.id = m.raw_id"
                    " LEFT JOIN complaint c ON c.id = m.complaint_id"
                )
            ),
            "complaints": sorted(
                rows(
                    "SELECT c.tracking_number, c.office, c.year, c.seq, c.kind, c.reasons, c.channel, p.name,"
                    " p.anonymous, c.contact_urn, c.text, c.suggested_service_code, c.suggested_problem_type,"
                    " c.received_at, c.due_date, c.status, c.next_checkpoint_at, c.created_at, c.updated_at"
                    " FROM complaint c LEFT JOIN reporter p ON p.id = c.reporter_id"
                )
            ),
            "events": sorted(
                (number, at, actor, action, field, new, named(note))
                for number, at, actor, action, field, new, note in rows(
                    "SELECT c.tracking_number, e.at, e.actor, e.action, e.field, e.new_value, e.note"
                    " FROM event e JOIN complaint c ON c.id = e.complaint_id"
                )
            ),
            "contacts": sorted(
                rows(
                    "SELECT k.urn, k.channel, k.display_name, k.last_inbound_at, p.name"
                    " FROM contact k LEFT JOIN reporter p ON p.id = k.reporter_id"
                )
            ),
            "reporters": sorted(rows("SELECT name, anonymous FROM reporter"), key=repr),
            "counters": sorted(rows("SELECT prefix, year, last_seq FROM tracking_counter")),
            "imports": rows("SELECT position, total, imported, duplicates, quarantined FROM email_import"),
        }


def wipe(container: Container) -> None:
    with container.engine.begin() as conn:
        for table in (
            "event",
            "message",
            "complaint",
            "contact",
            "reporter",
            "raw_inbound",
            "tracking_counter",
            "email_import",
            "rejection",
        ):
            conn.execute(sa.text(f"DELETE FROM {table}"))


def test_r2g_batches_keep_the_record_the_pipeline_keeps_mail_by_mail(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = threads(container.office.tracking_prefix) + [p.read_bytes() for p in FIXTURES] + corpus(120)
    path = write_mbox(bodies, tmp_path / "takeout.mbox")
    careful = [0]
    real_receive = mail_import.receive_many

    def counted(*args: Any, **kwargs: Any) -> Any:
        careful[0] += 1
        return real_receive(*args, **kwargs)

    monkeypatch.setattr(mail_import, "receive_many", counted)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise mail_batch.NotForBatch("this test takes every batch mail by mail")

    with monkeypatch.context() as patched:
        patched.setattr(mail_batch, "import_batch", refuse)
        one_by_one = import_mailbox(container, "mbox", path, batch_size=7, parse_ahead=False)
    expected = dump(container)
    batches = careful[0]
    wipe(container)
    careful[0] = 0
    batched = import_mailbox(container, "mbox", path, batch_size=7, parse_ahead=False)
    assert careful[0] < batches / 4, "most batches took the batch path"
    assert (batched.imported, batched.quarantined) == (one_by_one.imported, one_by_one.quarantined)
    got = dump(container)
    for part in expected:
        assert got[part] == expected[part], part
    threaded = {m[0]: m[6] for m in got["messages"]}
    assert threaded["<t3@example.test>"] == threaded["<t1@example.test>"] == threaded["<t8@example.test>"]
    assert threaded["<t4@example.test>"] == threaded["<t2@example.test>"] == threaded["<t9@example.test>"]
    assert threaded["<t5@example.test>"] not in (None, threaded["<t1@example.test>"])  # another sender
    again = import_mailbox(container, "mbox", path, batch_size=7, restart=True)
    assert again.imported == 0 and again.duplicates + again.quarantined == len(bodies)  # nothing doubled
