"""Every feature toggle through `copier update`, compared with a fresh render.

For every start combination and every feature, the start project (a fresh render, committed
to git) is updated with `copier update --defaults --data <feature>=<other value>`; the result
must equal a fresh render of the final answers: the same files with the same contents (the
answers file compared as data), and the generated `.env` untouched. With n features that is
n * 2^n transitions (384 for six). No deep checks run here: the final combination is itself
checked in full by the deep matrix.

Repeated work is avoided: every combination is rendered once (it serves as the start of n
transitions and as the expected result of n others), renders and updates run in worker
processes (copier changes the working directory, so one render per process at a time), and
all of it happens on a RAM-backed directory when one exists (`/dev/shm`): copier creates and
deletes temporary clones and renders for every update, and deleting directories is slow on
some disks.
"""

from __future__ import annotations

import filecmp
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml

from generator.checks import ProjectReport, Status, StepResult
from generator.features import Combination, combination_id

PROJECT_NAME = "Acme Orders"
ANSWERS_FILE = ".copier-answers.yml"
ENV_FILE = ".env"
RENDER_STEP, UPDATE_STEP, COMPARE_STEP = "render", "update", "compare"
SCRATCH_CANDIDATES = (Path("/dev/shm"),)

Transition = tuple[Combination, str]


def transition_id(transition: Transition) -> str:
    """`<start id>:<on|off>:<feature>`, e.g. `base:on:auth`."""
    start, feature = transition
    return f"{combination_id(start)}:{'off' if start[feature] else 'on'}:{feature}"


def final_combination(transition: Transition) -> Combination:
    start, feature = transition
    return {**start, feature: not start[feature]}


def all_transitions(starts: Sequence[Combination]) -> list[Transition]:
    """Each start combination with each of its features switched to the other value."""
    return [(dict(start), feature) for start in starts for feature in start]


def default_scratch_root() -> Path | None:
    """A RAM-backed directory for throw-away renders, when the machine has a writable one."""
    for candidate in SCRATCH_CANDIDATES:
        if candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


# git ----------------------------------------------------------------------------------------------

_GIT_IDENTITY = (
    "-c",
    "user.name=fastapi-template",
    "-c",
    "user.email=matrix@fastapi-template.invalid",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *_GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout


def snapshot_template(repo: Path, destination: Path) -> Path:
    """A clone of `repo` whose HEAD is a commit of the working tree under test.

    `copier update` re-renders the project's recorded template commit, so the template must be a
    real commit: the clone keeps the history and adds the current, possibly uncommitted, tracked
    and untracked (not ignored) files on top.
    """
    git(repo, "clone", "-q", "--no-local", str(repo), str(destination))
    listing = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    wanted = set(filter(None, listing.split("\0")))
    for name in set(filter(None, git(destination, "ls-files", "-z").split("\0"))) - wanted:
        (destination / name).unlink()
    for name in wanted:
        source = repo / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "--allow-empty", "-m", "working tree under test")
    return destination


# work done in the worker processes ---------------------------------------------------------------


def _worker_init(scratch: str) -> None:
    # copier's temporary clones and renders go to the (RAM-backed) scratch directory too.
    tempfile.tempdir = scratch
    warnings.filterwarnings("ignore")


def _result(name: str, started: float, error: BaseException | str | None = None) -> StepResult:
    seconds = time.monotonic() - started
    if error is None:
        return StepResult(name, Status.PASSED, seconds)
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return StepResult(name, Status.FAILED, seconds, output=message)


def render(template: str, destination: str, answers: Mapping[str, bool]) -> StepResult:
    """Render one combination as `copier copy --defaults` would (a worker task)."""
    import copier

    started = time.monotonic()
    try:
        copier.run_copy(
            template,
            destination,
            data={"project_name": PROJECT_NAME, **answers},
            defaults=True,
            quiet=True,
            unsafe=False,
            vcs_ref="HEAD",
        )
    except Exception as error:
        return _result(RENDER_STEP, started, error)
    return _result(RENDER_STEP, started)


def project_files(root: Path) -> set[str]:
    """Every file of a project, relative and POSIX-style, outside its .git directory."""
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if (path.is_file() or path.is_symlink()) and ".git" not in path.relative_to(root).parts
    }


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def compare(project: Path, fresh: Path, env_before: bytes | None) -> list[str]:
    """What differs between an updated project and a fresh render of the same answers.

    The generated `.env` holds secrets drawn at render time: it must be exactly what it was
    before the update (`env_before`), not what a fresh render drew.
    """
    problems: list[str] = []
    if _read(project / ENV_FILE) != env_before:
        problems.append(f"{ENV_FILE} was changed by the update")
    got, expected = project_files(project), project_files(fresh)
    problems += [f"missing after the update: {name}" for name in sorted(expected - got)]
    problems += [f"left over after the update: {name}" for name in sorted(got - expected)]
    for name in sorted(got & expected - {ENV_FILE, ANSWERS_FILE}):
        if not filecmp.cmp(project / name, fresh / name, shallow=False):
            problems.append(f"differs from a fresh render: {name}")
    answers = [
        yaml.safe_load((root / ANSWERS_FILE).read_text(encoding="utf-8"))
        for root in (project, fresh)
    ]
    if answers[0] != answers[1]:
        problems.append(f"{ANSWERS_FILE}: {answers[0]!r} != fresh {answers[1]!r}")
    return problems


