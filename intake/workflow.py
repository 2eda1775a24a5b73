"""The procedure after intake (R6–R8): statuses, the transitions between them, and who may make them.

Every status change goes through ``transition`` (directly or via the named actions below), which
checks the table ``TRANSITIONS``, the actor's role, and appends an event with the actor. Functions
work in the caller's session and never commit.

Words kept in Indonesian: *ditelaah* (under review, R6), *ditindaklanjuti* (in follow-up, R7),
*dijawab* (answered, R8), *dilaporkan* (reported to the superior, R8), *saran* (suggestion).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session, col, select

from channels.urns import urn_scheme
from intake import rules
from intake.ingest import record_event
from intake.models import (
    STATUS_ACKNOWLEDGED,
    STATUS_ANSWERED,
    STATUS_CLOSED,
    STATUS_FORWARDED,
    STATUS_IN_FOLLOW_UP,
    STATUS_MERGED,
    STATUS_RECEIVED,
    STATUS_REPORTED,
    STATUS_UNDER_REVIEW,
    Complaint,
    User,
)
from intake.office import OfficeProfile
from intake.roles import ADMIN, AUDITOR, DEFAULT_LADDER, DIVISION_HEAD, HEAD, LIAISON, OFFICER, SECTION_HEAD
from intake.workflow_models import Note


class Queued(Protocol):
    """A queued outbound message, as ``enqueue`` returns it."""

    @property
    def id(self) -> int | None: ...


class Enqueue(Protocol):
    """The outbox's ``enqueue`` (``outbound.outbox.enqueue``), passed in by the caller: intake records the
    answer, the runtime owns the outbox, and intake never imports the runtime."""

    def __call__(
        self,
        session: Session,
        *,
        channel: str,
        to: str,
        text: str,
        now: dt.datetime,
        complaint_id: int | None = ...,
        purpose: str = ...,
        created_by: str = ...,
        subject: str | None = ...,
        template: str | None = ...,
        template_vars: dict[str, str] | None = ...,
        office: str = ...,
    ) -> Queued: ...


STATUSES: tuple[str, ...] = (
    STATUS_RECEIVED,
    STATUS_UNDER_REVIEW,
    STATUS_IN_FOLLOW_UP,
    STATUS_ANSWERED,
    STATUS_REPORTED,
    STATUS_CLOSED,
    STATUS_ACKNOWLEDGED,
    STATUS_FORWARDED,
    STATUS_MERGED,
)

#: Every allowed status change. A closed record may be reopened (back to review, or to
#: "acknowledged" for a saran); a merged record is final.
TRANSITIONS: dict[str, set[str]] = {
    STATUS_RECEIVED: {STATUS_UNDER_REVIEW, STATUS_MERGED},
    STATUS_UNDER_REVIEW: {STATUS_IN_FOLLOW_UP, STATUS_ANSWERED, STATUS_MERGED},
    STATUS_IN_FOLLOW_UP: {STATUS_UNDER_REVIEW, STATUS_ANSWERED, STATUS_MERGED},
    STATUS_ANSWERED: {STATUS_REPORTED},
    STATUS_REPORTED: {STATUS_CLOSED},
    STATUS_CLOSED: {STATUS_UNDER_REVIEW, STATUS_ACKNOWLEDGED},
    # saran: acknowledged, then forwarded to the yearly evaluation of the standard (E2)
    STATUS_ACKNOWLEDGED: {STATUS_FORWARDED, STATUS_CLOSED, STATUS_MERGED},
    STATUS_FORWARDED: {STATUS_CLOSED},
    STATUS_MERGED: set(),
}

#: Statuses on the pengaduan path only, and on the saran path only; closed and merged are shared.
PENGADUAN_STATUSES = frozenset(
    {STATUS_RECEIVED, STATUS_UNDER_REVIEW, STATUS_IN_FOLLOW_UP, STATUS_ANSWERED, STATUS_REPORTED}
)
SARAN_STATUSES = frozenset({STATUS_ACKNOWLEDGED, STATUS_FORWARDED})
#: Statuses whose R4 deadline is watched by the sweep (no answer yet).
OPEN_STATUSES: tuple[str, ...] = (STATUS_RECEIVED, STATUS_UNDER_REVIEW, STATUS_IN_FOLLOW_UP)

#: R6d handling plans.
HANDLING_PLANS: dict[str, str] = {
    "klarifikasi": "Klarifikasi (clarification)",
    "konfirmasi": "Konfirmasi (confirmation)",
    "penelitian": "Penelitian / pemeriksaan (examination)",
    "investigasi": "Investigasi (investigation)",
}

#: R7 resolution tracks.
TRACK_INTERNAL = "internal"  # R7a
TRACK_AGENCY = "agency"  # R7b: technical team / other Perangkat Daerah
TRACK_APIP = "apip"  # R7c: only after the head's approval
TRACKS: dict[str, str] = {
    TRACK_INTERNAL: "Internal DPMPTSP (R7a)",
    TRACK_AGENCY: "Tim teknis / perangkat daerah lain (R7b)",
    TRACK_APIP: "APIP (R7c, dengan persetujuan Kepala)",
}

_CASE = frozenset({OFFICER, SECTION_HEAD, DIVISION_HEAD, HEAD})
_MANAGERS = frozenset({SECTION_HEAD, DIVISION_HEAD, HEAD})
#: Which roles may do what; the auditor (APIP) only reads. ``None`` actor = the system itself.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "transition": _CASE,
    "claim": _CASE,
    "release": _CASE | {ADMIN},
    "assign": _MANAGERS | {ADMIN},
    "review": _CASE | {LIAISON},
    "classify": _CASE,
    "track": _CASE,
    "request_apip": _CASE,
    "approve_apip": frozenset({HEAD}),  # R7c
    "reject_apip": frozenset({HEAD}),
    "escalate": _CASE,
    "change_kind": _CASE,
    "answer": _CASE,
    "report_up": _CASE,
    "close": _CASE,
    "reopen": _CASE,
    "merge": _CASE,
    "note": frozenset({OFFICER, SECTION_HEAD, DIVISION_HEAD, HEAD, LIAISON, ADMIN}),
}
#: Actions the system (no human actor) may never take.
HUMAN_ONLY = frozenset({"approve_apip", "reject_apip"})

#: The channel an answer goes out on, from the scheme of the citizen's URN (the channel they used).
SCHEME_CHANNEL: dict[str, str] = {
    "tel": "sms",
    "whatsapp": "whatsapp",
    "mailto": "email",
    "telegram": "telegram",
    "twitter": "twitter",
    "instagram": "instagram",
    "web": "web",
}


class TransitionError(ValueError):
    """A status change or action that the procedure does not allow now; the message says what is."""


class PermissionDenied(PermissionError):
    """The actor's role may not take this action."""


