"""Real outages for tests: a relay that cuts a real Redis or PostgreSQL off and restores it.

Stopping the relay refuses new connections and drops the open ones, which is what the app
sees when the server stops; starting it again on the same port is the server coming back.
Each feature that uses Redis has outage tests showing what it does while Redis is away and
that it recovers without a restart. The Redis behind the relay is TEST_REDIS_URL in services
mode (never stopped: other runs may share it), else a private `redis-server` on a free port,
stopped by PID afterwards (tests/conftest.py: `real_redis_url`).
"""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx2
import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

START_TIMEOUT_SECONDS = 10.0
RECOVERY_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"`{name}` is not installed; install it (apt-get install redis-server) for this test"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def private_redis_server() -> Iterator[str]:
    """A throw-away redis-server without persistence; yields its URL."""
    binary = require_binary("redis-server")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_redis(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while True:
            try:
                client.ping()
                return
            except RedisError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


class Relay:
    """A TCP hop to a real server (Redis, PostgreSQL) that can be cut off and restored."""

    def __init__(self, target_url: str) -> None:
        target = make_url(target_url)
        default_port = 6379 if target.drivername == "redis" else 5432
        self.target = (target.host or "127.0.0.1", target.port or default_port)
        self.port = free_port()
        self.url = target.set(host="127.0.0.1", port=self.port).render_as_string(False)
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._accepting: set[asyncio.Task[object]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._stopping = False
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Refuse new connections and drop the open ones, as a stopped Redis would."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        # A connection accepted just before still dials upstream; it closes itself on seeing
        # _stopping. Left running, it would outlive the relay as an unclosed transport.
        await asyncio.gather(*self._accepting, return_exceptions=True)
        writers = list(self._writers)
        for writer in writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepting = asyncio.current_task()
        assert accepting is not None
        self._accepting.add(accepting)
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.close()
                return
            if self._stopping:
                writer.close()
                upstream_writer.close()
                return
            self._writers |= {writer, upstream_writer}
            for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
                task = asyncio.create_task(self._pipe(source, sink))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            self._accepting.discard(accepting)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.close()
            self._writers.discard(sink)


@contextlib.asynccontextmanager
async def relayed(target_url: str) -> AsyncIterator[Relay]:
    """A started relay to `target_url`, stopped (and its connections dropped) afterwards."""
    relay = Relay(target_url)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


async def recovers(request: Callable[[], Awaitable[httpx2.Response]], status: int) -> int:
    """Repeat `request` until it answers `status` (the server is back: the app needs no restart,
    but a pooled connection may fail once more); the status seen last, for the assertion."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        seen = (await request()).status_code
        if seen == status or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.1)
