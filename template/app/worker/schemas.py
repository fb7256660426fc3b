import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

TaskStatus = Literal["pending", "started", "retry", "success", "failure"]

# Celery's states, as the API reports them. RECEIVED: a worker holds it but has not started.
CELERY_STATES: dict[str, TaskStatus] = {
    "PENDING": "pending",
    "RECEIVED": "pending",
    "STARTED": "started",
    "RETRY": "retry",
    "SUCCESS": "success",
    "FAILURE": "failure",
    "REVOKED": "failure",
    "REJECTED": "failure",
}


class ExportStatus(BaseModel):
    id: uuid.UUID
    status: TaskStatus
    created_at: datetime
    completed_at: datetime | None = None
    rows: int | None = None
    # The exception type of a failed task (no message: it could expose internals).
    error: str | None = None
    # Path of the CSV once the export succeeded.
    download: str | None = None
