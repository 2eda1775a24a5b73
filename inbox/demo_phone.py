"""``/demo/ponsel``: the demo phone page, where a newcomer chats with the bot as a citizen (demo mode only).

A message typed here is posted to this server's own ``/hooks/whatsapp`` as Twilio would post it,
signed with the demo secret, so it takes the real webhook path (signature check, raw store,
dialogue). Replies come back through the real outbox to the sandbox provider
(``channels.sandbox``) and show here, officers' answers from the inbox too. Outside demo mode
(``ADUAN_DEMO_PHONE`` unset: every deployment) the router has no routes at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from app.container import Container
from channels.sandbox import is_demo_number
from inbox.hooks import called_url
from intake import db
from outbound import demo_phone

log = logging.getLogger("aduan.demo")

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates" / "demo"))
COOKIE = "aduan_demo_ponsel"
MAX_TEXT = 1000


def build_router(container: Container) -> APIRouter:
    """Return the demo phone's routes, or an empty router outside demo mode."""
    router = APIRouter(include_in_schema=False)
    if not container.settings.demo_phone():
        return router
    log.warning("demo mode: /demo/ponsel is on (never in production)")

    def number_of(request: Request) -> str | None:
        urn = request.cookies.get(COOKIE, "")
        return urn if is_demo_number(urn) and urn[len("whatsapp:+") :].isdigit() else None

    def screen(urn: str) -> list[demo_phone.Bubble]:
        with db.session(container.engine) as s:
            return demo_phone.conversation(s, urn)

    def render(
        request: Request, urn: str, name: str, status_code: int = 200, **extra: object
    ) -> HTMLResponse:
        response = templates.TemplateResponse(
            request,
            name,
            {
                "office": container.office,
                "number": urn.removeprefix("whatsapp:"),
                "bubbles": screen(urn),
                **extra,
            },
            status_code=status_code,
        )
        response.set_cookie(COOKIE, urn, httponly=True, samesite="lax", max_age=7 * 24 * 3600)
        return response

    @router.get("/demo/ponsel", response_class=HTMLResponse)
    def phone(request: Request) -> HTMLResponse:
        """The demo phone: the conversation so far and a box to write in."""
        urn = number_of(request) or demo_phone.new_number()
        return render(request, urn, "ponsel.html")

    @router.get("/demo/ponsel/pesan", response_class=HTMLResponse)
    def bubbles(request: Request) -> Response:
        """The conversation alone (the page's script refreshes it every few seconds)."""
        urn = number_of(request)
        if urn is None:
            return Response(status_code=204)
        return render(request, urn, "pesan.html")

    @router.post("/demo/ponsel", response_model=None)
    async def send(request: Request, text: str = Form("")) -> Response:
        """Post the message to this server's WhatsApp webhook as Twilio would, signed with the demo secret."""
        urn = number_of(request) or demo_phone.new_number()
        text = text.strip()[:MAX_TEXT]
        if not text:
            return render(request, urn, "ponsel.html", status_code=400, error="Tulis pesan terlebih dahulu.")
        path = "/hooks/whatsapp"
        settings = container.settings
        signed_for = called_url(
            path, request.headers, request.url.scheme, settings.public_base_url, settings.trust_proxy
        )
        target = str(request.base_url).rstrip("/") + path
        body, headers = demo_phone.signed_message(container, urn=urn, text=text, url=signed_for or target)

        def post() -> int:
            with httpx.Client(timeout=30) as client:
                return client.post(target, content=body, headers=headers).status_code

        status = await run_in_threadpool(post)
        if status != 200:
            log.warning("demo phone: the webhook answered %s", status)
            return render(request, urn, "ponsel.html", status_code=502, error=f"Webhook menjawab {status}.")
        response = RedirectResponse("/demo/ponsel#akhir", status_code=303)
        response.set_cookie(COOKIE, urn, httponly=True, samesite="lax", max_age=7 * 24 * 3600)
        return response

    @router.post("/demo/ponsel/baru", response_model=None)
    def new_phone() -> Response:
        """Start over on a fresh simulated number (the old conversation stays in the inbox)."""
        response = RedirectResponse("/demo/ponsel", status_code=303)
        response.set_cookie(
            COOKIE, demo_phone.new_number(), httponly=True, samesite="lax", max_age=7 * 24 * 3600
        )
        return response

    return router
