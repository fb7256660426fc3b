"""The Jinja budget of style.md §5: features plug into a few named seams with flat blocks.

Feature code lives in feature-owned directories (excluded as a unit in copier.yml) and has no
Jinja; shared files where features plug in ("seams") are few and named, and a feature adds
at most two flat `{% if name %}` blocks to each: no else/elif, no nesting, no compound
conditions (those become computed `when: false` flags in copier.yml).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE_DIR
from tests.support import copier_config, questions

SEAMS = frozenset(
    {
        # Python seams
        "app/api.py.jinja",
        "app/main.py.jinja",
        "app/models.py.jinja",
        "app/core/lifespan.py.jinja",
        # the sample domain: owned by users (auth), scoped to tenants (multi_tenancy)
        "app/items/models.py.jinja",
        "app/items/router.py.jinja",
        # exports of those items (celery): scoped to tenants like the items (multi_tenancy)
        "app/worker/models.py.jinja",
        # other seams
        "pyproject.toml.jinja",
        "compose.yaml.jinja",
        ".env.example.jinja",
        ".env.jinja",
        "README.md.jinja",
    }
)
MAX_BLOCKS_PER_FEATURE = 2

RAW_BLOCK = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.DOTALL)
TAG = re.compile(r"\{%[-+]?\s*(\w+)(.*?)\s*[-+]?%\}", re.DOTALL)
NAME = re.compile(r"[A-Za-z_]\w*")
FEATURE_DIR = re.compile(r"(?:app|tests|migrations/versions)/[a-z][a-z0-9_]*(?:/\*\*)?/?")
# `{% if not (<feature> | default(false)) %}<dir>{% endif %}`: the default keeps updates from
# template versions that predate the feature working (copier renders their excludes too).
CONDITIONAL_EXCLUDE = re.compile(
    r"\{%-?\s*if\s+not\s+\(\s*(\w+)\s*\|\s*default\(false\)\s*\)\s*-?%\}(.*?)\{%-?\s*endif\s*-?%\}",
    re.DOTALL,
)


def _rel(path: Path) -> str:
    return path.relative_to(TEMPLATE_DIR).as_posix()


def _tags(text: str) -> list[tuple[int, str, str]]:
    """(line, keyword, rest) of every `{% … %}` tag outside `{% raw %}` blocks."""
    text = RAW_BLOCK.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2).strip())
        for match in TAG.finditer(text)
    ]


def _budget_violations(rel: str, text: str) -> list[str]:
    known = set(questions())
    problems: list[str] = []
    depth = 0
    blocks: Counter[str] = Counter()
    for line, keyword, rest in _tags(text):
        where = f"{rel}:{line}"
        if keyword in {"else", "elif"}:
            problems.append(f"{where}: `{keyword}` (use two flat blocks or a computed flag)")
        elif keyword == "if":
            depth += 1
            if depth > 1:
                problems.append(f"{where}: nested `if`")
            if not NAME.fullmatch(rest):
                problems.append(
                    f"{where}: condition {rest!r} is not a single name "
                    "(compute it as a `when: false` flag in copier.yml)"
                )
            else:
                if rest not in known:
                    problems.append(f"{where}: {rest!r} is not a copier.yml question")
                blocks[rest] += 1
        elif keyword == "endif":
            depth -= 1
    if depth != 0:
        problems.append(f"{rel}: unbalanced if/endif")
    problems += [
        f"{rel}: {count} blocks for {name!r} (at most {MAX_BLOCKS_PER_FEATURE})"
        for name, count in blocks.items()
        if count > MAX_BLOCKS_PER_FEATURE
    ]
    return problems


def _jinja_files() -> list[str]:
    """Seams plus every other rendered (.jinja) template file that uses `{%` tags."""
    found = {
        _rel(path)
        for path in TEMPLATE_DIR.rglob("*.jinja")
        if path.is_file() and _tags(path.read_text(encoding="utf-8"))
    }
    return sorted(SEAMS | found)


def test_python_jinja_only_in_seams() -> None:
    offenders = [
        _rel(path)
        for path in sorted(TEMPLATE_DIR.rglob("*.py*"))
        if path.is_file() and "{%" in path.read_text(encoding="utf-8") and _rel(path) not in SEAMS
    ]
    assert offenders == [], "Jinja outside a seam file: move it into the feature package"


@pytest.mark.parametrize("rel", _jinja_files())
def test_seam_blocks_are_flat_single_name_and_few(rel: str) -> None:
    path = TEMPLATE_DIR / rel
    if not path.is_file():
        return  # a seam need not exist yet
    assert _budget_violations(rel, path.read_text(encoding="utf-8")) == []


def test_conditional_excludes_name_feature_directories() -> None:
    """Every conditional `_exclude` entry removes a whole feature-owned directory."""
    known = set(questions())
    problems: list[str] = []
    for entry in map(str, copier_config().get("_exclude", [])):
        if "{%" not in entry:
            continue
        match = CONDITIONAL_EXCLUDE.fullmatch(entry.strip())
        if match is None:
            expected = "{% if not (<feature> | default(false)) %}<dir>{% endif %}"
            problems.append(f"{entry!r}: expected `{expected}`")
            continue
        name, target = match.group(1), match.group(2).strip()
        if name not in known:
            problems.append(f"{entry!r}: {name!r} is not a copier.yml question")
        if not FEATURE_DIR.fullmatch(target):
            problems.append(f"{entry!r}: not under app/<x>, tests/<x> or migrations/versions/<x>")
    assert problems == []


# The checker itself ------------------------------------------------------------------------

GOOD_SEAM = """\
from app.health.router import router as health_router
{%- if project_name %}
from app.auth.router import router as auth_router
{%- endif %}
{% raw %}${{ github.sha }} {% if whatever and more %}{% endraw %}
api_router.include_router(health_router)
{%- if project_name %}
api_router.include_router(auth_router)
{%- endif %}
"""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{% if project_name %}a{% else %}b{% endif %}", "`else`"),
        ("{% if project_name %}a{% elif description %}b{% endif %}", "`elif`"),
        ("{% if project_name %}{% if description %}x{% endif %}{% endif %}", "nested"),
        ("{% if project_name and description %}x{% endif %}", "not a single name"),
        ("{% if not project_name %}x{% endif %}", "not a single name"),
        ("{% if project_name or description %}x{% endif %}", "not a single name"),
        ("{% if typo_name %}x{% endif %}", "not a copier.yml question"),
        ("{% if project_name %}x", "unbalanced"),
        ("{% if project_name %}{% endif %}" * 3, "3 blocks"),
    ],
)
def test_budget_checker_catches(text: str, problem: str) -> None:
    problems = _budget_violations("seam", text)
    assert any(problem in found for found in problems), problems


def test_budget_checker_accepts_a_good_seam() -> None:
    assert _budget_violations("seam", GOOD_SEAM) == []
