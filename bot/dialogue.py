"""The intake conversation: a channel-neutral dialogue that gathers identity, object and service date.

The shape of python-telegram-bot's ``ConversationHandler`` (states, one handler per state that
returns the next state, fallbacks that work in any state), but keyed by the sender's URN and kept
in the database, so SMS, WhatsApp, Telegram, Instagram and X DMs share it, and a restart or a
second web process loses nothing. One ``dialogue_draft`` row per office and sender (a citizen who
writes to two offices of a province has two conversations) is locked for the length of a message's
transaction, so two processes handling two messages of the same sender make one draft.

Lock order on PostgreSQL: the sender's ``contact`` row, then the draft. The message path takes them
so (ingest stamps the contact, then the dialogue upserts the draft) and ``file_stale_drafts`` does
too; the opposite order in one of them deadlocks the two when a citizen writes as the draft is filed.

The dialogue never creates a complaint itself: it calls ``intake.ingest.file_complaint`` (R3, R4,
R5 and the tracking number) and sends replies only through ``outbound.outbox.enqueue``.
*Pengaduan* is a complaint; *saran* a suggestion/input (R3 late, R5b no identity or no object).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from app.routing import draft_office
from app.settings import DialogueSettings
from bot import dialogue_text as txt
from bot.dateparse import parse_date
from bot.names import introduce, name_answer, read_address, without_introduction
from intake import db, rules
from intake.deadlines import NOTIFY_ASSIGNEE
from intake.ingest import contact_for, file_complaint, loaded, record_event, run, write_changes
from intake.models import (
    STATUS_ANSWERED,
    STATUS_CLOSED,
    STATUS_IN_FOLLOW_UP,
    STATUS_RECEIVED,
    STATUS_REPORTED,
    STATUS_UNDER_REVIEW,
    Complaint,
    Contact,
    Message,
    Reporter,
    User,
    ts,
    utcnow,
)
from intake.office import OfficeProfile, Service, normalise_text
from intake.tracking import read_tracking
from intake.workflow_models import DeadlineAlert
from outbound import outbox

if TYPE_CHECKING:
    from app.container import Container
    from channels.base import InboundMessage
    from intake.ingest import IngestResult

log = logging.getLogger("aduan.dialogue")

# -- states ---------------------------------------------------------------------------------------
IDLE = "idle"  # no report in progress
ASK_WHAT = "ask_what"  # greeted; waiting for what happened (R5a object)
ASK_SERVICE = "ask_service"  # which catalogue service (R5c)
ASK_NAME = "ask_name"  # the complainant's name (R5a identity)
ASK_DATE = "ask_date"  # when the service was received (R3)
CONFIRM = "confirm"  # summary shown; YA / UBAH / BATAL
EDIT = "edit"  # UBAH: which part to change
CHOOSE = "choose"  # a follow-up from a citizen with several open complaints: which one?
STATES = (IDLE, ASK_WHAT, ASK_SERVICE, ASK_NAME, ASK_DATE, CONFIRM, EDIT, CHOOSE)


class DialogueDraft(SQLModel, table=True):
    """The conversation of one sender with one office: the report being gathered, the flood counters."""

    __tablename__ = "dialogue_draft"
    __table_args__ = (
        # sender first: a lookup by sender alone (every office's drafts of a citizen) uses it too
        sa.UniqueConstraint("sender_urn", "office", name="uq_dialogue_draft_sender_office"),
        sa.Index("ix_dialogue_draft_state_inbound", "state", "last_inbound_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: The office written to (its code); "" only for a draft older than offices whose office was unknown.
    office: str = Field(default="", max_length=32)
    sender_urn: str = Field(max_length=255)
    channel: str = Field(max_length=32)
    state: str = Field(default=IDLE, max_length=16)
    language: str = Field(default="id", max_length=8)
    text: str = Field(default="", sa_type=sa.Text)  # what happened, as the citizen wrote it
    service_code: str | None = Field(default=None, max_length=32)
    service_decided: bool = False  # chosen, or left to the officer ("0 / tidak tahu")
    name: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=200)  # a village given with the name
    anonymous: bool = False
    service_date: dt.date | None = None
    date_decided: bool = False  # given, or "tidak tahu" (then R3 cannot make it late)
    misses: int = 0  # answers not understood for the current question
    message_ids: str = Field(default="[]", sa_type=sa.Text)  # JSON list of message ids
    attachment_count: int = 0
    started_at: dt.datetime | None = ts()
    last_inbound_at: dt.datetime | None = ts()
    window_started_at: dt.datetime | None = ts()
    window_count: int = 0
    flood_notified: bool = False
    last_complaint_id: int | None = Field(default=None, foreign_key="complaint.id")
    #: When the sender's last message was passed on to ``last_complaint_id`` (a follow-up).
    followed_up_at: dt.datetime | None = ts()
    updated_at: dt.datetime = ts(nullable=False, default=utcnow)


def dialogue_settings(container: Container) -> DialogueSettings:
    """Return the ``[dialogue]`` settings (typed and checked when the configuration was loaded)."""
    return container.settings.dialogue


# -- words the citizen may use -------------------------------------------------------------------

# fmt: off
YES_WORDS = frozenset({
    "ya", "y", "iya", "yes", "ok", "oke", "okay", "benar", "betul", "setuju", "kirim", "send", "sip",
    "yup", "confirm", "iyah", "yaa", "yoi", "siap", "bener",
    # Sundanese: muhun/sumuhun (yes, polite), leres (right), enya (yes), mangga (go ahead)
    "muhun", "sumuhun", "leres", "enya", "mangga",
})
EDIT_WORDS = frozenset({
    "ubah", "ganti", "edit", "change", "tidak", "no", "bukan", "salah", "koreksi", "gak", "ga", "nggak",
    "tdk", "engga", "enggak",
    # Sundanese: henteu/teu (no), lain (not, wrong), moal (will not), sanes (is not)
    "henteu", "teu", "moal", "sanes", "lepat",
})
CANCEL_WORDS = frozenset({
    "batal", "batalkan", "cancel",
})
ANON_WORDS = frozenset({
    "anonim", "anonymous", "anonimus", "anon",
})
#: ANONIM written inside a longer message ("Nama saya Bambang, ANONIM. …"): the citizen asks to stay
#: anonymous (R5a) as much as by the one-word command. Capitals or an asking verb, so that a report
#: *about* an anonymous letter ("surat anonim") is not taken for the request.
ANON_IN_TEXT = re.compile(r"\bANONIM\b|\b(?:mau|ingin|minta|sebagai|secara)\s+anonim\b", re.IGNORECASE)
ANON_CAPITALS = re.compile(r"\bANONIM\b")
HELP_WORDS = frozenset({
    "bantuan", "help", "menu", "start", "mulai",
})
STATUS_WORDS = frozenset({
    "status", "cek", "check", "lacak", "track", "kabar", "perkembangan", "progress", "progres",
    "sts", "statusnya", "gimana", "gmn", "bagaimana", "kumaha", "sampai", "sampe", "dugi",
})
#: A question about the state of one's report, in any wording ("gmn laporan sy", "sudah sampai mana").
STATUS_QUESTION = re.compile(
    r"^(?:(?:pak|bu|min|kak|punten|permisi|halo|assalamualaikum|mas|mbak|teh|kang|mau|ingin|sy|saya|"
    r"tolong|mohon|bisa|minta|bade|hoyong|abdi)\W+)*(?:status|cek|check|lacak|track|sts)"
    r"(?:\W+(?:status|statusna|statusnya|laporan|laporannya|lapor|aduan|pengaduan|nya|saya|sy|abdi|pak|bu|"
    r"min|kak|dong|ya|no|nomor|nmr|\d+))*\W*$"
    r"|\b(?:sampai|sampe|smp|dugi|nepi)\s+(?:ka\s+)?mana\b"
    r"|\b(?:gmn|gimana|bagaimana|gmana|kumaha|gimna)\s+(?:kabar\s+|kabarna\s+|nasib\s+)?"
    r"(?:laporan|lapor|aduan|pengaduan|pengajuan|keluhan)"
    r"|\b(?:laporan|aduan|pengaduan|keluhan)\s*(?:saya|sy|abdi|kuring|aku|sya)?\s*"
    r"(?:gmn|gimana|bagaimana|kumaha|udah\s+sampai|sudah\s+sampai|sdh\s+sampai|sudah\s+diproses|"
    r"udah\s+diproses|sdh\s+diproses|ada\s+kabar|belum\s+ada\s+kabar|kok\s+belum)"
    r"|\b(?:sudah|udah|sdh|dh|tos|atos|parantos)\s+(?:di\s*)?(?:proses|prosess|tindak\s*lanjuti|"
    r"tangani|baca|terima)\s*(?:belum|blm|acan|teu|nya|kah)?\s*\??\s*$"
    r"|\b(?:ada\s+kabar|kabar\s*na|perkembangan|progres|progress)\b.*\b(?:laporan|aduan|pengaduan)\b"
    r"|\bkapan\s+(?:di\s*)?(?:proses|selesai|beres|ditindaklanjuti|dijawab|dibalas)\b"
)
#: A message that says it is about something new, not the open complaint.
NEW_MATTER = re.compile(
    r"^\W*baru\W*$|\b(?:laporan|lapor|aduan|pengaduan|masalah|keluhan|hal|urusan|perkara)\s+"
    r"(?:yang\s+|yg\s+|nu\s+)?(?:baru|lain|lainnya|beda|sejen|anyar)\b|\b(?:new\s+(?:report|complaint))\b"
)
NO_SERVICE_WORDS = frozenset({
    "0", "lainnya", "lain", "lain lain", "tidak tahu", "tidak tau", "gak tau", "ga tau", "nggak tahu",
    "ngga tau", "gatau", "entah", "tidak ada", "other", "none", "not sure", "dont know", "don't know",
    "i don't know", "tdk tahu", "tdk tau",
})
UNKNOWN_DATE_WORDS = frozenset({
    "tidak tahu", "tidak tau", "gak tau", "ga tau", "nggak tahu", "lupa", "tidak ingat", "gak ingat",
    "ga ingat", "entah", "gatau", "tdk tahu", "tdk tau", "don't know", "dont know", "not sure",
    "i don't know", "i forgot", "forgot", "don't remember",
})
THANKS = re.compile(
    r"\b(?:terima\s*kasih|makasih|trims|thanks|thank\s+you|tq|tks|hatur\s+nuhun|nuhun|"
    r"matur\s+nuwun|suwun)\b"
)
REFUSE_NAME = re.compile(
    r"\b(?:tidak\s+mau|gak\s+mau|ga\s+mau|rahasia|tanpa\s+nama|don't\s+want|rather\s+not)\b"
)
TRACKING = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z]{2,8}\s*[-\s./]?\s*)?20\d\d\s*[-\s./]?\s*\d{1,6}(?!\d)")
# Words that tell English from Indonesian (detect_language).
_EN_WORDS = frozenset({
    "the", "my", "is", "i", "i'm", "please", "permit", "not", "yet", "still", "help", "yesterday",
    "ago", "week", "weeks", "days", "name", "cancel", "yes", "want", "complaint", "was", "have", "has",
    "been", "it", "of", "for", "with", "issued", "paid", "license", "licence", "why", "what", "when",
    "how", "you", "your", "office", "building", "service", "anonymous", "this", "that", "did", "do",
    "does", "don't", "can't", "officer", "waiting", "wait", "am", "are", "and", "since",
})
_ID_WORDS = frozenset({
    "saya", "yang", "belum", "sudah", "tidak", "izin", "ijin", "dan", "di", "ke", "dari", "pak", "bu",
    "mau", "ini", "itu", "kemarin", "lalu", "nama", "apa", "bagaimana", "tolong", "mohon", "ya",
    "terima", "kasih", "untuk", "dengan", "ada", "kok", "sih", "dong", "minggu", "bulan", "hari",
    "tanggal", "kapan", "keluar", "bayar", "sampai", "juga", "atau", "bisa", "kenapa", "halo",
    "selamat", "pagi", "siang", "sore", "malam", "permisi", "batal", "bantuan", "anonim", "aku",
    "kami", "kita", "sy", "gak", "nggak", "udah", "sdh", "blm", "tdk", "yg", "kak", "min",
})
_STRONG_EN = frozenset({
    "help", "cancel", "yes", "anonymous", "yesterday", "hello", "thanks", "please",
})
# fmt: on
_WORD = re.compile(r"[a-z0-9']+")


def detect_language(text: str) -> str | None:
    """Guess whether the citizen writes English or Indonesian; None when the text does not tell."""
    words = _WORD.findall(normalise_text(text))
    en = sum(w in _EN_WORDS for w in words)
    ind = sum(w in _ID_WORDS for w in words)
    if en > ind and (en >= 2 or (len(words) <= 2 and any(w in _STRONG_EN for w in words))):
        return "en"
    if ind > en:
        return "id"
    return None


def yes_no(text: str) -> bool | None:
    """Read a short yes ("ya", "muhun", "leres") or no ("tidak", "henteu", "moal"); None when neither."""
    words = _command(text).split()
    if not words or len(words) > 3:
        return None
    if words[0] in YES_WORDS:
        return True
    if words[0] in EDIT_WORDS:
        return False
    return None


def is_status_question(text: str) -> bool:
    """Tell whether a message asks about one's own report ("gmn laporan sy", "sudah sampai mana")."""
    return _is_status_question(text, short=False)


