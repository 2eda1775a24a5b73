"""Staff alerts of the R4 deadline watch: Telegram (Bot API) and email (SMTP), plus the inbox list.

Telegram Bot API: https://core.telegram.org/bots/api#sendmessage. An alert names the complaint, its
tracking number, working days left or overdue and a link; it never carries the citizen's name,
contact or words (UU 27/2022), so a Telegram group of managers is a safe place for it. Every alert
is a ``DeadlineAlert`` row first; the inbox lists those rows, and delivery only copies them out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, select

from app.container import Container
from app.settings import ConfigError
from intake import db
from intake.calendar import BULAN
from intake.deadlines import NOTIFY_ASSIGNEE, NOTIFY_CITIZEN, OVERDUE, PROGRESS_NOTICE
from intake.models import Complaint, User
from intake.office import OfficeProfile
from intake.roles import ROLES, SECTION_HEAD, stored_codes
from intake.workflow_models import ALERT_FAILED, ALERT_PENDING, ALERT_SENDING, ALERT_SENT, DeadlineAlert

log = logging.getLogger("aduan.alerts")

#: A delivery that failed this many times is marked failed (it stays visible in the inbox).
MAX_ATTEMPTS = 5
#: Minutes to wait before retrying an alert whose delivery failed, by attempt.
RETRY_MINUTES = (1, 5, 15, 60)
#: An alert left "sending" this long (the process died mid-send) is picked up again.
LEASE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Recipients:
    """Where one alert goes: Telegram chats and email addresses (deduplicated)."""

    telegram: tuple[str, ...] = ()
    email: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertMessage:
    """The words of one alert; free of personal data by construction (ids, dates, counts only)."""

    alert_id: int
    tracking_number: str
    subject: str
    text: str


class AlertSender(Protocol):
    """A way to reach staff (Telegram, email, or an in-memory fake in tests)."""

    name: str

    def send(self, message: AlertMessage, recipients: Recipients) -> None:
        """Deliver to every recipient of this medium; raise on failure."""


class TelegramAlerts:
    """Send alerts with python-telegram-bot's ``Bot`` (``base_url`` points tests at a local fake)."""

    name = "telegram"

    def __init__(self, token: str, *, base_url: str | None = None, timeout: float = 10.0) -> None:
        self.token = token
        self.base_url = base_url
        self.timeout = timeout

    def send(self, message: AlertMessage, recipients: Recipients) -> None:
        """Post the alert to each chat; raise the first Telegram error after trying them all."""
        if recipients.telegram:
            asyncio.run(self._send(message, recipients.telegram))

    async def _send(self, message: AlertMessage, chats: Sequence[str]) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        kwargs: dict[str, Any] = {
            "request": HTTPXRequest(connect_timeout=self.timeout, read_timeout=self.timeout)
        }
        if self.base_url:
            kwargs["base_url"] = self.base_url
        errors: list[Exception] = []
        async with Bot(self.token, **kwargs) as bot:
            for chat in chats:
                try:
                    await bot.send_message(chat_id=chat, text=message.text, disable_web_page_preview=True)
                except Exception as exc:  # one bad chat id must not stop the others
                    errors.append(exc)
                    log.warning(
                        "telegram alert #%s to a chat failed: %s", message.alert_id, type(exc).__name__
                    )
        if errors:
            raise errors[0]

    async def _ping(self) -> None:  # pragma: no cover - used by operators only
        from telegram import Bot

        async with Bot(self.token, base_url=self.base_url or "https://api.telegram.org/bot") as bot:
            await bot.get_me()


