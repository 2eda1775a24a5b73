"""E1: the one-page survey form ``/survei/{token}`` (signed token, works without JavaScript)."""

from __future__ import annotations

import datetime as dt
import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.container import Container
from bot import survey
from inbox import survey_form
from intake import db
from tests.integration.evaluation.helpers import complaint, outbox_to

URN = "whatsapp:+6281234500031"


def _client(container: Container) -> TestClient:
    app = FastAPI()
    app.state.container = container
    app.include_router(survey_form.router)
    return TestClient(app)


def _link_path(container: Container) -> str:
    now = container.now()
    with db.write_session(container.engine) as s:
        received = now - dt.timedelta(days=4)
        row = complaint(s, container, received=received, channel="whatsapp", urn=URN, answered=now)
        assert survey.invite(s, row, now) is not None
    link = json.loads(outbox_to(container, URN)[0].template_vars)["link"]
    return "/" + link.split("/", 3)[3]


def _form(ratings: list[int], comment: str = "") -> dict[str, str]:
    data = {f"u{i + 1}": str(v) for i, v in enumerate(ratings)}
    data["comment"] = comment
    return data


def test_e1_web_form_shows_nine_questions_without_javascript(container: Container) -> None:
    page = _client(container).get(_link_path(container))
    assert page.status_code == 200
    assert "<script" not in page.text
    assert page.text.count('type="radio"') == 36
    assert 'method="post"' in page.text and "Penanganan pengaduan" in page.text


def test_e1_web_form_stores_the_response(container: Container) -> None:
    client = _client(container)
    path = _link_path(container)
    ratings = [3, 3, 2, 4, 3, 4, 4, 4, 2]
    answer = client.post(path, data=_form(ratings, "Ruang tunggu panas & sempit <mohon AC>"))
    assert answer.status_code == 200
    assert survey.THANKS in answer.text
    with db.session(container.engine) as s:
        [response] = s.exec(select(survey.SurveyResponse)).all()
    assert response.scores == tuple(ratings)
    assert response.via == "web" and response.channel == "whatsapp"
    assert response.comment == "Ruang tunggu panas & sempit <mohon AC>"
    again = client.get(path)
    assert "sudah diisi" in again.text and 'type="radio"' not in again.text
    assert client.post(path, data=_form(ratings)).status_code == 200  # a second post changes nothing
    with db.session(container.engine) as s:
        assert len(s.exec(select(survey.SurveyResponse)).all()) == 1


def test_e1_web_form_missing_answer_is_asked_again_with_choices_kept(container: Container) -> None:
    client = _client(container)
    path = _link_path(container)
    data = _form([4, 4, 4, 4, 4, 4, 4, 4, 4], "Bagus")
    del data["u3"]
    data["u7"] = "9"
    page = client.post(path, data=data)
    assert page.status_code == 400
    assert "pertanyaan nomor 3, 7." in page.text
    assert page.text.count("checked") == 7
    assert "Bagus</textarea>" in page.text
    with db.session(container.engine) as s:
        assert s.exec(select(survey.SurveyResponse)).all() == []


def test_e1_web_form_refuses_a_forged_token(container: Container) -> None:
    client = _client(container)
    path = _link_path(container)
    nonce, _, _sig = path.rsplit("/", 1)[1].partition(".")
    assert client.get(f"/survei/{nonce}.AAAAAAAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert client.get(f"/survei/{nonce}").status_code == 404
    forged = client.post(f"/survei/{nonce}.x", data=_form([4] * 9))
    assert forged.status_code == 404


def test_e1_web_form_closes_when_the_invitation_expires(container: Container, clock) -> None:  # type: ignore[no-untyped-def]
    client = _client(container)
    path = _link_path(container)
    clock.advance(days=15)
    assert client.get(path).status_code == 410
    assert client.post(path, data=_form([4] * 9)).status_code == 410
