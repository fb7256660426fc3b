"""Alembic upgrade heads / check / downgrade base / upgrade heads, all in one process.

Run by the rendered project's own interpreter inside the project directory, so the app and its
dependencies are imported once instead of once per command. Arguments: one database URL per
cycle. A URL starting with `server:` names a PostgreSQL server: a fresh database is created on it
for the cycle and dropped afterwards (each combination of a matrix gets its own).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import time
import uuid

COMMANDS = (("upgrade", "heads"), ("check",), ("downgrade", "base"), ("upgrade", "heads"))


def _clear_settings_cache() -> None:
    # The app caches its settings (DATABASE_URL included); a second cycle needs them re-read.
    try:
        config = importlib.import_module("app.core.config")
    except ImportError:
        return
    getter = getattr(config, "get_settings", None)
    if getter is not None and hasattr(getter, "cache_clear"):
        getter.cache_clear()


async def _admin(url: str, statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    target = make_url(url).set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(target.render_as_string(hide_password=False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _cycle(url: str, label: str) -> bool:
    from alembic.config import main

    os.environ["DATABASE_URL"] = url
    _clear_settings_cache()
    for command in COMMANDS:
        started = time.monotonic()
        print(f"$ alembic {' '.join(command)}  [{label}]", flush=True)
        try:
            main(argv=list(command), prog="alembic")
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                print(f"FAILED: alembic {' '.join(command)} [{label}] (exit {exit_.code})")
                return False
        print(f"  ok in {time.monotonic() - started:.2f}s", flush=True)
    return True


def run(argument: str) -> bool:
    if not argument.startswith("server:"):
        return _cycle(argument, argument.split(":", 1)[0])
    from sqlalchemy.engine import make_url

    server = make_url(argument.removeprefix("server:"))
    name = f"{server.database or 'test'}_alembic_{uuid.uuid4().hex[:12]}"
    url = server.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    try:
        return _cycle(url, f"postgresql database {name}")
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    sys.path.insert(0, os.getcwd())
    ok = True
    for argument in sys.argv[1:]:
        ok = run(argument) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
