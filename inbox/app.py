"""The web application: health checks, provider webhooks, the officers' inbox and public pages.

``create_app`` includes the routers of ``ROUTERS`` in order: the module-level routers of
``inbox.routes`` (one per page group; their dependencies are ``inbox.deps``'), and the builders
``build_router(container)`` of the parts whose routes depend on the settings (the webhooks, the
Instagram check, the demo phone). A part that adds pages adds one line there.

Every answer of the application carries ``SECURITY_HEADERS`` (a Content-Security-Policy that
allows only Aduan's own scripts, no framing) and, unless it sets its own (static files),
``Cache-Control: no-store``: pages and API answers with personal data never stay in a cache. The
API docs page loads Swagger UI from Aduan itself (the ``fastapi-offline`` package's copy), not a CDN.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import fastapi_offline
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.datastructures import MutableHeaders

from app.container import Container
from inbox import (
    auth,
    demo_phone,
    hooks,
    meta_verify_instagram,
    office_hooks,
    ops,
    provider_hooks,
    public,
    survey_form,
)
from inbox.deps import ResponseInstead
from inbox.routes import admin, api, complaint, files, login, queue, reports, static
from inbox.routes import public as public_routes
from jobs import worker

log = logging.getLogger("aduan.web")

#: The routers, in this order: a module's router, or its builder for a container (routes that
#: depend on the settings); a part that adds pages adds one line here.
ROUTERS: tuple[APIRouter | Callable[[Container], APIRouter], ...] = (
    hooks.build_router,
    office_hooks.build_router,  # /hooks/<office>/<channel> of a province's other offices
    # The officers' inbox, by page group.
    static.router,
    login.router,
    queue.router,
    complaint.router,
    files.router,
    reports.router,
    api.router,
    provider_hooks.build_router,
    meta_verify_instagram.build_router,
    public_routes.router,
    ops.router,
    survey_form.router,
    admin.router,
    demo_phone.build_router,  # demo mode only (ADUAN_DEMO_PHONE=1, set by `make run`)
)


#: Headers on every answer of the application (webhook answers of the fast path carry no page).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
#: The API docs page's files: name → media type (Swagger UI's, and our few lines starting it).
DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
DOCS_INIT = (
    'SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true,\n'
    "  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],\n"
    '  layout: "BaseLayout"});\n'
)
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aduan API</title>
<link rel="icon" href="/api/docs/favicon.png"><link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script><script src="/api/docs/init.js"></script>
</body></html>
"""


class SecurityHeaders:
    """ASGI middleware: the security headers, and ``no-store`` on every answer without its own policy."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on, adding the headers to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AduanApp(FastAPI):
    """The FastAPI application, with provider webhooks answered before its middleware stack."""

    fast_path: hooks.WebhookFastPath | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve a request: webhook POSTs through ``fast_path``, the rest through FastAPI."""
        if self.fast_path is not None:
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(container: Container) -> FastAPI:
    """Build the FastAPI application around a wired Container."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # `aduan serve` runs a worker in the web process unless told not to (`--no-worker`).
        if worker.in_web(container):
            async with worker.running(container):
                yield
        else:
            yield

    app = AduanApp(
        lifespan=lifespan,
        title="Aduan",
        description="Pengaduan multikanal untuk kantor pelayanan publik (complaint intake and inbox)",
        version="0.1.0",
        docs_url=None,  # served below, from Aduan's own copy of Swagger UI
        openapi_url="/api/v1/openapi.json",
    )
    app.state.container = container
    container.services.setdefault(auth.SESSIONS, auth.SessionManager(container))
    app.state.public_form = public.PublicForm(container)  # the public pages' settings and form tokens
    app.add_exception_handler(ResponseInstead, answer_instead)
    app.add_middleware(ops.BodyLimit, max_bytes=ops.request_limit(container))  # 413 before memory fills
    app.add_middleware(SecurityHeaders)
    # Provider webhooks are served ahead of the whole stack (they enforce their channel's own limit).
    app.fast_path = hooks.WebhookFastPath(super(AduanApp, app).__call__, container)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Answer that the process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz(strict: bool = False) -> JSONResponse:
        """Answer whether the database can be reached, with the heartbeats of pollers and sweep."""
        try:
            with container.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        code, doc = ops.readiness(container)  # heartbeats live in the database (ops/heartbeat.py)
        return JSONResponse(doc, status_code=503 if strict and doc["status"] != "ok" else code)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The API's interactive documentation (Swagger UI, served by Aduan itself)."""
        return HTMLResponse(DOCS_PAGE)

    @app.get("/api/docs/{name}", include_in_schema=False)
    def api_docs_asset(name: str) -> Response:
        """Swagger UI's files and the script that starts it."""
        cache = {"Cache-Control": "public, max-age=86400"}
        if name == "init.js":
            return Response(DOCS_INIT, media_type="text/javascript", headers=cache)
        if name not in DOCS_FILES:
            raise HTTPException(status_code=404)
        return FileResponse(DOCS_ASSETS / name, media_type=DOCS_FILES[name], headers=cache)

    for part in ROUTERS:
        app.include_router(part if isinstance(part, APIRouter) else part(container))
    return app


async def answer_instead(request: Request, exc: Exception) -> Response:
    """Send the answer a dependency chose instead of the route's (``inbox.deps.ResponseInstead``)."""
    assert isinstance(exc, ResponseInstead)
    return exc.response