def actor_name(actor: User | None) -> str:
    """Return how an actor appears in the event log."""
    return "system" if actor is None else f"user:{actor.username}"


def _require(action: str, actor: User | None) -> None:
    if actor is None:
        if action in HUMAN_ONLY:
            raise PermissionDenied(
                f"{action} needs a person with role {', '.join(sorted(ACTION_ROLES[action]))}"
            )
        return
    allowed = ACTION_ROLES[action]
    if not actor.is_active or actor.role not in allowed:
        raise PermissionDenied(
            f"role {actor.role!r} may not {action.replace('_', ' ')}; allowed: {', '.join(sorted(allowed))}"
        )


def allowed_transitions(complaint: Complaint) -> list[str]:
    """Return the statuses this record may move to now, in procedure order."""
    targets = TRANSITIONS.get(complaint.status, set())
    wrong_path = SARAN_STATUSES if complaint.kind == rules.KIND_PENGADUAN else PENGADUAN_STATUSES
    return [s for s in STATUSES if s in targets and s not in wrong_path]


def _touch(complaint: Complaint, now: dt.datetime) -> None:
    complaint.updated_at = now


def _set_field(
    session: Session,
    complaint: Complaint,
    *,
    field: str,
    value: object,
    actor: User | None,
    now: dt.datetime,
    action: str = "update",
    note: str | None = None,
) -> None:
    old = getattr(complaint, field)
    if old == value:
        return
    setattr(complaint, field, value)
    record_event(
        session,
        complaint,
        actor=actor_name(actor),
        action=action,
        now=now,
        field=field,
        old=old,
        new=value,
        note=note,
    )


def transition(
    session: Session,
    complaint: Complaint,
    *,
    to: str,
    actor: User | None,
    now: dt.datetime,
    note: str | None = None,
) -> Complaint:
    """Move a record to status ``to`` if the procedure allows it; log the change with the actor."""
    _require("transition", actor)
    return _move(session, complaint, to=to, actor=actor, now=now, note=note)