def _command(text: str) -> str:
    """Return the message as a bare command word: lower-case, no punctuation, no leading slash."""
    norm = normalise_text(text).strip(" .!?/")
    return re.sub(r"@\w+$", "", norm)  # Telegram "/help@AduanBot"


# -- one message through the dialogue -----------------------------------------------------------


@dataclass
class Turn:
    """Everything one handler needs: the locked draft, the message, and the replies gathered."""

    container: Container
    session: Session
    draft: DialogueDraft
    message: Message
    text: str
    attachments: int
    now: dt.datetime
    conf: DialogueSettings
    joined: bool = False  # within the join window of the previous message (one utterance)
    previous: dt.datetime | None = None  # when the sender's previous message came
    parts: list[str] = field(default_factory=list)
    complaint: Complaint | None = None
    purpose: str = "reply"
    contact: Contact | None = None  # the sender's contact row, when ingest handed it over
    latest: LatestComplaint | None = None  # the sender's newest complaint, once looked up
    looked_up: bool = False  # whether ``latest`` was looked up in this turn
    inbound: InboundMessage | None = None  # the channel's message (location, message type)

    @property
    def office(self) -> OfficeProfile:
        """The office profile."""
        return self.container.office

    @property
    def lang(self) -> str:
        """The language of the replies."""
        return self.draft.language if self.draft.language in txt.LANGUAGES else "id"

    @property
    def today(self) -> dt.date:
        """Today in the office's timezone (R3 counts Jakarta days)."""
        return self.office.calendar.local_date(self.now)

    def say(self, key: str, **values: object) -> None:
        """Add one paragraph to the reply."""
        self.parts.append(txt.t(key, self.lang, **values))


Handler = Callable[[Turn], str]


def install(container: Container) -> None:
    """Plug the dialogue into the pipeline: a message hook for every chat message."""
    if on_message not in container.message_hooks:
        container.message_hooks.append(on_message)


