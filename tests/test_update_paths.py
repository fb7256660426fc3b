"""Version updates: a project rendered from an older template commit, updated to HEAD.

The template is cloned into a temporary repository and the current working tree committed on
top, so "HEAD" is exactly what is being tested. The baseline is the oldest commit that renders
the service (the first with app/main.py.jinja): every later change must update cleanly from it.
"""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import copier

from tests.conftest import git

ANSWERS = {"project_name": "Acme Orders"}
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


def render(clone: Path, destination: Path, vcs_ref: str) -> Path:
    copier.run_copy(
        str(clone), destination, data=ANSWERS, defaults=True, quiet=True, vcs_ref=vcs_ref
    )
    return destination


def files(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def test_update_from_the_oldest_release_equals_a_fresh_render(
    template_clone: Path, tmp_path: Path
) -> None:
    project = render(template_clone, tmp_path / "project", baseline_commit(template_clone))
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered from the oldest release")
    (project / USER_FILE).parent.mkdir(parents=True)
    (project / USER_FILE).write_text(USER_LINE)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "User code")
    env_before = (project / ".env").read_bytes()

    copier.run_update(project, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD")

    fresh = render(template_clone, tmp_path / "fresh", "HEAD")
    assert (project / ".env").read_bytes() == env_before
    assert (project / USER_FILE).read_text() == USER_LINE
    rendered = files(project) - {USER_FILE}
    assert rendered == files(fresh)
    conflicts = [name for name in rendered if CONFLICT.search((project / name).read_bytes())]
    assert not conflicts
    differing = [
        name
        for name in sorted(rendered - NOT_COMPARED)
        if not filecmp.cmp(project / name, fresh / name, shallow=False)
    ]
    assert not differing, f"differ from a fresh render: {differing}"


def rendered_project(clone: Path, destination: Path, vcs_ref: str) -> Path:
    project = render(clone, destination, vcs_ref)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered")
    return project


def test_edits_in_seam_files_survive_an_update(template_clone: Path, tmp_path: Path) -> None:
    project = rendered_project(template_clone, tmp_path / "p", baseline_commit(template_clone))
    api = project / "app" / "api.py"
    api.write_text(api.read_text() + "\n# Billing routes are added by the billing team.\n")
    git(project, "commit", "-q", "-am", "User edit in a seam")

    copier.run_update(project, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD")

    assert api.read_text().endswith("# Billing routes are added by the billing team.\n")
    assert not CONFLICT.search(api.read_bytes())


def test_a_clash_with_a_template_change_is_shown_as_a_conflict(
    template_clone: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "template"
    git(template_clone, "clone", "-q", "--no-local", str(template_clone), str(clone))
    project = rendered_project(clone, tmp_path / "p", "HEAD")
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text().replace("uv run pytest", "uv run pytest -x", 1))
    git(project, "commit", "-q", "-am", "User edit")
    template_makefile = clone / "template" / "Makefile"
    template_makefile.write_text(
        template_makefile.read_text().replace("uv run pytest", "uv run pytest --maxfail=3", 1)
    )
    git(clone, "commit", "-q", "-am", "Template changes the same line")

    copier.run_update(project, defaults=True, overwrite=True, quiet=True, vcs_ref="HEAD")

    merged = makefile.read_text()
    assert CONFLICT.search(merged.encode()), merged
    assert "uv run pytest -x" in merged
    assert "uv run pytest --maxfail=3" in merged
