"""The `fastapi-template` command: render projects, list combinations, check projects."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import copier
import typer
from copier.errors import CopierError, DirtyLocalWarning
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from generator import checks, estimate, features, matrix, reports
from generator import transitions as transitions_mod
from generator.checks import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, ServicesConfig, StepResult

app = typer.Typer(
    name="fastapi-template",
    help="Render FastAPI services from the Copier template and check them.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

USAGE_ERROR = 2
_LOCAL_PREFIXES = (".", "/", "~", "\\")


class CliError(Exception):
    """A problem the user can fix: reported as one red line, exit status 2."""


def _stdout() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 160))
    return console


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _one_line(message: str) -> str:
    return re.sub(r"\s+", " ", message).strip()


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    _stderr().print(Text(f"Error: {_one_line(message)}", style="bold red"), soft_wrap=True)
    raise typer.Exit(code)


def _quiet_copier() -> None:
    """Rendering a local working tree with uncommitted changes is what --vcs-ref documents."""
    warnings.filterwarnings("ignore", category=DirtyLocalWarning)


def _plain_output() -> bool:
    """Line-by-line output for logs: not a terminal, or running on CI."""
    return os.environ.get("CI") == "true" or not _stdout().is_terminal


# new ----------------------------------------------------------------------------------------------


def _resolve_template(template: str | None) -> str | Path:
    """An absolute local template directory, or a remote URL passed through unchanged."""
    if template is None:
        try:
            return features.default_template_dir()
        except features.TemplateNotFoundError:
            raise CliError(
                "no template next to this installation; pass --template PATH_OR_URL"
            ) from None
    path = Path(template).expanduser()
    if path.exists():
        if not path.is_dir():
            raise CliError(f"template {template!r} is not a directory")
        return path.resolve()
    if template.startswith(_LOCAL_PREFIXES):
        raise CliError(f"template {template!r} does not exist")
    return template


def _questions(source: str | Path, vcs_ref: str | None) -> features.Questions:
    if isinstance(source, Path):
        try:
            return features.load_questions(features.find_copier_yml(source))
        except features.TemplateNotFoundError as error:
            raise CliError(str(error)) from None
    with copier.Worker(src_path=source, vcs_ref=vcs_ref, quiet=True) as worker:
        return dict(worker.template.questions_data)


def parse_data(items: Sequence[str]) -> dict[str, str]:
    """Parse repeated KEY=VALUE options (values stay strings; copier casts them)."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise CliError(f"malformed --data {item!r}: expected KEY=VALUE")
        data[key] = value
    return data


def _answers(
    questions: features.Questions,
    chosen: Sequence[str],
    all_features: bool,
    data: dict[str, str],
) -> dict[str, Any]:
    names = features.feature_names(questions)
    unknown = sorted(set(data).difference(questions))
    if unknown:
        raise CliError(f"unknown question {unknown[0]!r} in --data (known: {', '.join(questions)})")
    try:
        combination = features.make_combination(names, names if all_features else chosen)
    except features.FeatureError as error:
        raise CliError(str(error)) from None
    explicit = set(chosen) | (set(names) if all_features else set())
    clash = sorted(explicit.intersection(data))
    if clash:
        raise CliError(f"feature {clash[0]!r} is set by both --feature/--all-features and --data")
    return {**combination, **data}


def _check_destination(destination: Path) -> None:
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise CliError(f"destination {destination} exists and is not empty")


def _clean_destination(destination: Path, created: bool) -> None:
    """Leave the destination as it was (missing, or empty) before a failed render."""
    if not destination.exists():
        return
    if created:
        shutil.rmtree(destination, ignore_errors=True)
        return
    for child in destination.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


