"""Every feature combination renders to a clean project; secrets are unique and stay in .env.

Security catalogue §10: X01 (no --trust), X03 (unique secrets), X05 (none in the answers
file), X06 (.env ignored, .env.example placeholders only).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.features import Combination
from tests.conftest import REPO_ROOT, TEMPLATE_DIR, Render, render_project
from tests.support import (
    combinations,
    combo_id,
    copier_config,
    iter_files,
    parse_env,
    questions,
    text_files,
)

COMBINATIONS = combinations()
COMBINATION_IDS = [combo_id(combination) for combination in COMBINATIONS]

EXPECTED_FILES = [
    "app/main.py",
    "app/api.py",
    "app/core/config.py",
    "app/core/db.py",
    "app/core/principal.py",
    "app/items/router.py",
    "app/health/router.py",
    "migrations/env.py",
    "migrations/versions/20261122_core_schema_core_0001.py",
    "alembic.ini",
    "tests/conftest.py",
    "pyproject.toml",
    "Dockerfile",
    "compose.yaml",
    "Makefile",
    ".pre-commit-config.yaml",
    ".github/workflows/ci.yml",
    ".github/dependabot.yml",
    ".gitignore",
    ".gitattributes",
    "README.md",
    "locustfile.py",
    ".env",
    ".env.example",
    ".copier-answers.yml",
]
EXPECTED_DIRS = ["migrations/versions", "tests/items", "tests/health"]

# `{{ name` / `{%` / `%}` / `{#` left by a missing `.jinja` suffix or a broken tag. Foreign
# syntax is allowed: GitHub's `${{ … }}`, shell's `${#var}` and `$(…)`, and Python format
# specs such as `{:.1%}`.
_NAMES = "|".join(map(re.escape, sorted(questions())))
LEFTOVER_JINJA = re.compile(
    rf"\{{%|(?<![\d:.])%\}}|(?<!\$)\{{#|(?<!\$)\{{\{{-?\s*(?:{_NAMES}|_copier\w*)\b"
)
SECRET_VARIABLES = ("SECRET_KEY", "POSTGRES_PASSWORD")
HEX_64 = re.compile(r"[0-9a-f]{64}")

CUSTOM_ANSWERS: dict[str, Any] = {
    "project_name": "Billing API",
    "project_slug": "billing-api",
    "description": "Bills customers, monthly.",
    "author_name": "Jane Doe",
    "author_email": "jane.doe@example.org",
    "python_version": "3.12",
}


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=check,
    )


def _conditional_excludes() -> list[tuple[str, str]]:
    """(feature, path) for every `{% if not (feature | default(false)) %}path{% endif %}`."""
    pattern = re.compile(
        r"\{%-?\s*if\s+not\s+\(\s*(\w+)\s*\|\s*default\(false\)\s*\)\s*-?%\}(.*?)\{%-?\s*endif\s*-?%\}"
    )
    entries: list[tuple[str, str]] = []
    for entry in copier_config().get("_exclude", []):
        if match := pattern.fullmatch(str(entry).strip()):
            entries.append((match.group(1), match.group(2).strip()))
    return entries


# Computed flags that own directories, from the answers (copier.yml `when: false`).
COMPUTED_FLAGS = {
    "tenant_memberships": lambda answers: (
        answers.get("auth", False) and answers.get("multi_tenancy", False)
    ),
    "tenant_exports": lambda answers: (
        answers.get("celery", False) and answers.get("multi_tenancy", False)
    ),
}


def _answer(combination: Combination, name: str) -> bool:
    if name in COMPUTED_FLAGS:
        return bool(COMPUTED_FLAGS[name](combination))
    return bool(combination.get(name, False))


# Every combination -------------------------------------------------------------------------


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
def test_no_leftover_jinja(render: Render, combination: Combination) -> None:
    project = render(**combination)
    leftovers = [
        f"{path.relative_to(project)}:{text.count(chr(10), 0, match.start()) + 1}: "
        f"{match.group(0)!r}"
        for path, text in text_files(project)
        for match in LEFTOVER_JINJA.finditer(text)
    ]
    assert leftovers == []


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
def test_no_template_syntax_in_file_names(render: Render, combination: Combination) -> None:
    project = render(**combination)
    bad = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.name.endswith(".jinja") or "{{" in path.name or "{%" in path.name
    ]
    assert bad == []


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
def test_expected_files_present(render: Render, combination: Combination) -> None:
    project = render(**combination)
    missing = [name for name in EXPECTED_FILES if not (project / name).is_file()]
    missing += [f"{name}/" for name in EXPECTED_DIRS if not (project / name).is_dir()]
    assert missing == []


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
def test_feature_directories_follow_the_answers(render: Render, combination: Combination) -> None:
    """A disabled feature leaves none of its directories behind; an enabled one keeps them."""
    project = render(**combination)
    for feature, path in _conditional_excludes():
        if _answer(combination, feature):
            if (TEMPLATE_DIR / path).exists():
                assert (project / path).exists(), f"{feature} on but {path} missing"
        else:
            assert not (project / path).exists(), f"{feature} off but {path} rendered"


# What auth wires into shared files, and only with auth (its package is covered above).
AUTH_SEAM_LINES = {
    "app/main.py": "install_auth(app, settings)",
    "app/api.py": "routes.include_router(auth_router)",
    "app/models.py": "from app.auth.models import",
    "app/items/models.py": "owner_id: Mapped[uuid.UUID | None]",
    "app/items/router.py": "router.dependencies.append(OWN_ITEMS)",
    "pyproject.toml": '"pyjwt[crypto]>=2.13',
    ".env.example": "AUTH_ALGORITHM=HS256",
    "README.md": "## Authentication",
}


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
def test_auth_seams_follow_the_answer(render: Render, combination: Combination) -> None:
    project = render(**combination)
    present = {
        path: line in (project / path).read_text(encoding="utf-8")
        for path, line in AUTH_SEAM_LINES.items()
    }
    assert set(present.values()) == {bool(combination.get("auth", False))}, present


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
def test_env_example_documents_every_variable(render: Render, combination: Combination) -> None:
    project = render(**combination)
    undocumented = set(parse_env(project / ".env")) - set(parse_env(project / ".env.example"))
    assert undocumented == set()


@pytest.mark.parametrize("combination", COMBINATIONS, ids=COMBINATION_IDS)
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_output_is_ruff_clean(render: Render, combination: Combination, command: list[str]) -> None:
    """The rendered project passes its own ruff configuration without any post-formatting."""
    project = render(**combination)
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "leftover"),
    [
        ('title = "{{ project_name }}"', True),
        ("name = {{project_slug}}", True),
        ("{{- description }}", True),
        ("{% if auth %}", True),
        ("x {%- endif %}", True),
        ("{# template note #}", True),
        ("{{ _copier_conf.dst_path }}", True),
        ("run: echo ${{ github.sha }} ${{ matrix.python-version }}", False),
        ('echo "${#ARGS[@]}" $(shell pwd)', False),
        ('f"{ratio:.1%}" f"{share:%}"', False),
        ("{{ not_a_question }} {'a': {'b': 1}}", False),
    ],
)
def test_leftover_pattern(text: str, leftover: bool) -> None:
    assert bool(LEFTOVER_JINJA.search(text)) is leftover


# Answers land where they belong ----------------------------------------------------------


def test_pyproject_carries_the_answers(render: Render) -> None:
    project = render(**CUSTOM_ANSWERS)
    with (project / "pyproject.toml").open("rb") as stream:
        meta = tomllib.load(stream)["project"]

    assert meta["name"] == CUSTOM_ANSWERS["project_slug"]
    assert meta["description"] == CUSTOM_ANSWERS["description"]
    assert {"name": CUSTOM_ANSWERS["author_name"], "email": CUSTOM_ANSWERS["author_email"]} in (
        meta["authors"]
    )
    assert CUSTOM_ANSWERS["python_version"] in meta["requires-python"]


def test_default_pyproject_parses(render: Render) -> None:
    with (render() / "pyproject.toml").open("rb") as stream:
        meta = tomllib.load(stream)["project"]

    assert meta["name"] == "acme-orders"
    assert meta["requires-python"] == ">=3.11"


@pytest.mark.parametrize("websockets", [True, False])
def test_websockets_wiring_follows_the_answer(render: Render, websockets: bool) -> None:
    """The feature's seams: its package, its dependency, its settings and Redis in compose."""
    project = render(websockets=websockets)
    with (project / "pyproject.toml").open("rb") as stream:
        dependencies = tomllib.load(stream)["project"]["dependencies"]
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))

    assert (project / "app/ws/endpoint.py").exists() is websockets
    assert (project / "tests/ws/test_servers.py").exists() is websockets
    assert any(d.startswith("websockets") for d in dependencies) is websockets
    assert ("install_websockets(app, settings)" in (project / "app/main.py").read_text()) is (
        websockets
    )
    assert ("WS_ALLOWED_ORIGINS" in parse_env(project / ".env.example")) is websockets
    # Presence, tickets and cross-worker broadcast live in Redis, so compose runs one.
    assert ("redis" in compose["services"]) is websockets