def on_message(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """Take one new chat message through the conversation of its sender; always handles it."""
    message = result.message
    conf = dialogue_settings(container)
    draft, latest_id = _lock_draft(session, container.office.code, message, now)
    text = (message.text or "").strip()
    if text.startswith("/start"):  # Telegram's first message of a chat is a command, not a report
        text = text[len("/start") :].strip()
    turn = Turn(container, session, draft, message, text, _attachment_count(message), now, conf)
    turn.contact = result.contact
    turn.inbound = result.inbound
    # No complaint of this sender: nothing to look up. On PostgreSQL the subquery sees the
    # statement's snapshot, so a complaint filed by a message that held the draft lock while we
    # waited is missed by it; but that filing also set last_complaint_id on the row we now hold.
    turn.looked_up = latest_id is None and draft.last_complaint_id is None
    if _flooded(draft, now, conf):
        # Flood guard: keep the message (and attach it to the report) but stop answering.
        if draft.state != IDLE:
            _attach(turn)
        if not draft.flood_notified:
            draft.flood_notified = True
            turn.say("flood")
        log.info("flood guard on a %s sender: %s messages in the window", message.channel, draft.window_count)
        draft.last_inbound_at, draft.updated_at = now, now
        write_changes(session, draft)
        _reply(turn)
        return True
    language = detect_language(text)
    if language:
        draft.language = language
    previous = draft.last_inbound_at
    if draft.state != IDLE and previous is not None and now - previous > conf.draft_timeout:
        # The scheduler did not get to it (down, or not running): file it before starting anew.
        _file_timeout(container, session, draft, now, conf)
        turn.looked_up = False  # it may have filed one
        previous = None
    turn.previous = previous
    turn.joined = draft.state != IDLE and previous is not None and now - previous <= conf.join_window
    draft.last_inbound_at = now
    if not _fallback(turn):
        if draft.state == IDLE:
            draft.state = _on_idle(turn)
        else:
            _attach(turn)
            draft.state = HANDLERS.get(draft.state, _on_what)(turn)
        if _asks_anonymity(turn.text) and draft.state != IDLE:
            draft.anonymous = True  # R5a: the name typed beside it is masked when the record is filed
    draft.updated_at = now
    write_changes(session, draft)
    _reply(turn)
    log.info("dialogue %s message #%s: state %s", message.channel, message.id, draft.state)
    return True


def _draft_upsert(ins: Any) -> Any:
    table = DialogueDraft.__table__  # type: ignore[attr-defined]
    stmt = ins(table).values(
        office=sa.bindparam("office"),
        sender_urn=sa.bindparam("sender_urn"),
        channel=sa.bindparam("channel"),
        state=IDLE,
        language="id",
        text="",
        service_decided=False,
        anonymous=False,
        date_decided=False,
        misses=0,
        message_ids="[]",
        attachment_count=0,
        window_count=0,
        flood_notified=False,
        updated_at=sa.bindparam("now", type_=table.c.updated_at.type),
    )
    # The newest complaint of the sender at this office comes along (NULL: none), so a first
    # message, which looks for a complaint to reopen or mention, needs no query of its own then.
    c = Complaint.__table__  # type: ignore[attr-defined]
    latest = sa.select(sa.func.max(c.c.id)).where(
        c.c.contact_urn == sa.bindparam("sender_urn"), c.c.office == sa.bindparam("office")
    )
    # DO UPDATE (not DO NOTHING) so the one statement also returns an existing row, locked.
    return stmt.on_conflict_do_update(
        index_elements=["sender_urn", "office"], set_={"channel": stmt.excluded.channel}
    ).returning(*table.c, latest.scalar_subquery().label(_LATEST_ID))


_LATEST_ID = "latest_complaint_id_"


def _lock_draft(
    session: Session, office: str, message: Message, now: dt.datetime
) -> tuple[DialogueDraft, int | None]:
    """Return the sender's draft with ``office`` (made when new, locked until the transaction ends)
    and the id of the sender's newest complaint at that office.

    One INSERT … ON CONFLICT DO UPDATE … RETURNING: it makes the row exactly once even when two
    processes race, and the update takes the row lock, so the second waits for the first to
    commit and then reads its draft. The draft answers on the channel the citizen uses now.
    """
    params = {"office": office, "sender_urn": message.sender_urn, "channel": message.channel, "now": now}
    values = run(session, "dialogue_draft", _draft_upsert, params).one()._asdict()
    latest_id = values.pop(_LATEST_ID)
    return loaded(session, DialogueDraft, values), latest_id


def _attachment_count(message: Message) -> int:
    try:
        items = json.loads(message.attachments or "[]")
    except ValueError:
        return 0
    return len(items) if isinstance(items, list) else 0


def _flooded(draft: DialogueDraft, now: dt.datetime, conf: DialogueSettings) -> bool:
    """Count the message in the sender's rate window; tell whether the sender is over the limit."""
    window = dt.timedelta(seconds=conf.rate_limit_window_seconds)
    if (
        draft.window_started_at is None
        or now - draft.window_started_at > window
        or now < draft.window_started_at
    ):
        draft.window_started_at, draft.window_count, draft.flood_notified = now, 0, False
    draft.window_count += 1
    return draft.window_count > conf.rate_limit_messages


def _attach(turn: Turn) -> None:
    """Join the message (and its attachments) to the draft."""
    draft = turn.draft
    ids: list[int] = json.loads(draft.message_ids or "[]")
    if (
        turn.message.id is not None
        and turn.message.id not in ids
        and len(ids) < turn.conf.max_messages_per_draft
    ):
        ids.append(turn.message.id)
        draft.message_ids = json.dumps(ids)
        draft.attachment_count += turn.attachments


def _reply(turn: Turn) -> None:
    if not turn.parts:
        return

    outbox.enqueue(
        turn.session,
        channel=turn.message.channel,
        to=turn.message.sender_urn,
        text="\n\n".join(turn.parts),
        now=turn.now,
        complaint_id=turn.complaint.id if turn.complaint else None,
        purpose=turn.purpose,
        created_by="bot",
        office=turn.office.code,
    )


#: A draft with no report in progress (the flood counters are not part of the report).
_CLEARED: dict[str, object] = {
    "state": IDLE,
    "text": "",
    "service_code": None,
    "service_decided": False,
    "name": None,
    "address": None,
    "anonymous": False,
    "service_date": None,
    "date_decided": False,
    "misses": 0,
    "message_ids": "[]",
    "attachment_count": 0,
    "started_at": None,
}


def _clear(draft: DialogueDraft) -> None:
    """Forget the report in progress (the flood counters stay)."""
    for name, value in _CLEARED.items():
        if getattr(draft, name) != value:  # a model attribute set costs; most are clear already
            setattr(draft, name, value)


def _begin(turn: Turn) -> None:
    """Start a new draft for this sender."""
    draft = turn.draft
    _clear(draft)
    draft.started_at = turn.now
    draft.name = _known_name(turn)  # R5a: known from an earlier complaint
    _attach(turn)
    turn.say("greet", office=turn.office.name)
    tracking = _open_tracking_number(turn)
    if tracking is not None:
        turn.say("open_complaint_hint", tracking=tracking)


def _contact(turn: Turn) -> Contact | None:
    """The sender's contact row: the one ingest handed over, else looked up."""
    if turn.contact is None or turn.contact.urn != turn.draft.sender_urn:
        with turn.session.no_autoflush:
            turn.contact = turn.session.exec(
                select(Contact).where(Contact.urn == turn.draft.sender_urn)
            ).first()
    return turn.contact


def _known_name(turn: Turn) -> str | None:
    """The name the sender gave in an earlier complaint, if any."""
    contact = _contact(turn)
    if contact is None or contact.reporter_id is None:
        return None
    with turn.session.no_autoflush:
        reporter = turn.session.get(Reporter, contact.reporter_id)
    return reporter.name if reporter else None


OPEN_STATUSES = (STATUS_RECEIVED, STATUS_UNDER_REVIEW, STATUS_IN_FOLLOW_UP)


@dataclass(frozen=True)
class LatestComplaint:
    """The few columns of a sender's newest complaint the dialogue decides on."""

    id: int
    status: str
    kind: str
    tracking_number: str
    closed_at: dt.datetime | None
    updated_at: dt.datetime


def _latest_query(_ins: Any) -> Any:
    c = Complaint.__table__  # type: ignore[attr-defined]
    columns = (c.c.id, c.c.status, c.c.kind, c.c.tracking_number, c.c.closed_at, c.c.updated_at)
    return (
        sa.select(*columns)
        .where(c.c.contact_urn == sa.bindparam("urn"), c.c.office == sa.bindparam("office"))
        .order_by(c.c.id.desc())
        .limit(1)
    )


def _latest_open_query(_ins: Any) -> Any:
    c = Complaint.__table__  # type: ignore[attr-defined]
    return (
        sa.select(c.c.tracking_number)
        .where(
            c.c.contact_urn == sa.bindparam("urn"),
            c.c.office == sa.bindparam("office"),
            c.c.status.in_(OPEN_STATUSES),
        )
        .order_by(c.c.id.desc())
        .limit(1)
    )


def _latest(turn: Turn) -> LatestComplaint | None:
    """The sender's newest complaint at the draft's office (one indexed query per turn; drafts never
    change it meanwhile): a reply to one office never reopens or mentions another office's record."""
    if not turn.looked_up:
        params = {"urn": turn.draft.sender_urn, "office": turn.draft.office}
        # No autoflush: the changes pending now are this turn's draft, which the query does not read.
        row = run(turn.session, "dialogue_latest", _latest_query, params).first()
        turn.latest = LatestComplaint(*row) if row is not None else None
        turn.looked_up = True
    return turn.latest


def _open_tracking_number(turn: Turn) -> str | None:
    """The tracking number of the sender's newest complaint still being handled, if any."""
    latest = _latest(turn)
    if latest is None:
        return None  # no complaint at all
    if latest.status in OPEN_STATUSES:
        return latest.tracking_number
    params = {"urn": turn.draft.sender_urn, "office": turn.draft.office}
    return run(turn.session, "dialogue_latest_open", _latest_open_query, params).scalar()  # type: ignore[no-any-return]


# -- follow-ups: messages about a complaint already filed -----------------------------------------

#: The staff alert's checkpoint for a citizen's new message on an open complaint.
FOLLOW_UP_CHECKPOINT = "citizen_message"
#: Statuses of a complaint whose conversation a citizen's new message continues (answered ones too:
#: the citizen may say the answer did not help). Closed ones are reopened instead (``_reopen``).
FOLLOW_UP_STATUSES = (*OPEN_STATUSES, STATUS_ANSWERED, STATUS_REPORTED)


@dataclass(frozen=True)
class OpenComplaint:
    """The few columns of a sender's open complaint a follow-up needs."""

    id: int
    tracking_number: str
    service_code: str | None
    suggested_service_code: str | None
    received_at: dt.datetime
    assignee_id: int | None


def _open_query(_ins: Any) -> Any:
    c = Complaint.__table__  # type: ignore[attr-defined]
    return (
        sa.select(
            c.c.id,
            c.c.tracking_number,
            c.c.service_code,
            c.c.suggested_service_code,
            c.c.received_at,
            c.c.assignee_id,
        )
        .where(
            c.c.contact_urn == sa.bindparam("urn"),
            c.c.office == sa.bindparam("office"),
            c.c.kind == rules.KIND_PENGADUAN,
            c.c.status.in_(FOLLOW_UP_STATUSES),
        )
        .order_by(c.c.id)
        .limit(9)
    )


def _open_complaints(turn: Turn) -> list[OpenComplaint]:
    """The sender's complaints at this office still in conversation with an officer, oldest first."""
    latest = _latest(turn)
    if latest is None:
        return []  # no complaint at all: nothing to look up
    params = {"urn": turn.draft.sender_urn, "office": turn.draft.office}
    return [OpenComplaint(*row) for row in run(turn.session, "dialogue_open", _open_query, params).all()]


def _row_of(turn: Turn, complaint_id: int) -> OpenComplaint | None:
    complaint = turn.session.get(Complaint, complaint_id)
    if complaint is None or complaint.id is None:
        return None
    return OpenComplaint(
        complaint.id,
        complaint.tracking_number,
        complaint.service_code,
        complaint.suggested_service_code,
        complaint.received_at,
        complaint.assignee_id,
    )


def _other_service(turn: Turn, opened: list[OpenComplaint]) -> bool:
    """Whether the message names a catalogue service none of the open complaints is about."""
    if not turn.text or not turn.office.services:
        return False
    known = {c.service_code or c.suggested_service_code for c in opened}
    if None in known:
        return False  # a complaint whose service nobody chose yet may be about anything
    service = turn.office.match_service(turn.text)
    return service is not None and service.code not in known


def _follow_up(turn: Turn, target: OpenComplaint) -> None:
    """Put the message in the complaint's conversation; say once that it was passed on."""
    turn.message.complaint_id = target.id
    turn.session.add(turn.message)
    draft = turn.draft
    # Within the join window of a message already passed on to the same complaint the citizen is
    # still typing: that one's answer stands for both.
    quiet = (
        draft.followed_up_at is not None
        and turn.now - draft.followed_up_at <= turn.conf.join_window
        and draft.last_complaint_id == target.id
    )
    draft.last_complaint_id, draft.followed_up_at = target.id, turn.now
    turn.complaint = turn.session.get(Complaint, target.id)
    if quiet:
        return
    turn.say("forwarded", tracking=target.tracking_number)
    kinds = _media_kinds(turn)
    if kinds & SPOKEN_MEDIA and not turn.text:
        turn.say("media_received_follow_up", what=_media_words(kinds, turn.lang))
    if LOCATION in kinds:
        turn.say("location_received")
    _notify_officer(turn, target)


def _notify_officer(turn: Turn, target: OpenComplaint) -> None:
    """Tell the assigned officer who linked Telegram that the citizen wrote (a staff alert; no text).

    The alert goes out with the deadline alerts (``outbound.alerts.deliver_pending``), one per message
    burst: the citizen's words stay in the inbox (UU 27/2022).
    """
    if target.assignee_id is None or turn.message.id is None:
        return
    with turn.session.no_autoflush:
        officer = turn.session.get(User, target.assignee_id)
    if officer is None or not officer.is_active or not officer.telegram_chat_id:
        return
    turn.session.add(
        DeadlineAlert(
            complaint_id=target.id,
            checkpoint=FOLLOW_UP_CHECKPOINT,
            occurrence=turn.message.id,
            notify=NOTIFY_ASSIGNEE,
            recipient_id=officer.id,
            scheduled_at=turn.now,
            created_at=turn.now,
            text=txt.t("officer_follow_up", "id", tracking=target.tracking_number),
        )
    )


def _choice_lines(turn: Turn, opened: list[OpenComplaint]) -> str:
    lines = []
    for i, c in enumerate(opened, start=1):
        service = turn.office.service(c.service_code or c.suggested_service_code)
        received = txt.date_words(turn.office.calendar.local_date(c.received_at), turn.lang)
        about = f"{service.name}, " if service else ""
        lines.append(f"{i}. {c.tracking_number} ({about}{txt.t('received_on', turn.lang)} {received})")
    return "\n".join(lines)


def _ask_which(turn: Turn, opened: list[OpenComplaint]) -> str:
    """Several open complaints: keep the message aside and ask which one it is about."""
    draft = turn.draft
    _clear(draft)
    draft.started_at = turn.now
    draft.text = turn.text[: turn.conf.max_text_chars]
    _attach(turn)
    turn.say("which_complaint", options=_choice_lines(turn, opened))
    return CHOOSE


def _on_choose(turn: Turn) -> str:
    """CHOOSE: a number (or tracking number) sends the kept messages to that complaint; BARU starts anew."""
    opened = _open_complaints(turn)
    command = _command(turn.text)
    chosen: OpenComplaint | None = None
    if re.fullmatch(r"(?:no\s*|nomor\s*|yang\s*|yg\s*)?\d", command) and opened:
        number = int(command[-1])
        chosen = opened[number - 1] if 1 <= number <= len(opened) else None
    for tracking in _numbers(turn) if chosen is None else ():
        chosen = next((c for c in opened if c.tracking_number == tracking), None)
        if chosen:
            break
    if chosen is not None:
        ids = json.loads(turn.draft.message_ids or "[]")
        _attach_to(turn.session, ids, chosen.id)
        _clear(turn.draft)
        turn.draft.followed_up_at = None  # the choice is an answer: always acknowledged
        turn.message.complaint_id = chosen.id
        turn.session.add(turn.message)
        _follow_up(turn, chosen)
        return IDLE
    if command in ("baru", "new") or (turn.text and NEW_MATTER.search(normalise_text(turn.text))):
        kept = turn.draft.text
        _begin(turn)
        for text in (kept, "" if command in ("baru", "new") else turn.text):
            if text:
                _absorb(turn, text)
        return _advance(turn)
    if not opened:  # closed meanwhile: nothing to choose from any more
        kept = turn.draft.text
        _begin(turn)
        _absorb(turn, "\n".join(t for t in (kept, turn.text) if t))
        return _advance(turn)
    _attach(turn)
    if turn.text:
        draft = turn.draft
        draft.text = (f"{draft.text}\n{turn.text}" if draft.text else turn.text)[: turn.conf.max_text_chars]
    if turn.joined and len(turn.text.split()) > SHORT_ANSWER_WORDS:
        return CHOOSE  # more of the same message, written before the question was read
    turn.say("which_complaint_again", count=len(opened), options=_choice_lines(turn, opened))
    return CHOOSE


def _attach_to(session: Session, message_ids: list[int], complaint_id: int) -> None:
    """Give messages kept on the draft to a complaint."""
    if not message_ids:
        return
    table = Message.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(table)
        .where(table.c.id.in_(message_ids), table.c.complaint_id.is_(None))
        .values(complaint_id=complaint_id)
    )