@app.command()
def new(
    destination: Annotated[
        Path, typer.Argument(help="Directory to create (missing or empty).", show_default=False)
    ],
    *,
    feature: Annotated[
        list[str] | None,
        typer.Option(
            "--feature",
            "-f",
            metavar="NAME",
            help="Enable a feature (repeatable).",
            show_default=False,
        ),
    ] = None,
    all_features: Annotated[
        bool, typer.Option("--all-features", help="Enable every feature.")
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            metavar="KEY=VALUE",
            help="Answer a question (repeatable).",
            show_default=False,
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="PATH_OR_URL",
            help="Template path or git URL \\[default: this repository].",
            show_default=False,
        ),
    ] = None,
    vcs_ref: Annotated[
        str | None,
        typer.Option(
            metavar="REF",
            help="Git ref of the template \\[default: HEAD with uncommitted changes for a local "
            "template, the latest tag for a URL].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Render a new project.

    In a terminal without answer options, copier asks the questions.
    Otherwise every question takes its default and features not named are off.
    The project name defaults to the destination directory's name.
    """
    _quiet_copier()
    chosen = list(feature or ())
    answer_options = bool(chosen or all_features or data)
    interactive = not answer_options and sys.stdin.isatty()
    target = destination.expanduser().resolve()
    # Everything that can be refused is checked before anything is written.
    try:
        source = _resolve_template(template)
        parsed = parse_data(data or ())
        _check_destination(target)
        questions: features.Questions | None = None
        if isinstance(source, Path) or not interactive:
            questions = _questions(source, vcs_ref)
        answers = None if interactive else _answers(questions or {}, chosen, all_features, parsed)
    except (CliError, ValueError, CopierError) as error:
        _fail(str(error))
    except Exception as error:  # e.g. a template URL that cannot be cloned
        _fail(f"{type(error).__name__}: {error}", 1)
    user_defaults = (
        {"project_name": target.name} if questions and "project_name" in questions else None
    )
    ref = vcs_ref if vcs_ref is not None else ("HEAD" if isinstance(source, Path) else None)
    created = not target.exists()
    try:
        copier.run_copy(
            str(source),
            target,
            data=answers,
            defaults=not interactive,
            user_defaults=user_defaults,
            unsafe=False,
            vcs_ref=ref,
        )
    except KeyboardInterrupt:
        _clean_destination(target, created)
        _fail("interrupted", 130)
    except (ValueError, CopierError) as error:
        # copier reports failed validators, invalid choices and missing answers as ValueError.
        _clean_destination(target, created)
        _fail(str(error))
    except Exception as error:
        _clean_destination(target, created)
        _fail(f"{type(error).__name__}: {error}", 1)


# combinations -------------------------------------------------------------------------------------


@app.command()
def combinations(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List every feature combination with its stable id."""
    try:
        combos = features.all_combinations(features.template_features())
    except features.TemplateNotFoundError as error:
        _fail(str(error))
    if as_json:
        payload = [{"id": features.combination_id(c), "answers": c} for c in combos]
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{len(combos)} combination(s)")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("answers")
    for number, combo in enumerate(combos, start=1):
        answers = " ".join(f"{name}={'true' if on else 'false'}" for name, on in combo.items())
        table.add_row(str(number), features.combination_id(combo), answers or "-")
    _stdout().print(table)


# check --------------------------------------------------------------------------------------------

ServicesFlag = Annotated[
    bool,
    typer.Option("--services", help="Run the project's tests against real PostgreSQL and Redis."),
]
DatabaseUrl = Annotated[
    str,
    typer.Option(
        help="TEST_DATABASE_URL in services mode.", envvar="FASTAPI_TEMPLATE_POSTGRES_URL"
    ),
]
RedisUrl = Annotated[
    str, typer.Option(help="TEST_REDIS_URL in services mode.", envvar="FASTAPI_TEMPLATE_REDIS_URL")
]
JunitPath = Annotated[
    Path | None, typer.Option("--junit", help="Write JUnit XML here.", show_default=False)
]


def _services(enabled: bool, database_url: str, redis_url: str) -> ServicesConfig | None:
    return ServicesConfig(database_url, redis_url) if enabled else None


def _status_line(prefix: str, result: StepResult) -> Text:
    style = reports.STATUS_STYLE[result.status]
    seconds = "" if result.status is checks.Status.SKIPPED else f" ({result.seconds:.1f}s)"
    return Text.assemble(prefix, (result.status.value, style), f" {result.name}{seconds}")


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="A rendered project.", show_default=False)],
    *,
    services: ServicesFlag = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    junit: JunitPath = None,
) -> None:
    """Run a rendered project's checks: uv sync, ruff, mypy, alembic, pytest."""
    project = directory.expanduser().resolve()
    if not (project / "pyproject.toml").is_file():
        _fail(f"{directory} is not a project directory (no pyproject.toml)")
    config = _services(services, database_url, redis_url)
    out = _stdout()
    mode = "services" if config else "embedded"
    out.print(f"Checking {project} ({mode} mode)")

    def on_step(name: str, result: StepResult | None) -> None:
        if result is not None and result.status is not checks.Status.SKIPPED:
            out.print(_status_line("  ", result))

    with out.status("running checks", spinner="dots") if out.is_terminal else _nothing():
        report = checks.check_project(project, services=config, on_step=on_step)
    out.print(reports.steps_table(report, title=f"{project.name} ({mode})"))
    if junit is not None:
        reports.write_text(junit, reports.junit_xml({project.name: report}, "check"))
    failed = report.failed
    if failed is not None:
        out.print(Text(f"{failed.name} failed: $ {failed.command}", style="bold red"))
        out.print(Text(failed.excerpt()), soft_wrap=True)
        raise typer.Exit(1)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# matrix -------------------------------------------------------------------------------------------


