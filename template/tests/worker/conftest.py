"""A real `celery worker` subprocess on this run's broker: Redis at TEST_REDIS_URL, else the
SQLite transport (no server). Tests wait for outcomes with generous deadlines; nothing
asserts on timing."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.config import Settings
from app.worker import TaskQueue, WorkerSettings
from app.worker.factory import create_celery
from tests.database import PROJECT_ROOT
from tests.worker.plugin import delete_queue

STARTUP_DEADLINE = 60.0
OUTCOME_DEADLINE = 60.0
POLL_INTERVAL = 0.1


def wait_for(condition: Callable[[], bool], what: str, deadline: float = OUTCOME_DEADLINE) -> None:
    """Poll until `condition()` holds; fail naming `what` if it never does."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(POLL_INTERVAL)


class WorkerProcess:
    """`celery worker` (one prefork child) with the probe tasks, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        name = f"test-{uuid.uuid4().hex[:8]}@%h"
        argv = [
            sys.executable, "-m", "celery", "-A", "app.worker.celery_app:celery_app", "worker",
            "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO", "--hostname", name,
            "--without-mingle", "--without-gossip", "-I", "tests.worker.probe_tasks",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(lambda: " ready." in self.log() or not self.running, "the worker to start",
                 STARTUP_DEADLINE)  # fmt: skip
        if not self.running:
            raise AssertionError(f"the worker exited at start-up:\n{self.log()}")
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal the main process and wait for it; its exit code."""
        assert self.process is not None
        if self.running:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=OUTCOME_DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the worker did not stop:\n{self.log()}") from None


@pytest.fixture(scope="session")
def worker_env(settings: Settings, celery_env: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        **celery_env,
        "ENVIRONMENT": "test",
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "DATABASE_URL": settings.database_url,
        "LOG_FORMAT": "console",
        # Short limits so a test of redelivery does not wait for the production defaults.
        "CELERY_SOFT_TIME_LIMIT": "50",
        "CELERY_TIME_LIMIT": "60",
        "CELERY_VISIBILITY_TIMEOUT": "90",
    }


def purge_queue(settings: Settings) -> int:
    """Drop the tasks waiting on this run's queue; how many there were."""
    celery = create_celery(settings, WorkerSettings(_env_file=None))
    try:
        return int(celery.control.purge() or 0)
    finally:
        celery.close()


@pytest.fixture(scope="session")
def worker(
    settings: Settings, worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One worker shared by the tests that only need tasks to run.

    It starts on an empty queue: tests that ran before it queued tasks nobody meant to run
    (every registration queues a welcome message), and working through that backlog first
    would hold up the tests waiting for their own task.
    """
    purge_queue(settings)
    process = WorkerProcess(worker_env, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield process
    process.stop()


class OwnWorkers:
    """Workers of one test (which it may kill) on a queue of that test alone, so the shared
    worker never takes its tasks; `queue` publishes there."""

    def __init__(self, env: dict[str, str], settings: Settings, log_dir: Path) -> None:
        self.env = {**env, "CELERY_QUEUE": f"{env['CELERY_QUEUE']}-{uuid.uuid4().hex[:8]}"}
        self.log_dir = log_dir
        worker_settings = WorkerSettings(_env_file=None, queue=self.env["CELERY_QUEUE"])
        self.queue = TaskQueue(create_celery(settings, worker_settings), worker_settings)
        self.started: list[WorkerProcess] = []

    def start(self) -> WorkerProcess:
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        process = WorkerProcess(self.env, log_path).start()
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.running:
                process.stop(signal.SIGKILL)
        self.queue.celery.close()


@pytest.fixture
def own_workers(
    worker_env: dict[str, str], settings: Settings, tmp_path: Path, redis_url: str | None
) -> Iterator[OwnWorkers]:
    workers = OwnWorkers(worker_env, settings, tmp_path)
    yield workers
    workers.close()
    if redis_url is not None:
        delete_queue(redis_url, workers.env["CELERY_QUEUE"])


@pytest.fixture
def task_queue(settings: Settings) -> Iterator[TaskQueue]:
    """A publisher like the API's, on this run's broker (CELERY_* from the environment)."""
    worker_settings = WorkerSettings(_env_file=None)
    celery = create_celery(settings, worker_settings)
    yield TaskQueue(celery, worker_settings)
    celery.close()
