"""Stored files of records: officers' uploaded scans and the attachments of citizens' messages.

A file carries personal data: every download is written to the access log, and only known image
types whose bytes agree are shown inline; anything else (SVG and HTML above all) is a download.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from inbox import records
from inbox.deps import ContainerDep, PersonalDataReader, SessionDep

router = APIRouter(prefix="/inbox", include_in_schema=False)

_SAFE_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{1,5}$")

#: Images shown inline, with the first bytes each must start with (a declared type is not trusted).
#: Everything else, SVG and HTML above all (script on our origin), is sent as a download.
INLINE_IMAGES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


@router.get("/files/{name}")
def scan_file(name: str, user: PersonalDataReader, session: SessionDep, container: ContainerDep) -> Response:
    """Serve an uploaded scan (a letter carries personal data: logged like any other view)."""
    if not _SAFE_NAME.match(name):
        raise HTTPException(status_code=404)
    path = container.storage_dir() / "scans" / name
    if not path.is_file():
        raise HTTPException(status_code=404)
    records.scan_complaint(session, container, user=user, name=name)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return attachment_response(path, content_type=content_type, filename=name)


@router.get("/c/{tracking}/media/{message_id}/{position}")
def media_file(
    tracking: str,
    message_id: int,
    position: int,
    user: PersonalDataReader,
    session: SessionDep,
    container: ContainerDep,
) -> Response:
    """Serve an attachment kept in the attachment store: known images inline, the rest as downloads."""
    stored = records.media_file(
        session, container, user=user, tracking=tracking, message_id=message_id, position=position
    )
    return attachment_response(stored.path, content_type=stored.content_type, filename=stored.filename)


def attachment_response(path: Path, *, content_type: str, filename: str) -> Response:
    """Send a stored file: a known image inline when its bytes agree, anything else as a download."""
    ctype = content_type.split(";")[0].strip().lower()
    with path.open("rb") as fh:
        head = fh.read(16)
    magic = INLINE_IMAGES.get(ctype, ())
    inline = any(head.startswith(m) for m in magic) and (ctype != "image/webp" or head[8:12] == b"WEBP")
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:100] or "lampiran"
    disposition = (
        f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(filename[:100])}"
    )
    return FileResponse(
        path,
        media_type=ctype if inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",  # personal data: not kept in shared or disk caches
        },
    )
