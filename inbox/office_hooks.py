"""``/hooks/<office>/<channel>``: the webhooks of a province's other offices (``app.routing``).

Each is the channel's ordinary endpoint (``inbox.hooks``) run inside ``using_office``, so the
signature is checked with the office's own secrets and the payload is stored for that office.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

import channels
from app.container import Container
from app.routing import office_path, own_path_offices
from inbox import hooks
from intake.office import OfficeProfile


def build_router(container: Container) -> APIRouter:
    """Mount ``/hooks/<office>/<channel>`` for every other office: the webhook acts for that office.

    The endpoint is the channel's ordinary one (``inbox.hooks``), run inside ``using_office`` so the
    signature is checked with the office's own secrets and the payload is stored for the office.
    """
    router = APIRouter(tags=["webhooks"])
    offices = own_path_offices(container)
    if not offices:
        return router
    for name in container.settings.enabled_channels():
        entry = channels.REGISTRY.get(name)
        if entry is None or entry.module is None:
            continue
        path = getattr(channels.load(name), "WEBHOOK_PATH", None)
        if not path or not path.startswith("/hooks/"):
            continue
        for office in offices:
            router.add_api_route(
                office_path(office, path),
                _office_endpoint(container, office, hooks.webhook_endpoint(container, name)),
                methods=["POST"],
                include_in_schema=False,
            )
    return router


def _office_endpoint(container: Container, office: OfficeProfile, inner: Any) -> Any:
    """Wrap a channel's webhook endpoint so it runs for ``office``."""

    async def endpoint(request: Request) -> Response:
        with container.using_office(office):
            return await inner(request)  # type: ignore[no-any-return]

    endpoint.__name__ = f"{inner.__name__}_{office.code}"
    return endpoint
