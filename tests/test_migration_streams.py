"""Proof of the migration layout: a feature switched on in an already migrated database.

Each feature owns a stream in migrations/versions/<feature>/ whose root revision carries
the feature's branch label and `depends_on` the core stream. Enabling the feature only
adds files, so a plain `alembic upgrade heads` applies it on top of live data, `alembic
check` stays clean, and the stream can be removed again without touching core.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Render

PROBE_MODELS = """\
import uuid

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base


class Probe(Base):
    __tablename__ = "probe_notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(String(100))
"""

PROBE_MIGRATION = '''\
"""probe stream

Revision ID: probe_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "probe_0001"
down_revision = None
branch_labels = ("probe",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "probe_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_probe_notes_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_notes")),
    )


def downgrade() -> None:
    op.drop_table("probe_notes")
'''


def project_env(database_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    env["DATABASE_URL"] = database_url
    return env


def run(project: Path, database_url: str, *args: str) -> str:
    result = subprocess.run(
        ["uv", "run", "--quiet", *args],
        cwd=project,
        env=project_env(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def enable_probe_feature(project: Path) -> None:
    package = project / "app" / "probe"
    package.mkdir()
    (package / "__init__.py").write_text('"""Stand-in feature."""\n')
    (package / "models.py").write_text(PROBE_MODELS)
    with (project / "app" / "models.py").open("a") as models:
        models.write("from app.probe.models import Probe  # noqa: E402, F401\n")
    stream = project / "migrations" / "versions" / "probe"
    stream.mkdir()
    (stream / "20261122_probe_stream_probe_0001.py").write_text(PROBE_MIGRATION)


@pytest.fixture
def project(render: Render, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(render(), copy, ignore=shutil.ignore_patterns(".venv", "*.db"))
    return copy


def test_feature_stream_applies_to_a_migrated_database_with_data(
    project: Path, tmp_path: Path
) -> None:
    database = tmp_path / "live.db"
    url = f"sqlite+aiosqlite:///{database}"
    run(project, url, "alembic", "upgrade", "heads")
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO items (id, name, price, quantity, version, created_at, updated_at)"
            " VALUES ('0f8fad5b-d9cb-469f-a165-70867728950e', 'kept', 1, 1, 1,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )

    enable_probe_feature(project)
    heads = run(project, url, "alembic", "heads")
    assert "probe_0001" in heads
    assert "core_0001" in heads
    upgrade = run(project, url, "alembic", "upgrade", "heads")
    assert "probe_0001" in upgrade
    assert "-> core_0001" not in upgrade  # core was not re-applied
    run(project, url, "alembic", "check")

    run(project, url, "alembic", "downgrade", "probe@base")
    current = run(project, url, "alembic", "current")
    assert "core_0001" in current
    assert "probe_0001" not in current
    with sqlite3.connect(database) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM items")]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert names == ["kept"]
    assert "probe_notes" not in tables
