"""Test databases: a fresh SQLite file, or a fresh PostgreSQL database per run, migrated
with Alembic exactly as a deployment would be."""

import asyncio
import io
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def needs_database_server(reason: str) -> pytest.MarkDecorator:
    """Skip in embedded mode (SQLite); `reason` names what only a server has. Services mode
    (TEST_DATABASE_URL set) runs the test."""
    return pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason=reason)


def alembic_config(database_url: str) -> Config:
    """alembic.ini, aimed at `database_url`, for Alembic commands run in the test process.

    In-process commands spare each one an interpreter that imports the whole app (seconds
    per command). migrations/env.py takes the URL from here instead of the cached settings
    and leaves the test run's logging alone. What a command prints lands in `stdout_text`.
    """
    config = Config(str(PROJECT_ROOT / "alembic.ini"), stdout=io.StringIO())
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = database_url
    return config


def stdout_text(config: Config) -> str:
    stream = config.stdout
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


async def migrate_to_heads(database_url: str) -> None:
    """`alembic upgrade heads` from async code: env.py runs an event loop of its own, so the
    command runs in a worker thread."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "heads")


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_postgres_database(base_url: str) -> str:
    """Create `<base database>_<random>` on the server of `base_url`; return its URL."""
    base = make_url(base_url)
    name = f"{base.database or 'test'}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return base.set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(url: str) -> None:
    target = make_url(url)
    admin = target.set(database="postgres")
    connection = await asyncpg.connect(_asyncpg_dsn(admin))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await connection.close()


@asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the server of `server_url`, dropped on the way out."""
    url = await _create_postgres_database(server_url)
    try:
        yield url
    finally:
        await _drop_postgres_database(url)
