"""CLI of the procedure after intake: ``aduan sweep``, ``aduan worker``, ``aduan report-followup``."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, container_of, echo_json, fail, parse_when


@app.command()
def sweep(
    ctx: typer.Context,
    now: Annotated[
        str | None, typer.Option("--now", help="Waktu sapuan (sweep as if it were this moment), ISO-8601.")
    ] = None,
    no_deliver: Annotated[
        bool, typer.Option("--no-deliver", help="Catat saja, jangan kirim (record alerts, do not send).")
    ] = False,
) -> None:
    """Periksa tenggat R4 sekali (one deadline sweep: reminders, escalations, overdue alerts)."""

    from outbound import escalation  # deliberate lazy import (CLI start-up time, issue 17)

    container = container_of(ctx)
    moment = parse_when(now, ctx) if now else None
    if moment is not None:
        container.clock = lambda: moment
    report = escalation.sweep(container, now=moment, deliver=not no_deliver, retry=True)
    echo_json(report.as_json())


@app.command()
def worker(
    ctx: typer.Context,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Antrean (queue): inbound, outbound, periodic, watch; default all."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Tugas sekaligus (jobs at once).", min=1)] = 4,
) -> None:
    """Jalankan pekerja antrean (run a job worker: inbound, outbound, periodic jobs) until Ctrl+C."""
    # A stop asked for while the worker still starts (a service manager's quick restart) ends it
    # cleanly: nothing has been taken yet. Once it runs, the loop's handler below finishes its jobs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Lazy: the job queue's modules load only for the commands that run it (CLI start-up time).
    import asyncio

    from jobs import queue as queues
    from jobs import worker as jobs_worker
    from ops.logging import configure as configure_logging

    unknown = sorted(set(queue or ()) - set(queues.QUEUES))
    if unknown:
        fail(f"unknown queue {', '.join(unknown)}; known: {', '.join(queues.QUEUES)}")
    container = container_of(ctx)
    configure_logging(container.settings)  # JSON lines, personal data redacted (UU 27/2022)
    typer.echo("Aduan worker: menunggu tugas (waiting for jobs; Ctrl+C to stop)", err=True)

    async def main() -> None:
        task = asyncio.create_task(
            jobs_worker.run(container, queues=queue or queues.QUEUES, concurrency=concurrency)
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


@app.command("report-followup")
def report_followup(
    ctx: typer.Context,
    tracking: Annotated[str, typer.Argument(help="Nomor pelacakan (tracking number).")],
    fmt: Annotated[str, typer.Option("--format", help="html atau pdf.")] = "html",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Berkas keluaran (output file).")
    ] = None,
) -> None:
    """Buat laporan tindak lanjut untuk atasan (follow-up report for the superior, R7a/R8)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from intake import db
    from intake.models import Complaint
    from reports import followup as reports

    if fmt not in ("html", "pdf"):
        fail(f"--format must be html or pdf, not {fmt!r}")
    if fmt == "pdf" and output is None:
        fail("a PDF needs -o FILE")
    container = container_of(ctx)
    with db.session(container.engine) as s:
        complaint = s.exec(
            select(Complaint).where(Complaint.tracking_number == tracking.strip().upper())
        ).first()
        if complaint is None:
            fail(f"no complaint with tracking number {tracking}", code=1)
        data = reports.report_data(s, complaint, office=container.office, now=container.now())
    if fmt == "html":
        html = reports.render_html(data)
        if output is None:
            typer.echo(html)
        else:
            output.write_text(html, encoding="utf-8")
    else:
        assert output is not None
        output.write_bytes(reports.render_pdf(data))
    if output is not None:
        typer.echo(str(output), err=True)