def _move(
    session: Session,
    complaint: Complaint,
    *,
    to: str,
    actor: User | None,
    now: dt.datetime,
    note: str | None = None,
) -> Complaint:
    """Check the table and apply a status change (callers have checked the actor's role)."""
    if to not in STATUSES:
        raise TransitionError(f"unknown status {to!r}; known: {', '.join(STATUSES)}")
    allowed = allowed_transitions(complaint)
    if to not in allowed:
        raise TransitionError(
            f"{complaint.kind} {complaint.tracking_number} cannot go from {complaint.status} to {to}; "
            f"allowed: {', '.join(allowed) or 'none (final)'}"
        )
    if to == STATUS_ANSWERED and not complaint.answer_text:
        raise TransitionError("an answer needs its text: use answer() (R8)")
    if to == STATUS_MERGED and complaint.merged_into_id is None:
        raise TransitionError("merging needs the record it goes into: use merge()")
    if to == STATUS_IN_FOLLOW_UP and not complaint.track:
        raise TransitionError(f"choose a resolution track first (R7): {', '.join(TRACKS)}")
    if complaint.status == STATUS_CLOSED and not (note and note.strip()):
        raise TransitionError("reopening needs a reason")
    old = complaint.status
    complaint.status = to
    if to == STATUS_ANSWERED:
        complaint.answered_at = complaint.answered_at or now
    elif to == STATUS_REPORTED:
        complaint.reported_at = now
    elif to == STATUS_CLOSED:
        complaint.closed_at = now
    if old == STATUS_CLOSED:
        complaint.closed_at = None
    if to in OPEN_STATUSES and old not in OPEN_STATUSES:
        # R4 watch resumes: the sweep looks at it now and schedules its real next checkpoint
        complaint.next_checkpoint_at = now
    elif to not in OPEN_STATUSES:
        complaint.next_checkpoint_at = None
    _touch(complaint, now)
    session.add(complaint)
    record_event(
        session,
        complaint,
        actor=actor_name(actor),
        action="status",
        now=now,
        field="status",
        old=old,
        new=to,
        note=note,
    )
    return complaint


# -- taking and handing over --------------------------------------------------------------------


def claim(session: Session, complaint: Complaint, *, actor: User, now: dt.datetime) -> Complaint:
    """Take a record to work on it (the inbox shows who holds it); a manager may take it over."""
    _require("claim", actor)
    if complaint.claimed_by_id not in (None, actor.id) and actor.role not in _MANAGERS:
        raise TransitionError(
            "already claimed by another officer; ask them to release it or a head to reassign"
        )
    _set_field(
        session, complaint, field="claimed_by_id", value=actor.id, actor=actor, now=now, action="claim"
    )
    if complaint.assignee_id is None:
        _set_field(
            session, complaint, field="assignee_id", value=actor.id, actor=actor, now=now, action="assign"
        )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def release(session: Session, complaint: Complaint, *, actor: User, now: dt.datetime) -> Complaint:
    """Give a claimed record back to the queue."""
    _require("release", actor)
    if complaint.claimed_by_id is None:
        raise TransitionError("the record is not claimed")
    if complaint.claimed_by_id != actor.id and actor.role not in _MANAGERS | {ADMIN}:
        raise PermissionDenied("only the officer holding it, a head or an administrator may release it")
    _set_field(session, complaint, field="claimed_by_id", value=None, actor=actor, now=now, action="release")
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def assign(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime, assignee: User
) -> Complaint:
    """Make ``assignee`` responsible for the record (reminders go to them)."""
    _require("assign", actor)
    if not assignee.is_active or assignee.role in (AUDITOR,):
        raise TransitionError(f"{assignee.username} cannot be assigned (inactive or read-only role)")
    _set_field(
        session,
        complaint,
        field="assignee_id",
        value=assignee.id,
        actor=actor,
        now=now,
        action="assign",
        note=assignee.username,
    )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


# -- review (penelaahan, R6) and classification (R5c) -------------------------------------------


def _ensure_workable(complaint: Complaint, what: str) -> None:
    if complaint.kind != rules.KIND_PENGADUAN:
        raise TransitionError(f"{what} applies to a pengaduan; promote the saran first (change_kind, R3)")
    if complaint.status not in OPEN_STATUSES:
        raise TransitionError(f"{what} is possible while the record is open; it is {complaint.status}")