# -- what citizens send besides text -------------------------------------------------------------

LOCATION = "location"
#: Media a report needs words for: an officer cannot search or quote a voice note.
SPOKEN_MEDIA = frozenset({"voice", "audio", "video", "contact"})
#: A message this long, joined to a pending question, is more story rather than an answer.
SHORT_ANSWER_WORDS = 5


def _media_kinds(turn: Turn) -> frozenset[str]:
    """What the message carries besides text: voice, audio, video, contact, image, document, location."""
    kinds: set[str] = set()
    try:
        items = json.loads(turn.message.attachments or "[]")
    except ValueError:
        items = []
    for item in items if isinstance(items, list) else []:
        kind = str(item.get("content_type", "")).lower() if isinstance(item, dict) else ""
        if kind in ("audio/ogg", "audio/opus") or "ptt" in kind or "voice" in kind:
            kinds.add("voice")
        elif kind.startswith("audio/"):
            kinds.add("audio")
        elif kind.startswith("video/"):
            kinds.add("video")
        elif "vcard" in kind or kind.startswith("text/x-vcard") or kind == "text/directory":
            kinds.add("contact")
        elif kind.startswith("image/"):
            kinds.add("image")
        else:
            kinds.add("document")
    inbound = turn.inbound
    if inbound is not None and inbound.location is not None:
        kinds.add(LOCATION)
    if inbound is not None and inbound.extra.get("message_type") in ("contacts", "contact"):
        kinds.add("contact")
    return frozenset(kinds)


