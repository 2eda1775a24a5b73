"""The service side of the public pages (R2j–R2l, routes in ``inbox.routes.public``): the ``/lapor``
complaint form, the ``/status`` lookup, Open311 read endpoints.

A form submission is turned into the JSON ``channels/web.py`` parses and goes through
``jobs.pipeline.receive`` like every other channel, so the raw submission is stored first and the
same rules apply (a submission without a name is a *saran*, R5b; a late one too, R3). Nothing on
these pages shows personal data: the status page and Open311 show the record's state only (status,
dates, service, office), never a name, contact, complaint or answer text: the answer reaches the
citizen on the channel they used (docs/channels-public.md says why there is no check code).
Open311 GeoReport v2: https://wiki.open311.org/GeoReport_v2/

In a province deployment every request acts for the office whose host name it was addressed to
(``[office] hosts`` of a profile, read as ``app.routing`` reads it: from ``X-Forwarded-Host``
behind a proxy with ``trust_proxy``, else from the public base URL), else for the primary office:
that office's name, catalogue, calendar and tracking prefix, and only its records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from babel.dates import format_date
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import col, select
from starlette.datastructures import UploadFile

from app.container import Container
from bot.dialogue import filed_text
from channels.base import RawRequest
from channels.urns import InvalidContact, contact_urn
from inbox.hooks import public_url, request_client
from intake import db, rules
from intake.channel_state import take_token
from intake.models import (
    STATUS_ACKNOWLEDGED,
    STATUS_ANSWERED,
    STATUS_CLOSED,
    STATUS_FORWARDED,
    STATUS_IN_FOLLOW_UP,
    STATUS_MERGED,
    STATUS_RECEIVED,
    STATUS_REPORTED,
    STATUS_UNDER_REVIEW,
    Complaint,
    Message,
)
from intake.office import OfficeProfile
from intake.tracking import is_number_alone, read_tracking
from intake.workflow import channel_for_urn
from jobs.pipeline import receive
from outbound import outbox

log = logging.getLogger("aduan.public")

HERE = Path(__file__).resolve().parent / "templates" / "public"
templates = Jinja2Templates(directory=str(HERE))
SECRET_ENV = "ADUAN_SESSION_SECRET"
HONEYPOT = "website"

#: What a citizen reads for each status (Indonesian), on /status and in Open311 ``status_notes``.
STATUS_LABELS = {
    STATUS_RECEIVED: "Diterima, menunggu penelaahan",
    STATUS_UNDER_REVIEW: "Sedang ditelaah",
    STATUS_IN_FOLLOW_UP: "Sedang ditindaklanjuti",
    STATUS_ANSWERED: "Sudah dijawab",
    STATUS_REPORTED: "Sudah dijawab dan dilaporkan kepada atasan",
    STATUS_CLOSED: "Selesai",
    STATUS_ACKNOWLEDGED: "Diterima sebagai saran/masukan",
    STATUS_FORWARDED: "Saran diteruskan untuk evaluasi layanan",
    STATUS_MERGED: "Digabung dengan laporan lain",
}
#: Statuses in which the answer of R8 has been given (the page says so; the answer itself goes
#: to the citizen's channel only).
ANSWERED = (STATUS_ANSWERED, STATUS_REPORTED, STATUS_CLOSED)
#: Open311 paging: requests per page by default and at most, and ids one lookup may name.
OPEN311_PAGE_SIZE = 50
OPEN311_MAX_PAGE_SIZE = 100
OPEN311_MAX_IDS = 20
#: Open311 has two states; everything the office still works on is "open".
OPEN311_CLOSED = (
    STATUS_ANSWERED,
    STATUS_REPORTED,
    STATUS_CLOSED,
    STATUS_ACKNOWLEDGED,
    STATUS_FORWARDED,
    STATUS_MERGED,
)
REASON_LABELS = {
    rules.REASON_NO_IDENTITY: "nama pelapor tidak diisi",
    rules.REASON_NO_OBJECT: "isi laporan belum menjelaskan masalahnya",
    rules.REASON_LATE: "disampaikan lewat {window} hari setelah layanan diterima",
}
#: Reasons a citizen can mend by completing the report (R5b); a late one (R3) cannot be.
MENDABLE = (rules.REASON_NO_IDENTITY, rules.REASON_NO_OBJECT)


def reason_labels(complaint: Complaint, office: OfficeProfile) -> list[str]:
    """Why a record is a saran, in the citizen's words ("disampaikan lewat 30 hari …")."""
    return [
        REASON_LABELS.get(r, r).format(window=office.complaint_window_days) for r in complaint.reason_list
    ]


#: File types the form accepts as evidence, with the extension they are stored under.
UPLOAD_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}


