"""The worker's database access: a synchronous engine on the same database as the API.

Tasks run in prefork children, one task at a time, so plain blocking SQLAlchemy is the
simple and correct choice: sqlite3 for SQLite, psycopg 3 for PostgreSQL. The async driver
in DATABASE_URL is swapped for its synchronous sibling.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


def sync_url(database_url: str) -> URL:
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend not in SYNC_DRIVERS:
        raise ValueError(f"the worker supports SQLite and PostgreSQL, not {backend!r}")
    return url.set(drivername=SYNC_DRIVERS[backend])


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@lru_cache(maxsize=4)
def worker_engine(database_url: str, statement_timeout_ms: int) -> Engine:
    """One engine per worker process, created on first use (after the fork, never before)."""
    url = sync_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    return create_engine(
        url,
        # One task at a time per child: a small pool, checked before use after idle periods.
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        connect_args={"options": f"-c statement_timeout={statement_timeout_ms}"},
    )


@contextmanager
def worker_session(database_url: str, statement_timeout_ms: int) -> Iterator[Session]:
    engine = worker_engine(database_url, statement_timeout_ms)
    with sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