def _media_words(kinds: frozenset[str], lang: str) -> str:
    names = [txt.t(f"media_{k}", lang) for k in ("voice", "audio", "video", "contact") if k in kinds]
    return ", ".join(names)


def _media_notice(turn: Turn) -> None:
    """Say what was received besides text; ask for a short written summary when the report has none."""
    kinds = _media_kinds(turn)
    if not kinds:
        return
    if LOCATION in kinds:
        turn.say("location_received")
    spoken = kinds & SPOKEN_MEDIA
    if spoken and not rules.has_object(turn.draft.text):
        turn.say("media_ask_summary", what=_media_words(spoken, turn.lang))
    elif (kinds - {LOCATION}) and not rules.has_object(turn.draft.text):
        turn.say("attachment_received")


# -- fallbacks: commands that work in any state ---------------------------------------------------


def _fallback(turn: Turn) -> bool:
    """Run a command (STATUS, BATAL, ANONIM, BANTUAN) when the message is one; tell whether it was."""
    command = _command(turn.text)
    if not command:
        return False
    numbers = _numbers(turn)
    if numbers and _is_status_query(turn.text, command):
        _status(turn, numbers)
        return True
    if command in CANCEL_WORDS:
        _cancel(turn)
        return True
    if command in ANON_WORDS:
        _anonymous(turn)
        return True
    if command in HELP_WORDS:
        _help(turn)
        return True
    if _is_status_question(turn.text, short=turn.draft.state not in (IDLE, CHOOSE) or _latest(turn) is None):
        _status_of_own(turn)
        return True
    return False


def _asks_anonymity(text: str) -> bool:
    """Tell whether a longer message asks for anonymity ("…, ANONIM", "saya minta anonim")."""
    found = ANON_IN_TEXT.search(text)
    if found is None:
        return False
    return bool(ANON_CAPITALS.search(text)) or found.group(0).lower() != "anonim"


def _numbers(turn: Turn) -> list[str]:
    """The tracking numbers the message names; a bare "7" only beside a status word ("cek no 7")."""
    own = turn.office.tracking_prefix
    others = (o.tracking_prefix for o in turn.container.offices.values() if o.tracking_prefix != own)
    prefixes = (own, *others)
    words = set(_WORD.findall(normalise_text(turn.text)))
    alone = bool(words & {"status", "cek", "check", "lacak", "nomor", "no", "sts"})
    return read_tracking(turn.text, prefixes=prefixes, year=turn.today.year, alone=alone)


def _is_status_query(text: str, command: str) -> bool:
    """A message that is a tracking number, maybe with "status"/"cek" around it, asks for status."""
    residue = TRACKING.sub(" ", text)
    words = _WORD.findall(normalise_text(residue))
    return any(w in STATUS_WORDS for w in words) or not rules.has_object(residue)


def _is_status_question(text: str, *, short: bool) -> bool:
    """A question about one's own report without its number: "status", "gmn laporan sy", "sampai mana".

    ``short``: in the middle of a report only a short message counts (a story may say "cek").
    """
    norm = normalise_text(text).strip(" .!?")
    words = norm.split()
    if not words or len(words) > (8 if short else 15):
        return False
    return bool(STATUS_QUESTION.search(norm))


def _status_of_own(turn: Turn) -> None:
    """Answer a status question without a number with the sender's own open (or latest) reports."""
    rows = _open_complaints(turn)
    latest = _latest(turn)
    if not rows and latest is not None:
        rows = [r for r in (_row_of(turn, latest.id),) if r is not None]
    if not rows:
        turn.say("status_none", prefix=turn.office.tracking_prefix, year=turn.today.year)
        if turn.draft.state not in (IDLE, CHOOSE):
            _attach(turn)
            turn.say("resume")
            _prompt(turn, turn.draft.state)
        return
    if turn.draft.state == IDLE and turn.message.complaint_id is None:
        # The question is part of the conversation with the officer: it lands on the newest one.
        turn.message.complaint_id = rows[-1].id
        turn.session.add(turn.message)
    elif turn.draft.state != IDLE:
        _attach(turn)
    _status(turn, [r.tracking_number for r in rows[-3:]])


