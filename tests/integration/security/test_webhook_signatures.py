"""Every webhook route the app mounts refuses a missing, forged or replayed-with-another-body signature.

The routes are found by walking ``inbox.app.create_app``: a new webhook without a signer here fails
the guard test, so nobody can add an unprotected door. Oversized bodies get 413 and the refused
request is kept size-capped (forensics without hoarding personal data).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.bootstrap import build
from app.settings import Settings, from_dict
from channels import _meta
from inbox.app import create_app
from intake import db
from intake.ingest import REJECTION_BODY_CAP
from intake.models import Rejection
from tests.conftest import TEST_ENV, read_fixture
from tests.integration.ops.util import enable_existing

PUBLIC = "https://aduan.example.test"

Signer = Callable[[str, bytes], dict[str, str]]


def twilio(path: str, body: bytes) -> dict[str, str]:
    """Headers of a Twilio webhook: X-Twilio-Signature over the public URL and the form."""
    from twilio.request_validator import RequestValidator

    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(PUBLIC + path, params)
    return {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}


def meta(path: str, body: bytes) -> dict[str, str]:
    """Headers of a Meta webhook: X-Hub-Signature-256, HMAC-SHA256 of the body with the app secret."""
    return {
        "content-type": "application/json",
        "x-hub-signature-256": _meta.signature(body, TEST_ENV["ADUAN_META_APP_SECRET"]),
    }


def telegram(path: str, body: bytes) -> dict[str, str]:
    """Headers of a Telegram webhook: the secret token set with setWebhook (it does not cover the body)."""
    return {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": TEST_ENV["ADUAN_TELEGRAM_WEBHOOK_SECRET"],
    }


def _form_variant(body: bytes) -> bytes:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    params["Body"] = params.get("Body", "") + " (diubah)"
    return urlencode(params).encode()


def _json_variant(body: bytes) -> bytes:
    doc = json.loads(body)
    doc["_replayed"] = True
    return json.dumps(doc).encode()


#: path → (signer, fixture channel, fixture name, body variant, signature covers the body)
ROUTES: dict[str, tuple[Signer, str, str, Callable[[bytes], bytes], bool]] = {
    "/hooks/sms": (twilio, "sms", "message__plain.form", _form_variant, True),
    "/hooks/whatsapp": (twilio, "whatsapp", "message__text_profile_name.form", _form_variant, True),
    "/hooks/twilio/status": (twilio, "sms", "status__delivered.form", _form_variant, True),
    "/hooks/instagram": (meta, "instagram", "message__text.json", _json_variant, True),
    "/hooks/whatsapp-cloud": (meta, "whatsapp", "cloud_message__text.json", _json_variant, True),
    "/hooks/telegram": (telegram, "telegram", "message__text.json", _json_variant, False),
}
#: With ``provider = "meta"`` the Twilio WhatsApp path takes Cloud API posts (signed by Meta) instead.
META_OVERRIDES = {"/hooks/whatsapp": (meta, "whatsapp", "cloud_message__text.json", _json_variant, True)}
FORGED_HEADERS = {
    "x-twilio-signature": "bm90IGEgc2lnbmF0dXJl",
    "x-hub-signature-256": "sha256=" + "0" * 64,
    "x-telegram-bot-api-secret-token": "not-the-secret",
}


def _settings(config_data: dict[str, Any], tmp_path: Path, whatsapp_provider: str) -> Settings:
    enable_existing(config_data)
    config_data["office"]["public_base_url"] = PUBLIC
    config_data["channels"].setdefault("whatsapp", {})["provider"] = whatsapp_provider
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "att")
    return from_dict(config_data, env=dict(TEST_ENV))


def all_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """Return ``(path, methods)`` of every route, descending into included routers (FastAPI ≥ 0.16x)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            found += all_routes(list(included.routes), prefix + str(getattr(context, "prefix", "") or ""))
        elif hasattr(route, "path"):
            found.append((prefix + route.path, set(getattr(route, "methods", None) or ())))
    return found


