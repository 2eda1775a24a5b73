"""E1: the satisfaction survey by chat (SMS and WhatsApp), invitations and re-asks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import select

from app.container import Container
from bot import survey
from intake import db, ikm
from tests.integration.evaluation.helpers import at, chat, complaint, outbox_to

RATINGS = [4, 3, 4, 4, 3, 4, 4, 3, 4]


def _invite(container: Container, channel: str, urn: str) -> survey.SurveyInvitation:
    now = container.now()
    with db.write_session(container.engine) as s:
        received = now - dt.timedelta(days=5)
        row = complaint(s, container, received=received, channel=channel, urn=urn, answered=now)
        invitation = survey.invite(s, row, now)
        assert invitation is not None
    return invitation


def _responses(container: Container) -> list[survey.SurveyResponse]:
    with db.session(container.engine) as s:
        return list(s.exec(select(survey.SurveyResponse).order_by(survey.SurveyResponse.id)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "urn"), [("sms", "tel:+6281234500011"), ("whatsapp", "whatsapp:+6281234500012")]
)
def test_e1_survey_by_chat_answers_nine_elements_and_a_comment(
    container: Container, channel: str, urn: str
) -> None:
    invitation = _invite(container, channel, urn)
    sent = outbox_to(container, urn)
    assert [m.purpose for m in sent] == ["survey"]
    assert sent[0].channel == channel
    assert sent[0].template == "survei_kepuasan"
    link = json.loads(sent[0].template_vars)["link"]
    assert link.startswith("http://127.0.0.1:8000/survei/") and invitation.nonce in link
    assert "Balas YA" in sent[0].text

    assert chat(container, channel, urn, "Ya")
    for rating in RATINGS:
        assert chat(container, channel, urn, str(rating))
    assert chat(container, channel, urn, "Petugasnya ramah, terima kasih")

    [response] = _responses(container)
    assert response.scores == tuple(RATINGS)
    assert response.comment == "Petugasnya ramah, terima kasih"
    assert response.via == "chat" and response.channel == channel
    assert response.complaint_id == invitation.complaint_id
    texts = [m.text for m in outbox_to(container, urn)]
    # invitation, nine questions, the comment prompt, thanks: each on the citizen's own channel
    assert len(texts) == 12
    assert texts[1].startswith("(1/9) ") and texts[9].startswith("(9/9) ")
    assert texts[10] == survey.COMMENT_PROMPT and texts[11] == survey.THANKS
    assert {m.channel for m in outbox_to(container, urn)} == {channel}
    # a message after the survey is closed is no longer the survey's
    assert not chat(container, channel, urn, "4")


def test_e1_invalid_survey_answers_are_asked_again(container: Container) -> None:
    urn = "whatsapp:+6281234500013"
    _invite(container, "whatsapp", urn)
    assert chat(container, "whatsapp", urn, "mulai")
    assert chat(container, "whatsapp", urn, "4")
    for bad in ("5", "bagus sekali"):
        assert chat(container, "whatsapp", urn, bad)
        last = outbox_to(container, urn)[-1]
        assert "tidak dikenali" in last.text and "(2/9)" in last.text
    assert chat(container, "whatsapp", urn, "3.")  # the re-asked question takes a valid answer
    assert outbox_to(container, urn)[-1].text.startswith("(3/9) ")
    for rating in RATINGS[2:]:
        assert chat(container, "whatsapp", urn, str(rating))
    assert chat(container, "whatsapp", urn, "-")
    [response] = _responses(container)
    assert response.scores == (4, 3, *RATINGS[2:])
    assert response.comment is None


def test_e1_repeated_invalid_answers_pause_the_survey_and_free_the_message(container: Container) -> None:
    urn = "tel:+6281234500014"
    _invite(container, "sms", urn)
    assert chat(container, "sms", urn, "ya")
    assert chat(container, "sms", urn, "2")
    assert chat(container, "sms", urn, "apa?")
    assert chat(container, "sms", urn, "hmm")
    # the third answer in a row that is no rating is likely a new matter: the dialogue gets it
    assert not chat(container, "sms", urn, "Saya mau mengadukan parkir liar di kantor")
    assert survey.PAUSED_TEXT in [m.text for m in outbox_to(container, urn)]
    assert chat(container, "sms", urn, "SURVEI")  # resumes where it stopped
    assert outbox_to(container, urn)[-1].text.startswith("(2/9) ")


def test_e1_stop_declines_the_survey(container: Container) -> None:
    urn = "tel:+6281234500015"
    invitation = _invite(container, "sms", urn)
    assert chat(container, "sms", urn, "STOP")
    with db.session(container.engine) as s:
        fresh = s.get(survey.SurveyInvitation, invitation.id)
        assert fresh is not None and fresh.state == survey.DECLINED
    assert not chat(container, "sms", urn, "ya")
    assert _responses(container) == []


@pytest.mark.parametrize(("answer", "state"), [("Muhun", survey.IN_PROGRESS), ("henteu", survey.DECLINED)])
def test_e1_sundanese_yes_starts_and_no_declines_the_survey(
    container: Container, answer: str, state: str
) -> None:
    urn = "tel:+6281234500019"
    invitation = _invite(container, "sms", urn)
    assert chat(container, "sms", urn, answer)
    with db.session(container.engine) as s:
        fresh = s.get(survey.SurveyInvitation, invitation.id)
        assert fresh is not None and fresh.state == state


def test_e1_message_without_a_started_survey_goes_to_the_dialogue(container: Container) -> None:
    urn = "tel:+6281234500016"
    assert not chat(container, "sms", urn, "4")  # never invited
    _invite(container, "sms", urn)
    assert not chat(container, "sms", urn, "Izin reklame saya kapan selesai?")  # invited, not started


def test_e1_nobody_is_invited_twice_in_a_quarter(container: Container) -> None:
    urn = "tel:+6281234500017"
    _invite(container, "sms", urn)
    now = container.now()
    with db.write_session(container.engine) as s:
        second = complaint(s, container, received=now - dt.timedelta(days=2), urn=urn, answered=now)
        assert survey.invite(s, second, now) is None


def test_e1_no_invitation_without_a_reachable_contact(container: Container) -> None:
    now = container.now()
    with db.write_session(container.engine) as s:
        box = complaint(s, container, received=now, channel="box", urn=None, answered=now)
        web_only = complaint(s, container, received=now, channel="web", urn="web:anon-123", answered=now)
        assert survey.invite(s, box, now) is None
        assert survey.invite(s, web_only, now) is None


def test_e1_answered_complaints_are_invited_after_the_delay(container: Container, clock) -> None:  # type: ignore[no-untyped-def]
    now = container.now()
    with db.write_session(container.engine) as s:
        complaint(s, container, received=now - dt.timedelta(days=3), urn="tel:+6281234500018", answered=now)
        complaint(s, container, received=now - dt.timedelta(days=3), urn="tel:+6281234500019")  # not answered
    assert survey.invite_due(container) == 0  # the answer has to arrive first
    clock.advance(minutes=61)
    assert survey.invite_due(container) == 1
    assert survey.invite_due(container) == 0  # once
    [sent] = outbox_to(container, "tel:+6281234500018")
    assert sent.purpose == "survey" and sent.next_attempt_at == clock.now
    assert outbox_to(container, "tel:+6281234500019") == []


def test_e1_quarterly_invitations_reach_everyone_of_the_quarter_once(container: Container, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(at("2026-12-10", 9))
    with db.write_session(container.engine) as s:
        complaint(s, container, received=at("2026-10-05"), urn="tel:+6281234500021")
        complaint(s, container, received=at("2026-11-05"), urn="tel:+6281234500021", channel="sms")
        complaint(
            s,
            container,
            received=at("2026-11-20"),
            urn="whatsapp:+6281234500022",
            channel="whatsapp",
            name=None,
        )  # a saran: its sender was served too
        complaint(s, container, received=at("2026-09-30"), urn="tel:+6281234500023")  # last quarter
    assert survey.quarterly_due(clock.now.date())
    assert survey.run_scheduled(container) == {"answered": 0, "quarterly": 2}
    assert survey.invite_quarter(container) == 0
    assert len(outbox_to(container, "tel:+6281234500021")) == 1
    assert outbox_to(container, "whatsapp:+6281234500022")[0].channel == "whatsapp"
    assert outbox_to(container, "tel:+6281234500023") == []
    with db.session(container.engine) as s:
        periods = set(s.exec(select(survey.SurveyInvitation.period)))
    assert periods == {"2026-Q4"}


def test_e1_response_needs_nine_ratings_from_one_to_four(container: Container) -> None:
    invitation = _invite(container, "sms", "tel:+6281234500024")
    with db.write_session(container.engine) as s:
        fresh = s.get(survey.SurveyInvitation, invitation.id)
        assert fresh is not None
        with pytest.raises(ikm.InvalidRating):
            survey.submit(s, fresh, scores=[4] * 8, comment=None, via="web", now=container.now())
        with pytest.raises(ikm.InvalidRating):
            survey.submit(s, fresh, scores=[4] * 8 + [5], comment=None, via="web", now=container.now())


@pytest.mark.parametrize(
    ("channel", "sender", "to"),
    [
        ("sms", "+6281234500051", "+6281809898222"),
        ("whatsapp", "whatsapp:+6281234500052", "whatsapp:+6281809898222"),
    ],
)
def test_e1_survey_through_the_twilio_webhook_pipeline(
    container: Container, channel: str, sender: str, to: str
) -> None:
    from urllib.parse import urlencode

    from channels.base import RawRequest
    from jobs.pipeline import receive

    urn = f"tel:{sender}" if channel == "sms" else sender
    _invite(container, channel, urn)
    for i, text in enumerate(["Ya", "9", *map(str, RATINGS), "Mantap"]):
        form = {
            "MessageSid": f"SM{channel}{i:030d}",
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "To": to,
            "Body": text,
            "NumMedia": "0",
        }
        headers = {"content-type": "application/x-www-form-urlencoded"}
        raw = RawRequest(body=urlencode(form).encode(), headers=headers)
        assert receive(container, channel, raw, verify=False).status == 200
    [response] = _responses(container)
    assert response.scores == tuple(RATINGS) and response.comment == "Mantap"
    texts = [m.text for m in outbox_to(container, urn)]
    assert any(t.startswith("Maaf, jawaban tidak dikenali") for t in texts)  # the "9" was asked again
    assert texts[-1] == survey.THANKS


def test_e1_yes_during_a_dialogue_report_stays_with_the_dialogue(container: Container) -> None:
    pytest.importorskip("bot.dialogue")
    urn = "whatsapp:+6281234500053"
    _invite(container, "whatsapp", urn)
    assert not chat(container, "whatsapp", urn, "Saya mau lapor, izin reklame saya belum keluar")
    assert not chat(container, "whatsapp", urn, "ya")  # answers the dialogue, not the survey
    assert chat(container, "whatsapp", urn, "SURVEI")  # the explicit word starts the survey
    assert outbox_to(container, urn)[-1].text.startswith("(1/9) ")