class _PlainListener(matrix.MatrixListener):
    """One line per finished step and per finished combination: readable in CI logs."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.done = 0
        self.lock = threading.Lock()

    def step_finished(self, combo_id: str, result: StepResult) -> None:
        if result.status is not checks.Status.SKIPPED:
            with self.lock:
                self.console.print(_status_line(f"{combo_id}: ", result), soft_wrap=True)

    def combination_finished(self, combo_id: str, report: checks.ProjectReport) -> None:
        with self.lock:
            self.done += 1
            verdict = Text("passed", "green") if report.ok else Text("FAILED", "bold red")
            line = Text.assemble(
                f"[{self.done}/{self.total}] {combo_id} ", verdict, f" in {report.wall:.1f}s"
            )
            self.console.print(line, soft_wrap=True)


class _ProgressListener(matrix.MatrixListener):
    """A rich progress display: overall bar plus one line per running combination."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.overall = progress.add_task("combinations", total=total)
        self.tasks: dict[str, TaskID] = {}
        self.lock = threading.Lock()

    def combination_started(self, combo_id: str) -> None:
        with self.lock:
            self.tasks[combo_id] = self.progress.add_task(combo_id, total=None)

    def step_started(self, combo_id: str, step: str) -> None:
        with self.lock:
            self.progress.update(self.tasks[combo_id], description=f"{combo_id}: {step}")

    def combination_finished(self, combo_id: str, report: checks.ProjectReport) -> None:
        with self.lock:
            self.progress.remove_task(self.tasks.pop(combo_id))
            self.progress.advance(self.overall)
            verdict = "[green]passed[/]" if report.ok else "[bold red]FAILED[/]"
            self.progress.console.print(f"{combo_id}: {verdict} in {report.wall:.1f}s")


def _default_jobs(transitions: bool = False) -> int:
    """Deep checks: one combination per core (each runs several steps side by side).
    Transitions wait on git and the disk a lot: two per core."""
    cores = estimate.cores()
    return 2 * cores if transitions else max(1, min(4, cores))


