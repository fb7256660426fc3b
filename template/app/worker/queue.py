"""Publishing tasks from the API: after the commit, bounded in time, never silently dropped."""

from typing import Any

import structlog
from celery import Celery
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import SQLAlchemyError

from app.core.errors import RETRY_AFTER_SECONDS, AppError
from app.core.principal import Principal
from app.worker.config import WorkerSettings
from app.worker.context import context_headers

logger = structlog.get_logger(__name__)

# Redis errors surface as kombu's OperationalError; the local SQLite transport raises
# SQLAlchemy's; a refused or timed-out socket may surface as such.
PUBLISH_ERRORS = (BrokerError, SQLAlchemyError, OSError)


class TaskQueueUnavailableError(AppError):
    status_code = 503
    headers = {"Retry-After": RETRY_AFTER_SECONDS}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__("The task queue is unavailable; nothing was started. Retry shortly.")


class TaskQueue:
    """The API's handle on the broker: publishes tasks with the caller's context."""

    def __init__(self, celery: Celery[Any], settings: WorkerSettings) -> None:
        self.celery = celery
        self.settings = settings

    def publish(
        self,
        name: str,
        task_id: str,
        args: list[Any],
        principal: Principal | None,
        countdown: int | None = None,
    ) -> None:
        """Send a task, blocking up to the publish timeout (call it from a worker thread).

        Raises TaskQueueUnavailableError if the broker did not take it.
        """
        if countdown is not None and countdown >= self.settings.visibility_timeout:
            # Redis would redeliver the waiting message every visibility timeout.
            raise ValueError("countdown must stay below CELERY_VISIBILITY_TIMEOUT")
        try:
            self.celery.send_task(
                name,
                args=args,
                task_id=task_id,
                countdown=countdown,
                headers=context_headers(principal),
                # No retry loop inside the request: the caller gets 503 and retries.
                retry=False,
            )
        except PUBLISH_ERRORS as error:
            logger.warning("task_publish_failed", task=name, error=type(error).__name__)
            raise TaskQueueUnavailableError from error

    def state(self, task_id: str) -> tuple[str, str | None]:
        """The task's Celery state and, for a failure, the exception type (no message: it
        may hold internal details). Raises TaskQueueUnavailableError if unreachable."""
        result = self.celery.AsyncResult(task_id)
        try:
            state = str(result.state)
            error = type(result.result).__name__ if state == "FAILURE" else None
        except Exception as error:  # the result backend is down: any client error
            logger.warning("task_state_failed", error=type(error).__name__)
            raise TaskQueueUnavailableError from error
        return state, error