def set_review(
    session: Session,
    complaint: Complaint,
    *,
    actor: User | None,
    now: dt.datetime,
    core_problem: str | None = None,
    standard_ref: str | None = None,
    handling_plan: str | None = None,
) -> Complaint:
    """Record the review: R6a core problem, R6b the standard/SOP/regulation, R6d the handling plan."""
    _require("review", actor)
    _ensure_workable(complaint, "review")
    if handling_plan is not None and handling_plan not in HANDLING_PLANS:
        raise TransitionError(f"unknown handling plan {handling_plan!r}; known: {', '.join(HANDLING_PLANS)}")
    if complaint.status == STATUS_RECEIVED:
        _move(session, complaint, to=STATUS_UNDER_REVIEW, actor=actor, now=now, note="review started")
    for field, value in (
        ("core_problem", core_problem),
        ("standard_ref", standard_ref),
        ("handling_plan", handling_plan),
    ):
        if value is not None:
            _set_field(
                session,
                complaint,
                field=field,
                value=value.strip() or None,
                actor=actor,
                now=now,
                action="review",
            )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def set_classification(
    session: Session,
    complaint: Complaint,
    *,
    actor: User | None,
    now: dt.datetime,
    service_code: str | None = None,
    problem_type: str | None = None,
    office: OfficeProfile | None = None,
) -> Complaint:
    """R5c: set the service (field/sector/type) and the problem type an officer decided on."""
    _require("classify", actor)
    if office is not None:
        if service_code is not None and office.service(service_code) is None:
            raise TransitionError(
                f"unknown service {service_code!r}; known: {', '.join(s.code for s in office.services)}"
            )
        if problem_type is not None and office.problem_type(problem_type) is None:
            known = ", ".join(p.code for p in office.problem_types)
            raise TransitionError(f"unknown problem type {problem_type!r}; known: {known}")
    if service_code is not None:
        _set_field(
            session,
            complaint,
            field="service_code",
            value=service_code,
            actor=actor,
            now=now,
            action="classify",
        )
    if problem_type is not None:
        _set_field(
            session,
            complaint,
            field="problem_type",
            value=problem_type,
            actor=actor,
            now=now,
            action="classify",
        )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


# -- resolution tracks (R7) ---------------------------------------------------------------------


def set_track(
    session: Session,
    complaint: Complaint,
    *,
    actor: User | None,
    now: dt.datetime,
    track: str,
    agency: str | None = None,
    agency_liaison: str | None = None,
    agency_follow_up_date: dt.date | None = None,
) -> Complaint:
    """R7: choose how the complaint is resolved; the record moves to follow-up (*ditindaklanjuti*)."""
    _require("track", actor)
    _ensure_workable(complaint, "a resolution track")
    if track not in TRACKS:
        raise TransitionError(f"unknown track {track!r}; known: {', '.join(TRACKS)}")
    if complaint.status == STATUS_RECEIVED:
        raise TransitionError("review the complaint first (R6): set_review, then choose a track")
    if track == TRACK_APIP and complaint.apip_approved_at is None:
        raise TransitionError("the APIP track needs the approval of the Head of DPMPTSP first (R7c)")
    if track == TRACK_AGENCY and not (agency or complaint.agency):
        raise TransitionError("name the agency (perangkat daerah) that follows it up (R7b)")
    _set_field(session, complaint, field="track", value=track, actor=actor, now=now, action="track")
    if track == TRACK_AGENCY:
        for field, value in (
            ("agency", agency),
            ("agency_liaison", agency_liaison),
            ("agency_follow_up_date", agency_follow_up_date),
        ):
            if value is not None:
                _set_field(session, complaint, field=field, value=value, actor=actor, now=now, action="track")
    if complaint.status == STATUS_UNDER_REVIEW:
        _move(session, complaint, to=STATUS_IN_FOLLOW_UP, actor=actor, now=now, note=f"track {track}")
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def request_apip(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime, note: str
) -> Complaint:
    """R7c: ask the head to approve handing the complaint to APIP, saying why."""
    _require("request_apip", actor)
    _ensure_workable(complaint, "an APIP request")
    if not note or not note.strip():
        raise TransitionError("say why the complaint cannot be solved internally or with the agency (R7c)")
    if complaint.apip_approved_at is not None:
        raise TransitionError("APIP is already approved for this complaint")
    complaint.apip_requested_at = now
    record_event(
        session, complaint, actor=actor_name(actor), action="apip_requested", now=now, note=note.strip()
    )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def approve_apip(session: Session, complaint: Complaint, *, actor: User, now: dt.datetime) -> Complaint:
    """R7c: the Head of DPMPTSP approves the APIP track; the approval is recorded with its author."""
    _require("approve_apip", actor)
    if complaint.apip_requested_at is None:
        raise TransitionError("nobody has requested APIP for this complaint (request_apip first)")
    if complaint.apip_approved_at is not None:
        raise TransitionError("APIP is already approved for this complaint")
    complaint.apip_approved_by_id = actor.id
    complaint.apip_approved_at = now
    record_event(
        session,
        complaint,
        actor=actor_name(actor),
        action="apip_approved",
        now=now,
        field="apip_approved_by_id",
        new=actor.id,
    )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def reject_apip(
    session: Session, complaint: Complaint, *, actor: User, now: dt.datetime, reason: str
) -> Complaint:
    """R7c: the Head turns an APIP request down, saying why; the request is withdrawn, the reason kept."""
    _require("reject_apip", actor)
    if complaint.apip_requested_at is None or complaint.apip_approved_at is not None:
        raise TransitionError("there is no APIP request waiting for a decision")
    if not reason or not reason.strip():
        raise TransitionError("turning an APIP request down needs a reason")
    complaint.apip_requested_at = None
    record_event(
        session, complaint, actor=actor_name(actor), action="apip_rejected", now=now, note=reason.strip()
    )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


