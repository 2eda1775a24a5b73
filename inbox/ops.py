"""Operations endpoints: ``/metrics`` in the Prometheus text format, and the readiness report.

Every figure is read from the database at scrape time, so any web process answers for the whole
deployment (several ``aduan serve`` processes and one ``aduan worker``). Nothing here carries
personal data: counts by channel, status and office only. It needs ``Authorization: Bearer
<ADUAN_METRICS_TOKEN>``; without a token it is refused unless ``[security] metrics_without_token``
is true (then restrict ``/metrics`` in the reverse proxy, deploy/nginx).
Format: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from app.container import Container
from inbox.deps import ContainerDep
from intake.models import (
    RAW_QUARANTINED,
    RAW_STORED,
    STATUS_IN_FOLLOW_UP,
    STATUS_RECEIVED,
    STATUS_UNDER_REVIEW,
    Complaint,
    Message,
    RawInbound,
    Rejection,
)
from intake.rules import KIND_PENGADUAN
from ops import heartbeat
from outbound.outbox import OutboxMessage

log = logging.getLogger("aduan.ops")

#: Statuses in which a complaint still waits for its R4 answer.
OPEN_STATUSES = (STATUS_RECEIVED, STATUS_UNDER_REVIEW, STATUS_IN_FOLLOW_UP)
#: Heartbeat names of the R4 deadline sweep (bot/scheduler.py job id, or a plain "sweep").
SWEEP_NAMES = ("deadline_sweep", "sweep")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Exposition:
    """Builds the text format: one HELP/TYPE header per metric, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, Any], float]]
    ) -> None:
        """Add one metric family with its samples."""
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            number = repr(float(value)) if isinstance(value, float) else str(int(value))
            self.lines.append(f"{name}{{{text}}} {number}" if text else f"{name} {number}")

    def text(self) -> str:
        """Return the document."""
        return "\n".join(self.lines) + "\n"


def _grouped(conn: sa.Connection, table: Any, *columns: str) -> list[tuple[dict[str, Any], float]]:
    cols = [table.c[c] for c in columns]
    rows = conn.execute(sa.select(*cols, sa.func.count()).group_by(*cols).order_by(*cols)).all()
    return [({c: (r[i] if r[i] is not None else "") for i, c in enumerate(columns)}, r[-1]) for r in rows]


def _table(model: Any) -> Any:
    return model.__table__


def collect(container: Container) -> str:
    """Read every figure from the database and return the exposition text."""
    started = time.perf_counter()
    now = container.now()
    today = container.office.calendar.local_date(now)
    out = Exposition()
    raw, msg, cmp, rej = _table(RawInbound), _table(Message), _table(Complaint), _table(Rejection)
    with container.engine.connect() as conn:
        out.metric(
            "aduan_messages_in_total",
            "counter",
            "Citizen messages stored, by channel.",
            _grouped(conn, msg, "channel"),
        )
        out.metric(
            "aduan_raw_payloads_total",
            "counter",
            "Raw payloads kept as received, by channel and status.",
            _grouped(conn, raw, "channel", "status"),
        )
        quarantined = conn.execute(
            sa.select(sa.func.count()).select_from(raw).where(raw.c.status == RAW_QUARANTINED)
        ).scalar_one()
        out.metric(
            "aduan_raw_quarantined",
            "gauge",
            "Raw payloads that could not be parsed (kept for officers).",
            [({}, quarantined)],
        )
        waiting, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(raw.c.received_at)).where(raw.c.status == RAW_STORED)
        ).one()
        out.metric(
            "aduan_raw_waiting",
            "gauge",
            "Payloads answered and stored, not yet processed (their jobs wait for a worker).",
            [({}, waiting)],
        )
        out.metric(
            "aduan_raw_waiting_oldest_seconds",
            "gauge",
            "Age of the oldest payload waiting for processing (0 when none waits).",
            [({}, round((now - _aware(oldest)).total_seconds(), 3) if oldest else 0.0)],
        )
        out.metric(
            "aduan_rejected_requests_total",
            "counter",
            "Requests refused at the door, by channel and code.",
            _grouped(conn, rej, "channel", "status_code"),
        )
        out.metric(
            "aduan_complaints_total",
            "gauge",
            "Records by office, kind and status.",
            _grouped(conn, cmp, "office", "kind", "status"),
        )
        overdue = conn.execute(
            sa.select(cmp.c.office, sa.func.count())
            .where(cmp.c.kind == KIND_PENGADUAN, cmp.c.status.in_(OPEN_STATUSES), cmp.c.due_date < today)
            .group_by(cmp.c.office)
        ).all()
        out.metric(
            "aduan_complaints_overdue",
            "gauge",
            "Open complaints past their R4 answer date (14 working days), by office.",
            [({"office": o}, n) for o, n in overdue] or [({"office": container.office.code}, 0)],
        )
        _outbox(conn, out)
        _jobs(conn, out)
        _heartbeats(conn, out, now)
    out.metric(
        "aduan_metrics_scrape_seconds",
        "gauge",
        "Time this scrape took to read the database.",
        [({}, round(time.perf_counter() - started, 6))],
    )
    return out.text()


