"""Items export over HTTP: start it (202 + Location), poll its status, download the CSV.

Only the caller who started an export can see it: the same principal subject (anonymous
exports are visible to anonymous callers holding the id, a random UUID) and the same tenant.
"""

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from app.core.db import SessionDep
from app.core.errors import ConflictError, NotFoundError, error_responses
from app.core.principal import current_principal
from app.worker.factory import EXPORT_ITEMS
from app.worker.models import ItemExport
from app.worker.queue import TaskQueue, TaskQueueUnavailableError
from app.worker.schemas import CELERY_STATES, ExportStatus

router = APIRouter(prefix="/exports", tags=["exports"])

STATUS_ERRORS = error_responses(404, 422, 500, 503)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The CSV file", "content": {CSV_MEDIA_TYPE: {}}}
}
DOWNLOAD_RESPONSES = CSV_RESPONSE | error_responses(404, 409, 422, 500)


class ExportNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("Export not found.")


class ExportNotReadyError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The export has not finished; poll its status.")


def task_queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.task_queue
    return queue


async def visible_export(request: Request, session: SessionDep, export_id: uuid.UUID) -> ItemExport:
    """The export if this caller started it (same subject and tenant), else 404."""
    export = await session.get(ItemExport, export_id)
    principal = current_principal(request)
    subject = principal.subject if principal is not None else None
    # Another tenant's export (multi_tenancy) is never loaded: tenancy filters the query.
    if export is None or export.owner_id != subject:
        # Someone else's export looks exactly like a missing one.
        raise ExportNotFoundError
    return export


@router.post(
    "/items",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportStatus,
    responses=error_responses(422, 500, 503),
)
async def start_items_export(
    request: Request, response: Response, session: SessionDep
) -> ExportStatus:
    """Start a CSV export of the items; poll the `Location` for its status."""
    principal = current_principal(request)
    export = ItemExport(owner_id=principal.subject if principal is not None else None)
    session.add(export)
    # Committed first: the worker may pick the task up before this request returns.
    await session.commit()
    try:
        await run_in_threadpool(
            task_queue(request).publish, EXPORT_ITEMS, str(export.id), [str(export.id)], principal
        )
    except TaskQueueUnavailableError:
        # Nothing will run it: remove the row so the id never reports "pending" forever.
        await session.delete(export)
        await session.commit()
        raise
    base = request.url.path.rsplit("/", 1)[0]
    response.headers["Location"] = f"{base}/{export.id}"
    return ExportStatus(id=export.id, status="pending", created_at=export.created_at)


@router.get("/{export_id}", response_model=ExportStatus, responses=STATUS_ERRORS)
async def get_export(request: Request, session: SessionDep, export_id: uuid.UUID) -> ExportStatus:
    """Status of an export: pending, started, retry, success or failure."""
    export = await visible_export(request, session, export_id)
    if export.content is not None:
        return ExportStatus(
            id=export.id,
            status="success",
            created_at=export.created_at,
            completed_at=export.completed_at,
            rows=export.row_count,
            download=f"{request.url.path.rstrip('/')}/download",
        )
    state, error = await run_in_threadpool(task_queue(request).state, str(export.id))
    reported = CELERY_STATES.get(state, "pending")
    if reported == "success":
        # The task finished between reading the row (no CSV yet) and asking Celery; the
        # next poll reads the CSV. "success" must always come with its download link.
        reported = "started"
    return ExportStatus(id=export.id, status=reported, created_at=export.created_at, error=error)


@router.get(
    "/{export_id}/download",
    response_class=Response,
    responses=DOWNLOAD_RESPONSES,
)
async def download_export(request: Request, session: SessionDep, export_id: uuid.UUID) -> Response:
    """The CSV of a finished export."""
    export = await visible_export(request, session, export_id)
    if export.content is None:
        raise ExportNotReadyError
    return Response(
        export.content,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="items-{export.id}.csv"'},
    )
