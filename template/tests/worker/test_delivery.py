"""No lost task, no duplicate effect: a real worker is killed, stopped and fed bad messages.

Security catalogue C01 (kill -9 of the pool child), C02 (kill -9 of the whole worker; Redis
only), C03 (SIGTERM: warm shutdown), C04 (SIGQUIT: cold shutdown), C07 (Redis restarting
mid-task; Redis only), C10 (JSON only). They run on the SQLite transport embedded and on Redis
in services mode.
"""

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.idempotency import IdempotencyRecord
from app.worker.db import worker_session
from tests.outages import relayed
from tests.worker.conftest import OwnWorkers, WorkerProcess, wait_for
from tests.worker.probe_tasks import EFFECT_SCOPE, RECORD

HOLD_SECONDS = 3.0


def effects(settings: Settings, key: str) -> int:
    session: Session
    with worker_session(settings.database_url, settings.database_statement_timeout_ms) as session:
        query = select(func.count()).where(
            IdempotencyRecord.scope == EFFECT_SCOPE, IdempotencyRecord.key == key
        )
        return session.scalar(query) or 0


def deliveries(marker_dir: Path, key: str) -> list[Path]:
    return sorted(marker_dir.glob(f"{key}.*.started"), key=os.path.getmtime)


def publish_record(
    own_workers: OwnWorkers, key: str, marker_dir: Path, hold_seconds: float = HOLD_SECONDS
) -> None:
    own_workers.queue.publish(RECORD, key, [key, str(marker_dir), hold_seconds], principal=None)


def start_with_a_running_task(
    own_workers: OwnWorkers, marker_dir: Path, hold_seconds: float = HOLD_SECONDS
) -> tuple[WorkerProcess, str]:
    """A new worker, once it has started running a new `record` task; the task's key."""
    worker = own_workers.start()
    key = uuid.uuid4().hex
    publish_record(own_workers, key, marker_dir, hold_seconds)
    wait_for(lambda: len(deliveries(marker_dir, key)) == 1, "the task to start")
    return worker, key


def test_kill_child_mid_task_not_lost(
    own_workers: OwnWorkers, settings: Settings, tmp_path: Path
) -> None:
    worker, key = start_with_a_running_task(own_workers, tmp_path)
    child = int(deliveries(tmp_path, key)[0].read_text())
    os.kill(child, signal.SIGKILL)

    # reject_on_worker_lost puts the message back; the new child runs it to the end.
    wait_for(lambda: effects(settings, key) == 1, f"the redelivered task:\n{worker.log()}")
    assert len(deliveries(tmp_path, key)) == 2
    assert effects(settings, key) == 1


# Redis hands back an unacknowledged message once it is older than the visibility timeout,
# checked every few seconds by a running worker.
SHORT_VISIBILITY = {
    "CELERY_SOFT_TIME_LIMIT": "20",
    "CELERY_TIME_LIMIT": "30",
    "CELERY_VISIBILITY_TIMEOUT": "60",
}
REDELIVERY_DEADLINE = 180.0


def test_kill_worker_mid_task_redelivered(
    own_workers: OwnWorkers, settings: Settings, tmp_path: Path, redis_url: str | None
) -> None:
    if redis_url is None:
        # The SQLite transport keeps unacknowledged messages in the dead process's memory:
        # it is for development on one machine, and this guarantee needs Redis.
        pytest.skip("redelivery after a worker crash needs Redis: set TEST_REDIS_URL")
    own_workers.env.update(SHORT_VISIBILITY)
    first, key = start_with_a_running_task(own_workers, tmp_path)
    child = int(deliveries(tmp_path, key)[0].read_text())
    # The whole worker dies at once (OOM killer, node loss): nobody acknowledges or rejects.
    first.stop(signal.SIGKILL)
    os.kill(child, signal.SIGKILL)

    second = own_workers.start()
    wait_for(
        lambda: effects(settings, key) == 1,
        f"redelivery after the visibility timeout:\n{second.log()}",
        REDELIVERY_DEADLINE,
    )
    assert len(deliveries(tmp_path, key)) == 2
    assert effects(settings, key) == 1


