"""Provider webhooks: ``POST /hooks/<channel>`` for every channel whose module declares a path.

A channel module that takes webhooks sets ``WEBHOOK_PATH`` (e.g. ``/hooks/sms``) and may set
``ACK_BODY``/``ACK_CONTENT_TYPE`` (Twilio wants empty TwiML). This module turns the HTTP request
into a ``RawRequest`` with the public URL the provider called, and a ``Receipt`` into an answer.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

import channels
from app.container import ChannelConfig, Container
from channels.base import RawRequest, SignatureError
from channels.urns import urn_path
from intake.ingest import RawPayload
from intake.office import OfficeProfile
from jobs import group_commit
from jobs.pipeline import DatabaseUnavailable, max_body_bytes, raw_key, receive, reject
from jobs.queue import sender_lock

log = logging.getLogger("aduan.hooks")


def _unavailable() -> Answer:
    """Answer 503 with Retry-After: providers retry, nothing was stored."""
    return _json(503, {"error": "database unavailable, retry later"}, {"Retry-After": "10"})


def called_url(
    path: str, headers: Mapping[str, str], scheme: str, base_url: str, trust_proxy: bool
) -> str | None:
    """Return the URL the provider called, from the configured public base or what the proxy says.

    X-Forwarded-Proto/Host are honoured only with ``trust_proxy``: otherwise anyone could make a
    signature computed for another host look valid. None when neither says (use the request's URL).
    """
    if trust_proxy and headers.get("x-forwarded-host"):
        proto = headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        host = headers["x-forwarded-host"].split(",")[0].strip()
        return f"{proto}://{host}{path}"
    if base_url:
        base = urlsplit(base_url)
        return f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{path}"
    return None


def public_url(request: Request, base_url: str, trust_proxy: bool) -> str:
    """Return the URL the provider called (see ``called_url``) for a framework request."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return called_url(path, request.headers, request.url.scheme, base_url, trust_proxy) or str(request.url)


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    """Tell whether ``address`` is one of the ``trusted`` proxies (addresses, networks or names)."""
    if address in trusted:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """Return the real client of a request: its peer, or what trusted proxies say it was.

    ``X-Forwarded-For`` is read only when the peer is a configured trusted proxy (``[security]
    trusted_proxies``), from the right: the first address that is not a trusted proxy is the
    client. Anyone else's header is ignored, so a stranger cannot pose as many clients.
    """
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def trusted_proxies(container: Container) -> tuple[str, ...]:
    """Return ``[security] trusted_proxies``: the proxies whose ``X-Forwarded-For`` is believed."""
    return container.settings.security.trusted_proxies


def request_client(request: Request, container: Container) -> str:
    """Return the real client address of a framework request (see ``client_address``)."""
    peer = request.client.host if request.client else "unknown"
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted_proxies(container))


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


#: ``[intake] processing``: ``background`` answers once the payload and its job are committed (a
#: worker processes it right after); ``inline`` processes it inside the request.
PROCESSING_MODES = ("background", "inline")


def processing_mode(container: Container) -> str:
    """Return ``[intake] processing``: ``background`` (the default) or ``inline``."""
    mode = container.settings.intake.processing
    return mode if mode in PROCESSING_MODES else "background"


Answer = tuple[int, bytes, str, dict[str, str]]
"""An HTTP answer: status, body, content type, extra headers."""


