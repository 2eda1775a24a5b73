"""Provider webhooks beyond ``WEBHOOK_PATH``: Twilio delivery statuses and Meta's WhatsApp Cloud API.

``POST /hooks/twilio/status``: Twilio's status callbacks for SMS and WhatsApp replies, signed like
inbound webhooks; they move outbox rows along ``queued → sent → delivered → read`` or to failed.
Twilio signs a callback with the token of the account that sent the message: in a province each
office's token (``ADUAN_<CODE>_TWILIO_AUTH_TOKEN`` over ``ADUAN_TWILIO_AUTH_TOKEN``). The office is
the one the path names (``/hooks/<office>/twilio/status``, where an office's own sender asks for its
callbacks), or on the deployment's path the office of the outbox row the callback reports on.
``GET /hooks/whatsapp-cloud``: Meta's subscription check. ``POST /hooks/whatsapp-cloud``: messages
(through the pipeline, like every channel) and delivery statuses of the Cloud API provider.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from app.container import Container
from app.routing import office_path, own_path_offices
from channels import _twilio, whatsapp
from channels.base import RawRequest, SignatureError, UnsupportedPayload
from inbox.hooks import raw_request
from intake import db
from intake.office import OfficeProfile
from jobs.pipeline import DatabaseUnavailable, oversized, receive, reject
from outbound import outbox

log = logging.getLogger("aduan.hooks")

#: Channels whose replies may be reported by Twilio's status callback (an SMS fallback included).
TWILIO_CHANNELS = ("sms", "whatsapp")


def apply_statuses(
    container: Container,
    channels: tuple[str, ...],
    updates: list[_twilio.StatusUpdate],
    *,
    office: str | None = None,
) -> int:
    """Apply delivery statuses to outbox rows (of ``office`` only, when given); return how many matched."""
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
                office=office,
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


def twilio_status(
    container: Container, raw: RawRequest, office: OfficeProfile | None = None
) -> tuple[int, str]:
    """Verify and apply one Twilio status callback; return (HTTP status, reason).

    ``office``: the office the callback's path names, whose token must sign it and whose rows
    alone it may move. None (the deployment's path): the office that sent the reported message.
    """
    channel = twilio_channels(container)[0]
    only: str | None = None
    if office is not None:
        only = office.code
    else:
        found = _reported_row(container, raw)
        if found is not None:
            # Signed by the sender's account: the row's office says whose token that is.
            office, only = container.office_of(found[1]), found[1]
            channel = found[0] if found[0] in TWILIO_CHANNELS else channel
    if office is None:
        return _twilio_status(container, raw, channel, None)
    with container.using_office(office):
        return _twilio_status(container, raw, channel, only)


def _reported_row(container: Container, raw: RawRequest) -> tuple[str, str] | None:
    """Return the channel and office of the outbox row a (not yet verified) callback reports on.

    Only read to choose the token the signature is checked with; nothing is written before it is.
    One deployment office: no query, its token is the deployment's.
    """
    if len(container.offices) == 1:
        return None
    try:
        params = _twilio.form(raw)
    except UnsupportedPayload:
        return None  # the signature check or the parser refuses it
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        return None
    query = (
        sa.select(outbox.OutboxMessage.channel, outbox.OutboxMessage.office)  # type: ignore[call-overload]
        .where(
            outbox.OutboxMessage.channel.in_(TWILIO_CHANNELS),  # type: ignore[attr-defined]
            outbox.OutboxMessage.provider_id == sid,
        )
        .limit(1)
    )
    try:
        with db.session(container.engine) as s:
            row: Any = s.execute(query).first()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(type(exc).__name__) from exc  # 503: Twilio tries again
    return (str(row[0]), str(row[1])) if row is not None else None


def _twilio_status(
    container: Container, raw: RawRequest, channel: str, office: str | None
) -> tuple[int, str]:
    try:
        _twilio.verify(raw, container.channel_config(channel).secret(_twilio.AUTH_TOKEN_ENV))
    except SignatureError as exc:
        log.warning("rejected Twilio status callback: %s", exc)
        reject(container, "sms", raw, f"status signature: {exc}", 403)
        return 403, str(exc)
    # Same limit and size-capped rejection record as the inbound pipeline: 413, not a parse error.
    too_large = oversized(container, channel, raw)
    if too_large is not None:
        return too_large.status, too_large.reason or "body too large"
    try:
        update = _twilio.parse_status(raw)
    except UnsupportedPayload as exc:
        reject(container, "sms", raw, f"status callback: {exc}", 400, signed=True)
        return 400, str(exc)
    if not apply_statuses(container, TWILIO_CHANNELS, [update], office=office):
        # Not ours (another app on the account) or already purged: nothing to retry.
        log.info("Twilio status %s for an unknown message", update.status)
    return 200, "ok"


def cloud_post(container: Container, raw: RawRequest) -> tuple[int, str]:
    """Take one Cloud API delivery: messages through the pipeline, then the delivery statuses."""
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
        router.add_api_route(
            _twilio.STATUS_PATH, _status_endpoint(container, None), methods=["POST"], include_in_schema=False
        )
        for office in own_path_offices(container):
            router.add_api_route(
                office_path(office, _twilio.STATUS_PATH),
                _status_endpoint(container, office),
                methods=["POST"],
                include_in_schema=False,
            )

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


def _status_endpoint(container: Container, office: OfficeProfile | None) -> Any:
    """Return the endpoint of Twilio's status callbacks on the deployment's path or an office's."""

    async def twilio_status_callback(request: Request) -> Response:
        raw = await raw_request(request, container)
        try:
            code, reason = await run_in_threadpool(twilio_status, container, raw, office)
        except DatabaseUnavailable:
            return JSONResponse({"error": "database unavailable"}, status_code=503)
        if code == 200:
            return Response(_twilio.ACK_BODY, media_type=_twilio.ACK_CONTENT_TYPE)
        return JSONResponse({"error": reason if code != 403 else "invalid signature"}, status_code=code)

    if office is not None:
        twilio_status_callback.__name__ = f"twilio_status_callback_{office.code}"
    return twilio_status_callback
