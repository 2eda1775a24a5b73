"""Search by name and words through the trigram indexes (pg_trgm)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.container import Container
from inbox import queries
from intake import db, search
from intake.ingest import file_complaint
from intake.models import Complaint, Event
from tests.conftest import Clock, migration_engine
from tests.integration.inbox.conftest import file_one

Login = Callable[[str], tuple[TestClient, str]]


def _found(client: TestClient, q: str) -> set[str]:
    html = client.get("/inbox", params={"queue": "all", "q": q}).text
    return set(re.findall(r'data-tracking="([^"]+)"', html))


def test_search_finds_a_reporter_by_part_of_the_name(container: Container, as_user: Login) -> None:
    budi = file_one(container, name="Budi Santoso", text="Antrean MPP panjang sekali")
    file_one(container, name="Siti Aminah", contact="whatsapp:+6281234567002", text="Loket tutup siang")
    officer, _ = as_user("officer")
    assert _found(officer, "santo") == {budi.tracking_number}
    assert _found(officer, "SANTOSO budi") == {budi.tracking_number}  # every word, any order and case


def test_search_finds_a_word_inside_a_longer_word(container: Container, as_user: Login) -> None:
    # Indonesian affixes: "izin" must find "perizinan", "layan" must find "pelayanannya".
    a = file_one(container, text="Perizinan usaha saya ditolak tanpa alasan", name="Ani")
    b = file_one(
        container,
        text="Pelayanannya lambat, 2 bulan belum selesai",
        name="Asep",
        contact="whatsapp:+6281234567003",
    )
    officer, _ = as_user("officer")
    assert _found(officer, "izin") == {a.tracking_number}
    assert _found(officer, "layan") == {b.tracking_number}
    # "2" is too short for a trigram index: matched by the LIKE fallback beside the indexed word.
    assert _found(officer, "2 bulan") == {b.tracking_number}
    assert _found(officer, "3 bulan") == set()


def test_search_indonesian_text_with_accents_in_any_case(container: Container, as_user: Login) -> None:
    a = file_one(
        container,
        text="Pegawai loket Cibatu bilang berkas saya « tidak lengkap » — padahal sudah",
        name="Dédé Sétiawan",
    )
    b = file_one(
        container,
        text="Kafé di MPP tutup, ruang tunggu penuh",
        name="Rina",
        contact="whatsapp:+6281234567004",
    )
    officer, _ = as_user("officer")
    assert _found(officer, "SÉTIAWAN") == {a.tracking_number}
    assert _found(officer, "dédé") == {a.tracking_number}
    assert _found(officer, "KAFÉ") == {b.tracking_number}
    assert _found(officer, "« tidak") == {a.tracking_number}


def test_search_with_no_match_shows_the_empty_state(container: Container, as_user: Login) -> None:
    file_one(container, text="Izin PBG belum keluar")
    officer, _ = as_user("officer")
    html = officer.get("/inbox", params={"queue": "all", "q": "retribusi parkir"}).text
    assert "data-tracking=" not in html
    assert "Tidak ada data." in html


def test_names_are_searched_only_by_roles_that_see_personal_data(
    container: Container, as_user: Login
) -> None:
    a = file_one(container, name="Joko Susilo", text="Antrean panjang di loket")
    liaison, _ = as_user("liaison")
    assert _found(liaison, "susilo") == set()
    assert _found(liaison, "antrean") == {a.tracking_number}


def test_anonim_reporter_is_not_found_by_name_by_an_officer(container: Container, as_user: Login) -> None:
    file_one(container, name="Hendra Gunawan", text="Pungutan di loket", anonymous=True)
    officer, _ = as_user("officer")
    head, _ = as_user("head")
    assert _found(officer, "gunawan") == set()  # R5a
    assert len(_found(head, "gunawan")) == 1


def test_index_follows_edits_and_deletes(container: Container, as_user: Login) -> None:
    a = file_one(container, text="Sertifikat halal belum terbit")
    officer, _ = as_user("officer")
    assert _found(officer, "halal") == {a.tracking_number}
    with db.write_session(container.engine) as s:  # as purge does: Core UPDATE, no ORM events
        table = Complaint.__table__  # type: ignore[attr-defined]
        s.execute(sa.update(table).where(table.c.id == a.id).values(text="Izin reklame ditolak"))
    assert _found(officer, "halal") == set()
    assert _found(officer, "reklame") == {a.tracking_number}


def test_tracking_number_search_stays_exact(container: Container, as_user: Login) -> None:
    a = file_one(container)
    b = file_one(container, text=f"Lanjutan dari {file_one(container).tracking_number}")
    officer, _ = as_user("officer")
    assert _found(officer, a.tracking_number) == {a.tracking_number}
    assert b.tracking_number not in _found(officer, a.tracking_number)


def test_word_search_uses_the_index(container: Container) -> None:
    file_one(container, text="Izin PBG belum keluar")
    words = search.words_of("izin keluar")
    with db.session(container.engine) as s:
        stmt = sa.select(Complaint.__table__.c.id).where(  # type: ignore[attr-defined]
            search.words_clause("izin keluar", names=True, hidden=sa.true())
        )
        s.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a tiny table: show the index can serve
        plan = "\n".join(r[0] for r in s.execute(sa.text("EXPLAIN " + _sql(stmt, s))))
        assert "ix_complaint_text_trgm" in plan and "ix_reporter_name_trgm" in plan
    assert words == ["izin", "keluar"]


def _sql(stmt: sa.Select, s: db.Session) -> str:  # type: ignore[type-arg]
    return str(stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))


def test_migration_builds_the_same_search_objects_as_the_models(db_url: str) -> None:
    with migration_engine(db_url, "searchmig") as engine:
        db.upgrade(engine)
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%trgm'")
            ).all()
        defs = {str(name): str(definition) for name, definition in found}
        assert set(defs) == set(search.TRGM_INDEXES)
        assert all("USING gin" in d and "gin_trgm_ops" in d for d in defs.values())


def test_search_clause_keeps_its_other_paths() -> None:
    # Phone and e-mail stay exact lookups on the contact, not word searches.
    clause = queries.search_clause("0812-3456-7011", personal=True, anonymous=False)
    assert "contact_urn" in str(clause)


def test_odd_search_input_is_taken_literally(container: Container, as_user: Login) -> None:
    a = file_one(container, text='Papan bertuliskan "TUTUP*" padahal jam buka; NEAR(loket)')
    officer, _ = as_user("officer")
    for q in ('"', '"""', "*", "TUTUP*", "NEAR(loket)", "a OR b", "'; DROP TABLE complaint; --", "%_%"):
        assert officer.get("/inbox", params={"queue": "all", "q": q}).status_code == 200, q
    assert _found(officer, '"TUTUP*"') == {a.tracking_number}
    assert _found(officer, "NEAR(loket)") == {a.tracking_number}
    assert _found(officer, "tutup OR buka") == set()  # no operators: "OR" is a word that does not occur


