"""The project's semgrep rules (.semgrep.yml): each flags what it is for, and no render trips one.

`make security`, the generated CI and the check engine (generator/checks.py) all run them; the
catalogue rows are P10 (secrets compared with `==`) and X10/§11 (custom rules for JWT decoding,
session-wide settings, trusted proxies, client addresses).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from generator import checks
from generator.features import make_combination, template_features
from tests.conftest import Render

CASES = Path(__file__).parent / "data" / "semgrep_cases.py"
ALL_FEATURES = make_combination(template_features(), template_features())
SEMGREP_FLAGS = ("--metrics", "off", "--disable-version-check")


def semgrep(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uvx", checks.SEMGREP, *args, *SEMGREP_FLAGS],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def rule_ids(rules_file: Path) -> set[str]:
    return {rule["id"] for rule in yaml.safe_load(rules_file.read_text())["rules"]}


def findings(project: Path) -> list[tuple[str, str]]:
    """(rule id, path:line) of every finding in app/ and migrations/."""
    result = semgrep(
        "scan", "--config", ".semgrep.yml", "--json", "--quiet", "app", "migrations", cwd=project
    )
    report = json.loads(result.stdout)
    assert report["errors"] == [], report["errors"]
    return sorted(
        (item["check_id"].rsplit(".", 1)[-1], f"{item['path']}:{item['start']['line']}")
        for item in report["results"]
    )


def test_every_rule_flags_its_cases_and_leaves_the_safe_forms_alone(
    render: Render, tmp_path: Path
) -> None:
    rules = render() / ".semgrep.yml"
    annotated = set(re.findall(r"# (?:ruleid|ok): ([\w-]+)", CASES.read_text()))
    assert rule_ids(rules) == annotated, "every rule needs cases, every case a rule"
    shutil.copy(rules, tmp_path / "rules.yml")
    shutil.copy(CASES, tmp_path / "rules.py")
    result = semgrep("--test", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(annotated)}/{len(annotated)}: ✓ All tests passed" in result.stdout


def test_the_check_engine_finds_nothing_in_the_all_features_render(render: Render) -> None:
    step = next(step for step in checks.default_steps() if step.name == "semgrep")
    report = checks.check_project(render(**ALL_FEATURES), steps=[step])
    assert report.ok, report.failed and report.failed.output


def test_the_rules_catch_these_mistakes_in_the_generated_app(
    render: Render, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(render(**ALL_FEATURES), project, ignore=shutil.ignore_patterns(".venv"))

    def edit(relative: str, old: str, new: str) -> None:
        path = project / relative
        source = path.read_text()
        assert old in source, f"{relative} no longer has {old!r}"
        path.write_text(source.replace(old, new, 1))

    edit("app/auth/tokens.py", "                audience=self.auth.audience,\n", "")
    edit("app/tenancy/isolation.py", ":tenant_id, true)", ":tenant_id, false)")
    edit(
        "app/main.py",
        "trusted_hosts=settings.forwarded_allow_ips",
        'trusted_hosts="*"',
    )

    found = {rule for rule, _where in findings(project)}
    assert found == {
        "jwt-decode-without-audience-issuer-and-required-claims",
        "postgres-setting-outlives-the-transaction",
        "proxy-headers-trusted-from-anyone",
    }
    step = next(step for step in checks.default_steps() if step.name == "semgrep")
    assert not checks.check_project(project, steps=[step]).ok
