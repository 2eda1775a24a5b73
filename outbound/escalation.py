"""The R4 deadline sweep: one indexed query for complaints whose next checkpoint has passed.

Deadlines are not one scheduler job per complaint. Each open complaint carries
``next_checkpoint_at`` (indexed with its status); the sweep reads the rows where it has passed,
inserts one ``DeadlineAlert`` per checkpoint that fell due since (INSERT … ON CONFLICT DO NOTHING
on the unique (complaint, checkpoint, occurrence), so two sweepers never alert twice), moves
``next_checkpoint_at`` on, commits, then copies new alerts out by Telegram and email. After a
downtime the window since the stored moment still holds what was missed: it is sent, marked late.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.container import Container
from app.settings import ConfigError
from intake import db, deadlines
from intake.deadlines import NOTIFY_ASSIGNEE, NOTIFY_CITIZEN, EscalationPolicy
from intake.models import Complaint, UTCDateTime
from intake.workflow import OPEN_STATUSES, channel_for_urn
from intake.workflow_models import ALERT_PENDING, ALERT_SENT, DeadlineAlert
from outbound import alerts, outbox

log = logging.getLogger("aduan.escalation")

#: Complaints handled per transaction; a catch-up after a long downtime takes several batches.
BATCH = 1000


@dataclass
class SweepReport:
    """What one sweep did (printed by ``aduan sweep``)."""

    now: dt.datetime
    examined: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0

    def as_json(self) -> dict[str, Any]:
        """Return the report as plain JSON values."""
        return {
            "now": self.now.isoformat(),
            "examined": self.examined,
            "alerts": self.alerts,
            "late": sum(1 for a in self.alerts if a["late"]),
            "delivered": self.delivered,
        }


def install(container: Container) -> None:
    """Read ``[escalation]`` once per office and put the policy on its profile (ingest reads it there).

    An office profile's own ``[escalation]`` keys (its ladder, checkpoints) lie over config.toml's.
    """

    for office in container.offices.values():
        try:
            policy = deadlines.policy_from_config(container.settings.office_section(office, "escalation"))
        except ValueError as exc:
            where = f"{office.source}: " if office.source else ""
            raise ConfigError(f"{where}{exc}") from None
        office.extra["escalation_policy"] = policy


def policy_of(container: Container) -> EscalationPolicy:
    """Return the escalation policy of the current office."""
    return deadlines.policy_of(container.office)


def due_query(now: dt.datetime, *, limit: int, lock: bool = False) -> sa.Select[Any]:
    """The one indexed query: open complaints whose next checkpoint is at or before ``now``."""
    c = Complaint.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(
            c.c.id,
            c.c.tracking_number,
            c.c.received_at,
            c.c.due_date,
            c.c.next_checkpoint_at,
            c.c.assignee_id,
            c.c.contact_urn,
            c.c.office,
        )
        .where(c.c.status.in_(OPEN_STATUSES), c.c.next_checkpoint_at <= now)
        .order_by(c.c.next_checkpoint_at)
        .limit(limit)
    )
    if lock:
        # PostgreSQL: a second sweeper skips rows the first is working on instead of waiting
        query = query.with_for_update(skip_locked=True, of=c)
    return query


#: Columns of an alert row as the sweep writes them, with their PostgreSQL array types.
_ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("complaint_id", "integer"),
    ("checkpoint", "varchar"),
    ("occurrence", "integer"),
    ("notify", "varchar"),
    ("recipient_id", "integer"),
    ("scheduled_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("late", "boolean"),
    ("days_left", "integer"),
    ("text", "text"),
    ("status", "varchar"),
    ("attempts", "integer"),
    ("channels_sent", "varchar"),
)


def _probe_query() -> sa.Select[Any]:
    """Return "is anything due?": the same indexed condition as ``due_query``, one row at most."""
    c = Complaint.__table__  # type: ignore[attr-defined]
    moment = sa.bindparam("now", type_=UTCDateTime)
    return sa.select(c.c.id).where(c.c.status.in_(OPEN_STATUSES), c.c.next_checkpoint_at <= moment).limit(1)


_PROBE = _probe_query()


def _insert_alerts(session: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """INSERT the alert rows, skipping ones already there; return the inserted ones."""
    if not rows:
        return []
    # one statement over column arrays: a thousand-row VALUES list costs more to build than to run
    names = ", ".join(name for name, _ in _ALERT_COLUMNS)
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _ALERT_COLUMNS)
    sql = sa.text(
        f"INSERT INTO deadline_alert ({names}) SELECT * FROM unnest({arrays}) "
        "ON CONFLICT (complaint_id, checkpoint, occurrence) DO NOTHING "
        "RETURNING id, complaint_id, checkpoint, notify"
    )
    params = {name: [r[name] for r in rows] for name, _ in _ALERT_COLUMNS}
    return list(session.execute(sql, params).all())


def _move_checkpoints(session: Any, moves: list[dict[str, Any]]) -> None:
    """Store each examined complaint's next checkpoint moment."""
    session.execute(
        sa.text(
            "UPDATE complaint SET next_checkpoint_at = v.nxt "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:nxts AS timestamptz[])) AS v(id, nxt) "
            "WHERE complaint.id = v.id"
        ),
        {"ids": [m["cid"] for m in moves], "nxts": [m["nxt"] for m in moves]},
    )


