"""Render every selected feature combination and check each one, several in parallel."""

from __future__ import annotations

import queue
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import copier

from generator.checks import (
    Plan,
    ProjectReport,
    ServicesConfig,
    Status,
    StepResult,
    check_project,
    default_plan,
    flatten,
    skipped_results,
    terminate_running,
    with_prefix,
)
from generator.features import (
    Combination,
    all_combinations,
    combination_id,
    covering_combinations,
    pairwise_combinations,
    parse_combination_id,
)

T = TypeVar("T")

PROJECT_NAME = "Acme Orders"
RENDER_STEP = "render"
ANSWERS_FILE = ".copier-answers.yml"

# copier changes the working directory while it renders, so renders never overlap.
_RENDER_LOCK = threading.Lock()

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class SelectionError(ValueError):
    """An invalid --shard, --only or --exclude."""


def parse_shard(text: str) -> tuple[int, int]:
    """Parse "K/N" (1 <= K <= N) into (K, N)."""
    match = _SHARD.match(text)
    if match is None:
        raise SelectionError(f"invalid shard {text!r}: expected K/N, e.g. 2/4")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise SelectionError(f"invalid shard {text!r}: need 1 <= K <= N")
    return index, total


def shard(items: Sequence[T], index: int, total: int) -> list[T]:
    """The items of shard `index` of `total` (1-based), dealt round-robin."""
    if total < 1 or not 1 <= index <= total:
        raise SelectionError(f"invalid shard {index}/{total}: need 1 <= K <= N")
    return [item for position, item in enumerate(items) if position % total == index - 1]


SAMPLES = ("all", "covering", "pairwise")


def sample_combinations(features: Sequence[str], sample: str = "all") -> list[Combination]:
    """Every combination ("all"), the covering sample ("covering") or the smallest pairwise
    sample ("pairwise"); see generator/features.py."""
    if sample == "all":
        return all_combinations(features)
    if sample == "covering":
        return covering_combinations(features)
    if sample == "pairwise":
        return pairwise_combinations(features)
    raise SelectionError(f"unknown sample {sample!r} (known: {', '.join(SAMPLES)})")


def select_combinations(
    features: Sequence[str],
    *,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    shard_spec: tuple[int, int] | None = None,
    sample: str = "all",
) -> list[Combination]:
    """The sample's combinations, narrowed by --only ids, minus --exclude ids, then sharded."""
    try:
        wanted = {combination_id(parse_combination_id(features, text)) for text in only}
        unwanted = {combination_id(parse_combination_id(features, text)) for text in exclude}
    except ValueError as error:
        raise SelectionError(str(error)) from error
    selected = [
        combo
        for combo in sample_combinations(features, sample)
        if (not wanted or combination_id(combo) in wanted) and combination_id(combo) not in unwanted
    ]
    if shard_spec is not None:
        selected = shard(selected, *shard_spec)
    return selected


def render_combination(
    template: Path,
    destination: Path,
    combination: Mapping[str, bool],
    *,
    data: Mapping[str, Any] | None = None,
    vcs_ref: str | None = "HEAD",
) -> Path:
    """Render one combination like `copier copy --defaults` (the working tree at HEAD)."""
    answers: dict[str, Any] = {"project_name": PROJECT_NAME, **(data or {}), **combination}
    with _RENDER_LOCK:
        copier.run_copy(
            str(template.resolve()),
            destination,
            data=answers,
            defaults=True,
            quiet=True,
            unsafe=False,
            vcs_ref=vcs_ref,
        )
    return destination


class MatrixListener:
    """Progress callbacks; called from worker threads. The default does nothing."""

    def combination_started(self, combo_id: str) -> None:
        """A combination starts rendering."""

    def step_started(self, combo_id: str, step: str) -> None:
        """A step of a combination starts."""

    def step_finished(self, combo_id: str, result: StepResult) -> None:
        """A step of a combination ended (or was skipped)."""

    def combination_finished(self, combo_id: str, report: ProjectReport) -> None:
        """A combination has its final report."""


@dataclass(frozen=True)
class MatrixRun:
    """Where and how to run the matrix."""

    template: Path
    workdir: Path
    jobs: int = 1
    services: ServicesConfig | None = None
    keep: bool = False
    vcs_ref: str | None = "HEAD"

    def slot(self, index: int) -> Slot:
        return Slot(index, self.workdir / SLOTS_DIR / str(index))


SLOTS_DIR = ".slots"


