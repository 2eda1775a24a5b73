"""The inbox's own static files (htmx, stylesheet, scripts): the office machines may be offline."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from inbox.render import HERE

router = APIRouter(prefix="/inbox", include_in_schema=False)

STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "inbox.css": "text/css",
    "inbox.js": "text/javascript",
    "ponsel.js": "text/javascript",  # the demo phone (demo mode only)
}


@router.get("/static/{name}")
def static(name: str) -> Response:
    """Serve htmx, the stylesheet and the small script from the package (the machines are offline)."""
    if name not in STATIC_FILES:
        raise HTTPException(status_code=404)
    return FileResponse(
        HERE / "static" / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )
