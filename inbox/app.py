"""The web application: health checks, provider webhooks, the officers' inbox and public pages.

``create_app`` includes one router per module listed in ``ROUTER_MODULES``; each module exposes
``build_router(container) -> fastapi.APIRouter``. A part that adds pages adds one line there.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot import accept
from bot.bootstrap import Container
from inbox import ops

log = logging.getLogger("aduan.web")

ROUTER_MODULES: list[str] = [
    "inbox.hooks",
    "inbox.web",
    "inbox.api",
    "inbox.provider_hooks",
    "inbox.meta_verify_instagram",
    "inbox.public",
    "inbox.ops",
    "inbox.survey_form",
    "inbox.admin",
]


def create_app(container: Container) -> FastAPI:
    """Build the FastAPI application around a wired Container."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if accept.processing_mode(container) == "background":
            accept.drainer_of(container).kick()  # payloads a previous process stored but never processed
        yield
        accept.shutdown(container)  # commit what is queued, finish the drain transaction

    app = FastAPI(
        lifespan=lifespan,
        title="Aduan",
        description="Pengaduan multikanal untuk kantor pelayanan publik (complaint intake and inbox)",
        version="0.1.0",
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
    )
    app.state.container = container
    app.add_middleware(ops.BodyLimit, max_bytes=ops.request_limit(container))  # 413 before memory fills

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
