"""The queue pages: ``/inbox`` (queues with counts, filters, search), its polled rows, the alerts page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from inbox import queries, records
from inbox.deps import ContainerDep, QueueReader, SessionDep, VisibleOffices
from inbox.render import page

router = APIRouter(prefix="/inbox", include_in_schema=False)


def queue_query(request: Request) -> queries.QueueQuery:
    """Read the queue, filters, search and page from the query string."""
    params = request.query_params
    queue = params.get("queue", "new")
    if queue not in queries.QUEUES:
        queue = "new"
    filters = {k: params[k] for k in queries.FILTERS if params.get(k)}
    page_no = params.get("page", "1")
    return queries.QueueQuery(
        queue=queue,
        filters=filters,
        q=params.get("q", "")[:200],
        page=int(page_no) if page_no.isdigit() else 1,
    )


QueueQueryDep = Annotated[queries.QueueQuery, Depends(queue_query)]


def queue_view(
    user: QueueReader,
    query: QueueQueryDep,
    offices: VisibleOffices,
    session: SessionDep,
    container: ContainerDep,
) -> dict[str, Any]:
    """Gather what the queue page and its polled rows show (``records.queue_context``)."""
    return records.queue_context(session, container, user=user, query=query, offices=offices)


QueueView = Annotated[dict[str, Any], Depends(queue_view)]


@router.get("")
def queue_page(request: Request, view: QueueView) -> Response:
    """Show a queue with the counts of every queue, filters and search."""
    return page(request, "queue.html", view)


@router.get("/rows")
def queue_rows(request: Request, view: QueueView) -> Response:
    """Return the queue's rows and counts (htmx polling: new complaints appear without reload)."""
    return page(request, "_rows.html", view)


@router.get("/alerts")
def alerts_page(
    request: Request,
    user: QueueReader,
    offices: VisibleOffices,
    session: SessionDep,
    container: ContainerDep,
) -> Response:
    """Show the deadline alerts meant for this user or their role, newest first; mark them seen."""
    shown = records.alerts_context(session, user=user, offices=offices, now=container.now())
    return page(request, "alerts.html", {"alerts": shown, "open_now": queries.OPEN_STATUSES})
