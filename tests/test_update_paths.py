"""Version updates: a project rendered from an older template commit, updated to HEAD.

The template is cloned into a temporary repository and the current working tree committed on
top, so "HEAD" is exactly what is being tested. The baseline is the oldest commit that renders
the service (the first with app/main.py.jinja): every later change must update cleanly from it.
"""

from __future__ import annotations

import re
from pathlib import Path

import copier

from tests.conftest import differing_files, git, project_files, render_at

# Files that legitimately differ from a fresh render: the answers record and the secrets.
NOT_COMPARED = {".copier-answers.yml", ".env"}
USER_FILE = "app/billing/__init__.py"
USER_LINE = "# Team convention: keep routers thin.\n"
CONFLICT = re.compile(rb"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)


def baseline_commit(clone: Path) -> str:
    added = git(clone, "log", "--diff-filter=A", "--format=%H", "--", "template/app/main.py.jinja")
    commits = added.split()
    assert commits, "no commit renders the service yet (is this a shallow clone?)"
    return commits[-1]


def test_update_from_the_oldest_release_equals_a_fresh_render(
    template_clone: Path, tmp_path: Path
) -> None:
    project = render_at(
        template_clone, tmp_path / "project", vcs_ref=baseline_commit(template_clone)
    )
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered from the oldest release")
    (project / USER_FILE).parent.mkdir(parents=True)
    (project / USER_FILE).write_text(USER_LINE)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "User code")
    env_before = (project / ".env").read_bytes()

    copier.run_update(project, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD")

    fresh = render_at(template_clone, tmp_path / "fresh")
    assert (project / ".env").read_bytes() == env_before
    assert (project / USER_FILE).read_text() == USER_LINE
    rendered = project_files(project) - {USER_FILE}
    assert rendered == project_files(fresh)
    conflicts = [name for name in rendered if CONFLICT.search((project / name).read_bytes())]
    assert not conflicts
    differing = differing_files(project, fresh, rendered - NOT_COMPARED)
    assert not differing, f"differ from a fresh render: {differing}"


def rendered_project(clone: Path, destination: Path, vcs_ref: str) -> Path:
    project = render_at(clone, destination, vcs_ref=vcs_ref)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered")
    return project


def test_edits_in_seam_files_survive_an_update(template_clone: Path, tmp_path: Path) -> None:
    project = rendered_project(template_clone, tmp_path / "p", baseline_commit(template_clone))
    env_example = project / ".env.example"
    env_example.write_text(env_example.read_text().replace("LOG_LEVEL=INFO", "LOG_LEVEL=DEBUG"))
    pyproject = project / "pyproject.toml"
    pyproject.write_text("# Owned by the payments team.\n" + pyproject.read_text())
    git(project, "commit", "-q", "-am", "User edits in seams")

    copier.run_update(project, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD")

    assert "LOG_LEVEL=DEBUG" in env_example.read_text()
    assert pyproject.read_text().startswith("# Owned by the payments team.\n")
    for seam in (env_example, pyproject):
        assert not CONFLICT.search(seam.read_bytes()), seam.read_text()
    # The template's own changes to those files arrived too.
    assert "DATABASE_STATEMENT_TIMEOUT_MS" in env_example.read_text()


def test_a_clash_with_a_template_change_is_shown_as_a_conflict(
    template_clone: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "template"
    git(template_clone, "clone", "-q", "--no-local", str(template_clone), str(clone))
    project = rendered_project(clone, tmp_path / "p", "HEAD")
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text().replace("uv run pytest", "uv run pytest -x", 1))
    git(project, "commit", "-q", "-am", "User edit")
    # A seam once a feature adds a target to it (Makefile.jinja); plain before.
    template_makefile = next(
        path
        for path in (clone / "template" / "Makefile.jinja", clone / "template" / "Makefile")
        if path.is_file()
    )
    template_makefile.write_text(
        template_makefile.read_text().replace("uv run pytest", "uv run pytest --maxfail=3", 1)
    )
    git(clone, "commit", "-q", "-am", "Template changes the same line")

    copier.run_update(project, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD")

    merged = makefile.read_text()
    assert CONFLICT.search(merged.encode()), merged
    assert "uv run pytest -x" in merged
    assert "uv run pytest --maxfail=3" in merged
