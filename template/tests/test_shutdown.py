"""Graceful shutdown: with a real uvicorn process SIGTERM lets in-flight requests finish and
readiness drains; the lifespan closes the database pool on the way out (catalogue G01, G03, G05).
"""

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
    postgres_database,
)
from tests.outages import free_port

IN_FLIGHT = 5
GRACEFUL_TIMEOUT_SECONDS = 10


async def wait_until_serving(base_url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    async with httpx2.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            assert process.returncode is None, "the server exited during start-up"
            try:
                if (await client.get("/health/live")).status_code == 200:
                    return
            except httpx2.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError("the server did not start within 30 s")


@asynccontextmanager
async def serving(
    database_url: str, log: Path, **environment: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """tests/shutdown_app.py served by a real uvicorn process; killed if a test leaves it up."""
    port = free_port()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "tests.shutdown_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
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
    base_url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(base_url, process)
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


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="counting open connections needs a database server (services mode)",
)
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
