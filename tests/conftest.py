"""Fixtures shared by the template's tests: cached renders and the local services."""

from __future__ import annotations

import filecmp
import os
import socket
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import copier
import pytest

from generator.transitions import project_files as project_files  # re-exported for the tests
from generator.transitions import snapshot_template

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO_ROOT / "template"

# Services mode: the generated suite creates (and drops) its own database on this server.
POSTGRES_URL = os.environ.get(
    "FASTAPI_TEMPLATE_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FASTAPI_TEMPLATE_REDIS_URL", "redis://127.0.0.1:6379/0")

Render = Callable[..., Path]


def render_project(destination: Path, data: Mapping[str, Any] | None = None) -> Path:
    """Render the template as `copier copy --defaults` would, from the absolute repo path."""
    answers = {"project_name": "Acme Orders", **(data or {})}
    copier.run_copy(
        str(REPO_ROOT),
        destination,
        data=answers,
        defaults=True,
        quiet=True,
        unsafe=False,
        vcs_ref="HEAD",
    )
    return destination


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory) -> Render:
    """Render once per distinct set of answers and share the result across the session."""
    rendered: dict[tuple[tuple[str, Any], ...], Path] = {}

    def _render(**data: Any) -> Path:
        key = tuple(sorted(data.items()))
        if key not in rendered:
            rendered[key] = render_project(tmp_path_factory.mktemp("project") / "p", data)
        return rendered[key]

    return _render


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """Environment for a generated suite in services mode.

    On CI the services are mandatory: an unreachable one fails the test instead of skipping it.
    """
    missing = [url for url in (POSTGRES_URL, REDIS_URL) if not _reachable(url)]
    if missing:
        message = f"services unreachable: {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {"TEST_DATABASE_URL": POSTGRES_URL, "TEST_REDIS_URL": REDIS_URL}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def template_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository with the working tree under test committed as HEAD.

    Copier updates need real commits: the clone keeps the history (older releases) and adds
    the current, possibly uncommitted, state on top.
    """
    return snapshot_template(REPO_ROOT, tmp_path_factory.mktemp("template") / "repo")


def render_at(
    clone: Path,
    destination: Path,
    *,
    vcs_ref: str = "HEAD",
    answers: Mapping[str, Any] | None = None,
) -> Path:
    """Render a commit of a template clone with the test project name plus `answers`."""
    copier.run_copy(
        str(clone),
        destination,
        data={"project_name": "Acme Orders", **(answers or {})},
        defaults=True,
        quiet=True,
        vcs_ref=vcs_ref,
    )
    return destination


def differing_files(project: Path, fresh: Path, names: set[str]) -> list[str]:
    """The names whose contents differ between an updated project and a fresh render."""
    return [
        name
        for name in sorted(names)
        if not filecmp.cmp(project / name, fresh / name, shallow=False)
    ]