def _prompt(turn: Turn, state: str) -> None:
    """Ask the question of ``state`` (the summary for CONFIRM)."""
    if state == ASK_WHAT:
        turn.say("ask_what")
    elif state == ASK_SERVICE:
        options = "\n".join(f"{i}. {s.name}" for i, s in enumerate(_listed(turn.office), start=1))
        turn.say("ask_service", options=options)
    elif state == ASK_NAME:
        hint = _name_hint(turn)
        if hint:
            turn.say("ask_name_hint", hint=hint)
        else:
            turn.say("ask_name")
    elif state == ASK_DATE:
        turn.say("ask_date")
    elif state == CONFIRM:
        _summary(turn)
    elif state == EDIT:
        turn.say("edit_menu")


def _name_hint(turn: Turn) -> str | None:
    """The chat profile name (WhatsApp, Telegram): only a hint the citizen must confirm (SPEC R5a)."""
    contact = _contact(turn)
    hint = contact.display_name.strip() if contact is not None and contact.display_name else None
    return hint if hint and rules.has_identity(hint) else None


def _status(turn: Turn, numbers: list[str]) -> None:
    """Answer STATUS in plain words, with no personal data (the number may be someone else's)."""
    lang = turn.lang
    for number in numbers[:3]:
        complaint = turn.session.exec(select(Complaint).where(Complaint.tracking_number == number)).first()
        if complaint is None:
            turn.say("status_unknown", tracking=number)
            continue
        received = turn.office.calendar.local_date(complaint.received_at)
        line = txt.t(
            "status",
            lang,
            tracking=complaint.tracking_number,
            kind=txt.kind_words(complaint.kind, lang),
            status=txt.status_words(complaint.status, lang),
            received=txt.date_words(received, lang),
        )
        if complaint.kind == rules.KIND_PENGADUAN and complaint.status in (
            STATUS_RECEIVED,
            STATUS_UNDER_REVIEW,
            STATUS_IN_FOLLOW_UP,
        ):
            line += txt.t("status_due", lang, due=txt.date_words(complaint.due_date, lang))
        turn.parts.append(line)
    if turn.draft.state != IDLE:
        turn.say("resume")
        _prompt(turn, turn.draft.state)


def _cancel(turn: Turn) -> None:
    """BATAL: drop the draft; nothing is filed (the messages stay stored)."""
    if turn.draft.state == IDLE:
        turn.say("nothing_to_cancel")
        return
    _clear(turn.draft)
    turn.say("cancelled")


def _anonymous(turn: Turn) -> None:
    """ANONIM: the identity stays hidden from all but the roles the office allows (LAPOR!'s anonim)."""
    if turn.draft.state == IDLE:
        _begin(turn)
    else:
        _attach(turn)
    turn.draft.anonymous = True
    turn.say("anonymous_ok")
    turn.draft.state = _advance(turn)


def _help(turn: Turn) -> None:
    """BANTUAN: the commands, then the pending question again."""
    turn.say("help", office=turn.office.name, prefix=turn.office.tracking_prefix)
    if turn.draft.state != IDLE:
        _attach(turn)
        turn.say("resume")
        _prompt(turn, turn.draft.state)


# -- what the citizen said -------------------------------------------------------------------------


def _absorb(turn: Turn, text: str) -> bool:
    """Add free text to the description, and take any answer it already contains (tell whether any)."""
    draft = turn.draft
    # A greeting before the story ("halo", "permisi pak") is not part of what happened, nor is an
    # introduction alone ("punten, abdi Ujang ti desa Cibogo": its name and village are kept apart).
    if text and (draft.text or rules.has_object(without_introduction(text))):
        joined = f"{draft.text}\n{text}" if draft.text else text
        draft.text = joined[: turn.conf.max_text_chars]
    return _harvest(turn, text)


def _harvest(turn: Turn, text: str) -> bool:
    """Take answers given without being asked (name, service, date); tell whether any was new."""
    draft = turn.draft
    found = False
    intro = introduce(text)
    if intro.name and intro.name != draft.name:
        draft.name, found = intro.name, True
    _keep_address(turn, intro.address)
    if not draft.service_decided and turn.office.services:
        service = turn.office.match_service(text)
        if service is not None:
            draft.service_code, draft.service_decided, found = service.code, True, True
    if not draft.date_decided:
        day = parse_date(text, turn.today, strict=True)
        if day is not None and day <= turn.today:
            draft.service_date, draft.date_decided, found = day, True, True
    return found


def _keep_address(turn: Turn, address: str | None) -> None:
    """Keep a village or address given with the name, apart from the name (filed with the report)."""
    if address and not turn.draft.address:
        turn.draft.address = address[:200]


def _missing(turn: Turn) -> str:
    """Return the first state whose question is still open (CONFIRM when none is)."""
    draft = turn.draft
    if not rules.has_object(draft.text):
        return ASK_WHAT
    if not draft.service_decided and turn.office.services:
        return ASK_SERVICE
    if not (draft.anonymous or rules.has_identity(draft.name)):
        return ASK_NAME
    if not draft.date_decided:
        return ASK_DATE
    return CONFIRM


def _advance(turn: Turn) -> str:
    """Go to the next open question and ask it."""
    state = _missing(turn)
    if state != turn.draft.state:
        turn.draft.misses = 0
    _prompt(turn, state)
    return state


def _not_an_answer(turn: Turn, state: str, error: str) -> str:
    """Handle a message that does not answer the pending question.

    Text that reads like more of the story is added to the description; within the join window
    it is taken in silently (the citizen is still typing), later it is acknowledged. A short
    reply that is neither gets ``error`` and the question again.
    """
    text = turn.text
    if text and rules.has_object(text) and yes_no(text) is None:
        learned = _absorb(turn, text)
        nxt = _missing(turn)
        if nxt != state:
            return _advance(turn)
        if turn.joined and len(text.split()) > SHORT_ANSWER_WORDS and not learned:
            # More story typed before the question was read: the question stands as the answer.
            return state
        turn.say("added_to_report")
        _prompt(turn, state)
        return state
    if not text:  # an attachment, a location or a sticker on its own
        if turn.joined and not _media_kinds(turn):
            return state
        if _media_kinds(turn):
            _media_notice(turn)
            if not turn.parts:
                turn.say("attachment_received")
        else:
            turn.say("ask_what_again")
        _prompt(turn, state)
        return state
    turn.draft.misses += 1
    turn.say(error, count=len(_listed(turn.office)))
    _prompt(turn, state)
    return state


def _listed(office: OfficeProfile) -> tuple[Service, ...]:
    """The catalogue entries offered as a numbered list (free text reaches the others)."""
    return office.services[:9]


_NO_SERVICE = object()


def _service_choice(office: OfficeProfile, text: str) -> object:
    command = _command(text)
    if re.fullmatch(r"\d{1,2}", command):
        number = int(command)
        listed = _listed(office)
        if number == 0:
            return _NO_SERVICE
        return listed[number - 1] if number <= len(listed) else None
    if command in NO_SERVICE_WORDS:
        return _NO_SERVICE
    return office.match_service(text)


# -- the handler of each state --------------------------------------------------------------------


def _on_idle(turn: Turn) -> str:
    """A first message: a reply to a recently closed complaint reopens it; anything else starts a draft."""
    text = turn.text
    words = _command(text).split()
    if (
        words
        and words[0] in YES_WORDS
        and len(words) <= 3
        and turn.draft.last_complaint_id is not None
        and turn.previous is not None
        and turn.now - turn.previous <= turn.conf.join_window
    ):
        return IDLE  # a second "YA" right after the confirmation: already filed, say nothing
    if (
        text
        and THANKS.search(normalise_text(text))
        and not rules.has_object(THANKS.sub(" ", normalise_text(text)))
    ):
        opened = _open_complaints(turn)
        if opened:  # thanks for an answer: the officer sees it in the complaint's conversation
            turn.message.complaint_id = opened[-1].id
            turn.session.add(turn.message)
        turn.say("thanks_reply")
        return IDLE
    new_matter = bool(text and NEW_MATTER.search(normalise_text(text)))
    if not new_matter:
        opened = _open_complaints(turn)
        if opened and not _other_service(turn, opened):
            if len(opened) == 1:
                _follow_up(turn, opened[0])
                return IDLE
            return _ask_which(turn, opened)
    if rules.has_object(text) or turn.attachments or _media_kinds(turn):
        closed = _recent_closed(turn)
        if closed is not None and _reopen(turn, closed):
            return IDLE
    _begin(turn)
    if text and not (new_matter and _command(text) in ("baru", "new")):
        _absorb(turn, text)
    _media_notice(turn)
    return _advance(turn)


