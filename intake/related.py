"""R6c: find earlier complaints on the same matter (same contact, same service, similar text).

Aduan only suggests links; the officer confirms or dismisses each one, and the decision is logged.
Candidates come from the last 12 months before the complaint was received.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from intake.ingest import _insert_ignore, record_event
from intake.models import Complaint, User
from intake.office import normalise_text
from intake.workflow import ACTION_ROLES, PermissionDenied, TransitionError, actor_name
from intake.workflow_models import LINK_CONFIRMED, LINK_DISMISSED, LINK_SUGGESTED, RelatedLink

#: R6c looks back this far.
LOOKBACK = dt.timedelta(days=365)
#: Word-set overlap (Jaccard) from which two texts count as similar.
TEXT_THRESHOLD = 0.3
#: At most this many recent complaints are compared by text (the others match by contact/service).
TEXT_CANDIDATES = 2000
REASON_CONTACT = "contact"
REASON_SERVICE = "service"
REASON_TEXT = "text"

_WORD = re.compile(r"[a-z0-9]{3,}")
# Words too common in complaints to say two are about the same matter.
_STOP = frozenset(
    [
        "yang",
        "dan",
        "untuk",
        "dengan",
        "dari",
        "ini",
        "itu",
        "sudah",
        "belum",
        "tidak",
        "ada",
        "saya",
        "kami",
        "pak",
        "bu",
        "bapak",
        "ibu",
        "mohon",
        "tolong",
        "izin",
        "sejak",
        "karena",
        "pada",
        "akan",
        "bisa",
        "juga",
        "atau",
        "kenapa",
        "mengapa",
        "sampai",
        "masih",
        "hari",
    ]
)


@dataclass(frozen=True)
class Candidate:
    """An earlier complaint that may be related, with why and how strongly."""

    complaint_id: int
    tracking_number: str
    reasons: tuple[str, ...]
    score: float


def words(text: str) -> frozenset[str]:
    """Return the meaningful words of a text, for similarity."""
    return frozenset(w for w in _WORD.findall(normalise_text(text)) if w not in _STOP)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two word sets (0 … 1)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def find_related(
    session: Session, complaint: Complaint, *, limit: int = 20, text_candidates: int = TEXT_CANDIDATES
) -> list[Candidate]:
    """R6c: return earlier complaints of the same contact or service, or with similar text, best first.

    The service is the one an officer set, else the bot's suggestion (most records are not
    classified by hand yet), on either side.
    """
    since = complaint.received_at - LOOKBACK
    window = sa.and_(
        Complaint.id != complaint.id,  # type: ignore[arg-type]
        Complaint.received_at >= since,  # type: ignore[arg-type,operator]
        Complaint.received_at <= complaint.received_at,  # type: ignore[arg-type,operator]
        Complaint.office == complaint.office,  # type: ignore[arg-type]
    )
    found: dict[int, tuple[Complaint, set[str], float]] = {}

    def add(row: Complaint, reason: str, score: float) -> None:
        assert row.id is not None
        _, reasons, best = found.get(row.id, (row, set(), 0.0))
        reasons.add(reason)
        found[row.id] = (row, reasons, max(best, score))

    same_person: list[Any] = []
    if complaint.contact_urn:
        same_person.append(Complaint.contact_urn == complaint.contact_urn)
    if complaint.reporter_id is not None:
        same_person.append(Complaint.reporter_id == complaint.reporter_id)
    if same_person:
        for row in session.exec(select(Complaint).where(window, sa.or_(*same_person)).limit(200)).all():
            add(row, REASON_CONTACT, 1.0)
    service = complaint.service_code or complaint.suggested_service_code
    if service:
        theirs = sa.func.coalesce(Complaint.service_code, Complaint.suggested_service_code)
        for row in session.exec(
            select(Complaint)
            .where(window, theirs == service)
            .order_by(Complaint.received_at.desc())  # type: ignore[attr-defined]
            .limit(200)
        ).all():
            add(row, REASON_SERVICE, 0.5)
    mine = words(complaint.text)
    if mine:
        recent = session.exec(
            select(Complaint)
            .where(window)
            .order_by(Complaint.received_at.desc())  # type: ignore[attr-defined]
            .limit(text_candidates)
        ).all()
        for row in recent:
            score = similarity(mine, words(row.text))
            if score >= TEXT_THRESHOLD:
                add(row, REASON_TEXT, score)
    ranked = sorted(found.values(), key=lambda item: (-len(item[1]), -item[2], -(item[0].id or 0)))
    return [
        Candidate(row.id or 0, row.tracking_number, tuple(sorted(reasons)), round(score, 3))
        for row, reasons, score in ranked[:limit]
    ]


def suggest_links(session: Session, complaint: Complaint, *, now: dt.datetime) -> list[RelatedLink]:
    """Store the candidates as suggested links (once each; decided links stay as decided)."""
    assert complaint.id is not None
    for cand in find_related(session, complaint):
        _insert_ignore(
            session,
            RelatedLink,
            {
                "complaint_id": complaint.id,
                "related_id": cand.complaint_id,
                "reasons": ",".join(cand.reasons),
                "score": cand.score,
                "status": LINK_SUGGESTED,
                "created_at": now,
            },
            ["complaint_id", "related_id"],
        )
    return links_of(session, complaint)


def links_of(session: Session, complaint: Complaint, *, status: str | None = None) -> list[RelatedLink]:
    """Return the related-complaint links of a record (optionally only one status)."""
    query = select(RelatedLink).where(RelatedLink.complaint_id == complaint.id)
    if status is not None:
        query = query.where(RelatedLink.status == status)
    return list(session.exec(query.order_by(RelatedLink.id)).all())  # type: ignore[arg-type]


def decide_link(
    session: Session, link: RelatedLink, *, actor: User, now: dt.datetime, confirm: bool
) -> RelatedLink:
    """Confirm or dismiss a suggested link (R6c); the decision goes to the complaint's log."""

    if actor.role not in ACTION_ROLES["review"]:
        raise PermissionDenied(f"role {actor.role!r} may not review complaints")
    new = LINK_CONFIRMED if confirm else LINK_DISMISSED
    if link.status == new:
        raise TransitionError(f"the link is already {new}")
    link.status, link.decided_by_id, link.decided_at = new, actor.id, now
    session.add(link)
    complaint = session.get(Complaint, link.complaint_id)
    related = session.get(Complaint, link.related_id)
    assert complaint is not None and related is not None
    record_event(
        session,
        complaint,
        actor=actor_name(actor),
        action="related",
        now=now,
        field="related_link",
        new=new,
        note=related.tracking_number,
    )
    return link
