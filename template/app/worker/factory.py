"""The Celery application, configured from settings so no task is lost or runs twice in effect.

The worker and beat load `app.worker.celery_app:celery_app`; the API builds its own with
`create_celery(...)` from the settings it was started with.
"""

import uuid
from typing import Any

import structlog
from celery import Celery, Task
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.worker.config import WorkerSettings
from app.worker.context import task_context
from app.worker.db import worker_session
from app.worker.tasks import export_items, purge_idempotency_records, queue_welcome_message

logger = structlog.get_logger(__name__)

EXPORT_ITEMS = "worker.export_items"
WELCOME_USER = "worker.welcome_user"
PURGE_IDEMPOTENCY_RECORDS = "worker.purge_idempotency_records"
LOCAL_TRANSPORT_BUSY_TIMEOUT = 15  # seconds a SQLite queue write waits for a lock
RESULT_SOCKET_TIMEOUT = 5.0

# Transient failures worth retrying; anything else fails the task at once.
TRANSIENT_ERRORS = (OperationalError, ConnectionError, TimeoutError)


class ContextTask(Task[Any, Any]):
    """Runs every task as the caller that queued it (see app/worker/context.py)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Celery gathers the message headers it does not know itself into request.headers.
        with task_context(self.request.headers or {}):
            return super().__call__(*args, **kwargs)


def _configure(celery: Celery[ContextTask], settings: Settings, worker: WorkerSettings) -> None:
    broker_url = worker.resolved_broker_url(settings.redis_url)
    result_backend = worker.resolved_result_backend(settings.redis_url)
    if settings.environment == "production" and broker_url.startswith("sqla+sqlite"):
        # Fine on a single machine; with several (pods, hosts) each queues into its own file
        # and the tasks one API process accepts are never run by the others' workers.
        logger.warning(
            "local_task_queue",
            detail="the SQLite task queue works on one machine only;"
            " set REDIS_URL or CELERY_BROKER_URL to share it",
        )
    if broker_url.startswith("sqla+sqlite") or result_backend.startswith("db+sqlite"):
        worker.local_dir.mkdir(parents=True, exist_ok=True)
    transport_options: dict[str, Any] = {
        # Redis: redeliver an unacknowledged task only after the longest task could finish.
        "visibility_timeout": worker.visibility_timeout,
        # Publishing fails within this bound when Redis is down, so the API can answer 503.
        "socket_connect_timeout": worker.publish_timeout,
        "socket_timeout": worker.publish_timeout,
    }
    if broker_url.startswith("sqla+"):
        # kombu hands these to SQLAlchemy's create_engine (so no polling_interval here):
        # a busy timeout lets the API and the worker write the SQLite queue concurrently.
        transport_options = {"connect_args": {"timeout": LOCAL_TRANSPORT_BUSY_TIMEOUT}}
    celery.conf.update(
        broker_url=broker_url,
        result_backend=result_backend,
        broker_transport_options=transport_options,
        broker_connection_timeout=worker.publish_timeout,
        broker_connection_retry_on_startup=True,
        # JSON only: a pickle message could run arbitrary code in the worker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # Acknowledge after the task ran, and put it back if its process died: nothing is
        # lost, so tasks must be idempotent. One message at a time per process.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A worker that loses the broker lets its running tasks finish. Cancelling them (the
        # Celery 6 default) marks them REVOKED on Redis and they never run again: lost
        # (tests/worker/test_delivery.py, C07). A finished task's acknowledgement goes with
        # the connection, so Redis may hand it out again after the visibility timeout: tasks
        # are idempotent.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # SIGQUIT: short tasks still finish; long ones go back to the queue for another worker
        # (tests/worker/test_delivery.py, C04).
        worker_soft_shutdown_timeout=worker.soft_shutdown_timeout,
        task_soft_time_limit=worker.soft_time_limit,
        task_time_limit=worker.time_limit,
        task_track_started=True,
        task_default_queue=worker.queue,
        result_expires=worker.result_expires,
        redis_socket_connect_timeout=worker.publish_timeout,
        redis_socket_timeout=RESULT_SOCKET_TIMEOUT,
        # Task events for Flower and `celery events`.
        worker_send_task_events=True,
        task_send_sent_event=True,
        enable_utc=True,
        timezone="UTC",
        beat_schedule={
            "purge-idempotency-records": {
                "task": PURGE_IDEMPOTENCY_RECORDS,
                "schedule": float(worker.purge_interval),
            }
        },
        beat_schedule_filename=str(worker.local_dir / "celerybeat-schedule"),
    )


def _register_tasks(
    celery: Celery[ContextTask], settings: Settings, worker: WorkerSettings
) -> None:
    # shared=False: each app (the API builds one per instance) registers its own tasks only.
    retry_policy: dict[str, Any] = {
        "autoretry_for": TRANSIENT_ERRORS,
        "retry_backoff": True,
        "retry_backoff_max": worker.retry_backoff_max,
        "retry_jitter": True,
        "max_retries": worker.max_retries,
    }
    database = (settings.database_url, settings.database_statement_timeout_ms)

    @celery.task(name=EXPORT_ITEMS, shared=False, **retry_policy)
    def export_items_task(export_id: str) -> dict[str, int | None]:
        with worker_session(*database) as session:
            rows = export_items(session, uuid.UUID(export_id), max_deliveries=worker.max_deliveries)
        return {"rows": rows}

    @celery.task(name=WELCOME_USER, shared=False, **retry_policy)
    def welcome_user_task(user_id: str) -> dict[str, bool]:
        with worker_session(*database) as session:
            queued = queue_welcome_message(session, user_id)
        return {"queued": queued}

    @celery.task(name=PURGE_IDEMPOTENCY_RECORDS, shared=False, **retry_policy)
    def purge_idempotency_records_task() -> dict[str, int]:
        with worker_session(*database) as session:
            purged = purge_idempotency_records(
                session, ttl_seconds=settings.idempotency_ttl_seconds
            )
        return {"purged": purged}


def create_celery(
    settings: Settings, worker_settings: WorkerSettings | None = None
) -> Celery[ContextTask]:
    worker = worker_settings or WorkerSettings()
    celery = Celery("app", task_cls=ContextTask)
    _configure(celery, settings, worker)
    _register_tasks(celery, settings, worker)
    return celery
