"""Graceful shutdown: with a real uvicorn process SIGTERM lets in-flight requests finish and
readiness drains; the lifespan closes the database pool on the way out; a rolling restart
under load fails no request (catalogue G01, G03, G04, G05).
"""

import asyncio
import itertools
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import Settings
from tests.conftest import running_client
from tests.database import (
    PROJECT_ROOT,
    migrate_to_heads,
    needs_database_server,
    postgres_database,
)

IN_FLIGHT = 5
GRACEFUL_TIMEOUT_SECONDS = 10
# uvicorn picks a free port itself (--port 0) and says which: no other process can take the
# port between choosing and binding it, as with several test runs on one machine.
LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def wait_until_serving(log: Path, process: asyncio.subprocess.Process) -> str:
    """The server's base URL, once it answers /health/live."""
    deadline = time.monotonic() + 30
    base_url: str | None = None
    async with httpx2.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.returncode is None, f"exited during start-up:\n{read_log(log)}"
            listening = LISTENING.search(read_log(log))
            if listening is not None:
                base_url = listening.group(1)
                try:
                    if (await client.get(f"{base_url}/health/live")).status_code == 200:
                        return base_url
                except httpx2.TransportError:
                    pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"no server within 30 s (at {base_url}):\n{read_log(log)}")


