"""Media of SMS/WhatsApp messages downloaded in the background into the attachment store.

A real HTTP fake on 127.0.0.1 serves Twilio's Media URLs and the Graph API's media endpoints.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from app.container import Container
from channels.base import RawRequest
from intake import db
from intake.models import Message
from jobs.pipeline import receive
from outbound.attachments import AttachmentDownload, download_pending
from tests.conftest import TEST_ENV, read_fixture
from tests.fakeapi import FakeAPI, Reply

SID = TEST_ENV["ADUAN_TWILIO_ACCOUNT_SID"]
MEDIA = f"/2010-04-01/Accounts/{SID}/Messages/MM2a1b3c4d5e6f708192a3b4c5d6e7f809/Media/"
JPEG = b"\xff\xd8\xff\xe0" + b"foto antrean" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"foto loket" * 100


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    routes = {
        ("GET", MEDIA + "ME1"): lambda r: Reply(200, JPEG, content_type="image/jpeg"),
        ("GET", MEDIA + "ME2"): lambda r: Reply(200, PNG, content_type="image/png"),
    }
    with FakeAPI(routes) as fake:
        yield fake


@pytest.fixture
def config_data(config_data: dict[str, Any], api: FakeAPI) -> dict[str, Any]:
    config_data["channels"]["sms"]["api_base_url"] = api.url
    config_data["channels"]["whatsapp"]["api_base_url"] = api.url
    config_data["channels"]["whatsapp"]["graph_base_url"] = api.url + "/v21.0"
    # The fake provider listens on loopback, which media downloads refuse unless named here.
    config_data.setdefault("storage", {})["media_private_hosts"] = ["127.0.0.1"]
    return config_data


def ingest_fixture(container: Container, channel: str, name: str, media_url: str | None = None) -> None:
    """Take a fixture in through the pipeline (with its first MediaUrl changed to ``media_url``)."""
    ctype = "application/json" if name.endswith(".json") else "application/x-www-form-urlencoded"
    body = read_fixture(channel, name)
    if media_url is not None:
        params = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        body = urllib.parse.urlencode([(k, media_url if k == "MediaUrl0" else v) for k, v in params]).encode()
    receipt = receive(container, channel, RawRequest(body, {"content-type": ctype}), verify=False)
    assert receipt.status == 200


def downloads(container: Container) -> list[AttachmentDownload]:
    with db.session(container.engine) as s:
        return list(s.exec(select(AttachmentDownload).order_by(col(AttachmentDownload.id))).all())


def test_r2e_mms_images_are_downloaded_with_account_credentials(container: Container, api: FakeAPI) -> None:
    ingest_fixture(container, "sms", "message__two_images.form")
    assert download_pending(container) == 2
    rows = downloads(container)
    assert [r.status for r in rows] == ["stored", "stored"]
    assert rows[0].sha256 == hashlib.sha256(JPEG).hexdigest() and rows[0].size == len(JPEG)
    assert (container.storage_dir() / str(rows[0].path)).read_bytes() == JPEG
    assert (container.storage_dir() / str(rows[1].path)).read_bytes() == PNG
    auth = api.requests[0].header("Authorization") or ""
    assert base64.b64decode(auth.split()[1]).decode() == f"{SID}:{TEST_ENV['ADUAN_TWILIO_AUTH_TOKEN']}"
    with db.session(container.engine) as s:
        message = s.exec(select(Message)).one()
    assert [a["path"] for a in json.loads(message.attachments)] == [rows[0].path, rows[1].path]
    assert download_pending(container) == 0  # nothing left to do


def test_r2e_media_over_the_size_cap_is_rejected(container: Container) -> None:
    container.settings.storage = dataclasses.replace(container.settings.storage, max_attachment_bytes=500)
    ingest_fixture(container, "sms", "message__two_images.form")
    download_pending(container)
    rows = downloads(container)
    assert [r.status for r in rows] == ["rejected", "rejected"]
    assert rows[0].error == f"{len(JPEG)} bytes exceed the cap of 500" and rows[0].path is None


def test_r2e_media_of_a_refused_content_type_is_rejected(container: Container, api: FakeAPI) -> None:
    api.route("GET", MEDIA + "ME1", lambda r: Reply(200, b"<html>login</html>", content_type="text/html"))
    ingest_fixture(container, "sms", "message__two_images.form")
    download_pending(container)
    first = downloads(container)[0]
    assert (first.status, first.error) == ("rejected", "content type text/html is not accepted")


def test_r2e_media_server_error_is_retried_after_a_minute(container: Container, api: FakeAPI, clock) -> None:
    api.script("GET", MEDIA + "ME1", Reply(503, {"message": "busy"}))
    ingest_fixture(container, "sms", "message__two_images.form")
    download_pending(container)
    first = downloads(container)[0]
    assert (first.status, first.error, first.attempts) == ("pending", "HTTP 503", 1)
    clock.advance(minutes=1)
    download_pending(container)
    assert [r.status for r in downloads(container)] == ["stored", "stored"]


def test_r2f_cloud_media_id_is_resolved_through_the_graph_api(container: Container, api: FakeAPI) -> None:
    api.route(
        "GET",
        "/v21.0/1311123456789012",
        lambda r: Reply(
            200,
            {
                "url": api.url + "/whatsapp_business/attachments/?mid=1311123456789012",
                "mime_type": "image/jpeg",
                "id": "1311123456789012",
            },
        ),
    )
    api.route("GET", "/whatsapp_business/attachments/", lambda r: Reply(200, JPEG, content_type="image/jpeg"))
    ingest_fixture(container, "whatsapp", "cloud_message__image.json")
    download_pending(container)
    [row] = downloads(container)
    assert row.status == "stored"
    bearer = f"Bearer {TEST_ENV['ADUAN_META_ACCESS_TOKEN']}"
    assert [r.header("Authorization") for r in api.requests] == [bearer, bearer]


def test_telegram_photo_file_id_is_resolved_with_getfile(container: Container, api: FakeAPI) -> None:
    token = TEST_ENV["ADUAN_TELEGRAM_BOT_TOKEN"]
    container.settings.channels["telegram"].update(
        {"enabled": True, "api_base_url": api.url + "/bot", "file_base_url": api.url + "/file/bot"}
    )
    api.route(
        "GET",
        f"/bot{token}/getFile",
        lambda r: Reply(200, {"ok": True, "result": {"file_id": "x", "file_path": "photos/file_7.jpg"}}),
    )
    api.route(
        "GET", f"/file/bot{token}/photos/file_7.jpg", lambda r: Reply(200, JPEG, content_type="image/jpeg")
    )
    ingest_fixture(container, "telegram", "message__photo_caption.json")
    download_pending(container)
    [row] = downloads(container)
    assert (row.status, row.error) == ("stored", None)
    assert any(r.path.endswith("/getFile") for r in api.requests)


# -- SSRF: a signed payload names the URL, so only the provider's media hosts are fetched -------------


@pytest.fixture
def intranet() -> Iterator[FakeAPI]:
    """A service on the server's own network that a forged MediaUrl would like to reach."""
    with FakeAPI({("GET", "/admin"): lambda r: Reply(200, JPEG, content_type="image/jpeg")}) as fake:
        yield fake