def _json(status: int, doc: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
    return status, json.dumps(doc).encode(), "application/json", headers or {}


class WebhookHandler:
    """One channel's webhook: verify, store the payload and defer its processing (or process inline), answer.

    Reached through ``WebhookFastPath`` (plain ASGI, ahead of the framework's middleware and
    router) or through the FastAPI route of the same path; both call ``handle``.
    """

    def __init__(self, container: Container, channel: str) -> None:
        self.container = container
        self.channel = channel
        self.module = importlib.import_module(channels.info(channel).module or "")
        self.path: str = self.module.WEBHOOK_PATH
        self.ack_body = str(getattr(self.module, "ACK_BODY", "")).encode()
        self.ack_type = str(getattr(self.module, "ACK_CONTENT_TYPE", "text/plain"))
        self.background = processing_mode(container) == "background"
        self.limit = max_body_bytes(container, channel)
        self._configs: dict[str, ChannelConfig] = {}
        self._verify = getattr(self.module, "verify", None)
        # Keys the senders' job locks (jobs.queue.sender_lock): any secret every process shares.
        self._lock_secret = container.settings.env.get("ADUAN_SESSION_SECRET") or "aduan-sender-lock"

    async def handle(self, raw: RawRequest) -> Answer:
        """Take one request in and say what to answer."""
        if not self.background:
            return await self._inline(raw)
        # The fast path: the signature is an HMAC (checked on the event loop); the payload and the job
        # that processes it commit in one transaction, and the answer leaves once that is done.
        if self._verify is not None:
            try:
                self._verify(raw, self._config())
            except SignatureError as exc:
                log.warning("rejected %s webhook: %s", self.channel, exc)  # channel and reason only
                await run_in_threadpool(self._reject, raw, f"signature: {exc}", 403)
                return _json(403, {"error": "invalid signature"})
        if len(raw.body) > self.limit:
            await run_in_threadpool(
                self._reject, raw, f"body of {len(raw.body)} bytes exceeds {self.limit}", 413
            )
            return _json(413, {"error": f"body larger than {self.limit} bytes"})
        try:
            # Parsing is pure and cheap: a malformed body gets its 400 with the reason now, not later.
            messages = self.module.parse(raw)
            key = raw_key(self.module, raw)
        except Exception:
            # The inline path stores it as received, quarantines it with the reason and answers 400
            # (or 200 for a shape the channel ignores, e.g. an update type it does not handle).
            return await self._inline(raw)
        # One sender's messages are processed in order (the job's lock): tel: and whatsapp: of one
        # number share it, so a citizen's SMS and WhatsApp messages keep their order too.
        lock = sender_lock(urn_path(messages[0].sender), self._lock_secret) if messages else None
        payload = RawPayload(
            channel=self.channel,
            raw=raw,
            external_id=key,
            office=self.container.office.code,
            received_at=self.container.now(),
        )
        try:
            # Shares its transaction with the requests arriving meanwhile (one commit for them all).
            await group_commit.of(self.container).store(payload, lock)
        except DatabaseUnavailable:
            return _unavailable()
        return 200, self.ack_body, self.ack_type, {}

    async def _inline(self, raw: RawRequest) -> Answer:
        try:
            # The pipeline is synchronous database work: run it off the event loop.
            receipt = await run_in_threadpool(receive, self.container, self.channel, raw)
        except DatabaseUnavailable:
            return _unavailable()
        if receipt.status == 200:
            return 200, self.ack_body, self.ack_type, {}
        if receipt.status == 403:
            return _json(403, {"error": "invalid signature"})
        return _json(receipt.status, {"error": receipt.reason or "bad request"})

    def _config(self) -> ChannelConfig:
        """The channel's config and secrets for the current office (kept per office)."""
        code = self.container.office.code
        config = self._configs.get(code)
        if config is None:
            config = self._configs[code] = self.container.channel_config(self.channel)
        return config

    def _reject(self, raw: RawRequest, reason: str, status: int) -> None:
        reject(self.container, self.channel, raw, reason, status)

    async def endpoint(self, request: Request) -> Response:
        """The FastAPI route (reached when the fast path is not installed)."""
        status, body, content_type, headers = await self.handle(await raw_request(request, self.container))
        return Response(body, status_code=status, media_type=content_type, headers=headers)

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve the request as plain ASGI: read the body (up to the limit), handle, answer."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the provider hung up before sending everything: nothing to store
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                # Keep a capped trace like every refusal, without reading the rest into memory.
                raw = _raw_from_scope(scope, b"".join(chunks) + chunk, self.container)
                await run_in_threadpool(self._reject, raw, f"body exceeds {self.limit} bytes", 413)
                await _send(send, _json(413, {"error": f"body larger than {self.limit} bytes"}))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        raw = _raw_from_scope(scope, b"".join(chunks), self.container)
        await _send(send, await self.handle(raw))


def _raw_from_scope(scope: Any, body: bytes, container: Container) -> RawRequest:
    """Build the RawRequest of an ASGI request (the same fields ``raw_request`` reads)."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    query_string = scope.get("query_string", b"").decode("latin-1")
    path = scope["path"] + (f"?{query_string}" if query_string else "")
    scheme, settings = scope.get("scheme", "http"), container.settings
    return RawRequest(
        body=body,
        headers=headers,
        url=called_url(path, headers, scheme, settings.public_base_url, settings.trust_proxy)
        or f"{scheme}://{headers.get('host', 'localhost')}{path}",
        method=scope["method"],
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
    )


async def _send(send: Any, answer: Answer) -> None:
    status, body, content_type, extra = answer
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def webhook_endpoint(container: Container, channel: str) -> Any:
    """Return the FastAPI endpoint of one channel's webhook (routes mounted elsewhere use it)."""
    return WebhookHandler(container, channel).endpoint


def webhook_handlers(container: Container) -> dict[str, tuple[WebhookHandler, OfficeProfile | None]]:
    """Return the handler of every enabled channel's webhook by path, with the office it acts for.

    Besides ``/hooks/<channel>``, every office with a profile of its own gets
    ``/hooks/<office>/<channel>`` (``app.routing`` mounts the same paths as framework routes).
    """
    handlers: dict[str, tuple[WebhookHandler, OfficeProfile | None]] = {}
    for name in container.settings.enabled_channels():
        entry = channels.info(name)
        if entry.module is None:
            continue
        if getattr(importlib.import_module(entry.module), "WEBHOOK_PATH", None):
            handler = WebhookHandler(container, name)
            handlers[handler.path] = (handler, None)
            if len(container.offices) > 1 and handler.path.startswith("/hooks/"):
                for office in container.offices.values():
                    if office.source is not None:
                        handlers[f"/hooks/{office.code}/{handler.path[len('/hooks/') :]}"] = (handler, office)
    return handlers


class WebhookFastPath:
    """ASGI middleware: provider webhooks go straight to their handler, ahead of the framework.

    A provider burst is thousands of small POSTs that need no session, no routing table and no
    dependency injection; serving them here halves the CPU each costs. Everything else (and a
    webhook's GET, e.g. a verification handshake) goes on to the application.
    """

    def __init__(self, app: Any, container: Container) -> None:
        self.app = app
        self.handlers = webhook_handlers(container)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve a webhook POST, or pass the request on."""
        if scope["type"] == "http" and scope["method"] == "POST":
            found = self.handlers.get(scope["path"])
            if found is not None:
                handler, office = found
                if office is None:
                    await handler.asgi(scope, receive, send)
                else:
                    with handler.container.using_office(office):  # signature checked with its secrets
                        await handler.asgi(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
            handler = WebhookHandler(container, name)
            router.add_api_route(path, handler.endpoint, methods=["POST"], include_in_schema=False)
        extra = getattr(module, "build_router", None)
        if extra is not None:
            router.include_router(extra(container))
    return router