def superior_of(
    session: Session,
    user: User | None,
    *,
    ladder: Sequence[str] = DEFAULT_LADDER,
    offices: Sequence[str] | None = None,
) -> User | None:
    """Return the direct superior: ``superior_id`` if set, else someone with the next role up the ladder.

    ``offices``: the ``User.office`` values the superior must have (``staff_offices``); None: any.
    """
    if user is None:
        return None
    if user.superior_id is not None:
        boss = session.get(User, user.superior_id)
        if boss is not None and boss.is_active:
            return boss
    if user.role not in ladder:
        return first_with_role(session, ladder[0], offices) if ladder else None
    idx = list(ladder).index(user.role)
    for role in ladder[idx + 1 :]:
        found = first_with_role(session, role, offices)
        if found is not None:
            return found
    return None


def first_with_role(session: Session, role: str, offices: Sequence[str] | None = None) -> User | None:
    """Return the first active user with ``role`` (lowest id) among the staff whose ``User.office``
    is one of ``offices`` (None: anyone, as in a deployment of one office), if any."""
    query = select(User).where(User.role == role, User.is_active == True)  # type: ignore[arg-type]  # noqa: E712
    if offices is not None:
        query = query.where(col(User.office).in_(list(offices)))
    return session.exec(query.order_by(User.id)).first()  # type: ignore[arg-type]


def staff_offices(complaint: Complaint, holder: User | None) -> tuple[str, ...]:
    """Return the ``User.office`` values of the staff of the complaint's office, as far as known here.

    A member of staff is stored with their office's code, or with ``""`` for the primary office
    (``intake.roles``). Which code is the primary's is the container's knowledge, not this
    module's: ``""`` counts when the holder is stored with it (the inbox lets staff handle only
    their office's records, so the record is the primary office's). Callers that know the primary
    code pass ``roles.stored_codes(complaint.office, primary)`` as ``offices`` instead.
    """
    if holder is not None and holder.office == "":
        return (complaint.office, "")
    return (complaint.office,)


def escalate(
    session: Session,
    complaint: Complaint,
    *,
    actor: User | None,
    now: dt.datetime,
    note: str | None = None,
    ladder: Sequence[str] = DEFAULT_LADDER,
    offices: Sequence[str] | None = None,
) -> User | None:
    """Hand the complaint one level up the ladder (R7a); return the new assignee, None at the top.

    The new assignee is of the complaint's office (``offices``: its staff's ``User.office`` values;
    by default ``staff_offices``), unless the holder's own ``superior_id`` names someone.
    """
    _require("escalate", actor)
    _ensure_workable(complaint, "escalation")
    holder = session.get(User, complaint.assignee_id) if complaint.assignee_id else actor
    # Only the complaint's own office's staff: never a head of another office of the province.
    if offices is None:
        offices = staff_offices(complaint, holder)
    target = (
        superior_of(session, holder, ladder=ladder, offices=offices)
        if holder
        else first_with_role(session, ladder[0], offices)
    )
    if target is None or target.id == complaint.assignee_id:
        record_event(
            session,
            complaint,
            actor=actor_name(actor),
            action="escalate",
            now=now,
            note=(note or "") + " (top of the ladder: nobody above)",
        )
        return None
    _set_field(
        session,
        complaint,
        field="assignee_id",
        value=target.id,
        actor=actor,
        now=now,
        action="escalate",
        note=note or f"to {target.role}",
    )
    _touch(complaint, now)
    session.add(complaint)
    return target


