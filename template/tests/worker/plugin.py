"""Loaded for every test while the celery feature is present (see tests/conftest.py).

Every app a test starts publishes to a queue of this run only (CELERY_QUEUE), on Redis at
TEST_REDIS_URL or on a SQLite broker in a temporary directory, so a stray task never reaches
another run's worker and nothing lands in the project directory. The queue is deleted after
the run.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis


def pytest_configure(config: pytest.Config) -> None:
    # kombu 5.7's SQLite transport (the embedded broker) maps its tables with `noload`,
    # deprecated in SQLAlchemy 2.1; harmless there, and not ours to change.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning",
    )


def delete_queue(redis_url: str, queue: str) -> None:
    """Drop a queue's Redis lists (one per priority step) and kombu's bindings of its
    exchange (named like the queue), left over by a test run."""
    lists = [queue, *(f"{queue}\x06\x16{priority}" for priority in (3, 6, 9))]
    bindings = [f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    client = Redis.from_url(redis_url)
    try:
        client.delete(*lists, *bindings)
    finally:
        client.close()


@pytest.fixture(scope="session")
def celery_env(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str | None
) -> Iterator[dict[str, str]]:
    local_dir: Path = tmp_path_factory.mktemp("celery")
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        "CELERY_QUEUE": queue,
        "CELERY_LOCAL_DIR": str(local_dir),
        "CELERY_BROKER_URL": redis_url or f"sqla+sqlite:///{local_dir / 'broker.db'}",
        "CELERY_RESULT_BACKEND": redis_url or f"db+sqlite:///{local_dir / 'results.db'}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield env
    if redis_url is not None:
        delete_queue(redis_url, queue)


@pytest.fixture(autouse=True)
def _celery_env(celery_env: dict[str, str]) -> dict[str, str]:
    return celery_env