class EmailAlerts:
    """Send alerts by SMTP, one message per recipient (no address list leaks to the others)."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        security: str = "none",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"alerts.email.smtp_security {security!r}; known: none, starttls, ssl")
        self.host, self.port, self.from_address = host, port, from_address
        self.security, self.user, self.password, self.timeout = security, user, password, timeout

    def send(self, message: AlertMessage, recipients: Recipients) -> None:
        """Deliver the alert to each address in one SMTP session."""
        if not recipients.email:
            return
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.user and self.password:
                smtp.login(self.user, self.password)
            for address in recipients.email:
                mail = EmailMessage()
                mail["From"] = self.from_address
                mail["To"] = address
                mail["Subject"] = message.subject
                mail["X-Aduan-Alert"] = str(message.alert_id)
                mail.set_content(message.text)
                smtp.send_message(mail)


@dataclass
class AlertSettings:
    """The ``[alerts]`` table: link template and per-role Telegram chats and email addresses."""

    link_template: str = "{base}/inbox/c/{tracking}"
    base_url: str = ""
    telegram_chats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    email_addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def link(self, tracking: str) -> str:
        """Return the inbox address of a complaint."""
        return self.link_template.format(base=self.base_url, tracking=tracking)


def _per_role(table: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for role, values in table.items():
        if role not in ROLES:
            raise ValueError(f"{where}: {role!r} is not a role; roles: {', '.join(ROLES)}")
        items = values if isinstance(values, list) else [values]
        out[role] = tuple(str(v) for v in items if str(v))
    return out


def _alert_settings(container: Container, table: Mapping[str, Any]) -> AlertSettings:
    tg = table.get("telegram", {}) if isinstance(table.get("telegram"), dict) else {}
    mail = table.get("email", {}) if isinstance(table.get("email"), dict) else {}
    return AlertSettings(
        link_template=str(table.get("link_template", AlertSettings.link_template)),
        base_url=container.settings.public_base_url,
        telegram_chats=_per_role(tg.get("chat_ids", {}), "alerts.telegram.chat_ids"),
        email_addresses=_per_role(mail.get("addresses", {}), "alerts.email.addresses"),
    )


def install(container: Container) -> None:
    """Build the alert senders the ``[alerts]`` table switches on (tests put fakes in instead).

    Senders are the deployment's; who receives is per office: an office profile's own ``[alerts]``
    chats and addresses lie over config.toml's (``alert_settings_by_office``).
    """

    table = container.settings.section("alerts")
    tg = table.get("telegram", {}) if isinstance(table.get("telegram"), dict) else {}
    mail = table.get("email", {}) if isinstance(table.get("email"), dict) else {}
    by_office: dict[str, AlertSettings] = {}
    for office in container.offices.values():
        try:
            by_office[office.code] = _alert_settings(
                container, container.settings.office_section(office, "alerts")
            )
        except ValueError as exc:
            where = f"{office.source}: " if office.source else ""
            raise ConfigError(f"{where}{exc}") from None
    container.services["alert_settings"] = by_office[container.primary.code]
    container.services["alert_settings_by_office"] = by_office
    senders: list[AlertSender] = container.services.setdefault("alert_senders", [])
    if tg.get("enabled"):
        token = container.settings.secret("ADUAN_TELEGRAM_ALERT_BOT_TOKEN") or container.settings.secret(
            "ADUAN_TELEGRAM_BOT_TOKEN"
        )
        if not token:
            raise ConfigError("alerts.telegram is enabled but ADUAN_TELEGRAM_ALERT_BOT_TOKEN is not set")
        senders.append(TelegramAlerts(token, base_url=tg.get("api_base_url") or None))
    if mail.get("enabled"):
        senders.append(
            EmailAlerts(
                host=str(mail.get("smtp_host", "127.0.0.1")),
                port=int(mail.get("smtp_port", 25)),
                from_address=str(mail.get("from_address", "aduan@localhost")),
                security=str(mail.get("smtp_security", "none")),
                user=str(mail.get("smtp_user") or "") or None,
                password=container.settings.secret("ADUAN_ALERT_SMTP_PASSWORD"),
            )
        )


def settings_of(container: Container, office: OfficeProfile | None = None) -> AlertSettings:
    """Return the alert settings of ``office`` (default: the current office), defaults when not installed."""
    code = (office or container.office).code
    by_office = container.services.get("alert_settings_by_office")
    if isinstance(by_office, dict) and isinstance(by_office.get(code), AlertSettings):
        return by_office[code]  # type: ignore[no-any-return]
    value = container.services.get("alert_settings")
    return (
        value
        if isinstance(value, AlertSettings)
        else AlertSettings(base_url=container.settings.public_base_url)
    )


# -- words ---------------------------------------------------------------------------------------

_MONTHS = BULAN  # Indonesian month names: one list for the whole bot


def tanggal(day: dt.date) -> str:
    """Format a date the Indonesian way: 7 April 2026."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


#: Checkpoint names as staff read them.
CHECKPOINT_WORDS = {
    "reminder": "pengingat petugas",
    "section_head": "Kepala Seksi",
    "head": "Kepala DPMPTSP",
    OVERDUE: "batas waktu jawaban",
}


def state(*, checkpoint: str, days_left: int, occurrence: int = 0) -> tuple[str, int]:
    """Return ("overdue", working days late), ("today", 0) or ("left", days left) of an alert.

    Overdue means the due day has passed: on the due day itself the record is due today.
    """
    if checkpoint == OVERDUE and occurrence > 0:
        return "overdue", max(occurrence, -days_left)
    if days_left < 0:
        return "overdue", -days_left
    if checkpoint == OVERDUE or days_left == 0:
        return "today", 0
    return "left", days_left


