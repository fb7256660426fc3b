"""Deep tier: representative renders pass their own checks (uv sync, ruff, mypy, alembic, pytest).

The full 2^n matrix is `fastapi-template matrix`; these run on every `uv run pytest`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.checks import ProjectReport, ServicesConfig, check_project
from generator.features import (
    Combination,
    combination_id,
    make_combination,
    representative_combinations,
    template_features,
)
from tests.conftest import Render

pytestmark = pytest.mark.deep

FEATURES = template_features()
NO_FEATURES = make_combination(FEATURES, ())


def private_copy(render: Render, combination: Combination, tmp_path: Path) -> Path:
    """A copy of the shared render: the checks add .venv and caches other tests must not see."""
    destination = tmp_path / "project"
    shutil.copytree(
        render(**combination),
        destination,
        symlinks=True,
        ignore=shutil.ignore_patterns(".venv", "*_cache", "__pycache__"),
    )
    return destination


def explain(report: ProjectReport) -> str:
    failed = report.failed
    if failed is None:
        return "all steps passed"
    steps = ", ".join(f"{r.name}={r.status.value}" for r in report.results)
    return (
        f"{failed.name} failed ({report.mode} mode) in {report.project}: $ {failed.command} "
        f"(exit {failed.returncode})\n{steps}\n--- output tail ---\n{failed.excerpt(60)}"
    )


@pytest.mark.parametrize("combination", representative_combinations(FEATURES), ids=combination_id)
def test_embedded_checks_pass(render: Render, combination: Combination, tmp_path: Path) -> None:
    report = check_project(private_copy(render, combination, tmp_path))
    assert report.ok, explain(report)


# Services mode on the smallest project: the contract (fresh PostgreSQL database, Redis, the
# suite's services run) without a second all-features run of the longest suite. CI checks
# all features in services mode in the deep matrix (.ci/run), which includes that combination.
@pytest.mark.services
def test_services_checks_pass(render: Render, services: dict[str, str], tmp_path: Path) -> None:
    config = ServicesConfig(
        database_url=services["TEST_DATABASE_URL"], redis_url=services["TEST_REDIS_URL"]
    )
    report = check_project(private_copy(render, NO_FEATURES, tmp_path), services=config)
    assert report.ok, explain(report)
