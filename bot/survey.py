"""The satisfaction survey (*Survei Kepuasan Masyarakat*, E1): invitations, the chat flow, responses.

A citizen whose complaint was answered (and, four times a year, everyone who contacted the office
in the quarter) is invited on their own channel, through the ``survei_kepuasan`` WhatsApp template
outside the 24-hour window. They answer the nine elements of PermenPANRB 14/2017 (``intake.ikm``)
either by chat, one digit 1–4 per short question, or on the one-page web form ``/survei/{token}``
(``inbox/survey_form.py``). The chat flow is a message hook that runs before the dialogue: it takes
only the messages of a citizen who has an open survey, and re-asks instead of failing on a bad answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from app.settings import ConfigError
from bot.dialogue import IDLE, DialogueDraft
from intake import db, ikm, workflow
from intake.calendar import JAKARTA
from intake.ingest import IngestResult, run
from intake.models import (
    STATUS_ANSWERED,
    STATUS_CLOSED,
    STATUS_MERGED,
    STATUS_REPORTED,
    Complaint,
    ts,
    utcnow,
)
from intake.office import normalise_text
from intake.rules import KIND_PENGADUAN
from outbound import outbox

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from app.container import Container
    from app.settings import Settings

log = logging.getLogger("aduan.survey")

# -- states of an invitation --------------------------------------------------------------------
INVITED = "invited"  # sent, not started (or paused after repeated invalid answers)
IN_PROGRESS = "in_progress"  # answering U1–U9 by chat
COMMENT = "comment"  # the nine ratings are in; waiting for the optional comment
COMPLETED = "completed"
DECLINED = "declined"
OPEN_STATES = (INVITED, IN_PROGRESS, COMMENT)

REASON_ANSWERED = "answered"  # after the complaint's answer (R8)
REASON_QUARTERLY = "quarterly"  # E1: four times a year

VIA_CHAT = "chat"
VIA_WEB = "web"

TEMPLATE = "survei_kepuasan"
PURPOSE = "survey"

START_WORDS = frozenset(
    {"ya", "iya", "y", "yes", "mulai", "survei", "survey", "ok", "oke", "bersedia", "lanjut"}
    | {"muhun", "sumuhun", "mangga", "enya"}  # Sundanese, as the dialogue reads them
)
STOP_WORDS = frozenset(
    {"stop", "batal", "berhenti", "tidak", "tidak bersedia", "no", "unsubscribe"}
    | {"henteu", "moal", "embung"}  # Sundanese: no, will not, do not want
)
#: Start words that can only mean the survey, even while the dialogue is asking its own questions.
EXPLICIT_START = frozenset({"survei", "survey"})
SKIP_WORDS = frozenset({"-", "0", "tidak", "tidak ada", "lewati", "skip", "batal", "stop", "cukup", "tdk"})
COMMENT_MAX = 2000


class SurveyInvitation(SQLModel, table=True):
    """One invitation to the survey, with the chat progress of whoever answers it."""

    __tablename__ = "survey_invitation"
    __table_args__ = (
        # At most one invitation per person per quarter: a citizen with two answered complaints in
        # the quarter is asked once (E1 is a quarterly survey, not a per-message poll).
        sa.UniqueConstraint("office", "contact_urn", "period", name="uq_survey_invitation_contact_period"),
        sa.Index("ix_survey_invitation_open", "contact_urn", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(default="default", max_length=32)
    nonce: str = Field(max_length=64, unique=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    contact_urn: str = Field(max_length=255)
    channel: str = Field(max_length=32)
    service_code: str | None = Field(default=None, max_length=32)
    reason: str = Field(default=REASON_ANSWERED, max_length=16)
    period: str = Field(max_length=8)  # quarter of the invitation, "2026-Q4"
    state: str = Field(default=INVITED, max_length=16)
    answers: str = Field(default="", max_length=16)  # digits given so far by chat, "4431"
    invalid_count: int = 0
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    invited_at: dt.datetime = ts(nullable=False, default=utcnow)
    expires_at: dt.datetime = ts(nullable=False, default=utcnow)
    started_at: dt.datetime | None = ts()
    completed_at: dt.datetime | None = ts()


class SurveyResponse(SQLModel, table=True):
    """One respondent's nine ratings (U1–U9, each 1–4) and optional comment."""

    __tablename__ = "survey_response"

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(default="default", max_length=32, index=True)
    invitation_id: int | None = Field(default=None, foreign_key="survey_invitation.id", unique=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    service_code: str | None = Field(default=None, max_length=32)
    channel: str = Field(max_length=32)  # the channel the invitation went on
    via: str = Field(default=VIA_CHAT, max_length=8)  # chat or web
    u1: int
    u2: int
    u3: int
    u4: int
    u5: int
    u6: int
    u7: int
    u8: int
    u9: int
    comment: str | None = Field(default=None, sa_type=sa.Text)
    period: str = Field(max_length=8, index=True)  # quarter of submission, "2026-Q4"
    submitted_at: dt.datetime = ts(nullable=False, index=True, default=utcnow)

    @property
    def scores(self) -> tuple[int, ...]:
        """The nine ratings in element order."""
        return (self.u1, self.u2, self.u3, self.u4, self.u5, self.u6, self.u7, self.u8, self.u9)


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveySettings:
    """The ``[survey]`` table of config.toml, plus the signing secret from the environment."""

    office_code: str = "default"
    office_name: str = "Aduan"
    timezone: ZoneInfo = JAKARTA
    invite_after_answer: bool = True
    invite_delay: dt.timedelta = dt.timedelta(minutes=60)
    invite_max_age: dt.timedelta = dt.timedelta(days=30)
    expires_after: dt.timedelta = dt.timedelta(days=14)
    quarterly_dates: tuple[tuple[int, int], ...] = ((3, 15), (6, 15), (9, 15), (12, 10))
    link_base: str = ""
    secret: str | None = None
    max_reasks: int = 2

    def link(self, nonce: str) -> str | None:
        """Return the web form address of an invitation, or None without a base or a secret."""
        if not self.link_base or not self.secret:
            return None
        return f"{self.link_base.rstrip('/')}/survei/{sign(nonce, self.secret)}"


def settings_from(settings: Settings) -> SurveySettings:
    """Read the ``[survey]`` table (see config.toml) into SurveySettings."""

    table = settings.survey
    dates: list[tuple[int, int]] = []
    for item in table.quarterly_dates:
        try:
            month, day = (int(p) for p in str(item).split("-"))
            dt.date(2000, month, day)  # a leap year, so 02-29 is allowed
        except ValueError:
            raise ConfigError(f"survey.quarterly_dates: {item!r} is not MM-DD") from None
        dates.append((month, day))
    return SurveySettings(
        office_code=settings.office.code,
        office_name=settings.office.name,
        timezone=settings.office.calendar.timezone,
        invite_after_answer=table.invite_after_answer,
        invite_delay=dt.timedelta(minutes=table.invite_delay_minutes),
        invite_max_age=dt.timedelta(days=table.invite_max_age_days),
        expires_after=dt.timedelta(days=table.expires_after_days),
        quarterly_dates=tuple(dates),
        link_base=table.link_base or settings.public_base_url,
        secret=settings.secret("ADUAN_SURVEY_SECRET") or settings.secret("ADUAN_SESSION_SECRET"),
        max_reasks=table.max_reasks,
    )


#: Set by ``install``; ``invite(session, complaint, now)`` callers elsewhere need no container.
_configured = SurveySettings()


def configured() -> SurveySettings:
    """Return the survey settings installed for this process."""
    return _configured


def sign(nonce: str, secret: str) -> str:
    """Return the signed token of an invitation (``<nonce>.<signature>``, URL-safe)."""
    from itsdangerous import Signer

    return Signer(secret, salt="aduan-survey").sign(nonce).decode("ascii")


def unsign(token: str, secret: str) -> str | None:
    """Return the nonce of a token, or None when its signature is wrong."""
    from itsdangerous import BadSignature, Signer

    try:
        return Signer(secret, salt="aduan-survey").unsign(token).decode("ascii")
    except (BadSignature, UnicodeError):
        return None


# -- invitations --------------------------------------------------------------------------------


def reply_channel(urn: str) -> str | None:
    """Return the channel that reaches a URN, or None (a web-only or box contact cannot be asked).

    The channel is the one an answer takes (``intake.workflow.channel_for_urn``), but the web form
    cannot carry a survey invitation.
    """
    channel = workflow.channel_for_urn(urn)
    return None if channel == "web" else channel


def invitation_text(config: SurveySettings, link: str | None, tracking_number: str | None) -> str:
    """Return the invitation as plain text (SMS, e-mail, WhatsApp inside the 24-hour window)."""
    about = f" atas pengaduan {tracking_number}" if tracking_number else ""
    lines = [
        f"{config.office_name}: terima kasih{about}. Mohon nilai layanan kami "
        "(Survei Kepuasan Masyarakat, 9 pertanyaan singkat).",
        "Balas YA untuk mengisi lewat pesan ini, jawab setiap pertanyaan dengan angka 1-4.",
    ]
    if link:
        lines.append(f"Atau isi formulir: {link}")
    lines.append("Balas STOP bila tidak bersedia.")
    return "\n".join(lines)


def invite(
    session: Session,
    complaint: Complaint,
    now: dt.datetime,
    *,
    reason: str = REASON_ANSWERED,
    delay: dt.timedelta | None = None,
    config: SurveySettings | None = None,
) -> SurveyInvitation | None:
    """E1: invite the complainant to the survey on their channel; None when they cannot be asked.

    Nobody is invited twice in a quarter. The outbox message waits ``invite_delay`` (default) so
    the answer itself arrives first.
    """
    config = config or _configured
    if not complaint.contact_urn:
        return None
    channel = reply_channel(complaint.contact_urn)
    if channel is None:
        return None
    period = ikm.quarter_of(now.astimezone(config.timezone).date())
    taken = session.exec(
        select(SurveyInvitation.id).where(
            SurveyInvitation.office == complaint.office,
            SurveyInvitation.contact_urn == complaint.contact_urn,
            SurveyInvitation.period == period,
        )
    ).first()
    if taken is not None:
        return None
    invitation = SurveyInvitation(
        office=complaint.office,
        nonce=secrets.token_urlsafe(18),
        complaint_id=complaint.id if reason == REASON_ANSWERED else None,
        contact_urn=complaint.contact_urn,
        channel=channel,
        service_code=complaint.service_code,
        reason=reason,
        period=period,
        invited_at=now,
        expires_at=now + config.expires_after,
    )
    try:
        with session.begin_nested():  # a concurrent sweep may have invited the same person
            session.add(invitation)
            session.flush()
    except IntegrityError:
        return None
    link = config.link(invitation.nonce)
    tracking = complaint.tracking_number if reason == REASON_ANSWERED else None
    row = outbox.enqueue(
        session,
        channel=channel,
        to=complaint.contact_urn,
        text=invitation_text(config, link, tracking),
        now=now,
        complaint_id=complaint.id,
        purpose=PURPOSE,
        subject="Survei Kepuasan Masyarakat" if channel == "email" else None,
        template=TEMPLATE,
        # Named for [channels.whatsapp.templates]: survei_kepuasan = { id = "HX…", variables = […] }.
        template_vars={"office": config.office_name, "tracking_number": tracking or "-", "link": link or "-"},
        office=complaint.office,
    )
    wait = config.invite_delay if delay is None else delay
    if wait:
        row.next_attempt_at = now + wait
        session.add(row)
    invitation.outbox_id = row.id
    session.add(invitation)
    log.info("survey invitation #%s (%s) on %s", invitation.id, reason, channel)
    return invitation


def invite_due(container: Container, *, now: dt.datetime | None = None) -> int:
    """Invite the complainants whose answer went out at least ``invite_delay`` ago; return how many."""

    config = office_settings(container)
    if not config.invite_after_answer:
        return 0
    now = now or container.now()
    invited = select(SurveyInvitation.complaint_id).where(SurveyInvitation.complaint_id.is_not(None))  # type: ignore[union-attr]
    count = 0
    with db.write_session(container.engine) as s:
        rows = s.exec(
            select(Complaint)
            .where(
                Complaint.office == container.office.code,
                Complaint.kind == KIND_PENGADUAN,
                Complaint.status.in_((STATUS_ANSWERED, STATUS_REPORTED, STATUS_CLOSED)),  # type: ignore[attr-defined]
                Complaint.contact_urn.is_not(None),  # type: ignore[union-attr]
                Complaint.answered_at.is_not(None),  # type: ignore[union-attr]
                Complaint.answered_at <= now - config.invite_delay,  # type: ignore[operator,operator]
                Complaint.answered_at >= now - config.invite_max_age,  # type: ignore[operator,operator]
                Complaint.id.not_in(invited),  # type: ignore[union-attr]
            )
            .order_by(Complaint.id)  # type: ignore[arg-type]
        ).all()
        for complaint in rows:
            if invite(s, complaint, now, delay=dt.timedelta(0), config=config) is not None:
                count += 1
    return count


def invite_quarter(container: Container, *, now: dt.datetime | None = None) -> int:
    """E1: invite everyone who contacted the office this quarter and was not asked yet."""

    config = office_settings(container)
    now = now or container.now()
    today = now.astimezone(config.timezone).date()
    first = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    start = dt.datetime(first.year, first.month, first.day, tzinfo=config.timezone)
    period = ikm.quarter_of(today)
    asked = select(SurveyInvitation.contact_urn).where(
        SurveyInvitation.office == container.office.code, SurveyInvitation.period == period
    )
    count = 0
    with db.write_session(container.engine) as s:
        rows = s.exec(
            select(Complaint)
            .where(
                Complaint.office == container.office.code,
                Complaint.received_at >= start,  # type: ignore[operator]
                Complaint.received_at <= now,  # type: ignore[operator]
                Complaint.status != STATUS_MERGED,
                Complaint.contact_urn.is_not(None),  # type: ignore[union-attr]
                Complaint.contact_urn.not_in(asked),  # type: ignore[union-attr]
            )
            .order_by(Complaint.received_at.desc(), Complaint.id.desc())  # type: ignore[attr-defined,union-attr]
        ).all()
        seen: set[str] = set()
        for complaint in rows:  # newest complaint of each person decides channel and service
            assert complaint.contact_urn is not None
            if complaint.contact_urn in seen:
                continue
            seen.add(complaint.contact_urn)
            if invite(s, complaint, now, reason=REASON_QUARTERLY, delay=dt.timedelta(0), config=config):
                count += 1
    log.info("quarterly survey %s: %s invitations", period, count)
    return count


def quarterly_due(today: dt.date, config: SurveySettings | None = None) -> bool:
    """Tell whether ``today`` is one of the configured quarterly invitation days (E1)."""
    config = config or _configured
    return (today.month, today.day) in config.quarterly_dates


def office_settings(container: Container) -> SurveySettings:
    """Return the survey settings as the current office uses them: its code, name and timezone.

    ``[survey]`` is deployment-wide; only what the citizen reads (the office's name) and the
    office's own day (its timezone, for quarters and quarterly days) differ between offices.
    """
    office = container.office
    return dataclasses.replace(
        _configured, office_code=office.code, office_name=office.name, timezone=office.calendar.timezone
    )


def run_scheduled(container: Container) -> dict[str, int]:
    """The scheduler's job, for every office in turn: invite answered complaints, and everyone on a
    quarterly day; return the counts summed over the offices."""
    now = container.now()
    done = {"answered": 0, "quarterly": 0}
    # Each office's citizens are invited by that office, in its name (invite_due and
    # invite_quarter select on container.office), so the job enters every office once.
    for office in container.offices.values():
        with container.using_office(office):
            done["answered"] += invite_due(container, now=now)
            if quarterly_due(now.astimezone(office.calendar.timezone).date()):
                done["quarterly"] += invite_quarter(container, now=now)
    return done


# -- responses ----------------------------------------------------------------------------------


class SurveyClosed(ValueError):
    """The invitation was already answered, declined or has expired."""


def is_open(invitation: SurveyInvitation, now: dt.datetime) -> bool:
    """Tell whether an invitation can still be answered."""
    return invitation.state in OPEN_STATES and invitation.expires_at > now


def submit(
    session: Session,
    invitation: SurveyInvitation,
    *,
    scores: tuple[int, ...] | list[int],
    comment: str | None,
    via: str,
    now: dt.datetime,
) -> SurveyResponse:
    """Store one complete response and close the invitation; raise SurveyClosed when it is closed."""
    values = ikm.validate(scores)
    if not is_open(invitation, now):
        raise SurveyClosed(f"survey invitation is {invitation.state}")
    local = now.astimezone(_configured.timezone).date()
    text = (comment or "").strip()[:COMMENT_MAX] or None
    response = SurveyResponse(
        office=invitation.office,
        invitation_id=invitation.id,
        complaint_id=invitation.complaint_id,
        service_code=invitation.service_code,
        channel=invitation.channel,
        via=via,
        comment=text,
        period=ikm.quarter_of(local),
        submitted_at=now,
        **{f"u{i + 1}": v for i, v in enumerate(values)},
    )
    invitation.state = COMPLETED
    invitation.completed_at = now
    invitation.answers = "".join(str(v) for v in values)
    session.add(invitation)
    session.add(response)
    session.flush()
    log.info("survey response #%s via %s", response.id, via)
    return response


def find_by_nonce(session: Session, nonce: str) -> SurveyInvitation | None:
    """Return the invitation with this nonce, if any."""
    return session.exec(select(SurveyInvitation).where(SurveyInvitation.nonce == nonce)).first()


# -- the chat flow ------------------------------------------------------------------------------


def question_text(index: int) -> str:
    """Return chat question ``index`` (0-based): the element, its short question and the four answers."""
    element = ikm.ELEMENTS[index]
    options = "\n".join(f"{n} {label}" for n, label in enumerate(element.answers, start=1))
    return f"({index + 1}/{ikm.N_ELEMENTS}) {element.short}\n{options}\nBalas dengan angka 1-4."


COMMENT_PROMPT = (
    "Terakhir: ada saran atau komentar untuk kami? Balas dengan teks, atau balas - untuk melewati."
)
THANKS = "Terima kasih, penilaian Saudara sudah kami terima dan menjadi bahan perbaikan layanan."
DECLINED_TEXT = "Baik, survei tidak dilanjutkan. Terima kasih."
PAUSED_TEXT = "Survei kami jeda. Balas SURVEI kapan saja untuk melanjutkan."


def reask_text(index: int) -> str:
    """Return the re-ask after an answer that is not a digit 1–4."""
    hint = "Maaf, jawaban tidak dikenali. Balas satu angka 1-4, atau BATAL untuk berhenti."
    return f"{hint}\n{question_text(index)}"


def open_invitation(session: Session, office: str, urn: str, now: dt.datetime) -> SurveyInvitation | None:
    """Return the newest invitation of a sender that can still be answered."""
    return session.exec(
        select(SurveyInvitation)
        .where(
            SurveyInvitation.office == office,
            SurveyInvitation.contact_urn == urn,
            SurveyInvitation.state.in_(OPEN_STATES),  # type: ignore[attr-defined]
            SurveyInvitation.expires_at > now,  # type: ignore[operator]
        )
        .order_by(SurveyInvitation.id.desc())  # type: ignore[union-attr,attr-defined]
    ).first()


def _open_probe(_ins: Any) -> Any:
    inv = SurveyInvitation.__table__  # type: ignore[attr-defined]
    return (
        sa.select(inv.c.id)
        .where(
            inv.c.office == sa.bindparam("office"),
            inv.c.contact_urn == sa.bindparam("urn"),
            inv.c.state.in_(OPEN_STATES),
            inv.c.expires_at > sa.bindparam("now", type_=inv.c.expires_at.type),
        )
        .order_by(inv.c.id.desc())
        .limit(1)
    )


def _open_invitation_of(session: Session, office: str, urn: str, now: dt.datetime) -> SurveyInvitation | None:
    """``open_invitation`` for every chat message: one cached id-only query, the row only when found."""
    params = {"office": office, "urn": urn, "now": now}
    # No autoflush: nothing pending can be an invitation of this sender (this hook changes them).
    found = run(session, "survey_open", _open_probe, params).scalar()
    return None if found is None else session.get(SurveyInvitation, found)


def _dialogue_busy(session: Session, urn: str, office: str) -> bool:
    """Tell whether the intake dialogue is in the middle of a report with this sender at this office."""
    draft = session.exec(
        select(DialogueDraft).where(DialogueDraft.sender_urn == urn, DialogueDraft.office == office)
    ).first()
    return draft is not None and draft.state != IDLE


def on_message(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """Message hook: take a chat message that answers an open survey; False leaves it to the dialogue."""
    message = result.message
    contact = result.contact
    if contact is not None and contact.urn == message.sender_urn and contact.reporter_id is None:
        # No query for most messages: invitations are made only for complaints (``invite``), and
        # filing a complaint gives its contact a reporter (intake.ingest; nothing unsets it, and a
        # purge deletes a contact only when no record names it). A sender without one was never invited.
        return False
    invitation = _open_invitation_of(session, container.office.code, message.sender_urn, now)
    if invitation is None:
        return False
    config = _configured
    text = message.text or ""
    word = normalise_text(text)

    def reply(body: str) -> None:
        outbox.enqueue(
            session,
            channel=message.channel,
            to=message.sender_urn,
            text=body,
            now=now,
            complaint_id=invitation.complaint_id,
            purpose=PURPOSE,
            office=invitation.office,
        )

    if invitation.state == COMMENT:
        comment = None if word in SKIP_WORDS else text
        scores = [int(d) for d in invitation.answers]
        submit(session, invitation, scores=scores, comment=comment, via=VIA_CHAT, now=now)
        reply(THANKS)
        return True
    if word in STOP_WORDS:
        invitation.state = DECLINED
        invitation.completed_at = now
        session.add(invitation)
        reply(DECLINED_TEXT)
        return True
    step = len(invitation.answers)
    if invitation.state == INVITED:
        if word not in START_WORDS:
            return False  # not about the survey: perhaps a new complaint, for the dialogue
        if word not in EXPLICIT_START and _dialogue_busy(session, message.sender_urn, container.office.code):
            return False  # "ya" answers the dialogue's own question; "SURVEI" still starts the survey
        invitation.state = IN_PROGRESS
        invitation.invalid_count = 0
        invitation.started_at = invitation.started_at or now
        session.add(invitation)
        reply(question_text(step))
        return True
    value = ikm.parse_answer(text)
    if value is None:
        invitation.invalid_count += 1
        if invitation.invalid_count > config.max_reasks:
            # Several answers in a row that are no rating: the citizen is likely saying something
            # else. Pause (progress kept) and let the dialogue read the message.
            invitation.state = INVITED
            invitation.invalid_count = 0
            session.add(invitation)
            reply(PAUSED_TEXT)
            return False
        session.add(invitation)
        reply(reask_text(step))
        return True
    invitation.answers += str(value)
    invitation.invalid_count = 0
    if len(invitation.answers) == ikm.N_ELEMENTS:
        invitation.state = COMMENT
        session.add(invitation)
        reply(COMMENT_PROMPT)
        return True
    session.add(invitation)
    reply(question_text(len(invitation.answers)))
    return True


def install(container: Container) -> None:
    """Configure the survey from ``[survey]`` and run its chat hook before the dialogue."""
    global _configured
    _configured = settings_from(container.settings)
    container.services["survey"] = _configured
    container.message_hooks.append(on_message)
