"""The template repository's own CI wiring."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def readme_test_command() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^(uv run pytest)\b", readme, re.MULTILINE)
    assert match, "README.md must show the test command `uv run pytest` at the start of a line"
    return match.group(1)


def test_ci_script_runs_the_readme_test_command() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command_lines = [
        line.strip() for line in script.splitlines() if not line.strip().startswith("#")
    ]
    assert any(line.startswith(readme_test_command()) for line in command_lines)
    assert "matrix --services" in script
    assert "matrix --transitions" in script


def test_own_workflows_match_the_github_schema() -> None:
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, workflows),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
