"""The web application: health checks, provider webhooks, the officers' inbox and public pages.

``create_app`` includes one router per module listed in ``ROUTER_MODULES``; each module exposes
``build_router(container) -> fastapi.APIRouter``. A part that adds pages adds one line there.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot import accept
from bot.bootstrap import Container
from inbox import hooks, ops

log = logging.getLogger("aduan.web")

ROUTER_MODULES: list[str] = [
    "inbox.hooks",
    "bot.routing",  # /hooks/<office>/<channel> of a province's other offices
    "inbox.web",
    "inbox.api",
    "inbox.provider_hooks",
    "inbox.meta_verify_instagram",
    "inbox.public",
    "inbox.ops",
    "inbox.survey_form",
    "inbox.admin",
    "inbox.demo_phone",  # demo mode only (ADUAN_DEMO_PHONE=1, set by `make run`)
]


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
        if accept.processing_mode(container) == "background":
            accept.drainer_of(container).kick()  # payloads a previous process stored but never processed
        yield
        accept.shutdown(container)  # commit what is queued, finish the drain transaction

    app = AduanApp(
        lifespan=lifespan,
        title="Aduan",
        description="Pengaduan multikanal untuk kantor pelayanan publik (complaint intake and inbox)",
        version="0.1.0",
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
    )
    app.state.container = container
    app.add_middleware(ops.BodyLimit, max_bytes=ops.request_limit(container))  # 413 before memory fills
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
        from inbox.ops import readiness  # heartbeats live in the database (bot/heartbeat.py)

        code, doc = readiness(container)
        return JSONResponse(doc, status_code=503 if strict and doc["status"] != "ok" else code)

    for name in ROUTER_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.build_router(container))
    return app