def _choose_sample(
    out: Console,
    names: tuple[str, ...],
    sample: str,
    budget: int | None,
    services: bool,
) -> str:
    """Resolve --sample auto: the largest sample whose estimate fits --budget.

    All combinations, else the covering sample, else the pairwise sample (which runs even when
    its estimate does not fit: it is the least CI checks). The budget also has to hold every
    feature transition (the CI entry point runs them after the deep matrix), so their estimate
    is reserved first. Prints the estimates and the reason.
    """
    if sample != "auto":
        return sample
    if budget is None:
        raise CliError("--sample auto needs --budget SECONDS")
    n = len(names)
    transitions = estimate.estimate(combinations=0, features=n, services=services,
                                    transitions=n * 2**n)  # fmt: skip
    options = {
        "all": 2**n,
        "covering": len(features.covering_combinations(names)),
        "pairwise": len(features.pairwise_combinations(names)),
    }
    estimates = {
        name: estimate.estimate(combinations=count, features=n, services=services)
        for name, count in options.items()
    }
    out.print(
        f"Estimate on {estimate.cores()} core(s), {n} feature(s): "
        + ", ".join(
            f"{name} {each.combinations} combination(s) ~{estimate.minutes(each.seconds_matrix)}"
            for name, each in estimates.items()
        )
        + f"; {transitions.transitions} transition(s)"
        f" ~{estimate.minutes(transitions.seconds_transitions)}; budget left"
        f" {estimate.minutes(budget)}."
    )
    for name, each in estimates.items():
        if each.seconds_matrix + transitions.seconds_transitions <= budget:
            if name == "all":
                out.print("Running the full matrix: its estimate fits the budget.")
            else:
                out.print(
                    f"Running the {name} sample: larger samples would exceed the budget. Every"
                    " pair of feature values, all off, all on and each feature alone are still"
                    " covered; the full matrix runs on the GitHub workflow's shards"
                    " (.github/workflows/ci.yml)."
                )
            return name
    out.print(
        "Running the pairwise sample although its estimate would exceed the budget: it is the"
        " least CI checks (all off, all on, each feature alone, so every pair of feature"
        " values); the full matrix runs on the GitHub workflow's shards (.github/workflows/ci.yml)."
    )
    return "pairwise"


def _print_failures(out: Console, results: dict[str, checks.ProjectReport]) -> list[str]:
    failures = [key for key, r in results.items() if not r.ok]
    for key in failures:
        failed = results[key].failed
        assert failed is not None
        command = f": $ {failed.command}" if failed.command else ""
        out.print(Text(f"{key}: {failed.name} failed{command}", style="bold red"))
        out.print(Text(failed.excerpt()), soft_wrap=True)
    return failures


def _write_reports(
    results: dict[str, checks.ProjectReport],
    title: str,
    suite: str,
    report: Path | None,
    junit: Path | None,
    elapsed: float,
) -> None:
    if report is not None:
        reports.write_text(report, reports.markdown_report(results, title, elapsed))
    if junit is not None:
        reports.write_text(junit, reports.junit_xml(results, suite))


