"""SPEC R5a: an ANONIM reporter's name typed into the message is masked for roles that may not see it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from app.container import Container
from inbox import auth
from inbox.app import create_app
from intake import db, rules
from intake.models import User
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat

FIRST = "Nama saya Bambang Sutrisno, ANONIM. Petugas loket PBG meminta uang tambahan di luar tarif resmi"


def anonim_complaint(container: Container, clock: Clock) -> str:
    """File, through the chat, an ANONIM complaint whose first message names the reporter."""
    chat = Chat(container, clock, "whatsapp", n=41)
    for text in (FIRST, "ANONIM", "tidak tahu", "ya"):
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