def headline(*, checkpoint: str, days_left: int, occurrence: int = 0) -> str:
    """Return how late a record is, in the alert's words."""
    kind, n = state(checkpoint=checkpoint, days_left=days_left, occurrence=occurrence)
    if kind == "overdue":
        return f"LEWAT BATAS WAKTU {n} hari kerja"
    return "JATUH TEMPO HARI INI" if kind == "today" else f"sisa {n} hari kerja"


def alert_text(
    *,
    checkpoint: str,
    notify: str,
    tracking: str,
    days_left: int,
    due_date: dt.date,
    late: bool,
    link: str,
    occurrence: int = 0,
) -> str:
    """Return the words of a staff alert: tracking number, days left or overdue, link; no personal data."""
    who = "petugas yang menangani" if notify == NOTIFY_ASSIGNEE else ROLES.get(notify, notify)
    head = headline(checkpoint=checkpoint, days_left=days_left, occurrence=occurrence)
    point = CHECKPOINT_WORDS.get(checkpoint, checkpoint)
    lines = [
        f"Aduan {tracking}: {head} (batas jawaban {tanggal(due_date)}, 14 hari kerja).",
        f"Untuk: {who}. Tahap: {point}{f', hari ke-{occurrence} setelah batas' if occurrence else ''}.",
    ]
    if late:
        lines.append("Catatan: peringatan ini terlambat dikirim (layanan sempat berhenti).")
    lines.append(link)
    return "\n".join(lines)


def progress_text(*, tracking: str, due_date: dt.date, office_name: str) -> str:
    """Return the short progress notice for the citizen (only their own tracking number and date)."""
    return (
        f"Pengaduan Anda {tracking} masih kami tindak lanjuti. Jawaban akan kami sampaikan paling lambat "
        f"{tanggal(due_date)}. Terima kasih atas kesabaran Anda. — {office_name}"
    )


# -- recipients and delivery ----------------------------------------------------------------------


def recipients_for(
    session: Session,
    alert: DeadlineAlert,
    settings: AlertSettings,
    *,
    staff_offices: Sequence[str] | None = None,
) -> Recipients:
    """Resolve who gets an alert: the assignee, or every active user of the role, plus configured chats.

    ``staff_offices`` limits the role's users to the ``User.office`` values of the complaint's
    office (``intake.roles.stored_codes``): a head of one office never gets another office's alerts.
    """
    users: list[User] = []
    role = alert.notify
    if alert.notify == NOTIFY_ASSIGNEE:
        user = session.get(User, alert.recipient_id) if alert.recipient_id else None
        if user is not None and user.is_active:
            users = [user]
        else:
            role = SECTION_HEAD  # nobody holds it: that itself is the section head's business
    if not users:
        query = select(User).where(User.role == role, User.is_active == True)  # noqa: E712
        if staff_offices is not None:
            query = query.where(User.office.in_(list(staff_offices)))  # type: ignore[attr-defined]
        users = list(session.exec(query).all())
    chats = [u.telegram_chat_id for u in users if u.telegram_chat_id] + list(
        settings.telegram_chats.get(role, ())
    )
    mails = [u.email for u in users if u.email] + list(settings.email_addresses.get(role, ()))
    return Recipients(tuple(dict.fromkeys(chats)), tuple(dict.fromkeys(mails)))


