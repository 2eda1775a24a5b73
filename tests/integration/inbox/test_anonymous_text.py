"""SPEC R5a: an ANONIM reporter's name typed into the message is masked for roles that may not see it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import select

from app.container import Container
from inbox import auth
from inbox.app import create_app
from intake import db, rules
from intake.models import Complaint, User
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat

FIRST = "Nama saya Bambang Sutrisno, ANONIM. Petugas loket PBG meminta uang tambahan di luar tarif resmi"


def anonim_complaint(container: Container, clock: Clock, *, command: bool = True) -> str:
    """File, through the chat, an ANONIM complaint whose first message names the reporter.

    ``command``: the citizen also sends ANONIM alone; without it the word inside the first message
    is the request.
    """
    chat = Chat(container, clock, "whatsapp", n=41)
    for text in (FIRST, "ANONIM", "tidak tahu", "ya") if command else (FIRST, "tidak tahu", "ya"):
        chat.send(text)
    [complaint] = chat.complaints()
    assert complaint.anonymous
    return complaint.tracking_number


def test_r5a_name_in_an_anonim_first_message_is_masked_for_officers(
    container: Container,
    clock: Clock,
    staff: dict[str, User],
    as_user: Callable[[str], tuple[TestClient, str]],
) -> None:
    tracking = anonim_complaint(container, clock)
    officer, _ = as_user("officer")
    page = officer.get(f"/inbox/c/{tracking}")
    assert page.status_code == 200 and "tarif resmi" in page.text
    assert "Bambang" not in page.text and "Sutrisno" not in page.text
    assert rules.NAME_MASK in page.text
    fragment = officer.get(f"/inbox/c/{tracking}/timeline")
    assert "Bambang" not in fragment.text
    queue = officer.get("/inbox")
    assert "Bambang" not in queue.text  # the queue's excerpt of the complaint text


def test_r5a_name_in_an_anonim_first_message_is_masked_in_the_api(
    container: Container, clock: Clock, staff: dict[str, User]
) -> None:
    tracking = anonim_complaint(container, clock)
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=staff["auditor"], name="uji", now=clock())
    api = TestClient(create_app(container), headers={"Authorization": f"Bearer {token}"})
    doc = api.get(f"/api/v1/complaints/{tracking}").json()
    assert "Bambang" not in str(doc) and "tarif resmi" in doc["text"]


def test_r5a_head_still_sees_who_the_anonim_reporter_is(
    container: Container,
    clock: Clock,
    staff: dict[str, User],
    as_user: Callable[[str], tuple[TestClient, str]],
) -> None:
    tracking = anonim_complaint(container, clock)
    head, _ = as_user("head")
    page = head.get(f"/inbox/c/{tracking}")
    assert "Bambang Sutrisno" in page.text  # the reporter box and their own message


def test_mask_name_masks_the_full_name_and_its_words() -> None:
    masked = rules.mask_name("Saya BAMBANG sutrisno. Pak Bambang minta tolong", "Bambang Sutrisno")
    assert masked == f"Saya {rules.NAME_MASK}. Pak {rules.NAME_MASK} minta tolong"
    assert rules.mask_name("Izin Bambangan", "Bambang") == "Izin Bambangan"  # whole words only


def test_r5a_anonim_inside_the_first_message_alone_makes_the_record_anonymous(
    container: Container, clock: Clock
) -> None:
    tracking = anonim_complaint(container, clock, command=False)
    with db.session(container.engine) as s:
        complaint = s.exec(select(Complaint).where(Complaint.tracking_number == tracking)).one()
    assert complaint.anonymous and "Bambang" not in complaint.text and "tarif resmi" in complaint.text
