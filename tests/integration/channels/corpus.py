"""The real-payload corpus (``../shared/corpus``) fed through Aduan's production paths, twice.

Mail goes through what ``aduan ingest --channel email`` runs; chat payloads through the signed
webhook of the whole app (Twilio signatures, Meta's X-Hub-Signature-256, Telegram's secret token),
the way a provider posts them, then the background drainer. Every file's outcome is read back
from the database: filed (a message with its sender, text, attachments and location), ignored
(with the reason) or quarantined (with the reason). Used by ``tests/integration/channels/test_corpus.py`` and
``bench/bench_corpus.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select
from twilio.request_validator import RequestValidator

from app.bootstrap import build
from app.container import Container
from app.settings import from_dict
from channels import _meta
from cli.app import ingest_file
from inbox.app import create_app
from intake import db
from intake.models import RAW_IGNORED, RAW_PROCESSED, RAW_QUARANTINED, Complaint, Message, RawInbound
from tests.conftest import settle

PUBLIC = "https://aduan.example.test"
#: The moment the run happens at (a Tuesday in Jakarta: a working day, the office open).
CLOCK_START = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
#: The corpus folders, each the ``aduan ingest --channel`` name of its files.
FOLDERS = ("email", "whatsapp", "sms", "telegram", "instagram")
SNIPPET_CHARS = 60
#: Text that shows a wrong charset (UTF-8 read as windows-1252) or bytes replaced by U+FFFD.
MOJIBAKE = re.compile("â€|Ã[\u0080-\u00bf]|\ufffd")


def find_corpus(start: Path) -> Path | None:
    """Return the nearest ``shared/corpus`` beside ``start`` or one of its parents (a worktree's too)."""
    for parent in [start, *start.parents]:
        candidate = parent / "shared" / "corpus"
        if (candidate / "README.md").is_file():
            return candidate
    return None


def corpus_files(corpus: Path) -> list[Path]:
    """Return every payload file of the corpus (not its README/SOURCES), in a stable order."""
    return sorted(p for folder in FOLDERS for p in (corpus / folder).iterdir() if not p.name.endswith(".md"))


def key_of(corpus: Path, path: Path) -> str:
    """Return the table's key of a corpus file: ``<folder>/<name>``."""
    return path.relative_to(corpus).as_posix()


@dataclass
class Outcome:
    """What Aduan made of one corpus file, read back from the database."""

    key: str
    outcome: str  # filed / ignored / quarantined / stored (not processed) / lost
    reason: str = ""
    sender: str = ""
    text: str = ""
    attachments: int = 0
    location: str = ""
    answers: list[int] = field(default_factory=list)  # HTTP statuses (chat) or 0/1 (ingest), per pass
    raw_rows: int = 0
    messages: int = 0
    complaints: int = 0
    #: What the second pass added (raw rows, messages, complaints): all 0 when nothing is doubled.
    doubled: tuple[int, int, int] = (0, 0, 0)

    @property
    def snippet(self) -> str:
        """The first words of the text, on one line."""
        return " ".join(self.text.split())[:SNIPPET_CHARS]

    @property
    def taken_in(self) -> bool:
        """Filed or ignored with a reason (not quarantined, not lost)."""
        return self.outcome in ("filed", "ignored")

    @property
    def crashed(self) -> bool:
        """A 5xx answer, a payload left unprocessed, or one that left no trace."""
        return any(a >= 500 for a in self.answers) or self.outcome in ("stored", "lost")


# -- signatures (the test secrets of tests/conftest.py) ------------------------------------------


def twilio_headers(env: dict[str, str], path: str, body: bytes) -> dict[str, str]:
    """Headers of a Twilio webhook: X-Twilio-Signature over the public URL and the form."""
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    signature = RequestValidator(env["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(PUBLIC + path, params)
    return {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}


def meta_headers(env: dict[str, str], path: str, body: bytes) -> dict[str, str]:
    """Headers of a Meta webhook: X-Hub-Signature-256 over the body."""
    return {
        "content-type": "application/json",
        "x-hub-signature-256": _meta.signature(body, env["ADUAN_META_APP_SECRET"]),
    }


def telegram_headers(env: dict[str, str], path: str, body: bytes) -> dict[str, str]:
    """Headers of a Telegram webhook: the secret token given to setWebhook."""
    return {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": env["ADUAN_TELEGRAM_WEBHOOK_SECRET"],
    }


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Two wired apps on one database: WhatsApp through Twilio (forms) and through Meta (JSON)."""

    twilio: Container
    meta: Container
    twilio_client: TestClient
    meta_client: TestClient
    env: dict[str, str]

    @property
    def engine(self) -> sa.Engine:
        return self.twilio.engine


@dataclass
class _Counts:
    raw: int
    messages: int
    complaints: int


def open_corpus(
    config_data: dict[str, Any], env: dict[str, str], engine: sa.Engine, clock: Callable[[], Any], tmp: Path
) -> Iterator[Corpus]:
    """Build the two apps (every channel on, the public URL set) and stop their threads after."""
    containers = []
    for provider in ("twilio", "meta"):
        data = json.loads(json.dumps(config_data))
        data["office"]["public_base_url"] = PUBLIC
        for name in FOLDERS:
            data.setdefault("channels", {}).setdefault(name, {})["enabled"] = True
        data["channels"]["whatsapp"]["provider"] = provider
        data.setdefault("storage", {})["attachments_dir"] = str(tmp / "attachments")
        containers.append(build(from_dict(data, env=dict(env)), engine=engine, clock=clock, migrate=False))
    twilio, meta = containers
    clients = [TestClient(create_app(c), raise_server_exceptions=False) for c in containers]
    try:
        yield Corpus(twilio, meta, clients[0], clients[1], env)
    finally:
        for client in clients:
            client.close()


def _counts(engine: sa.Engine) -> _Counts:
    with engine.connect() as conn:
        return _Counts(
            *(
                int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (RawInbound.__table__, Message.__table__, Complaint.__table__)  # type: ignore[attr-defined]
            )
        )


def _last_raw_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(RawInbound.id), 0))).scalar_one())  # type: ignore[arg-type]


def _post(corpus: Corpus, folder: str, path: Path, body: bytes) -> int:
    """Post one chat payload signed, as its provider would, to the route that takes it."""
    env = corpus.env
    if folder == "whatsapp" and not path.name.endswith(".form"):
        route = "/hooks/whatsapp-cloud"
        response = corpus.meta_client.post(route, content=body, headers=meta_headers(env, route, body))
        settle(corpus.meta)  # the job queue's worker, as the running service has one
        return response.status_code
    signer, route = {
        "whatsapp": (twilio_headers, "/hooks/whatsapp"),
        "sms": (twilio_headers, "/hooks/sms"),
        "telegram": (telegram_headers, "/hooks/telegram"),
        "instagram": (meta_headers, "/hooks/instagram"),
    }[folder]
    response = corpus.twilio_client.post(route, content=body, headers=signer(env, route, body))
    settle(corpus.twilio)
    return response.status_code


def feed(corpus: Corpus, root: Path, path: Path) -> int:
    """Send one corpus file through its production path; return the HTTP status or exit code."""
    folder = path.parent.name
    body = path.read_bytes()
    if folder == "email":
        return ingest_file(corpus.twilio, folder, path).exit_code
    return _post(corpus, folder, path, body)


def run_file(corpus: Corpus, root: Path, path: Path) -> Outcome:
    """Feed one file twice and read back what it became."""
    outcome = Outcome(key=key_of(root, path), outcome="lost")
    first = _last_raw_id(corpus.engine)
    before = _counts(corpus.engine)
    outcome.answers.append(feed(corpus, root, path))
    middle = _counts(corpus.engine)
    outcome.answers.append(feed(corpus, root, path))
    after = _counts(corpus.engine)
    outcome.raw_rows = middle.raw - before.raw
    outcome.messages = middle.messages - before.messages
    outcome.complaints = middle.complaints - before.complaints
    outcome.doubled = (
        after.raw - middle.raw,
        after.messages - middle.messages,
        after.complaints - middle.complaints,
    )
    with db.session(corpus.engine) as s:
        rows = s.exec(select(RawInbound).where(RawInbound.id > first).order_by(RawInbound.id)).all()  # type: ignore[arg-type,operator]
        if not rows:
            return outcome
        statuses = {r.status for r in rows}
        raw_ids = [r.id for r in rows]
        messages = s.exec(select(Message).where(Message.raw_id.in_(raw_ids)).order_by(Message.id)).all()  # type: ignore[union-attr,arg-type]
        if RAW_QUARANTINED in statuses:
            outcome.outcome = "quarantined"
            outcome.reason = next(r.error or "" for r in rows if r.status == RAW_QUARANTINED)
        elif statuses - {RAW_PROCESSED, RAW_IGNORED}:
            outcome.outcome = "stored"
            outcome.reason = (
                next(r.error or "" for r in rows if r.error) if any(r.error for r in rows) else ""
            )
        elif not messages:
            outcome.outcome = "ignored"
            outcome.reason = next((r.error or "" for r in rows if r.error), "")
        else:
            message = messages[0]
            complaint = s.get(Complaint, message.complaint_id) if message.complaint_id else None
            if RAW_IGNORED in statuses or (folder_of(outcome.key) == "email" and complaint is None):
                # Stored for the record (machine mail, an edit, a message already received) but
                # nothing new to file: the raw row says why.
                outcome.outcome = "ignored"
                outcome.reason = next((r.error or "" for r in rows if r.error), "")
            else:
                outcome.outcome = "filed"
            outcome.sender = message.sender_urn
            outcome.text = message.text
            outcome.attachments = sum(len(json.loads(m.attachments or "[]")) for m in messages)
            outcome.location = _location_of(message)
    return outcome


def folder_of(key: str) -> str:
    return key.split("/", 1)[0]


def _location_of(message: Message) -> str:
    """Return ``lat,lon label`` of the message's location, empty when it has none."""
    if not message.location:
        return ""
    doc = json.loads(message.location)
    label = f" {doc['label']}" if doc.get("label") else ""
    return f"{doc['latitude']:.5f},{doc['longitude']:.5f}{label}"


def run_all(corpus: Corpus, root: Path) -> list[Outcome]:
    """Feed every corpus file twice; return the outcomes in the files' order."""
    return [run_file(corpus, root, path) for path in corpus_files(root)]