def _webhook_paths(app: Any) -> list[str]:
    return sorted(
        {path for path, methods in all_routes(app.routes) if path.startswith("/hooks/") and "POST" in methods}
    )


@pytest.fixture(params=["twilio", "meta"])
def client(
    request: pytest.FixtureRequest, config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any
) -> Any:
    """The whole app with every existing channel on (WhatsApp through Twilio, then through Meta)."""
    settings = _settings(config_data, tmp_path, request.param)
    container = build(settings, engine=engine, clock=clock, migrate=False)
    app = create_app(container)
    test_client = TestClient(app, raise_server_exceptions=False)
    test_client.paths = _webhook_paths(app)  # type: ignore[attr-defined]
    test_client.container = container  # type: ignore[attr-defined]
    test_client.routes = ROUTES | (META_OVERRIDES if request.param == "meta" else {})  # type: ignore[attr-defined]
    return test_client


def test_every_mounted_webhook_has_a_signer_here(client: Any) -> None:
    assert client.paths, "no webhook routes mounted"
    unknown = [p for p in client.paths if p not in client.routes]
    assert unknown == [], f"webhook routes without a signature test: {unknown}"


def test_a_valid_signature_is_accepted(client: Any) -> None:
    # proves the signers above are right, so the 403s below mean something
    for path in client.paths:
        signer, channel, fixture, _, _ = client.routes[path]
        body = read_fixture(channel, fixture)
        response = client.post(path, content=body, headers=signer(path, body))
        assert response.status_code == 200, (path, response.status_code, response.text[:200])


def test_a_missing_signature_is_refused_with_403(client: Any) -> None:
    for path in client.paths:
        _, channel, fixture, _, _ = client.routes[path]
        body = read_fixture(channel, fixture)
        ctype = "application/json" if fixture.endswith(".json") else "application/x-www-form-urlencoded"
        response = client.post(path, content=body, headers={"content-type": ctype})
        assert response.status_code == 403, (path, response.status_code)


def test_a_forged_signature_is_refused_with_403(client: Any) -> None:
    for path in client.paths:
        _, channel, fixture, _, _ = client.routes[path]
        body = read_fixture(channel, fixture)
        response = client.post(
            path, content=body, headers=FORGED_HEADERS | {"content-type": "application/json"}
        )
        assert response.status_code == 403, (path, response.status_code)


def test_a_signature_replayed_with_another_body_is_refused_with_403(client: Any) -> None:
    for path in client.paths:
        signer, channel, fixture, variant, covers_body = client.routes[path]
        if not covers_body:
            continue  # Telegram's secret token is static by design; TLS and the secret path protect it
        body = read_fixture(channel, fixture)
        headers = signer(path, body)
        response = client.post(path, content=variant(body), headers=headers)
        assert response.status_code == 403, (path, response.status_code)


def test_a_signature_for_another_host_is_refused(client: Any) -> None:
    # X-Forwarded-Host is ignored without trust_proxy: a signature made for evil.example must not pass
    for path in client.paths:
        signer, channel, fixture, _, _covers_body = client.routes[path]
        if signer is not twilio:
            continue
        body = read_fixture(channel, fixture)
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        from twilio.request_validator import RequestValidator

        evil = RequestValidator(TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(
            "https://evil.example" + path, params
        )
        response = client.post(
            path,
            content=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": evil,
                "x-forwarded-host": "evil.example",
                "x-forwarded-proto": "https",
            },
        )
        assert response.status_code == 403, path


