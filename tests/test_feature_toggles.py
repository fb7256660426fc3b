"""Switching each feature on and off in an existing project with `copier update --data`.

From the all-off and the all-on project, every feature is flipped (2 x features transitions);
the result must equal a fresh render of the final answers, with secrets untouched.
"""

from __future__ import annotations

from pathlib import Path

import copier
import pytest

from generator.features import Combination, combination_id, make_combination, template_features
from tests.conftest import differing_files, git, project_files, render_at

FEATURES = template_features()
NOT_COMPARED = {".copier-answers.yml", ".env"}

TRANSITIONS = [
    (start, feature)
    for start in (make_combination(FEATURES, ()), make_combination(FEATURES, FEATURES))
    for feature in FEATURES
]


def transition_id(transition: tuple[Combination, str]) -> str:
    start, feature = transition
    return f"{combination_id(start)}:{'off' if start[feature] else 'on'}:{feature}"


@pytest.mark.parametrize("transition", TRANSITIONS, ids=[transition_id(t) for t in TRANSITIONS])
def test_toggle_equals_a_fresh_render(
    template_clone: Path, tmp_path: Path, transition: tuple[Combination, str]
) -> None:
    start, feature = transition
    final = {**start, feature: not start[feature]}
    project = render_at(template_clone, tmp_path / "project", answers=start)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Rendered")
    env_before = (project / ".env").read_bytes()

    copier.run_update(
        project,
        data={feature: final[feature]},
        defaults=True,
        overwrite=True,
        quiet=True,
        vcs_ref="HEAD",
    )

    fresh = render_at(template_clone, tmp_path / "fresh", answers=final)
    assert (project / ".env").read_bytes() == env_before
    assert project_files(project) == project_files(fresh)
    assert not differing_files(project, fresh, project_files(fresh) - NOT_COMPARED)
