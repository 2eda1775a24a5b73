"""Provider webhooks: ``POST /hooks/<channel>`` for every channel whose module declares a path.

A channel module that takes webhooks sets ``WEBHOOK_PATH`` (e.g. ``/hooks/sms``) and may set
``ACK_BODY``/``ACK_CONTENT_TYPE`` (Twilio wants empty TwiML). This module turns the HTTP request
into a ``RawRequest`` with the public URL the provider called, and a ``Receipt`` into an answer.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

import channels
from bot import accept
from bot.bootstrap import Container
from bot.pipeline import DatabaseUnavailable, Receipt, max_body_bytes, receive
from bot.pipeline import _reject as reject
from channels.base import RawRequest, SignatureError

log = logging.getLogger("aduan.hooks")


def _unavailable() -> JSONResponse:
    """Answer 503 with Retry-After: providers retry, nothing was stored."""
    return JSONResponse(
        {"error": "database unavailable, retry later"}, status_code=503, headers={"Retry-After": "10"}
    )


def public_url(request: Request, base_url: str, trust_proxy: bool) -> str:
    """Return the URL the provider called: the configured public base, or what the proxy says.

    X-Forwarded-Proto/Host are honoured only with ``trust_proxy``: otherwise anyone could make a
    signature computed for another host look valid.
    """
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if trust_proxy and request.headers.get("x-forwarded-host"):
        proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        host = request.headers["x-forwarded-host"].split(",")[0].strip()
        return f"{proto}://{host}{path}"
    if base_url:
        base = urlsplit(base_url)
        prefix = base.path.rstrip("/")
        return f"{base.scheme}://{base.netloc}{prefix}{path}"
    return str(request.url)


async def raw_request(request: Request, container: Container) -> RawRequest:
    """Read the whole request as a RawRequest (body bytes exactly as sent)."""
    body = await request.body()
    return RawRequest(
        body=body,
        headers={k: v for k, v in request.headers.items()},
        url=public_url(request, container.settings.public_base_url, container.settings.trust_proxy),
        method=request.method,
        query=dict(request.query_params),
    )


@contextlib.contextmanager
def writer_turn(container: Container) -> Iterator[None]:
    """Hold this process's SQLite writer turn (nothing to hold on PostgreSQL); see ``bot.accept``."""
    with accept.writer_turn(container.engine):
        yield


def _receive_serialised(container: Container, channel: str, raw: RawRequest) -> Receipt:
    with writer_turn(container):
        return receive(container, channel, raw)


def _reject_serialised(container: Container, channel: str, raw: RawRequest, reason: str, status: int) -> None:
    with writer_turn(container):
        reject(container, channel, raw, reason, status)


def webhook_endpoint(container: Container, channel: str):  # type: ignore[no-untyped-def]
    """Return the endpoint function for one channel's webhook."""
    module = importlib.import_module(channels.info(channel).module or "")
    ack_body = getattr(module, "ACK_BODY", "")
    ack_type = getattr(module, "ACK_CONTENT_TYPE", "text/plain")

    verify = getattr(module, "verify", None)
    parse = module.parse
    external_id = getattr(module, "external_id", None)
    background = accept.processing_mode(container) == "background"

    async def endpoint(request: Request) -> Response:
        raw = await raw_request(request, container)
        if not background:
            return await _inline(raw)
        # The fast path: the signature is an HMAC (checked on the event loop), the payload goes into
        # the next group commit, and the answer leaves once that commit is done.
        if verify is not None:
            try:
                verify(raw, container.channel_config(channel))
            except SignatureError as exc:
                log.warning("rejected %s webhook: %s", channel, exc)  # channel and reason only
                await run_in_threadpool(_reject_serialised, container, channel, raw, f"signature: {exc}", 403)
                return JSONResponse({"error": "invalid signature"}, status_code=403)
        limit = max_body_bytes(container, channel)
        if len(raw.body) > limit:
            reason = f"body of {len(raw.body)} bytes exceeds {limit}"
            await run_in_threadpool(_reject_serialised, container, channel, raw, reason, 413)
            return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413)
        try:
            # Parsing is pure and cheap: a malformed body gets its 400 with the reason now, not later.
            parse(raw)
            key = str(external_id(raw)) if external_id is not None else raw.body_hash()
        except Exception:
            # The inline path stores it as received, quarantines it with the reason and answers 400
            # (or 200 for a shape the channel ignores, e.g. an update type it does not handle).
            return await _inline(raw)
        arrival = accept.Arrival(channel, key, raw, container.now(), container.office.code)
        try:
            await accept.writer_of(container).store(arrival)
        except DatabaseUnavailable:
            return _unavailable()
        accept.drainer_of(container).kick()
        return Response(ack_body, media_type=ack_type)

    async def _inline(raw: RawRequest) -> Response:
        try:
            # The pipeline is synchronous database work: run it off the event loop.
            receipt = await run_in_threadpool(_receive_serialised, container, channel, raw)
        except DatabaseUnavailable:
            return _unavailable()
        if receipt.status == 200:
            return Response(ack_body, media_type=ack_type)
        if receipt.status == 403:
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        return JSONResponse({"error": receipt.reason or "bad request"}, status_code=receipt.status)

    endpoint.__name__ = f"webhook_{channel}"
    return endpoint


def build_router(container: Container) -> APIRouter:
    """Mount a POST route for every enabled channel module that declares ``WEBHOOK_PATH``."""
    router = APIRouter(tags=["webhooks"])
    for name in container.settings.enabled_channels():
        entry = channels.info(name)
        if entry.module is None:
            continue
        module = importlib.import_module(entry.module)
        path = getattr(module, "WEBHOOK_PATH", None)
        if path:
            router.add_api_route(
                path, webhook_endpoint(container, name), methods=["POST"], include_in_schema=False
            )
        extra = getattr(module, "build_router", None)
        if extra is not None:
            router.include_router(extra(container))
    return router
