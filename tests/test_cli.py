"""The `fastapi-template` CLI and the engine behind it (features, checks, matrix, reports)."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from generator import checks, estimate, features, matrix, reports, transitions
from generator.checks import (
    CheckContext,
    CommandStep,
    ServicesConfig,
    Status,
    Step,
    StepResult,
)
from generator.cli import app
from generator.features import (
    FeatureError,
    all_combinations,
    combination_id,
    feature_names,
    load_questions,
    make_combination,
    parse_combination_id,
    representative_combinations,
    template_features,
)
from tests.conftest import REPO_ROOT, Render

runner = CliRunner()

SYNTHETIC_COPIER_YML = """\
_subdirectory: template
_templates_suffix: .jinja
_envops:
  undefined: jinja2.StrictUndefined

project_name:
  type: str
  help: Name
  validator: "{% if '\\"' in project_name %}No quotes in the name, please.{% endif %}"

alpha:
  type: bool
  default: false
  help: Alpha feature

beta:
  type: bool
  default: false

gamma:
  type: bool
  default: true

flavour:
  type: str
  default: vanilla
  choices: [vanilla, chocolate]

# computed, never asked: not a feature
needs_two:
  type: bool
  default: "{{ alpha and beta }}"
  when: false

secret_token:
  type: str
  secret: true
  when: false
  default: s3cret
"""


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def error_line(result: Result) -> str:
    """The single error line on stderr (asserts there is exactly one, and no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output, result.output
    return errors[0]


@pytest.fixture
def synthetic_template(tmp_path: Path) -> Path:
    """A tiny copier template with three features and one computed flag."""
    root = tmp_path / "synthetic-template"
    (root / "template").mkdir(parents=True)
    (root / "copier.yml").write_text(SYNTHETIC_COPIER_YML, encoding="utf-8")
    (root / "template" / "{{_copier_conf.answers_file}}.jinja").write_text(
        "{{ _copier_answers|to_nice_yaml -}}\n", encoding="utf-8"
    )
    (root / "template" / "README.md.jinja").write_text(
        "# {{ project_name }}\nneeds_two={{ needs_two }}\n", encoding="utf-8"
    )
    return root


def read_answers(project: Path) -> dict[str, Any]:
    data = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# features -----------------------------------------------------------------------------------------


def test_features_are_the_asked_bool_questions(synthetic_template: Path) -> None:
    questions = load_questions(synthetic_template / "copier.yml")
    assert "needs_two" in questions
    assert "_subdirectory" not in questions
    assert feature_names(questions) == ("alpha", "beta", "gamma")
    assert template_features(synthetic_template) == ("alpha", "beta", "gamma")


def test_feature_derivation_handles_shorthand_string_when_and_documents(tmp_path: Path) -> None:
    copier_yml = tmp_path / "copier.yml"
    copier_yml.write_text(
        textwrap.dedent(
            """\
            _min_copier_version: "9"
            shorthand_flag: false
            name: demo
            hidden_string_when:
              type: bool
              when: "false"
            conditional:
              type: bool
              when: "{{ shorthand_flag }}"
            ---
            second_document_flag:
              type: bool
              default: true
            """
        ),
        encoding="utf-8",
    )
    questions = load_questions(copier_yml)
    assert questions["name"] == {"default": "demo"}
    assert feature_names(questions) == ("shorthand_flag", "conditional", "second_document_flag")


def test_repository_features_come_from_copier_yml() -> None:
    questions = load_questions(REPO_ROOT / "copier.yml")
    expected = tuple(
        name
        for name, details in questions.items()
        if details.get("type") == "bool" and details.get("when", True) is not False
    )
    assert template_features() == expected


def test_combinations_cover_every_subset_in_a_stable_order() -> None:
    names = ("alpha", "beta", "gamma")
    combos = all_combinations(names)
    ids = [combination_id(combo) for combo in combos]
    assert len(combos) == 8
    assert len(set(ids)) == 8
    assert ids == [
        "base",
        "alpha",
        "beta",
        "gamma",
        "alpha+beta",
        "alpha+gamma",
        "beta+gamma",
        "alpha+beta+gamma",
    ]
    assert all(list(combo) == list(names) for combo in combos)
    assert combos == all_combinations(names)
    assert all_combinations(()) == [{}]
    assert [combination_id(c) for c in representative_combinations(names)] == [
        "base",
        "alpha+beta+gamma",
    ]
    assert [combination_id(c) for c in representative_combinations(())] == ["base"]


def test_combination_ids_follow_copier_yml_order_and_round_trip() -> None:
    names = ("alpha", "beta", "gamma")
    combo = make_combination(names, ["gamma", "alpha"])
    assert combo == {"alpha": True, "beta": False, "gamma": True}
    assert combination_id(combo) == "alpha+gamma"
    assert parse_combination_id(names, "gamma+alpha") == combo
    assert parse_combination_id(names, "base") == make_combination(names, ())
    for bad in ("delta", "alpha+", "", "alpha+alpha"):
        with pytest.raises(FeatureError):
            parse_combination_id(names, bad)
    with pytest.raises(FeatureError, match="unknown feature 'delta'"):
        make_combination(names, ["delta"])


# shards -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [1, 2, 3, 5, 8, 11])
def test_shards_split_all_combinations_disjointly_and_completely(total: int) -> None:
    names = ("a", "b", "c", "d", "e", "f")
    everything = [combination_id(c) for c in all_combinations(names)]
    shards = [
        [combination_id(c) for c in matrix.select_combinations(names, shard_spec=(k, total))]
        for k in range(1, total + 1)
    ]
    flat = [combo_id for part in shards for combo_id in part]
    assert sorted(flat) == sorted(everything)
    assert len(flat) == len(set(flat))
    sizes = [len(part) for part in shards]
    assert max(sizes) - min(sizes) <= 1


def test_selection_by_only_and_exclude() -> None:
    names = ("alpha", "beta")
    chosen = matrix.select_combinations(names, only=["beta+alpha", "base"], exclude=["base"])
    assert [combination_id(c) for c in chosen] == ["alpha+beta"]
    with pytest.raises(matrix.SelectionError, match="unknown feature"):
        matrix.select_combinations(names, only=["gamma"])


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "x", "1-2", "/2", ""])
def test_invalid_shards_are_rejected(text: str) -> None:
    with pytest.raises(matrix.SelectionError):
        matrix.parse_shard(text)


