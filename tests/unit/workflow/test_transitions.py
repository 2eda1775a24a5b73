"""R6–R8 workflow: every allowed and every forbidden status change, roles, APIP approval (R7c)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, cast

import pytest
from sqlmodel import Session

from intake import rules, workflow
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
from intake.roles import ADMIN, AUDITOR, DIVISION_HEAD, HEAD, LIAISON, OFFICER, SECTION_HEAD

NOW = dt.datetime(2026, 3, 11, 3, 0, tzinfo=dt.UTC)

#: The procedure written out by hand, independently of workflow.TRANSITIONS.
EXPECTED: dict[str, dict[str, set[str]]] = {
    rules.KIND_PENGADUAN: {
        STATUS_RECEIVED: {STATUS_UNDER_REVIEW, STATUS_MERGED},
        STATUS_UNDER_REVIEW: {STATUS_IN_FOLLOW_UP, STATUS_ANSWERED, STATUS_MERGED},
        STATUS_IN_FOLLOW_UP: {STATUS_UNDER_REVIEW, STATUS_ANSWERED, STATUS_MERGED},
        STATUS_ANSWERED: {STATUS_REPORTED},
        STATUS_REPORTED: {STATUS_CLOSED},
        STATUS_CLOSED: {STATUS_UNDER_REVIEW},
        STATUS_MERGED: set(),
    },
    rules.KIND_SARAN: {
        STATUS_ACKNOWLEDGED: {STATUS_FORWARDED, STATUS_CLOSED, STATUS_MERGED},
        STATUS_FORWARDED: {STATUS_CLOSED},
        STATUS_CLOSED: {STATUS_ACKNOWLEDGED},
        STATUS_MERGED: set(),
    },
}


class FakeSession:
    """An in-memory stand-in for the session: transitions only add rows (events) to it."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)

    def flush(self) -> None:
        pass


def _transition(session: FakeSession, complaint: Complaint, **kwargs: Any) -> Complaint:
    """The real ``workflow.transition`` on the in-memory session (it only calls add and flush)."""
    return workflow.transition(cast(Session, session), complaint, **kwargs)


def _complaint(kind: str, status: str) -> Complaint:
    """A complaint in ``status`` with what each status implies already filled in."""
    return Complaint(
        id=1,
        tracking_number="PWK-2026-000001",
        year=2026,
        seq=1,
        kind=kind,
        channel="sms",
        received_at=NOW,
        due_date=dt.date(2026, 4, 7),
        status=status,
        track="internal",
        answer_text="Izin sudah terbit.",
        merged_into_id=2,
    )


OFFICER_USER = User(id=10, username="petugas", role=OFFICER)
CASES = [
    (kind, src, dst)
    for kind, table in EXPECTED.items()
    for src, dst in itertools.product(table, workflow.STATUSES)
]


@pytest.mark.parametrize(("kind", "src", "dst"), CASES, ids=[f"{k}:{s}->{d}" for k, s, d in CASES])
def test_r6_r8_transition_allowed_or_refused(kind: str, src: str, dst: str) -> None:
    """Each (kind, from, to) is allowed exactly when the procedure table says so."""
    session = FakeSession()
    complaint = _complaint(kind, src)
    allowed = dst in EXPECTED[kind][src]
    note = "warga menanggapi jawaban" if src == STATUS_CLOSED else None
    if allowed:
        _transition(session, complaint, to=dst, actor=OFFICER_USER, now=NOW, note=note)
        assert complaint.status == dst
        event = session.added[-1]
        assert (event.action, event.old_value, event.new_value, event.actor) == (
            "status",
            src,
            dst,
            "user:petugas",
        )
    else:
        with pytest.raises(workflow.TransitionError) as err:
            _transition(session, complaint, to=dst, actor=OFFICER_USER, now=NOW, note=note)
        assert complaint.status == src
        assert "allowed" in str(err.value)
        assert not session.added


def test_r6_allowed_transitions_lists_the_table() -> None:
    """``allowed_transitions`` agrees with the hand-written table for every kind and status."""
    for kind, table in EXPECTED.items():
        for src, targets in table.items():
            assert set(workflow.allowed_transitions(_complaint(kind, src))) == targets, (kind, src)


