"""The managers' pages: ``/inbox/dashboard`` (figures and small charts) and ``/inbox/reports``
(the period report E1/E2 as PDF or XLSX, the same files as ``aduan report``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from inbox import records
from inbox.deps import ContainerDep, DashboardReader, HomeOffice, SessionDep, VisibleOffices, WebSessionDep
from inbox.i18n import translator
from inbox.render import page
from reports import evaluation

router = APIRouter(prefix="/inbox", include_in_schema=False)


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    user: DashboardReader,
    offices: VisibleOffices,
    home: HomeOffice,
    session: SessionDep,
    container: ContainerDep,
    web: WebSessionDep,
) -> Response:
    """Show the managers' figures with small charts."""
    context = records.dashboard_context(session, container, home=home, offices=offices, lang=web.lang)
    return page(request, "dashboard.html", context)


@router.get("/reports")
def reports_page(request: Request, user: DashboardReader, container: ContainerDep) -> Response:
    """Offer the period report (E1/E2) as PDF or XLSX for a chosen month, quarter or year."""
    today = container.office.calendar.local_date(container.now())
    return page(request, "reports.html", {"period": f"{today.year}-{today.month:02d}", "error": None})


@router.get("/reports/download")
def report_download(
    request: Request,
    user: DashboardReader,
    home: HomeOffice,
    session: SessionDep,
    container: ContainerDep,
    web: WebSessionDep,
    period: str = "",
    format: str = "pdf",
) -> Response:
    """Build the report of a period and send it as a download (the same files as ``aduan report``)."""
    if format not in records.REPORT_TYPES:
        raise HTTPException(status_code=400, detail="format must be pdf or xlsx")
    try:
        chosen = evaluation.parse_period(period)
    except ValueError:
        t = translator(web.lang)
        return page(
            request, "reports.html", {"period": period[:20], "error": t("r.bad_period")}, status_code=400
        )
    name, data = records.period_report(session, container, office=home, period=chosen, format=format)
    return Response(
        data,
        media_type=records.REPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