def test_answers_file_at_root_with_absolute_source(render: Render) -> None:
    answers = yaml.safe_load((render() / ".copier-answers.yml").read_text(encoding="utf-8"))

    source = Path(answers["_src_path"])
    assert source.is_absolute()
    assert source.resolve() == REPO_ROOT
    assert answers["_commit"]
    assert answers["project_name"] == "Acme Orders"
    assert answers["project_slug"] == "acme-orders"


# Secrets ---------------------------------------------------------------------------------


def test_secrets_unique_per_project(render: Render, tmp_path: Path) -> None:
    """X03: two renders with identical answers share no secret."""
    first = parse_env(render() / ".env")
    second = parse_env(render_project(tmp_path / "again") / ".env")

    for name in SECRET_VARIABLES:
        assert HEX_64.fullmatch(first[name]), f"{name}={first[name]!r} is not 64 hex chars"
        assert HEX_64.fullmatch(second[name]), f"{name}={second[name]!r} is not 64 hex chars"
        assert first[name] != second[name], name
    assert first["SECRET_KEY"] != first["POSTGRES_PASSWORD"]


def test_secrets_only_in_env(render: Render) -> None:
    """X05: the secrets are in .env and nowhere else, the answers file included."""
    project = render()
    env = parse_env(project / ".env")
    secrets = {name: env[name].encode() for name in SECRET_VARIABLES}
    leaks = [
        f"{name} in {path.relative_to(project)}"
        for path in iter_files(project)
        if path.relative_to(project).as_posix() != ".env"
        for name, value in secrets.items()
        if value in path.read_bytes()
    ]
    assert leaks == []

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    secret_questions = {name for name, q in questions().items() if q.get("secret")}
    assert secret_questions.isdisjoint(answers)