@app.command("matrix")
def matrix_command(
    *,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Combinations (or transitions) in parallel \\[default: one per core; "
            "two per core with --transitions].",
            show_default=False,
        ),
    ] = None,
    shard_spec: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Run shard K of N.", show_default=False),
    ] = None,
    services: ServicesFlag = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", metavar="ID", help="Only this combination (repeatable).", show_default=False
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="ID",
            help="Skip this combination (repeatable).",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        str,
        typer.Option(
            metavar="all|covering|pairwise|auto",
            help="Which combinations: all of them; the covering sample (all off, all on, each "
            "feature alone and left out, every pair of values); the pairwise sample (all off, "
            "all on, each feature alone); or auto: the largest that fits --budget.",
        ),
    ] = "all",
    budget: Annotated[
        int | None,
        typer.Option(
            metavar="SECONDS",
            help="Time left for the matrix and all transitions (--sample auto).",
            show_default=False,
        ),
    ] = None,
    transitions: Annotated[
        bool,
        typer.Option(
            "--transitions",
            help="Instead of deep checks: from each selected combination, switch each feature "
            "with `copier update --defaults --data <feature>=<value>` and compare the result "
            "with a fresh render.",
        ),
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Render here; worker environments and caches stay in DIR/.slots for the next "
            "run \\[default: a temporary directory].",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the rendered projects.")] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a markdown report here.", show_default=False),
    ] = None,
    junit: JunitPath = None,
) -> None:
    """Render every selected feature combination and check each one (or every transition)."""
    _quiet_copier()
    out = _stdout()
    config = _services(services, database_url, redis_url)
    workers = jobs if jobs is not None else _default_jobs(transitions)
    try:
        names = features.template_features()
        parsed_shard = matrix.parse_shard(shard_spec) if shard_spec is not None else None
        chosen_sample = _choose_sample(out, names, sample, budget, config is not None)
        selected = matrix.select_combinations(
            names,
            only=only or (),
            exclude=exclude or (),
            shard_spec=parsed_shard,
            sample=chosen_sample,
        )
        template = features.default_template_dir()
        if not transitions:
            matrix.check_slots(config, workers)
    except (CliError, matrix.SelectionError, features.TemplateNotFoundError) as error:
        _fail(str(error))
    shard_note = f", shard {shard_spec}" if shard_spec else ""
    sample_note = "" if chosen_sample == "all" else f", {chosen_sample} sample"
    if transitions:
        _transitions(out, template, selected, workers, shard_note + sample_note, report, junit)
        return
    mode = "services" if config else "embedded"
    ids = [features.combination_id(combo) for combo in selected]
    if not selected:
        out.print("No combinations selected.")
    else:
        shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
        out.print(
            f"Checking {len(ids)} combination(s){shard_note}{sample_note} in {mode} mode, "
            f"{workers} at a time: {shown}"
        )

    temporary = workdir is None
    root = Path(tempfile.mkdtemp(prefix="fastapi-template-matrix-")) if temporary else workdir
    assert root is not None
    run = matrix.MatrixRun(
        template=template, workdir=root.resolve(), jobs=workers, services=config, keep=keep
    )
    started = time.monotonic()
    try:
        if _plain_output():
            results = matrix.run_matrix(run, selected, _PlainListener(out, len(selected)))
        else:
            columns = (
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=out) as progress:
                listener = _ProgressListener(progress, len(selected))
                results = matrix.run_matrix(run, selected, listener)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    finally:
        if temporary and not keep:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.monotonic() - started

    title = f"fastapi-template matrix ({mode}{shard_note}{sample_note})"
    if results:
        out.print(reports.matrix_table(results, title=title))
    _write_reports(results, title, "matrix", report, junit, elapsed)
    failures = _print_failures(out, results)
    if keep:
        out.print(f"Rendered projects kept in {root}")
    summary = f"{len(results) - len(failures)}/{len(results)} passed in {elapsed:.0f}s"
    out.print(Text(summary, style="bold red" if failures else "green"))
    if failures:
        raise typer.Exit(1)


def _transitions(
    out: Console,
    template: Path,
    selected: list[features.Combination],
    jobs: int,
    note: str,
    report: Path | None,
    junit: Path | None,
) -> None:
    chosen = transitions_mod.all_transitions(selected)
    if not chosen:
        out.print("No transitions selected.")
        return
    out.print(
        f"Checking {len(chosen)} feature transition(s) from {len(selected)} combination(s)"
        f"{note}, {jobs} at a time (copier update, compared with a fresh render)"
    )
    lock = threading.Lock()
    done = [0]

    def on_done(transition_id: str, result: checks.ProjectReport) -> None:
        with lock:
            done[0] += 1
            verdict = Text("passed", "green") if result.ok else Text("FAILED", "bold red")
            update = result.result(transitions_mod.UPDATE_STEP)
            seconds = f" in {update.seconds:.1f}s" if update and update.seconds else ""
            line = Text.assemble(f"[{done[0]}/{len(chosen)}] {transition_id} ", verdict, seconds)
            out.print(line, soft_wrap=True)

    started = time.monotonic()
    try:
        results = transitions_mod.run_transitions(
            transitions_mod.TransitionRun(template=template, jobs=jobs), chosen, on_done
        )
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    elapsed = time.monotonic() - started
    title = f"fastapi-template transitions{note}"
    _write_reports(results, title, "transitions", report, junit, elapsed)
    failures = _print_failures(out, results)
    summary = f"{len(results) - len(failures)}/{len(results)} transitions passed in {elapsed:.0f}s"
    out.print(Text(summary, style="bold red" if failures else "green"))
    if failures:
        raise typer.Exit(1)


# bench --------------------------------------------------------------------------------------------
# The harness lives in generator/bench.py and benchmarks/; this is only its registration.
from generator import bench  # noqa: E402

app.command("bench")(bench.command)