def test_media_url_off_the_provider_hosts_is_refused_and_never_fetched(
    container: Container, intranet: FakeAPI
) -> None:
    ingest_fixture(container, "sms", "message__two_images.form", media_url=intranet.url + "/admin")
    download_pending(container)
    first, second = downloads(container)
    assert first.status == "rejected" and "not a provider media host" in str(first.error)
    assert second.status == "stored"  # the real Twilio media of the same message still comes
    assert intranet.requests == []  # nothing reached the listener, credentials least of all


def test_redirect_off_the_provider_hosts_is_not_followed(
    container: Container, api: FakeAPI, intranet: FakeAPI
) -> None:
    api.route("GET", MEDIA + "ME1", lambda r: Reply(302, b"", headers={"Location": intranet.url + "/admin"}))
    ingest_fixture(container, "sms", "message__two_images.form")
    download_pending(container)
    first = downloads(container)[0]
    assert first.status == "rejected" and "not a provider media host" in str(first.error)
    assert intranet.requests == []


def test_redirect_on_the_list_is_followed_without_the_credentials(container: Container, api: FakeAPI) -> None:
    # Twilio answers a media URL with a redirect to its CDN: followed, but the account's Basic
    # credentials stay with api.twilio.com (here the fake's address) and do not travel along.
    with FakeAPI({("GET", "/cdn/ME1"): lambda r: Reply(200, JPEG, content_type="image/jpeg")}) as cdn:
        container.settings.channels["sms"]["media_hosts"] = [
            f"127.0.0.1:{urllib.parse.urlsplit(cdn.url).port}"
        ]
        api.route("GET", MEDIA + "ME1", lambda r: Reply(307, b"", headers={"Location": cdn.url + "/cdn/ME1"}))
        ingest_fixture(container, "sms", "message__two_images.form")
        download_pending(container)
        assert [r.status for r in downloads(container)] == ["stored", "stored"]
        assert cdn.requests[0].header("Authorization") is None


def test_configured_provider_host_on_loopback_is_refused_unless_named_private(
    container: Container, api: FakeAPI
) -> None:
    # After DNS resolution: a loopback (or private, link-local) address is refused.
    container.settings.storage = dataclasses.replace(container.settings.storage, media_private_hosts=())
    ingest_fixture(container, "sms", "message__two_images.form")
    download_pending(container)
    assert [r.status for r in downloads(container)] == ["rejected", "rejected"]
    assert "non-public address" in str(downloads(container)[0].error)
    assert api.requests == []


def test_cloud_api_media_url_on_another_host_gets_neither_request_nor_token(
    container: Container, api: FakeAPI, intranet: FakeAPI
) -> None:
    api.route("GET", "/v21.0/1311123456789012", lambda r: Reply(200, {"url": intranet.url + "/admin"}))
    ingest_fixture(container, "whatsapp", "cloud_message__image.json")
    download_pending(container)
    [row] = downloads(container)
    assert row.status == "rejected" and intranet.requests == []
