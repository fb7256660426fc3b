"""Celery end to end: tasks/s and latency through the project's own task path and worker.

Runs inside the rendered project's environment, with the project directory as the working
directory and on PYTHONPATH (it imports `app`), and the service's settings in the
environment (DATABASE_URL, REDIS_URL, CELERY_QUEUE), while a worker of the project
(`celery -A app.worker.celery_app:celery_app worker`) consumes that queue:

    python celery_tasks.py --tasks 500 --paced 50 --rate 10 --output celery.json

Tasks are published the way the API publishes them: a `TaskQueue` over the Celery app that
`create_celery(settings)` builds (JSON, the caller-context headers, acks late). The task is
`worker.welcome_user`, the one the API queues for every registration: a select and an insert
in PostgreSQL, its result in the result backend. Each task's end is the `date_done` the
worker stores with its result, so latency is publish to stored result, on this machine's
clock, and polling (one MGET of the result keys) adds nothing to it. It needs the Redis
result backend of services mode.

- Burst: `--tasks` tasks published at once; tasks/s = tasks / (last end - first publish).
- Paced: `--paced` tasks at `--rate` per second, so the queue stays short: the latency of a
  single task through broker, worker, database and result backend.

A few unmeasured tasks first wait for the worker to be up. Writes one JSON document.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import datetime
from typing import Any

import latency
from app.core.config import get_settings
from app.worker.config import WorkerSettings
from app.worker.factory import WELCOME_USER, create_celery
from app.worker.queue import TaskQueue

WARMUP_TASKS = 4
# Waiting bounds, not measurements: a task not done by then counts as lost.
WORKER_START_TIMEOUT = 120.0
DONE_TIMEOUT = 300.0


def _seconds(moment: datetime | str) -> float:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.timestamp()


class Driver:
    def __init__(self) -> None:
        worker = WorkerSettings()
        self.celery = create_celery(get_settings(), worker)
        self.queue = TaskQueue(self.celery, worker)

    def publish(self) -> tuple[str, float]:
        task_id = str(uuid.uuid4())
        published = time.time()
        # A fresh user id per task: the task's idempotency check finds no row, so each one
        # does the full work (select, insert, commit).
        self.queue.publish(WELCOME_USER, task_id, [f"bench-{task_id}"], None)
        return task_id, published

    def wait(self, published: dict[str, float], timeout: float) -> dict[str, float]:
        """Latency (seconds) of each task that finished within `timeout`."""
        backend = self.celery.backend
        done: dict[str, float] = {}
        pending = dict(published)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            ids = list(pending)
            # One MGET per poll: the result keys of every pending task.
            values = backend.mget([backend.get_key_for_task(task_id) for task_id in ids])
            for task_id, value in zip(ids, values, strict=True):
                if value is None:
                    continue
                meta = backend.decode_result(value)
                if meta["status"] == "SUCCESS":
                    done[task_id] = _seconds(meta["date_done"]) - pending.pop(task_id)
                elif meta["status"] == "FAILURE":
                    raise RuntimeError(f"task {task_id} failed: {meta['result']!r}")
            if pending:
                time.sleep(0.1)
        return done

    def burst(self, count: int) -> dict[str, Any]:
        published = dict(self.publish() for _ in range(count))
        first = min(published.values())
        latencies = self.wait(published, DONE_TIMEOUT)
        ends = [published[task_id] + latency for task_id, latency in latencies.items()]
        elapsed = max(ends) - first if ends else float("nan")
        return {
            "tasks": count,
            "completed": len(latencies),
            "seconds": elapsed,
            "tasks_per_second": len(latencies) / elapsed if ends and elapsed > 0 else None,
            **_latency(list(latencies.values())),
        }

    def paced(self, count: int, rate: float) -> dict[str, Any]:
        published: dict[str, float] = {}
        started = time.monotonic()
        for index in range(count):
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
            task_id, moment = self.publish()
            published[task_id] = moment
        latencies = self.wait(published, DONE_TIMEOUT)
        return {
            "tasks": count,
            "rate_per_second": rate,
            "completed": len(latencies),
            **_latency(list(latencies.values())),
        }


def _latency(seconds: list[float]) -> dict[str, float | None]:
    return latency.summary([1000 * value for value in seconds])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks of the burst")
    parser.add_argument("--paced", type=int, default=50, help="tasks of the paced run")
    parser.add_argument("--rate", type=float, default=10.0, help="paced tasks per second")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    driver = Driver()
    warmup = dict(driver.publish() for _ in range(WARMUP_TASKS))
    if len(driver.wait(warmup, WORKER_START_TIMEOUT)) < WARMUP_TASKS:
        raise SystemExit("the worker did not run the warm-up tasks: is it consuming the queue?")
    result = {"burst": driver.burst(args.tasks), "paced": driver.paced(args.paced, args.rate)}
    with open(args.output, "w", encoding="utf-8") as output:
        json.dump(result, output, indent=1)


if __name__ == "__main__":
    main()