def change_kind(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime, kind: str, reason: str
) -> Complaint:
    """R3: promote a saran to a pengaduan (or file a pengaduan as saran), with a reason."""
    _require("change_kind", actor)
    if kind not in rules.KINDS:
        raise TransitionError(f"unknown kind {kind!r}; known: {', '.join(rules.KINDS)}")
    if not reason or not reason.strip():
        raise TransitionError("changing the kind needs a reason (R3)")
    if kind == complaint.kind:
        raise TransitionError(f"the record is already a {kind}")
    if kind == rules.KIND_PENGADUAN and complaint.status not in SARAN_STATUSES:
        raise TransitionError(f"only an open saran can be promoted; it is {complaint.status}")
    if kind == rules.KIND_SARAN and complaint.status not in OPEN_STATUSES:
        raise TransitionError(f"only an open pengaduan can be filed as saran; it is {complaint.status}")
    _set_field(
        session,
        complaint,
        field="kind",
        value=kind,
        actor=actor,
        now=now,
        action="change_kind",
        note=reason.strip(),
    )
    old = complaint.status
    if kind == rules.KIND_PENGADUAN:
        complaint.status = STATUS_RECEIVED
        complaint.next_checkpoint_at = now  # R4 watch starts; the sweep schedules the next checkpoint
    else:
        complaint.status = STATUS_ACKNOWLEDGED
        complaint.next_checkpoint_at = None
    record_event(
        session,
        complaint,
        actor=actor_name(actor),
        action="status",
        now=now,
        field="status",
        old=old,
        new=complaint.status,
        note="kind changed",
    )
    _touch(complaint, now)
    session.add(complaint)
    return complaint


# -- answer and report (R8), close, reopen, merge -----------------------------------------------


def channel_for_urn(urn: str | None) -> str | None:
    """Return the channel that reaches a URN (the one the citizen used), or None."""
    if not urn:
        return None
    return SCHEME_CHANNEL.get(urn_scheme(urn))


def reply_channel(complaint: Complaint) -> str | None:
    """Return the channel the citizen used, read from their URN; None when they left no contact."""
    return channel_for_urn(complaint.contact_urn)


def answer(
    session: Session,
    complaint: Complaint,
    *,
    actor: User | None,
    now: dt.datetime,
    text: str,
    enqueue: Enqueue,
) -> Queued | None:
    """R8: store the answer, queue it on the citizen's channel (outbox), and mark the record answered.

    Returns the outbox row, or None when the citizen left no contact (the answer is then handed
    over outside Aduan, e.g. at the desk, and the event log says so).
    """
    _require("answer", actor)
    ensure_can_reply(complaint)
    if not text or not text.strip():
        raise TransitionError("the answer is empty (R8)")
    if STATUS_ANSWERED not in allowed_transitions(complaint):
        raise TransitionError(
            f"{complaint.tracking_number} cannot be answered while {complaint.status}; "
            f"allowed: {', '.join(allowed_transitions(complaint)) or 'none'}"
        )
    complaint.answer_text = text.strip()
    complaint.answered_at = now
    channel = reply_channel(complaint)
    row = None
    if channel is not None and complaint.contact_urn:
        row = enqueue(
            session,
            channel=channel,
            to=complaint.contact_urn,
            text=complaint.answer_text,
            now=now,
            complaint_id=complaint.id,
            purpose="answer",
            created_by=actor_name(actor),
            subject=f"Jawaban pengaduan {complaint.tracking_number}",
            template="jawaban_pengaduan",
            template_vars={"1": complaint.tracking_number, "2": complaint.answer_text[:900]},
            office=complaint.office,
        )
    note = (
        f"queued on {channel} (outbox #{row.id})"
        if row is not None
        else "no contact: handed over outside Aduan"
    )
    _move(session, complaint, to=STATUS_ANSWERED, actor=actor, now=now, note=note)
    return row