def test_env_is_git_ignored_and_example_tracked(render: Render, tmp_path: Path) -> None:
    """X06: after `git init && git add -A` only .env.example (placeholders) is tracked."""
    project = shutil.copytree(render(), tmp_path / "project")
    _git(project, "init", "-q")

    assert _git(project, "check-ignore", "-q", ".env", check=False).returncode == 0
    assert _git(project, "check-ignore", "-q", ".env.example", check=False).returncode == 1

    _git(project, "add", "-A")
    tracked = set(_git(project, "ls-files").stdout.splitlines())
    assert ".env.example" in tracked
    assert ".env" not in tracked

    example = (project / ".env.example").read_text(encoding="utf-8")
    env = parse_env(project / ".env")
    for name in SECRET_VARIABLES:
        assert env[name] not in example
    assert not HEX_64.search(example), ".env.example must hold placeholders, not secrets"


def test_no_template_file_is_git_ignored() -> None:
    """Copier renders from git: an ignored template file (say `.env.jinja` matched by a
    `.env.*` rule in template/.gitignore) silently vanishes from every render. Keep the
    generated project's ignore rules in `template/.gitignore.jinja`, which git does not read.
    """
    caches = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".venv"}
    paths = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in TEMPLATE_DIR.rglob("*")
        if path.is_file() and path.suffix != ".pyc" and caches.isdisjoint(path.parts)
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--verbose", "--stdin"],
        input="\n".join(paths),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.splitlines() == []


