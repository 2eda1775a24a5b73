"""Public pages (R2j–R2l): the ``/lapor`` complaint form, the ``/status`` lookup, Open311 read endpoints.

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
import json
import logging
import secrets
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
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
from jobs.pipeline import DatabaseUnavailable, receive
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
        self.max_bytes = int(container.settings.section("storage").get("max_attachment_bytes", 10_485_760))

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


def _validate(form: dict[str, str], *, today: dt.date, services: set[str], problems: set[str]) -> list[str]:
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


def _open311_request(complaint: Complaint, office: OfficeProfile) -> dict[str, Any]:
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


def _open311_error(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def lookup_number(typed: str) -> str:
    """Return the tracking number a citizen typed on /status, as stored (the one place to change)."""
    return typed.strip().upper()


def _parse_moment(value: str, tz: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def build_router(container: Container) -> APIRouter:
    """Return the public routes: /lapor, /status, /open311/v2/…"""
    router = APIRouter(tags=["public"])
    pf = PublicForm(container)

    def receive_for(office: OfficeProfile, raw: RawRequest) -> Any:
        # In the worker thread, so the office is entered where the pipeline runs.
        with container.using_office(office):
            return receive(container, "web", raw, verify=False)

    @router.get("/lapor", response_class=HTMLResponse, include_in_schema=False)
    def lapor_form(request: Request) -> HTMLResponse:
        """Show the complaint form of the office the request is addressed to."""
        with container.using_office(pf.office_at(request)):
            return pf.form_page(request)

    @router.get("/lapor/public.css", include_in_schema=False)
    def public_css() -> Response:
        """Serve the public pages' stylesheet."""
        return Response(
            (HERE / "public.css").read_text(encoding="utf-8"),
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @router.post("/lapor", response_class=HTMLResponse, include_in_schema=False)
    async def lapor_submit(request: Request) -> HTMLResponse:
        """Take a form submission through the pipeline and show the tracking number and due date."""
        office = pf.office_at(request)
        with container.using_office(office):
            return await submit_for(request, office)

    async def submit_for(request: Request, office: OfficeProfile) -> HTMLResponse:
        """File a submission for ``office`` (entered by the caller): its catalogue, calendar, prefix."""
        data = await request.form(max_files=pf.max_files + 2, max_fields=30)
        fields = {
            k: str(data.get(k) or "").strip()
            for k in ("name", "contact", "service", "service_date", "problem_type", "text", "token", HONEYPOT)
        }
        submission = pf.nonce(fields["token"])
        if submission is None:
            return pf.form_page(
                request,
                values=fields,
                status_code=400,
                errors=["Formulir sudah kedaluwarsa atau tidak sah. Silakan kirim ulang."],
            )
        if fields[HONEYPOT]:
            log.info("public form: honeypot filled, submission dropped")
            return pf.page(
                request,
                "pesan.html",
                status_code=400,
                title="Laporan tidak dapat diterima",
                message="Laporan tidak dapat diterima. Silakan hubungi kantor kami.",
            )
        # The same form sent again (back button, double click, a retry after a lost answer) shows the
        # record it made, before the limit is counted: resending is never "too many reports".
        earlier = await run_in_threadpool(pf.complaint_of_submission, submission)
        if earlier is not None:
            return receipt_page(request, office, earlier)
        if not await run_in_threadpool(pf.allow, request, "lapor", pf.submit_limit):
            return pf.page(
                request,
                "pesan.html",
                status_code=429,
                title="Terlalu banyak laporan",
                message="Terlalu banyak laporan dari alamat ini. Silakan coba lagi dalam satu jam.",
            )
        today = office.calendar.local_date(container.now())
        errors = _validate(
            fields,
            today=today,
            services={s.code for s in office.services},
            problems={p.code for p in office.problem_types},
        )
        uploads = [f for f in data.getlist("attachments") if isinstance(f, UploadFile)]
        attachments: list[dict[str, Any]] = []
        if not errors:
            attachments, errors = await pf.store_uploads(uploads)
        if errors:
            return pf.form_page(request, values=fields, errors=errors, status_code=400)
        payload = {
            "id": submission,
            "name": fields["name"],
            "contact": fields["contact"],
            "service": fields["service"],
            "service_date": fields["service_date"],
            "problem_type": fields["problem_type"],
            "text": fields["text"],
            "anonymous": data.get("anonymous") == "1",
            "attachments": attachments,
        }
        raw = RawRequest(
            body=json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8"),
            headers={"Content-Type": "application/json", "X-Aduan-Form": "lapor"},
            url=public_url(request, container.settings.public_base_url, container.settings.trust_proxy),
        )
        try:
            receipt = await run_in_threadpool(receive_for, office, raw)
        except DatabaseUnavailable:
            return pf.page(
                request,
                "pesan.html",
                status_code=503,
                title="Sedang ada gangguan",
                message="Laporan belum tersimpan karena gangguan sistem. Silakan coba lagi.",
            )
        if receipt.status != 200:
            return pf.form_page(
                request,
                values=fields,
                status_code=400,
                errors=[f"Laporan tidak dapat diproses: {receipt.reason}"],
            )
        complaint = next((r.complaint for r in receipt.results if r.complaint), None)
        if complaint is None:
            # The same form sent twice (back button, double click): show the record it made.
            complaint = await run_in_threadpool(pf.complaint_of_submission, submission)
        if complaint is None:
            return pf.page(
                request,
                "pesan.html",
                status_code=500,
                title="Laporan tersimpan",
                message="Laporan tersimpan, tetapi nomor belum dapat ditampilkan. Hubungi kami.",
            )
        log.info("public form: %s filed as %s", complaint.tracking_number, complaint.kind)
        if any(r.complaint is not None and not r.duplicate for r in receipt.results):
            await run_in_threadpool(send_receipt, office, complaint)
        return receipt_page(request, office, complaint)

    def receipt_page(request: Request, office: OfficeProfile, complaint: Complaint) -> HTMLResponse:
        """Show the tracking number of a filed submission (and its due date when it is a pengaduan)."""
        return pf.page(
            request,
            "terkirim.html",
            complaint=complaint,
            due_words=indonesian_date(complaint.due_date),
            reasons=reason_labels(complaint, office),
            mendable=any(r in MENDABLE for r in complaint.reason_list),
            saran=rules.KIND_SARAN,
            no_deadline=complaint.kind == rules.KIND_SARAN,
            sent_to=receipt_channel(complaint),
        )

    def receipt_channel(complaint: Complaint) -> str | None:
        """The channel the tracking number also goes out on: the contact the filer left, if reachable."""
        channel = channel_for_urn(complaint.contact_urn)
        if channel is None or channel == "web" or channel not in container.settings.enabled_channels():
            return None
        return channel

    def send_receipt(office: OfficeProfile, complaint: Complaint) -> None:
        """Send the tracking number to the phone (SMS) or e-mail address the filer left (outbox)."""
        channel = receipt_channel(complaint)
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

    @router.get("/status", response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request, nomor: str = "") -> HTMLResponse:
        """Look up a record by tracking number: status, dates, service, office; nothing personal.

        Only the records of the office the request is addressed to: another office's number is
        "not found" as an unknown one is, so the page tells nothing about other offices.
        """
        office = pf.office_at(request)
        with container.using_office(office):
            return status_for(request, office, nomor)

    def tracking_of(office: OfficeProfile, nomor: str) -> str:
        """The number typed in any spelling ("pwk 2026 7"); a number alone when one year has it."""
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

    def status_for(request: Request, office: OfficeProfile, nomor: str) -> HTMLResponse:
        """Render the status page of ``office`` (entered by the caller)."""
        number = lookup_number(nomor) and tracking_of(office, nomor)
        if not number:
            return pf.page(request, "status.html", nomor="", found=None)
        # Tracking numbers are sequential: a per-address limit keeps the page from being scraped.
        if not pf.allow(request, "status", pf.status_limit):
            return pf.page(
                request,
                "pesan.html",
                status_code=429,
                title="Terlalu banyak pencarian",
                message="Terlalu banyak pencarian dari alamat ini. Silakan coba lagi dalam satu jam.",
            )
        with db.session(container.engine) as s:
            complaint = s.exec(
                select(Complaint).where(Complaint.tracking_number == number, pf.records_of(office))
            ).first()
            merged_into = (
                s.get(Complaint, complaint.merged_into_id) if complaint and complaint.merged_into_id else None
            )
        if complaint is None:
            return pf.page(request, "status.html", status_code=404, nomor=number, found=False)
        today = office.calendar.local_date(container.now())
        service = office.service(complaint.service_code)
        return pf.page(
            request,
            "status.html",
            nomor=number,
            found=True,
            complaint=complaint,
            status_label=STATUS_LABELS.get(complaint.status, complaint.status),
            due_words=indonesian_date(complaint.due_date),
            received_words=indonesian_date(office.calendar.local_date(complaint.received_at)),
            days_left=rules.working_days_left(complaint.due_date, today=today, calendar=office.calendar),
            answered=complaint.status in ANSWERED,
            service_name=service.name if service else None,
            office_name=complaint.agency or office.name,
            merged_into=merged_into.tracking_number if merged_into else None,
            saran=rules.KIND_SARAN,
            reasons=reason_labels(complaint, office),
            no_deadline=complaint.kind == rules.KIND_SARAN,
        )

    @router.get("/open311/v2/services.json", tags=["open311"])
    def open311_services(request: Request) -> list[dict[str, Any]]:
        """GeoReport v2 service list: the office's service catalogue."""
        office = pf.office_at(request)
        return [
            {
                "service_code": s.code,
                "service_name": s.name,
                "description": s.name,
                "metadata": False,
                "type": "realtime",
                "keywords": ",".join(s.keywords),
                "group": s.sector,
            }
            for s in office.services
        ]

    def open311_allowed(request: Request) -> bool:
        """Count one Open311 read of this client; False over ``open311_requests_per_hour``."""
        return pf.allow(request, "open311", pf.open311_limit)

    def open311_limited() -> JSONResponse:
        return JSONResponse(
            [{"code": 429, "description": "too many requests from this address; retry in an hour"}],
            status_code=429,
            headers={"Retry-After": "3600"},
        )

    @router.get("/open311/v2/requests.json", tags=["open311"], response_model=None)
    def open311_requests(
        request: Request,
        service_request_id: str = "",
        service_code: str = "",
        start_date: str = "",
        end_date: str = "",
        status: str = "",
        page: int = 1,
        page_size: int = OPEN311_PAGE_SIZE,
    ) -> JSONResponse | list[dict[str, Any]]:
        """GeoReport v2 request list (90 days by default), paged, without personal data.

        ``page``/``page_size`` (at most 100) page the list, newest first; ``service_request_id``
        names at most 20 ids. Every call counts against the client's hourly limit.
        """
        if not open311_allowed(request):
            return open311_limited()
        if page < 1 or not 1 <= page_size <= OPEN311_MAX_PAGE_SIZE:
            return _open311_error(400, f"page must be >= 1 and page_size 1 to {OPEN311_MAX_PAGE_SIZE}")
        office = pf.office_at(request)
        tz = office.calendar.timezone
        query = select(Complaint).where(pf.records_of(office))
        if service_request_id:
            ids = [i.strip().upper() for i in service_request_id.split(",") if i.strip()]
            if len(ids) > OPEN311_MAX_IDS:
                return _open311_error(400, f"at most {OPEN311_MAX_IDS} service_request_id values per call")
            query = query.where(col(Complaint.tracking_number).in_(ids))
        else:
            try:
                end = _parse_moment(end_date, tz) if end_date else container.now()
                start = _parse_moment(start_date, tz) if start_date else end - dt.timedelta(days=90)
            except ValueError:
                return _open311_error(400, "start_date/end_date must be ISO-8601 (w3c) datetimes")
            query = query.where(Complaint.received_at >= start, Complaint.received_at <= end)
            if service_code:
                query = query.where(col(Complaint.service_code).in_(service_code.split(",")))
            if status:
                wanted = set(status.split(","))
                if not wanted <= {"open", "closed"}:
                    return _open311_error(400, "status must be open, closed or both")
                if wanted == {"open"}:
                    query = query.where(col(Complaint.status).not_in(OPEN311_CLOSED))
                elif wanted == {"closed"}:
                    query = query.where(col(Complaint.status).in_(OPEN311_CLOSED))
        query = (
            query.order_by(col(Complaint.received_at).desc(), col(Complaint.id).desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
        with db.session(container.engine) as s:
            return [_open311_request(c, office) for c in s.exec(query).all()]

    @router.get("/open311/v2/requests/{request_id}.json", tags=["open311"], response_model=None)
    def open311_request(request: Request, request_id: str) -> JSONResponse | list[dict[str, Any]]:
        """GeoReport v2 single request (a list of one, as the standard says); another office's is 404."""
        if not open311_allowed(request):
            return open311_limited()
        office = pf.office_at(request)
        with db.session(container.engine) as s:
            complaint = s.exec(
                select(Complaint).where(
                    Complaint.tracking_number == request_id.upper(), pf.records_of(office)
                )
            ).first()
            if complaint is None:
                return _open311_error(404, f"no service request {request_id}")
            return [_open311_request(complaint, office)]

    return router