def test_parse_shard() -> None:
    assert matrix.parse_shard("2/4") == (2, 4)
    assert matrix.parse_shard(" 1 / 1 ") == (1, 1)


# new ----------------------------------------------------------------------------------------------


def test_new_renders_a_project_with_absolute_source(tmp_path: Path) -> None:
    destination = tmp_path / "acme"
    result = invoke("new", str(destination), "--data", "project_name=Acme Orders")
    assert result.exit_code == 0, result.output
    for name in ("pyproject.toml", "README.md", "app/main.py", ".copier-answers.yml"):
        assert (destination / name).is_file(), name
    answers = read_answers(destination)
    assert answers["project_name"] == "Acme Orders"
    assert answers["project_slug"] == "acme-orders"
    assert Path(answers["_src_path"]).is_absolute()
    assert Path(answers["_src_path"]) == REPO_ROOT
    for name in template_features():
        assert answers[name] is False


def test_new_maps_features_to_answers(synthetic_template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "out"
    result = invoke(
        "new", str(destination), "--template", str(synthetic_template), "--feature", "beta",
        "-d", "project_name=Demo", "-d", "flavour=chocolate",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answers = read_answers(destination)
    assert answers["_src_path"] == str(synthetic_template.resolve())
    assert {k: answers[k] for k in ("alpha", "beta", "gamma")} == {
        "alpha": False,
        "beta": True,
        "gamma": False,  # unnamed features are off, whatever their default
    }
    assert answers["flavour"] == "chocolate"
    assert "needs_two" not in answers
    assert "secret_token" not in answers
    assert "needs_two=False" in (destination / "README.md").read_text(encoding="utf-8")


def test_new_all_features_and_default_project_name(
    synthetic_template: Path, tmp_path: Path
) -> None:
    destination = tmp_path / "my-service"
    result = invoke(
        "new", str(destination), "--template", str(synthetic_template), "--all-features"
    )
    assert result.exit_code == 0, result.output
    answers = read_answers(destination)
    assert [answers[k] for k in ("alpha", "beta", "gamma")] == [True, True, True]
    assert answers["project_name"] == "my-service"
    assert "needs_two=True" in (destination / "README.md").read_text(encoding="utf-8")


def test_new_data_overrides_a_feature_when_not_named(
    synthetic_template: Path, tmp_path: Path
) -> None:
    destination = tmp_path / "out"
    result = invoke(
        "new", str(destination), "--template", str(synthetic_template), "-d", "alpha=true"
    )
    assert result.exit_code == 0, result.output
    assert read_answers(destination)["alpha"] is True


def test_new_renders_into_an_existing_empty_directory(tmp_path: Path) -> None:
    destination = tmp_path / "empty"
    destination.mkdir()
    result = invoke("new", str(destination), "-d", "project_name=Acme Orders")
    assert result.exit_code == 0, result.output
    assert (destination / ".copier-answers.yml").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feature", "no_such_feature"], "unknown feature 'no_such_feature'"),
        (["--data", "project_name"], "malformed --data 'project_name'"),
        (["--data", "=x"], "malformed --data"),
        (["--data", "no_such_question=1"], "unknown question 'no_such_question'"),
        (["--data", 'project_name=Acme "Orders"'], "Validation error for question 'project_name'"),
        (["--data", "python_version=2.7"], "Invalid choice for 'python_version'"),
        (["--template", "./no/such/template"], "does not exist"),
    ],
)
def test_new_refuses_bad_input_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    destination = tmp_path / "out"
    result = invoke("new", str(destination), *args)
    assert result.exit_code == 2, result.output
    assert message in error_line(result)
    assert not destination.exists()