def report_up(
    session: Session,
    complaint: Complaint,
    *,
    actor: User | None,
    now: dt.datetime,
    ladder: Sequence[str] = DEFAULT_LADDER,
    offices: Sequence[str] | None = None,
) -> User | None:
    """R8: report the result to the direct superior (of the complaint's office); return who it was."""
    _require("report_up", actor)
    if complaint.status != STATUS_ANSWERED:
        raise TransitionError(f"report after answering the citizen (R8); the record is {complaint.status}")
    holder = actor or (session.get(User, complaint.assignee_id) if complaint.assignee_id else None)
    if offices is None:
        offices = staff_offices(complaint, holder)
    boss = superior_of(session, holder, ladder=ladder, offices=offices)
    if boss is not None:
        # The report lands in the superior's queue ("reported to me"); closing it is their acknowledgement.
        _set_field(
            session, complaint, field="assignee_id", value=boss.id, actor=actor, now=now, action="report_up"
        )
    _move(
        session,
        complaint,
        to=STATUS_REPORTED,
        actor=actor,
        now=now,
        note=f"reported to {boss.username} ({boss.role})" if boss else "reported (no superior configured)",
    )
    return boss


def close(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime, note: str | None = None
) -> Complaint:
    """Close a reported complaint, or a saran."""
    _require("close", actor)
    return _move(session, complaint, to=STATUS_CLOSED, actor=actor, now=now, note=note)


def forward_saran(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime
) -> Complaint:
    """Forward a saran to the yearly evaluation of the service standard (E2)."""
    return transition(
        session, complaint, to=STATUS_FORWARDED, actor=actor, now=now, note="to the yearly evaluation (E2)"
    )


def reopen(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime, reason: str
) -> Complaint:
    """Reopen a closed record, with a reason: back to review (pengaduan) or acknowledged (saran)."""
    _require("reopen", actor)
    if complaint.status != STATUS_CLOSED:
        raise TransitionError(f"only a closed record can be reopened; it is {complaint.status}")
    to = STATUS_UNDER_REVIEW if complaint.kind == rules.KIND_PENGADUAN else STATUS_ACKNOWLEDGED
    return _move(session, complaint, to=to, actor=actor, now=now, note=reason)


def merge(
    session: Session, complaint: Complaint, *, into: Complaint, actor: User | None, now: dt.datetime
) -> Complaint:
    """Merge a duplicate record into another one; it stops being watched and points to the other."""
    _require("merge", actor)
    if into.id == complaint.id:
        raise TransitionError("a record cannot be merged into itself")
    if into.status == STATUS_MERGED:
        raise TransitionError(f"{into.tracking_number} is itself merged; merge into the record it points to")
    if STATUS_MERGED not in allowed_transitions(complaint):
        raise TransitionError(f"{complaint.tracking_number} cannot be merged while {complaint.status}")
    complaint.merged_into_id = into.id
    return _move(
        session, complaint, to=STATUS_MERGED, actor=actor, now=now, note=f"into {into.tracking_number}"
    )


