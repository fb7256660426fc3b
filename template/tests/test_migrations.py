"""The migrations build exactly the schema the models describe, and unwind cleanly."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.database import (
    PROJECT_ROOT,
    alembic_config,
    postgres_database,
    stdout_text,
)


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    async with postgres_database(server_url) as url:
        yield url


def test_upgrade_check_downgrade_upgrade(empty_database_url: str) -> None:
    command.upgrade(alembic_config(empty_database_url), "heads")
    # `alembic check` fails when the models and the migrated schema differ.
    command.check(alembic_config(empty_database_url))
    command.downgrade(alembic_config(empty_database_url), "base")
    assert current_revisions(empty_database_url) == set()
    command.upgrade(alembic_config(empty_database_url), "heads")
    heads = alembic_config(empty_database_url)
    command.heads(heads)
    assert current_revisions(empty_database_url) == revisions(stdout_text(heads))


def current_revisions(database_url: str) -> set[str]:
    config = alembic_config(database_url)
    command.current(config)
    return revisions(stdout_text(config))


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
