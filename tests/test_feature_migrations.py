"""Deep tier of the update paths: switch a feature on in a project whose database is live.

The all-off project is migrated and holds data; `copier update --data <feature>=true` adds the
feature; then the new migration streams apply with a plain `alembic upgrade heads`, the schema
matches the models, the data is still there, and the project's migration tests and the
feature's own tests pass. (The rest of the suite in that combination is the matrix's job:
`matrix --transitions` proves the updated project equals a fresh render, and the deep matrix
runs the whole suite of fresh renders.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import copier
import pytest

from generator.checks import CheckContext, CommandStep, check_project, tool
from generator.features import make_combination, template_features
from tests.conftest import git, render_at
from tests.test_deep import explain

pytestmark = pytest.mark.deep

FEATURES = template_features()
KEPT_ITEM = "0f8fad5b-d9cb-469f-a165-70867728950e"
# Where each feature keeps its tests in the generated project (tests/<package>/).
TEST_PACKAGES = {
    "auth": "auth",
    "rate_limiting": "ratelimit",
    "celery": "worker",
    "websockets": "ws",
    "multi_tenancy": "tenancy",
    "api_versioning": "versioning",
}


def test_every_feature_names_its_test_package() -> None:
    assert set(TEST_PACKAGES) == set(FEATURES)


def migrated_with_data(project: Path, database: Path) -> str:
    url = f"sqlite+aiosqlite:///{database}"
    report = check_project(
        project,
        steps=[
            CommandStep("uv sync", ("uv", "sync", "--all-groups")),
            CommandStep(
                "migrate", tool("alembic", "upgrade", "heads"), lambda _: {"DATABASE_URL": url}
            ),
        ],
    )
    assert report.ok, explain(report)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO items (id, name, price, quantity, version, created_at, updated_at)"
            " VALUES (?, 'kept', 1, 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            (KEPT_ITEM,),
        )
    return url


@pytest.mark.parametrize("feature", FEATURES)
def test_switching_a_feature_on_migrates_a_live_database(
    template_clone: Path, tmp_path: Path, feature: str
) -> None:
    project = render_at(
        template_clone, tmp_path / "project", answers=make_combination(FEATURES, ())
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered")
    database = tmp_path / "live.db"
    url = migrated_with_data(project, database)
    git(project, "add", "-A")  # uv.lock, as the project README asks
    git(project, "commit", "-q", "-m", "Lock dependencies")

    copier.run_update(
        project, data={feature: True}, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD"
    )

    def live(_: CheckContext) -> dict[str, str]:
        return {"DATABASE_URL": url}

    report = check_project(
        project,
        steps=[
            CommandStep("uv sync", ("uv", "sync", "--all-groups")),
            CommandStep("alembic upgrade", tool("alembic", "upgrade", "heads"), live),
            CommandStep("alembic check", tool("alembic", "check"), live),
            CommandStep(
                "pytest",
                tool("pytest", "-q", "tests/test_migrations.py", f"tests/{TEST_PACKAGES[feature]}"),
                lambda _: {"ENVIRONMENT": "test"},
            ),
        ],
    )
    assert report.ok, explain(report)
    with sqlite3.connect(database) as connection:
        kept = connection.execute("SELECT name FROM items WHERE id = ?", (KEPT_ITEM,)).fetchall()
    assert kept == [("kept",)]
