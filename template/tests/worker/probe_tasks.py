"""Test-only tasks the worker subprocess loads with `-I tests.worker.probe_tasks`.

`record` takes a while (so a test can kill its process mid-task) and then records its effect
the way a real task must: idempotently, keyed by a unique constraint, so a redelivered task
leaves one effect. Each delivery leaves a marker file holding the pid of the process that
ran it. `context` reports the caller context the worker applied.
"""

import os
import time
import uuid
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from app.core.idempotency import IdempotencyRecord
from app.core.tenant import current_tenant_id
from app.worker.celery_app import celery_app, settings
from app.worker.context import task_principal
from app.worker.db import worker_session

RECORD = "probe.record"
CONTEXT = "probe.context"
EFFECT_SCOPE = "probe"


@celery_app.task(name=RECORD, shared=False)
def record(key: str, marker_dir: str, hold_seconds: float) -> str:
    Path(marker_dir, f"{key}.{uuid.uuid4().hex}.started").write_text(str(os.getpid()))
    time.sleep(hold_seconds)  # stands for the work a crash or a shutdown interrupts
    with worker_session(settings.database_url, settings.database_statement_timeout_ms) as session:
        session.add(
            IdempotencyRecord(
                scope=EFFECT_SCOPE,
                key=key,
                request_fingerprint="-",
                status_code=200,
                response_body="",
            )
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # an earlier delivery already had the effect
    return key


@celery_app.task(name=CONTEXT, shared=False)
def context() -> dict[str, str | None]:
    principal = task_principal()
    return {
        "subject": principal.subject if principal is not None else None,
        "tenant_id": current_tenant_id(),
    }