@asynccontextmanager
async def serving(
    database_url: str, log: Path, **environment: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """tests/shutdown_app.py served by a real uvicorn process; killed if a test leaves it up."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "tests.shutdown_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--timeout-graceful-shutdown",
            str(GRACEFUL_TIMEOUT_SECONDS),
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "PYTHONUNBUFFERED": "1",
                **environment,
            },
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        base_url = await wait_until_serving(log, process)
        yield base_url, process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_lets_in_flight_requests_finish(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    async with serving(database_url, log) as (base_url, process):
        async with httpx2.AsyncClient(base_url=base_url, timeout=30) as client:
            requests = [asyncio.create_task(client.get("/slow")) for _ in range(IN_FLIGHT)]
            await asyncio.sleep(0.5)  # every request is now being handled
            process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*requests)
        exit_code = await asyncio.wait_for(process.wait(), GRACEFUL_TIMEOUT_SECONDS)

    assert [response.status_code for response in responses] == [200] * IN_FLIGHT
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean stop
    assert "Application shutdown complete" in log.read_text()


async def test_readiness_turns_503_while_draining_and_new_requests_are_still_served(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    drain_seconds = 3
    drain = {"SHUTDOWN_DRAIN_SECONDS": str(drain_seconds)}
    async with serving(database_url, log, **drain) as (base_url, process):
        async with httpx2.AsyncClient(base_url=base_url, timeout=30) as client:
            assert (await client.get("/health/ready")).status_code == 200
            in_flight = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            # Draining: still up (a fresh connection is accepted), but no longer ready.
            async with httpx2.AsyncClient(base_url=base_url, timeout=5) as fresh:
                readiness = await fresh.get("/health/ready")
                served_while_draining = await fresh.get("/slow")
            slow = await in_flight
        assert process.returncode is None, "the server stopped before the drain period ended"
        exit_code = await asyncio.wait_for(process.wait(), drain_seconds + GRACEFUL_TIMEOUT_SECONDS)

    assert readiness.status_code == 503
    assert readiness.json()["status"] == "draining"
    assert served_while_draining.status_code == 200
    assert slow.status_code == 200
    assert exit_code in (0, -signal.SIGTERM)
    output = log.read_text()
    assert "draining" in output
    assert "Application shutdown complete" in output


async def other_connections(database_url: str) -> int:
    """Connections to this database other than the one asking (PostgreSQL)."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
    return int(count or 0)


@pytest.fixture
async def private_database_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL database that nothing else in the run connects to: a Celery
    worker or another test's server holds connections to the shared one."""
    async with postgres_database(os.environ["TEST_DATABASE_URL"]) as url:
        await migrate_to_heads(url)
        yield url


async def settled_connections(database_url: str) -> int:
    """Connections still open once closed ones are gone: a server process leaves
    pg_stat_activity a moment after its client hangs up."""
    deadline = time.monotonic() + 5
    while True:
        count = await other_connections(database_url)
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


@needs_database_server("counting open connections needs a database server (services mode)")
async def test_shutdown_closes_the_database_pool(
    settings: Settings, private_database_url: str
) -> None:
    own_database = settings.model_copy(update={"database_url": private_database_url})
    async with running_client(own_database, anonymous=True) as client:
        # Readiness queries the database through the app's pool.
        assert (await client.get("/health/ready")).status_code == 200
        while_serving = await other_connections(private_database_url)

    assert while_serving >= 1  # the pool keeps its connection between requests
    assert await settled_connections(private_database_url) == 0


class ReadinessBalancer:
    """What a Kubernetes Service does for the test: each request goes to the next instance
    whose /health/ready answered 200 at the last poll, over a new connection, with no retry.

    An answer other than 200 or a refused connection takes the instance out at once; a poll
    that times out (a busy machine) changes nothing, as a readiness probe's failureThreshold
    lets one slow answer pass."""

    def __init__(self) -> None:
        self.instances: list[str] = []
        self.ready: set[str] = set()
        self._turn = itertools.count()

    async def poll_forever(self, interval: float = 0.1) -> None:
        async with httpx2.AsyncClient(timeout=1) as client:

            async def poll(base_url: str) -> None:
                try:
                    response = await client.get(f"{base_url}/health/ready")
                    is_ready = response.status_code == 200
                except httpx2.TimeoutException:
                    return
                except httpx2.TransportError:
                    is_ready = False
                (self.ready.add if is_ready else self.ready.discard)(base_url)

            while True:
                await asyncio.gather(*(poll(base_url) for base_url in list(self.instances)))
                await asyncio.sleep(interval)

    def pick(self) -> str | None:
        ready = [base_url for base_url in self.instances if base_url in self.ready]
        return ready[next(self._turn) % len(ready)] if ready else None

    async def wait_ready(self, base_url: str) -> None:
        deadline = time.monotonic() + 30
        while base_url not in self.ready:
            assert time.monotonic() < deadline, f"{base_url} never became ready"
            await asyncio.sleep(0.05)


async def steady_load(
    balancer: ReadinessBalancer, outcomes: Counter[str], served_by: Counter[str], rate: float
) -> None:
    """Requests at `rate` per second, each on its own connection, until cancelled."""

    async def one(base_url: str) -> None:
        try:
            async with httpx2.AsyncClient(base_url=base_url, timeout=10) as client:
                response = await client.get("/work")
            outcomes[str(response.status_code)] += 1
            served_by[base_url] += response.status_code == 200
        except httpx2.TransportError as error:
            outcomes[type(error).__name__] += 1

    requests: set[asyncio.Task[None]] = set()
    try:
        while True:
            base_url = balancer.pick()
            if base_url is None:
                outcomes["no ready instance"] += 1
            else:
                task = asyncio.create_task(one(base_url))
                requests.add(task)
                task.add_done_callback(requests.discard)
            await asyncio.sleep(1 / rate)
    finally:
        await asyncio.gather(*requests)


async def test_a_rolling_restart_under_load_fails_no_request(
    database_url: str, tmp_path: Path
) -> None:
    """Two instances behind the balancer are replaced one at a time (start the new one, wait
    until it is ready, SIGTERM the old one), as a Deployment with maxSurge 1 and
    maxUnavailable 0 does, while requests keep arriving. The old instance drains: readiness
    503 first, so the balancer stops sending to it before it stops accepting."""
    # Several readiness polls long, so a busy machine does not outrun the balancer.
    drain_seconds = 3
    drain = {"SHUTDOWN_DRAIN_SECONDS": str(drain_seconds)}
    balancer = ReadinessBalancer()
    outcomes: Counter[str] = Counter()
    served_by: Counter[str] = Counter()
    async with AsyncExitStack() as stack:

        async def start(name: str) -> tuple[str, asyncio.subprocess.Process]:
            log = tmp_path / f"{name}.log"
            base_url, process = await stack.enter_async_context(serving(database_url, log, **drain))
            balancer.instances.append(base_url)
            await balancer.wait_ready(base_url)
            return base_url, process

        poller = asyncio.create_task(balancer.poll_forever())
        old = [await start("old-0"), await start("old-1")]
        load = asyncio.create_task(steady_load(balancer, outcomes, served_by, rate=40))
        await asyncio.sleep(1)
        new = []
        for index, (old_url, old_process) in enumerate(old):
            new.append(await start(f"new-{index}"))
            old_process.send_signal(signal.SIGTERM)
            exit_code = await asyncio.wait_for(
                old_process.wait(), drain_seconds + GRACEFUL_TIMEOUT_SECONDS
            )
            assert exit_code in (0, -signal.SIGTERM)
            balancer.instances.remove(old_url)
        await asyncio.sleep(1)
        load.cancel()
        poller.cancel()
        await asyncio.gather(load, poller, return_exceptions=True)

    assert set(outcomes) == {"200"}, outcomes
    assert outcomes["200"] >= 100, outcomes
    # Both generations served: the restart really happened under load.
    assert all(served_by[base_url] > 0 for base_url, _ in old + new), served_by
