"""Provider media on the complaint page: photos inline, other files as downloads, SVG/HTML never inline."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import select

from app.container import Container
from channels.base import Attachment, InboundMessage
from inbox.models import AccessLog
from intake import db
from intake.ingest import ingest
from intake.models import Message

Login = Callable[[str], tuple[TestClient, str]]
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
PDF = b"%PDF-1.4 bukti pembayaran"


def _whatsapp_with_media(
    container: Container, files: list[tuple[str, str, bytes]], *, anonymous: bool = False
) -> str:
    """A WhatsApp complaint with attachments, then stored the way the download job stores them."""
    message = InboundMessage(
        channel="whatsapp",
        external_id=f"SM{hashlib.sha256(repr(files).encode()).hexdigest()[:32]}",
        sender="whatsapp:+6281234567890",
        text="Ini foto antrean di loket MPP dan bukti bayar retribusinya" + (" ANONIM" if anonymous else ""),
        reporter_name="Budi Santoso",
        attachments=tuple(
            Attachment(
                content_type=ctype, url=f"https://api.twilio.com/2010-04-01/Media/ME{i}", filename=name
            )
            for i, (name, ctype, _) in enumerate(files)
        ),
        complete=True,
    )
    with db.write_session(container.engine) as s:
        result = ingest(session=s, message=message, now=container.now(), office=container.office)
        assert result.complaint is not None
        stored = s.exec(select(Message).where(Message.complaint_id == result.complaint.id)).one()
        items = json.loads(stored.attachments)
        for item, (_, _, data) in zip(items, files, strict=True):
            rel = f"media/2026/03/{hashlib.sha256(data).hexdigest()}.bin"
            (container.storage_dir() / rel).parent.mkdir(parents=True, exist_ok=True)
            (container.storage_dir() / rel).write_bytes(data)
            item.update({"path": rel, "size": len(data)})
        stored.attachments = json.dumps(items)
        s.add(stored)
        if anonymous:
            result.complaint.anonymous = True
            s.add(result.complaint)
        return result.complaint.tracking_number


def test_photo_shows_inline_and_is_served_with_safe_headers(container: Container, as_user: Login) -> None:
    tracking = _whatsapp_with_media(
        container, [("antrean.jpg", "image/jpeg", JPEG), ("bukti.pdf", "application/pdf", PDF)]
    )
    officer, _ = as_user("officer")
    html = officer.get(f"/inbox/c/{tracking}").text
    thumb = re.search(r'<img class="attachment thumb" src="([^"]+)" alt="Lampiran gambar antrean.jpg"', html)
    assert thumb
    r = officer.get(thumb.group(1))
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"].startswith('inline; filename="antrean.jpg"')
    assert r.headers["x-content-type-options"] == "nosniff"
    # The PDF stays a download link.
    pdf = re.search(r'<a class="attachment" href="([^"]+)" download data-testid="media-file">bukti.pdf', html)
    assert pdf
    r = officer.get(pdf.group(1))
    assert r.content == PDF and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith('attachment; filename="bukti.pdf"')
    with db.session(container.engine) as s:
        assert len([a for a in s.exec(select(AccessLog)) if a.what == "media"]) == 2


def test_svg_and_html_are_never_served_inline(container: Container, as_user: Login) -> None:
    tracking = _whatsapp_with_media(
        container,
        [
            ("peta.svg", "image/svg+xml", SVG),
            ("foto.jpg", "image/jpeg", HTML),  # declared a photo, but its bytes are HTML
            ("surat.html", "text/html", HTML),
        ],
    )
    officer, _ = as_user("officer")
    html = officer.get(f"/inbox/c/{tracking}").text
    timeline = html.split('data-testid="timeline"')[1].split("</ol>")[0]
    # SVG and HTML are download links; the fake "photo" gets an <img> that the server refuses inline.
    assert timeline.count('data-testid="media-file"') == 2 and timeline.count("<img") == 1
    for position in range(3):
        message_id = re.search(rf"/inbox/c/{tracking}/media/(\d+)/0", html)
        assert message_id
        r = officer.get(f"/inbox/c/{tracking}/media/{message_id.group(1)}/{position}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"


def test_media_needs_the_right_to_personal_data(container: Container, as_user: Login) -> None:
    tracking = _whatsapp_with_media(container, [("antrean.jpg", "image/jpeg", JPEG)])
    officer, _ = as_user("officer")
    url = re.search(r'src="(/inbox/c/[^"]+/media/\d+/0)"', officer.get(f"/inbox/c/{tracking}").text)
    assert url
    liaison, _ = as_user("liaison")
    html = liaison.get(f"/inbox/c/{tracking}").text
    assert "/media/" not in html and "antrean.jpg" in html
    assert liaison.get(url.group(1)).status_code == 403


def test_media_of_an_anonim_reporter_only_for_the_heads(container: Container, as_user: Login) -> None:
    tracking = _whatsapp_with_media(container, [("antrean.jpg", "image/jpeg", JPEG)], anonymous=True)
    head, _ = as_user("head")
    url = re.search(r'src="(/inbox/c/[^"]+/media/\d+/0)"', head.get(f"/inbox/c/{tracking}").text)
    assert url and head.get(url.group(1)).status_code == 200
    officer, _ = as_user("officer")
    assert "/media/" not in officer.get(f"/inbox/c/{tracking}").text
    assert officer.get(url.group(1)).status_code == 403


def test_media_route_refuses_other_records_and_paths_outside_the_store(
    container: Container, as_user: Login
) -> None:
    mine = _whatsapp_with_media(container, [("antrean.jpg", "image/jpeg", JPEG)])
    with db.write_session(container.engine) as s:
        message = s.exec(select(Message).where(Message.attachments.contains("antrean.jpg"))).one()  # type: ignore[attr-defined]
        items = json.loads(message.attachments)
        items.append({"content_type": "image/jpeg", "path": "../../../../etc/hostname", "filename": "x.jpg"})
        message.attachments = json.dumps(items)
        s.add(message)
        message_id = message.id
    other = _whatsapp_with_media(container, [("lain.pdf", "application/pdf", PDF)])
    officer, _ = as_user("officer")
    assert officer.get(f"/inbox/c/{mine}/media/{message_id}/0").status_code == 200
    assert officer.get(f"/inbox/c/{other}/media/{message_id}/0").status_code == 404
    assert officer.get(f"/inbox/c/{mine}/media/{message_id}/1").status_code == 404
    assert officer.get(f"/inbox/c/{mine}/media/{message_id}/9").status_code == 404