def _on_what(turn: Turn) -> str:
    """ASK_WHAT: gather the description until it says what the matter is (R5a object)."""
    if turn.text:
        _absorb(turn, turn.text)
    if rules.has_object(turn.draft.text):
        return _advance(turn)
    if _media_kinds(turn):
        _media_notice(turn)
        return ASK_WHAT
    if turn.joined and not turn.text:
        return ASK_WHAT
    turn.say("ask_what_again")
    return ASK_WHAT


def _on_service(turn: Turn) -> str:
    """ASK_SERVICE: a number from the list, 0 / "tidak tahu", or the service's name in free text."""
    choice = _service_choice(turn.office, turn.text) if turn.text else None
    draft = turn.draft
    if choice is _NO_SERVICE:
        draft.service_code, draft.service_decided = None, True
        turn.say("service_left_open")
        return _advance(turn)
    if isinstance(choice, Service):
        draft.service_code, draft.service_decided = choice.code, True
        if len(turn.text.split()) > 3:
            _absorb(turn, turn.text)  # "PBG abdi teu acan kaluar, tos 2 mingguan": more of the story too
        else:
            _harvest(turn, turn.text)
        return _advance(turn)
    if draft.misses >= 1 and turn.text and not rules.has_object(turn.text):
        # Asked twice: leave the service to the officer rather than loop (R5c is theirs to decide).
        draft.service_code, draft.service_decided = None, True
        turn.say("service_left_open")
        return _advance(turn)
    return _not_an_answer(turn, ASK_SERVICE, "service_unknown")


def _on_name(turn: Turn) -> str:
    """ASK_NAME: the name (R5a identity); ANONIM is a fallback command."""
    words = _command(turn.text).split()
    hint = _name_hint(turn) if words and len(words) <= 3 and words[0] in YES_WORDS else None
    # A photo's caption describes the photo, never the sender's name.
    name = hint or (name_answer(turn.text) if turn.text and not turn.attachments else None)
    if name:
        turn.draft.name = name
        _harvest(turn, turn.text)
        if not hint:
            _keep_address(turn, read_address(turn.text))
        return _advance(turn)
    if turn.text and REFUSE_NAME.search(normalise_text(turn.text)):
        turn.say("name_refused")
        return ASK_NAME
    return _not_an_answer(turn, ASK_NAME, "name_not_understood")


def _on_date(turn: Turn) -> str:
    """ASK_DATE: when the service was received (R3); "tidak tahu" leaves it open (then not late)."""
    draft = turn.draft
    command = _command(turn.text)
    if command in UNKNOWN_DATE_WORDS:
        draft.service_date, draft.date_decided = None, True
        return _advance(turn)
    day = parse_date(turn.text, turn.today) if turn.text else None
    if day is not None and day > turn.today:
        turn.say("date_in_future", date=txt.date_words(day, turn.lang))
        return ASK_DATE
    if day is not None:
        draft.service_date, draft.date_decided = day, True
        return _advance(turn)
    if draft.misses >= 2 and turn.text and not rules.has_object(turn.text):
        draft.service_date, draft.date_decided = None, True  # SPEC R3: never given → not late
        return _advance(turn)
    return _not_an_answer(turn, ASK_DATE, "date_not_understood")


def _on_confirm(turn: Turn) -> str:
    """CONFIRM: YA files the report, UBAH edits it; more text is added and summarised again."""
    answer = yes_no(turn.text)
    if answer is True:
        return _file_now(turn)
    if answer is False:
        turn.say("edit_menu")
        return EDIT
    if not turn.text:
        if not turn.joined or _media_kinds(turn):
            _media_notice(turn)
            if not turn.parts:
                turn.say("attachment_received")
            _summary(turn)
        return CONFIRM
    if _harvest(turn, turn.text):
        _summary(turn)
        return CONFIRM
    _absorb(turn, turn.text)
    if not turn.joined or len(turn.text.split()) <= SHORT_ANSWER_WORDS:
        turn.say("added_to_report")
        _summary(turn)
    return CONFIRM


def _on_edit(turn: Turn) -> str:
    """EDIT: clear the chosen part and ask it again; the summary follows when all is answered."""
    draft = turn.draft
    command = _command(turn.text)
    if command in ("1", "uraian", "cerita", "description", "masalah"):
        draft.text = ""
        turn.say("edit_what")
        return ASK_WHAT
    if command in ("2", "layanan", "service"):
        draft.service_code, draft.service_decided, draft.misses = None, False, 0
        _prompt(turn, ASK_SERVICE)
        return ASK_SERVICE
    if command in ("3", "nama", "name"):
        draft.name, draft.anonymous, draft.misses = None, False, 0
        _prompt(turn, ASK_NAME)
        return ASK_NAME
    if command in ("4", "tanggal", "date", "tanggal layanan"):
        draft.service_date, draft.date_decided, draft.misses = None, False, 0
        _prompt(turn, ASK_DATE)
        return ASK_DATE
    if turn.text and _harvest(turn, turn.text):
        return _advance(turn)
    turn.say("edit_menu")
    return EDIT


HANDLERS: dict[str, Handler] = {
    CHOOSE: _on_choose,
    ASK_WHAT: _on_what,
    ASK_SERVICE: _on_service,
    ASK_NAME: _on_name,
    ASK_DATE: _on_date,
    CONFIRM: _on_confirm,
    EDIT: _on_edit,
}


# -- summary and filing ---------------------------------------------------------------------------


def _received_at(draft: DialogueDraft, now: dt.datetime) -> dt.datetime:
    """The receipt moment of R4: when the citizen first wrote."""
    return draft.started_at or now


def _summary(turn: Turn) -> None:
    draft, lang = turn.draft, turn.lang
    service = turn.office.service(draft.service_code)
    name = txt.t("anonymous_name", lang) if draft.anonymous else draft.name or txt.t("not_known", lang)
    received_on = turn.office.calendar.local_date(_received_at(draft, turn.now))
    window = turn.office.complaint_window_days
    late = rules.is_late(draft.service_date, received_on, window)
    turn.say(
        "summary",
        text=draft.text if len(draft.text) <= 500 else draft.text[:497] + "…",
        service=service.name if service else txt.t("not_chosen", lang),
        name=name + (f" ({draft.address})" if draft.address and not draft.anonymous else ""),
        date=txt.date_words(draft.service_date, lang) if draft.service_date else txt.t("not_known", lang),
        late=txt.t("summary_late", lang, window=window) if late else "",
    )


def _file(container: Container, session: Session, draft: DialogueDraft, now: dt.datetime) -> Complaint:
    """File the draft through ``file_complaint`` (R3/R4/R5, tracking number), messages attached."""
    ids = json.loads(draft.message_ids or "[]")
    messages = list(session.exec(select(Message).where(Message.id.in_(ids)))) if ids else []  # type: ignore[union-attr]
    text = draft.text
    if draft.address and draft.address.lower() not in text.lower():
        text += "\n" + txt.t("address_line", "id", address=draft.address)
    complaint = file_complaint(
        session=session,
        office=container.office,
        channel=draft.channel,
        contact_urn=draft.sender_urn,
        text=text,
        received_at=_received_at(draft, now),
        now=now,
        reporter_name=draft.name,
        anonymous=draft.anonymous,
        service=draft.service_code,
        service_date=draft.service_date,
        actor="bot",
        messages=messages,
    )
    draft.last_complaint_id = complaint.id
    log.info(
        "dialogue filed %s as %s (%s)", complaint.tracking_number, complaint.kind, complaint.reasons or "-"
    )
    return complaint