def indonesian_date(day: dt.date) -> str:
    """Return a date in Indonesian words, e.g. ``Selasa, 7 April 2026``."""
    return format_date(day, format="EEEE, d MMMM y", locale="id")


class PublicForm:
    """The settings and helpers of the public pages, built once per app."""

    def __init__(self, container: Container) -> None:
        self.container = container
        table = container.settings.channel("web")
        secret = container.settings.secret(SECRET_ENV)
        if not secret:
            # Still safe: tokens only work inside this process. Several processes need the secret.
            log.warning("%s is not set: form tokens are valid in this process only", SECRET_ENV)
            secret = secrets.token_hex(32)
        self.secret = secret
        self.serializer = URLSafeTimedSerializer(secret, salt="aduan-lapor")
        self.token_max_age = int(table.get("form_token_max_age", 7200))
        self.submit_limit = int(table.get("submissions_per_hour", 5))
        self.status_limit = int(table.get("status_lookups_per_hour", 60))
        self.open311_limit = int(table.get("open311_requests_per_hour", 120))
        self.max_files = int(table.get("max_attachments", 3))
        self.max_bytes = container.settings.storage.max_attachment_bytes

    # -- helpers ---------------------------------------------------------------------------------

    def office_at(self, request: Request) -> OfficeProfile:
        """Return the office a request is addressed to: the one whose ``hosts`` name its host, else
        the office the process acts for (``ADUAN_OFFICE``, else the primary office), as in routing.

        The host is that of the URL ``app.routing`` reads for an inbound payload (``public_url``:
        the proxy's ``X-Forwarded-Host`` only with ``trust_proxy``), so the form shown and the
        record filed from it are always of the same office.
        """
        offices = self.container.offices
        if len(offices) == 1:
            return self.container.office
        url = public_url(
            request, self.container.settings.public_base_url, self.container.settings.trust_proxy
        )
        host = (urlsplit(url).hostname or "").lower()
        for office in offices.values():
            if host and host in office.hosts:
                return office
        return self.container.office

    def records_of(self, office: OfficeProfile) -> Any:
        """Return a WHERE clause for the complaints of ``office``: its code; for the primary office
        also records of a code no profile has (filed before the office had one, ``office_of``)."""
        if office.code != self.container.primary.code:
            return Complaint.office == office.code
        others = [code for code in self.container.offices if code != office.code]
        return col(Complaint.office).not_in(others) if others else sa.true()

    def new_token(self) -> str:
        """Return a signed one-submission token; its nonce becomes the submission id."""
        return str(self.serializer.dumps(uuid.uuid4().hex))

    def nonce(self, token: str) -> str | None:
        """Return the nonce of a valid, unexpired token, else None."""
        try:
            value = self.serializer.loads(token, max_age=self.token_max_age)
        except BadSignature:
            return None
        return value if isinstance(value, str) and len(value) == 32 else None

    def address(self, request: Request) -> str:
        """Return the real client address (a trusted proxy's ``X-Forwarded-For``, else the peer)."""
        return request_client(request, self.container)

    def allow(self, request: Request, scope: str, limit: int) -> bool:
        """Count one hit of this address in ``scope``; False when over the hourly limit."""
        # The address is personal data: only a keyed hash of it is stored.
        digest = hashlib.sha256(f"{self.secret}|{self.address(request)}".encode()).hexdigest()[:48]
        with db.write_session(self.container.engine) as s:
            return take_token(
                s,
                key=f"{scope}:{digest}",
                now=self.container.now(),
                limit=limit,
                window=dt.timedelta(hours=1),
            )

    def context(self, request: Request, **extra: Any) -> dict[str, Any]:
        """Return what every public page needs."""
        office = self.container.office
        return {
            "request": request,
            "office": office,
            "services": office.services,
            "problem_types": office.problem_types,
            "window_days": office.complaint_window_days,
            "deadline_days": office.answer_deadline_working_days,
        } | extra

    def page(self, request: Request, name: str, status_code: int = 200, **extra: Any) -> HTMLResponse:
        """Render a public template."""
        return templates.TemplateResponse(
            request, name, self.context(request, **extra), status_code=status_code
        )

    def form_page(
        self,
        request: Request,
        *,
        values: dict[str, str] | None = None,
        errors: list[str] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Render the form, with what the citizen typed and what was wrong."""
        today = self.container.office.calendar.local_date(self.container.now())
        return self.page(
            request,
            "lapor.html",
            status_code=status_code,
            token=self.new_token(),
            values=values or {},
            errors=errors or [],
            today=today.isoformat(),
            honeypot=HONEYPOT,
            max_files=self.max_files,
            max_mb=self.max_bytes // 1_048_576,
        )

    async def store_uploads(self, files: list[UploadFile]) -> tuple[list[dict[str, Any]], list[str]]:
        """Keep uploaded evidence in the attachment store; return their JSON and any errors."""
        stored: list[dict[str, Any]] = []
        errors: list[str] = []
        chosen = [f for f in files if f.filename]
        if len(chosen) > self.max_files:
            return [], [f"Lampiran paling banyak {self.max_files} berkas."]
        folder = self.container.storage_dir() / "scans"
        folder.mkdir(parents=True, exist_ok=True)
        for upload in chosen:
            ctype = (upload.content_type or "").split(";")[0].strip().lower()
            data = await upload.read(self.max_bytes + 1)
            if ctype not in UPLOAD_TYPES:
                errors.append(f"Berkas {upload.filename!s} bukan foto (JPG/PNG/WebP) atau PDF.")
            elif len(data) > self.max_bytes:
                errors.append(
                    f"Berkas {upload.filename!s} lebih besar dari {self.max_bytes // 1_048_576} MB."
                )
            elif not data:
                errors.append(f"Berkas {upload.filename!s} kosong.")
            else:
                # The same store and naming as officers' scans, so the inbox serves them as they are.
                name = f"{uuid.uuid4().hex}.{UPLOAD_TYPES[ctype]}"
                (folder / name).write_bytes(data)
                stored.append(
                    {
                        "content_type": ctype,
                        "url": f"/inbox/files/{name}",
                        "filename": Path(str(upload.filename)).name[:200],
                        "size": len(data),
                    }
                )
        return stored, errors

    def complaint_of_submission(self, submission_id: str) -> Complaint | None:
        """Return the record a submission made (for a re-sent form)."""
        with db.session(self.container.engine) as s:
            message = s.exec(
                select(Message).where(Message.channel == "web", Message.external_id == f"web:{submission_id}")
            ).first()
            return s.get(Complaint, message.complaint_id) if message and message.complaint_id else None


def validate(form: dict[str, str], *, today: dt.date, services: set[str], problems: set[str]) -> list[str]:
    errors = []
    if not form["text"]:
        errors.append("Ceritakan apa yang terjadi.")
    if form["contact"]:
        try:
            contact_urn(form["contact"])
        except InvalidContact:
            errors.append("Nomor telepon atau alamat email tidak dikenali.")
    if form["service"] and form["service"] not in services:
        errors.append("Pilih layanan dari daftar.")
    if form["problem_type"] and form["problem_type"] not in problems:
        errors.append("Pilih jenis masalah dari daftar.")
    if form["service_date"]:
        try:
            if dt.date.fromisoformat(form["service_date"]) > today:
                errors.append("Tanggal layanan tidak boleh di masa depan.")
        except ValueError:
            errors.append("Tanggal layanan tidak dikenali (format TTTT-BB-HH).")
    if len(form["text"]) > 10_000 or len(form["name"]) > 200 or len(form["contact"]) > 200:
        errors.append("Isian terlalu panjang.")
    return errors


def open311_request(complaint: Complaint, office: OfficeProfile) -> dict[str, Any]:
    """One service request in GeoReport v2 shape, without personal data (no description, no contact)."""
    service = office.service(complaint.service_code)
    tz = office.calendar.timezone
    # R4: the answer is due by the end of the due date, office time.
    expected = dt.datetime.combine(complaint.due_date, dt.time(23, 59, 59), tzinfo=tz)
    return {
        "service_request_id": complaint.tracking_number,
        "status": "closed" if complaint.status in OPEN311_CLOSED else "open",
        "status_notes": STATUS_LABELS.get(complaint.status, complaint.status),
        "service_name": service.name if service else None,
        "service_code": complaint.service_code,
        "agency_responsible": complaint.agency or office.name,
        "service_notice": "saran/masukan" if complaint.kind == rules.KIND_SARAN else "pengaduan",
        "requested_datetime": complaint.received_at.astimezone(tz).isoformat(),
        "updated_datetime": complaint.updated_at.astimezone(tz).isoformat(),
        "expected_datetime": expected.isoformat(),
    }


def lookup_number(typed: str) -> str:
    """Return the tracking number a citizen typed on /status, as stored (the one place to change)."""
    return typed.strip().upper()


def _parse_moment(value: str, tz: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def receive_for(container: Container, office: OfficeProfile, raw: RawRequest) -> Any:
    """Take a form submission for ``office`` through the pipeline (call it in the worker thread)."""
    # In the worker thread, so the office is entered where the pipeline runs.
    with container.using_office(office):
        return receive(container, "web", raw, verify=False)


def receipt_channel(container: Container, complaint: Complaint) -> str | None:
    """The channel the tracking number also goes out on: the contact the filer left, if reachable."""
    channel = channel_for_urn(complaint.contact_urn)
    if channel is None or channel == "web" or channel not in container.settings.enabled_channels():
        return None
    return channel


def send_receipt(container: Container, office: OfficeProfile, complaint: Complaint) -> None:
    """Send the tracking number to the phone (SMS) or e-mail address the filer left (outbox)."""
    channel = receipt_channel(container, complaint)
    if channel is None or complaint.contact_urn is None:
        return
    with db.write_session(container.engine) as s:
        outbox.enqueue(
            s,
            channel=channel,
            to=complaint.contact_urn,
            text=filed_text(office, complaint, name=None),
            subject=f"Nomor laporan {complaint.tracking_number}" if channel == "email" else None,
            now=container.now(),
            complaint_id=complaint.id,
            purpose="ack",
            created_by="web",
            office=office.code,
        )


def tracking_of(pf: PublicForm, office: OfficeProfile, nomor: str) -> str:
    """The number typed in any spelling ("pwk 2026 7"); a number alone when one year has it."""
    container = pf.container
    year = office.calendar.local_date(container.now()).year
    found = read_tracking(nomor, prefixes=(office.tracking_prefix,), year=year)
    if len(found) == 2 and is_number_alone(nomor):
        with db.session(container.engine) as s:
            query = select(Complaint.tracking_number).where(
                col(Complaint.tracking_number).in_(found), pf.records_of(office)
            )
            existing = list(s.exec(query).all())
        return existing[0] if len(existing) == 1 else found[0]
    return found[0] if found else nomor.strip().upper()


def status_record(
    pf: PublicForm, office: OfficeProfile, number: str
) -> tuple[Complaint | None, Complaint | None]:
    """Return the record of ``office`` with this tracking number, and the one it was merged into."""
    with db.session(pf.container.engine) as s:
        complaint = s.exec(
            select(Complaint).where(Complaint.tracking_number == number, pf.records_of(office))
        ).first()
        merged_into = (
            s.get(Complaint, complaint.merged_into_id) if complaint and complaint.merged_into_id else None
        )
    return complaint, merged_into


@dataclass
class Open311Query:
    """The filters of an Open311 request list, as the caller gave them."""

    service_request_id: str = ""
    service_code: str = ""
    start_date: str = ""
    end_date: str = ""
    status: str = ""
    page: int = 1
    page_size: int = OPEN311_PAGE_SIZE


class Open311Error(ValueError):
    """A request list query Open311 refuses (400, with its description)."""


def open311_requests(pf: PublicForm, office: OfficeProfile, q: Open311Query) -> list[dict[str, Any]]:
    """Return a page of ``office``'s service requests (90 days by default), newest first.

    Raise ``Open311Error`` for a bad page, too many ids, a bad date or status.
    """
    if q.page < 1 or not 1 <= q.page_size <= OPEN311_MAX_PAGE_SIZE:
        raise Open311Error(f"page must be >= 1 and page_size 1 to {OPEN311_MAX_PAGE_SIZE}")
    tz = office.calendar.timezone
    query = select(Complaint).where(pf.records_of(office))
    if q.service_request_id:
        ids = [i.strip().upper() for i in q.service_request_id.split(",") if i.strip()]
        if len(ids) > OPEN311_MAX_IDS:
            raise Open311Error(f"at most {OPEN311_MAX_IDS} service_request_id values per call")
        query = query.where(col(Complaint.tracking_number).in_(ids))
    else:
        try:
            end = _parse_moment(q.end_date, tz) if q.end_date else pf.container.now()
            start = _parse_moment(q.start_date, tz) if q.start_date else end - dt.timedelta(days=90)
        except ValueError as exc:
            raise Open311Error("start_date/end_date must be ISO-8601 (w3c) datetimes") from exc
        query = query.where(Complaint.received_at >= start, Complaint.received_at <= end)
        if q.service_code:
            query = query.where(col(Complaint.service_code).in_(q.service_code.split(",")))
        if q.status:
            wanted = set(q.status.split(","))
            if not wanted <= {"open", "closed"}:
                raise Open311Error("status must be open, closed or both")
            if wanted == {"open"}:
                query = query.where(col(Complaint.status).not_in(OPEN311_CLOSED))
            elif wanted == {"closed"}:
                query = query.where(col(Complaint.status).in_(OPEN311_CLOSED))
    query = (
        query.order_by(col(Complaint.received_at).desc(), col(Complaint.id).desc())
        .offset((q.page - 1) * q.page_size)
        .limit(q.page_size)
    )
    with db.session(pf.container.engine) as s:
        return [open311_request(c, office) for c in s.exec(query).all()]


def open311_one(pf: PublicForm, office: OfficeProfile, request_id: str) -> list[dict[str, Any]] | None:
    """Return one service request of ``office`` as a list of one (the standard's shape), else None."""
    with db.session(pf.container.engine) as s:
        complaint = s.exec(
            select(Complaint).where(Complaint.tracking_number == request_id.upper(), pf.records_of(office))
        ).first()
        return None if complaint is None else [open311_request(complaint, office)]
