"""Provider webhooks beyond ``WEBHOOK_PATH``: Twilio delivery statuses and Meta's WhatsApp Cloud API.

``POST /hooks/twilio/status``: Twilio's status callbacks for SMS and WhatsApp replies, signed like
inbound webhooks; they move outbox rows along ``queued → sent → delivered → read`` or to failed.
``GET /hooks/whatsapp-cloud``: Meta's subscription check. ``POST /hooks/whatsapp-cloud``: messages
(through the pipeline, like every channel) and delivery statuses of the Cloud API provider.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from bot import outbox
from bot.bootstrap import Container
from bot.pipeline import DatabaseUnavailable, oversized, receive
from channels import _twilio, whatsapp
from channels.base import RawRequest, SignatureError, UnsupportedPayload
from inbox.hooks import raw_request, writer_turn
from intake import db
from intake.ingest import record_rejection

log = logging.getLogger("aduan.hooks")

#: Channels whose replies may be reported by Twilio's status callback (an SMS fallback included).
TWILIO_CHANNELS = ("sms", "whatsapp")


def _reject(container: Container, channel: str, raw: RawRequest, reason: str, status: int) -> None:
    with db.write_session(container.engine) as s:
        record_rejection(
            session=s, channel=channel, reason=reason, body=raw.body, status_code=status, now=container.now()
        )


def apply_statuses(
    container: Container, channels: tuple[str, ...], updates: list[_twilio.StatusUpdate]
) -> int:
    """Apply delivery statuses to outbox rows; return how many rows matched."""
    matched = 0
    with db.write_session(container.engine) as s:
        for update in updates:
            row = outbox.update_status(
                s,
                channel=channels,
                provider_id=update.provider_id,
                status=update.status,
                now=container.now(),
                error=update.error,
            )
            matched += row is not None
    return matched


def twilio_channels(container: Container) -> list[str]:
    """Return the enabled channels that go through Twilio (WhatsApp only with provider twilio)."""
    enabled = container.settings.enabled_channels()
    out = ["sms"] if "sms" in enabled else []
    if "whatsapp" in enabled and container.settings.channel("whatsapp").get("provider", "twilio") == "twilio":
        out.append("whatsapp")
    return out


def twilio_status(container: Container, raw: RawRequest) -> tuple[int, str]:
    """Verify and apply one Twilio status callback; return (HTTP status, reason)."""
    with writer_turn(container):
        return _twilio_status(container, raw, twilio_channels(container)[0])


def _twilio_status(container: Container, raw: RawRequest, channel: str) -> tuple[int, str]:
    try:
        _twilio.verify(raw, container.channel_config(channel).secret(_twilio.AUTH_TOKEN_ENV))
    except SignatureError as exc:
        log.warning("rejected Twilio status callback: %s", exc)
        _reject(container, "sms", raw, f"status signature: {exc}", 403)
        return 403, str(exc)
    # Same limit and size-capped rejection record as the inbound pipeline: 413, not a parse error.
    too_large = oversized(container, channel, raw)
    if too_large is not None:
        return too_large.status, too_large.reason or "body too large"
    try:
        update = _twilio.parse_status(raw)
    except UnsupportedPayload as exc:
        _reject(container, "sms", raw, f"status callback: {exc}", 400)
        return 400, str(exc)
    if not apply_statuses(container, TWILIO_CHANNELS, [update]):
        # Not ours (another app on the account) or already purged: nothing to retry.
        log.info("Twilio status %s for an unknown message", update.status)
    return 200, "ok"


def cloud_post(container: Container, raw: RawRequest) -> tuple[int, str]:
    """Take one Cloud API delivery: messages through the pipeline, then the delivery statuses."""
    with writer_turn(container):
        return _cloud_post(container, raw)


def _cloud_post(container: Container, raw: RawRequest) -> tuple[int, str]:
    receipt = receive(container, "whatsapp", raw)
    if receipt.status != 200:
        return receipt.status, receipt.reason or "bad request"
    try:
        updates = whatsapp.parse_statuses(raw)
    except UnsupportedPayload as exc:
        return 400, str(exc)
    if updates:
        apply_statuses(container, ("whatsapp",), updates)
    return 200, "ok"


def build_router(container: Container) -> APIRouter:
    """Mount the status route when SMS or WhatsApp is on, and the Cloud API routes for provider meta."""
    router = APIRouter(tags=["webhooks"])
    enabled = container.settings.enabled_channels()

    if twilio_channels(container):

        @router.post(_twilio.STATUS_PATH, include_in_schema=False)
        async def twilio_status_callback(request: Request) -> Response:
            raw = await raw_request(request, container)
            try:
                code, reason = await run_in_threadpool(twilio_status, container, raw)
            except DatabaseUnavailable:
                return JSONResponse({"error": "database unavailable"}, status_code=503)
            if code == 200:
                return Response(_twilio.ACK_BODY, media_type=_twilio.ACK_CONTENT_TYPE)
            return JSONResponse({"error": reason if code != 403 else "invalid signature"}, status_code=code)

    config = container.channel_config("whatsapp")
    if "whatsapp" in enabled and config.table.get("provider") == "meta":

        @router.get(whatsapp.CLOUD_WEBHOOK_PATH, include_in_schema=False)
        async def cloud_verify(request: Request) -> Response:
            challenge = whatsapp.verification_challenge(dict(request.query_params), config)
            if challenge is None:
                return JSONResponse({"error": "verification failed"}, status_code=403)
            return PlainTextResponse(challenge)

        @router.post(whatsapp.CLOUD_WEBHOOK_PATH, include_in_schema=False)
        async def cloud_event(request: Request) -> Response:
            raw = await raw_request(request, container)
            try:
                code, reason = await run_in_threadpool(cloud_post, container, raw)
            except DatabaseUnavailable:
                return JSONResponse(
                    {"error": "database unavailable"}, status_code=503, headers={"Retry-After": "10"}
                )
            if code == 200:
                return JSONResponse({"status": "ok"})
            return JSONResponse({"error": reason if code != 403 else "invalid signature"}, status_code=code)

    return router
