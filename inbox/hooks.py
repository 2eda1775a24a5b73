"""Provider webhooks: ``POST /hooks/<channel>`` for every channel whose module declares a path.

A channel module that takes webhooks sets ``WEBHOOK_PATH`` (e.g. ``/hooks/sms``) and may set
``ACK_BODY``/``ACK_CONTENT_TYPE`` (Twilio wants empty TwiML). This module turns the HTTP request
into a ``RawRequest`` with the public URL the provider called, and a ``Receipt`` into an answer.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

import channels
from bot.bootstrap import Container
from bot.pipeline import DatabaseUnavailable, Receipt, receive
from channels.base import RawRequest
from intake import db


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


#: SQLite has one writer at a time: threads that queue on a lock in this process hand over at once,
#: where threads left to SQLite's busy handler sleep in growing steps and throughput collapses.
_SQLITE_WRITER = threading.Lock()


@contextlib.contextmanager
def writer_turn(container: Container) -> Iterator[None]:
    """Hold this process's SQLite writer turn (nothing to hold on PostgreSQL)."""
    if not db.is_sqlite(container.engine):
        yield
        return
    with _SQLITE_WRITER:
        yield


def _receive_serialised(container: Container, channel: str, raw: RawRequest) -> Receipt:
    with writer_turn(container):
        return receive(container, channel, raw)


def webhook_endpoint(container: Container, channel: str):  # type: ignore[no-untyped-def]
    """Return the endpoint function for one channel's webhook."""
    module = importlib.import_module(channels.info(channel).module or "")
    ack_body = getattr(module, "ACK_BODY", "")
    ack_type = getattr(module, "ACK_CONTENT_TYPE", "text/plain")

    async def endpoint(request: Request) -> Response:
        raw = await raw_request(request, container)
        try:
            # The pipeline is synchronous database work: run it off the event loop.
            from starlette.concurrency import run_in_threadpool

            receipt = await run_in_threadpool(_receive_serialised, container, channel, raw)
        except DatabaseUnavailable:
            return JSONResponse(
                {"error": "database unavailable, retry later"}, status_code=503, headers={"Retry-After": "10"}
            )
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
