"""Real uvicorn processes serving the app, for tests that need a real network between them."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.database import PROJECT_ROOT
from tests.test_shutdown import wait_until_serving

# What the Dockerfile would pass to uvicorn for this service.
WS_MAX_SIZE = 65_536


@dataclass
class Server:
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def terminate(self) -> int:
        """SIGTERM, as an orchestrator stops a pod; the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)


@asynccontextmanager
async def uvicorn_server(
    database_url: str, redis_url: str | None, log: Path, **env: str
) -> AsyncIterator[Server]:
    """The app in its own uvicorn process on a port it picks, with these extra WS_* variables."""
    variables = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        # These clients connect anonymously, whatever authentication layer is installed.
        "WS_REQUIRE_AUTHENTICATION": "false",
        **env,
    }
    variables.pop("REDIS_URL", None)
    if redis_url is not None:
        variables["REDIS_URL"] = redis_url
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ws-max-size",
            str(WS_MAX_SIZE),
            "--log-level",
            "info",
            cwd=PROJECT_ROOT,
            env=variables,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        base_url = await wait_until_serving(log, process)
        yield Server(int(base_url.rsplit(":", 1)[1]), process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