def test_search_pages_through_name_and_word_matches_in_due_date_order(
    container: Container, as_user: Login, clock: Clock
) -> None:
    # 60 found by name, 60 by word, received on different days: each lookup has more than a page.
    expected = []
    start = clock.now
    for i in range(120):
        clock.set(start - dt.timedelta(hours=120 - i))
        by_name = i % 2 == 0
        c = file_one(
            container,
            name="Euis Kurniasih" if by_name else f"Warga {i}",
            text="Loket ramai" if by_name else "Kurniasih bilang loket tutup",
            contact=f"whatsapp:+62812345{i:05d}",
            received_at=clock.now,
        )
        expected.append(c.tracking_number)
    clock.set(start)
    file_one(container, name="Asep", text="Tidak ada hubungannya", contact="whatsapp:+6281299999999")
    officer, _ = as_user("officer")

    def page(n: int) -> list[str]:
        html = officer.get("/inbox", params={"queue": "all", "q": "kurnia", "page": str(n)}).text
        return re.findall(r'data-tracking="([^"]+)"', html)

    assert page(1) + page(2) + page(3) == expected  # soonest due first, none lost or repeated
    assert len(page(3)) == 20 and page(4) == []


def test_rows_written_edited_and_deleted_in_one_transaction_are_searched_as_committed(
    container: Container, as_user: Login
) -> None:
    # A row edited or deleted in the transaction that wrote it comes out as committed.
    kept = file_one(container, text="Sertifikat halal belum terbit")
    table = Complaint.__table__  # type: ignore[attr-defined]
    now = container.now()
    with db.write_session(container.engine) as s:
        edited, dropped = (
            file_complaint(
                session=s,
                office=container.office,
                channel="walkin",
                contact_urn=contact,
                text=text,
                received_at=now,
                now=now,
                reporter_name=name,
            )
            for contact, text, name in (
                ("tel:+6281234567009", "Pungutan liar di loket", "Wulan Sari"),
                (None, "Antrean reklame panjang", None),
            )
        )
        s.flush()
        s.execute(sa.update(table).where(table.c.id == edited.id).values(text="Izin reklame ditolak"))
        s.execute(sa.update(table).where(table.c.id == kept.id).values(text="Sertifikat halal sudah terbit"))
        events = Event.__table__  # type: ignore[attr-defined]
        s.execute(sa.delete(events).where(events.c.complaint_id == dropped.id))
        s.execute(sa.delete(table).where(table.c.id == dropped.id))
    officer, _ = as_user("officer")
    assert _found(officer, "reklame") == {edited.tracking_number}
    assert _found(officer, "pungutan") == set()
    assert _found(officer, "sudah terbit") == {kept.tracking_number}
    assert _found(officer, "belum") == set()


def _numbers(engine: sa.Engine, word: str) -> set[str]:
    """The tracking numbers whose text has ``word``, through the search index."""
    with db.session(engine) as s:
        clause = search.words_clause(word, names=False, hidden=sa.false())
        number = Complaint.__table__.c.tracking_number  # type: ignore[attr-defined]
        return {str(r[0]) for r in s.execute(sa.select(number).where(clause))}


def test_rows_another_program_wrote_are_searchable(container: Container) -> None:
    raw = container.engine.raw_connection()  # the driver alone, as psql would
    try:
        cursor = raw.cursor()
        cursor.execute(
            "INSERT INTO complaint (office, tracking_number, year, seq, kind, reasons, channel, anonymous, "
            "text, received_at, due_date, status, created_at, updated_at) VALUES ('pwk', 'PWK-2026-900001', "
            "2026, 900001, 'complaint', '', 'letter', false, 'Retribusi parkir liar di depan MPP', "
            "'2026-11-02 02:00:00', '2026-11-20', 'received', '2026-11-02 02:00:00', '2026-11-02 02:00:00')"
        )
        raw.commit()
    finally:
        raw.close()
    assert _numbers(container.engine, "parkir") == {"PWK-2026-900001"}
