"""The Celery app of `celery -A app.worker.celery_app:celery_app worker|beat` (make worker,
make beat), configured from the environment and `.env` like the API."""

from typing import Any

from celery.signals import setup_logging

from app.core.config import get_settings
from app.core.logging import configure_logging
from app.worker.config import WorkerSettings
from app.worker.factory import create_celery

settings = get_settings()
worker_settings = WorkerSettings()
# Beat keeps its schedule file here (compose and Kubernetes point it at a writable /tmp).
worker_settings.local_dir.mkdir(parents=True, exist_ok=True)
celery_app = create_celery(settings, worker_settings)


@setup_logging.connect
def _use_app_logging(**_kwargs: Any) -> None:
    # Connected, this replaces Celery's own logging set-up: worker lines look like the API's
    # (JSON in production) and carry the task's tenant_id and subject.
    configure_logging(settings)
