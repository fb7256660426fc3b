"""The migrations build exactly the schema the models describe, and unwind cleanly."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.database import PROJECT_ROOT, alembic, create_postgres_database, drop_postgres_database


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    url = await create_postgres_database(server_url)
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def test_upgrade_check_downgrade_upgrade(empty_database_url: str) -> None:
    alembic(empty_database_url, "upgrade", "heads")
    # `alembic check` fails when the models and the migrated schema differ.
    alembic(empty_database_url, "check")
    alembic(empty_database_url, "downgrade", "base")
    assert alembic(empty_database_url, "current").stdout.strip() == ""
    alembic(empty_database_url, "upgrade", "heads")
    assert revisions(alembic(empty_database_url, "current").stdout) == revisions(
        alembic(empty_database_url, "heads").stdout
    )


def revisions(output: str) -> set[str]:
    """Revision ids from `alembic current` / `alembic heads` lines such as `core_0001 (head)`."""
    return {line.split()[0] for line in output.splitlines() if line.strip()}


def test_streams_are_linear_labelled_and_built_on_core() -> None:
    # One stream per feature: a labelled root that depends on the core stream, and one head.
    # Switching a feature on later then only adds revisions; it never edits applied ones.
    script = ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))
    roots = [rev for rev in script.walk_revisions() if rev.down_revision is None]
    assert len(script.get_heads()) == len(roots)
    for root in roots:
        assert root.branch_labels, f"{root.revision} has no branch label"
        if "core" not in root.branch_labels:
            assert root.dependencies, f"{root.revision} does not depend on the core stream"
