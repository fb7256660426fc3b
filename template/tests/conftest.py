"""Fixtures: a migrated database per run, a running app per test, an HTTP client.

Embedded by default (SQLite, no Redis). Set TEST_DATABASE_URL (e.g.
postgresql+asyncpg://postgres@127.0.0.1:5432/test) to run the same tests on a fresh
PostgreSQL database created for this run and dropped afterwards; set TEST_REDIS_URL to
use Redis.
"""

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import delete

from app.core.config import Settings
from app.core.db import create_engine
from app.main import create_app
from app.models import Base
from tests import fuzzing
from tests.database import migrate_to_heads, postgres_database
from tests.outages import Relay, private_redis_server, relayed

# A feature's test package may ship `plugin.py` with fixtures that every test needs while
# the feature is present (e.g. isolating its shared state); it leaves with the feature.
pytest_plugins = sorted(
    f"tests.{path.parent.name}.plugin" for path in Path(__file__).parent.glob("*/plugin.py")
)

TEST_SECRET_KEY = "test-only-4f9c2b7e1a8d6c3f0e5b9a2d7c4e1f8a"
BASE_URL = "http://test"

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx2.AsyncClient]]

# How a test identifies itself to the API. Anonymous unless a feature that guards the API
# (auth) registers a provider from its plugin.py: it returns the headers of a caller with
# the given role ("user" or "admin"). Shared tests then run unchanged whatever is present.
CredentialProvider = Callable[[Settings, str], Awaitable[dict[str, str]]]
credential_providers: list[CredentialProvider] = []
# What such a feature adds to an app for those headers to count, for tests that assemble an
# app by hand instead of calling create_app().
identity_installers: list[Callable[[FastAPI, Settings], None]] = []


async def credentials(settings: Settings, role: str = "user") -> dict[str, str]:
    headers: dict[str, str] = {}
    for provider in credential_providers:
        headers |= await provider(settings, role)
    return headers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many fuzz examples ran (tests/fuzzing.py), for CI logs and matrix reports."""
    reports = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if isinstance(report, pytest.TestReport)
    ]
    line = fuzzing.summary_line(reports)
    if line is not None:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await migrate_to_heads(url)
        yield url
        return
    async with postgres_database(server_url) as url:
        await migrate_to_heads(url)
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or None


@pytest.fixture
def real_redis_url(redis_url: str | None) -> Iterator[str]:
    """A Redis for outage tests even embedded: TEST_REDIS_URL, else a private redis-server."""
    if redis_url is not None:
        yield redis_url
        return
    with private_redis_server() as url:
        yield url


@pytest.fixture
async def redis_relay(
    settings: Settings, real_redis_url: str
) -> AsyncIterator[tuple[Relay, Settings]]:
    """A relay to a real Redis that a test can cut (tests/outages.py), and the settings of an
    app that reaches Redis through it."""
    async with relayed(real_redis_url) as relay:
        yield relay, settings.model_copy(update={"redis_url": relay.url})


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(database_url=database_url, redis_url=redis_url)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", "secret_key": TEST_SECRET_KEY}
    return Settings(_env_file=None, **(values | overrides))


@asynccontextmanager
async def running_client(
    settings: Settings,
    customize: Callable[[FastAPI], None] | None = None,
    *,
    anonymous: bool = False,
) -> AsyncIterator[httpx2.AsyncClient]:
    """A started app (lifespan included) behind an in-process HTTP client, signed in as a
    user where the API needs one (see `credentials`) unless `anonymous`."""
    app = create_app(settings)
    if customize is not None:
        customize(app)
    async with (
        LifespanManager(app) as manager,
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=manager.app), base_url=BASE_URL
        ) as client,
    ):
        if not anonymous:
            client.headers.update(await credentials(settings))
        yield client


@pytest.fixture
def client_for(settings: Settings) -> ClientFactory:
    """Start an app with some settings changed: `async with client_for(debug=True) as c:`."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[httpx2.AsyncClient]:
        return running_client(settings.model_copy(update=overrides))

    return factory


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    async with running_client(settings) as client:
        yield client


@pytest.fixture(autouse=True)
async def _empty_tables(settings: Settings) -> AsyncIterator[None]:
    yield
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
    finally:
        await engine.dispose()