def test_an_oversized_signed_body_gets_413_and_the_rejection_is_size_capped(client: Any) -> None:
    limit = client.container.settings.storage.max_body_bytes
    for path in client.paths:
        signer, _, fixture, _, _ = client.routes[path]
        if fixture.endswith(".form"):
            body = urlencode({"MessageSid": "SM" + "9" * 32, "Body": "x" * (limit + 10)}).encode()
        else:
            body = json.dumps({"object": "instagram", "update_id": 1, "pad": "x" * (limit + 10)}).encode()
        response = client.post(path, content=body, headers=signer(path, body))
        # Status callbacks too: the same limit as the pipeline, not a 400 from the status parser.
        assert response.status_code == 413, (path, response.status_code)
        assert response.json() == {"error": f"body larger than {limit} bytes"}, path
    with db.session(client.container.engine) as s:
        rows = s.exec(select(Rejection).where(Rejection.status_code == 413)).all()
    assert len(rows) == len(client.paths)
    assert all(len(r.body_excerpt) <= REJECTION_BODY_CAP and r.body_size > limit for r in rows)


def test_a_body_above_the_outer_limit_is_refused_before_it_is_read(client: Any) -> None:
    from inbox.ops import request_limit

    limit = request_limit(client.container)
    big = b"x" * (limit + 1)
    for path in [*client.paths, "/lapor", "/api/v1/complaints"]:
        response = client.post(path, content=big, headers={"content-type": "application/octet-stream"})
        assert response.status_code == 413, (path, response.status_code)

    def chunks() -> Any:  # no Content-Length: the limit applies while the body streams in
        for _ in range(limit // 65_536 + 2):
            yield b"y" * 65_536

    response = client.post(
        "/hooks/sms", content=chunks(), headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 413


def test_a_non_ascii_meta_signature_is_refused_with_403_not_500(client: Any) -> None:
    meta_paths = [p for p in client.paths if client.routes[p][0] is meta]
    assert meta_paths
    for path in meta_paths:
        _, channel, fixture, _, _ = client.routes[path]
        body = read_fixture(channel, fixture)
        headers = {"content-type": "application/json", "x-hub-signature-256": "sha256=é".encode()}
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 403, (path, response.status_code)


def test_a_non_ascii_verify_token_is_refused_with_403_not_500(client: Any) -> None:
    paths = ["/hooks/instagram"] + (
        ["/hooks/whatsapp-cloud"] if "/hooks/whatsapp-cloud" in client.paths else []
    )
    for path in paths:
        query = {"hub.mode": "subscribe", "hub.verify_token": "tokén", "hub.challenge": "42"}
        response = client.get(path, params=query)
        assert response.status_code == 403, (path, response.status_code)


def test_deeply_nested_json_that_passed_the_signature_is_stored_and_refused_with_400(client: Any) -> None:
    from intake.models import RawInbound

    body = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/hooks/telegram", content=body, headers=telegram("/hooks/telegram", body))
    assert response.status_code == 400, response.status_code
    with db.session(client.container.engine) as s:
        [raw] = s.exec(select(RawInbound).where(RawInbound.channel == "telegram")).all()
    assert raw.body == body and raw.status == "quarantined"


def test_unsigned_posts_keep_few_rejection_rows_and_count_the_rest(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any
) -> None:
    from intake.models import RejectionTally

    config_data["security"] = {"rejections_per_hour": 3, "rejections_kept": 5}
    container = build(_settings(config_data, tmp_path, "twilio"), engine=engine, clock=clock, migrate=False)
    client = TestClient(create_app(container))
    body = read_fixture("sms", "message__plain.form")
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for _ in range(10):
        assert client.post("/hooks/sms", content=body, headers=headers).status_code == 403
    clock.advance(hours=1, seconds=1)  # a new hour: three more rows, then the total cap of five holds
    for _ in range(10):
        assert client.post("/hooks/sms", content=body, headers=headers).status_code == 403
    with db.session(engine) as s:
        kept = s.exec(select(Rejection)).all()
        tally = s.get(RejectionTally, "sms")
    assert len(kept) == 5
    assert tally is not None and tally.dropped == 15
