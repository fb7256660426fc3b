"""`copier update` (fast tier): secrets survive untouched, user edits survive.

Security catalogue §10 X07. The template is rendered from a throw-away git snapshot of this
repository's working tree (tracked files plus untracked, not ignored ones). Rendering from the
working tree itself would not do: with uncommitted changes copier renders from a temporary
"draft" commit and records that commit's hash as `_commit`, which does not exist in the real
repository, so a later `copier update` fails with "Unknown revision".
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import copier
import pytest
import yaml

from tests.conftest import REPO_ROOT

ANSWERS = {"project_name": "Acme Orders"}
USER_NOTE = "\n## Team notes\n\nOn-call rota lives in the wiki.\n"
USER_FILE = "docs/runbook.md"
PROBE = "template/UPDATE_PROBE.md"


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _commit_all(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--no-verify", "-m", message)


def _snapshot_template(destination: Path) -> Path:
    """A git repository with one commit holding the template's current working tree."""
    listing = _git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listing.split("\0")):
        source = REPO_ROOT / name
        if source.is_file() or source.is_symlink():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    _git(destination, "init", "-q")
    _commit_all(destination, "template snapshot")
    return destination


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    return _snapshot_template(tmp_path / "template-repo")


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    """A rendered, committed project with a user edit in README.md and a file of its own."""
    destination = tmp_path / "project"
    copier.run_copy(
        str(template_repo), destination, data=ANSWERS, defaults=True, quiet=True, unsafe=False
    )
    _git(destination, "init", "-q")
    _commit_all(destination, "Initial commit from fastapi-template")
    assert (destination / "README.md").is_file(), "the template renders no README.md"
    assert (destination / ".env").is_file(), "the template renders no .env"
    with (destination / "README.md").open("a", encoding="utf-8") as readme:
        readme.write(USER_NOTE)
    (destination / USER_FILE).parent.mkdir(parents=True, exist_ok=True)
    (destination / USER_FILE).write_text("# Runbook\n", encoding="utf-8")
    _commit_all(destination, "User edits")
    return destination


def _update(project: Path) -> None:
    copier.run_update(project, defaults=True, overwrite=True, unsafe=False, quiet=True)


def _assert_user_state_survived(project: Path, env_before: bytes, readme_before: str) -> None:
    assert (project / ".env").read_bytes() == env_before, ".env changed: secrets regenerated"
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme == readme_before
    assert readme.endswith(USER_NOTE)
    assert (project / USER_FILE).read_text(encoding="utf-8") == "# Runbook\n"


def test_update_without_template_changes_changes_nothing(project: Path) -> None:
    env_before = (project / ".env").read_bytes()
    readme_before = (project / "README.md").read_text(encoding="utf-8")

    _update(project)

    _assert_user_state_survived(project, env_before, readme_before)
    assert _git(project, "status", "--porcelain") == "", "update of an unchanged template"


def test_update_to_a_newer_template_keeps_secrets_and_edits(
    project: Path, template_repo: Path
) -> None:
    env_before = (project / ".env").read_bytes()
    readme_before = (project / "README.md").read_text(encoding="utf-8")
    old_commit = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    (template_repo / PROBE).write_text("Added by a newer template.\n", encoding="utf-8")
    _commit_all(template_repo, "Newer template")

    _update(project)

    _assert_user_state_survived(project, env_before, readme_before)
    assert (project / "UPDATE_PROBE.md").read_text() == "Added by a newer template.\n"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] != old_commit
    assert answers["project_slug"] == "acme-orders"