def test_generates_without_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """X01: a plain `copier copy` needs neither --trust nor a trusted-repository setting."""
    settings = tmp_path / "copier-settings.yml"
    settings.write_text("trust: []\n", encoding="utf-8")
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(settings))

    project = render_project(tmp_path / "project")

    assert (project / ".copier-answers.yml").is_file()
    assert (project / ".env").is_file()


@pytest.mark.parametrize("celery", [False, True], ids=["celery-off", "celery-on"])
def test_celery_operations_follow_the_answer(render: Render, celery: bool) -> None:
    """Worker and beat outside app/worker: make targets, compose services, k8s manifests."""
    project = render(celery=celery)
    assert (project / "deploy" / "worker.yaml").is_file() is celery
    assert (project / "deploy" / "beat.yaml").is_file() is celery
    makefile = (project / "Makefile").read_text()
    assert ("\nworker:" in makefile and "\nbeat:" in makefile) is celery
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert ({"worker", "beat", "flower"} <= services.keys()) is celery
    assert ("redis" in services) is celery  # needs_redis = rate_limiting or celery
    assert (".celery/" in (project / ".gitignore").read_text()) is celery
    if celery:
        assert services["flower"]["profiles"] == ["flower"]
        assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
        assert "healthcheck" not in services["beat"] or services["beat"]["healthcheck"] == {
            "disable": True
        }


@pytest.mark.parametrize("enabled", [False, True], ids=["tenancy-off", "tenancy-on"])
def test_multi_tenancy_seams_follow_the_answer(render: Render, enabled: bool) -> None:
    """items gets its tenant_id, the app its middleware and the Makefile its target only
    with multi_tenancy; nothing of it is left without."""
    project = render(multi_tenancy=enabled)
    seams = {
        "app/items/models.py": "tenant_id: Mapped[uuid.UUID] = tenant_id_column()",
        "app/main.py": "install_tenancy(app)",
        "app/models.py": "from app.tenancy.models import Tenant",
        "Makefile": "python -m app.tenancy.manage list",
        ".env.example": "TENANCY_HEADER=X-Tenant-ID",
        "README.md": "## Multi-tenancy",
    }
    for path, line in seams.items():
        assert (line in (project / path).read_text(encoding="utf-8")) is enabled, path
    assert (project / "migrations/versions/tenancy").is_dir() is enabled


@pytest.mark.parametrize(
    ("auth", "multi_tenancy"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["neither", "auth-only", "tenancy-only", "both"],
)
def test_memberships_exist_only_with_auth_and_tenancy(
    render: Render, auth: bool, multi_tenancy: bool
) -> None:
    """The computed tenant_memberships flag: app/memberships and its seams need both."""
    project = render(auth=auth, multi_tenancy=multi_tenancy)
    both = auth and multi_tenancy
    seams = {
        "app/main.py": "install_memberships(app)",
        "app/api.py": "routes.include_router(memberships_router)",
        "app/models.py": "from app.memberships.models import Membership",
    }
    for path, line in seams.items():
        assert (line in (project / path).read_text(encoding="utf-8")) is both, path
    for directory in ("app/memberships", "tests/memberships", "migrations/versions/memberships"):
        assert (project / directory).is_dir() is both, directory
    assert "tenant_memberships" not in (project / ".copier-answers.yml").read_text()
