"""``aduan simulate``: chat with the intake dialogue in the console, or play a script of citizen messages.

Officers try wording with it; tests use it. It runs on a throwaway PostgreSQL database built from the
office's config (so no real record, tracking number or queued reply is touched): each message goes
through ``intake.ingest.ingest`` and the message hooks exactly as ``jobs.pipeline`` runs them, and
replies go through the real outbox to an outbound adapter that prints instead of sending.

A script has one citizen message per line. ``#`` starts a comment line; ``@wait 25h`` (``s``, ``m``,
``h``, ``d``) moves the clock on and runs the scheduler's timeout filing; ``@photo [caption]`` sends an
image. Registered by importing it in ``cli.main``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from channels.base import Attachment, InboundMessage, OutboundMessage
from cli.app import app, echo_json, fail, parse_when, settings_of

#: Chat channels the dialogue serves, and the URN scheme of their senders.
CHAT_SCHEMES = {
    "sms": "tel",
    "whatsapp": "whatsapp",
    "telegram": "telegram",
    "instagram": "instagram",
    "twitter": "twitter",
}
_WAIT = re.compile(r"^@wait\s+(\d+(?:\.\d+)?)\s*([smhd])$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class PrintSender:
    """An outbound adapter that prints each reply instead of sending it."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def send(self, out: OutboundMessage) -> str:
        """Print the reply, indented under ``bot>``, and return a fake provider id."""
        lines = (out.text or f"[template {out.template}]").splitlines() or [""]
        typer.echo("bot> " + lines[0])
        for line in lines[1:]:
            typer.echo(("     " + line).rstrip())
        return f"sim-{next(self._ids)}"


class SimClock:
    """The simulation's clock: starts at ``--now`` and moves on by itself between messages."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def sender_urn(channel: str, value: str) -> str:
    """Turn ``--from`` into the channel's URN (``whatsapp:+62…``, ``tel:+62…``, ``telegram:123``)."""
    from channels.urns import InvalidContact, phone_urn  # deliberate lazy import (CLI start-up time)

    scheme = CHAT_SCHEMES[channel]
    if scheme in ("tel", "whatsapp"):
        return phone_urn(scheme, value)
    value = value.split(":", 1)[1] if value.startswith(f"{scheme}:") else value
    if not value.strip():
        raise InvalidContact(f"an empty {channel} account id")
    return f"{scheme}:{value.strip()}"


def script_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` of a script, without blank lines and ``#`` comments."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _interactive() -> Iterator[tuple[int, str]]:
    """Yield the lines typed at the console (or piped in, then echoed like a script)."""
    tty = sys.stdin.isatty()
    if tty:
        typer.echo("Ketik pesan warga; /keluar untuk selesai (type citizen messages; /quit to finish).")
    number = 0
    while True:
        try:
            line = input("anda> " if tty else "")
        except EOFError:
            return
        number += 1
        if line.strip() in ("/quit", "/keluar"):
            return
        if line.strip():
            if not tty:
                typer.echo(f"anda> {line.strip()}")
            yield number, line.strip()


@app.command()
def simulate(
    ctx: typer.Context,
    channel: Annotated[
        str, typer.Option("--channel", help="Kanal (channel): whatsapp, sms, telegram…")
    ] = "whatsapp",
    sender: Annotated[
        str, typer.Option("--from", help="Pengirim (sender): nomor atau id akun.")
    ] = "+6281200000001",
    script: Annotated[
        Path | None, typer.Option("--script", help="Berkas naskah, satu pesan per baris (script file).")
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Waktu mulai (start moment), ISO-8601, e.g. 2026-03-10T10:00.")
    ] = None,
    step: Annotated[
        float, typer.Option("--step", help="Detik antar pesan (seconds between messages).", min=0)
    ] = 30,
) -> None:
    """Coba percakapan bot di konsol (try the intake dialogue; prints replies, then the records as JSON)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from app.bootstrap import build
    from bot.dialogue import file_stale_drafts
    from channels.urns import InvalidContact
    from intake import db
    from intake.ingest import complaint_summary, ingest
    from intake.models import Complaint
    from outbound import outbox

    if channel not in CHAT_SCHEMES:
        fail(f"channel {channel!r} has no dialogue; chat channels: {', '.join(CHAT_SCHEMES)}")
    try:
        urn = sender_urn(channel, sender)
    except InvalidContact as exc:
        fail(f"--from: {exc}")
    if script is not None and not script.is_file():
        fail(f"script not found: {script}")
    lines = list(script_lines(script.read_text(encoding="utf-8"))) if script is not None else None
    for number, line in lines or []:
        if line.startswith("@") and not (_WAIT.match(line) or line.lower().split()[0] == "@photo"):
            fail(f"{script}:{number}: unknown directive {line.split()[0]!r}; known: @wait <n>[smhd], @photo")
    settings = settings_of(ctx)
    start = parse_when(now, ctx) if now else dt.datetime.now(dt.UTC)
    clock = SimClock(start)
    with db.scratch_database(settings.database_url) as engine:
        container = build(settings, engine=engine, clock=clock, migrate=False)
        printer = PrintSender()
        for name in CHAT_SCHEMES:  # never a real provider, whatever channel the outbox picks
            container.senders[name] = printer
        first = True
        for _number, line in lines if lines is not None else _interactive():
            wait = _WAIT.match(line)
            if wait:
                clock.now += dt.timedelta(**{_UNITS[wait[2].lower()]: float(wait[1])})
                file_stale_drafts(container)
                outbox.deliver_due(container)
                continue
            if not first:
                clock.now += dt.timedelta(seconds=step)
            first = False
            attachments: tuple[Attachment, ...] = ()
            text = line
            if line.lower().split()[0] == "@photo":
                text = line[len("@photo") :].strip()
                attachments = (Attachment(content_type="image/jpeg", url="https://example.test/foto.jpg"),)
            if lines is not None:
                typer.echo("anda> " + " ".join(p for p in ("[foto]" if attachments else "", text) if p))
            message = InboundMessage(
                channel=channel,
                external_id=f"sim-{uuid.uuid4().hex}",
                sender=urn,
                text=text,
                attachments=attachments,
            )
            moment = container.now()
            with db.write_session(engine) as s:  # the same steps as the inbound job (jobs.pipeline)
                result = ingest(session=s, message=message, now=moment, office=container.office)
                if not result.duplicate:
                    for hook in container.message_hooks:
                        if hook(container, s, result, moment):
                            break
            outbox.deliver_due(container)
        with db.session(engine) as s:
            rows = s.exec(select(Complaint).where(Complaint.contact_urn == urn).order_by(Complaint.id)).all()  # type: ignore[arg-type]
        summaries = [complaint_summary(c) for c in rows]
    sys.stdout.flush()
    echo_json(summaries)
