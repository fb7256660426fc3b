"""Background tasks on Celery (the `celery` feature).

Wiring, done by the template: `routes.include_router(worker_router)` in app/api.py serves the
export endpoints; `install_worker(app, settings)` in app/main.py gives the app its task queue
(closed with the app). The worker and beat run `app.worker.celery_app:celery_app`.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from app.core.config import Settings
from app.core.events import DomainEvent
from app.worker.config import WorkerSettings
from app.worker.context import task_principal
from app.worker.factory import WELCOME_USER, create_celery
from app.worker.queue import TaskQueue, TaskQueueUnavailableError
from app.worker.router import router

logger = structlog.get_logger(__name__)

# Closing the broker pool is blocking I/O; a broker that stopped answering must not hold up
# the rest of the shutdown (the database pool, other features) past this.
CLOSE_TIMEOUT_SECONDS = 5.0

__all__ = [
    "TaskQueue",
    "TaskQueueUnavailableError",
    "WorkerSettings",
    "install_worker",
    "router",
    "task_principal",
]


def install_worker(
    app: FastAPI, settings: Settings, worker_settings: WorkerSettings | None = None
) -> None:
    """Give `app` a task queue (app.state.task_queue) that is closed when the app stops."""
    worker = worker_settings or WorkerSettings()
    celery = create_celery(settings, worker)
    queue = app.state.task_queue = TaskQueue(celery, worker)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # Releases the broker connection pool the API published through, off the loop.
            try:
                await asyncio.wait_for(asyncio.to_thread(celery.close), CLOSE_TIMEOUT_SECONDS)
            except TimeoutError:
                logger.warning("task_queue_close_timed_out", timeout=CLOSE_TIMEOUT_SECONDS)

    app.include_router(APIRouter(lifespan=lifespan))

    async def welcome_new_users(event: DomainEvent) -> None:
        """A registration (published by auth, when present) queues the welcome task."""
        if event.type != "user.registered":
            return
        user_id = str(event.payload["user_id"])
        try:
            # One task id per user: a repeated event names the same task.
            await run_in_threadpool(
                queue.publish, WELCOME_USER, f"welcome-{user_id}", [user_id], None
            )
        except TaskQueueUnavailableError:
            # The account exists already; the message is worth a log line, not a failed sign-up.
            logger.warning("welcome_task_not_queued", user_id=user_id)

    app.state.domain_events.subscribe(welcome_new_users)