def _outbox(conn: sa.Connection, out: Exposition) -> None:
    box = _table(OutboxMessage)
    out.metric(
        "aduan_outbox_messages",
        "gauge",
        "Outbound messages by channel and status (queued+sending = backlog).",
        _grouped(conn, box, "channel", "status"),
    )
    backlog = conn.execute(
        sa.select(sa.func.count()).select_from(box).where(box.c.status.in_(("queued", "sending")))
    ).scalar_one()
    out.metric(
        "aduan_outbox_backlog", "gauge", "Outbound messages not yet handed to a provider.", [({}, backlog)]
    )


def _jobs(conn: sa.Connection, out: Exposition) -> None:
    """The job queue (procrastinate_jobs): jobs waiting, running and failed, by queue."""
    rows = conn.execute(
        sa.text(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing', 'failed') GROUP BY queue_name, status"
        )
    ).all()
    out.metric(
        "aduan_jobs",
        "gauge",
        "Background jobs by queue and status (todo = waiting, doing = running, failed = gave up).",
        [({"queue": q, "status": st}, n) for q, st, n in rows],
    )


def _heartbeats(conn: sa.Connection, out: Exposition, now: dt.datetime) -> None:
    table = _table(heartbeat.Heartbeat)
    try:
        rows = conn.execute(sa.select(table)).mappings().all()
    except sa.exc.ProgrammingError:  # database not migrated to 0009_ops yet
        conn.rollback()
        return
    except sa.exc.OperationalError:
        return
    out.metric(
        "aduan_heartbeat_age_seconds",
        "gauge",
        "Seconds since background work last ran, by name.",
        [({"name": r["name"]}, round((now - _aware(r["beat_at"])).total_seconds(), 3)) for r in rows],
    )
    out.metric(
        "aduan_heartbeat_duration_seconds",
        "gauge",
        "How long the last run took, by name.",
        [({"name": r["name"]}, r["duration_ms"] / 1000) for r in rows if r["duration_ms"] is not None],
    )
    sweep = [r for r in rows if r["name"] in SWEEP_NAMES and r["duration_ms"] is not None]
    out.metric(
        "aduan_sweep_duration_seconds",
        "gauge",
        "Duration of the last deadline sweep (R4 watch).",
        [({}, sweep[0]["duration_ms"] / 1000)] if sweep else [],
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def readiness(container: Container) -> tuple[int, dict[str, Any]]:
    """Check the database and report the background work's heartbeats: ``(http_status, document)``.

    A stale poller makes the status ``degraded`` but keeps 200: the web process itself can still
    take webhooks, and a load balancer must not drop it for the worker's sake (``?strict=1`` → 503).
    """
    try:
        with container.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return 503, {"status": "unavailable", "database": type(exc).__name__}
    doc: dict[str, Any] = {"status": "ok", "database": "ok"}
    now = container.now()
    try:
        beats = heartbeat.read_all(container.engine)
    except sa.exc.SQLAlchemyError:
        return 200, doc
    if beats:
        doc["workers"] = {
            b.name: {
                "state": "stale" if heartbeat.is_stale(b, now) else ("error" if b.status != "ok" else "ok"),
                "age_seconds": round((now - b.beat_at).total_seconds(), 1),
            }
            for b in beats
        }
        if any(w["state"] != "ok" for w in doc["workers"].values()):
            doc["status"] = "degraded"
    return 200, doc


class BodyLimit:
    """ASGI middleware: refuse a request body above ``max_bytes`` with 413 before it fills memory.

    The pipeline applies each channel's own, smaller limit (``max_body_bytes``) and records the
    refusal; this is the outer wall for every route (a declared Content-Length is refused at once,
    a chunked body as soon as it passes the limit).
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"error": f"body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_limit(container: Container) -> int:
    """Return the outer body limit: the largest body or attachment the settings allow, plus form overhead."""
    storage = container.settings.storage
    largest = max(storage.max_body_bytes, storage.max_attachment_bytes)
    return largest + 65_536


def _authorised(request: Request, container: Container) -> bool:
    token = container.settings.secret("ADUAN_METRICS_TOKEN")
    if not token:
        # No token: open only when the operator says so (a scraper on a network the proxy guards).
        return container.settings.security.metrics_without_token
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


router = APIRouter(tags=["ops"])


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, container: ContainerDep) -> Any:
    """Prometheus metrics (text format 0.0.4), read from the database."""
    if not _authorised(request, container):
        return JSONResponse(
            {"error": "token required: ADUAN_METRICS_TOKEN, or [security] metrics_without_token"},
            status_code=401,
        )
    try:
        body = collect(container)
    except sa.exc.OperationalError as exc:
        log.error("metrics: database unavailable: %s", type(exc).__name__)
        return JSONResponse({"error": "database unavailable"}, status_code=503)
    return PlainTextResponse(body, media_type=CONTENT_TYPE)


__all__ = ["collect", "readiness", "router"]