async def test_broker_restart_mid_task_completes_once(
    own_workers: OwnWorkers, settings: Settings, tmp_path: Path, redis_url: str | None
) -> None:
    if redis_url is None:
        pytest.skip("a broker restart needs a Redis to restart: set TEST_REDIS_URL")
    async with relayed(redis_url) as relay:
        # The worker reaches Redis through the relay; the test publishes directly.
        own_workers.env.update(
            SHORT_VISIBILITY | {"CELERY_BROKER_URL": relay.url, "CELERY_RESULT_BACKEND": relay.url}
        )
        worker = await asyncio.to_thread(own_workers.start)
        key = uuid.uuid4().hex
        publish_record(own_workers, key, tmp_path)
        await asyncio.to_thread(
            wait_for, lambda: len(deliveries(tmp_path, key)) == 1, "the task to start"
        )
        # Redis goes away while the task runs (a restart that keeps its data) and comes back.
        await relay.stop()
        await asyncio.sleep(HOLD_SECONDS)
        await relay.start()

        await asyncio.to_thread(
            wait_for,
            lambda: effects(settings, key) == 1,
            f"the task after the broker came back:\n{worker.log()}",
            REDELIVERY_DEADLINE,
        )
    # It finished (maybe redelivered once more, its acknowledgement lost): one effect.
    assert 1 <= len(deliveries(tmp_path, key)) <= 2
    assert effects(settings, key) == 1


def test_sigterm_warm_shutdown_completes(
    own_workers: OwnWorkers, settings: Settings, tmp_path: Path
) -> None:
    worker, key = start_with_a_running_task(own_workers, tmp_path)

    assert worker.stop(signal.SIGTERM) == 0, worker.log()
    # Warm shutdown: the running task finished before the worker exited.
    assert effects(settings, key) == 1
    assert len(deliveries(tmp_path, key)) == 1


def test_sigquit_lets_a_short_task_finish_within_the_soft_shutdown(
    own_workers: OwnWorkers, settings: Settings, tmp_path: Path
) -> None:
    own_workers.env["CELERY_SOFT_SHUTDOWN_TIMEOUT"] = "4"
    worker, key = start_with_a_running_task(own_workers, tmp_path, hold_seconds=1.0)

    assert worker.stop(signal.SIGQUIT) == 0, worker.log()
    assert "Initiating Soft Shutdown" in worker.log()
    assert effects(settings, key) == 1
    assert len(deliveries(tmp_path, key)) == 1


def test_sigquit_cold_shutdown_requeues(
    own_workers: OwnWorkers, settings: Settings, tmp_path: Path
) -> None:
    # The task outlasts the soft shutdown, so the cold shutdown stops it and puts it back.
    own_workers.env["CELERY_SOFT_SHUTDOWN_TIMEOUT"] = "1"
    first, key = start_with_a_running_task(own_workers, tmp_path)

    assert first.stop(signal.SIGQUIT) == 0, first.log()
    assert "Restoring 1 unacknowledged message(s)" in first.log()
    assert effects(settings, key) == 0

    # Back on the queue at once: the next worker runs it long before the visibility timeout
    # (an hour) would have handed it out again.
    second = own_workers.start()
    wait_for(lambda: effects(settings, key) == 1, f"the requeued task:\n{second.log()}")
    assert len(deliveries(tmp_path, key)) == 2


def test_serializer_json_only(own_workers: OwnWorkers, settings: Settings, tmp_path: Path) -> None:
    worker = own_workers.start()
    refused, accepted = uuid.uuid4().hex, uuid.uuid4().hex
    # A client that ignores the JSON-only rule; the worker must not unpickle its message.
    own_workers.queue.celery.send_task(
        RECORD, args=[refused, str(tmp_path), 0], task_id=refused, serializer="pickle"
    )
    publish_record(own_workers, accepted, tmp_path)

    wait_for(lambda: effects(settings, accepted) == 1, f"the JSON task:\n{worker.log()}")
    assert "pickle" in worker.log()
    assert deliveries(tmp_path, refused) == []
    assert effects(settings, refused) == 0
