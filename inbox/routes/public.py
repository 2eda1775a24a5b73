"""The public pages (R2j–R2l): the ``/lapor`` complaint form, the ``/status`` lookup and the
Open311 GeoReport v2 read endpoints (https://wiki.open311.org/GeoReport_v2/).

Every request acts for the office its host name is addressed to (``PublicForm.office_at``); what
the pages do is ``inbox.public``'s, which says why nothing here shows personal data.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from channels.base import RawRequest
from inbox import public
from inbox.deps import ContainerDep
from inbox.hooks import public_url
from inbox.public import HONEYPOT, MENDABLE, PublicForm, indonesian_date, reason_labels
from intake import rules
from intake.models import Complaint
from intake.office import OfficeProfile
from jobs.pipeline import DatabaseUnavailable

log = logging.getLogger("aduan.public")

router = APIRouter(tags=["public"])


def public_form(request: Request) -> PublicForm:
    """Return the app's public form helper (``create_app`` makes one per app)."""
    return request.app.state.public_form  # type: ignore[no-any-return]


PublicFormDep = Annotated[PublicForm, Depends(public_form)]


@router.get("/lapor", response_class=HTMLResponse, include_in_schema=False)
def lapor_form(request: Request, pf: PublicFormDep, container: ContainerDep) -> HTMLResponse:
    """Show the complaint form of the office the request is addressed to."""
    with container.using_office(pf.office_at(request)):
        return pf.form_page(request)


@router.get("/lapor/public.css", include_in_schema=False)
def public_css() -> Response:
    """Serve the public pages' stylesheet."""
    return Response(
        (public.HERE / "public.css").read_text(encoding="utf-8"),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.post("/lapor", response_class=HTMLResponse, include_in_schema=False)
async def lapor_submit(request: Request, pf: PublicFormDep, container: ContainerDep) -> HTMLResponse:
    """Take a form submission through the pipeline and show the tracking number and due date."""
    office = pf.office_at(request)
    with container.using_office(office):
        return await submit_for(request, pf, office)


async def submit_for(request: Request, pf: PublicForm, office: OfficeProfile) -> HTMLResponse:
    """File a submission for ``office`` (entered by the caller): its catalogue, calendar, prefix."""
    container = pf.container
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
        return receipt_page(request, pf, office, earlier)
    if not await run_in_threadpool(pf.allow, request, "lapor", pf.submit_limit):
        return pf.page(
            request,
            "pesan.html",
            status_code=429,
            title="Terlalu banyak laporan",
            message="Terlalu banyak laporan dari alamat ini. Silakan coba lagi dalam satu jam.",
        )
    today = office.calendar.local_date(container.now())
    errors = public.validate(
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
        receipt = await run_in_threadpool(public.receive_for, container, office, raw)
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
        await run_in_threadpool(public.send_receipt, container, office, complaint)
    return receipt_page(request, pf, office, complaint)


def receipt_page(
    request: Request, pf: PublicForm, office: OfficeProfile, complaint: Complaint
) -> HTMLResponse:
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
        sent_to=public.receipt_channel(pf.container, complaint),
    )


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
def status_page(
    request: Request, pf: PublicFormDep, container: ContainerDep, nomor: str = ""
) -> HTMLResponse:
    """Look up a record by tracking number: status, dates, service, office; nothing personal.

    Only the records of the office the request is addressed to: another office's number is
    "not found" as an unknown one is, so the page tells nothing about other offices.
    """
    office = pf.office_at(request)
    with container.using_office(office):
        return status_for(request, pf, office, nomor)


def status_for(request: Request, pf: PublicForm, office: OfficeProfile, nomor: str) -> HTMLResponse:
    """Render the status page of ``office`` (entered by the caller)."""
    number = public.lookup_number(nomor) and public.tracking_of(pf, office, nomor)
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
    complaint, merged_into = public.status_record(pf, office, number)
    if complaint is None:
        return pf.page(request, "status.html", status_code=404, nomor=number, found=False)
    today = office.calendar.local_date(pf.container.now())
    service = office.service(complaint.service_code)
    return pf.page(
        request,
        "status.html",
        nomor=number,
        found=True,
        complaint=complaint,
        status_label=public.STATUS_LABELS.get(complaint.status, complaint.status),
        due_words=indonesian_date(complaint.due_date),
        received_words=indonesian_date(office.calendar.local_date(complaint.received_at)),
        days_left=rules.working_days_left(complaint.due_date, today=today, calendar=office.calendar),
        answered=complaint.status in public.ANSWERED,
        service_name=service.name if service else None,
        office_name=complaint.agency or office.name,
        merged_into=merged_into.tracking_number if merged_into else None,
        saran=rules.KIND_SARAN,
        reasons=reason_labels(complaint, office),
        no_deadline=complaint.kind == rules.KIND_SARAN,
    )


@router.get("/open311/v2/services.json", tags=["open311"])
def open311_services(request: Request, pf: PublicFormDep) -> list[dict[str, Any]]:
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


def open311_error(status: int, description: str) -> JSONResponse:
    """Answer with an Open311 error list."""
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def open311_limited() -> JSONResponse:
    """Answer a client over ``open311_requests_per_hour``."""
    return JSONResponse(
        [{"code": 429, "description": "too many requests from this address; retry in an hour"}],
        status_code=429,
        headers={"Retry-After": "3600"},
    )


@router.get("/open311/v2/requests.json", tags=["open311"], response_model=None)
def open311_requests(
    request: Request,
    pf: PublicFormDep,
    service_request_id: str = "",
    service_code: str = "",
    start_date: str = "",
    end_date: str = "",
    status: str = "",
    page: int = 1,
    page_size: int = public.OPEN311_PAGE_SIZE,
) -> JSONResponse | list[dict[str, Any]]:
    """GeoReport v2 request list (90 days by default), paged, without personal data.

    ``page``/``page_size`` (at most 100) page the list, newest first; ``service_request_id``
    names at most 20 ids. Every call counts against the client's hourly limit.
    """
    if not pf.allow(request, "open311", pf.open311_limit):
        return open311_limited()
    query = public.Open311Query(
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
        page=page,
        page_size=page_size,
    )
    try:
        return public.open311_requests(pf, pf.office_at(request), query)
    except public.Open311Error as exc:
        return open311_error(400, str(exc))


@router.get("/open311/v2/requests/{request_id}.json", tags=["open311"], response_model=None)
def open311_request(
    request: Request, pf: PublicFormDep, request_id: str
) -> JSONResponse | list[dict[str, Any]]:
    """GeoReport v2 single request (a list of one, as the standard says); another office's is 404."""
    if not pf.allow(request, "open311", pf.open311_limit):
        return open311_limited()
    found = public.open311_one(pf, pf.office_at(request), request_id)
    if found is None:
        return open311_error(404, f"no service request {request_id}")
    return found