@dataclass(frozen=True)
class Slot:
    """What one parallel worker reuses from one combination to the next.

    - A mypy cache: mypy validates cached modules by content hash, so the dependencies and the
      app modules every combination shares are not analysed again. One cache per slot, because
      mypy's cache does not support concurrent writers.
    - The project environment (`UV_PROJECT_ENVIRONMENT`): `uv sync` is exact (it removes what
      the new combination does not declare and installs what it does), so a reused environment
      equals a fresh one, but most packages and their compiled bytecode are already in place
      and no environment is deleted per combination. Not with `--keep`, where every kept
      project keeps its own `.venv`.
    - A Redis database number (the configured one plus the slot index) in services mode.
    """

    index: int
    root: Path

    def env(self, *, keep: bool) -> dict[str, str]:
        env = {"MYPY_CACHE_DIR": str(self.root / "mypy-cache")}
        if not keep:
            env["UV_PROJECT_ENVIRONMENT"] = str(self.root / "venv")
        return env

    def services(self, services: ServicesConfig | None) -> ServicesConfig | None:
        return None if services is None else services.with_redis_db(self.index)


def check_slots(services: ServicesConfig | None, jobs: int) -> None:
    """Refuse a --jobs that would need a Redis database number that does not exist."""
    if services is not None:
        try:
            services.with_redis_db(max(1, jobs) - 1)
        except ValueError as error:
            raise SelectionError(str(error)) from None


def _prepare_destination(destination: Path) -> None:
    """Clear a previous render of this combination; refuse to touch anything else."""
    if not destination.exists():
        return
    if destination.is_dir() and (
        not any(destination.iterdir()) or (destination / ANSWERS_FILE).is_file()
    ):
        shutil.rmtree(destination)
        return
    raise FileExistsError(f"{destination} exists and is not a rendered project")


def check_combination(
    run: MatrixRun,
    combination: Mapping[str, bool],
    listener: MatrixListener | None = None,
    steps: Plan | None = None,
    slot: Slot | None = None,
) -> ProjectReport:
    """Render one combination into the workdir and check it; never raises for a failure."""
    events = listener or MatrixListener()
    combo_id = combination_id(combination)
    worker = slot or run.slot(0)
    services = worker.services(run.services)
    chosen = default_plan(services=services is not None) if steps is None else list(steps)
    destination = run.workdir / combo_id
    events.combination_started(combo_id)
    events.step_started(combo_id, RENDER_STEP)
    started = time.monotonic()
    try:
        _prepare_destination(destination)
        render_combination(run.template, destination, combination, vcs_ref=run.vcs_ref)
    except Exception as error:
        seconds = time.monotonic() - started
        render = StepResult(
            RENDER_STEP, Status.FAILED, seconds, "copier copy", f"{type(error).__name__}: {error}"
        )
        events.step_finished(combo_id, render)
        report = ProjectReport(destination, (render, *skipped_results(flatten(chosen))))
        for result in report.results[1:]:
            events.step_finished(combo_id, result)
    else:
        render = StepResult(RENDER_STEP, Status.PASSED, time.monotonic() - started, "copier copy")
        events.step_finished(combo_id, render)

        def on_step(name: str, result: StepResult | None) -> None:
            if result is None:
                events.step_started(combo_id, name)
            else:
                events.step_finished(combo_id, result)

        worker.root.mkdir(parents=True, exist_ok=True)
        checked = check_project(
            destination,
            services=services,
            steps=chosen,
            on_step=on_step,
            env=worker.env(keep=run.keep),
        )
        report = with_prefix(checked, render)
    if not run.keep:
        shutil.rmtree(destination, ignore_errors=True)
    events.combination_finished(combo_id, report)
    return report


def run_matrix(
    run: MatrixRun,
    combinations: Sequence[Mapping[str, bool]],
    listener: MatrixListener | None = None,
    steps: Plan | None = None,
) -> dict[str, ProjectReport]:
    """Check every combination, `run.jobs` at a time; reports keyed by id, in input order."""
    run.workdir.mkdir(parents=True, exist_ok=True)
    reports: dict[str, ProjectReport] = {}
    jobs = max(1, run.jobs)
    free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
    for index in range(jobs):
        free.put(run.slot(index))

    def task(combo: Mapping[str, bool]) -> ProjectReport:
        slot = free.get()
        try:
            return check_combination(run, combo, listener, steps, slot)
        finally:
            free.put(slot)

    executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="matrix")
    try:
        futures = {executor.submit(task, combo): combination_id(combo) for combo in combinations}
        for future in as_completed(futures):
            reports[futures[future]] = future.result()
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        terminate_running()
        raise
    executor.shutdown(wait=True)
    order = [combination_id(combo) for combo in combinations]
    return {combo_id: reports[combo_id] for combo_id in order}
