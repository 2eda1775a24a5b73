"""Meta's GET subscription check for the Instagram webhook (``GET /hooks/instagram?hub.…``).

https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
The POST side is the generic route of ``inbox/hooks.py``; this adds only the handshake, using the
shared ``channels._meta.verification_challenge``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from app.container import Container
from channels import _meta, instagram


def build_router(container: Container) -> APIRouter:
    """Add ``GET /hooks/instagram`` when the Instagram channel is enabled."""
    router = APIRouter(tags=["webhooks"])
    if "instagram" not in container.settings.enabled_channels():
        return router

    @router.get(instagram.WEBHOOK_PATH, include_in_schema=False)
    def verify_instagram(request: Request) -> Response:
        """Echo ``hub.challenge`` when the verify token matches; 403 otherwise."""
        token = container.channel_config("instagram").secrets.get(instagram.VERIFY_TOKEN_ENV, "")
        challenge = _meta.verification_challenge(dict(request.query_params), token) if token else None
        if challenge is None:
            return Response(status_code=403)
        return PlainTextResponse(challenge)

    return router