def test_r8_answered_needs_text_via_answer() -> None:
    """A bare transition to answered without the answer's text is refused."""
    complaint = _complaint(rules.KIND_PENGADUAN, STATUS_UNDER_REVIEW)
    complaint.answer_text = None
    with pytest.raises(workflow.TransitionError, match="answer"):
        _transition(FakeSession(), complaint, to=STATUS_ANSWERED, actor=OFFICER_USER, now=NOW)


def test_r7_follow_up_needs_a_track() -> None:
    """Follow-up (ditindaklanjuti) needs a resolution track first."""
    complaint = _complaint(rules.KIND_PENGADUAN, STATUS_UNDER_REVIEW)
    complaint.track = None
    with pytest.raises(workflow.TransitionError, match="track"):
        _transition(FakeSession(), complaint, to=STATUS_IN_FOLLOW_UP, actor=OFFICER_USER, now=NOW)


def test_reopen_needs_a_reason() -> None:
    """A closed record is reopened only with a reason."""
    complaint = _complaint(rules.KIND_PENGADUAN, STATUS_CLOSED)
    with pytest.raises(workflow.TransitionError, match="reason"):
        _transition(FakeSession(), complaint, to=STATUS_UNDER_REVIEW, actor=OFFICER_USER, now=NOW)


def test_unknown_status_lists_known_ones() -> None:
    """An unknown target status names the known ones."""
    with pytest.raises(workflow.TransitionError, match="known: received"):
        _transition(
            FakeSession(),
            _complaint("pengaduan", STATUS_RECEIVED),
            to="done",
            actor=OFFICER_USER,
            now=NOW,
        )


@pytest.mark.parametrize("role", [AUDITOR, LIAISON, ADMIN])
def test_roles_outside_the_case_ladder_cannot_change_status(role: str) -> None:
    """The APIP auditor is read-only; liaison and administrator do not move complaints."""
    complaint = _complaint(rules.KIND_PENGADUAN, STATUS_RECEIVED)
    with pytest.raises(workflow.PermissionDenied, match=role):
        _transition(
            FakeSession(),
            complaint,
            to=STATUS_UNDER_REVIEW,
            actor=User(id=3, username="x", role=role),
            now=NOW,
        )
    assert complaint.status == STATUS_RECEIVED


@pytest.mark.parametrize("role", [OFFICER, SECTION_HEAD, DIVISION_HEAD, HEAD])
def test_case_roles_may_change_status(role: str) -> None:
    """Every level of the R7a ladder may move a complaint along."""
    complaint = _complaint(rules.KIND_PENGADUAN, STATUS_RECEIVED)
    _transition(
        FakeSession(),
        complaint,
        to=STATUS_UNDER_REVIEW,
        actor=User(id=3, username="x", role=role),
        now=NOW,
    )
    assert complaint.status == STATUS_UNDER_REVIEW


def test_inactive_user_is_refused() -> None:
    """A deactivated account cannot act."""
    with pytest.raises(workflow.PermissionDenied):
        _transition(
            FakeSession(),
            _complaint("pengaduan", STATUS_RECEIVED),
            to=STATUS_UNDER_REVIEW,
            actor=User(id=3, username="x", role=OFFICER, is_active=False),
            now=NOW,
        )


def test_r4_watch_stops_when_answered_and_resumes_on_reopen() -> None:
    """Leaving the open statuses clears next_checkpoint_at; reopening sets it to now for the sweep."""
    complaint = _complaint(rules.KIND_PENGADUAN, STATUS_UNDER_REVIEW)
    complaint.answer_text = "Jawaban"
    complaint.next_checkpoint_at = NOW
    _transition(FakeSession(), complaint, to=STATUS_ANSWERED, actor=OFFICER_USER, now=NOW)
    assert complaint.next_checkpoint_at is None and complaint.answered_at == NOW
    complaint.status = STATUS_CLOSED
    later = NOW + dt.timedelta(days=3)
    _transition(
        FakeSession(),
        complaint,
        to=STATUS_UNDER_REVIEW,
        actor=OFFICER_USER,
        now=later,
        note="warga keberatan",
    )
    assert complaint.next_checkpoint_at == later and complaint.closed_at is None