def toggle(
    template: str, start_render: str, fresh_render: str, workdir: str, feature: str, value: bool
) -> tuple[StepResult, StepResult]:
    """Copy and commit the start render, switch one feature with `copier update`, compare."""
    import copier

    project = Path(workdir)
    started = time.monotonic()
    try:
        shutil.copytree(start_render, project, symlinks=True)
        git(project, "init", "-q")
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", "Rendered by fastapi-template")
        env_before = _read(project / ENV_FILE)
        copier.run_update(
            project,
            data={feature: value},
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=False,
            vcs_ref="HEAD",
        )
    except Exception as error:
        shutil.rmtree(project, ignore_errors=True)
        return _result(UPDATE_STEP, started, error), StepResult(COMPARE_STEP, Status.SKIPPED)
    update = _result(UPDATE_STEP, started)
    started = time.monotonic()
    try:
        problems = compare(project, Path(fresh_render), env_before)
    except Exception as error:
        problems = [f"{type(error).__name__}: {error}"]
    finally:
        shutil.rmtree(project, ignore_errors=True)
    return update, _result(COMPARE_STEP, started, "\n".join(problems) if problems else None)


# orchestration ------------------------------------------------------------------------------------

OnDone = Callable[[str, ProjectReport], None]


@dataclass(frozen=True)
class TransitionRun:
    template: Path  # the repository (copier.yml at its root)
    jobs: int = 1
    scratch_root: Path | None = None  # default: RAM-backed when available, else the temp dir


def run_transitions(
    run: TransitionRun, transitions: Sequence[Transition], on_done: OnDone | None = None
) -> dict[str, ProjectReport]:
    """Check every transition; reports keyed by transition id, in input order."""
    root = run.scratch_root or default_scratch_root()
    scratch = Path(tempfile.mkdtemp(prefix="fastapi-template-transitions-", dir=root))
    try:
        return _run(run, transitions, scratch, on_done or (lambda _id, _report: None))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(
    run: TransitionRun, transitions: Sequence[Transition], scratch: Path, on_done: OnDone
) -> dict[str, ProjectReport]:
    template = snapshot_template(run.template, scratch / "template")
    renders_dir, work_dir, temp_dir = scratch / "renders", scratch / "work", scratch / "tmp"
    for directory in (renders_dir, work_dir, temp_dir):
        directory.mkdir()
    needed: dict[str, Combination] = {}
    for transition in transitions:
        for combo in (transition[0], final_combination(transition)):
            needed.setdefault(combination_id(combo), combo)

    context = multiprocessing.get_context("spawn")
    reports: dict[str, ProjectReport] = {}
    with ProcessPoolExecutor(
        max(1, run.jobs), mp_context=context, initializer=_worker_init, initargs=(str(temp_dir),)
    ) as pool:
        renders: dict[str, Future[StepResult]] = {
            combo_id: pool.submit(render, str(template), str(renders_dir / combo_id), combo)
            for combo_id, combo in needed.items()
        }
        pending: dict[Future[tuple[StepResult, StepResult]], str] = {}
        by_id = {transition_id(t): t for t in transitions}
        blocked: dict[str, ProjectReport] = {}
        for number, (tid, transition) in enumerate(by_id.items()):
            start_id = combination_id(transition[0])
            final_id = combination_id(final_combination(transition))
            rendered = (renders[start_id].result(), renders[final_id].result())
            failed = [result for result in rendered if not result.passed]
            if failed:
                blocked[tid] = ProjectReport(
                    work_dir / str(number),
                    (
                        failed[0],
                        StepResult(UPDATE_STEP, Status.SKIPPED),
                        StepResult(COMPARE_STEP, Status.SKIPPED),
                    ),
                    mode="transition",
                )
                on_done(tid, blocked[tid])
                continue
            future = pool.submit(
                toggle,
                str(template),
                str(renders_dir / start_id),
                str(renders_dir / final_id),
                str(work_dir / str(number)),
                transition[1],
                final_combination(transition)[transition[1]],
            )
            pending[future] = tid
        reports.update(blocked)
        for future in as_completed(pending):
            tid = pending[future]
            start_id = combination_id(by_id[tid][0])
            results = (renders[start_id].result(), *future.result())
            reports[tid] = ProjectReport(Path(tid), results, mode="transition")
            on_done(tid, reports[tid])
    return {transition_id(t): reports[transition_id(t)] for t in transitions}