def sweep(
    container: Container,
    *,
    now: dt.datetime | None = None,
    deliver: bool = True,
    retry: bool = False,
    batch: int = BATCH,
) -> SweepReport:
    """Run one sweep at ``now``: record every checkpoint that fell due, once; then deliver alerts.

    Delivery runs when this sweep made alerts, or with ``retry`` (``aduan sweep``); the scheduler
    retries failed deliveries in its own job, so an idle sweep is a single indexed read.
    """

    now = now or container.now()
    report = SweepReport(now=now)
    new_staff_alerts: list[int] = []
    inbox_only = not container.services.get("alert_senders")
    seen: set[int] = set()
    while True:
        with container.engine.connect() as probe:
            # the every-minute case is "nothing due": answer it with one read, no write transaction
            if probe.execute(_PROBE, {"now": now}).first() is None:
                break
        with db.write_session(container.engine) as s:
            lock = True
            rows = s.execute(due_query(now, limit=batch, lock=lock)).all()
            if not rows or seen.issuperset(r.id for r in rows):
                break  # nothing (new) is due; a row that did not move on is never looped over
            seen.update(r.id for r in rows)
            report.examined += len(rows)
            values: list[dict[str, Any]] = []
            moves: list[dict[str, Any]] = []
            by_id = {r.id: r for r in rows}
            for r in rows:
                # Each record runs on its own office's calendar, policy, words and alert settings.
                office = container.office_of(r.office)
                policy = deadlines.policy_of(office)
                calendar = office.calendar
                today = calendar.local_date(now)
                settings = alerts.settings_of(container, office)
                for d in deadlines.due_in_window(
                    received_at=r.received_at,
                    due_date=r.due_date,
                    start=r.next_checkpoint_at,
                    end=now,
                    policy=policy,
                    calendar=calendar,
                    deadline_days=office.answer_deadline_working_days,
                ):
                    days_left = calendar.working_days_between(today, r.due_date)
                    late = now - d.moment > policy.late_after
                    cp = d.checkpoint
                    if cp.notify == NOTIFY_CITIZEN and (r.due_date < today or days_left < 1):
                        continue  # a progress notice never promises a date that has passed (or is today)
                    if cp.notify == NOTIFY_CITIZEN:
                        text = alerts.progress_text(
                            tracking=r.tracking_number, due_date=r.due_date, office_name=office.name
                        )
                    else:
                        text = alerts.alert_text(
                            checkpoint=cp.key,
                            notify=cp.notify,
                            tracking=r.tracking_number,
                            days_left=days_left,
                            due_date=r.due_date,
                            late=late,
                            link=settings.link(r.tracking_number),
                            occurrence=d.occurrence,
                        )
                    values.append(
                        {
                            "complaint_id": r.id,
                            "checkpoint": cp.key,
                            "occurrence": d.occurrence,
                            "notify": cp.notify,
                            "recipient_id": r.assignee_id if cp.notify == NOTIFY_ASSIGNEE else None,
                            "scheduled_at": d.moment,
                            "created_at": now,
                            "late": late,
                            "days_left": days_left,
                            "text": text,
                            "status": ALERT_PENDING,
                            "attempts": 0,
                            "channels_sent": "",
                        }
                    )
                nxt = deadlines.next_checkpoint(
                    received_at=r.received_at,
                    due_date=r.due_date,
                    after=now,
                    policy=policy,
                    calendar=calendar,
                    deadline_days=office.answer_deadline_working_days,
                )
                moves.append({"cid": r.id, "nxt": nxt})
            # sorted by key: concurrent sweepers take the unique-index locks in the same order
            values.sort(key=lambda v: (v["complaint_id"], v["checkpoint"], v["occurrence"]))
            inserted = _insert_alerts(s, values)
            source = {(v["complaint_id"], v["checkpoint"]): v for v in values}
            sent_notices: list[int] = []
            for alert_id, complaint_id, checkpoint, notify in inserted:
                src = source[(complaint_id, checkpoint)]
                report.alerts.append(
                    {
                        "tracking_number": by_id[complaint_id].tracking_number,
                        "checkpoint": checkpoint,
                        "occurrence": src["occurrence"],
                        "notify": notify,
                        "late": src["late"],
                        "days_left": src["days_left"],
                        "scheduled_at": src["scheduled_at"].isoformat(),
                    }
                )
                if notify == NOTIFY_CITIZEN:
                    # the progress notice goes through the outbox in this same transaction: once
                    r = by_id[complaint_id]
                    channel = channel_for_urn(r.contact_urn)
                    if channel and r.contact_urn:
                        outbox.enqueue(
                            s,
                            channel=channel,
                            to=r.contact_urn,
                            text=src["text"],
                            now=now,
                            complaint_id=complaint_id,
                            purpose="progress",
                            office=r.office,
                            template="status_pengaduan",
                            template_vars={"1": r.tracking_number, "2": r.due_date.isoformat()},
                        )
                    sent_notices.append(alert_id)
                else:
                    new_staff_alerts.append(alert_id)
            if sent_notices:
                table = DeadlineAlert.__table__  # type: ignore[attr-defined]
                s.execute(
                    sa.update(table)
                    .where(table.c.id.in_(sent_notices))
                    .values(status=ALERT_SENT, sent_at=now, channels_sent="outbox")
                )
            if inbox_only and new_staff_alerts:
                # no Telegram or email configured: the row in the inbox is the whole delivery
                table = DeadlineAlert.__table__  # type: ignore[attr-defined]
                s.execute(
                    sa.update(table)
                    .where(table.c.id.in_(new_staff_alerts))
                    .values(status=ALERT_SENT, sent_at=now, channels_sent="inbox")
                )
                new_staff_alerts.clear()
            _move_checkpoints(s, moves)
        if len(rows) < batch:
            break
    report.alerts.sort(key=lambda a: (a["scheduled_at"], a["tracking_number"], a["checkpoint"]))
    if report.alerts:
        log.info(
            "sweep at %s: %d examined, %d alerts (%d late)",
            now.isoformat(),
            report.examined,
            len(report.alerts),
            sum(1 for a in report.alerts if a["late"]),
        )
    if deliver and (report.alerts or retry):
        report.delivered = alerts.deliver_pending(container, now=now)
    return report


def run_sweep(container: Container) -> int:
    """Scheduler job: sweep at the container's clock; return the number of new alerts."""
    return len(sweep(container).alerts)