def _claim(container: Container, now: dt.datetime, limit: int, ids: Sequence[int] | None) -> list[int]:
    """Mark pending alerts as being sent by this process; a conditional UPDATE makes the claim exclusive."""
    table = DeadlineAlert.__table__  # type: ignore[attr-defined]
    stale = now - LEASE
    due = sa.or_(
        sa.and_(table.c.status == ALERT_PENDING, sa.or_(table.c.sent_at.is_(None), table.c.sent_at <= now)),
        sa.and_(table.c.status == ALERT_SENDING, table.c.sent_at <= stale),
    )
    claimed: list[int] = []
    with db.session(container.engine) as probe:
        pending = sa.select(table.c.id).where(table.c.status.in_((ALERT_PENDING, ALERT_SENDING))).limit(1)
        if probe.execute(pending).first() is None:
            return claimed  # nothing waiting: no write transaction
    with db.write_session(container.engine) as s:
        query = sa.select(table.c.id, table.c.status).where(due, table.c.notify != NOTIFY_CITIZEN)
        if ids is not None:
            query = query.where(table.c.id.in_(list(ids)))
        for alert_id, status in s.execute(query.order_by(table.c.id).limit(limit)).all():
            # sent_at doubles as the lease / retry moment while the alert is not sent yet
            result = s.execute(
                sa.update(table)
                .where(table.c.id == alert_id, table.c.status == status)
                .values(status=ALERT_SENDING, attempts=table.c.attempts + 1, sent_at=now)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(alert_id)
    return claimed


def deliver_pending(
    container: Container,
    *,
    now: dt.datetime | None = None,
    limit: int = 200,
    ids: Sequence[int] | None = None,
) -> int:
    """Copy pending staff alerts to Telegram and email; return how many were completed."""
    now = now or container.now()
    senders: list[AlertSender] = list(container.services.get("alert_senders", []))
    several = len(container.offices) > 1
    done = 0
    for alert_id in _claim(container, now, limit, ids):
        with db.session(container.engine) as s:
            alert = s.get(DeadlineAlert, alert_id)
            assert alert is not None
            complaint = s.get(Complaint, alert.complaint_id)
            # The complaint's office decides who hears of it: its staff, its chats and addresses.
            office = container.office_of(complaint.office if complaint else None)
            staff = stored_codes(office.code, container.primary.code) if several else None
            recipients = recipients_for(s, alert, settings_of(container, office), staff_offices=staff)
        message = AlertMessage(
            alert_id=alert_id,
            tracking_number=complaint.tracking_number if complaint else "?",
            subject=f"[Aduan] {complaint.tracking_number if complaint else ''}: "
            + headline(checkpoint=alert.checkpoint, days_left=alert.days_left, occurrence=alert.occurrence),
            text=alert.text,
        )
        already = {c for c in alert.channels_sent.split(",") if c}
        errors: list[str] = []
        for sender in senders:
            if sender.name in already:
                continue  # a retry after a partial failure does not repeat what went out
            try:
                sender.send(message, recipients)
                already.add(sender.name)
            except Exception as exc:
                errors.append(f"{sender.name}: {type(exc).__name__}: {str(exc)[:200]}")
                log.warning("alert #%s by %s failed: %s", alert_id, sender.name, type(exc).__name__)
        already.add("inbox")
        with db.write_session(container.engine) as s:
            row = s.get(DeadlineAlert, alert_id)
            assert row is not None
            row.channels_sent = ",".join(sorted(already))
            if not errors:
                row.status, row.sent_at, row.error = ALERT_SENT, now, None
                done += 1
            elif row.attempts >= MAX_ATTEMPTS:
                row.status, row.error = ALERT_FAILED, "; ".join(errors)
            else:
                delay = RETRY_MINUTES[min(row.attempts, len(RETRY_MINUTES)) - 1]
                row.status, row.error = ALERT_PENDING, "; ".join(errors)
                row.sent_at = now + dt.timedelta(minutes=delay)  # not before: the retry moment
            s.add(row)
    return done


def alerts_for(
    session: Session,
    *,
    user: User | None = None,
    complaint_id: int | None = None,
    limit: int = 100,
    offices: Sequence[str] | None = None,
) -> list[DeadlineAlert]:
    """Return alerts for the inbox, newest first: a user's own and their role's, or a complaint's.

    ``offices`` keeps the alerts of those offices' complaints only (a user's own office).
    """
    query = select(DeadlineAlert).where(DeadlineAlert.notify != NOTIFY_CITIZEN)
    if complaint_id is not None:
        query = select(DeadlineAlert).where(DeadlineAlert.complaint_id == complaint_id)
    if offices is not None:
        of_offices = select(Complaint.id).where(Complaint.office.in_(list(offices)))  # type: ignore[attr-defined]
        query = query.where(DeadlineAlert.complaint_id.in_(of_offices))  # type: ignore[attr-defined]
    if user is not None:
        query = query.where(
            sa.or_(DeadlineAlert.recipient_id == user.id, DeadlineAlert.notify == user.role)  # type: ignore[arg-type]
        )
    return list(session.exec(query.order_by(DeadlineAlert.id.desc()).limit(limit)).all())  # type: ignore[union-attr]


def mark_seen(session: Session, alert: DeadlineAlert, *, now: dt.datetime) -> DeadlineAlert:
    """Record that staff saw an alert in the inbox."""
    alert.seen_at = alert.seen_at or now
    session.add(alert)
    return alert


__all__ = [
    "ALERT_SENT",
    "PROGRESS_NOTICE",
    "AlertMessage",
    "AlertSender",
    "EmailAlerts",
    "Recipients",
    "TelegramAlerts",
    "alert_text",
    "alerts_for",
    "deliver_pending",
    "install",
]