def test_new_surfaces_the_validator_message(synthetic_template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "out"
    result = invoke(
        "new", str(destination), "--template", str(synthetic_template), "-d", 'project_name=a"b'
    )
    assert result.exit_code == 2
    assert "No quotes in the name, please." in error_line(result)
    assert not destination.exists()


def test_new_failed_render_leaves_an_empty_destination_empty(tmp_path: Path) -> None:
    destination = tmp_path / "empty"
    destination.mkdir()
    result = invoke("new", str(destination), "-d", "project_name=Bad{name}")
    assert result.exit_code == 2
    error_line(result)
    assert destination.is_dir()
    assert list(destination.iterdir()) == []


def test_new_refuses_a_non_empty_destination_and_leaves_it_untouched(tmp_path: Path) -> None:
    destination = tmp_path / "busy"
    destination.mkdir()
    (destination / "notes.txt").write_text("mine", encoding="utf-8")
    result = invoke("new", str(destination), "-d", "project_name=Acme Orders")
    assert result.exit_code == 2
    assert "exists and is not empty" in error_line(result)
    assert [p.name for p in destination.iterdir()] == ["notes.txt"]
    assert (destination / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_new_refuses_a_file_as_destination(tmp_path: Path) -> None:
    destination = tmp_path / "file"
    destination.write_text("mine", encoding="utf-8")
    result = invoke("new", str(destination), "-d", "project_name=Acme Orders")
    assert result.exit_code == 2
    error_line(result)
    assert destination.read_text(encoding="utf-8") == "mine"


# combinations -------------------------------------------------------------------------------------


def test_combinations_json_matches_the_combination_logic() -> None:
    result = invoke("combinations", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    expected = all_combinations(template_features())
    assert [entry["id"] for entry in payload] == [combination_id(c) for c in expected]
    assert [entry["answers"] for entry in payload] == expected
    ids = [entry["id"] for entry in payload]
    assert len(ids) == len(set(ids)) == 2 ** len(template_features())


def test_combinations_table() -> None:
    result = invoke("combinations")
    assert result.exit_code == 0, result.output
    assert "base" in result.stdout


# checks engine ------------------------------------------------------------------------------------


def python_step(name: str, code: str) -> CommandStep:
    return CommandStep(name, (sys.executable, "-c", code))


def test_check_project_stops_at_the_first_failure(tmp_path: Path) -> None:
    steps: list[Step] = [
        python_step("one", "print('fine')"),
        python_step("two", "import sys; print('broken\\n' * 50 + 'last words'); sys.exit(3)"),
        python_step("three", "print('never')"),
    ]
    seen: list[tuple[str, Status | None]] = []
    report = checks.check_project(
        tmp_path,
        steps=steps,
        on_step=lambda name, result: seen.append((name, None if result is None else result.status)),
    )
    assert not report.ok
    assert [r.status for r in report.results] == [Status.PASSED, Status.FAILED, Status.SKIPPED]
    failed = report.failed
    assert failed is not None
    assert failed.name == "two"
    assert failed.returncode == 3
    assert failed.tail().endswith("last words")
    assert len(failed.tail(5).splitlines()) == 5
    assert seen == [
        ("one", None),
        ("one", Status.PASSED),
        ("two", None),
        ("two", Status.FAILED),
        ("three", Status.SKIPPED),
    ]


def test_steps_run_without_the_callers_virtualenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/else/.venv")
    monkeypatch.setenv("UV_PROJECT_ENVIRONMENT", "/somewhere/else/.venv")
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://leaked")
    code = "import os; print(os.environ.get('VIRTUAL_ENV'), os.environ.get('TEST_DATABASE_URL'))"
    report = checks.check_project(tmp_path, steps=[python_step("env", code)])
    assert report.results[0].output.strip() == "None None"


def test_tools_run_from_the_projects_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny uv project: `uv run --no-sync` must use its .venv even under another venv."""
    project = tmp_path / "tiny"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tiny"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = []\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    steps: list[Step] = [
        CommandStep("uv sync", ("uv", "sync", "--offline")),
        CommandStep("prefix", checks.tool("python", "-c", "import sys; print(sys.prefix)")),
    ]
    report = checks.check_project(project, steps=steps)
    assert report.ok, report.failed and report.failed.output
    prefix = Path(report.results[1].output.strip().splitlines()[-1])
    assert prefix.resolve() == (project / ".venv").resolve()


def test_a_failure_excerpt_keeps_the_assertion_that_a_long_log_pushed_out_of_the_tail() -> None:
    output = "\n".join(
        [
            "def test_rolling_restart():",
            ">       assert set(outcomes) == {'200'}, outcomes",
            "E       AssertionError: Counter({'200': 301, 'ConnectError': 1})",
            *(f"INFO httpx2 request {n}" for n in range(200)),
            "FAILED tests/test_shutdown.py::test_rolling_restart",
        ]
    )
    failed = StepResult("pytest", Status.FAILED, 1.0, "pytest", output, 1)
    excerpt = failed.excerpt(5).splitlines()
    assert excerpt[0] == "E       AssertionError: Counter({'200': 301, 'ConnectError': 1})"
    assert excerpt[2:] == output.splitlines()[-5:]
    assert "AssertionError" not in failed.tail(5)
    quiet = StepResult("ruff", Status.FAILED, 1.0, "ruff", "a\nb\nc", 1)
    assert quiet.excerpt(2) == quiet.tail(2) == "b\nc"


def test_default_steps_and_their_environments(tmp_path: Path) -> None:
    embedded_steps = checks.default_steps()
    services_steps = checks.default_steps(services=True)
    assert [step.name for step in embedded_steps] == [
        "uv sync",
        "bandit",
        "semgrep",
        "hadolint",
        "schemas",
        "ruff check",
        "ruff format",
        "mypy",
        "alembic",
        "serve",
        "pytest",
    ]
    assert [step.name for step in services_steps] == [
        *(step.name for step in embedded_steps),
        "pytest services",
    ]
    groups = [g.names for g in checks.default_plan(services=True) if isinstance(g, checks.Parallel)]
    assert groups == [
        ("uv sync", "bandit", "semgrep", "hadolint", "schemas"),
        ("ruff check", "ruff format", "mypy", "alembic"),
        ("serve", "pytest", "pytest services"),
    ]
    by_name = {step.name: step for step in services_steps if isinstance(step, CommandStep)}
    assert by_name["uv sync"].argv == ("uv", "sync", "--all-groups")
    assert by_name["mypy"].argv == ("uv", "run", "--no-sync", "mypy", ".")
    assert by_name["pytest"].argv == ("uv", "run", "--no-sync", "pytest", "-p", "no:cacheprovider")
    assert by_name["bandit"].argv[1:] == ("-q", "-r", "app", "-ll")
    assert by_name["semgrep"].argv[:2] == ("uvx", checks.SEMGREP)
    for name in ("hadolint", "bandit"):
        assert Path(by_name[name].argv[0]).is_file()
    embedded = CheckContext(project=tmp_path, scratch=tmp_path / "scratch")
    services = CheckContext(tmp_path, tmp_path / "scratch", ServicesConfig("pg://db", "redis://r"))
    alembic = next(step for step in services_steps if isinstance(step, checks.AlembicStep))
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'scratch' / 'check.db'}"
    assert alembic.argv(embedded)[-1] == sqlite_url
    assert alembic.argv(services)[-2:] == (sqlite_url, "server:pg://db")
    assert by_name["pytest"].env(services) == {"ENVIRONMENT": "test"}
    assert by_name["pytest services"].env(services) == {
        "ENVIRONMENT": "test",
        "TEST_DATABASE_URL": "pg://db",
        "TEST_REDIS_URL": "redis://r",
    }
    with pytest.raises(ValueError, match="ServicesConfig"):
        by_name["pytest services"].env(embedded)


def test_parallel_groups_run_side_by_side_and_stop_the_plan(tmp_path: Path) -> None:
    """Both steps of a group run (at the same time); a failing group skips what follows."""
    marker = tmp_path / "started"
    wait_for_other = (
        "import pathlib, sys, time; p = pathlib.Path(sys.argv[1]); p.mkdir(exist_ok=True); "
        "(p / sys.argv[2]).touch(); deadline = time.time() + 20\n"
        "while len(list(p.iterdir())) < 2 and time.time() < deadline: time.sleep(0.05)\n"
        "sys.exit(0 if len(list(p.iterdir())) == 2 else 1)"
    )
    plan: list[Step | checks.Parallel] = [
        checks.Parallel(
            (
                CommandStep("a", (sys.executable, "-c", wait_for_other, str(marker), "a")),
                CommandStep("b", (sys.executable, "-c", wait_for_other, str(marker), "b")),
            )
        ),
        checks.Parallel(
            (python_step("fails", "import sys; sys.exit(2)"), python_step("passes", "pass"))
        ),
        python_step("never", "pass"),
    ]
    report = checks.check_project(tmp_path, steps=plan)
    assert [(r.name, r.status) for r in report.results] == [
        ("a", Status.PASSED),
        ("b", Status.PASSED),
        ("fails", Status.FAILED),
        ("passes", Status.PASSED),
        ("never", Status.SKIPPED),
    ]


def test_context_env_reaches_every_project_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # bytecode makes repeated imports cheap
    names = "'MYPY_CACHE_DIR', 'PYTHONDONTWRITEBYTECODE'"
    code = f"import os; print(*(os.environ.get(n) for n in ({names})))"
    report = checks.check_project(
        tmp_path, steps=[python_step("env", code)], env={"MYPY_CACHE_DIR": "/shared/mypy"}
    )
    assert report.results[0].output.strip() == "/shared/mypy None"


def test_services_get_one_redis_database_per_slot() -> None:
    config = ServicesConfig("pg://db", "redis://127.0.0.1:6379/8")
    assert config.with_redis_db(0).redis_url == "redis://127.0.0.1:6379/8"
    assert config.with_redis_db(7).redis_url == "redis://127.0.0.1:6379/15"
    assert ServicesConfig("pg://db", "redis://h:1").with_redis_db(2).redis_url == "redis://h:1/2"
    with pytest.raises(ValueError, match="Redis database 16 does not exist"):
        config.with_redis_db(8)
    run = matrix.MatrixRun(template=REPO_ROOT, workdir=Path("/w"), jobs=2, services=config)
    slot = run.slot(1)
    assert slot.services(config) == config.with_redis_db(1)
    assert slot.env(keep=False) == {
        "MYPY_CACHE_DIR": "/w/.slots/1/mypy-cache",
        "UV_PROJECT_ENVIRONMENT": "/w/.slots/1/venv",
    }
    assert slot.env(keep=True) == {"MYPY_CACHE_DIR": "/w/.slots/1/mypy-cache"}
    matrix.check_slots(config, 8)
    with pytest.raises(matrix.SelectionError):
        matrix.check_slots(config, 9)
    matrix.check_slots(None, 64)


def test_a_missing_tool_is_a_failed_step(tmp_path: Path) -> None:
    report = checks.check_project(tmp_path, steps=[CommandStep("x", ("no-such-tool-xyz",))])
    assert report.results[0].status is Status.FAILED
    assert "command not found" in report.results[0].output


def test_a_hanging_step_times_out(tmp_path: Path) -> None:
    step = CommandStep("sleep", (sys.executable, "-c", "import time; time.sleep(30)"), timeout=0.5)
    report = checks.check_project(tmp_path, steps=[step])
    result = report.results[0]
    assert result.status is Status.FAILED
    assert result.returncode == 124
    assert result.seconds < 10


# check command ------------------------------------------------------------------------------------


def quick_steps(fail: bool = False, services: bool = False) -> list[Step]:
    code = "import sys; print('bad news'); sys.exit(1)" if fail else "print('ok')"
    return [python_step("lint", "print('ok')"), python_step("tests", code)]


def test_check_command_reports_and_writes_junit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    monkeypatch.setattr(checks, "default_plan", lambda services=False: quick_steps(fail=True))
    junit = tmp_path / "out" / "check.xml"
    result = invoke("check", str(tmp_path), "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert "bad news" in result.stdout
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert [case.get("name") for case in cases] == ["lint", "tests"]
    assert cases[1].find("failure") is not None


def test_check_command_refuses_a_non_project(tmp_path: Path) -> None:
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 2
    assert "not a project directory" in error_line(result)


# matrix -------------------------------------------------------------------------------------------


def test_run_matrix_renders_and_checks_each_combination(
    synthetic_template: Path, tmp_path: Path
) -> None:
    combos = matrix.select_combinations(("alpha", "beta", "gamma"), only=["base", "alpha+beta"])
    run = matrix.MatrixRun(template=synthetic_template, workdir=tmp_path / "work", jobs=2)
    check_answers = python_step(
        "answers", "import pathlib; print(pathlib.Path('.copier-answers.yml').read_text())"
    )
    results = matrix.run_matrix(run, combos, steps=[check_answers])
    assert list(results) == ["base", "alpha+beta"]
    for report in results.values():
        assert report.ok, report.failed and report.failed.output
        assert [r.name for r in report.results] == ["render", "answers"]
    assert "beta: true" in results["alpha+beta"].results[1].output
    assert "gamma: false" in results["alpha+beta"].results[1].output
    # The projects are not kept; the workers' caches are, for the next run.
    assert [path.name for path in (tmp_path / "work").iterdir()] == [".slots"]


# copier's scantree leaves an os.scandir iterator open when a render fails mid-way.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_matrix_reports_a_render_failure(synthetic_template: Path, tmp_path: Path) -> None:
    (synthetic_template / "template" / "broken.txt.jinja").write_text(
        "{{ nope }}", encoding="utf-8"
    )
    run = matrix.MatrixRun(template=synthetic_template, workdir=tmp_path / "work", keep=True)
    results = matrix.run_matrix(run, [{"alpha": False, "beta": False, "gamma": False}],
                                steps=quick_steps())  # fmt: skip
    report = results["base"]
    assert [r.status for r in report.results] == [Status.FAILED, Status.SKIPPED, Status.SKIPPED]
    assert "nope" in report.results[0].output


def test_reports_markdown_and_junit(tmp_path: Path) -> None:
    passed = checks.check_project(tmp_path, steps=quick_steps())
    failed = checks.check_project(tmp_path, steps=quick_steps(fail=True))
    results = {"base": passed, "alpha": failed}
    markdown = reports.markdown_report(results, "matrix")
    assert "| `base` |" in markdown
    assert "## `alpha`: tests failed" in markdown
    assert "bad news" in markdown
    assert "| lint |" in markdown  # per-step timing row
    assert "Slowest combination: `" in markdown
    root = ET.fromstring(reports.junit_xml(results, "matrix"))
    cases = root.findall(".//testcase")
    assert len(cases) == 4
    assert sum(case.find("failure") is not None for case in cases) == 1


def test_markdown_report_collects_the_fuzz_line_of_each_combination(tmp_path: Path) -> None:
    line = "fuzz: 840 examples over 21 operations (profile quick)"
    steps = [python_step("pytest", f"print('41 passed'); print({line!r})")]
    results = {"base": checks.check_project(tmp_path, steps=steps)}
    markdown = reports.markdown_report(results, "matrix")
    assert "- `base`: pytest 840 examples over 21 operations (quick)" in markdown


def _matrix_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setattr(matrix, "default_plan", quick_steps)
    monkeypatch.setenv("CI", "true")
    return invoke("matrix", "--workdir", str(tmp_path / "work"), *args)


def test_matrix_command_writes_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    md, xml = tmp_path / "reports" / "matrix.md", tmp_path / "reports" / "matrix.xml"
    result = _matrix_cli(
        tmp_path, monkeypatch, "--only", "base", "--report", str(md), "--junit", str(xml)
    )
    assert result.exit_code == 0, result.output
    assert "1/1 passed" in result.stdout
    assert "| `base` |" in md.read_text(encoding="utf-8")
    names = [case.get("name") for case in ET.parse(xml).getroot().findall(".//testcase")]
    assert names == ["render", "lint", "tests"]


def test_matrix_command_fails_when_a_combination_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matrix, "default_plan", lambda services=False: quick_steps(fail=True))
    monkeypatch.setenv("CI", "true")
    result = invoke("matrix", "--workdir", str(tmp_path / "work"))
    assert result.exit_code == 1
    assert "bad news" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "0/2"], "invalid shard '0/2'"),
        (["--shard", "3/2"], "invalid shard '3/2'"),
        (["--shard", "two"], "invalid shard 'two'"),
        (["--only", "no_such_feature"], "unknown feature 'no_such_feature'"),
        (["--exclude", "a++b"], "invalid combination id"),
    ],
)
def test_matrix_refuses_bad_selection(tmp_path: Path, args: Sequence[str], message: str) -> None:
    result = invoke("matrix", "--workdir", str(tmp_path / "work"), *args)
    assert result.exit_code == 2, result.output
    assert message in error_line(result)
    assert not (tmp_path / "work").exists()


def test_matrix_with_an_empty_shard_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = len(all_combinations(template_features())) + 1
    result = _matrix_cli(tmp_path, monkeypatch, "--shard", f"{total}/{total}")
    assert result.exit_code == 0, result.output
    assert "No combinations selected" in result.stdout


def test_features_module_exposes_the_template_root() -> None:
    assert features.default_template_dir() == REPO_ROOT


# covering sample, estimate ------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 3, 6, 7])
def test_covering_sample_covers_every_pair_of_feature_values(count: int) -> None:
    names = tuple(f"f{number}" for number in range(count))
    sample = features.covering_combinations(names)
    ids = [combination_id(combo) for combo in sample]
    assert len(ids) == len(set(ids))
    assert features.value_pairs(sample) == features.value_pairs(all_combinations(names))
    assert make_combination(names, ()) in sample
    assert make_combination(names, names) in sample
    for name in names:
        assert make_combination(names, [name]) in sample
        assert make_combination(names, set(names) - {name}) in sample
    assert len(sample) <= max(1, 2 + 2 * count)
    if count == 6:
        assert len(sample) == 14  # instead of 64


@pytest.mark.parametrize("count", [0, 1, 2, 3, 6, 7])
def test_pairwise_sample_is_all_off_all_on_and_each_alone_and_covers_every_pair(
    count: int,
) -> None:
    names = tuple(f"f{number}" for number in range(count))
    sample = features.pairwise_combinations(names)
    expected = {
        combination_id(make_combination(names, ())),
        combination_id(make_combination(names, names)),
        *(combination_id(make_combination(names, [name])) for name in names),
    }
    assert {combination_id(combo) for combo in sample} == expected
    assert features.value_pairs(sample) == features.value_pairs(all_combinations(names))


def test_selection_by_sample() -> None:
    names = ("a", "b", "c", "d")
    covering = matrix.select_combinations(names, sample="covering")
    assert len(covering) == 10 < len(all_combinations(names))
    sharded = [
        matrix.select_combinations(names, sample="covering", shard_spec=(k, 3)) for k in (1, 2, 3)
    ]
    flat = [combination_id(combo) for part in sharded for combo in part]
    assert sorted(flat) == sorted(map(combination_id, covering))
    with pytest.raises(matrix.SelectionError, match="unknown sample"):
        matrix.select_combinations(names, sample="most")


def test_estimate_scales_the_test_suite_with_the_features() -> None:
    two = estimate.estimate(combinations=64, features=2, services=True)
    six = estimate.estimate(combinations=64, features=6, services=True, transitions=384)
    assert six.seconds_matrix > two.seconds_matrix
    assert estimate.pytest_growth(6) == 3.5
    assert six.seconds == six.seconds_matrix + six.seconds_transitions > 0


def test_sample_auto_prints_the_estimate_and_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = f"{2 ** len(template_features()) + 1}"
    roomy = _matrix_cli(tmp_path, monkeypatch, "--sample", "auto", "--budget", "999999",
                        "--shard", f"{empty}/{empty}")  # fmt: skip
    assert roomy.exit_code == 0, roomy.output
    assert "Estimate on" in roomy.stdout
    assert "Running the full matrix: its estimate fits the budget." in roomy.stdout
    tight = _matrix_cli(tmp_path, monkeypatch, "--sample", "auto", "--budget", "1",
                        "--shard", f"{empty}/{empty}")  # fmt: skip
    assert tight.exit_code == 0, tight.output
    assert "Running the pairwise sample although its estimate would exceed" in tight.stdout
    missing = invoke("matrix", "--sample", "auto", "--workdir", str(tmp_path / "w"))
    assert missing.exit_code == 2
    assert "--sample auto needs --budget" in error_line(missing)


# the linters of the check engine on a real render ------------------------------------------------


def test_render_passes_bandit_hadolint_and_the_schemas(render: Render, tmp_path: Path) -> None:
    project = render(**make_combination(template_features(), template_features()))
    plan = [
        step for step in checks.default_steps() if step.name in {"bandit", "hadolint", "schemas"}
    ]
    report = checks.check_project(project, steps=plan)
    assert [r.name for r in report.results] == ["bandit", "hadolint", "schemas"]
    assert report.ok, report.failed and report.failed.output
    schemas = report.results[2].output
    for schema, _files in checks.SCHEMAS:
        assert f"--builtin-schema {schema}" in schemas


def test_bandit_step_fails_on_a_medium_finding(render: Render, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(render(), project)
    (project / "app" / "unsafe.py").write_text(
        "import subprocess\n\n\ndef run(command: str) -> None:\n"
        "    subprocess.run(command, shell=True)\n",
        encoding="utf-8",
    )
    bandit = [step for step in checks.default_steps() if step.name == "bandit"]
    report = checks.check_project(project, steps=bandit)
    assert not report.ok
    assert "B602" in report.results[0].output


# transitions --------------------------------------------------------------------------------------


@pytest.fixture
def synthetic_repo(synthetic_template: Path) -> Path:
    """The synthetic template as a git repository (copier update needs real commits)."""
    transitions.git(synthetic_template, "init", "-q")
    transitions.git(synthetic_template, "add", "-A")
    transitions.git(synthetic_template, "commit", "-q", "-m", "synthetic template")
    return synthetic_template


def test_transition_ids_and_count() -> None:
    names = ("alpha", "beta", "gamma")
    chosen = transitions.all_transitions(all_combinations(names))
    assert len(chosen) == 3 * 2**3
    ids = [transitions.transition_id(t) for t in chosen]
    assert len(set(ids)) == len(ids)
    assert ids[:3] == ["base:on:alpha", "base:on:beta", "base:on:gamma"]
    assert "alpha+beta+gamma:off:beta" in ids
    assert transitions.final_combination(chosen[0]) == make_combination(names, ["alpha"])


def test_transitions_of_a_template_all_pass(synthetic_repo: Path) -> None:
    names = ("alpha", "beta", "gamma")
    starts = [make_combination(names, ()), make_combination(names, names)]
    chosen = transitions.all_transitions(starts)
    seen: list[str] = []
    results = transitions.run_transitions(
        transitions.TransitionRun(template=synthetic_repo, jobs=2),
        chosen,
        lambda tid, report: seen.append(tid),
    )
    assert list(results) == [transitions.transition_id(t) for t in chosen]
    assert sorted(seen) == sorted(results)
    for report in results.values():
        assert report.ok, report.failed and report.failed.output
        assert [r.name for r in report.results] == ["render", "update", "compare"]


def test_transition_comparison_finds_every_kind_of_difference(
    synthetic_repo: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    assert transitions.render(str(synthetic_repo), str(fresh), {"alpha": True}).passed
    (fresh / ".env").write_text("SECRET=0\n", encoding="utf-8")  # secrets differ per render
    project = tmp_path / "project"
    shutil.copytree(fresh, project)
    (project / ".env").write_text("SECRET=1\n", encoding="utf-8")
    assert transitions.compare(project, fresh, b"SECRET=2\n") == [".env was changed by the update"]
    (project / "README.md").write_text("edited\n", encoding="utf-8")
    (project / "extra.txt").write_text("left over\n", encoding="utf-8")
    (project / ".copier-answers.yml").write_text("alpha: false\n", encoding="utf-8")
    problems = transitions.compare(project, fresh, b"SECRET=1\n")
    assert "left over after the update: extra.txt" in problems
    assert "differs from a fresh render: README.md" in problems
    assert any(problem.startswith(".copier-answers.yml:") for problem in problems)
    (fresh / "only-fresh.txt").write_text("x\n", encoding="utf-8")
    assert "missing after the update: only-fresh.txt" in transitions.compare(
        project, fresh, b"SECRET=1\n"
    )


def test_matrix_transitions_command_on_the_template(tmp_path: Path) -> None:
    md, xml = tmp_path / "transitions.md", tmp_path / "transitions.xml"
    result = invoke(
        "matrix", "--transitions", "--only", "base", "--report", str(md), "--junit", str(xml)
    )
    assert result.exit_code == 0, result.output
    count = len(template_features())
    assert f"{count}/{count} transitions passed" in result.stdout
    for feature in template_features():
        assert f"| `base:on:{feature}` |" in md.read_text(encoding="utf-8")
    cases = ET.parse(xml).getroot().findall(".//testcase")
    assert [case.get("name") for case in cases] == ["render", "update", "compare"] * count