def _filed_text(container: Container, draft: DialogueDraft, complaint: Complaint) -> str:
    lang = draft.language if draft.language in txt.LANGUAGES else "id"
    name = draft.name if draft.name and not draft.anonymous else None
    return filed_text(container.office, complaint, lang=lang, name=name)


def filed_text(
    office: OfficeProfile, complaint: Complaint, *, lang: str = "id", name: str | None = None
) -> str:
    """The receipt of a filed record: tracking number, and the due date only for a pengaduan (R4).

    A saran has no answer deadline; its reason is said as it is (R3 late: the service was
    received more than the window's days before; R5b: no name or no matter).
    """
    named = f", {name}" if name else ""
    if complaint.kind == rules.KIND_PENGADUAN:
        return txt.t(
            "filed_pengaduan",
            lang,
            name=named,
            tracking=complaint.tracking_number,
            due=txt.date_words(complaint.due_date, lang),
        )
    reasons = txt.reason_words(complaint.reason_list, lang, window=office.complaint_window_days)
    text = txt.t("filed_saran", lang, name=named, tracking=complaint.tracking_number, reasons=reasons)
    if rules.REASON_NO_IDENTITY in complaint.reason_list:
        text += "\n" + txt.t("how_to_add_name", lang)
    return text


def _file_now(turn: Turn) -> str:
    """YA: file the report and confirm with the tracking number and the due date in words."""
    complaint = _file(turn.container, turn.session, turn.draft, turn.now)
    turn.complaint, turn.purpose = complaint, "ack"
    turn.parts.append(_filed_text(turn.container, turn.draft, complaint))
    _clear(turn.draft)
    return IDLE


def _file_timeout(
    container: Container, session: Session, draft: DialogueDraft, now: dt.datetime, conf: DialogueSettings
) -> Complaint | None:
    """File a draft left unfinished, as it is (R5b decides complaint or saran), and tell the citizen.

    A draft that never said what the matter is (only greetings or stickers) is dropped: it never
    becomes a record by itself.
    """
    if draft.state == CHOOSE:
        # Never answered which complaint: the kept messages go to the newest open one, nothing is filed.
        newest = session.exec(
            select(Complaint.id)
            .where(
                Complaint.contact_urn == draft.sender_urn,
                Complaint.office == draft.office,
                Complaint.kind == rules.KIND_PENGADUAN,
                Complaint.status.in_(FOLLOW_UP_STATUSES),  # type: ignore[attr-defined]
            )
            .order_by(Complaint.id.desc())  # type: ignore[union-attr]
        ).first()
        if newest is not None:
            _attach_to(session, json.loads(draft.message_ids or "[]"), newest)
        _clear(draft)
        session.add(draft)
        return None
    if not rules.has_object(draft.text):
        _clear(draft)
        session.add(draft)
        return None
    complaint = _file(container, session, draft, now)
    lang = draft.language if draft.language in txt.LANGUAGES else "id"
    hours = conf.draft_timeout_hours
    prefix = txt.t("timeout_prefix", lang, hours=int(hours) if float(hours).is_integer() else hours)

    outbox.enqueue(
        session,
        channel=draft.channel,
        to=draft.sender_urn,
        text=prefix + "\n\n" + _filed_text(container, draft, complaint),
        now=now,
        complaint_id=complaint.id,
        purpose="ack",
        created_by="bot",
        office=container.office.code,
    )
    _clear(draft)
    draft.updated_at = now
    session.add(draft)
    return complaint


def file_stale_drafts(container: Container, *, limit: int = 200) -> int:
    """File every draft without a message for longer than the timeout; return how many were filed.

    The scheduler calls this every minute. Each draft is handled in its own transaction under row
    locks, so a message arriving at the same moment, or a second scheduler, never files it twice.
    On PostgreSQL the sender's contact row is locked before the draft, the order the message path
    takes them in: the two then queue one behind the other instead of deadlocking.
    """
    conf = dialogue_settings(container)
    now = container.now()
    cutoff = now - conf.draft_timeout
    with db.session(container.engine) as s:
        stale = [
            (draft_id, urn)
            for draft_id, urn in s.exec(
                select(DialogueDraft.id, DialogueDraft.sender_urn)
                .where(DialogueDraft.state != IDLE, DialogueDraft.last_inbound_at < cutoff)  # type: ignore[operator]
                .order_by(DialogueDraft.last_inbound_at)  # type: ignore[arg-type]
                .limit(limit)
            )
        ]
    filed = 0
    locking = True
    for draft_id, urn in stale:
        with db.write_session(container.engine) as s:
            if locking:
                _lock_contact(s, urn)  # a draft's sender never changes: the URN read above is its own
            query = select(DialogueDraft).where(DialogueDraft.id == draft_id)
            if locking:
                query = query.with_for_update(skip_locked=True)
            draft = s.exec(query).first()
            if (
                draft is None
                or draft.state == IDLE
                or draft.last_inbound_at is None
                or draft.last_inbound_at >= cutoff
            ):
                continue

            with container.using_office(draft_office(container, s, draft)):
                if _file_timeout(container, s, draft, now, conf) is not None:
                    filed += 1
    return filed


def _lock_contact(session: Session, urn: str) -> None:
    """Lock the contact row of ``urn`` until the transaction ends, making it when missing.

    Filing links the contact to its reporter (an UPDATE of the row): taking the lock first keeps
    the message path's order, contact then draft.
    """
    query = select(Contact.id).where(Contact.urn == urn).with_for_update()
    if session.exec(query).first() is None:
        contact_for(session, urn)  # a purged contact: made again, as filing would
        session.exec(query).first()


# -- reopening ------------------------------------------------------------------------------------


def _recent_closed(turn: Turn) -> Complaint | None:
    """The sender's latest complaint when it was closed within the reopen window."""
    latest = _latest(turn)
    if latest is None or latest.status != STATUS_CLOSED or latest.kind != rules.KIND_PENGADUAN:
        return None
    closed_at = latest.closed_at or latest.updated_at
    if turn.now - closed_at > dt.timedelta(days=turn.conf.reopen_window_days):
        return None
    turn.looked_up = False  # reopening changes it
    return turn.session.get(Complaint, latest.id)


def _reopen(turn: Turn, complaint: Complaint) -> bool:
    """Reopen a closed complaint the citizen replied to (back to review) and attach the reply."""
    reason = f"balasan warga lewat {turn.message.channel} dalam {turn.conf.reopen_window_days} hari"
    try:
        workflow: Any = importlib.import_module("intake.workflow")
    except ModuleNotFoundError as exc:
        if exc.name != "intake.workflow":
            raise
        workflow = None
    reopen = getattr(workflow, "reopen", None)
    if reopen is not None:
        try:
            reopen(turn.session, complaint, actor=None, now=turn.now, reason=reason)
        except (ValueError, PermissionError) as exc:
            log.info("could not reopen %s: %s", complaint.tracking_number, exc)
            return False
    else:
        old = complaint.status
        complaint.status, complaint.closed_at, complaint.updated_at = STATUS_UNDER_REVIEW, None, turn.now
        turn.session.add(complaint)
        record_event(
            turn.session,
            complaint,
            actor="bot",
            action="reopened",
            now=turn.now,
            field="status",
            old=old,
            new=STATUS_UNDER_REVIEW,
            note=reason,
        )
    turn.message.complaint_id = complaint.id
    turn.session.add(turn.message)
    turn.complaint = complaint
    turn.say("reopened", tracking=complaint.tracking_number)
    return True
