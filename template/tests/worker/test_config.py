"""The Celery configuration that keeps tasks from being lost, duplicated in effect or run from
untrusted content, and the settings that guard it."""

import pytest
import structlog.testing
from pydantic import ValidationError

from app.core.config import Settings
from app.worker import TaskQueue, WorkerSettings
from app.worker.factory import EXPORT_ITEMS, PURGE_IDEMPOTENCY_RECORDS, create_celery


def worker_settings(**overrides: object) -> WorkerSettings:
    return WorkerSettings(_env_file=None, **overrides)  # type: ignore[arg-type]


def test_delivery_guarantees(settings: Settings) -> None:
    # Redis, where the visibility timeout applies (creating the app connects to nothing).
    conf = create_celery(settings, worker_settings(broker_url="redis://cache:6379/0")).conf

    assert conf.accept_content == ["json"]
    assert conf.result_accept_content == ["json"]
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    transport = conf.broker_transport_options
    assert transport["visibility_timeout"] > conf.task_time_limit
    # Publishing gives up quickly when Redis is down (the API answers 503).
    assert transport["socket_connect_timeout"] == transport["socket_timeout"] == 1.0
    assert conf.result_expires == worker_settings().result_expires


def test_tasks_retry_transient_errors_with_capped_jittered_backoff(settings: Settings) -> None:
    celery = create_celery(settings, worker_settings(max_retries=4, retry_backoff_max=120))
    for name in (EXPORT_ITEMS, PURGE_IDEMPOTENCY_RECORDS):
        # The decorator's options become attributes of the generated task class.
        options = vars(type(celery.tasks[name]))
        assert options["autoretry_for"]
        assert options["retry_backoff"] is True
        assert options["retry_jitter"] is True
        assert options["retry_backoff_max"] == 120
        assert options["max_retries"] == 4


def test_beat_schedules_the_purge(settings: Settings) -> None:
    conf = create_celery(settings, worker_settings(purge_interval=600)).conf
    (entry,) = conf.beat_schedule.values()
    assert entry == {"task": PURGE_IDEMPOTENCY_RECORDS, "schedule": 600.0}


@pytest.mark.parametrize(
    ("redis", "explicit", "expected"),
    [
        (None, None, "sqla+sqlite:///"),
        ("redis://cache:6379/0", None, "redis://cache:6379/0"),
        ("redis://cache:6379/0", "redis://broker:6379/1", "redis://broker:6379/1"),
    ],
)
def test_broker_follows_settings(redis: str | None, explicit: str | None, expected: str) -> None:
    assert worker_settings(broker_url=explicit).resolved_broker_url(redis).startswith(expected)


def test_production_warns_about_the_local_sqlite_queue(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": "production", "redis_url": None})
    with structlog.testing.capture_logs() as logs:
        # broker_url=None explicitly: the test run's CELERY_BROKER_URL may name Redis.
        create_celery(production, worker_settings(broker_url=None))
        create_celery(production, worker_settings(broker_url="redis://cache:6379/0"))
    assert [entry["event"] for entry in logs] == ["local_task_queue"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"soft_time_limit": 300, "time_limit": 300}, "CELERY_SOFT_TIME_LIMIT"),
        ({"time_limit": 4000, "soft_time_limit": 100}, "CELERY_VISIBILITY_TIMEOUT"),
    ],
)
def test_inconsistent_limits_are_refused(overrides: dict[str, int], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        worker_settings(**overrides)


def test_eta_longer_than_visibility_rejected(settings: Settings) -> None:
    """C08: Redis would hand a message waiting longer than the visibility timeout to a second
    worker while the first still holds it."""
    queue_settings = worker_settings()
    queue = TaskQueue(create_celery(settings, queue_settings), queue_settings)
    with pytest.raises(ValueError, match="CELERY_VISIBILITY_TIMEOUT"):
        queue.publish(EXPORT_ITEMS, "t", ["t"], None, countdown=queue_settings.visibility_timeout)
