"""The web application: health checks, provider webhooks, the officers' inbox and public pages.

``create_app`` includes one router per module of ``ROUTER_MODULES`` (each exposes
``build_router(container) -> fastapi.APIRouter``). A part that adds pages adds one line there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app.container import Container
from inbox import (
    admin,
    api,
    hooks,
    meta_verify_instagram,
    office_hooks,
    ops,
    provider_hooks,
    public,
    survey_form,
    web,
)
from jobs import worker

log = logging.getLogger("aduan.web")

#: One router per module, in this order; a part that adds pages adds one line here.
ROUTER_MODULES: tuple[ModuleType, ...] = (
    hooks,
    office_hooks,  # /hooks/<office>/<channel> of a province's other offices
    web,
    api,
    provider_hooks,
    meta_verify_instagram,
    public,
    ops,
    survey_form,
    admin,
)


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
        code, doc = ops.readiness(container)  # heartbeats live in the database (bot/heartbeat.py)
        return JSONResponse(doc, status_code=503 if strict and doc["status"] != "ok" else code)

    for module in ROUTER_MODULES:
        app.include_router(module.build_router(container))
    return app