def add_note(
    session: Session, complaint: Complaint, *, actor: User | None, now: dt.datetime, text: str
) -> Note:
    """Add an internal note (never sent to the citizen); the log records that one was added."""
    _require("note", actor)
    if not text or not text.strip():
        raise TransitionError("the note is empty")
    assert complaint.id is not None
    row = Note(
        complaint_id=complaint.id,
        author_id=actor.id if actor else None,
        author=actor_name(actor),
        text=text.strip(),
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_event(session, complaint, actor=actor_name(actor), action="note", now=now, new=row.id)
    return row


def notes_of(session: Session, complaint: Complaint) -> list[Note]:
    """Return the internal notes of a record, oldest first."""
    return list(
        session.exec(
            select(Note).where(Note.complaint_id == complaint.id).order_by(Note.id)  # type: ignore[arg-type]
        ).all()
    )


# -- the guided path: the step that applies now and what this role may do in it ------------------

STEP_REVIEW = "review"  # R6: penelaahan
STEP_TRACK = "track"  # R7: choose how it is resolved
STEP_ANSWER = "answer"  # R8: the final answer to the citizen
STEP_REPORT = "report"  # R8: report the result to the superior
STEP_CLOSE = "close"  # the superior acknowledges the report and closes
STEP_FORWARD = "forward"  # saran: to the yearly evaluation (E2)
STEP_DONE = "done"  # closed or merged: only reopening is left
#: The procedure of a pengaduan and of a saran, as the inbox walks an officer through it.
PENGADUAN_PATH: tuple[str, ...] = (STEP_REVIEW, STEP_TRACK, STEP_ANSWER, STEP_REPORT, STEP_CLOSE)
SARAN_PATH: tuple[str, ...] = (STEP_FORWARD, STEP_CLOSE)
_STEP_OF_STATUS: dict[str, str] = {
    STATUS_RECEIVED: STEP_REVIEW,
    STATUS_UNDER_REVIEW: STEP_TRACK,
    STATUS_IN_FOLLOW_UP: STEP_ANSWER,
    STATUS_ANSWERED: STEP_REPORT,
    STATUS_REPORTED: STEP_CLOSE,
    STATUS_ACKNOWLEDGED: STEP_FORWARD,
    STATUS_FORWARDED: STEP_CLOSE,
    STATUS_CLOSED: STEP_DONE,
    STATUS_MERGED: STEP_DONE,
}
#: Guided actions → the ``ACTION_ROLES`` entry each needs. ``start_review`` claims and starts R6.
GUIDED_ACTION_RIGHTS: dict[str, str] = {
    "start_review": "claim",
    "set_track": "track",
    "request_apip": "request_apip",
    "approve_apip": "approve_apip",
    "reject_apip": "reject_apip",
    "answer": "answer",
    "report_up": "report_up",
    "close": "close",
    "forward": "transition",
    "reopen": "reopen",
}


@dataclass(frozen=True)
class Guide:
    """Where a record stands on its path and what ``actor`` may do about it now."""

    path: tuple[str, ...]
    step: str
    actions: tuple[str, ...]
    can_reply: bool
    waiting_for_superior: bool = False


def guide(complaint: Complaint, actor: User) -> Guide:
    """Return the step that applies now and the guided actions this actor's role may take in it.

    A closed record offers nothing but reopening; a reported one is closed by the superior it was
    reported to (its assignee since ``report_up``) or by a manager.
    """
    path = PENGADUAN_PATH if complaint.kind == rules.KIND_PENGADUAN else SARAN_PATH
    step = _STEP_OF_STATUS.get(complaint.status, STEP_DONE)
    wanted: list[str] = []
    waiting = False
    if step == STEP_REVIEW:
        wanted = ["start_review"]
    elif step == STEP_TRACK:
        wanted = ["set_track", "answer"]
    elif step == STEP_ANSWER:
        wanted = ["answer"]
    elif step == STEP_REPORT:
        wanted = ["report_up"]
    elif step == STEP_FORWARD:
        wanted = ["forward", "close"]
    elif step == STEP_CLOSE:
        mine = complaint.assignee_id in (None, actor.id) or actor.role in _MANAGERS
        waiting = complaint.kind == rules.KIND_PENGADUAN and not mine
        wanted = [] if waiting else ["close"]
    elif complaint.status == STATUS_CLOSED:
        wanted = ["reopen"]
    workable = complaint.kind == rules.KIND_PENGADUAN and complaint.status in OPEN_STATUSES
    if workable and complaint.apip_approved_at is None:
        wanted += ["approve_apip", "reject_apip"] if complaint.apip_requested_at else ["request_apip"]
    allowed = tuple(
        a for a in wanted if actor.is_active and actor.role in ACTION_ROLES[GUIDED_ACTION_RIGHTS[a]]
    )
    return Guide(
        path=path,
        step=step,
        actions=allowed,
        can_reply=complaint.status not in (STATUS_CLOSED, STATUS_MERGED),
        waiting_for_superior=waiting,
    )


def ensure_can_reply(complaint: Complaint) -> None:
    """Refuse a message to the citizen on a closed or merged record (reopen it first)."""
    if complaint.status in (STATUS_CLOSED, STATUS_MERGED):
        raise TransitionError(
            f"{complaint.tracking_number} is {complaint.status}: reopen it before writing to the citizen"
        )


def start_review(session: Session, complaint: Complaint, *, actor: User, now: dt.datetime) -> Complaint:
    """Take the record and start its review (R6) in one step: the first thing an officer does."""
    if complaint.claimed_by_id is None:
        claim(session, complaint, actor=actor, now=now)
    return set_review(session, complaint, actor=actor, now=now)
