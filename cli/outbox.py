"""``aduan outbox`` (replies queued, failed, sent now) and ``aduan dev sign-webhook`` (a signed demo SMS).

Registered by importing it in ``cli.main``.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import Annotated
from urllib.parse import urlencode

import typer

from cli.app import MAX_ROWS, app, container_of, echo_json, fail, settings_of

dev_app = typer.Typer(help="Alat pengembang (developer tools).", no_args_is_help=True)
app.add_typer(dev_app, name="dev")


@app.command("outbox")
def outbox_cmd(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Hanya yang gagal (only failed ones).")] = False,
    deliver: Annotated[bool, typer.Option("--deliver", help="Kirim sekarang (send due now).")] = False,
    attachments: Annotated[
        bool, typer.Option("--attachments", help="Unduh lampiran tertunda (download pending media).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
    limit: Annotated[int, typer.Option(help="Jumlah baris (rows).", min=1, max=MAX_ROWS)] = 50,
) -> None:
    """Daftar pesan keluar (outbox: replies queued, sent, delivered or failed)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from sqlmodel import select

    from channels.urns import mask
    from intake import db
    from outbound import outbox
    from outbound.attachments import download_pending

    container = container_of(ctx)
    if deliver:
        typer.echo(f"delivered: {outbox.deliver_due(container)} attempted", err=True)
    if attachments:
        typer.echo(f"attachments: {download_pending(container)} downloads attempted", err=True)
    with db.session(container.engine) as s:
        if failed:
            rows = outbox.failed_messages(s, limit=limit)
        else:
            rows = list(
                s.exec(
                    select(outbox.OutboxMessage).order_by(outbox.OutboxMessage.id.desc()).limit(limit)  # type: ignore[union-attr]
                ).all()
            )
    # Officers see who it went to only as a masked URN (UU 27/2022): the record has the rest.
    data = [
        {
            "id": r.id,
            "channel": r.channel,
            "to": mask(r.to_urn),
            "purpose": r.purpose,
            "status": r.status,
            "attempts": r.attempts,
            "complaint_id": r.complaint_id,
            "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
            "last_error": r.last_error,
            "note": r.note,
            "extra": json.loads(r.extra or "{}"),
        }
        for r in rows
    ]
    if as_json:
        echo_json(data)
        return
    if not data:
        typer.echo("(no messages)")
    for d in data:
        line = f"#{d['id']:<6} {d['channel']:<9} {d['status']:<11} try {d['attempts']}  {d['to']}"
        line += f"  {d['purpose']}"
        if d["last_error"]:
            line += f"  error: {d['last_error']}"
        if d["note"]:
            line += f"  note: {d['note']}"
        typer.echo(line)


@dev_app.command("sign-webhook")
def sign_webhook(
    ctx: typer.Context,
    channel: Annotated[str, typer.Option("--channel", help="sms atau whatsapp.")] = "sms",
    sender: Annotated[str, typer.Option("--from", help="Nomor pengirim (sender number).")] = "+6281234567890",
    text: Annotated[str, typer.Option("--text", help="Isi pesan (message text).")] = (
        "Izin PBG saya sudah tiga minggu belum selesai."
    ),
    url: Annotated[str | None, typer.Option("--url", help="URL publik (public URL Twilio calls).")] = None,
) -> None:
    """Cetak perintah curl webhook Twilio bertanda tangan (print a signed demo webhook as curl)."""
    from twilio.request_validator import RequestValidator

    from channels import _twilio

    if channel not in ("sms", "whatsapp"):
        fail(f"channel {channel!r} is not signed by Twilio; choose sms or whatsapp")
    settings = settings_of(ctx)
    token = settings.secret(_twilio.AUTH_TOKEN_ENV)
    if not token:
        # Sign only with the secret the server checks against; `make demo-webhook` sets the demo one.
        fail(
            f"environment variable {_twilio.AUTH_TOKEN_ENV} is not set (the demo office: `make demo-webhook`)"
        )
    account = settings.secret(_twilio.ACCOUNT_SID_ENV) or "AC" + "0" * 32
    base = settings.public_base_url or "http://127.0.0.1:8000"
    target = url or f"{base}/hooks/{channel}"
    office = str(settings.channel(channel).get("from_number") or "+6281809898222")
    prefix = "whatsapp:" if channel == "whatsapp" else ""
    sid = "SM" + format(time.time_ns(), "032x")[-32:]
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account,
        "From": prefix + sender.removeprefix("whatsapp:"),
        "To": prefix + office.removeprefix("whatsapp:"),
        "Body": text,
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(token).compute_signature(target, params)
    typer.echo(
        f"curl -sS -X POST {shlex.quote(target)} -H {shlex.quote('X-Twilio-Signature: ' + signature)} "
        f"-H 'Content-Type: application/x-www-form-urlencoded' --data {shlex.quote(urlencode(params))}"
    )
