"""The one-page satisfaction survey form ``/survei/{token}`` (E1), linked from the invitation.

Plain HTML, no JavaScript: nine radio groups (U1–U9, 1–4) and a comment box posted as an ordinary
form. The token is the invitation's nonce signed with the survey secret (``bot.survey.sign``), so
a guessed or altered link is refused before the database is asked.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.container import Container
from bot import survey
from inbox.deps import ContainerDep
from intake import db, ikm

log = logging.getLogger("aduan.survey")

#: Largest form body accepted (nine digits and a comment of at most 2000 characters fit easily).
MAX_BODY = 16_384

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_PAGE = _env.from_string(
    """<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Survei Kepuasan Masyarakat — {{ office }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:1rem auto;padding:0 1rem;line-height:1.4}
fieldset{border:1px solid #ccc;border-radius:6px;margin:0 0 1rem;padding:.5rem 1rem}
legend{font-weight:600;padding:0 .25rem}
label{display:block;padding:.2rem 0}
.error{background:#fde8e8;border:1px solid #c81e1e;padding:.5rem 1rem;border-radius:6px}
.missing{border-color:#c81e1e}
textarea{width:100%;min-height:5rem}
button{font-size:1rem;padding:.5rem 1.5rem}
</style>
</head>
<body>
<h1>Survei Kepuasan Masyarakat</h1>
<p>{{ office }}</p>
{% if message %}<p{% if error %} class="error" role="alert"{% endif %}>{{ message }}</p>{% endif %}
{% if show_form %}
<p>Mohon nilai layanan kami. Pilih satu jawaban untuk setiap pertanyaan (1 = terendah, 4 = tertinggi).</p>
<form method="post" action="{{ action }}">
{% for element in elements %}
<fieldset{% if element.code in missing %} class="missing"{% endif %}>
<legend>{{ loop.index }}. {{ element.name }}</legend>
<p>{{ element.question }}</p>
{% for answer in element.answers %}
<label><input type="radio" name="{{ element.code|lower }}" value="{{ loop.index }}" required
{%- if chosen.get(element.code) == loop.index %} checked{% endif %}> {{ loop.index }} — {{ answer }}</label>
{% endfor %}
</fieldset>
{% endfor %}
<fieldset>
<legend>Saran dan komentar (tidak wajib)</legend>
<textarea name="comment" maxlength="{{ comment_max }}">{{ comment }}</textarea>
</fieldset>
<button type="submit">Kirim penilaian</button>
</form>
{% endif %}
</body>
</html>
"""
)


def render(
    container: Container,
    *,
    token: str = "",
    message: str = "",
    error: bool = False,
    show_form: bool = True,
    chosen: dict[str, int] | None = None,
    missing: tuple[str, ...] = (),
    comment: str = "",
) -> str:
    """Render the survey page: the form, an error above it, or only a message."""
    return _PAGE.render(
        office=container.office.name,
        action=f"/survei/{token}",
        message=message,
        error=error,
        show_form=show_form,
        elements=ikm.ELEMENTS,
        chosen=chosen or {},
        missing=missing,
        comment=comment,
        comment_max=survey.COMMENT_MAX,
    )


def _open(container: Container, token: str, now: dt.datetime) -> tuple[survey.SurveyInvitation | None, str]:
    """Return the open invitation of a token, or None and the page to show instead."""
    secret = survey.configured().secret
    nonce = survey.unsign(token, secret) if secret else None
    if nonce is None:
        return None, "not_found"
    with db.session(container.engine) as s:
        invitation = survey.find_by_nonce(s, nonce)
    if invitation is None or invitation.office != container.office.code:
        return None, "not_found"
    if invitation.state == survey.COMPLETED:
        return None, "done"
    if not survey.is_open(invitation, now):
        return None, "closed"
    return invitation, ""


_CLOSED_PAGES = {
    "not_found": (404, "Tautan survei tidak dikenal. Periksa kembali tautan pada pesan undangan."),
    "done": (200, "Survei ini sudah diisi. Terima kasih atas penilaian Saudara."),
    "closed": (410, "Masa pengisian survei ini sudah berakhir. Terima kasih."),
}


router = APIRouter(tags=["survey"])


def closed(container: Container, reason: str) -> HTMLResponse:
    """Answer with the page of a closed, completed or unknown survey."""
    status, text = _CLOSED_PAGES[reason]
    page = render(container, message=text, show_form=False, error=status >= 400)
    return HTMLResponse(page, status_code=status)


@router.get("/survei/{token}", response_class=HTMLResponse)
def survey_page(token: str, container: ContainerDep) -> HTMLResponse:
    """Show the nine questions of the survey."""
    invitation, reason = _open(container, token, container.now())
    if invitation is None:
        return closed(container, reason)
    return HTMLResponse(render(container, token=token))


@router.post("/survei/{token}", response_class=HTMLResponse)
async def survey_submit(token: str, request: Request, container: ContainerDep) -> HTMLResponse:
    """Store the answers of the form; show the form again with what is missing."""
    now = container.now()
    invitation, reason = _open(container, token, now)
    if invitation is None:
        return closed(container, reason)
    body = await request.body()
    if len(body) > MAX_BODY:
        page = render(container, message="Isian terlalu panjang.", error=True, show_form=False)
        return HTMLResponse(page, status_code=413)
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    chosen: dict[str, int] = {}
    for element in ikm.ELEMENTS:
        value = ikm.parse_answer((fields.get(element.code.lower()) or [""])[0])
        if value is not None:
            chosen[element.code] = value
    comment = (fields.get("comment") or [""])[0][: survey.COMMENT_MAX]
    missing = tuple(code for code in ikm.ELEMENT_CODES if code not in chosen)
    if missing:
        numbers = ", ".join(code[1:] for code in missing)
        page = render(
            container,
            token=token,
            message=f"Mohon jawab pertanyaan nomor {numbers}.",
            error=True,
            chosen=chosen,
            missing=missing,
            comment=comment,
        )
        return HTMLResponse(page, status_code=400)
    with db.write_session(container.engine) as s:
        fresh = s.get(survey.SurveyInvitation, invitation.id)
        assert fresh is not None
        try:
            survey.submit(
                s,
                fresh,
                scores=[chosen[c] for c in ikm.ELEMENT_CODES],
                comment=comment,
                via=survey.VIA_WEB,
                now=now,
            )
        except survey.SurveyClosed:
            return closed(container, "done")
    return HTMLResponse(render(container, message=survey.THANKS, show_form=False))
